//! Organisation identities: one X25519 identity per organisation and key version, stored
//! wrapped (age-encrypted) to a master key version and to the escrow recipient, if any.

use std::fmt;

use age::x25519;
use passerelle_domain::ids::OrgId;

/// A freshly generated (or re-wrapped) organisation identity, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrgKey {
    /// The organisation's public recipient (`age1…`): referral keys are wrapped to it.
    pub recipient: String,
    /// The identity, age-encrypted to the master key version `kek_version` (and escrow).
    pub wrapped_identity: Vec<u8>,
    /// The master key version the identity is wrapped to, e.g. `kek-v1`.
    pub kek_version: String,
}

/// An unwrapped organisation identity. The secret is zeroized on drop and never appears in
/// `Debug`.
pub struct OrgIdentity {
    org: OrgId,
    version: i32,
    identity: x25519::Identity,
}

impl fmt::Debug for OrgIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrgIdentity")
            .field("org", &self.org)
            .field("version", &self.version)
            .field("recipient", &self.recipient())
            .finish_non_exhaustive()
    }
}

impl OrgIdentity {
    pub(crate) fn new(org: OrgId, version: i32, identity: x25519::Identity) -> OrgIdentity {
        OrgIdentity {
            org,
            version,
            identity,
        }
    }

    /// The organisation this identity belongs to (as given when it was unwrapped).
    pub fn org(&self) -> OrgId {
        self.org
    }

    /// The organisation key version (as given when it was unwrapped).
    pub fn version(&self) -> i32 {
        self.version
    }

    /// The public recipient (`age1…`); callers may compare it with the stored one.
    pub fn recipient(&self) -> String {
        self.identity.to_public().to_string()
    }

    /// Whether this identity decrypts the age file `ciphertext` at all (header and
    /// payload), whatever it holds. For verification only, e.g. that nothing the service
    /// holds opens a shredded referral's ciphertexts any more; the plaintext is dropped
    /// (zeroized) at once.
    pub fn decrypts(&self, ciphertext: &[u8]) -> bool {
        crate::envelope::decrypt_with(&self.identity, ciphertext).is_ok()
    }

    pub(crate) fn age_identity(&self) -> &x25519::Identity {
        &self.identity
    }
}
