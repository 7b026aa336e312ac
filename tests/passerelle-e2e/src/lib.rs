//! passerelle-e2e
