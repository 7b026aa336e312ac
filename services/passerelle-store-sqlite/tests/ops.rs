//! The operations port's conformance checks on SQLite: two stores opened on the same files
//! stand for two `serve` processes.

use passerelle_store::Store;
use passerelle_store::conformance::ops;
use passerelle_store_sqlite::SqliteStore;

async fn open(dir: &std::path::Path) -> SqliteStore {
    let url = format!("sqlite://{}", dir.join("passerelle.db").display());
    let store = SqliteStore::connect(&url, &dir.join("keys").join("keystore.db"))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    store
}

#[tokio::test]
async fn overdue_count() {
    let dir = tempfile::tempdir().expect("temporary folder");
    std::fs::create_dir(dir.path().join("keys")).expect("keys folder");
    ops::overdue_count(&open(dir.path()).await).await;
}

#[tokio::test]
async fn leader_is_exclusive() {
    let dir = tempfile::tempdir().expect("temporary folder");
    std::fs::create_dir(dir.path().join("keys")).expect("keys folder");
    let a = open(dir.path()).await;
    let b = open(dir.path()).await;
    ops::leader_is_exclusive(&a, &b).await;
}
