//! Retention in two stages, after the CNIL's guidance for the social sector: a referral
//! with no **contact** for [`RetentionPolicy::archive_after`] (default 2 years) is
//! **archived** — out of both boxes, unreadable through the usual routes (`410 archived`),
//! readable only by the referrers and receivers of its two organisations with a stated
//! reason — and its content is destroyed [`RetentionPolicy::shred_after`] later (default
//! 3 years).
//!
//! A contact is an acceptance, a message, a closing, or a contact recorded by the
//! receiving organisation (`POST /referrals/{id}/contact`); reads are not contacts. The
//! clock starts at the filing. Each step leaves its audit leaf (`referral.archived`,
//! `content.shredded`); metadata (ids, organisations, dates, states) stays for the log.
//!
//! [`Core::run_retention`] runs both stages once, as the leader of the `retention` job (one
//! process at a time, `OpsStore::try_leader`); `serve` runs it on a schedule and `passerelle retention run` by
//! hand. Every step is a compare-and-set, so two runs at once cannot do a step twice.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use passerelle_domain::audit::{Action, Targets};
use passerelle_domain::enums::ReferralStatus;
use passerelle_domain::ids::ReferralId;
use passerelle_domain::policy::Route;
use passerelle_store::{ArchiveReadRow, ReferralRow};
use passerelle_vault::{Binding, Part};

use crate::auth::Principal;
use crate::journal::Entry;
use crate::referrals::{micros, new_id};
use crate::shred::ShredReason;
use crate::view::ReferralView;
use crate::{Core, CoreError, CoreResult, RequestCtx};

/// The two retention periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Time without contact before a referral is archived.
    pub archive_after: Duration,
    /// Time after archiving before its content is destroyed.
    pub shred_after: Duration,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            archive_after: Duration::days(2 * 365),
            shred_after: Duration::days(3 * 365),
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    /// Whether this run led the job (false: another process was running it).
    pub ran: bool,
    /// Referrals archived.
    pub archived: u32,
    /// Referrals whose content was destroyed.
    pub shredded: u32,
}

/// `POST /api/v1/referrals/{id}/contact` answer.
#[derive(Debug, Clone, Serialize)]
pub struct ContactRecorded {
    /// The referral.
    pub referral_id: ReferralId,
    /// Its last contact, now.
    #[serde(with = "time::serde::rfc3339")]
    pub last_contact_at: OffsetDateTime,
}

/// `POST /api/v1/referrals/{id}/archive/read`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveReadRequest {
    /// Why the archive is read (sealed; the audit leaf records the read and its digest).
    pub reason: String,
}

/// How many referrals one batch of a stage handles.
const BATCH: u32 = 100;
/// Batches per stage and run at most (the next run goes on).
const MAX_BATCHES: u32 = 100;

impl Core {
    /// Refuses the usual routes on an archived referral (`410 archived`) and on content
    /// that is due for destruction (`410`), before any other state check.
    pub(crate) async fn retention_gate(&self, row: &ReferralRow) -> CoreResult<()> {
        let Some(st) = self.store().retention(row.id).await? else {
            return Err(CoreError::NotFound);
        };
        if st.shredded_at.is_some() || st.shred_due_at.is_some_and(|d| d <= self.now()) {
            return Err(CoreError::Gone);
        }
        if st.archived_at.is_some() {
            return Err(CoreError::Archived);
        }
        Ok(())
    }

    /// The receiving organisation records a contact with the person: the retention clock
    /// starts again. Open to `acknowledged`, `accepted` and `closed` referrals.
    pub async fn record_contact(
        &self,
        p: &Principal,
        id: ReferralId,
        ctx: &RequestCtx,
    ) -> CoreResult<ContactRecorded> {
        let row = self.load_for(p, id, Route::RecordContact, ctx).await?;
        if row.shredded_at.is_some() {
            return Err(CoreError::Gone);
        }
        if !matches!(
            row.status,
            ReferralStatus::Acknowledged | ReferralStatus::Accepted | ReferralStatus::Closed
        ) {
            return Err(CoreError::Conflict(
                "a contact is recorded on an opened, accepted or closed referral",
            ));
        }
        let now = micros(self.now());
        let mut tx = self.store().begin().await?;
        tx.touch_contact(row.id, now).await?;
        let entry = Entry::by(
            p,
            Action::ContactRecorded,
            Targets {
                referral: Some(row.id),
                case: Some(row.case_id),
                ..Targets::default()
            },
        )
        .basis(row.basis);
        self.commit_with(tx, entry, ctx).await?;
        Ok(ContactRecorded {
            referral_id: row.id,
            last_contact_at: now,
        })
    }

    /// The coordinator of the holding (receiving) organisation reads an archived referral,
    /// stating why (issue #6 §5; [`Route::ReadArchived`]). The reason is sealed to the
    /// referral key and its digest is in the audit leaf, committed before the content is
    /// returned.
    pub async fn read_archived(
        &self,
        p: &Principal,
        id: ReferralId,
        req: ArchiveReadRequest,
        ctx: &RequestCtx,
    ) -> CoreResult<ReferralView> {
        let row = self.load_for(p, id, Route::ReadArchived, ctx).await?;
        if req.reason.trim().is_empty() {
            return Err(CoreError::BadRequest("a reason is required"));
        }
        let st = self
            .store()
            .retention(row.id)
            .await?
            .ok_or(CoreError::NotFound)?;
        if row.shredded_at.is_some()
            || st.shredded_at.is_some()
            || st.shred_due_at.is_some_and(|d| d <= self.now())
        {
            return Err(CoreError::Gone);
        }
        if st.archived_at.is_none() {
            return Err(CoreError::Conflict(
                "the referral is not archived; its parties read it through GET /referrals/{id}",
            ));
        }
        let case = self.case_of(row.case_id).await?;
        let (key, content) = self.open_content(p, &row).await?;
        let recipient = self.checked_recipient(&key, &row)?;
        // Everything is opened and checked before the read is journaled.
        let view = self.view_of(&key, &row, case, content).await?;
        let read_id = new_id();
        let sealed = passerelle_vault::seal(
            &recipient,
            &Binding {
                referral: row.id,
                part: Part::Detail,
                item: Some(read_id),
            },
            req.reason.as_bytes(),
        )?;
        let sha = passerelle_vault::sha256(&sealed);
        let mut tx = self.store().begin().await?;
        tx.insert_archive_read(&ArchiveReadRow {
            id: read_id,
            referral_id: row.id,
            actor: p.user_id,
            at: micros(self.now()),
            sealed_reason: sealed,
        })
        .await?;
        let entry = Entry::by(
            p,
            Action::ArchiveRead,
            Targets {
                referral: Some(row.id),
                case: Some(row.case_id),
                ..Targets::default()
            },
        )
        .basis(row.basis)
        .ciphertext(sha);
        self.commit_with(tx, entry, ctx).await?;
        Ok(view)
    }

    /// Runs both retention stages once, as of now, as the leader of the `retention` job
    /// ([`passerelle_store::OpsStore::try_leader`], the deployment's one leader election:
    /// a PostgreSQL advisory lock, a file lock beside a SQLite database), so that neither
    /// another instance nor `passerelle retention run` by hand runs it at the same time.
    pub async fn run_retention(
        &self,
        policy: &RetentionPolicy,
        ctx: &RequestCtx,
    ) -> CoreResult<RetentionReport> {
        let Some(lock) = self.store().try_leader("retention").await? else {
            return Ok(RetentionReport::default());
        };
        let result = self.retention_stages(policy, ctx).await;
        lock.release().await;
        result
    }

    async fn retention_stages(
        &self,
        policy: &RetentionPolicy,
        ctx: &RequestCtx,
    ) -> CoreResult<RetentionReport> {
        let mut report = RetentionReport {
            ran: true,
            ..RetentionReport::default()
        };
        let now = micros(self.now());
        let cutoff = now - policy.archive_after;
        'archive: for _ in 0..MAX_BATCHES {
            let ids = self.store().archive_candidates(cutoff, BATCH).await?;
            if ids.is_empty() {
                break 'archive;
            }
            for id in ids {
                if self
                    .archive_one(id, cutoff, now, now + policy.shred_after, ctx)
                    .await?
                {
                    report.archived += 1;
                }
            }
        }
        'shred: for _ in 0..MAX_BATCHES {
            let ids = self.store().shred_candidates(now, BATCH).await?;
            if ids.is_empty() {
                break 'shred;
            }
            let mut progressed = false;
            for id in ids {
                match self
                    .shred_referral(id, ShredReason::Retention, None, ctx)
                    .await
                {
                    Ok(r) if !r.already => {
                        report.shredded += 1;
                        progressed = true;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(referral = %id, error = %e, "retention: shredding failed; the next run retries");
                    }
                }
            }
            if !progressed {
                break 'shred;
            }
        }
        Ok(report)
    }

    async fn archive_one(
        &self,
        id: ReferralId,
        cutoff: OffsetDateTime,
        now: OffsetDateTime,
        shred_at: OffsetDateTime,
        ctx: &RequestCtx,
    ) -> CoreResult<bool> {
        let Some(row) = self.store().referral(id).await? else {
            return Ok(false);
        };
        let mut tx = self.store().begin().await?;
        if !tx.archive(id, cutoff, now, shred_at).await? {
            return Ok(false);
        }
        let entry = Entry::system(
            Action::ReferralArchived,
            Targets {
                referral: Some(id),
                case: Some(row.case_id),
                ..Targets::default()
            },
        )
        .basis(row.basis);
        self.commit_with(tx, entry, ctx).await?;
        Ok(true)
    }
}
