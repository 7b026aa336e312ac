//! The storage port's conformance suite, run on PostgreSQL (one fresh database per test),
//! and the concurrent-append test.

mod support;

use std::sync::Arc;

use passerelle_store::Store;
use passerelle_store::conformance;
use support::{Raw, with_fresh_store};

macro_rules! conformance {
    ($($check:ident),+ $(,)?) => {$(
        #[tokio::test]
        async fn $check() {
            with_fresh_store(|store| async move {
                conformance::$check(store.as_ref()).await;
            })
            .await;
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
    with_fresh_store(|store| async move {
        conformance::audit_append_only(store.as_ref(), &Raw(store.pool().clone())).await;
    })
    .await;
}

#[tokio::test]
async fn run_all_on_one_database() {
    with_fresh_store(|store| async move {
        conformance::run_all(store.as_ref(), &Raw(store.pool().clone())).await;
    })
    .await;
}

/// 8 tasks × 25 appends, each in its own transaction, in parallel: 200 leaves, dense seqs,
/// and a root that matches them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends() {
    with_fresh_store(|store| async move {
        let store: Arc<dyn Store> = store;
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
    })
    .await;
}

#[tokio::test]
async fn identity_conformance() {
    with_fresh_store(|store| async move {
        conformance::identity::run_all(store.as_ref()).await;
    })
    .await;
}
