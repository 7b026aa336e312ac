//! What is particular to the SQLite adapter: file modes, pragmas, `BEGIN IMMEDIATE`, and
//! outages reported as such.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use passerelle_store::{Store, StoreError};
use passerelle_store_sqlite::SqliteStore;
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

async fn open(dir: &Path) -> SqliteStore {
    std::fs::create_dir_all(dir.join("keys")).expect("keys folder");
    let url = format!("sqlite://{}", dir.join("passerelle.db").display());
    let store = SqliteStore::connect(&url, &dir.join("keys").join("keystore.db"))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    store
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

async fn text(pool: &sqlx::SqlitePool, sql: &'static str) -> String {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}

async fn int(pool: &sqlx::SqlitePool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}

#[tokio::test]
async fn files_are_private_and_pragmas_set() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let store = open(dir.path()).await;
    assert_eq!(mode(&dir.path().join("passerelle.db")), 0o600);
    assert_eq!(mode(&dir.path().join("keys").join("keystore.db")), 0o600);

    let main = store.pool();
    assert_eq!(text(main, "PRAGMA journal_mode").await, "wal");
    assert_eq!(int(main, "PRAGMA synchronous").await, 2, "FULL");
    assert_eq!(int(main, "PRAGMA foreign_keys").await, 1);
    assert_eq!(int(main, "PRAGMA busy_timeout").await, 5000);
    let keys = store.keystore_pool();
    assert_eq!(int(keys, "PRAGMA secure_delete").await, 1);
    assert_eq!(text(keys, "PRAGMA journal_mode").await, "delete");
    assert_eq!(int(keys, "PRAGMA synchronous").await, 2, "FULL");
}

#[tokio::test]
async fn keystore_mode_is_narrowed_on_open() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).expect("keys folder");
    std::fs::write(keys.join("keystore.db"), b"").expect("empty file");
    std::fs::set_permissions(
        keys.join("keystore.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    let _store = open(dir.path()).await;
    assert_eq!(mode(&keys.join("keystore.db")), 0o600);
}

#[tokio::test]
async fn write_transactions_take_the_write_lock_at_once() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let store = open(dir.path()).await;
    let tx = store.begin().await.expect("begin");
    // No write yet: only BEGIN IMMEDIATE holds the lock now.
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("passerelle.db"))
        .busy_timeout(std::time::Duration::ZERO);
    let mut other = SqliteConnection::connect_with(&options)
        .await
        .expect("connect");
    let refused = sqlx::query("BEGIN IMMEDIATE").execute(&mut other).await;
    assert!(
        refused.is_err(),
        "the write lock is held from the start of the transaction"
    );
    drop(tx);
    store
        .begin()
        .await
        .expect("begin again")
        .commit()
        .await
        .expect("commit");
}

#[tokio::test]
async fn a_closed_pool_is_unavailable_not_missing() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let store = open(dir.path()).await;
    store.close().await;
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.org_by_slug("avec63").await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.audit_head().await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.begin().await,
        Err(StoreError::Unavailable(_))
    ));
}

#[tokio::test]
async fn other_schemes_are_refused() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let r = SqliteStore::connect("postgres://localhost/x", &dir.path().join("k.db")).await;
    assert!(matches!(r, Err(StoreError::Other(_))));
}

/// A `COMMIT` that fails after SQLite already ended the transaction (as on a full disk)
/// must not leave a connection that sqlx believes is still in a transaction in the pool:
/// every later write transaction on it would fail. Reproduced by ending the transaction
/// behind sqlx's back, then committing.
#[tokio::test]
async fn a_failed_commit_does_not_poison_the_pool() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let store = open(dir.path()).await;
    {
        let mut tx = store
            .pool()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .expect("begin");
        sqlx::query("ROLLBACK")
            .execute(&mut *tx)
            .await
            .expect("rollback behind sqlx's back");
        assert!(
            tx.commit().await.is_err(),
            "COMMIT with no transaction fails"
        );
    }
    // More transactions than the pool has connections: each connection serves at least once.
    for i in 0..24 {
        let tx = store.begin().await;
        assert!(tx.is_ok(), "transaction {i}: {:?}", tx.err());
        tx.expect("begun").commit().await.expect("commit");
    }
}
