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
//! * kept checkpoints (`--against`, the checkpoint folder's latest): each verifies with the
//!   log's key; when the log reaches its size `m`, the root of the first `m` leaves equals
//!   its root (else history was rewritten); a kept checkpoint larger than the log means
//!   truncation or rollback;
//! * the stored head: its checkpoint verifies with the log's key and names the head's size
//!   and root; the head's size is the number of leaves and its root the recomputed root
//!   ([`Verifier::finish`]), or the head is the empty tree and there are no leaves
//!   ([`Verifier::finish_empty`]).
//!
//! When a failure names no entry (a root differs), [`Locator`] finds the first entry that
//! differs from a list of per-size signed checkpoints (the checkpoint folder keeps one per
//! append).

use std::fmt;

use crate::audit::{AuditLeaf, LeafView};
use crate::checkpoint::{self, Checkpoint};
use crate::merkle::{CompactRange, Hash, empty_root, leaf_hash};

mod locate;
pub use locate::Locator;

/// A signed checkpoint kept outside the database, checked against the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kept<'a> {
    /// Where it comes from, for messages (e.g. `--against file`, `checkpoint folder`).
    pub label: &'a str,
    /// The signed note.
    pub text: &'a str,
}

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
    /// The size of the largest kept checkpoint checked against, if any.
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
    /// Kept checkpoints with their labels.
    kept: Vec<(String, Checkpoint)>,
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
        let kept: Vec<Kept<'_>> = kept_checkpoint
            .map(|text| Kept {
                label: "kept checkpoint",
                text,
            })
            .into_iter()
            .collect();
        Verifier::with_kept(signer_name, public_key, &kept)
    }

    /// Starts a verification against any number of kept checkpoints (each signature is
    /// checked here; a failure names the checkpoint by its label).
    pub fn with_kept(
        signer_name: &str,
        public_key: &[u8; 32],
        kept: &[Kept<'_>],
    ) -> Result<Verifier, VerifyFailure> {
        let mut checked = Vec::with_capacity(kept.len());
        for k in kept {
            match checkpoint::verify(k.text, signer_name, public_key) {
                Ok(cp) => checked.push((k.label.to_owned(), cp)),
                Err(e) => {
                    return fail(None, format!("the {} does not verify: {e}", k.label));
                }
            }
        }
        let v = Verifier {
            name: signer_name.to_owned(),
            public_key: *public_key,
            range: CompactRange::empty(),
            kept: checked,
            failed: None,
        };
        v.check_kept()?;
        Ok(v)
    }

    /// Number of leaves accepted so far.
    pub fn entries(&self) -> u64 {
        self.range.size()
    }

    /// The root of the leaves accepted so far.
    pub fn root(&self) -> Hash {
        self.range.root()
    }

    /// Checks the kept checkpoints once the log has reached their size.
    fn check_kept(&self) -> Result<(), VerifyFailure> {
        let n = self.range.size();
        for (label, k) in &self.kept {
            if k.size == n && k.root != self.range.root() {
                return fail(
                    None,
                    format!(
                        "the first {n} entries do not match the {label}: history was rewritten"
                    ),
                );
            }
        }
        Ok(())
    }

    /// Checks one leaf: `seq` must be the next index, `stored_hash` the leaf hash of
    /// `bytes`, and `bytes` a canonical audit leaf.
    pub fn feed(
        &mut self,
        seq: u64,
        bytes: &[u8],
        stored_hash: &Hash,
    ) -> Result<(), VerifyFailure> {
        self.feed_leaf(seq, bytes, stored_hash).map(drop)
    }

    /// Like [`Verifier::feed`], and returns the decoded leaf (for checks of what is stored
    /// beside it, e.g. search columns).
    pub fn feed_leaf(
        &mut self,
        seq: u64,
        bytes: &[u8],
        stored_hash: &Hash,
    ) -> Result<AuditLeaf, VerifyFailure> {
        self.feed_view(seq, bytes, stored_hash).map(|v| v.to_leaf())
    }

    /// Like [`Verifier::feed_leaf`], the leaf decoded in place (no allocation): what
    /// whole-log verification runs on every leaf.
    pub fn feed_view<'b>(
        &mut self,
        seq: u64,
        bytes: &'b [u8],
        stored_hash: &Hash,
    ) -> Result<LeafView<'b>, VerifyFailure> {
        if let Some(f) = &self.failed {
            return Err(f.clone());
        }
        let r = self.feed_inner(seq, bytes, stored_hash);
        if let Err(f) = &r {
            self.failed = Some(f.clone());
        }
        r
    }

    /// Records a failure found by the caller about the entry just fed (e.g. a search column
    /// that differs from the leaf bytes); every later call returns it.
    pub fn reject(&mut self, seq: u64, reason: impl Into<String>) -> VerifyFailure {
        let f = VerifyFailure {
            seq: Some(seq),
            reason: reason.into(),
        };
        if self.failed.is_none() {
            self.failed = Some(f.clone());
        }
        self.failed.clone().unwrap_or(f)
    }

    fn feed_inner<'b>(
        &mut self,
        seq: u64,
        bytes: &'b [u8],
        stored_hash: &Hash,
    ) -> Result<LeafView<'b>, VerifyFailure> {
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
        let leaf = match LeafView::decode(bytes) {
            Ok(leaf) => leaf,
            Err(e) => return fail(Some(seq), format!("leaf does not decode: {e}")),
        };
        self.range.append(h);
        self.check_kept()?;
        Ok(leaf)
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
        for (label, k) in &self.kept {
            if k.origin != cp.origin {
                return fail(None, format!("the {label} is from another log"));
            }
        }
        self.check_kept_sizes(n)?;
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
            kept_size: self.kept.iter().map(|(_, k)| k.size).max(),
        })
    }

    /// Ends the verification when the stored head is the empty tree (no checkpoint yet):
    /// intact only if no leaf was fed and no kept checkpoint covers any entry.
    pub fn finish_empty(self) -> Result<VerifySummary, VerifyFailure> {
        if let Some(f) = self.failed {
            return Err(f);
        }
        let n = self.range.size();
        self.check_kept_sizes(n)?;
        if n > 0 {
            return fail(
                Some(0),
                format!("entries beyond the signed head (0 of {n})"),
            );
        }
        Ok(VerifySummary {
            entries: 0,
            root: empty_root(),
            kept_size: self.kept.iter().map(|(_, k)| k.size).max(),
        })
    }

    /// A kept checkpoint larger than the log: truncation or rollback.
    fn check_kept_sizes(&self, n: u64) -> Result<(), VerifyFailure> {
        match self
            .kept
            .iter()
            .filter(|(_, k)| k.size > n)
            .max_by_key(|(_, k)| k.size)
        {
            Some((label, k)) => fail(
                Some(n),
                format!(
                    "the {label} covers {} entries but the log has {n}: truncated or rolled back",
                    k.size
                ),
            ),
            None => Ok(()),
        }
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
