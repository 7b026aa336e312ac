//! [`AuditLog`]: the audit log as an auditor reads it, with the public key alone — whole-log
//! verification streamed in pages, the current signed head, inclusion proofs (exports are
//! in `export.rs`).
//! Nothing here needs a secret, and nothing here writes.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use passerelle_domain::checkpoint;
use passerelle_domain::merkle::leaf_hash;
use passerelle_domain::proof::InclusionBuilder;
use passerelle_domain::verify::{
    Kept, Locator, StoredHead, Verifier, VerifyFailure, VerifySummary,
};
use passerelle_store::{AuditHeadRow, Store};

use super::files::{PROOF_FORMAT, ProofFile};
use super::folder::{Folder, FolderState};
use super::render::{column_mismatch, readable};
use crate::{CoreError, CoreResult};

/// Leaves read per page: memory stays bounded whatever the log's size.
pub const PAGE: u32 = 1000;

/// Leaves read at once by [`AuditLog::verify`]: one packed value of a few MiB, which keeps
/// the database's per-query work out of the way of the hashing.
const VERIFY_PAGE: u32 = 10_000;

/// Pages read ahead of the one being checked by [`AuditLog::verify`].
const READ_AHEAD: usize = 2;

/// Rounds of catching up with concurrent appends before giving up.
const MAX_ROUNDS: u32 = 20;
/// Candidates from the checkpoint folder confirmed (by signature) while naming an entry.
const MAX_CANDIDATES: usize = 16;

/// The audit log's verifier key: the signed-note key name and the Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    /// Key name (`passerelle-audit`).
    pub name: String,
    /// Ed25519 public key.
    pub public_key: [u8; 32],
}

impl VerifierKey {
    /// Parses a verifier key file (`audit-signing.pub`): its first line that is neither
    /// empty nor a `#` comment, `<name>+<hex key id>+<base64(0x01 || key)>`.
    pub fn parse(text: &str) -> Result<VerifierKey, String> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or("the key file holds no verifier key")?;
        let (name, public_key) =
            passerelle_vault::parse_verifier_key(line).map_err(|e| e.to_string())?;
        Ok(VerifierKey { name, public_key })
    }

    /// Reads and parses a verifier key file.
    pub fn read(path: &Path) -> Result<VerifierKey, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        VerifierKey::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The verifier key line.
    pub fn line(&self) -> String {
        use base64::Engine;
        let mut raw = [0u8; 33];
        raw[0] = checkpoint::ED25519_TYPE;
        raw[1..].copy_from_slice(&self.public_key);
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(checkpoint::key_id(&self.name, &self.public_key)),
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// The outcome of a whole-log verification.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// Intact (with a summary), or the first problem.
    pub outcome: Result<VerifySummary, VerifyFailure>,
    /// The stored head the log was checked against (`None`: the empty tree).
    pub head: Option<AuditHeadRow>,
    /// What the checkpoint folder held.
    pub folder: FolderState,
    /// The size of the `--against` checkpoint, when one was given and parses.
    pub against_size: Option<u64>,
}

/// The audit log, read with the public key alone.
#[derive(Clone)]
pub struct AuditLog {
    pub(super) store: Arc<dyn Store>,
    pub(super) key: VerifierKey,
    folder: Folder,
    /// Leaves a page of [`AuditLog::verify`] ([`VERIFY_PAGE`]; smaller in tests).
    verify_page: u32,
}

fn io(e: std::io::Error) -> CoreError {
    CoreError::Internal(format!("checkpoint folder: {e}"))
}

impl AuditLog {
    /// The log of `store`, verified with `key`, its checkpoints kept in `checkpoint_dir`.
    pub fn new(store: Arc<dyn Store>, key: VerifierKey, checkpoint_dir: &Path) -> AuditLog {
        AuditLog {
            store,
            key,
            folder: Folder::new(checkpoint_dir),
            verify_page: VERIFY_PAGE,
        }
    }

    /// The verifier key.
    pub fn key(&self) -> &VerifierKey {
        &self.key
    }

    /// Verifies the whole log: every leaf (hash, decoding, search columns), dense indexes,
    /// the root, the head's signature, the latest checkpoint of the checkpoint folder and
    /// `against` (a kept checkpoint's text). Leaves are streamed in pages of 10,000;
    /// appends made meanwhile by running instances are followed. A failure names the
    /// first bad entry whenever the leaves or the folder's checkpoints allow it.
    pub async fn verify(&self, against: Option<&str>) -> CoreResult<VerifyReport> {
        // The folder first: its checkpoints are written after their commit, so none is
        // newer than the database read afterwards.
        let folder = self.folder.latest().map_err(io)?;
        let against_size = against.and_then(|t| checkpoint::parse(t).ok().map(|c| c.size));
        let mut kept = Vec::new();
        if let Some(text) = against {
            kept.push(Kept {
                label: "--against checkpoint",
                text,
            });
        }
        if let Some(latest) = &folder.latest {
            kept.push(Kept {
                label: "latest checkpoint of the checkpoint folder",
                text: &latest.text,
            });
        }
        let report = |outcome, head| VerifyReport {
            outcome,
            head,
            folder: folder.clone(),
            against_size,
        };
        let mut v = match Verifier::with_kept(&self.key.name, &self.key.public_key, &kept) {
            Ok(v) => v,
            Err(f) => return Ok(report(Err(f), None)),
        };
        let mut next = 0u64;
        let mut waiting: Option<Option<AuditHeadRow>> = None;
        let mut rounds = 0;
        let head = loop {
            let fed = match self.drain(&mut v, &mut next).await? {
                Ok(fed) => fed,
                Err(f) => {
                    let f = self.name_entry(f).await?;
                    return Ok(report(Err(f), self.store.audit_head().await?));
                }
            };
            if let Some(h) = waiting.take()
                && fed == 0
            {
                // Leaves below this head were committed before it was read: they are gone.
                break h;
            }
            let h = self.store.audit_head().await?;
            if h.as_ref().map_or(0, |h| h.size) <= v.entries() {
                break h;
            }
            rounds += 1;
            if rounds > MAX_ROUNDS {
                tracing::warn!("the audit log kept growing faster than it was verified");
                return Err(CoreError::Unavailable);
            }
            waiting = Some(h);
        };
        let outcome = match &head {
            None => v.finish_empty(),
            Some(h) => v.finish(&StoredHead {
                size: h.size,
                root: h.root,
                checkpoint: &h.checkpoint,
            }),
        };
        let outcome = match outcome {
            Err(f) => Err(self.name_entry(f).await?),
            ok => ok,
        };
        Ok(report(outcome, head))
    }

    /// Feeds every leaf from `next` on; returns how many were fed, or the first failure.
    /// Leaves come packed many to a database value ([`Store::audit_leaf_batch`]) and are
    /// checked in place. The next [`READ_AHEAD`] pages are read (on as many connections)
    /// while the current one is checked, so the database and the hashing overlap; a page
    /// read ahead is used only if it starts right after the page before it (after a gap it
    /// is dropped and read again from there).
    async fn drain(
        &self,
        v: &mut Verifier,
        next: &mut u64,
    ) -> CoreResult<Result<u64, VerifyFailure>> {
        let size = self.verify_page;
        let fetch = |from: u64| {
            let store = self.store.clone();
            let page = tokio::spawn(async move { store.audit_leaf_batch(from, size).await });
            (from, page)
        };
        let mut fed = 0;
        let mut ahead = VecDeque::from([fetch(*next)]);
        while let Some((_, reading)) = ahead.pop_front() {
            let page = reading
                .await
                .map_err(|e| CoreError::Internal(format!("audit page reader: {e}")))??;
            match (page.len() == size as usize, page.last_seq()) {
                (true, Some(last)) => {
                    // Rows come by seq: the next page starts after this one, gaps or not.
                    let after = last.saturating_add(1);
                    if ahead.front().is_some_and(|(from, _)| *from != after) {
                        ahead.drain(..).for_each(|(_, page)| page.abort());
                    }
                    let mut from = ahead
                        .back()
                        .map_or(after, |(from, _)| from.saturating_add(size.into()));
                    while ahead.len() < READ_AHEAD {
                        ahead.push_back(fetch(from));
                        from = from.saturating_add(size.into());
                    }
                }
                // The end of the leaves (as read now): nothing read ahead follows it.
                _ => ahead.drain(..).for_each(|(_, page)| page.abort()),
            }
            for row in page.iter() {
                let row = row?;
                let leaf = match v.feed_view(row.seq, row.bytes, row.leaf_hash) {
                    Ok(leaf) => leaf,
                    Err(f) => return Ok(Err(f)),
                };
                if let Some(col) = column_mismatch(&row, &leaf) {
                    return Ok(Err(v.reject(
                        row.seq,
                        format!(
                            "the stored search column `{col}` differs from the signed leaf bytes"
                        ),
                    )));
                }
                *next = row.seq + 1;
                fed += 1;
            }
        }
        Ok(Ok(fed))
    }

    /// A failure that names no entry (a root differs): finds the first entry that differs
    /// from a validly signed checkpoint of the folder, which keeps one per append.
    async fn name_entry(&self, f: VerifyFailure) -> CoreResult<VerifyFailure> {
        if f.seq.is_some() {
            return Ok(f);
        }
        let roots = self.folder.all_roots().map_err(io)?;
        let mut loc = Locator::new(roots);
        if loc.is_empty() {
            return Ok(f);
        }
        let mut checked = 0;
        let mut next = 0u64;
        loop {
            let page = self.store.audit_leaves(next, PAGE).await?;
            let n = page.len();
            for row in page {
                if row.seq != next {
                    return Ok(f);
                }
                next += 1;
                for (size, root) in loc.push(leaf_hash(&row.leaf.bytes)) {
                    checked += 1;
                    if checked > MAX_CANDIDATES {
                        return Ok(f);
                    }
                    let Some(text) = self.folder.find(size, &root).map_err(io)? else {
                        continue;
                    };
                    if checkpoint::verify(&text, &self.key.name, &self.key.public_key).is_ok() {
                        return Ok(VerifyFailure {
                            seq: Some(size - 1),
                            reason: format!(
                                "differs from the signed checkpoint of {size} entries kept in the checkpoint folder ({})",
                                f.reason
                            ),
                        });
                    }
                }
            }
            if n < PAGE as usize {
                return Ok(f);
            }
        }
    }

    /// The current signed head, its checkpoint verified with the key; `None` while the log
    /// is empty.
    pub async fn signed_head(&self) -> CoreResult<Option<AuditHeadRow>> {
        let Some(head) = self.store.audit_head().await? else {
            return Ok(None);
        };
        let cp = checkpoint::verify(&head.checkpoint, &self.key.name, &self.key.public_key)
            .map_err(|e| {
                CoreError::Internal(format!("the stored head's checkpoint does not verify: {e}"))
            })?;
        if cp.size != head.size || cp.root != head.root {
            return Err(CoreError::Internal(
                "the stored head differs from its signed checkpoint".into(),
            ));
        }
        Ok(Some(head))
    }

    /// The inclusion proof of entry `seq` in the current signed head, checked before it is
    /// returned. Streams the leaves once.
    pub async fn prove(&self, seq: u64) -> CoreResult<ProofFile> {
        let head = self.signed_head().await?.ok_or(CoreError::NotFound)?;
        let mut b = InclusionBuilder::new(seq, head.size).map_err(|_| CoreError::NotFound)?;
        let mut bytes = None;
        let mut next = 0u64;
        'pages: while next < head.size {
            let page = self.store.audit_leaves(next, PAGE).await?;
            if page.is_empty() {
                break;
            }
            for row in page.into_iter().take_while(|r| r.seq < head.size) {
                if row.seq != next {
                    break 'pages;
                }
                b.push(leaf_hash(&row.leaf.bytes));
                if row.seq == seq {
                    bytes = Some(row.leaf.bytes);
                }
                next += 1;
            }
        }
        let broken = || {
            CoreError::Internal(
                "the stored leaves do not match the signed head: run `passerelle audit verify`"
                    .into(),
            )
        };
        let (leaf, path) = b.finish().map_err(|_| broken())?;
        let bytes = bytes.ok_or_else(broken)?;
        let decoded = passerelle_domain::audit::AuditLeaf::decode(&bytes).map_err(|_| broken())?;
        let proof = ProofFile {
            format: PROOF_FORMAT.to_owned(),
            seq,
            leaf: b64(&bytes),
            leaf_hash: hex::encode(leaf),
            entry: readable(&decoded),
            tree_size: head.size,
            path: path.iter().map(hex::encode).collect(),
            checkpoint: head.checkpoint,
            verifier_key: self.key.line(),
        };
        // Never hand out a proof that does not verify.
        super::files::verify_proof(&proof, &self.key).map_err(|_| broken())?;
        Ok(proof)
    }
}

/// Base64 of leaf bytes, as exports and proofs carry them.
pub(super) fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use passerelle_domain::audit::{Action, AuditLeaf, Outcome, Targets};
    use passerelle_store::NewAuditLeaf;
    use passerelle_store_sqlite::SqliteStore;
    use passerelle_vault::Vault;
    use time::OffsetDateTime;

    /// 50 leaves read 7 at a time, two pages ahead: the intact log verifies; with a leaf
    /// deleted in the fifth page (the page read ahead then starts in the wrong place and
    /// is read again), the missing entry is named.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pages_read_ahead_follow_the_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        passerelle_vault::init_keys(&keys).unwrap();
        let vault = Vault::load(&keys).unwrap();
        let url = format!("sqlite://{}", dir.path().join("main.db").display());
        let store = SqliteStore::connect(&url, &keys.join("keystore.db"))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        for i in 0..50 {
            let leaf = AuditLeaf {
                at: OffsetDateTime::from_unix_timestamp(1_800_000_000 + i).unwrap(),
                actor: None,
                actor_org: None,
                role: None,
                action: Action::LoginFailed,
                targets: Targets::default(),
                outcome: Outcome::Denied("bad-password".into()),
                legal_basis: None,
                request_id: None,
                ciphertext_sha256: vec![],
            };
            let columns = NewAuditLeaf {
                at: leaf.at,
                bytes: leaf.encode(),
                actor: None,
                org: None,
                action: leaf.action.as_str().to_owned(),
                target: None,
                case_id: None,
            };
            tx.append_audit(&columns, vault.signer()).await.unwrap();
        }
        tx.commit().await.unwrap();
        let key = VerifierKey::parse(&vault.signer().verifier_key()).unwrap();
        let pool = store.pool().clone();
        let mut log = AuditLog::new(Arc::new(store), key, &dir.path().join("checkpoints"));
        log.verify_page = 7;
        let r = log.verify(None).await.unwrap();
        assert_eq!(r.outcome.unwrap().entries, 50);

        for sql in [
            "DROP TRIGGER audit_leaves_no_delete",
            "DELETE FROM audit_leaves WHERE seq = 30",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        let f = log.verify(None).await.unwrap().outcome.unwrap_err();
        assert_eq!(f.seq, Some(30), "{f}");
        assert!(f.reason.starts_with("missing"), "{f}");
    }
}
