//! Operations use cases: the gauges behind `/metrics`, leadership of background jobs, and
//! authentication of machine clients by their TLS client certificate.

use passerelle_domain::audit::{Action, Outcome, Targets};
use passerelle_store::LeaderGuard;

use crate::auth::Principal;
use crate::journal::Entry;
use crate::{Core, CoreError, CoreResult, RequestCtx};

/// Numbers about the deployment, for monitoring. Metadata only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gauges {
    /// Entries in the audit log (the signed head's size).
    pub audit_entries: u64,
    /// `sent` or `acknowledged` referrals past their due time.
    pub overdue_referrals: u64,
    /// Notices of the outbox waiting to be e-mailed (to organisations with an address).
    pub pending_notifications: u64,
}

impl Core {
    /// The gauges, read from the database.
    pub async fn gauges(&self) -> CoreResult<Gauges> {
        let audit_entries = self.store().audit_head().await?.map_or(0, |h| h.size);
        let overdue_referrals = self.store().count_overdue(self.now()).await?;
        let pending_notifications = self.store().count_pending_mail().await?;
        Ok(Gauges {
            audit_entries,
            overdue_referrals,
            pending_notifications,
        })
    }

    /// Tries to become the deployment's only runner of `job`; `None` when another
    /// instance is.
    pub async fn try_leader(&self, job: &str) -> CoreResult<Option<LeaderGuard>> {
        Ok(self.store().try_leader(job).await?)
    }

    /// Authenticates a machine client by the subject of its TLS client certificate, which
    /// TLS already verified against the configured client CA: `CN` must be the username of
    /// an enabled user and `O` the slug of that user's organisation. Every failure answers
    /// the same `Unauthenticated` and leaves an `auth.failed` leaf.
    pub async fn authenticate_client_certificate(
        &self,
        common_name: &str,
        organisation: &str,
        ctx: &RequestCtx,
    ) -> CoreResult<Principal> {
        if let Some(user) = self.store().user_by_username(common_name).await?
            && let Some(p) = self.principal_for_user(user.id).await?
            && p.org_slug.as_str() == organisation
        {
            return Ok(p);
        }
        let entry = Entry::system(Action::AuthFailed, Targets::default())
            .outcome(Outcome::Denied("bad-client-certificate".into()));
        self.journal_only(entry, ctx).await?;
        Err(CoreError::Unauthenticated)
    }
}

impl Core {
    /// Makes sure the checkpoint folder holds the current signed head: appends it when
    /// the newest checkpoint kept there is smaller (a copy that failed after its commit,
    /// or a head written by an instance that cannot reach the folder). Returns whether it
    /// appended. Run by the leader of the `checkpoint-witness` job.
    pub async fn witness_head(&self) -> CoreResult<bool> {
        let Some(head) = self.store().audit_head().await? else {
            return Ok(false);
        };
        if head.size == 0 || head.checkpoint.is_empty() {
            return Ok(false);
        }
        if self
            .newest_kept_size()
            .is_some_and(|kept| kept >= head.size)
        {
            return Ok(false);
        }
        self.keep_checkpoint(head.size, &head.checkpoint);
        Ok(true)
    }

    /// The size of the newest checkpoint in the checkpoint folder's file, read from its
    /// last line.
    fn newest_kept_size(&self) -> Option<u64> {
        use std::io::{Read, Seek, SeekFrom};
        let path = self.inner.checkpoint_dir.join("checkpoints.jsonl");
        let mut f = std::fs::File::open(path).ok()?;
        let len = f.metadata().ok()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(8192))).ok()?;
        let mut tail = String::new();
        f.read_to_string(&mut tail).ok()?;
        let last = tail.lines().rev().find(|l| !l.trim().is_empty())?;
        let value: serde_json::Value = serde_json::from_str(last).ok()?;
        value.get("size")?.as_u64()
    }
}
