//! The audit signing key: Ed25519, kept in the keys folder (never in the database), signing
//! every audit head as a C2SP signed-note checkpoint.
//!
//! The checkpoint text is built by [`passerelle_domain::checkpoint`], so anyone holding the
//! public key (`audit-signing.pub`) can verify it offline with
//! [`passerelle_domain::checkpoint::verify`] or with Go's `golang.org/x/mod/sumdb/note`.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey};
use passerelle_domain::audit::HeadSigner;
use passerelle_domain::checkpoint;
use zeroize::Zeroizing;

use crate::error::VaultError;

/// The checkpoint origin line of Passerelle's audit log.
pub const AUDIT_ORIGIN: &str = "passerelle/audit";
/// The signed-note key name of the audit signing key.
pub const AUDIT_KEY_NAME: &str = "passerelle-audit";

/// Signs audit heads with the Ed25519 key of the keys folder. The seed is zeroized on drop
/// and never appears in `Debug`.
pub struct AuditSigner {
    key: SigningKey,
    public_key: [u8; 32],
    key_id: [u8; 4],
}

impl fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditSigner")
            .field("name", &AUDIT_KEY_NAME)
            .field("origin", &AUDIT_ORIGIN)
            .field("verifier_key", &self.verifier_key())
            .finish_non_exhaustive()
    }
}

impl AuditSigner {
    pub(crate) fn from_seed(seed: &[u8; 32]) -> AuditSigner {
        let key = SigningKey::from_bytes(seed);
        let public_key = key.verifying_key().to_bytes();
        AuditSigner {
            key,
            public_key,
            key_id: checkpoint::key_id(AUDIT_KEY_NAME, &public_key),
        }
    }

    /// A fresh key from the operating system's RNG.
    pub(crate) fn generate() -> Result<AuditSigner, VaultError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut_slice())
            .map_err(|_| VaultError::Crypto("operating system RNG failed"))?;
        Ok(AuditSigner::from_seed(&seed))
    }

    /// Parses `audit-signing.key`: comment lines, then one line of base64 of the 32-byte seed.
    pub(crate) fn from_key_file(text: &str, file: &str) -> Result<AuditSigner, VaultError> {
        let malformed = || {
            VaultError::Malformed(format!(
                "{file} must hold one line of base64 of a 32-byte Ed25519 seed"
            ))
        };
        let mut lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        let (Some(line), None) = (lines.next(), lines.next()) else {
            return Err(malformed());
        };
        let bytes = Zeroizing::new(STANDARD.decode(line).map_err(|_| malformed())?);
        let seed: Zeroizing<[u8; 32]> =
            Zeroizing::new(bytes.as_slice().try_into().map_err(|_| malformed())?);
        Ok(AuditSigner::from_seed(&seed))
    }

    pub(crate) fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    /// The Ed25519 public key that verifies this signer's checkpoints.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// The signed-note key name, `passerelle-audit`.
    pub fn name(&self) -> &str {
        AUDIT_KEY_NAME
    }

    /// The checkpoint origin, `passerelle/audit`.
    pub fn origin(&self) -> &str {
        AUDIT_ORIGIN
    }

    /// The signed-note key id (first 4 bytes of SHA-256(name, 0x0A, 0x01, public key)).
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The signed-note verifier key, `passerelle-audit+<hex key id>+<base64(0x01 || key)>`,
    /// as written to `audit-signing.pub` and accepted by Go's `note.NewVerifier`.
    pub fn verifier_key(&self) -> String {
        let mut raw = [0u8; 33];
        raw[0] = checkpoint::ED25519_TYPE;
        raw[1..].copy_from_slice(&self.public_key);
        format!(
            "{AUDIT_KEY_NAME}+{}+{}",
            hex::encode(self.key_id),
            STANDARD.encode(raw)
        )
    }
}

/// Parses a verifier key line (`<name>+<hex key id>+<base64(0x01 || key)>`) into the name
/// and the Ed25519 public key, checking the key id.
pub fn parse_verifier_key(line: &str) -> Result<(String, [u8; 32]), VaultError> {
    let malformed = || {
        VaultError::Malformed("verifier key must be <name>+<hex key id>+<base64 key>".to_owned())
    };
    // The base64 key may itself contain '+': split off the name and the id only.
    let mut fields = line.trim().splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (fields.next(), fields.next(), fields.next()) else {
        return Err(malformed());
    };
    let raw = STANDARD.decode(key).map_err(|_| malformed())?;
    let (Some(&checkpoint::ED25519_TYPE), Ok(public_key)) =
        (raw.first(), <[u8; 32]>::try_from(&raw[1.min(raw.len())..]))
    else {
        return Err(malformed());
    };
    if name.is_empty() || id != hex::encode(checkpoint::key_id(name, &public_key)) {
        return Err(VaultError::Malformed(
            "verifier key id does not match its name and key".to_owned(),
        ));
    }
    Ok((name.to_owned(), public_key))
}

impl HeadSigner for AuditSigner {
    fn sign_head(&self, size: u64, root: &[u8; 32]) -> String {
        let body = checkpoint::body(AUDIT_ORIGIN, size, root);
        let signature = self.key.sign(body.as_bytes()).to_bytes();
        checkpoint::signed_note(&body, AUDIT_KEY_NAME, self.key_id, &signature)
    }
}
