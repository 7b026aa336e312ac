//! SQLite adapter of the Passerelle storage port: the embedded default.
//!
//! Two files:
//! - the **main database** (`sqlite://<data dir>/passerelle.db`): WAL journal,
//!   `synchronous=FULL`, foreign keys on, 5 s busy timeout; every write transaction starts
//!   with `BEGIN IMMEDIATE`. Writers of this process first queue, first come first served,
//!   for one permit: only one connection at a time waits for SQLite's write lock (the busy
//!   timeout then only arbitrates with other processes, such as a CLI command), and the
//!   other connections stay free for reads;
//! - the **keystore** (the referral key wraps), a separate file in the keys folder, created
//!   with mode 0600, opened with `secure_delete=ON` and a rollback journal
//!   (`journal_mode=DELETE`): a shredded wrap is overwritten in place with zeros, and no WAL
//!   file keeps older copies of its pages. Its own small pool and its own migrations.
//!
//! Schema decisions (the PostgreSQL adapter mirrors them): ids are 16-byte BLOBs, times
//! INTEGER microseconds since the Unix epoch (UTC) so that `(due_at, id)` cursors compare
//! numerically and round trips equal PostgreSQL's; see `migrations/main/0001_init.sql`.
//!
//! **Bound limits** are written `LIMIT $n + 0`, never `LIMIT $n`: SQLite (3.46 and later)
//! reads a bare bound LIMIT as an integer when it plans, and marks the statement to be
//! prepared again whenever that parameter is bound, i.e. on every execution (a full parse:
//! ~20 % of a listing's CPU). As an expression the limit is evaluated when the statement
//! runs, with the same plan, and the cached statement is reused as it is
//! (`tests/bound_limits.rs` holds every statement of the crate to it).

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

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use passerelle_store::{StoreError, StoreResult};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::Semaphore;

/// How long a statement waits for SQLite's write lock before giving up (then: `Unavailable`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a caller waits for a free connection of the pool, or for its turn to write.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections of the main pool (WAL: many readers, one writer at a time).
const MAIN_CONNECTIONS: u32 = 8;
/// Connections of the keystore pool.
const KEYSTORE_CONNECTIONS: u32 = 2;

pub use maintenance::{SqliteBackup, SqliteTable};

/// The SQLite implementation of [`passerelle_store::Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    main: SqlitePool,
    keystore: SqlitePool,
    /// One permit: the right of this process to hold SQLite's write lock.
    writer: Arc<Semaphore>,
}

impl SqliteStore {
    /// Opens (creating when missing) the main database at `url` (`sqlite://path`) and the
    /// keystore file at `keystore_path`, whose folder must exist. Runs no migration: call
    /// [`passerelle_store::Store::migrate`].
    pub async fn connect(url: &str, keystore_path: &Path) -> StoreResult<SqliteStore> {
        if !url.starts_with("sqlite:") {
            return Err(StoreError::Other("not a sqlite: URL".into()));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("database URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // Rows cross from SQLite's worker thread in batches of this many instead of 50:
            // long reads (`audit verify`, exports) wake the reading task less often.
            .row_buffer_size(1024);
        let path = options.get_filename();
        if !is_memory(path) && !path.exists() {
            create_private(path, false)?;
        }
        let main = SqlitePoolOptions::new()
            .max_connections(MAIN_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .before_acquire(|conn, _meta| Box::pin(settled(conn)))
            .connect_with(options)
            .await
            .map_err(error::db)?;

        create_private(keystore_path, true)?;
        let keystore_options = SqliteConnectOptions::new()
            .filename(keystore_path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Delete)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("secure_delete", "ON");
        let keystore = SqlitePoolOptions::new()
            .max_connections(KEYSTORE_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .before_acquire(|conn, _meta| Box::pin(settled(conn)))
            .connect_with(keystore_options)
            .await
            .map_err(error::db)?;
        Ok(SqliteStore {
            main,
            keystore,
            writer: Arc::new(Semaphore::new(1)),
        })
    }

    /// The main database's pool, for tests and maintenance tools; the service goes through
    /// [`passerelle_store::Store`].
    pub fn pool(&self) -> &SqlitePool {
        &self.main
    }

    /// The keystore's pool, for tests and maintenance tools.
    pub fn keystore_pool(&self) -> &SqlitePool {
        &self.keystore
    }

    /// Closes both pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.writer.close();
        self.main.close().await;
        self.keystore.close().await;
    }
}

/// Whether an idle connection may serve again: no transaction left open. Checked when it
/// is taken from the pool (`before_acquire`), not when it is given back.
///
/// A transaction dropped without commit queues a `ROLLBACK`, and a future dropped after
/// sending `BEGIN` leaves it queued: sqlx pings every connection given back to its pool,
/// and the ping runs after them (a connection's commands run in order on its worker
/// thread), so once idle the connection's transaction depth is final. A failed `COMMIT` (a
/// full disk, an I/O error) may have ended the transaction inside SQLite already: sqlx's
/// `ROLLBACK` then fails and sqlx still counts the transaction as open, so every later
/// `BEGIN IMMEDIATE` on that connection would fail. Such a connection is closed instead of
/// served (`false`).
///
/// No ping of its own, and none before acquiring (`test_before_acquire(false)`): an
/// in-process SQLite connection cannot be broken by a network, and each ping is a round
/// trip to the connection's worker thread (two thread wake-ups). With both, every
/// statement run on the pool cost four round trips; now two.
async fn settled(conn: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    Ok(!conn.is_in_transaction())
}

fn is_memory(path: &Path) -> bool {
    path.as_os_str().is_empty() || path.to_str().is_some_and(|p| p.starts_with(":memory:"))
}

/// Creates `path` readable and writable by its owner only (0600) when missing; with
/// `enforce`, also narrows the mode of an existing file.
fn create_private(path: &Path, enforce: bool) -> StoreResult<()> {
    let io = |e: std::io::Error| StoreError::Unavailable(format!("database file: {e}"));
    let mut open = std::fs::OpenOptions::new();
    open.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        open.mode(0o600);
        open.open(path).map_err(io)?;
        if enforce {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
    }
    #[cfg(not(unix))]
    {
        let _ = enforce;
        open.open(path).map_err(io)?;
    }
    Ok(())
}
