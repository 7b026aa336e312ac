//! Shredding: destroying a referral's content for good.
//!
//! One operation, [`Core::shred_referral`], used by consent withdrawal, retention and the
//! operator's `passerelle referral shred`. In this order, each step committed before the
//! next:
//! 1. the request is queued in the main database (`shred_queue`);
//! 2. the referral key's wraps are deleted from the keystore (SQLite `secure_delete`
//!    overwrites them): from here on **nothing the service holds can open the referral's
//!    ciphertexts**, and every read answers `410`;
//! 3. one transaction deletes every ciphertext of the referral in the main database
//!    (content, sealed details, messages, attachments and their records) and the queue
//!    row, and appends the `content.shredded` leaf.
//!
//! Killed at any point, nothing is half-readable: before step 2 everything still opens,
//! after it nothing does; the queued request is finished by [`Core::resume_shreds`] (run
//! by `serve` at start and by `referral shred`), or by running the shred again. A shred of
//! a referral already shredded changes nothing and appends nothing.

use passerelle_domain::audit::{Action, Targets};
use passerelle_domain::ids::ReferralId;
use passerelle_store::{ReferralRow, ShredCounts, ShredRequest};

use crate::auth::Principal;
use crate::journal::Entry;
use crate::referrals::micros;
use crate::{Core, CoreError, CoreResult, RequestCtx, fault};

/// Why a referral's content is destroyed (recorded with it, as a code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShredReason {
    /// The consent was withdrawn before the referral was opened.
    ConsentWithdrawn,
    /// The retention period ended.
    Retention,
    /// The operator's `passerelle referral shred`.
    Admin,
    /// `passerelle restore` re-applying a shred recorded after the backup.
    Restore,
}

impl ShredReason {
    /// Every reason.
    pub const ALL: [ShredReason; 4] = [
        ShredReason::ConsentWithdrawn,
        ShredReason::Retention,
        ShredReason::Admin,
        ShredReason::Restore,
    ];

    /// The stored code.
    pub const fn as_str(self) -> &'static str {
        match self {
            ShredReason::ConsentWithdrawn => "consent-withdrawn",
            ShredReason::Retention => "retention",
            ShredReason::Admin => "admin",
            ShredReason::Restore => "restore",
        }
    }
}

impl std::str::FromStr for ShredReason {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        ShredReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(())
    }
}

/// What a shred did. Counts only: never content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShredReport {
    /// The referral.
    pub referral: ReferralId,
    /// Whether its content had already been destroyed before this call.
    pub already: bool,
    /// Keystore wraps deleted by this call.
    pub wraps: u64,
    /// Ciphertexts deleted by this call in the main database.
    pub deleted: ShredCounts,
}

impl Core {
    /// Destroys a referral's content for good (see the module documentation for the order
    /// of the steps and why it is safe to kill and to run again). `actor` is the user on
    /// whose behalf it happens (none for retention or the operator). The caller has
    /// authorised the action; a referral that does not exist is [`CoreError::NotFound`].
    pub async fn shred_referral(
        &self,
        id: ReferralId,
        reason: ShredReason,
        actor: Option<&Principal>,
        ctx: &RequestCtx,
    ) -> CoreResult<ShredReport> {
        let row = self
            .store()
            .referral(id)
            .await?
            .ok_or(CoreError::NotFound)?;
        if row.shredded_at.is_none() {
            let mut tx = self.store().begin().await?;
            tx.queue_shred(&ShredRequest {
                referral_id: id,
                reason: reason.as_str().to_owned(),
                requested_at: micros(self.now()),
                requested_by: actor.map(|p| p.user_id),
            })
            .await?;
            tx.commit().await?;
            fault::point("shred-after-queue");
        }
        self.finish_shred(&row, reason.as_str(), actor, ctx).await
    }

    /// Finishes every shred that was asked for and interrupted (a crash between its
    /// steps); returns how many were finished. Run by `serve` at start.
    pub async fn resume_shreds(&self, ctx: &RequestCtx) -> CoreResult<Vec<ShredReport>> {
        let mut done = Vec::new();
        for req in self.store().pending_shreds().await? {
            let Some(row) = self.store().referral(req.referral_id).await? else {
                continue;
            };
            let actor = match req.requested_by {
                Some(user) => self.principal_for_user(user).await?,
                None => None,
            };
            tracing::warn!(referral = %row.id, reason = %req.reason, "finishing an interrupted shred");
            done.push(
                self.finish_shred(&row, &req.reason, actor.as_ref(), ctx)
                    .await?,
            );
        }
        Ok(done)
    }

    /// Steps 2 and 3: the wraps, then the ciphertexts with the leaf.
    async fn finish_shred(
        &self,
        row: &ReferralRow,
        reason: &str,
        actor: Option<&Principal>,
        ctx: &RequestCtx,
    ) -> CoreResult<ShredReport> {
        let wraps = self.store().delete_key_wraps(row.id).await?;
        fault::point("shred-after-wraps");
        let mut tx = self.store().begin().await?;
        let deleted = tx.shred_content(row.id, micros(self.now()), reason).await?;
        let report = ShredReport {
            referral: row.id,
            already: !deleted.content,
            wraps,
            deleted,
        };
        if deleted == ShredCounts::default() {
            // Nothing was left to delete: no leaf for a no-op (dropping rolls back).
            return Ok(report);
        }
        let targets = Targets {
            referral: Some(row.id),
            case: Some(row.case_id),
            ..Targets::default()
        };
        let entry = match actor {
            Some(p) => Entry::by(p, Action::ContentShredded, targets),
            None => Entry::system(Action::ContentShredded, targets),
        }
        .basis(row.basis);
        self.commit_with(tx, entry, ctx).await?;
        tracing::info!(
            referral = %row.id,
            reason,
            wraps,
            messages = deleted.messages,
            attachments = deleted.attachments,
            "referral content shredded"
        );
        Ok(report)
    }
}
