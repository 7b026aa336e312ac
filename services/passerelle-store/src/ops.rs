//! Operations port: what monitoring and several instances need from storage.
//!
//! - Counts for `/metrics` (overdue referrals, pending notifications).
//! - **Leadership** for background jobs: [`OpsStore::try_leader`] takes a lock named after
//!   the job that at most one holder in the deployment can have at a time: a PostgreSQL
//!   session advisory lock on a connection of its own (released by the server as soon as
//!   that connection ends, so a killed leader frees it), or on SQLite an exclusive lock on
//!   a file beside the database (released by the kernel when the process ends). The
//!   returned [`LeaderGuard`] holds it until dropped; [`LeaderGuard::still_held`] tells a
//!   job whether it is still the leader before each run.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::StoreResult;

/// What holds a leadership lock (one per adapter).
#[async_trait]
pub trait LeaderHold: Send + Sync {
    /// Whether the lock is still held (the connection that holds it is alive).
    async fn still_held(&mut self) -> bool;
    /// Releases the lock now (dropping the hold releases it too, as soon as the
    /// connection or file is closed).
    async fn release(self: Box<Self>);
}

/// Leadership of one job; released when dropped.
pub struct LeaderGuard {
    job: String,
    hold: Box<dyn LeaderHold>,
}

impl std::fmt::Debug for LeaderGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderGuard")
            .field("job", &self.job)
            .finish()
    }
}

impl LeaderGuard {
    /// Wraps an adapter's hold.
    pub fn new(job: &str, hold: Box<dyn LeaderHold>) -> LeaderGuard {
        LeaderGuard {
            job: job.to_owned(),
            hold,
        }
    }

    /// The job led.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// Whether the lock is still held.
    pub async fn still_held(&mut self) -> bool {
        self.hold.still_held().await
    }

    /// Gives the leadership up now.
    pub async fn release(self) {
        self.hold.release().await;
    }
}

/// The operations port, a supertrait of [`crate::Store`].
#[async_trait]
pub trait OpsStore: Send + Sync {
    /// Number of `sent` or `acknowledged` referrals with `due_at < now`.
    async fn count_overdue(&self, now: OffsetDateTime) -> StoreResult<u64>;

    /// Number of notices in the outbox still to be e-mailed: not mailed, not given up, for
    /// an organisation with a notification address.
    async fn count_pending_mail(&self) -> StoreResult<u64>;

    /// Tries to become the only leader of `job` (a short ASCII name) in the deployment;
    /// `None` when another holder has it.
    async fn try_leader(&self, job: &str) -> StoreResult<Option<LeaderGuard>>;
}
