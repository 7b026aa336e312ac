//! The workflow part of the storage port: "inform the victim" tasks of 226-14 3° reports,
//! the retention stages of referrals (last contact, archive, shred due), the outbox of
//! content-free notifications and its e-mail delivery, the organisations' notice
//! addresses, the stated reasons of archive reads, and the leader lock of scheduled jobs.
//!
//! [`WorkflowStore`] and [`WorkflowTx`] are supertraits of [`crate::Store`] and
//! [`crate::StoreTx`]: every adapter implements them, and the conformance suite checks
//! them on both backends.

use async_trait::async_trait;
use passerelle_domain::enums::SafetyChannel;
use passerelle_domain::ids::*;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreResult;

/// A task attached to a referral (so far only "inform the victim", for 226-14 3° reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRow {
    /// Id.
    pub id: TaskId,
    /// The referral it belongs to.
    pub referral_id: ReferralId,
    /// What to do, e.g. `inform_victim`.
    pub kind: String,
    /// When it was opened.
    pub created_at: OffsetDateTime,
    /// When it was done (as stated by the closing user); `None` while open.
    pub done_at: Option<OffsetDateTime>,
    /// Through which channel; `None` while open.
    pub channel: Option<SafetyChannel>,
    /// Who closed it.
    pub closed_by: Option<UserId>,
    /// When it was closed in Passerelle.
    pub closed_at: Option<OffsetDateTime>,
}

/// How a task is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskClosing {
    /// When it was done.
    pub done_at: OffsetDateTime,
    /// Through which channel.
    pub channel: SafetyChannel,
    /// Who closes it.
    pub closed_by: UserId,
    /// Now.
    pub closed_at: OffsetDateTime,
}

/// Where a referral stands in its retention: metadata only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionRow {
    /// The last contact (accept, message, close, recorded contact); the filing time at
    /// first.
    pub last_contact_at: OffsetDateTime,
    /// When it was archived (out of the boxes, read only with a stated reason).
    pub archived_at: Option<OffsetDateTime>,
    /// When its content is to be destroyed (set by a withdrawal of a never-opened referral,
    /// or by archiving); the content is unreadable from then on.
    pub shred_due_at: Option<OffsetDateTime>,
    /// When it was destroyed.
    pub shredded_at: Option<OffsetDateTime>,
}

/// A content-free notice for an organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRow {
    /// Id.
    pub id: Uuid,
    /// The organisation notified.
    pub org_id: OrgId,
    /// What happened: `referral.waiting`, `consent.withdrawn`.
    pub kind: String,
    /// The referral concerned (the organisation is party to it).
    pub referral_id: Option<ReferralId>,
    /// The case concerned (the organisation is party to one of its referrals).
    pub case_id: Option<CaseId>,
    /// When.
    pub created_at: OffsetDateTime,
    /// When it was sent by e-mail.
    pub mailed_at: Option<OffsetDateTime>,
}

/// A notice to send by e-mail, claimed by one sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailJob {
    /// The notification.
    pub id: Uuid,
    /// Its kind.
    pub kind: String,
    /// The organisation's notice address.
    pub to: String,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

/// A page request over an organisation's notifications, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationQuery {
    /// Whose.
    pub org: OrgId,
    /// After this sort key `(created_at, id)` (descending order).
    pub after: Option<(OffsetDateTime, Uuid)>,
    /// Page size.
    pub limit: u32,
}

/// A party's read of an archived referral, with the stated reason (sealed to the
/// referral's key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveReadRow {
    /// Id.
    pub id: Uuid,
    /// The referral read.
    pub referral_id: ReferralId,
    /// Who.
    pub actor: UserId,
    /// When.
    pub at: OffsetDateTime,
    /// The stated reason, sealed.
    pub sealed_reason: Vec<u8>,
}

/// Workflow reads.
#[async_trait]
pub trait WorkflowStore: Send + Sync {
    /// The tasks of a referral, oldest first.
    async fn tasks_of(&self, referral: ReferralId) -> StoreResult<Vec<TaskRow>>;
    /// One task.
    async fn task(&self, id: TaskId) -> StoreResult<Option<TaskRow>>;
    /// The retention state of a referral.
    async fn retention(&self, referral: ReferralId) -> StoreResult<Option<RetentionRow>>;
    /// Referrals not archived, not shredded, whose last contact is before `before`, by
    /// last contact; at most `limit`.
    async fn archive_candidates(
        &self,
        before: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<ReferralId>>;
    /// Referrals whose content is due for destruction at `now` and not yet destroyed.
    async fn shred_candidates(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<ReferralId>>;
    /// One page of an organisation's notifications, newest first.
    async fn notifications(&self, q: &NotificationQuery) -> StoreResult<Vec<NotificationRow>>;
    /// The organisation's notice address.
    async fn org_email(&self, org: OrgId) -> StoreResult<Option<String>>;
    /// Claims up to `limit` notifications to mail: not mailed, not given up, created at or
    /// after `since`, of an organisation with an address, not claimed by another sender
    /// until `now`; each claimed until `until` and its attempts counted. Two senders never
    /// claim the same notification at once.
    async fn claim_mail(
        &self,
        now: OffsetDateTime,
        since: OffsetDateTime,
        until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<MailJob>>;
    /// Records that a notification was mailed.
    async fn mark_mailed(&self, id: Uuid, at: OffsetDateTime) -> StoreResult<()>;
    /// Records that mailing a notification failed; `give_up` stops further attempts.
    async fn mark_mail_failed(
        &self,
        id: Uuid,
        at: OffsetDateTime,
        give_up: bool,
    ) -> StoreResult<()>;
}

/// Workflow writes, inside a transaction.
#[async_trait]
pub trait WorkflowTx: Send {
    /// Inserts a task.
    async fn insert_task(&mut self, t: &TaskRow) -> StoreResult<()>;
    /// Closes an open task; false, changing nothing, when it is not open.
    async fn close_task(&mut self, id: TaskId, c: &TaskClosing) -> StoreResult<bool>;
    /// Records a contact on a referral (never moves it back in time).
    async fn touch_contact(&mut self, referral: ReferralId, at: OffsetDateTime) -> StoreResult<()>;
    /// Marks the case's consent withdrawn; false when it already was.
    async fn set_case_withdrawn(&mut self, case: CaseId, at: OffsetDateTime) -> StoreResult<bool>;
    /// Archives a referral still unarchived whose last contact is before `before`, its
    /// content due for destruction at `shred_due_at`; false, changing nothing, otherwise.
    async fn archive(
        &mut self,
        referral: ReferralId,
        before: OffsetDateTime,
        at: OffsetDateTime,
        shred_due_at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Makes a referral's content due for destruction at `at` (an earlier date is kept).
    async fn schedule_shred(&mut self, referral: ReferralId, at: OffsetDateTime)
    -> StoreResult<()>;
    /// Queues a notification.
    async fn insert_notification(&mut self, n: &NotificationRow) -> StoreResult<()>;
    /// Sets (or, with `None`, removes) an organisation's notice address.
    async fn set_org_email(&mut self, org: OrgId, email: Option<&str>) -> StoreResult<()>;
    /// Records a party's read of an archived referral.
    async fn insert_archive_read(&mut self, r: &ArchiveReadRow) -> StoreResult<()>;
}
