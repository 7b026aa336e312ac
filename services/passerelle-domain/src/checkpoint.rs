//! Signed audit checkpoints in the C2SP formats: a [`tlog-checkpoint`] body (origin, tree
//! size, base64 root) wrapped in a [`signed-note`] with Ed25519 signature lines.
//!
//! ```text
//! passerelle.example/audit
//! 3
//! 6Sa+Q1Jm1WBlJ8xVbPe1ld5kJt8kI1WQ/1k5T4oO6kA=
//!
//! — passerelle.example/audit AAECA…base64(key id || signature)…
//! ```
//!
//! Signing needs the secret key and lives in the vault; this module builds the text around
//! a signature ([`body`], [`key_id`], [`signed_note`]) and parses and verifies notes with the
//! public key alone ([`parse`], [`verify`]), which is all an auditor needs offline.
//!
//! [`tlog-checkpoint`]: https://c2sp.org/tlog-checkpoint
//! [`signed-note`]: https://c2sp.org/signed-note

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

/// The signature-type byte of Ed25519 signatures in signed notes.
pub const ED25519_TYPE: u8 = 0x01;

/// The largest note [`parse`] accepts, in bytes.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;

/// The most signature lines [`parse`] accepts (the spec asks for at least 16).
pub const MAX_SIGNATURES: usize = 64;

/// The prefix of a signature line: em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// The checkpoint body: `<origin>\n<size>\n<base64 root>\n`.
pub fn body(origin: &str, size: u64, root: &[u8; 32]) -> String {
    format!("{origin}\n{size}\n{}\n", B64.encode(root))
}

/// The signed-note key id of an Ed25519 key:
/// `SHA-256(name || 0x0A || 0x01 || public key)[:4]`.
pub fn key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ED25519_TYPE]);
    h.update(public_key);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The signed note: `body`, a blank line, then `— <name> <base64(key id || signature)>\n`.
///
/// `body` must end with a newline (as [`body`] does).
pub fn signed_note(body: &str, name: &str, key_id: [u8; 4], signature: &[u8; 64]) -> String {
    let mut raw = Vec::with_capacity(68);
    raw.extend_from_slice(&key_id);
    raw.extend_from_slice(signature);
    format!("{body}\n{SIG_PREFIX}{name} {}\n", B64.encode(raw))
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The 4-byte key id.
    pub key_id: [u8; 4],
    /// The signature bytes after the key id (64 for Ed25519).
    pub signature: Vec<u8>,
}

/// A parsed checkpoint. After [`parse`] its signatures are *not* verified: use [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line.
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The RFC 6962 root hash.
    pub root: [u8; 32],
    /// The note text that is signed (origin, size, root, any extension lines; ends with a
    /// newline).
    pub body: String,
    /// Every signature line, in order.
    pub signatures: Vec<NoteSignature>,
}

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The text is not a well-formed signed note (the reason is a fixed phrase).
    #[error("malformed signed note: {0}")]
    MalformedNote(&'static str),
    /// The note text is not a well-formed checkpoint body.
    #[error("malformed checkpoint body: {0}")]
    MalformedBody(&'static str),
    /// A signature line is malformed.
    #[error("malformed signature line: {0}")]
    MalformedSignature(&'static str),
    /// The key name given is not a valid signed-note key name.
    #[error("invalid key name")]
    BadKeyName,
    /// The public key given is not a valid Ed25519 key.
    #[error("invalid Ed25519 public key")]
    BadPublicKey,
    /// No signature line carries the expected key name and key id.
    #[error("no signature by the expected key")]
    NoKnownSignature,
    /// A signature by the expected key does not verify.
    #[error("signature does not verify")]
    BadSignature,
}

fn valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// Parses a signed checkpoint note without verifying any signature.
///
/// Checks: at most [`MAX_NOTE_BYTES`]; no control character but newline; the text ends
/// with a newline; the last blank line separates the body from 1 to [`MAX_SIGNATURES`]
/// signature lines; each line is `— <name> <base64>` with a valid key name and a canonical
/// base64 of at least 5 bytes; the body has at least three non-empty lines: a non-empty
/// origin, a decimal size without leading zeros, a canonical base64 32-byte root, then
/// optional non-empty extension lines.
pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
    use CheckpointError::MalformedBody;
    let (note_body, signatures) = parse_note(text)?;
    let mut lines = note_body[..note_body.len() - 1].split('\n');
    let origin = lines.next().unwrap_or_default();
    if origin.is_empty() {
        return Err(MalformedBody("empty origin"));
    }
    let size_line = lines.next().ok_or(MalformedBody("no size line"))?;
    let size = parse_size(size_line).ok_or(MalformedBody("invalid tree size"))?;
    let root_line = lines.next().ok_or(MalformedBody("no root line"))?;
    let root: [u8; 32] = B64
        .decode(root_line)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or(MalformedBody("invalid root hash"))?;
    if lines.any(str::is_empty) {
        return Err(MalformedBody("empty extension line"));
    }
    Ok(Checkpoint {
        origin: origin.to_owned(),
        size,
        root,
        body: note_body.to_owned(),
        signatures,
    })
}

/// Splits a signed note into its text (with the final newline) and its signature lines.
fn parse_note(text: &str) -> Result<(&str, Vec<NoteSignature>), CheckpointError> {
    use CheckpointError::{MalformedNote, MalformedSignature};
    if text.len() > MAX_NOTE_BYTES {
        return Err(MalformedNote("note too large"));
    }
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(MalformedNote("control character"));
    }
    if !text.ends_with('\n') {
        return Err(MalformedNote("does not end with a newline"));
    }
    let sep = text
        .rfind("\n\n")
        .ok_or(MalformedNote("no blank line before the signatures"))?;
    let (note_body, sigs) = (&text[..=sep], &text[sep + 2..]);
    if sigs.is_empty() {
        return Err(MalformedNote("no signature"));
    }
    let mut signatures = Vec::new();
    for line in sigs[..sigs.len() - 1].split('\n') {
        if signatures.len() == MAX_SIGNATURES {
            return Err(MalformedNote("too many signatures"));
        }
        let rest = line.strip_prefix(SIG_PREFIX).ok_or(MalformedSignature(
            "does not start with an em dash and a space",
        ))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(MalformedSignature("no space after the key name"))?;
        if !valid_key_name(name) {
            return Err(MalformedSignature("invalid key name"));
        }
        let raw = B64
            .decode(b64)
            .map_err(|_| MalformedSignature("invalid base64"))?;
        if raw.len() < 5 {
            return Err(MalformedSignature("too short"));
        }
        signatures.push(NoteSignature {
            name: name.to_owned(),
            key_id: [raw[0], raw[1], raw[2], raw[3]],
            signature: raw[4..].to_vec(),
        });
    }
    Ok((note_body, signatures))
}

/// ASCII decimal, no sign, no leading zero (except `0` itself).
fn parse_size(s: &str) -> Option<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical { s.parse().ok() } else { None }
}

/// Parses `text` and verifies it is signed by the Ed25519 key `public_key` under `name`.
///
/// Signature lines from other keys (another name or key id) are ignored, as the spec
/// requires; every line from the expected key must verify (strict RFC 8032 verification
/// over the body bytes), and at least one must be present.
pub fn verify(
    text: &str,
    name: &str,
    public_key: &[u8; 32],
) -> Result<Checkpoint, CheckpointError> {
    verify_note(text, name, public_key)?;
    parse(text)
}

/// Verifies the signed note `text` (any body) against one Ed25519 key.
fn verify_note(text: &str, name: &str, public_key: &[u8; 32]) -> Result<(), CheckpointError> {
    if !valid_key_name(name) {
        return Err(CheckpointError::BadKeyName);
    }
    let key = ed25519_dalek::VerifyingKey::from_bytes(public_key)
        .map_err(|_| CheckpointError::BadPublicKey)?;
    let (note_body, signatures) = parse_note(text)?;
    let id = key_id(name, public_key);
    let mut found = false;
    for s in signatures
        .iter()
        .filter(|s| s.name == name && s.key_id == id)
    {
        let bytes: &[u8; 64] = s
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| CheckpointError::BadSignature)?;
        let sig = ed25519_dalek::Signature::from_bytes(bytes);
        key.verify_strict(note_body.as_bytes(), &sig)
            .map_err(|_| CheckpointError::BadSignature)?;
        found = true;
    }
    if found {
        Ok(())
    } else {
        Err(CheckpointError::NoKnownSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};
    use proptest::prelude::*;

    const NAME: &str = "passerelle.example/audit";

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn sign(sk: &SigningKey, name: &str, size: u64, root: &[u8; 32]) -> String {
        let b = body(name, size, root);
        let sig = sk.sign(b.as_bytes()).to_bytes();
        signed_note(&b, name, key_id(name, &sk.verifying_key().to_bytes()), &sig)
    }

    #[test]
    fn body_format() {
        assert_eq!(
            body("example.com/log", 0, &[0u8; 32]),
            "example.com/log\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
        );
    }

    #[test]
    fn key_id_is_sha256_prefix() {
        let pk = [7u8; 32];
        let mut h = Sha256::new();
        h.update(b"n\n\x01");
        h.update(pk);
        assert_eq!(key_id("n", &pk), h.finalize()[..4]);
    }

    #[test]
    fn go_note_interop_vector() {
        // The signed-note test vector of golang.org/x/mod/sumdb/note (verifier key
        // "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"): checks the
        // key id derivation, the line syntax and Ed25519 verification against another
        // implementation.
        let vkey = B64
            .decode("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
            .unwrap();
        assert_eq!(vkey[0], ED25519_TYPE);
        let pk: [u8; 32] = vkey[1..].try_into().unwrap();
        assert_eq!(key_id("PeterNeumann", &pk), [0xc7, 0x4f, 0x20, 0xa3]);
        let text = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n\
                    \n\
                    \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        assert_eq!(verify_note(text, "PeterNeumann", &pk), Ok(()));
        let forged = text.replace("cryptography", "Cryptography");
        assert_eq!(
            verify_note(&forged, "PeterNeumann", &pk),
            Err(CheckpointError::BadSignature)
        );
        // Not a checkpoint body.
        assert!(matches!(
            verify(text, "PeterNeumann", &pk),
            Err(CheckpointError::MalformedBody(_))
        ));
    }

    #[test]
    fn sign_then_verify() {
        let sk = key(1);
        let pk = sk.verifying_key().to_bytes();
        let root = [9u8; 32];
        let text = sign(&sk, NAME, 42, &root);
        let cp = verify(&text, NAME, &pk).unwrap();
        assert_eq!((cp.origin.as_str(), cp.size, cp.root), (NAME, 42, root));
        assert_eq!(cp.body, body(NAME, 42, &root));
        assert_eq!(cp.signatures.len(), 1);
        assert_eq!(cp.signatures[0].key_id, key_id(NAME, &pk));
    }

    #[test]
    fn wrong_key_and_tampering() {
        let sk = key(1);
        let pk = sk.verifying_key().to_bytes();
        let other = key(2).verifying_key().to_bytes();
        let text = sign(&sk, NAME, 42, &[9u8; 32]);
        assert_eq!(
            verify(&text, NAME, &other),
            Err(CheckpointError::NoKnownSignature)
        );
        assert_eq!(
            verify(&text, "other.example/x", &pk),
            Err(CheckpointError::NoKnownSignature)
        );
        let tampered = text.replacen("\n42\n", "\n43\n", 1);
        assert_eq!(
            verify(&tampered, NAME, &pk),
            Err(CheckpointError::BadSignature)
        );
        assert_eq!(
            verify(&text, "bad name", &pk),
            Err(CheckpointError::BadKeyName)
        );
    }

    #[test]
    fn foreign_signatures_are_ignored() {
        let sk = key(1);
        let pk = sk.verifying_key().to_bytes();
        let text = sign(&sk, NAME, 5, &[3u8; 32]);
        // A witness cosignature line appended by someone else.
        let extra = format!(
            "{text}\u{2014} witness.example/w {}\n",
            B64.encode([1u8; 72])
        );
        let cp = verify(&extra, NAME, &pk).unwrap();
        assert_eq!(cp.signatures.len(), 2);
    }

    #[test]
    fn malformed_notes() {
        let sk = key(1);
        let text = sign(&sk, NAME, 1, &[0u8; 32]);
        let cases = [
            text.trim_end().to_owned(),              // no final newline
            text.replace("\n\n", "\n"),              // no blank line
            text.replace('\u{2014}', "-"),           // not an em dash
            text.replacen(NAME, "", 1),              // empty origin
            text.replacen("\n1\n", "\n01\n", 1),     // leading zero
            text.replacen("\n1\n", "\n+1\n", 1),     // sign
            text.replacen("AAAA=", "AAA=", 1),       // root not 32 bytes
            text.replacen("\n\n", "\n\n\n", 1),      // empty line before signatures
            text.replacen("\n\n", "\next\n\n\n", 1), // empty extension line
            text.replacen('\n', "\r\n", 1),          // control character
            text.clone(),                            // the original: accepted (sanity)
        ];
        for (i, c) in cases.iter().enumerate().take(cases.len() - 1) {
            assert!(parse(c).is_err(), "case {i} accepted: {c:?}");
        }
        assert!(parse(&cases[cases.len() - 1]).is_ok());
        // Extension lines are allowed and signed.
        let b = format!("{}ext line\n", body(NAME, 1, &[0u8; 32]));
        let sig = sk.sign(b.as_bytes()).to_bytes();
        let pk = sk.verifying_key().to_bytes();
        let note = signed_note(&b, NAME, key_id(NAME, &pk), &sig);
        assert_eq!(verify(&note, NAME, &pk).unwrap().body, b);
    }

    proptest! {
        #[test]
        fn round_trip(size in any::<u64>(), root in any::<[u8; 32]>(), seed in any::<u8>()) {
            let sk = key(seed);
            let pk = sk.verifying_key().to_bytes();
            let text = sign(&sk, NAME, size, &root);
            let cp = verify(&text, NAME, &pk).unwrap();
            prop_assert_eq!(cp.size, size);
            prop_assert_eq!(cp.root, root);
        }

        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = parse(&s);
        }

        #[test]
        fn any_byte_flip_in_body_fails(size in any::<u64>(), root in any::<[u8; 32]>(), pos in any::<prop::sample::Index>()) {
            let sk = key(3);
            let pk = sk.verifying_key().to_bytes();
            let b = body(NAME, size, &root);
            let text = sign(&sk, NAME, size, &root);
            let i = pos.index(b.len() - 1); // keep the final newline
            let mut bytes = text.into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            if let Ok(t) = String::from_utf8(bytes) {
                prop_assert!(verify(&t, NAME, &pk).is_err());
            }
        }
    }
}
