//! The operations port's conformance checks on PostgreSQL. Every `try_leader` takes a
//! connection (a database session) of its own, so one store stands for two instances.

#[allow(dead_code)] // the raw executor serves other test files
mod support;

use passerelle_store::conformance::ops;
use support::with_fresh_store;

#[tokio::test]
async fn overdue_count() {
    with_fresh_store(|store| async move {
        ops::overdue_count(store.as_ref()).await;
    })
    .await;
}

#[tokio::test]
async fn leader_is_exclusive() {
    with_fresh_store(|store| async move {
        let other = store.clone();
        ops::leader_is_exclusive(store.as_ref(), other.as_ref()).await;
    })
    .await;
}
