//! passerelle-web
