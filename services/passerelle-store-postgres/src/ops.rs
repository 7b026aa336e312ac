//! The operations port on PostgreSQL: counts for `/metrics`, and leadership through a
//! session-level advisory lock (`pg_try_advisory_lock`) held on a connection taken out of
//! the pool for that purpose. The server releases the lock as soon as that connection
//! ends — the process exits, is killed, or loses the network — so another instance takes
//! over at its next attempt. The lock key is the first 8 bytes of
//! SHA-256(`passerelle.leader.<job>`), so jobs never collide with one another.

use async_trait::async_trait;
use passerelle_store::{LeaderGuard, LeaderHold, OpsStore, StoreError, StoreResult};
use sha2::{Digest, Sha256};
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use time::OffsetDateTime;

use crate::PgStore;
use crate::codec::ts;
use crate::error::db;

/// The advisory lock key of a job.
pub(crate) fn lock_key(job: &str) -> i64 {
    let digest = Sha256::digest(format!("passerelle.leader.{job}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

struct PgHold {
    conn: PgConnection,
    key: i64,
}

#[async_trait]
impl LeaderHold for PgHold {
    async fn still_held(&mut self) -> bool {
        // Alive connection ⇒ the session lock is still ours.
        self.conn.ping().await.is_ok()
    }

    async fn release(mut self: Box<Self>) {
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(self.key)
            .execute(&mut self.conn)
            .await;
        let _ = self.conn.close().await;
    }
}

#[async_trait]
impl OpsStore for PgStore {
    async fn count_overdue(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM referrals \
             WHERE status IN ('sent', 'acknowledged') AND due_at < $1",
        )
        .bind(ts(now))
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
        if job.is_empty() || job.len() > 64 {
            return Err(StoreError::Other("invalid job name".into()));
        }
        // Out of the pool: the lock lives as long as this connection, not a pooled one.
        let mut conn = self.pool().acquire().await.map_err(db)?.detach();
        let key = lock_key(job);
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut conn)
            .await
            .map_err(db)?;
        if got {
            Ok(Some(LeaderGuard::new(job, Box::new(PgHold { conn, key }))))
        } else {
            let _ = conn.close().await;
            Ok(None)
        }
    }
}
