//! The audit journal seen from the use cases: building a leaf from a principal and an
//! action, appending it last in the transaction, committing, then copying the signed
//! checkpoint to the checkpoint folder.

use std::io::Write;

use passerelle_domain::audit::{Action, AuditLeaf, Outcome, Targets};
use passerelle_domain::enums::ConsentBasis;
use passerelle_store::{NewAuditLeaf, StoreTx};

use crate::auth::Principal;
use crate::{Core, CoreResult, RequestCtx};

/// A leaf being built.
pub(crate) struct Entry {
    actor: Option<Principal>,
    action: Action,
    targets: Targets,
    outcome: Outcome,
    legal_basis: Option<ConsentBasis>,
    ciphertexts: Vec<[u8; 32]>,
}

impl Entry {
    pub(crate) fn by(p: &Principal, action: Action, targets: Targets) -> Entry {
        Entry {
            actor: Some(p.clone()),
            action,
            targets,
            outcome: Outcome::Allowed,
            legal_basis: None,
            ciphertexts: Vec::new(),
        }
    }

    pub(crate) fn system(action: Action, targets: Targets) -> Entry {
        Entry {
            actor: None,
            action,
            targets,
            outcome: Outcome::Allowed,
            legal_basis: None,
            ciphertexts: Vec::new(),
        }
    }

    pub(crate) fn outcome(mut self, o: Outcome) -> Entry {
        self.outcome = o;
        self
    }

    pub(crate) fn basis(mut self, b: ConsentBasis) -> Entry {
        self.legal_basis = Some(b);
        self
    }

    pub(crate) fn ciphertext(mut self, sha: [u8; 32]) -> Entry {
        self.ciphertexts.push(sha);
        self
    }
}

impl Core {
    fn leaf_of(&self, e: Entry, ctx: &RequestCtx) -> NewAuditLeaf {
        // Microseconds, the precision both databases keep (the bytes and the search column
        // say the same time).
        let at = crate::referrals::micros(self.now());
        let leaf = AuditLeaf {
            at,
            actor: e.actor.as_ref().map(|p| p.username.clone()),
            actor_org: e.actor.as_ref().map(|p| p.org_slug.clone()),
            role: e.actor.as_ref().map(|p| p.role),
            action: e.action,
            targets: e.targets.clone(),
            outcome: e.outcome,
            legal_basis: e.legal_basis,
            request_id: ctx.request_id.clone(),
            ciphertext_sha256: e.ciphertexts,
        };
        // The search columns come from the leaf alone (`audit verify` checks them).
        crate::audit::stored_leaf(&leaf)
    }

    /// Appends the leaf last in `tx`, commits, then keeps the signed checkpoint.
    pub(crate) async fn commit_with(
        &self,
        mut tx: Box<dyn StoreTx>,
        entry: Entry,
        ctx: &RequestCtx,
    ) -> CoreResult<()> {
        let leaf = self.leaf_of(entry, ctx);
        let head = tx.append_audit(&leaf, self.vault().signer()).await?;
        tx.commit().await?;
        self.keep_checkpoint(head.size, &head.checkpoint);
        Ok(())
    }

    /// Appends a leaf in `tx` without committing (an action with several leaves; the last
    /// goes through [`Core::commit_with`], whose checkpoint covers this one).
    pub(crate) async fn append(
        &self,
        tx: &mut dyn StoreTx,
        entry: Entry,
        ctx: &RequestCtx,
    ) -> CoreResult<()> {
        let leaf = self.leaf_of(entry, ctx);
        tx.append_audit(&leaf, self.vault().signer()).await?;
        Ok(())
    }

    /// A transaction holding only an audit leaf (denials, failed logins).
    pub(crate) async fn journal_only(&self, entry: Entry, ctx: &RequestCtx) -> CoreResult<()> {
        let tx = self.store().begin().await?;
        self.commit_with(tx, entry, ctx).await
    }

    /// Appends the checkpoint to `<checkpoint dir>/checkpoints.jsonl`. The database commit
    /// already happened; a failure here is logged loudly (the next append writes a newer
    /// checkpoint covering this one).
    pub(crate) fn keep_checkpoint(&self, size: u64, checkpoint: &str) {
        let path = self.inner.checkpoint_dir.join("checkpoints.jsonl");
        let line = serde_json::json!({ "size": size, "checkpoint": checkpoint }).to_string();
        let res = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
        if let Err(e) = res {
            tracing::error!(error = %e, size, "could not keep the signed checkpoint in the checkpoint folder");
        }
    }
}
