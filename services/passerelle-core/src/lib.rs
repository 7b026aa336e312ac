//! passerelle-core
