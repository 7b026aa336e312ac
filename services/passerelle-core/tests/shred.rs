//! Shredding, on both backends: afterwards reads answer 410, no key the service holds
//! (every organisation identity, every master key version) opens the ciphertexts kept from
//! before, the SQLite keystore file holds no byte of the deleted wraps; the operation is
//! idempotent and an interrupted shred is finished by `resume_shreds`.

mod support;

use passerelle_core::{CoreError, DeclineRequest, ShredReason};
use passerelle_store::{AuditFilter, ShredRequest};
use support::{Backend, Harness, ctx, shares_32_bytes};

async fn shred_leaves(h: &Harness) -> usize {
    h.store
        .audit_search(&AuditFilter {
            action: Some("content.shredded".into()),
            limit: 1000,
            ..AuditFilter::default()
        })
        .await
        .expect("search")
        .len()
}

async fn shred_destroys_for_good(backend: Backend) {
    let Some(h) = Harness::new(backend).await else {
        return;
    };
    let w = h.world().await;
    let id = h.file(&w).await;
    h.core
        .open_referral(&w.psy, id, &ctx())
        .await
        .expect("open");
    h.core
        .decline(
            &w.psy,
            id,
            DeclineRequest {
                reason: "Plus de place avant mars".into(),
                suggested_org: None,
            },
            &ctx(),
        )
        .await
        .expect("decline");
    let kept_id = h.file(&w).await;

    // Copies of everything sealed for the referral, and of its wraps, before the shred.
    let row = h.store.referral(id).await.unwrap().unwrap();
    let mut ciphertexts = vec![row.content.clone()];
    for e in h.store.referral_events(id).await.unwrap() {
        ciphertexts.extend(e.sealed_detail);
    }
    assert_eq!(ciphertexts.len(), 2, "content and the decline reason");
    let mut wraps = Vec::new();
    for org in [w.police_org, w.avec_org] {
        wraps.push(h.store.key_wrap(id, org).await.unwrap().unwrap().wrapped);
    }

    let report = h
        .core
        .shred_referral(id, ShredReason::Admin, None, &ctx())
        .await
        .expect("shred");
    assert!(!report.already);
    assert_eq!(report.wraps, 2);
    assert!(report.deleted.content);
    assert_eq!(report.deleted.details, 1);
    assert_eq!(shred_leaves(&h).await, 1);

    // Reads answer 410 to both parties; the other referral still opens.
    for p in [&w.psy, &w.police] {
        assert!(matches!(
            h.core.open_referral(p, id, &ctx()).await,
            Err(CoreError::Gone)
        ));
    }
    // A party that is not party still gets 404, never 410.
    assert!(matches!(
        h.core.open_referral(&w.court, id, &ctx()).await,
        Err(CoreError::NotFound)
    ));
    h.core
        .open_referral(&w.psy, kept_id, &ctx())
        .await
        .expect("another referral still opens");

    // Nothing the service holds opens the copies.
    for org in [w.police_org, w.avec_org, w.court_org] {
        assert!(h.store.key_wrap(id, org).await.unwrap().is_none());
    }
    for k in h.store.all_org_keys().await.unwrap() {
        let identity = h
            .vault
            .org_identity(k.org_id, k.version, &k.wrapped_identity, &k.kek_version)
            .expect("organisation identity");
        for ct in &ciphertexts {
            assert!(!identity.decrypts(ct), "an organisation identity opens it");
        }
    }
    for ct in &ciphertexts {
        assert!(h.vault.master_versions_decrypting(ct).is_empty());
    }
    let after = h.store.referral(id).await.unwrap().unwrap();
    assert!(after.content.is_empty());
    assert!(after.shredded_at.is_some());
    for e in h.store.referral_events(id).await.unwrap() {
        assert!(e.sealed_detail.is_none());
    }
    // Idempotent: nothing more is deleted, no second leaf.
    let again = h
        .core
        .shred_referral(id, ShredReason::Admin, None, &ctx())
        .await
        .expect("shred again");
    assert!(again.already);
    assert_eq!(again.wraps, 0);
    assert_eq!(shred_leaves(&h).await, 1);

    // SQLite: the keystore file (secure_delete) holds no byte of the deleted wraps, and
    // still the kept referral's (so the search would have found them).
    if let Some(sqlite) = &h.sqlite {
        let kept_wrap = h
            .store
            .key_wrap(kept_id, w.avec_org)
            .await
            .unwrap()
            .unwrap()
            .wrapped;
        sqlite.close().await;
        let keystore = std::fs::read(h.keys_dir().join("keystore.db")).expect("keystore");
        assert!(shares_32_bytes(&keystore, &kept_wrap));
        for wrap in &wraps {
            assert!(
                !shares_32_bytes(&keystore, wrap),
                "the keystore file still holds bytes of a deleted wrap"
            );
        }
    }
}

/// A crash after the wraps were deleted (simulated: the first two steps by hand): reads
/// already answer 410, and `resume_shreds` finishes with one leaf.
async fn interrupted_shred_is_finished(backend: Backend) {
    let Some(h) = Harness::new(backend).await else {
        return;
    };
    let w = h.world().await;
    let id = h.file(&w).await;
    let kept = h.file(&w).await;
    let mut tx = h.store.begin().await.unwrap();
    tx.queue_shred(&ShredRequest {
        referral_id: id,
        reason: ShredReason::ConsentWithdrawn.as_str().into(),
        requested_at: time::OffsetDateTime::now_utc(),
        requested_by: Some(w.police.user_id()),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(h.store.delete_key_wraps(id).await.unwrap(), 2);

    assert!(matches!(
        h.core.open_referral(&w.psy, id, &ctx()).await,
        Err(CoreError::Gone)
    ));
    let done = h.core.resume_shreds(&ctx()).await.expect("resume");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].referral, id);
    assert!(done[0].deleted.content);
    assert!(h.store.pending_shreds().await.unwrap().is_empty());
    assert!(
        h.store
            .referral(id)
            .await
            .unwrap()
            .unwrap()
            .content
            .is_empty()
    );
    assert_eq!(shred_leaves(&h).await, 1);
    // The leaf names who asked.
    let leaf = h
        .store
        .audit_search(&AuditFilter {
            action: Some("content.shredded".into()),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .remove(0);
    assert_eq!(leaf.leaf.actor.as_deref(), Some("iscg.martin"));
    assert!(h.core.resume_shreds(&ctx()).await.unwrap().is_empty());
    h.core
        .open_referral(&w.psy, kept, &ctx())
        .await
        .expect("the other referral still opens");
    // An unknown referral: not found, nothing queued.
    assert!(matches!(
        h.core
            .shred_referral(
                uuid::Uuid::new_v4().into(),
                ShredReason::Admin,
                None,
                &ctx()
            )
            .await,
        Err(CoreError::NotFound)
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn shred_on_sqlite() {
    shred_destroys_for_good(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shred_on_postgres() {
    shred_destroys_for_good(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn interrupted_shred_on_sqlite() {
    interrupted_shred_is_finished(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn interrupted_shred_on_postgres() {
    interrupted_shred_is_finished(Backend::Postgres).await;
}
