//! passerelle-store-postgres
