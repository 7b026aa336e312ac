//! passerelle-store-sqlite
