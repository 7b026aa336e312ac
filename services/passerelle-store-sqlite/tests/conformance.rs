//! The storage port's conformance suite, run on SQLite files in a temporary folder (one
//! fresh main database and keystore per test), and the concurrent-append test.

#[allow(dead_code)] // the folder, read by the other test file
mod support;

use std::sync::Arc;

use async_trait::async_trait;
use passerelle_store::conformance::{self, RawExec};
use passerelle_store::{Store, StoreError, StoreResult};
use support::fresh;

struct Raw(sqlx::SqlitePool);

#[async_trait]
impl RawExec for Raw {
    async fn execute(&self, sql: &'static str) -> StoreResult<u64> {
        sqlx::query(sql)
            .execute(&self.0)
            .await
            .map(|done| done.rows_affected())
            .map_err(|e| StoreError::Other(e.to_string()))
    }
}

macro_rules! conformance {
    ($($check:ident),+ $(,)?) => {$(
        #[tokio::test]
        async fn $check() {
            let db = fresh().await;
            conformance::$check(db.store.as_ref()).await;
        }
    )+};
}

conformance!(
    migrate_is_idempotent,
    orgs_users_tokens_round_trip,
    uniqueness_is_conflict,
    dropped_transaction_rolls_back,
    referral_round_trip,
    box_paging,
    overdue_filter,
    transition_compare_and_set,
    key_wraps,
    audit_append,
    audit_rollback,
    audit_search,
    audit_leaf_batches,
    tasks_round_trip,
    retention_stages,
    notification_outbox,
    archive_reads,
);

#[tokio::test]
async fn audit_append_only() {
    let db = fresh().await;
    conformance::audit_append_only(db.store.as_ref(), &Raw(db.store.pool().clone())).await;
}

#[tokio::test]
async fn run_all_on_one_database() {
    let db = fresh().await;
    conformance::run_all(db.store.as_ref(), &Raw(db.store.pool().clone())).await;
}

/// 8 tasks × 25 appends, each in its own transaction, in parallel: 200 leaves, dense seqs,
/// and a root that matches them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends() {
    let db = fresh().await;
    let store: Arc<dyn Store> = db.store.clone();
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for n in 0..25 {
                    conformance::append_one(store.as_ref(), &format!("task-{t}"), n)
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    let leaves = conformance::check_audit_log(store.as_ref(), true).await;
    assert_eq!(leaves.len(), 200);
    for t in 0..8 {
        let actor = format!("task-{t}");
        let mine = leaves
            .iter()
            .filter(|l| l.leaf.actor.as_deref() == Some(actor.as_str()))
            .count();
        assert_eq!(mine, 25, "{actor}");
    }
}

#[tokio::test]
async fn identity_conformance() {
    let db = fresh().await;
    conformance::identity::run_all(db.store.as_ref()).await;
}
