//! Conformance checks of the ports added for sealed content: shredding (and, below, the
//! messages, attachments and key rotation ports). A child module of the suite, so it
//! shares its fixtures.

use super::*;

/// Shredding: requests queue idempotently; `shred_content` empties the content, clears the
/// sealed details and the queue row in its transaction; a second run finds nothing left; a
/// dropped transaction changes nothing.
pub async fn shred_content(store: &dyn Store) {
    let w = world(store).await;
    let c = case(store, &w).await;
    let r = referral(&w, &c, T0, T0 + Duration::hours(1), ReferralStatus::Sent);
    let other = referral(&w, &c, T0, T0 + Duration::hours(1), ReferralStatus::Sent);
    insert_referrals(store, &[r.clone(), other.clone()]).await;
    let decline = ReferralEventRow {
        referral_id: r.id,
        at: T0 + Duration::minutes(5),
        status: ReferralStatus::Declined,
        actor: Some(w.receiver.id),
        outcome: None,
        sealed_detail: Some(vec![0x5e; 48]),
        suggested_org: None,
    };
    let mut tx = store.begin().await.expect("begin");
    assert!(
        tx.transition(r.id, ReferralStatus::Sent, &decline)
            .await
            .expect("decline")
    );
    tx.commit().await.expect("commit");

    let req = ShredRequest {
        referral_id: r.id,
        reason: "admin".into(),
        requested_at: T0 + Duration::hours(2) + Duration::nanoseconds(17),
        requested_by: Some(w.receiver.id),
    };
    let mut tx = store.begin().await.expect("begin");
    tx.queue_shred(&req).await.expect("queue");
    // A second request for the same referral keeps the first.
    tx.queue_shred(&ShredRequest {
        reason: "retention".into(),
        requested_by: None,
        ..req.clone()
    })
    .await
    .expect("queue again");
    tx.commit().await.expect("commit");
    let mine = |all: Vec<ShredRequest>| -> Vec<ShredRequest> {
        all.into_iter().filter(|q| q.referral_id == r.id).collect()
    };
    let stored_req = ShredRequest {
        requested_at: micros(req.requested_at),
        ..req.clone()
    };
    assert_eq!(
        mine(store.pending_shreds().await.expect("pending")),
        vec![stored_req.clone()]
    );

    // Dropped: nothing happens.
    {
        let mut tx = store.begin().await.expect("begin");
        let counts = tx
            .shred_content(r.id, T0 + Duration::hours(3), "admin")
            .await
            .expect("shred");
        assert!(counts.content);
    }
    let still = store.referral(r.id).await.expect("read").expect("exists");
    assert_eq!(still.content, r.content);
    assert_eq!(still.shredded_at, None);
    assert_eq!(
        mine(store.pending_shreds().await.expect("pending")),
        vec![stored_req]
    );

    let at = T0 + Duration::hours(3) + Duration::nanoseconds(999);
    let mut tx = store.begin().await.expect("begin");
    let counts = tx.shred_content(r.id, at, "admin").await.expect("shred");
    tx.commit().await.expect("commit");
    assert_eq!(
        counts,
        ShredCounts {
            content: true,
            details: 1,
            messages: 0,
            attachments: 0,
            chunks: 0,
        }
    );
    let gone = store.referral(r.id).await.expect("read").expect("exists");
    assert!(gone.content.is_empty(), "content emptied");
    assert_eq!(gone.shredded_at, Some(micros(at)));
    assert_eq!(gone.content_sha256, r.content_sha256, "the digest stays");
    let events = store.referral_events(r.id).await.expect("events");
    assert_eq!(events.len(), 2, "the history stays");
    assert!(events.iter().all(|e| e.sealed_detail.is_none()));
    assert!(mine(store.pending_shreds().await.expect("pending")).is_empty());

    // Again: nothing left, nothing changes.
    let mut tx = store.begin().await.expect("begin");
    let again = tx
        .shred_content(r.id, at + Duration::hours(1), "admin")
        .await
        .expect("shred again");
    tx.commit().await.expect("commit");
    assert_eq!(again, ShredCounts::default());
    let same = store.referral(r.id).await.expect("read").expect("exists");
    assert_eq!(same.shredded_at, Some(micros(at)));

    // An unknown referral: nothing.
    let mut tx = store.begin().await.expect("begin");
    let none = tx
        .shred_content(ReferralId(uuid()), at, "admin")
        .await
        .expect("shred unknown");
    tx.commit().await.expect("commit");
    assert_eq!(none, ShredCounts::default());

    // The other referral of the case is untouched.
    let kept = store
        .referral(other.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(kept.content, other.content);
    assert_eq!(kept.shredded_at, None);
}
