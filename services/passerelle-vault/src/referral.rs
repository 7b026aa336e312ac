//! Per-referral identities: one X25519 identity per referral packet, held in memory only.
//!
//! Filing generates a [`ReferralKey`], seals the parts to its recipient, wraps it to the
//! sender's and receiver's organisation recipients with [`ReferralKey::wrap_to`] (public keys
//! only), and drops it. Reading unwraps it with the reader's [`OrgIdentity`].
//!
//! A wrap is a binary age file whose plaintext is the identity in age's own text form
//! (`AGE-SECRET-KEY-1…`), so `age -d -i org.key` can unwrap it in an emergency.

use std::fmt;
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use age::x25519;
use zeroize::Zeroizing;

use crate::envelope::{self, Binding};
use crate::error::VaultError;
use crate::org::OrgIdentity;

/// A per-referral X25519 identity. The secret is zeroized on drop (x25519-dalek's
/// `StaticSecret`), is never written to disk unwrapped, and never appears in `Debug`.
pub struct ReferralKey {
    identity: x25519::Identity,
}

impl fmt::Debug for ReferralKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReferralKey")
            .field("recipient", &self.recipient())
            .finish_non_exhaustive()
    }
}

impl ReferralKey {
    /// A fresh identity from the operating system's RNG.
    pub fn generate() -> ReferralKey {
        ReferralKey {
            identity: x25519::Identity::generate(),
        }
    }

    /// The public recipient (`age1…`) that parts of this referral are sealed to.
    pub fn recipient(&self) -> String {
        self.identity.to_public().to_string()
    }

    /// Wraps this identity to an organisation's recipient (`age1…`).
    pub fn wrap_to(&self, org_recipient: &str) -> Result<Vec<u8>, VaultError> {
        let recipient = envelope::parse_org_recipient(org_recipient)?;
        let secret = self.identity.to_string();
        envelope::encrypt_to(&[&recipient], &[secret.expose_secret().as_bytes()])
    }

    /// Unwraps a referral identity with an organisation identity.
    ///
    /// A wrap made to another organisation, or altered, fails with [`VaultError::Tamper`].
    pub fn unwrap(org: &OrgIdentity, wrapped: &[u8]) -> Result<ReferralKey, VaultError> {
        let plain = envelope::decrypt_with(org.age_identity(), wrapped).map_err(|reason| {
            tracing::warn!(
                org = %org.org(),
                org_key_version = org.version(),
                reason,
                "referral key wrap failed to open with the organisation identity"
            );
            VaultError::Tamper("referral key wrap does not open with this organisation identity")
        })?;
        parse_identity(&plain, "unwrapped referral key").map(|identity| ReferralKey { identity })
    }

    pub(crate) fn age_identity(&self) -> &x25519::Identity {
        &self.identity
    }

    /// Opens a ciphertext of this referral and checks that it belongs to `binding`.
    ///
    /// Any age failure (altered, truncated, or sealed to another key) or header mismatch is a
    /// [`VaultError::Tamper`], alerted with a `tracing::warn!` naming only ids.
    pub fn open(
        &self,
        binding: &Binding,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        envelope::open_with(&self.identity, binding, ciphertext)
    }

    /// Like [`ReferralKey::open`], after checking the ciphertext's SHA-256 against the one
    /// recorded (e.g. in its audit leaf).
    pub fn open_verified(
        &self,
        binding: &Binding,
        ciphertext: &[u8],
        expected_sha256: &[u8; 32],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        if &crate::sha256(ciphertext) != expected_sha256 {
            tracing::warn!(
                referral = %binding.referral,
                part = ?binding.part,
                item = ?binding.item,
                "sealed ciphertext does not match its recorded SHA-256"
            );
            return Err(VaultError::Tamper(
                "ciphertext SHA-256 does not match the recorded one",
            ));
        }
        self.open(binding, ciphertext)
    }
}

/// Parses an age X25519 identity from decrypted bytes (`AGE-SECRET-KEY-1…`, surrounding
/// whitespace allowed). Error messages never echo the input.
pub(crate) fn parse_identity(plain: &[u8], what: &str) -> Result<x25519::Identity, VaultError> {
    let text = std::str::from_utf8(plain)
        .map_err(|_| VaultError::Malformed(format!("{what} is not UTF-8")))?;
    x25519::Identity::from_str(text.trim())
        .map_err(|e| VaultError::Malformed(format!("{what} is not an age X25519 identity: {e}")))
}
