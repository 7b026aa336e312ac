//! Conformance of the operations port: the overdue count behind `/metrics`, and
//! leadership that only one holder has at a time (two stores on one database stand for
//! two instances).

use super::*;

/// `count_overdue` counts `sent` and `acknowledged` referrals past due, and nothing else.
pub async fn overdue_count(store: &dyn Store) {
    let now = T0 + Duration::days(2);
    let before = store.count_overdue(now).await.expect("count");
    let w = world(store).await;
    let c = case(store, &w).await;
    let past = now - Duration::hours(1);
    insert_referrals(
        store,
        &[
            referral(&w, &c, T0, past, ReferralStatus::Sent),
            referral(&w, &c, T0, past, ReferralStatus::Acknowledged),
            referral(&w, &c, T0, past, ReferralStatus::Accepted),
            referral(&w, &c, T0, past, ReferralStatus::Closed),
            referral(&w, &c, T0, now, ReferralStatus::Sent),
            referral(&w, &c, T0, now + Duration::hours(1), ReferralStatus::Sent),
        ],
    )
    .await;
    assert_eq!(store.count_overdue(now).await.expect("count"), before + 2);
    assert_eq!(
        store
            .count_overdue(now + Duration::days(1))
            .await
            .expect("count"),
        before + 4
    );
}

/// One leader per job across stores on one database; released leadership can be taken.
pub async fn leader_is_exclusive(a: &dyn Store, b: &dyn Store) {
    let job = name("job");
    let mut first = a.try_leader(&job).await.expect("try").expect("free job");
    assert_eq!(first.job(), job);
    assert!(first.still_held().await);
    assert!(
        b.try_leader(&job).await.expect("try").is_none(),
        "two leaders of one job"
    );
    assert!(
        a.try_leader(&job).await.expect("try").is_none(),
        "a second holder in the same instance"
    );
    // Another job is independent.
    let other = b.try_leader(&name("job")).await.expect("try");
    assert!(other.is_some());
    first.release().await;
    let second = b.try_leader(&job).await.expect("try");
    assert!(second.is_some(), "released leadership could not be taken");
    assert!(a.try_leader(&job).await.expect("try").is_none());
}
