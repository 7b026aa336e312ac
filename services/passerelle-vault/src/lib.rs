//! passerelle-vault
