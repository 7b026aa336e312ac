//! Users' authentication secrets (the TOTP seed), sealed at rest to the user's organisation
//! identity.
//!
//! Why the organisation identity rather than a key of its own: it already sits under the
//! master key versions and the escrow recipient, so master key rotation and disaster
//! recovery cover these secrets with no extra key to keep, rotate or back up; sealing needs
//! only the organisation's public recipient; and whoever could open them (the service, with
//! the keys folder) can already open everything the organisation holds. A database dump
//! alone opens nothing.
//!
//! Format: 4 bytes, the organisation key version (big-endian), then a binary age file whose
//! plaintext is `PSU1 || user id (16 bytes) || purpose (1 byte) || secret`. Opening checks
//! the header: a secret copied onto another user's row fails with [`VaultError::Tamper`].

use passerelle_domain::ids::UserId;
use zeroize::Zeroizing;

use crate::envelope;
use crate::error::VaultError;
use crate::org::OrgIdentity;

const MAGIC: [u8; 4] = *b"PSU1";
const HEADER_LEN: usize = 4 + 16 + 1;
/// Purpose byte of a TOTP seed.
const TOTP: u8 = 1;

fn header(user: UserId) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&MAGIC);
    h[4..20].copy_from_slice(user.0.as_bytes());
    h[20] = TOTP;
    h
}

/// Seals a user's TOTP seed to their organisation's recipient (`age1…`) of key version
/// `org_key_version`.
pub fn seal_totp_secret(
    org_recipient: &str,
    org_key_version: i32,
    user: UserId,
    secret: &[u8],
) -> Result<Vec<u8>, VaultError> {
    let recipient = envelope::parse_org_recipient(org_recipient)?;
    let body = envelope::encrypt_to(&[&recipient], &[&header(user), secret])?;
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&org_key_version.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// The organisation key version a sealed secret was made for (to fetch that identity).
pub fn sealed_secret_key_version(sealed: &[u8]) -> Option<i32> {
    let v: [u8; 4] = sealed.get(..4)?.try_into().ok()?;
    Some(i32::from_be_bytes(v))
}

/// Opens a user's TOTP seed with their organisation identity and checks it belongs to
/// `user`.
pub fn open_totp_secret(
    org: &OrgIdentity,
    user: UserId,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    const TAMPER: &str = "sealed user secret does not open for this user";
    let alert = |reason: &'static str| {
        tracing::warn!(user = %user, reason, "sealed user secret failed its integrity check");
        VaultError::Tamper(TAMPER)
    };
    if sealed_secret_key_version(sealed) != Some(org.version()) {
        return Err(alert("organisation key version does not match"));
    }
    let mut plain = envelope::decrypt_with(org.age_identity(), &sealed[4..]).map_err(alert)?;
    if plain.len() < HEADER_LEN || plain[..HEADER_LEN] != header(user) {
        return Err(alert("header does not match its user"));
    }
    plain.drain(..HEADER_LEN);
    Ok(plain)
}
