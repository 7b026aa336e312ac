//! What is particular to the PostgreSQL adapter: the keystore schema, the always-present
//! head row, session timeouts, `TRUNCATE` refused, and outages reported as such.

mod support;

use passerelle_store::{Store, StoreError};
use passerelle_store_postgres::PgStore;
use support::{Raw, with_fresh_store};

#[tokio::test]
async fn keystore_has_its_own_schema_and_migrations() {
    with_fresh_store(|store| async move {
        let tables: Vec<(String, String)> = sqlx::query_as(
            "SELECT table_schema::text, table_name::text FROM information_schema.tables \
             WHERE table_name IN ('key_wraps', '_sqlx_migrations') ORDER BY 1, 2",
        )
        .fetch_all(store.pool())
        .await
        .expect("tables");
        let expected = [
            ("keystore", "_sqlx_migrations"),
            ("keystore", "key_wraps"),
            ("public", "_sqlx_migrations"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(s, t)| (s.to_string(), t.to_string()))
            .collect();
        assert_eq!(tables, expected);
    })
    .await;
}

#[tokio::test]
async fn head_row_exists_from_the_start_and_sessions_time_out() {
    with_fresh_store(|store| async move {
        let size: i64 = sqlx::query_scalar("SELECT size FROM audit_head WHERE id = 1")
            .fetch_one(store.pool())
            .await
            .expect("head row");
        assert_eq!(size, 0);
        assert_eq!(store.audit_head().await.expect("head"), None);
        let lock: String = sqlx::query_scalar("SHOW lock_timeout")
            .fetch_one(store.pool())
            .await
            .expect("lock_timeout");
        assert_eq!(lock, "5s");
    })
    .await;
}

#[tokio::test]
async fn truncate_of_the_log_is_refused() {
    with_fresh_store(|store| async move {
        use passerelle_store::conformance::{RawExec, append_one};
        append_one(store.as_ref(), "truncate-check", 0)
            .await
            .expect("append");
        let raw = Raw(store.pool().clone());
        assert!(raw.execute("TRUNCATE audit_leaves").await.is_err());
        assert!(raw.execute("TRUNCATE audit_head").await.is_err());
        assert_eq!(
            store.audit_head().await.expect("head").map(|h| h.size),
            Some(1)
        );
    })
    .await;
}

#[tokio::test]
async fn a_closed_pool_is_unavailable_not_missing() {
    with_fresh_store(|store| async move {
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
    })
    .await;
}

#[tokio::test]
async fn other_schemes_are_refused() {
    let r = PgStore::connect("sqlite://x.db").await;
    assert!(matches!(r, Err(StoreError::Other(_))));
}
