//! Shared by the SQLite adapter's conformance tests: a migrated store on fresh files (main
//! database and keystore) in a temporary folder, one per test.

use std::sync::Arc;

use passerelle_store::Store;
use passerelle_store_sqlite::SqliteStore;

/// A migrated store in a temporary folder, removed on drop.
pub struct Fresh {
    /// The store.
    pub store: Arc<SqliteStore>,
    /// Its folder: `passerelle.db` and `keys/keystore.db`.
    pub dir: tempfile::TempDir,
}

/// A fresh, migrated store.
pub async fn fresh() -> Fresh {
    let dir = tempfile::tempdir().expect("temporary folder");
    std::fs::create_dir(dir.path().join("keys")).expect("keys folder");
    let url = format!("sqlite://{}", dir.path().join("passerelle.db").display());
    let store = SqliteStore::connect(&url, &dir.path().join("keys").join("keystore.db"))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    Fresh {
        store: Arc::new(store),
        dir,
    }
}
