//! The audit log verifier behind `passerelle audit verify` and offline export checks:
//! pure, streaming (O(log n) memory, one pass), fed the leaves in order.
//!
//! ```text
//! let mut v = Verifier::new(signer_name, &public_key, kept_checkpoint)?;
//! for (seq, bytes, stored_hash) in leaves { v.feed(seq, &bytes, &stored_hash)?; }
//! let summary = v.finish(&StoredHead { size, root, checkpoint: &text })?;
//! ```
//!
//! What is checked, and the first failure answers:
//!
//! * each leaf: its `seq` is the next one from 0 (no gap, no duplicate, no reordering); its
//!   stored hash is the RFC 6962 leaf hash of its bytes; its bytes decode as a canonical
//!   [`AuditLeaf`];
//! * a kept checkpoint (`--against`): it verifies with the log's key; when the log reaches
//!   its size `m`, the root of the first `m` leaves equals its root (else history was
//!   rewritten); a kept checkpoint larger than the log means truncation or rollback;
//! * the stored head: its checkpoint verifies with the log's key and names the head's size
//!   and root; the head's size is the number of leaves and its root the recomputed root.

use std::fmt;

use crate::audit::AuditLeaf;
use crate::checkpoint::{self, Checkpoint};
use crate::merkle::{CompactRange, Hash, leaf_hash};

/// The audit head as stored beside the leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredHead<'a> {
    /// Number of leaves it covers.
    pub size: u64,
    /// Its root.
    pub root: Hash,
    /// Its signed checkpoint (C2SP signed note).
    pub checkpoint: &'a str,
}

/// An intact log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifySummary {
    /// Number of entries.
    pub entries: u64,
    /// The recomputed root (equal to the head's).
    pub root: Hash,
    /// The size of the kept checkpoint checked against, if any.
    pub kept_size: Option<u64>,
}

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyFailure {
    /// The first bad entry, when one entry can be named.
    pub seq: Option<u64>,
    /// What is wrong, in English; never content (leaves hold none).
    pub reason: String,
}

impl fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "entry {seq}: {}", self.reason),
            None => write!(f, "log: {}", self.reason),
        }
    }
}

impl std::error::Error for VerifyFailure {}

fn fail<T>(seq: Option<u64>, reason: impl Into<String>) -> Result<T, VerifyFailure> {
    Err(VerifyFailure {
        seq,
        reason: reason.into(),
    })
}

/// The incremental verifier: [`Verifier::new`], [`Verifier::feed`] each leaf in order,
/// then [`Verifier::finish`]. After a failure every later call returns that same failure.
#[derive(Debug, Clone)]
pub struct Verifier {
    name: String,
    public_key: [u8; 32],
    range: CompactRange,
    kept: Option<Checkpoint>,
    failed: Option<VerifyFailure>,
}

impl Verifier {
    /// Starts a verification for the log signed by `signer_name` / `public_key`, against
    /// an optional kept checkpoint (whose signature is checked here).
    pub fn new(
        signer_name: &str,
        public_key: &[u8; 32],
        kept_checkpoint: Option<&str>,
    ) -> Result<Verifier, VerifyFailure> {
        let kept = match kept_checkpoint {
            None => None,
            Some(text) => match checkpoint::verify(text, signer_name, public_key) {
                Ok(cp) => Some(cp),
                Err(e) => return fail(None, format!("kept checkpoint does not verify: {e}")),
            },
        };
        let v = Verifier {
            name: signer_name.to_owned(),
            public_key: *public_key,
            range: CompactRange::empty(),
            kept,
            failed: None,
        };
        v.check_kept()?;
        Ok(v)
    }

    /// Number of leaves accepted so far.
    pub fn entries(&self) -> u64 {
        self.range.size()
    }

    /// Checks the kept checkpoint once the log has reached its size.
    fn check_kept(&self) -> Result<(), VerifyFailure> {
        match &self.kept {
            Some(k) if k.size == self.range.size() && k.root != self.range.root() => fail(
                None,
                format!(
                    "the first {} entries do not match the kept checkpoint: history was rewritten",
                    k.size
                ),
            ),
            _ => Ok(()),
        }
    }

    /// Checks one leaf: `seq` must be the next index, `stored_hash` the leaf hash of
    /// `bytes`, and `bytes` a canonical audit leaf.
    pub fn feed(
        &mut self,
        seq: u64,
        bytes: &[u8],
        stored_hash: &Hash,
    ) -> Result<(), VerifyFailure> {
        if let Some(f) = &self.failed {
            return Err(f.clone());
        }
        let r = self.feed_inner(seq, bytes, stored_hash);
        if let Err(f) = &r {
            self.failed = Some(f.clone());
        }
        r
    }

    fn feed_inner(
        &mut self,
        seq: u64,
        bytes: &[u8],
        stored_hash: &Hash,
    ) -> Result<(), VerifyFailure> {
        let next = self.range.size();
        if seq > next {
            return fail(
                Some(next),
                format!("missing (the next stored entry is {seq})"),
            );
        }
        if seq < next {
            return fail(Some(seq), "duplicate or out of order");
        }
        let h = leaf_hash(bytes);
        if h != *stored_hash {
            return fail(Some(seq), "stored leaf hash does not match the leaf bytes");
        }
        if let Err(e) = AuditLeaf::decode(bytes) {
            return fail(Some(seq), format!("leaf does not decode: {e}"));
        }
        self.range.append(h);
        self.check_kept()
    }

    /// Ends the verification against the stored head.
    pub fn finish(self, head: &StoredHead<'_>) -> Result<VerifySummary, VerifyFailure> {
        if let Some(f) = self.failed {
            return Err(f);
        }
        let n = self.range.size();
        let root = self.range.root();
        let cp = checkpoint::verify(head.checkpoint, &self.name, &self.public_key)
            .or_else(|e| fail(None, format!("head checkpoint does not verify: {e}")))?;
        if cp.size != head.size || cp.root != head.root {
            return fail(None, "the stored head differs from its signed checkpoint");
        }
        if let Some(k) = &self.kept {
            if k.origin != cp.origin {
                return fail(None, "the kept checkpoint is from another log");
            }
            if k.size > n {
                return fail(
                    Some(n),
                    format!(
                        "the kept checkpoint covers {} entries but the log has {n}: truncated or rolled back",
                        k.size
                    ),
                );
            }
        }
        if head.size > n {
            return fail(
                Some(n),
                format!(
                    "the signed head covers {} entries but the log has {n}: truncated",
                    head.size
                ),
            );
        }
        if head.size < n {
            return fail(
                Some(head.size),
                format!("entries beyond the signed head ({} of {n})", head.size),
            );
        }
        if root != head.root {
            return fail(None, "the recomputed root differs from the signed head");
        }
        Ok(VerifySummary {
            entries: n,
            root,
            kept_size: self.kept.map(|k| k.size),
        })
    }
}

/// One-shot verification of leaves `(seq, bytes, stored_hash)` given in order.
pub fn verify_log<B: AsRef<[u8]>>(
    leaves: impl IntoIterator<Item = (u64, B, Hash)>,
    head: &StoredHead<'_>,
    kept_checkpoint: Option<&str>,
    signer_name: &str,
    public_key: &[u8; 32],
) -> Result<VerifySummary, VerifyFailure> {
    let mut v = Verifier::new(signer_name, public_key, kept_checkpoint)?;
    for (seq, bytes, hash) in leaves {
        v.feed(seq, bytes.as_ref(), &hash)?;
    }
    v.finish(head)
}

#[cfg(test)]
mod tests;
