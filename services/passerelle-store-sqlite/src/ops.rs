//! The operations port on SQLite: counts for `/metrics`, and leadership through an
//! exclusive lock on a file beside the database (`<database>.leader-<job>.lock`), taken
//! with `flock`-style advisory locking: the kernel releases it when the holding process
//! ends, however it ends. Several `serve` processes on one SQLite file are possible on one
//! machine (not recommended: PostgreSQL is for several instances); this keeps their
//! background jobs on one of them.

use async_trait::async_trait;
use passerelle_store::{LeaderGuard, LeaderHold, OpsStore, StoreError, StoreResult};
use time::OffsetDateTime;

use crate::SqliteStore;
use crate::codec::micros;
use crate::error::db;

struct FileHold {
    _file: std::fs::File,
}

#[async_trait]
impl LeaderHold for FileHold {
    async fn still_held(&mut self) -> bool {
        // A lock on an open file descriptor is held until it is closed.
        true
    }

    async fn release(self: Box<Self>) {
        let _ = self._file.unlock();
    }
}

/// Whether `job` is a safe file-name part.
pub(crate) fn valid_job(job: &str) -> bool {
    !job.is_empty()
        && job.len() <= 64
        && job
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

#[async_trait]
impl OpsStore for SqliteStore {
    async fn count_overdue(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM referrals \
             WHERE status IN ('sent', 'acknowledged') AND due_at < $1",
        )
        .bind(micros(now))
        .fetch_one(self.pool())
        .await
        .map_err(db)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn count_pending_mail(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM notifications n JOIN org_notify o ON o.org_id = n.org_id \
             WHERE n.mailed_at IS NULL AND n.mail_given_up_at IS NULL",
        )
        .fetch_one(self.pool())
        .await
        .map_err(db)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn try_leader(&self, job: &str) -> StoreResult<Option<LeaderGuard>> {
        if !valid_job(job) {
            return Err(StoreError::Other("invalid job name".into()));
        }
        let db_path = self.pool().connect_options().get_filename().to_owned();
        let mut name = db_path.file_name().unwrap_or_default().to_owned();
        name.push(format!(".leader-{job}.lock"));
        let path = db_path.with_file_name(name);
        let file = {
            let mut open = std::fs::OpenOptions::new();
            open.create(true).truncate(false).write(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
            open.open(&path)
                .map_err(|e| StoreError::Unavailable(format!("leader lock file: {e}")))?
        };
        match file.try_lock() {
            Ok(()) => Ok(Some(LeaderGuard::new(
                job,
                Box::new(FileHold { _file: file }),
            ))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(StoreError::Unavailable(format!("leader lock: {e}")))
            }
        }
    }
}
