//! Maintenance use cases behind the operator's commands `backup`, `restore` and
//! `migrate-to`: verifying the whole audit log, opening a sample of referrals to prove keys,
//! wraps and ciphertexts arrived intact, finding the shreds recorded after a point of the
//! log, re-applying them, and recording a restore or a migration in the log.
//!
//! None of these returns content: a sampled referral is opened and its plaintext dropped
//! at once; only ids and counts come out.

use passerelle_domain::audit::{Action, Targets};
use passerelle_domain::ids::{OrgId, ReferralId};
use passerelle_domain::merkle::Hash;
use passerelle_domain::verify::{StoredHead, Verifier, VerifyFailure};
use passerelle_store::{AuditFilter, BoxKind, ListQuery, ReferralRow};
use passerelle_vault::{Binding, Part, ReferralKey};
use zeroize::Zeroizing;

use crate::journal::Entry;
use crate::{Core, CoreError, CoreResult, RequestCtx};

/// Leaves read per page while verifying.
const PAGE: u32 = 1000;

/// An intact audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogCheck {
    /// Number of entries.
    pub entries: u64,
    /// The Merkle root, equal to the signed head's.
    pub root: Hash,
}

/// What [`Core::check_decryption_sample`] opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleCheck {
    /// Referrals whose content opened (binding header and digest checked).
    pub opened: u64,
    /// Referrals skipped because their content was destroyed.
    pub shredded: u64,
}

impl Core {
    /// Verifies the whole audit log in the database: every leaf, density, the root, the
    /// signed head, and a kept checkpoint when given. `Ok(Err(_))` names the first problem.
    pub async fn verify_audit_log(
        &self,
        kept: Option<&str>,
    ) -> CoreResult<Result<LogCheck, VerifyFailure>> {
        let signer = self.vault().signer();
        let mut v = match Verifier::new(signer.name(), &signer.public_key(), kept) {
            Ok(v) => v,
            Err(f) => return Ok(Err(f)),
        };
        let head = self.store().audit_head().await?;
        let mut from = 0;
        loop {
            let page = self.store().audit_leaves(from, PAGE).await?;
            for leaf in &page {
                if let Err(f) = v.feed(leaf.seq, &leaf.leaf.bytes, &leaf.leaf_hash) {
                    return Ok(Err(f));
                }
            }
            match page.last() {
                Some(last) if page.len() == PAGE as usize => from = last.seq + 1,
                _ => break,
            }
        }
        let Some(head) = head else {
            return Ok(if v.entries() == 0 {
                Ok(LogCheck {
                    entries: 0,
                    root: passerelle_domain::merkle::CompactRange::empty().root(),
                })
            } else {
                Err(VerifyFailure {
                    seq: None,
                    reason: "entries but no signed head".into(),
                })
            });
        };
        Ok(v.finish(&StoredHead {
            size: head.size,
            root: head.root,
            checkpoint: &head.checkpoint,
        })
        .map(|s| LogCheck {
            entries: s.entries,
            root: s.root,
        }))
    }

    /// Opens the content of up to `n` referrals (from every organisation's inbox in turn)
    /// with the receiving organisation's identity, checking digests and binding headers;
    /// the plaintext is dropped at once. Fails naming the first referral that does not open.
    pub async fn check_decryption_sample(&self, n: usize) -> CoreResult<SampleCheck> {
        let mut check = SampleCheck::default();
        let mut seen = 0usize;
        'orgs: for org in self.store().list_orgs().await? {
            let mut after = None;
            loop {
                let q = ListQuery {
                    org: org.id,
                    kind: BoxKind::Inbox,
                    status: None,
                    overdue_before: None,
                    after,
                    limit: 50,
                };
                let page = self.store().list_referrals(&q).await?;
                for meta in &page {
                    if seen >= n {
                        break 'orgs;
                    }
                    seen += 1;
                    let Some(row) = self.store().referral(meta.id).await? else {
                        continue;
                    };
                    if row.shredded_at.is_some() {
                        check.shredded += 1;
                        continue;
                    }
                    self.open_as(&row, row.to_org).await.map_err(|e| {
                        CoreError::Internal(format!("referral {} does not open: {e}", row.id))
                    })?;
                    check.opened += 1;
                }
                match page.last() {
                    Some(last) if page.len() == 50 => after = Some((last.due_at, last.id)),
                    _ => break,
                }
            }
        }
        Ok(check)
    }

    async fn open_as(&self, row: &ReferralRow, org: OrgId) -> CoreResult<()> {
        let Some(wrap) = self.store().key_wrap(row.id, org).await? else {
            // No wrap: shredded (wraps go first), or never readable by this organisation.
            return Err(CoreError::Gone);
        };
        let org_key = self
            .store()
            .org_key(org, wrap.org_key_version)
            .await?
            .ok_or_else(|| CoreError::Internal("organisation key version missing".into()))?;
        let identity = self.vault().org_identity(
            org,
            org_key.version,
            &org_key.wrapped_identity,
            &org_key.kek_version,
        )?;
        let key = ReferralKey::unwrap(&identity, &wrap.wrapped)?;
        if passerelle_vault::sha256(&row.content) != row.content_sha256 {
            return Err(CoreError::Internal("content digest mismatch".into()));
        }
        let binding = Binding {
            referral: row.id,
            part: Part::Content,
            item: None,
        };
        let plain = Zeroizing::new(key.open(&binding, &row.content)?);
        drop(plain);
        Ok(())
    }

    /// The referrals whose content a `content.shredded` leaf at or after `from` destroyed,
    /// in log order, each once.
    pub async fn shreds_since(&self, from: u64) -> CoreResult<Vec<ReferralId>> {
        let mut out: Vec<ReferralId> = Vec::new();
        let mut after = from.checked_sub(1);
        loop {
            let page = self
                .store()
                .audit_search(&AuditFilter {
                    action: Some(Action::ContentShredded.as_str().to_owned()),
                    after,
                    limit: PAGE,
                    ..AuditFilter::default()
                })
                .await?;
            for leaf in &page {
                if leaf.seq < from {
                    continue;
                }
                if let Some(id) = leaf.leaf.target.as_deref().and_then(|t| t.parse().ok())
                    && !out.contains(&id)
                {
                    out.push(id);
                }
            }
            match page.last() {
                Some(last) if page.len() == PAGE as usize => after = Some(last.seq),
                _ => break,
            }
        }
        Ok(out)
    }

    /// Destroys a referral's content again after a restore, through the one shred function
    /// ([`Core::shred_referral`], reason `restore`): its key wraps leave the keystore, then
    /// every ciphertext of it in the main database (content, sealed details, messages,
    /// attachments) goes with a `content.shredded` leaf. Returns whether it knew the
    /// referral (one filed after the backup is not in it).
    pub async fn reapply_shred(&self, id: ReferralId, ctx: &RequestCtx) -> CoreResult<bool> {
        match self
            .shred_referral(id, crate::ShredReason::Restore, None, ctx)
            .await
        {
            Ok(_) => Ok(true),
            Err(CoreError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Appends the `restored` leaf: the log continues from the backup's head, and the leaf
    /// carries, as its digest, the root of the log the restore replaced (when known), so
    /// the gap is on the record.
    pub async fn record_restore(
        &self,
        replaced_root: Option<Hash>,
        ctx: &RequestCtx,
    ) -> CoreResult<()> {
        let tx = self.store().begin().await?;
        let mut entry = Entry::system(Action::Restored, Targets::default());
        if let Some(root) = replaced_root {
            entry = entry.ciphertext(root);
        }
        self.commit_with(tx, entry, ctx).await
    }

    /// Appends the `store.migrated` leaf on the target of a migration, once it is checked.
    pub async fn record_migration(&self, ctx: &RequestCtx) -> CoreResult<()> {
        let tx = self.store().begin().await?;
        self.commit_with(
            tx,
            Entry::system(Action::StoreMigrated, Targets::default()),
            ctx,
        )
        .await
    }

    /// The current head's size and root (`None`: empty log).
    pub async fn audit_head_summary(&self) -> CoreResult<Option<(u64, Hash)>> {
        Ok(self.store().audit_head().await?.map(|h| (h.size, h.root)))
    }
}
