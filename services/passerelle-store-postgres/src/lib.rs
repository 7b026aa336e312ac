//! PostgreSQL adapter of the Passerelle storage port: production, many instances on one
//! database.
//!
//! - One pool; every connection sets `lock_timeout` (5 s, like SQLite's busy timeout) and
//!   `statement_timeout` (30 s), so a stuck holder of the audit head lock turns into
//!   `Unavailable` (503) for the others instead of an endless wait.
//! - The audit append locks the single `audit_head` row (`SELECT … FOR UPDATE`); the row is
//!   inserted by the first migration and always exists.
//! - **The keystore** (referral key wraps) lives in its own schema, `keystore`, of the same
//!   database, with its own migrations (tracked in `keystore._sqlx_migrations`). Why a
//!   schema: shredding deletes wraps, but backups keep them for as long as they are kept; a
//!   schema of its own can be dumped on its own (`pg_dump --schema=keystore`) with a
//!   shorter retention than the main database, excluded from long-term dumps
//!   (`--exclude-schema=keystore`) and granted to fewer roles, while one pool and one
//!   transaction model serve both. PostgreSQL does not overwrite deleted rows in place:
//!   a shredded wrap stays in a dead tuple until `VACUUM` reclaims its space (autovacuum
//!   does, eventually); SECURITY.md tells operators to vacuum the keystore after shredding.
//!
//! Schema decisions mirror the SQLite adapter (same tables, columns and migration
//! versions): `uuid` ids, `timestamptz` times rounded down to the microsecond before
//! binding, vocabularies as text, JSON as text; see `migrations/main/0001_init.sql`.

mod codec;
mod content;
mod error;
mod identity;
mod keyring;
mod maintenance;
mod migrations;
mod ops;
mod shred;
mod store;
mod tx;
mod workflow;

use std::str::FromStr;
use std::time::Duration;

use passerelle_store::{StoreError, StoreResult};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// How long a caller waits for a free connection of the pool (then: `Unavailable`). While
/// the database is down the pool keeps retrying to connect for this long: requests answer
/// 503 after it, so it stays short.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections per instance.
const MAX_CONNECTIONS: u32 = 10;

/// A transaction whose commit does not wait for its own WAL flush
/// (`synchronous_commit = off`), for rows that nothing reads before a later transaction of
/// the same operation commits and waits for its flush: that flush covers every earlier WAL
/// record, these rows' included, so once the operation is acknowledged they are as durable
/// as it. A crash in between loses only rows of an operation never acknowledged (key wraps
/// of a referral never filed, chunks of an upload never completed: swept). One WAL flush
/// per operation instead of one per such transaction.
pub(crate) async fn begin_unflushed(
    pool: &PgPool,
) -> StoreResult<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = pool.begin().await.map_err(error::db)?;
    sqlx::query("SET LOCAL synchronous_commit TO OFF")
        .execute(&mut *tx)
        .await
        .map_err(error::db)?;
    Ok(tx)
}

/// The PostgreSQL implementation of [`passerelle_store::Store`].
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/database?…`). Runs no migration: call
    /// [`passerelle_store::Store::migrate`]. A database that does not answer is
    /// [`StoreError::Unavailable`].
    pub async fn connect(url: &str) -> StoreResult<PgStore> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::Other("not a postgres:// URL".into()));
        }
        // The parse error is not kept: it could quote the URL, password included.
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| StoreError::Other("invalid database URL".into()))?
            .application_name("passerelle")
            .options([("lock_timeout", "5s"), ("statement_timeout", "30s")]);
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(error::db)?;
        Ok(PgStore { pool })
    }

    /// The pool, for tests and maintenance tools; the service goes through
    /// [`passerelle_store::Store`].
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
