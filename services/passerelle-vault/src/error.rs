//! The vault's error type.
//!
//! Messages name files, folders, key versions and modes, never plaintext or key material,
//! so an error may be logged as it is.

/// What can go wrong in the vault.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// Reading or writing the keys folder failed.
    #[error("keys folder I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The keys folder or a key file is accessible beyond its owner.
    #[error("unsafe permissions: {0}")]
    Permissions(String),
    /// A folder, file or master key version that should exist does not.
    #[error("missing: {0}")]
    Missing(String),
    /// A key file, recipient or wrapped key is not in the expected format.
    #[error("malformed: {0}")]
    Malformed(String),
    /// A key file already exists; the vault never overwrites key material.
    #[error("already exists: {0}")]
    Exists(String),
    /// A cryptographic operation failed for a reason other than tampering (e.g. encryption).
    #[error("cryptographic failure: {0}")]
    Crypto(&'static str),
    /// A ciphertext or wrap failed authentication, or its header, binding or SHA-256 did not
    /// match what was expected: it was moved, swapped, altered or forged.
    #[error("integrity check failed: {0}")]
    Tamper(&'static str),
}
