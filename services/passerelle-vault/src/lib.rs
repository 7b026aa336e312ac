//! Key hierarchy and sealing for Passerelle, the only crate that uses `age`.
//!
//! ```text
//! master key versions kek-v1, kek-v2 …  files in the keys folder (0600), every wrap also to escrow
//!    └─ wraps ─► organisation identity   X25519, stored wrapped (Vault::new_org_identity)
//!                  └─ wraps ─► referral identity   one per referral packet (ReferralKey)
//!                                └─ encrypts ─► content, messages, attachments (seal / open)
//! audit-signing.key                      Ed25519, signs audit checkpoints (AuditSigner)
//! ```
//!
//! - Filing needs public keys only: [`ReferralKey::generate`], [`seal`] to its recipient,
//!   [`ReferralKey::wrap_to`] each organisation recipient, drop the key.
//! - Reading: [`Vault::org_identity`], [`ReferralKey::unwrap`], [`ReferralKey::open`]; the
//!   envelope header ([`Binding`]) makes a moved, swapped or forged ciphertext fail with
//!   [`VaultError::Tamper`].
//! - Attachments are sealed and opened as streams ([`SealWriter`],
//!   [`ReferralKey::open_reader`]): same envelope, never held whole in memory.
//! - Rotation: [`add_master_version`] → deploy (running vaults [`Vault::reload`] on a
//!   version they do not know) → [`promote`] → [`Vault::rewrap_org_identity`] → [`retire`].
//!   Organisation identity wraps are bound to their organisation and version.
//!
//! Every wrap and ciphertext is a standard binary age file (X25519 recipients only, never
//! scrypt), so the `age` command-line tool can open them with the right key file; opening
//! accepts binary age files only (armored or passphrase files are refused as tampered).
//! Secrets are zeroized on drop where the libraries allow it and never appear in `Debug`
//! output or error messages.

mod envelope;
mod error;
mod keydir;
mod org;
mod referral;
mod signer;
mod stream;
mod user_secret;
mod vault;

pub use envelope::{Binding, HEADER_LEN, MAGIC, Part, seal};
pub use error::VaultError;
pub use keydir::{
    AUDIT_KEY_FILE, AUDIT_PUB_FILE, CURRENT_FILE, ESCROW_FILE, add_master_version, init_keys,
    promote, retire,
};
pub use org::{NewOrgKey, OrgIdentity};
pub use referral::ReferralKey;
pub use signer::{AUDIT_KEY_NAME, AUDIT_ORIGIN, AuditSigner, parse_verifier_key};
pub use stream::{OpenReader, SealWriter};
pub use user_secret::{open_totp_secret, seal_totp_secret, sealed_secret_key_version};
pub use vault::Vault;

/// SHA-256 of `bytes` (e.g. of a ciphertext, for its audit leaf).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}
