//! The identity part of the storage port: one-time enrolment links, web sessions, the
//! per-account login guard (failed logins, lockout, last TOTP step used), and the account
//! changes an administrator makes (credentials, disabling, ending every session and token).
//!
//! Secrets are never stored: enrolment links and session ids are kept as the SHA-256 of
//! their 32 random bytes; TOTP secrets are sealed by the vault before they get here.
//!
//! Counters that must hold across instances and restarts (failed logins, the last TOTP step)
//! are changed with single atomic statements (`INSERT … ON CONFLICT … DO UPDATE`), so two
//! instances racing on one account never lose an increment nor both accept one code.

use async_trait::async_trait;
use passerelle_domain::enums::ReferralStatus;
use passerelle_domain::ids::{OrgId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{StoreResult, TokenRow};

/// A one-time enrolment link: the user sets a password and enrols TOTP with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentRow {
    /// Id.
    pub id: Uuid,
    /// Whose account.
    pub user_id: UserId,
    /// SHA-256 of the link's secret (32 random bytes).
    pub hash: [u8; 32],
    /// Issue time.
    pub created_at: OffsetDateTime,
    /// After this, the link no longer works.
    pub expires_at: OffsetDateTime,
    /// When it was used, or voided (a newer link, a disabled account).
    pub used_at: Option<OffsetDateTime>,
    /// The TOTP secret shown on the enrolment page, sealed, until it is confirmed.
    pub pending_totp: Option<Vec<u8>>,
}

/// A web session: the cookie holds 32 random bytes, the database their SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// Id (never shown; the cookie carries the secret, not the id).
    pub id: Uuid,
    /// Whose session.
    pub user_id: UserId,
    /// SHA-256 of the cookie's secret.
    pub hash: [u8; 32],
    /// Login time.
    pub created_at: OffsetDateTime,
    /// Last request seen (for the idle timeout).
    pub last_seen_at: OffsetDateTime,
    /// Absolute end (login + 12 h).
    pub expires_at: OffsetDateTime,
    /// Logout, or the user disabled.
    pub ended_at: Option<OffsetDateTime>,
}

/// The login guard of one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthStateRow {
    /// Failed logins since the last success or lockout.
    pub failed_logins: u32,
    /// The account refuses logins until then.
    pub locked_until: Option<OffsetDateTime>,
    /// The last TOTP time step accepted (a step is accepted once).
    pub totp_last_step: Option<i64>,
}

/// The identity reads.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// An enrolment link by the SHA-256 of its secret.
    async fn enrolment_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<EnrolmentRow>>;
    /// A session by the SHA-256 of its secret.
    async fn session_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<SessionRow>>;
    /// The login guard of an account (default when never touched).
    async fn auth_state(&self, user: UserId) -> StoreResult<AuthStateRow>;
    /// Every API token of a user, newest first.
    async fn tokens_of_user(&self, user: UserId) -> StoreResult<Vec<TokenRow>>;
}

/// The identity writes, inside a [`crate::StoreTx`].
#[async_trait]
pub trait IdentityTx: Send {
    /// Inserts an enrolment link.
    async fn insert_enrolment(&mut self, e: &EnrolmentRow) -> StoreResult<()>;
    /// Keeps the sealed TOTP secret shown on an unused link's page; false when the link
    /// is used or unknown.
    async fn set_enrolment_totp(&mut self, id: Uuid, sealed: &[u8]) -> StoreResult<bool>;
    /// Marks an unused, unexpired link used (compare-and-set); false otherwise.
    async fn use_enrolment(&mut self, id: Uuid, at: OffsetDateTime) -> StoreResult<bool>;
    /// Voids every unused link of a user; how many.
    async fn void_enrolments(&mut self, user: UserId, at: OffsetDateTime) -> StoreResult<u64>;
    /// Sets (or clears) a user's password hash and sealed TOTP secret; false when no such
    /// user.
    async fn set_credentials(
        &mut self,
        user: UserId,
        password_hash: Option<&str>,
        totp_secret: Option<&[u8]>,
    ) -> StoreResult<bool>;
    /// Disables an enabled user; false when already disabled or unknown.
    async fn disable_user(&mut self, user: UserId) -> StoreResult<bool>;
    /// Inserts a session.
    async fn insert_session(&mut self, s: &SessionRow) -> StoreResult<()>;
    /// Records activity on a live session; false when ended or unknown.
    async fn touch_session(&mut self, id: Uuid, at: OffsetDateTime) -> StoreResult<bool>;
    /// Ends a live session; false when already ended or unknown.
    async fn end_session(&mut self, id: Uuid, at: OffsetDateTime) -> StoreResult<bool>;
    /// Ends every live session of a user; how many.
    async fn end_sessions_of(&mut self, user: UserId, at: OffsetDateTime) -> StoreResult<u64>;
    /// Revokes every unrevoked API token of a user; how many.
    async fn revoke_tokens_of(&mut self, user: UserId, at: OffsetDateTime) -> StoreResult<u64>;
    /// Adds one failed login (atomically); the new count.
    async fn bump_login_failures(&mut self, user: UserId) -> StoreResult<u32>;
    /// Locks the account until `until` and resets the count.
    async fn lock_account(&mut self, user: UserId, until: OffsetDateTime) -> StoreResult<()>;
    /// Resets the count and any lock (after a successful login or enrolment).
    async fn clear_login_failures(&mut self, user: UserId) -> StoreResult<()>;
    /// Accepts TOTP time step `step` for a user if it is later than every step accepted
    /// before (atomically); false for a replay.
    async fn claim_totp_step(&mut self, user: UserId, step: i64) -> StoreResult<bool>;
}

/// One referral of an organisation, as statistics see it: no content, no victim data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralTimingRow {
    /// Sent by the organisation.
    pub sent: bool,
    /// Received by the organisation.
    pub received: bool,
    /// Current state.
    pub status: ReferralStatus,
    /// Filing time.
    pub created_at: OffsetDateTime,
    /// Due time.
    pub due_at: OffsetDateTime,
    /// First answer of the receiving organisation (`acknowledged`, `accepted` or
    /// `declined`), if any.
    pub first_response_at: Option<OffsetDateTime>,
}

/// The reads behind coordinators' statistics.
#[async_trait]
pub trait StatsStore: Send + Sync {
    /// Every referral sent or received by `org`, with its timings.
    async fn referral_timings(&self, org: OrgId) -> StoreResult<Vec<ReferralTimingRow>>;
}
