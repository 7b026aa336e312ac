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

fn message(r: &ReferralRow, author: &UserRow, org: &OrgRow, minutes: i64) -> MessageRow {
    let body = format!("age sealed message {}", unique()).into_bytes();
    MessageRow {
        id: MessageId(uuid()),
        referral_id: r.id,
        author_id: author.id,
        author: author.username.clone(),
        org_id: org.id,
        org: org.slug.clone(),
        created_at: T0 + Duration::minutes(minutes) + Duration::nanoseconds(501),
        body_sha256: hash_of(unique()),
        body,
    }
}

fn attachment(w: &World, r: &ReferralRow, minutes: i64) -> AttachmentRow {
    AttachmentRow {
        id: AttachmentId(uuid()),
        referral_id: r.id,
        uploaded_by: w.receiver.id,
        org_id: w.to.id,
        category: DataCategory::Narrative,
        created_at: T0 + Duration::minutes(minutes) + Duration::nanoseconds(77),
        done: None,
    }
}

fn done(chunks: u32, minutes: i64) -> AttachmentDone {
    AttachmentDone {
        size: 3 * 1024 * 1024 + 5,
        chunks,
        ciphertext_sha256: hash_of(unique()),
        record: format!("age sealed record {}", unique()).into_bytes(),
        record_sha256: hash_of(unique()),
        completed_at: T0 + Duration::minutes(minutes) + Duration::nanoseconds(3),
    }
}

/// Messages: inserted in a transaction, read back oldest first with the author's username
/// and organisation's slug; refused on a shredded or unknown referral; deleted by a shred.
pub async fn messages(store: &dyn Store) {
    let w = world(store).await;
    let c = case(store, &w).await;
    let r = referral(&w, &c, T0, T0 + Duration::hours(1), ReferralStatus::Sent);
    let other = referral(&w, &c, T0, T0 + Duration::hours(1), ReferralStatus::Sent);
    insert_referrals(store, &[r.clone(), other.clone()]).await;
    let second = message(&r, &w.receiver, &w.to, 2);
    let first = message(&r, &w.referrer, &w.from, 1);
    let elsewhere = message(&other, &w.referrer, &w.from, 1);
    let mut tx = store.begin().await.expect("begin");
    for m in [&second, &first, &elsewhere] {
        assert!(tx.insert_message(m).await.expect("insert message"));
    }
    tx.commit().await.expect("commit");
    // Dropped: not kept.
    {
        let mut tx = store.begin().await.expect("begin");
        assert!(
            tx.insert_message(&message(&r, &w.receiver, &w.to, 3))
                .await
                .expect("insert")
        );
    }
    let stored = |m: &MessageRow| MessageRow {
        created_at: micros(m.created_at),
        ..m.clone()
    };
    assert_eq!(
        store.messages(r.id).await.expect("messages"),
        vec![stored(&first), stored(&second)]
    );
    assert_eq!(
        store.messages(ReferralId(uuid())).await.expect("messages"),
        vec![]
    );
    let mut tx = store.begin().await.expect("begin");
    let unknown = MessageRow {
        referral_id: ReferralId(uuid()),
        ..message(&r, &w.referrer, &w.from, 4)
    };
    assert!(!tx.insert_message(&unknown).await.expect("unknown referral"));
    let counts = tx
        .shred_content(r.id, T0 + Duration::hours(5), "admin")
        .await
        .expect("shred");
    assert_eq!(counts.messages, 2);
    assert!(
        !tx.insert_message(&message(&r, &w.receiver, &w.to, 6))
            .await
            .expect("after shred"),
        "a shredded referral takes no message"
    );
    tx.commit().await.expect("commit");
    assert!(store.messages(r.id).await.expect("messages").is_empty());
    assert_eq!(store.messages(other.id).await.expect("messages").len(), 1);
}

/// Attachments: staged row and chunks are not listed until completed in a transaction;
/// completion checks the chunk count; chunks read back; discards remove only incomplete
/// uploads; a shred deletes them all.
pub async fn attachments(store: &dyn Store) {
    let w = world(store).await;
    let c = case(store, &w).await;
    let r = referral(
        &w,
        &c,
        T0,
        T0 + Duration::hours(1),
        ReferralStatus::Accepted,
    );
    insert_referrals(store, std::slice::from_ref(&r)).await;
    let a = attachment(&w, &r, 1);
    store.begin_attachment(&a).await.expect("begin attachment");
    expect_conflict(store.begin_attachment(&a).await, "same attachment twice");
    let chunk = |n: u8| vec![n; 1000 + usize::from(n)];
    for seq in 0..3u32 {
        store
            .put_attachment_chunk(a.id, seq, &chunk(seq as u8))
            .await
            .expect("chunk");
    }
    expect_conflict(
        store.put_attachment_chunk(a.id, 1, &chunk(9)).await,
        "the same chunk twice",
    );
    assert!(
        store
            .put_attachment_chunk(AttachmentId(uuid()), 0, &chunk(1))
            .await
            .is_err(),
        "a chunk of an unknown attachment"
    );
    assert!(store.attachments(r.id).await.expect("list").is_empty());
    let staged = store.attachment(a.id).await.expect("get").expect("exists");
    assert_eq!(staged.done, None);
    assert_eq!(staged.created_at, micros(a.created_at));

    // Completion must name the number of chunks stored.
    let mut tx = store.begin().await.expect("begin");
    assert!(
        !tx.complete_attachment(a.id, &done(2, 2))
            .await
            .expect("wrong count")
    );
    assert!(
        !tx.complete_attachment(AttachmentId(uuid()), &done(3, 2))
            .await
            .expect("unknown")
    );
    tx.commit().await.expect("commit");
    // Dropped: still incomplete.
    {
        let mut tx = store.begin().await.expect("begin");
        assert!(
            tx.complete_attachment(a.id, &done(3, 2))
                .await
                .expect("complete")
        );
    }
    assert!(store.attachments(r.id).await.expect("list").is_empty());
    let d = done(3, 2);
    let mut tx = store.begin().await.expect("begin");
    assert!(tx.complete_attachment(a.id, &d).await.expect("complete"));
    assert!(!tx.complete_attachment(a.id, &d).await.expect("twice"));
    tx.commit().await.expect("commit");
    let stored = AttachmentRow {
        created_at: micros(a.created_at),
        done: Some(AttachmentDone {
            completed_at: micros(d.completed_at),
            ..d.clone()
        }),
        ..a.clone()
    };
    assert_eq!(
        store.attachments(r.id).await.expect("list"),
        vec![stored.clone()]
    );
    assert_eq!(store.attachment(a.id).await.expect("get"), Some(stored));
    for seq in 0..3u32 {
        assert_eq!(
            store.attachment_chunk(a.id, seq).await.expect("chunk"),
            Some(chunk(seq as u8))
        );
    }
    assert_eq!(store.attachment_chunk(a.id, 3).await.expect("chunk"), None);
    assert!(
        store
            .put_attachment_chunk(a.id, 3, &chunk(3))
            .await
            .is_err(),
        "a complete attachment takes no more chunks"
    );
    assert!(
        !store
            .discard_attachment(a.id)
            .await
            .expect("discard complete")
    );

    // A failed upload is discarded, chunks and all.
    let failed = attachment(&w, &r, 3);
    store.begin_attachment(&failed).await.expect("begin");
    store
        .put_attachment_chunk(failed.id, 0, &chunk(7))
        .await
        .expect("chunk");
    assert!(store.discard_attachment(failed.id).await.expect("discard"));
    assert_eq!(store.attachment(failed.id).await.expect("get"), None);
    assert_eq!(
        store.attachment_chunk(failed.id, 0).await.expect("chunk"),
        None
    );

    // Stale uploads (started before the bound) are swept; recent ones are kept.
    let stale = attachment(&w, &r, 4);
    let recent = attachment(&w, &r, 60);
    for s in [&stale, &recent] {
        store.begin_attachment(s).await.expect("begin");
        store
            .put_attachment_chunk(s.id, 0, &chunk(1))
            .await
            .expect("chunk");
    }
    let swept = store
        .discard_stale_attachments(T0 + Duration::minutes(30))
        .await
        .expect("sweep");
    assert!(swept >= 1);
    assert_eq!(store.attachment(stale.id).await.expect("get"), None);
    assert!(store.attachment(recent.id).await.expect("get").is_some());
    assert_eq!(
        store.attachment(a.id).await.expect("get").map(|a| a.id),
        Some(a.id)
    );

    // A shred deletes complete and incomplete attachments with their chunks.
    let mut tx = store.begin().await.expect("begin");
    let counts = tx
        .shred_content(r.id, T0 + Duration::hours(2), "admin")
        .await
        .expect("shred");
    tx.commit().await.expect("commit");
    assert_eq!(counts.attachments, 2);
    assert_eq!(counts.chunks, 4);
    assert_eq!(store.attachment(a.id).await.expect("get"), None);
    assert_eq!(store.attachment_chunk(a.id, 0).await.expect("chunk"), None);
    // An upload racing the shred cannot complete.
    let late = attachment(&w, &r, 5);
    store.begin_attachment(&late).await.expect("begin");
    let mut tx = store.begin().await.expect("begin");
    assert!(
        !tx.complete_attachment(late.id, &done(0, 6))
            .await
            .expect("complete")
    );
    tx.commit().await.expect("commit");
    assert!(store.discard_attachment(late.id).await.expect("discard"));
}

/// The recorded-ciphertext lookup finds the leaves of a target whose bytes contain a
/// digest, and no other.
pub async fn leaves_recording(store: &dyn Store) {
    let (target, other) = (uuid().to_string(), uuid().to_string());
    let sha = hash_of(unique());
    let with = |target: &str, extra: &[u8], n: u64| {
        let mut bytes = format!("leaf {n} {}", unique()).into_bytes();
        bytes.extend_from_slice(extra);
        bytes.extend_from_slice(b"tail");
        NewAuditLeaf {
            at: T0 + Duration::seconds(n as i64),
            bytes,
            actor: None,
            org: None,
            action: "message.written".into(),
            target: Some(target.to_owned()),
            case_id: None,
        }
    };
    let mut tx = store.begin().await.expect("begin");
    let leaves = [
        with(&target, &sha, 1),
        with(&target, &hash_of(unique()), 2),
        with(&other, &sha, 3),
        with(&target, &sha[..31], 4),
        with(&target, &sha, 5),
    ];
    let mut seqs = Vec::new();
    for l in &leaves {
        seqs.push(tx.append_audit(l, &TestSigner).await.expect("append").size - 1);
    }
    tx.commit().await.expect("commit");
    let found = store.leaves_recording(&target, &sha).await.expect("lookup");
    let got: Vec<u64> = found.iter().map(|l| l.seq).collect();
    assert_eq!(got, vec![seqs[0], seqs[4]]);
    assert_eq!(found[0].leaf, stored_leaf(&leaves[0]));
    assert!(
        store
            .leaves_recording(&uuid().to_string(), &sha)
            .await
            .expect("lookup")
            .is_empty()
    );
}

/// Key rotation: referral key wraps listed below a version, paged, replaced with a
/// compare-and-set; organisation identities re-wrapped with a compare-and-set on the
/// master key version, retired (no longer usable for new wraps), destroyed.
pub async fn keyring(store: &dyn Store) {
    let org = org_row(OrgKind::Association);
    let other = org_row(OrgKind::Police);
    let key = |o: &OrgRow, version: i32| OrgKeyRow {
        org_id: o.id,
        version,
        recipient: format!("age1org{version}"),
        wrapped_identity: vec![version as u8; 60],
        kek_version: "kek-v1".into(),
        created_at: T0,
        retired_at: None,
    };
    let mut tx = store.begin().await.expect("begin");
    tx.insert_org(&org).await.expect("org");
    tx.insert_org(&other).await.expect("org");
    for k in [key(&org, 1), key(&org, 2), key(&other, 1)] {
        tx.insert_org_key(&k).await.expect("org key");
    }
    tx.commit().await.expect("commit");

    let mut referrals: Vec<ReferralId> = (0..3).map(|_| ReferralId(uuid())).collect();
    referrals.sort();
    let wrap = |r: ReferralId, o: &OrgRow, v: i32, n: u8| KeyWrapRow {
        referral_id: r,
        org_id: o.id,
        org_key_version: v,
        wrapped: vec![n; 90],
    };
    store
        .put_key_wraps(&[
            wrap(referrals[0], &org, 1, 1),
            wrap(referrals[1], &org, 2, 2),
            wrap(referrals[2], &org, 1, 3),
            wrap(referrals[0], &other, 1, 4),
        ])
        .await
        .expect("wraps");
    let below = store
        .key_wraps_below(org.id, 2, None, 10)
        .await
        .expect("below");
    assert_eq!(
        below,
        vec![
            wrap(referrals[0], &org, 1, 1),
            wrap(referrals[2], &org, 1, 3)
        ]
    );
    let page = store
        .key_wraps_below(org.id, 2, None, 1)
        .await
        .expect("page");
    assert_eq!(page, vec![wrap(referrals[0], &org, 1, 1)]);
    let next = store
        .key_wraps_below(org.id, 2, Some(referrals[0]), 1)
        .await
        .expect("next page");
    assert_eq!(next, vec![wrap(referrals[2], &org, 1, 3)]);
    assert!(
        store
            .key_wraps_below(org.id, 1, None, 10)
            .await
            .expect("none")
            .is_empty()
    );

    let moved = wrap(referrals[0], &org, 2, 9);
    assert!(store.replace_key_wrap(1, &moved).await.expect("replace"));
    assert!(
        !store.replace_key_wrap(1, &moved).await.expect("again"),
        "compare-and-set on the version"
    );
    assert_eq!(
        store.key_wrap(referrals[0], org.id).await.expect("wrap"),
        Some(moved)
    );
    assert_eq!(
        store.key_wrap(referrals[0], other.id).await.expect("wrap"),
        Some(wrap(referrals[0], &other, 1, 4)),
        "another organisation's wrap is untouched"
    );
    let counts = store.key_wrap_counts().await.expect("counts");
    let mine: Vec<(i32, u64)> = counts
        .iter()
        .filter(|(o, _, _)| *o == org.id)
        .map(|(_, v, n)| (*v, *n))
        .collect();
    assert_eq!(mine, vec![(1, 1), (2, 2)]);

    // Master key rotation of an organisation identity: compare-and-set on kek_version.
    let mut tx = store.begin().await.expect("begin");
    assert!(
        tx.rewrap_org_key(org.id, 1, "kek-v1", &[0xee; 70], "kek-v2")
            .await
            .expect("rewrap")
    );
    assert!(
        !tx.rewrap_org_key(org.id, 1, "kek-v1", &[0xdd; 70], "kek-v2")
            .await
            .expect("rewrap again")
    );
    tx.commit().await.expect("commit");
    let k1 = store
        .org_key(org.id, 1)
        .await
        .expect("key")
        .expect("exists");
    assert_eq!(
        (k1.kek_version.as_str(), k1.wrapped_identity),
        ("kek-v2", vec![0xee; 70])
    );
    // Dropped: not kept.
    {
        let mut tx = store.begin().await.expect("begin");
        assert!(
            tx.rewrap_org_key(org.id, 2, "kek-v1", &[1; 10], "kek-v2")
                .await
                .expect("rewrap")
        );
    }
    assert_eq!(
        store
            .org_key(org.id, 2)
            .await
            .expect("key")
            .expect("exists")
            .kek_version,
        "kek-v1"
    );

    // Retire version 1: no longer usable; version 2 is the current one.
    let mut tx = store.begin().await.expect("begin");
    assert!(
        tx.org_keys_usable(&[(org.id, 1), (org.id, 2), (other.id, 1)])
            .await
            .expect("usable")
    );
    assert_eq!(
        tx.retire_org_keys(org.id, 2, T0 + Duration::days(1))
            .await
            .expect("retire"),
        1
    );
    assert!(!tx.org_keys_usable(&[(org.id, 1)]).await.expect("usable"));
    assert!(
        tx.org_keys_usable(&[(org.id, 2), (other.id, 1)])
            .await
            .expect("usable")
    );
    assert!(!tx.org_keys_usable(&[(org.id, 9)]).await.expect("unknown"));
    tx.commit().await.expect("commit");
    assert_eq!(
        store
            .current_org_key(org.id)
            .await
            .expect("current")
            .map(|k| k.version),
        Some(2)
    );
    let mut tx = store.begin().await.expect("begin");
    assert_eq!(
        tx.retire_org_keys(org.id, 2, T0)
            .await
            .expect("retire again"),
        0
    );
    assert_eq!(
        tx.destroy_retired_org_keys(org.id, 2)
            .await
            .expect("destroy"),
        1
    );
    assert_eq!(
        tx.destroy_retired_org_keys(org.id, 2)
            .await
            .expect("destroy again"),
        0
    );
    assert!(
        !tx.rewrap_org_key(org.id, 1, "kek-v2", &[1; 10], "kek-v3")
            .await
            .expect("a destroyed identity is not re-wrapped")
    );
    tx.commit().await.expect("commit");
    let gone = store
        .org_key(org.id, 1)
        .await
        .expect("key")
        .expect("row stays");
    assert!(gone.wrapped_identity.is_empty());
    assert_eq!(gone.retired_at, Some(micros(T0 + Duration::days(1))));
    assert_eq!(
        store
            .org_key(other.id, 1)
            .await
            .expect("key")
            .expect("exists")
            .wrapped_identity,
        vec![1u8; 60]
    );
}

/// The user secrets sealed to an organisation's identities (TOTP seeds of its users and
/// pending seeds of their unused enrolment links) are listed for `rotate-org` and replaced
/// with a compare-and-set.
pub async fn user_secrets(store: &dyn Store) {
    let w = world(store).await;
    let link = |used: bool, n: u8| EnrolmentRow {
        id: uuid(),
        user_id: w.receiver.id,
        hash: hash_of(unique()),
        created_at: T0,
        expires_at: T0 + Duration::days(3),
        used_at: used.then_some(T0),
        pending_totp: Some(vec![n; 50]),
    };
    let (open_link, used_link) = (link(false, 7), link(true, 8));
    let mut tx = store.begin().await.expect("begin");
    assert!(
        tx.set_credentials(w.receiver.id, None, Some(&[5u8; 60]))
            .await
            .expect("credentials")
    );
    assert!(
        tx.set_credentials(w.referrer.id, None, None)
            .await
            .expect("credentials")
    );
    tx.insert_enrolment(&open_link).await.expect("link");
    tx.insert_enrolment(&used_link).await.expect("link");
    tx.commit().await.expect("commit");

    let secrets = store.sealed_user_secrets(w.to.id).await.expect("secrets");
    assert_eq!(
        secrets,
        vec![
            SealedUserSecret {
                holder: SecretHolder::User,
                id: w.receiver.id.0,
                user: w.receiver.id,
                sealed: vec![5u8; 60],
            },
            SealedUserSecret {
                holder: SecretHolder::Enrolment,
                id: open_link.id,
                user: w.receiver.id,
                sealed: vec![7u8; 50],
            },
        ]
    );
    assert!(
        store
            .sealed_user_secrets(w.from.id)
            .await
            .expect("secrets")
            .is_empty(),
        "the referrer has no secret"
    );
    let mut tx = store.begin().await.expect("begin");
    assert!(
        tx.reseal_user_secret(SecretHolder::User, w.receiver.id.0, &[5u8; 60], &[6u8; 61])
            .await
            .expect("reseal")
    );
    assert!(
        !tx.reseal_user_secret(SecretHolder::User, w.receiver.id.0, &[5u8; 60], &[9u8; 61])
            .await
            .expect("stale"),
        "compare-and-set"
    );
    assert!(
        tx.reseal_user_secret(
            SecretHolder::Enrolment,
            open_link.id,
            &[7u8; 50],
            &[1u8; 50]
        )
        .await
        .expect("reseal link")
    );
    assert!(
        !tx.reseal_user_secret(
            SecretHolder::Enrolment,
            used_link.id,
            &[8u8; 50],
            &[1u8; 50]
        )
        .await
        .expect("used link"),
        "a used link is left alone"
    );
    tx.commit().await.expect("commit");
    let user = store
        .user_by_id(w.receiver.id)
        .await
        .expect("user")
        .expect("exists");
    assert_eq!(user.totp_secret, Some(vec![6u8; 61]));
    let secrets = store.sealed_user_secrets(w.to.id).await.expect("secrets");
    assert_eq!(secrets[1].sealed, vec![1u8; 50]);
}
