//! Key rotation through core, on both backends: master key and organisation identity
//! rotations under concurrent filing and reading lose nothing and every referral still
//! opens; an interrupted rotation (the states a crash leaves, rebuilt by hand) is finished
//! by running it again instead of starting another.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use passerelle_core::{CoreError, NewMessage};
use passerelle_domain::ids::{OrgSlug, ReferralId};
use passerelle_store::OrgKeyRow;
use support::{Backend, Harness, ctx};
use tokio::sync::Mutex;

async fn all_open(h: &Harness, w: &support::World, ids: &[ReferralId]) {
    for id in ids {
        for p in [&w.psy, &w.police] {
            let v = h
                .core
                .open_referral(p, *id, &ctx())
                .await
                .unwrap_or_else(|e| panic!("referral {id} does not open: {e:?}"));
            assert_eq!(v.subject.name.as_deref(), Some(support::NAME));
        }
    }
}

async fn under_load(backend: Backend) {
    let Some(h) = Harness::new(backend).await else {
        return;
    };
    let h = Arc::new(h);
    let w = Arc::new(h.world().await);
    let filed = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..4 {
        let id = h.file(&w).await;
        h.core
            .write_message(
                &w.police,
                id,
                NewMessage {
                    body: "avant".into(),
                },
                &ctx(),
            )
            .await
            .unwrap();
        filed.lock().await.push(id);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let filer = {
        let (h, w, filed, stop) = (h.clone(), w.clone(), filed.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let id = h.file(&w).await;
                filed.lock().await.push(id);
                n += 1;
            }
            n
        })
    };
    let reader = {
        let (h, w, filed, stop) = (h.clone(), w.clone(), filed.clone(), stop.clone());
        tokio::spawn(async move {
            let mut reads = 0u64;
            let mut i = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let ids = filed.lock().await.clone();
                let id = ids[i % ids.len()];
                i += 7;
                let p = if i.is_multiple_of(2) {
                    &w.psy
                } else {
                    &w.police
                };
                h.core
                    .open_referral(p, id, &ctx())
                    .await
                    .unwrap_or_else(|e| panic!("read during rotation failed: {e:?}"));
                h.core.read_messages(p, id, &ctx()).await.unwrap();
                reads += 1;
            }
            reads
        })
    };

    let m = h
        .core
        .rotate_master_key(false, &ctx())
        .await
        .expect("rotate");
    assert!(!m.resumed);
    assert_eq!(m.added.as_deref(), Some("kek-v2"));
    assert_eq!(m.promoted.as_deref(), Some("kek-v2"));
    assert_eq!(m.rewrapped, 3);
    assert_eq!(m.retired, ["kek-v1"]);
    assert!(!h.keys_dir().join("kek-v1.key").exists());
    for slug in ["avec63", "police-63"] {
        let r = h
            .core
            .rotate_org_key(&OrgSlug::parse(slug).unwrap(), &ctx())
            .await
            .expect("rotate-org");
        assert!(r.created);
        assert_eq!(r.version, 2);
        assert_eq!(r.failed, 0);
        assert_eq!(r.destroyed, 1);
        assert!(r.rewrapped >= 4, "{r:?}");
    }
    let m = h
        .core
        .rotate_master_key(false, &ctx())
        .await
        .expect("rotate again");
    assert_eq!(m.current, "kek-v3");
    assert_eq!(
        m.rewrapped, 3,
        "the live identities (the old ones are destroyed)"
    );

    stop.store(true, Ordering::SeqCst);
    let more = filer.await.expect("filer");
    let reads = reader.await.expect("reader");
    assert!(
        more > 0 && reads > 0,
        "filed {more}, read {reads} during the rotations"
    );

    let ids = filed.lock().await.clone();
    all_open(&h, &w, &ids).await;
    let status = h.core.key_status().await.unwrap();
    assert!(status.pending().is_empty(), "{:?}", status.pending());
    assert_eq!(status.current, "kek-v3");
    for (slug, versions) in &status.orgs {
        let current: Vec<i32> = versions
            .iter()
            .filter(|k| k.state == "current")
            .map(|k| k.version)
            .collect();
        assert_eq!(current.len(), 1, "{slug}: {versions:?}");
        for k in versions.iter().filter(|k| k.state != "current") {
            assert_eq!(k.wraps, 0, "{slug} v{} still has wraps", k.version);
            assert_eq!(k.state, "destroyed");
        }
    }
    // The destroyed identities are gone from storage.
    for k in h.store.all_org_keys().await.unwrap() {
        if k.retired_at.is_some() {
            assert!(k.wrapped_identity.is_empty());
        }
    }
}

/// The states a crash can leave, rebuilt by hand, each finished by running again.
async fn resumed(backend: Backend) {
    let Some(h) = Harness::new(backend).await else {
        return;
    };
    let w = h.world().await;
    let mut ids = vec![h.file(&w).await, h.file(&w).await];

    // Killed after adding kek-v2 (not promoted): the next run promotes it, adds nothing.
    passerelle_vault::add_master_version(&h.keys_dir()).unwrap();
    let r = h.core.rotate_master_key(false, &ctx()).await.unwrap();
    assert!(r.resumed);
    assert_eq!(r.added, None);
    assert_eq!(r.promoted.as_deref(), Some("kek-v2"));
    assert_eq!(r.rewrapped, 3);
    all_open(&h, &w, &ids).await;

    // Killed after promoting kek-v3 and re-wrapping one identity.
    passerelle_vault::add_master_version(&h.keys_dir()).unwrap();
    passerelle_vault::promote(&h.keys_dir(), "kek-v3").unwrap();
    h.vault.reload().unwrap();
    let k: OrgKeyRow = h.store.org_key(w.avec_org, 1).await.unwrap().unwrap();
    let new = h
        .vault
        .rewrap_org_identity(k.org_id, 1, &k.wrapped_identity, &k.kek_version)
        .unwrap();
    let mut tx = h.store.begin().await.unwrap();
    assert!(
        tx.rewrap_org_key(k.org_id, 1, &k.kek_version, &new.wrapped_identity, "kek-v3")
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let status = h.core.key_status().await.unwrap();
    assert!(!status.pending().is_empty());
    let r = h.core.rotate_master_key(false, &ctx()).await.unwrap();
    assert!(r.resumed);
    assert_eq!((r.added, r.promoted), (None, None));
    assert_eq!(r.rewrapped, 2, "the two identities left");
    assert_eq!(r.retired, ["kek-v2"]);
    ids.push(h.file(&w).await);
    all_open(&h, &w, &ids).await;

    // Killed after retiring kek-v3's predecessor but before… nothing left: a new run is a
    // new rotation.
    let r = h.core.rotate_master_key(false, &ctx()).await.unwrap();
    assert!(!r.resumed);
    assert_eq!(r.added.as_deref(), Some("kek-v4"));

    // Organisation identity: killed after creating v2 and re-wrapping one wrap.
    let slug = OrgSlug::parse("avec63").unwrap();
    let v2 = h.vault.new_org_identity(w.avec_org, 2).unwrap();
    let mut tx = h.store.begin().await.unwrap();
    tx.insert_org_key(&OrgKeyRow {
        org_id: w.avec_org,
        version: 2,
        recipient: v2.recipient.clone(),
        wrapped_identity: v2.wrapped_identity.clone(),
        kek_version: v2.kek_version.clone(),
        created_at: time::OffsetDateTime::now_utc(),
        retired_at: None,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // Filed meanwhile: wrapped to v2 already.
    ids.push(h.file(&w).await);
    let r = h.core.rotate_org_key(&slug, &ctx()).await.unwrap();
    assert!(!r.created, "resumed with the identity the crash left");
    assert_eq!(r.version, 2);
    assert_eq!(r.rewrapped, 3);
    assert_eq!((r.retired, r.destroyed), (1, 1));
    all_open(&h, &w, &ids).await;
    // Killed after creating v3 and retiring v2, before the wraps were moved and v2
    // destroyed: the next run moves them and destroys v2, creating nothing.
    let v3 = h.vault.new_org_identity(w.avec_org, 3).unwrap();
    let mut tx = h.store.begin().await.unwrap();
    tx.insert_org_key(&OrgKeyRow {
        org_id: w.avec_org,
        version: 3,
        recipient: v3.recipient.clone(),
        wrapped_identity: v3.wrapped_identity.clone(),
        kek_version: v3.kek_version.clone(),
        created_at: time::OffsetDateTime::now_utc(),
        retired_at: None,
    })
    .await
    .unwrap();
    assert_eq!(
        tx.retire_org_keys(w.avec_org, 3, time::OffsetDateTime::now_utc())
            .await
            .unwrap(),
        1
    );
    tx.commit().await.unwrap();
    all_open(&h, &w, &ids).await;
    let r = h.core.rotate_org_key(&slug, &ctx()).await.unwrap();
    assert!(!r.created);
    assert_eq!(r.version, 3);
    assert_eq!(r.rewrapped, 4);
    assert_eq!((r.retired, r.destroyed), (0, 1));
    all_open(&h, &w, &ids).await;
    assert!(matches!(
        h.core
            .rotate_org_key(&OrgSlug::parse("nowhere").unwrap(), &ctx())
            .await,
        Err(CoreError::NotFound)
    ));
    assert!(h.core.key_status().await.unwrap().pending().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_under_load_on_sqlite() {
    under_load(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_under_load_on_postgres() {
    under_load(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn interrupted_rotations_resume_on_sqlite() {
    resumed(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn interrupted_rotations_resume_on_postgres() {
    resumed(Backend::Postgres).await;
}

/// A user's TOTP seed and an enrolment link's pending seed, sealed to the organisation's
/// identity, follow it through `rotate-org`: nobody is locked out when the old identity is
/// destroyed.
async fn seeds_follow(backend: Backend) {
    let Some(h) = Harness::new(backend).await else {
        return;
    };
    let w = h.world().await;
    let id = h.file(&w).await;
    let v1 = h.store.org_key(w.avec_org, 1).await.unwrap().unwrap();
    let seed = b"0123456789abcdefghij";
    let user = w.psy.user_id();
    let sealed = passerelle_vault::seal_totp_secret(&v1.recipient, 1, user, seed).unwrap();
    let pending =
        passerelle_vault::seal_totp_secret(&v1.recipient, 1, user, b"pending-seed").unwrap();
    let link = passerelle_store::EnrolmentRow {
        id: uuid::Uuid::new_v4(),
        user_id: user,
        hash: [7; 32],
        created_at: time::OffsetDateTime::now_utc(),
        expires_at: time::OffsetDateTime::now_utc() + time::Duration::days(3),
        used_at: None,
        pending_totp: Some(pending),
    };
    let mut tx = h.store.begin().await.unwrap();
    assert!(tx.set_credentials(user, None, Some(&sealed)).await.unwrap());
    tx.insert_enrolment(&link).await.unwrap();
    tx.commit().await.unwrap();

    let r = h
        .core
        .rotate_org_key(&OrgSlug::parse("avec63").unwrap(), &ctx())
        .await
        .unwrap();
    assert_eq!((r.version, r.resealed, r.failed, r.destroyed), (2, 2, 0, 1));
    let v2 = h.store.org_key(w.avec_org, 2).await.unwrap().unwrap();
    let identity = h
        .vault
        .org_identity(w.avec_org, 2, &v2.wrapped_identity, &v2.kek_version)
        .unwrap();
    let stored = h
        .store
        .user_by_id(user)
        .await
        .unwrap()
        .unwrap()
        .totp_secret
        .unwrap();
    assert_eq!(
        passerelle_vault::sealed_secret_key_version(&stored),
        Some(2)
    );
    assert_eq!(
        passerelle_vault::open_totp_secret(&identity, user, &stored)
            .unwrap()
            .as_slice(),
        seed
    );
    let secrets = h.store.sealed_user_secrets(w.avec_org).await.unwrap();
    let pending = secrets
        .iter()
        .find(|s| s.id == link.id)
        .expect("the pending seed");
    assert_eq!(
        passerelle_vault::open_totp_secret(&identity, user, &pending.sealed)
            .unwrap()
            .as_slice(),
        b"pending-seed"
    );
    assert!(
        h.store
            .org_key(w.avec_org, 1)
            .await
            .unwrap()
            .unwrap()
            .wrapped_identity
            .is_empty()
    );
    all_open(&h, &w, &[id]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn seeds_follow_the_identity_on_sqlite() {
    seeds_follow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn seeds_follow_the_identity_on_postgres() {
    seeds_follow(Backend::Postgres).await;
}
