//! The sealed envelope: `age(header || body)` where the header binds the body to its place.
//!
//! age has no associated data and no sender authentication, so each plaintext starts with a
//! fixed, versioned binary header naming where it belongs:
//!
//! | offset | length | field |
//! |---|---|---|
//! | 0 | 4 | magic and format version, `PSL1` |
//! | 4 | 16 | referral id (UUID bytes, big-endian as in RFC 9562) |
//! | 20 | 1 | part ([`Part::code`]) |
//! | 21 | 1 | item flag: `0` none, `1` present |
//! | 22 | 16 | item id (UUID bytes), all zero when the flag is `0` |
//! | 38 | … | body |
//!
//! Opening checks the whole header against the expected [`Binding`] byte for byte: a
//! ciphertext moved to another referral, part or item, even one freshly sealed to the right
//! recipient by someone who can write the database, fails with [`VaultError::Tamper`].

use std::io::{Read, Write};

use age::x25519;
use passerelle_domain::ids::ReferralId;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::VaultError;

/// Magic and format version at the start of every sealed plaintext.
pub const MAGIC: [u8; 4] = *b"PSL1";

/// Length of the envelope header, in bytes.
pub const HEADER_LEN: usize = 4 + 16 + 1 + 1 + 16;

/// Which part of a referral a ciphertext holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    /// The referral's content (subject, notes, safe contact…).
    Content,
    /// A message of the referral's thread (item: the message id).
    Message,
    /// The bytes of an attachment (item: the attachment id).
    Attachment,
    /// The file name of an attachment (item: the attachment id).
    AttachmentName,
    /// Another sealed detail of the referral (item optional).
    Detail,
}

impl Part {
    /// Every part, in code order.
    pub const ALL: [Part; 5] = [
        Part::Content,
        Part::Message,
        Part::Attachment,
        Part::AttachmentName,
        Part::Detail,
    ];

    /// The stable byte written in the header. Never renumber: it is in every ciphertext.
    pub const fn code(self) -> u8 {
        match self {
            Part::Content => 1,
            Part::Message => 2,
            Part::Attachment => 3,
            Part::AttachmentName => 4,
            Part::Detail => 5,
        }
    }

    /// The part with this header byte, if any.
    pub const fn from_code(code: u8) -> Option<Part> {
        match code {
            1 => Some(Part::Content),
            2 => Some(Part::Message),
            3 => Some(Part::Attachment),
            4 => Some(Part::AttachmentName),
            5 => Some(Part::Detail),
            _ => None,
        }
    }
}

/// Where a sealed plaintext belongs: checked on every open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Binding {
    /// The referral (packet) the ciphertext belongs to.
    pub referral: ReferralId,
    /// Which part of it.
    pub part: Part,
    /// The message or attachment id, for parts that have several items.
    pub item: Option<Uuid>,
}

impl Binding {
    /// A binding to `part` of `referral`, with an optional item id.
    pub const fn new(referral: ReferralId, part: Part, item: Option<Uuid>) -> Binding {
        Binding {
            referral,
            part,
            item,
        }
    }

    /// The header bytes for this binding (see the module documentation for the layout).
    pub fn header(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..4].copy_from_slice(&MAGIC);
        h[4..20].copy_from_slice(self.referral.as_uuid().as_bytes());
        h[20] = self.part.code();
        if let Some(item) = self.item {
            h[21] = 1;
            h[22..38].copy_from_slice(item.as_bytes());
        }
        h
    }
}

fn parse_recipient(recipient: &str, what: &str) -> Result<x25519::Recipient, VaultError> {
    recipient
        .trim()
        .parse::<x25519::Recipient>()
        .map_err(|e| VaultError::Malformed(format!("{what} is not an age X25519 recipient: {e}")))
}

pub(crate) fn parse_referral_recipient(recipient: &str) -> Result<x25519::Recipient, VaultError> {
    parse_recipient(recipient, "referral recipient")
}

pub(crate) fn parse_org_recipient(recipient: &str) -> Result<x25519::Recipient, VaultError> {
    parse_recipient(recipient, "organisation recipient")
}

/// Encrypts `parts` (concatenated, without an intermediate copy) to `recipients`.
pub(crate) fn encrypt_to(
    recipients: &[&dyn age::Recipient],
    parts: &[&[u8]],
) -> Result<Vec<u8>, VaultError> {
    const FAIL: &str = "age encryption failed";
    let encryptor = age::Encryptor::with_recipients(recipients.iter().copied())
        .map_err(|_| VaultError::Crypto(FAIL))?;
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(len + 256);
    let mut writer = encryptor
        .wrap_output(&mut out)
        .map_err(|_| VaultError::Crypto(FAIL))?;
    for part in parts {
        writer
            .write_all(part)
            .map_err(|_| VaultError::Crypto(FAIL))?;
    }
    writer.finish().map_err(|_| VaultError::Crypto(FAIL))?;
    Ok(out)
}

/// Decrypts a binary age file into a zeroizing buffer.
///
/// The buffer is allocated once with the ciphertext's length (an upper bound of the
/// plaintext's), so no unzeroized copy is left behind by reallocation. Every age failure
/// (unknown format, bad header or MAC, no matching key, failed chunk) is reported as
/// `Err(reason)`; the caller chooses the error and the alert.
pub(crate) fn decrypt_with(
    identity: &dyn age::Identity,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, &'static str> {
    let decryptor = age::Decryptor::new_buffered(ciphertext).map_err(|e| match e {
        age::DecryptError::UnknownFormat => "not a known age format",
        _ => "age header is invalid",
    })?;
    let mut reader = decryptor
        .decrypt(std::iter::once(identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => "no matching key for this ciphertext",
            age::DecryptError::InvalidMac => "age header failed authentication",
            _ => "age file key failed to decrypt",
        })?;
    let mut buf = Zeroizing::new(Vec::with_capacity(ciphertext.len()));
    reader
        .read_to_end(&mut buf)
        .map_err(|_| "age payload failed authentication")?;
    Ok(buf)
}

/// Seals `plaintext` for `binding` to a referral recipient (`age1…`): only the public key is
/// needed, so filing holds no secret.
///
/// The ciphertext is a standard binary age file whose plaintext is
/// `binding.header() || plaintext`. Its length varies between runs; never assert sizes.
pub fn seal(
    referral_recipient: &str,
    binding: &Binding,
    plaintext: &[u8],
) -> Result<Vec<u8>, VaultError> {
    let recipient = parse_referral_recipient(referral_recipient)?;
    let header = binding.header();
    encrypt_to(&[&recipient], &[&header, plaintext])
}

pub(crate) fn alert(binding: &Binding, reason: &'static str) -> VaultError {
    tracing::warn!(
        referral = %binding.referral,
        part = ?binding.part,
        item = ?binding.item,
        reason,
        "sealed ciphertext failed its integrity check"
    );
    VaultError::Tamper(reason)
}

/// Opens a ciphertext with a referral identity and checks its header against `binding`.
pub(crate) fn open_with(
    identity: &x25519::Identity,
    binding: &Binding,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let mut plain = decrypt_with(identity, ciphertext).map_err(|reason| alert(binding, reason))?;
    if plain.len() < HEADER_LEN || plain[..4] != MAGIC {
        return Err(alert(
            binding,
            "envelope header is missing or of an unknown version",
        ));
    }
    if plain[..HEADER_LEN] != binding.header() {
        return Err(alert(binding, "envelope header does not match its binding"));
    }
    // In place: the buffer keeps its allocation, so the whole of it is zeroized on drop.
    plain.drain(..HEADER_LEN);
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_codes_round_trip_and_are_distinct() {
        for p in Part::ALL {
            assert_eq!(Part::from_code(p.code()), Some(p));
        }
        assert_eq!(Part::from_code(0), None);
        assert_eq!(Part::from_code(6), None);
    }

    #[test]
    fn header_layout_is_fixed() {
        let r = ReferralId(Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10));
        let item = Uuid::from_u128(0xffee_ddcc_bbaa_9988_7766_5544_3322_1100);
        let h = Binding::new(r, Part::Attachment, Some(item)).header();
        assert_eq!(&h[..4], b"PSL1");
        assert_eq!(&h[4..20], &(1u8..=16).collect::<Vec<_>>()[..]);
        assert_eq!(h[20], 3);
        assert_eq!(h[21], 1);
        assert_eq!(&h[22..38], item.as_bytes());

        let h = Binding::new(r, Part::Content, None).header();
        assert_eq!(h[20], 1);
        assert_eq!(h[21], 0);
        assert_eq!(&h[22..38], &[0u8; 16]);
        // `None` and the nil UUID differ.
        assert_ne!(
            h,
            Binding::new(r, Part::Content, Some(Uuid::nil())).header()
        );
    }
}
