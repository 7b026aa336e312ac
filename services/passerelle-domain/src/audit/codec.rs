//! The canonical, versioned binary encoding of an [`AuditLeaf`]: the bytes hashed into the
//! Merkle tree, so they must never change for a given leaf.
//!
//! Format version 1, all integers big-endian:
//!
//! ```text
//! u8      version = 1
//! i64     at, unix seconds (UTC; the offset is not kept)
//! u32     at, nanoseconds (< 1_000_000_000)
//! opt str actor            (username)
//! opt str actor_org        (organisation slug)
//! opt str role             (wire spelling)
//! str     action           (wire spelling, e.g. "referral.read")
//! opt u128 × 8 targets     referral, case, attachment, message, user, org, token, task
//! u8      outcome          0 = allowed, 1 = denied, then str reason code
//! opt str legal_basis      (wire spelling)
//! opt str request_id
//! u32     n, then n × 32 bytes ciphertext SHA-256
//! ```
//!
//! `str` is a u32 byte length and UTF-8 bytes; `opt X` is a presence byte (0 absent,
//! 1 present) followed by `X` when present. Decoding is strict: an unknown version, a
//! presence or outcome byte other than 0/1, nanoseconds out of range, a time out of range,
//! invalid UTF-8, an identifier or enum spelling that does not parse, truncation or
//! trailing bytes are all refused. Every field has exactly one encoding, so for every
//! accepted `b`, `encode(decode(b)) == b`.

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Action, AuditLeaf, Outcome, Targets};
use crate::ids::{OrgSlug, Username};

/// The format version written by [`AuditLeaf::encode`].
pub const LEAF_FORMAT_VERSION: u8 = 1;

/// Why bytes are not a canonical audit leaf.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeafDecodeError {
    /// No bytes at all.
    #[error("empty audit leaf")]
    Empty,
    /// The first byte is not a known format version.
    #[error("unknown audit leaf format version {0}")]
    UnknownVersion(u8),
    /// The bytes end in the middle of a field.
    #[error("truncated audit leaf")]
    Truncated,
    /// Bytes follow the last field.
    #[error("trailing bytes after the audit leaf")]
    TrailingBytes,
    /// A field holds a value that is invalid or not in canonical form (the field's name).
    #[error("invalid or non-canonical audit leaf field: {0}")]
    Invalid(&'static str),
}

struct Writer(Vec<u8>);

impl Writer {
    fn str(&mut self, s: &str) {
        let len = u32::try_from(s.len()).expect("audit strings are far below 4 GiB");
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.0.push(0),
            Some(s) => {
                self.0.push(1);
                self.str(s);
            }
        }
    }

    fn opt_uuid(&mut self, u: Option<Uuid>) {
        match u {
            None => self.0.push(0),
            Some(u) => {
                self.0.push(1);
                self.0.extend_from_slice(u.as_bytes());
            }
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], LeafDecodeError> {
        if self.0.len() < n {
            return Err(LeafDecodeError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], LeafDecodeError> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }

    fn u8(&mut self) -> Result<u8, LeafDecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, LeafDecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn present(&mut self, field: &'static str) -> Result<bool, LeafDecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(LeafDecodeError::Invalid(field)),
        }
    }

    fn str(&mut self, field: &'static str) -> Result<&'a str, LeafDecodeError> {
        let len = self.u32()? as usize;
        std::str::from_utf8(self.take(len)?).map_err(|_| LeafDecodeError::Invalid(field))
    }

    fn opt_str(&mut self, field: &'static str) -> Result<Option<&'a str>, LeafDecodeError> {
        if self.present(field)? {
            self.str(field).map(Some)
        } else {
            Ok(None)
        }
    }

    fn opt_parse<T: std::str::FromStr>(
        &mut self,
        field: &'static str,
    ) -> Result<Option<T>, LeafDecodeError> {
        self.opt_str(field)?
            .map(|s| s.parse().map_err(|_| LeafDecodeError::Invalid(field)))
            .transpose()
    }

    fn opt_uuid<T: From<Uuid>>(
        &mut self,
        field: &'static str,
    ) -> Result<Option<T>, LeafDecodeError> {
        if self.present(field)? {
            Ok(Some(Uuid::from_bytes(self.array()?).into()))
        } else {
            Ok(None)
        }
    }
}

impl AuditLeaf {
    /// The canonical bytes of this leaf (format version 1; see the module documentation).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(128 + 32 * self.ciphertext_sha256.len()));
        w.0.push(LEAF_FORMAT_VERSION);
        // Both are the same in every offset (offsets are whole seconds).
        w.0.extend_from_slice(&self.at.unix_timestamp().to_be_bytes());
        w.0.extend_from_slice(&self.at.nanosecond().to_be_bytes());
        w.opt_str(self.actor.as_ref().map(Username::as_str));
        w.opt_str(self.actor_org.as_ref().map(OrgSlug::as_str));
        w.opt_str(self.role.map(|r| r.as_str()));
        w.str(self.action.as_str());
        let t = &self.targets;
        w.opt_uuid(t.referral.map(|x| x.0));
        w.opt_uuid(t.case.map(|x| x.0));
        w.opt_uuid(t.attachment.map(|x| x.0));
        w.opt_uuid(t.message.map(|x| x.0));
        w.opt_uuid(t.user.map(|x| x.0));
        w.opt_uuid(t.org.map(|x| x.0));
        w.opt_uuid(t.token.map(|x| x.0));
        w.opt_uuid(t.task.map(|x| x.0));
        match &self.outcome {
            Outcome::Allowed => w.0.push(0),
            Outcome::Denied(code) => {
                w.0.push(1);
                w.str(code);
            }
        }
        w.opt_str(self.legal_basis.map(|b| b.as_str()));
        w.opt_str(self.request_id.as_deref());
        let n = u32::try_from(self.ciphertext_sha256.len()).expect("fewer than 2^32 digests");
        w.0.extend_from_slice(&n.to_be_bytes());
        for d in &self.ciphertext_sha256 {
            w.0.extend_from_slice(d);
        }
        w.0
    }

    /// Decodes canonical leaf bytes; refuses anything [`AuditLeaf::encode`] would not have
    /// written (see the module documentation). The time comes back in UTC, and must be
    /// within the years -9999..=9999 in UTC.
    pub fn decode(bytes: &[u8]) -> Result<AuditLeaf, LeafDecodeError> {
        LeafView::decode(bytes).map(|v| v.to_leaf())
    }

    /// The RFC 6962 leaf hash of the canonical bytes.
    pub fn leaf_hash(&self) -> crate::merkle::Hash {
        crate::merkle::leaf_hash(&self.encode())
    }

    /// Whether the leaf is about content shared under Code pénal art. 226-14 3° (flagged in
    /// the log).
    pub fn flag_226_14(&self) -> bool {
        self.legal_basis == Some(crate::enums::ConsentBasis::LegalException22614)
    }
}

/// The outcome of a [`LeafView`], its reason code borrowed from the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeRef<'a> {
    /// Done.
    Allowed,
    /// Refused, with its reason code.
    Denied(&'a str),
}

/// An audit leaf decoded in place: every check of [`AuditLeaf::decode`] (which is built on
/// it), its text borrowed from the bytes, so that decoding allocates nothing. What whole-log
/// verification uses on every leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafView<'a> {
    /// When (UTC).
    pub at: OffsetDateTime,
    /// Acting user's username, valid as a [`Username`].
    pub actor: Option<&'a str>,
    /// Acting user's organisation, valid as an [`OrgSlug`].
    pub actor_org: Option<&'a str>,
    /// Acting user's role.
    pub role: Option<crate::enums::Role>,
    /// What.
    pub action: Action,
    /// On what.
    pub targets: Targets,
    /// Done or refused.
    pub outcome: OutcomeRef<'a>,
    /// Under which legal basis content was shared or read.
    pub legal_basis: Option<crate::enums::ConsentBasis>,
    /// The request id, when any.
    pub request_id: Option<&'a str>,
    /// The ciphertext digests, 32 bytes each.
    pub ciphertext_sha256: &'a [u8],
}

impl<'a> LeafView<'a> {
    /// Decodes canonical leaf bytes in place; refuses exactly what [`AuditLeaf::decode`]
    /// refuses (see the module documentation).
    pub fn decode(bytes: &'a [u8]) -> Result<LeafView<'a>, LeafDecodeError> {
        use LeafDecodeError::Invalid;
        let mut r = Reader(bytes);
        let version = r.u8().map_err(|_| LeafDecodeError::Empty)?;
        if version != LEAF_FORMAT_VERSION {
            return Err(LeafDecodeError::UnknownVersion(version));
        }
        let secs = i64::from_be_bytes(r.array()?);
        let nanos = r.u32()?;
        if nanos >= 1_000_000_000 {
            return Err(Invalid("at"));
        }
        let at = OffsetDateTime::from_unix_timestamp(secs)
            .map_err(|_| Invalid("at"))?
            .replace_nanosecond(nanos)
            .map_err(|_| Invalid("at"))?;
        let ident = |s: Option<&'a str>, valid: fn(&str) -> bool, field| match s {
            Some(s) if !valid(s) => Err(Invalid(field)),
            s => Ok(s),
        };
        let actor = ident(r.opt_str("actor")?, Username::is_valid, "actor")?;
        let actor_org = ident(r.opt_str("actor_org")?, OrgSlug::is_valid, "actor_org")?;
        let role = r.opt_parse("role")?;
        let action: Action = r.str("action")?.parse().map_err(|_| Invalid("action"))?;
        let targets = Targets {
            referral: r.opt_uuid("targets")?,
            case: r.opt_uuid("targets")?,
            attachment: r.opt_uuid("targets")?,
            message: r.opt_uuid("targets")?,
            user: r.opt_uuid("targets")?,
            org: r.opt_uuid("targets")?,
            token: r.opt_uuid("targets")?,
            task: r.opt_uuid("targets")?,
        };
        let outcome = match r.u8()? {
            0 => OutcomeRef::Allowed,
            1 => OutcomeRef::Denied(r.str("outcome")?),
            _ => return Err(Invalid("outcome")),
        };
        let legal_basis = r.opt_parse("legal_basis")?;
        let request_id = r.opt_str("request_id")?;
        let n = r.u32()? as usize;
        if r.0.len() / 32 < n {
            return Err(LeafDecodeError::Truncated);
        }
        let ciphertext_sha256 = r.take(n * 32)?;
        if !r.0.is_empty() {
            return Err(LeafDecodeError::TrailingBytes);
        }
        Ok(LeafView {
            at,
            actor,
            actor_org,
            role,
            action,
            targets,
            outcome,
            legal_basis,
            request_id,
            ciphertext_sha256,
        })
    }

    /// The owned leaf.
    pub fn to_leaf(&self) -> AuditLeaf {
        // Both identifiers were validated by `decode`.
        let valid = "validated by LeafView::decode";
        AuditLeaf {
            at: self.at,
            actor: self.actor.map(|s| Username::parse(s).expect(valid)),
            actor_org: self.actor_org.map(|s| OrgSlug::parse(s).expect(valid)),
            role: self.role,
            action: self.action,
            targets: self.targets.clone(),
            outcome: match self.outcome {
                OutcomeRef::Allowed => Outcome::Allowed,
                OutcomeRef::Denied(code) => Outcome::Denied(code.to_owned()),
            },
            legal_basis: self.legal_basis,
            request_id: self.request_id.map(str::to_owned),
            ciphertext_sha256: self
                .ciphertext_sha256
                .chunks_exact(32)
                .map(|d| d.try_into().expect("32-byte chunks"))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests;
