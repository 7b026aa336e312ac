//! Conformance checks of the workflow part of the port: tasks, retention stages, the
//! notification outbox and its mail claims, notice addresses, archive reads.

use time::macros::datetime;

use super::*;

/// Long before every other check's times, so these referrals come first in retention scans.
const OLD: OffsetDateTime = datetime!(1990-03-01 08:00:00.123_456_789 UTC);

/// A referral of `w` filed at `at`, inserted.
async fn filed(store: &dyn Store, w: &World, c: &CaseRow, at: OffsetDateTime) -> ReferralRow {
    let r = referral(w, c, at, at + Duration::hours(24), ReferralStatus::Sent);
    insert_referrals(store, std::slice::from_ref(&r)).await;
    r
}

/// Tasks read back as written, close once (compare-and-set), and need their referral.
pub async fn tasks_round_trip(store: &dyn Store) {
    let w = world(store).await;
    let c = case(store, &w).await;
    let r = filed(store, &w, &c, T0).await;
    let open = TaskRow {
        id: TaskId(uuid()),
        referral_id: r.id,
        kind: "inform_victim".into(),
        created_at: T0,
        done_at: None,
        channel: None,
        closed_by: None,
        closed_at: None,
    };
    let second = TaskRow {
        id: TaskId(uuid()),
        created_at: T0 + Duration::minutes(1),
        ..open.clone()
    };
    let mut tx = store.begin().await.expect("begin");
    tx.insert_task(&open).await.expect("insert task");
    tx.insert_task(&second).await.expect("insert task");
    tx.commit().await.expect("commit");
    let stored = |t: &TaskRow| TaskRow {
        created_at: micros(t.created_at),
        done_at: micros_opt(t.done_at),
        closed_at: micros_opt(t.closed_at),
        ..t.clone()
    };
    assert_eq!(
        store.tasks_of(r.id).await.expect("tasks"),
        vec![stored(&open), stored(&second)]
    );
    assert_eq!(
        store.task(open.id).await.expect("task"),
        Some(stored(&open))
    );
    assert_eq!(store.task(TaskId(uuid())).await.expect("task"), None);

    let closing = TaskClosing {
        done_at: T0 + Duration::hours(2),
        channel: SafetyChannel::InPerson,
        closed_by: w.referrer.id,
        closed_at: T0 + Duration::hours(3),
    };
    let mut tx = store.begin().await.expect("begin");
    assert!(tx.close_task(open.id, &closing).await.expect("close"));
    assert!(
        !tx.close_task(open.id, &closing).await.expect("close again"),
        "a task closes once"
    );
    assert!(
        !tx.close_task(TaskId(uuid()), &closing)
            .await
            .expect("close")
    );
    tx.commit().await.expect("commit");
    let closed = TaskRow {
        done_at: Some(closing.done_at),
        channel: Some(closing.channel),
        closed_by: Some(closing.closed_by),
        closed_at: Some(closing.closed_at),
        ..open.clone()
    };
    assert_eq!(
        store.task(open.id).await.expect("task"),
        Some(stored(&closed))
    );

    let orphan = TaskRow {
        id: TaskId(uuid()),
        referral_id: ReferralId(uuid()),
        ..open.clone()
    };
    let mut tx = store.begin().await.expect("begin");
    assert!(
        tx.insert_task(&orphan).await.is_err(),
        "a task needs its referral"
    );
}

/// Last contact starts at the filing and only moves forward; archiving is a
/// compare-and-set on the cutoff, takes the referral out of both boxes and schedules its
/// shredding; scheduling keeps the earliest date; a case is withdrawn once.
pub async fn retention_stages(store: &dyn Store) {
    let w = world(store).await;
    let c = case(store, &w).await;
    let old = filed(store, &w, &c, OLD).await;
    let recent = filed(store, &w, &c, OLD + Duration::days(400)).await;

    let st = store
        .retention(old.id)
        .await
        .expect("retention")
        .expect("row");
    assert_eq!(st.last_contact_at, micros(OLD));
    assert_eq!(
        (st.archived_at, st.shred_due_at, st.shredded_at),
        (None, None, None)
    );
    assert_eq!(
        store
            .retention(ReferralId(uuid()))
            .await
            .expect("retention"),
        None
    );

    let contact = OLD + Duration::days(10);
    let mut tx = store.begin().await.expect("begin");
    tx.touch_contact(old.id, contact).await.expect("touch");
    tx.touch_contact(old.id, OLD + Duration::days(1))
        .await
        .expect("touch earlier");
    tx.commit().await.expect("commit");
    let st = store
        .retention(old.id)
        .await
        .expect("retention")
        .expect("row");
    assert_eq!(st.last_contact_at, micros(contact), "never moves back");

    let cutoff = OLD + Duration::days(100);
    let mine = |ids: Vec<ReferralId>| -> Vec<ReferralId> {
        ids.into_iter()
            .filter(|i| *i == old.id || *i == recent.id)
            .collect()
    };
    let due = store
        .archive_candidates(cutoff, 500)
        .await
        .expect("candidates");
    assert_eq!(mine(due), vec![old.id]);
    let none_before = store
        .archive_candidates(contact, 500)
        .await
        .expect("candidates");
    assert!(mine(none_before).is_empty(), "the cutoff is exclusive");

    let at = OLD + Duration::days(101);
    let shred_at = at + Duration::days(30);
    let mut tx = store.begin().await.expect("begin");
    assert!(
        !tx.archive(old.id, contact, at, shred_at)
            .await
            .expect("archive"),
        "a contact at the cutoff keeps it"
    );
    assert!(
        tx.archive(old.id, cutoff, at, shred_at)
            .await
            .expect("archive")
    );
    assert!(
        !tx.archive(old.id, cutoff, at, shred_at)
            .await
            .expect("again"),
        "archived once"
    );
    tx.commit().await.expect("commit");
    let st = store
        .retention(old.id)
        .await
        .expect("retention")
        .expect("row");
    assert_eq!(st.archived_at, Some(micros(at)));
    assert_eq!(st.shred_due_at, Some(micros(shred_at)));
    let due = store
        .archive_candidates(cutoff, 500)
        .await
        .expect("candidates");
    assert!(mine(due).is_empty(), "an archived referral is no candidate");

    for (kind, org) in [(BoxKind::Inbox, w.to.id), (BoxKind::Sent, w.from.id)] {
        let q = ListQuery {
            org,
            kind,
            status: None,
            overdue_before: None,
            after: None,
            limit: 200,
        };
        let listed: Vec<_> = store
            .list_referrals(&q)
            .await
            .expect("list")
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert!(!listed.contains(&old.id), "archived: out of the {kind:?}");
        assert!(listed.contains(&recent.id));
    }

    let mine_shred = |ids: Vec<ReferralId>| -> Vec<ReferralId> {
        ids.into_iter()
            .filter(|i| *i == old.id || *i == recent.id)
            .collect()
    };
    let soon = store
        .shred_candidates(shred_at - Duration::seconds(1), 500)
        .await
        .expect("shred candidates");
    assert!(mine_shred(soon).is_empty());
    let now_due = store
        .shred_candidates(shred_at, 500)
        .await
        .expect("shred candidates");
    assert_eq!(mine_shred(now_due), vec![old.id]);

    let mut tx = store.begin().await.expect("begin");
    tx.schedule_shred(recent.id, shred_at + Duration::days(1))
        .await
        .expect("schedule");
    tx.schedule_shred(recent.id, shred_at + Duration::days(5))
        .await
        .expect("schedule later");
    tx.commit().await.expect("commit");
    let st = store
        .retention(recent.id)
        .await
        .expect("retention")
        .expect("row");
    assert_eq!(st.shred_due_at, Some(micros(shred_at + Duration::days(1))));
    assert_eq!(st.archived_at, None);

    let mut tx = store.begin().await.expect("begin");
    assert!(tx.set_case_withdrawn(c.id, T0).await.expect("withdraw"));
    assert!(!tx.set_case_withdrawn(c.id, T0).await.expect("again"));
    tx.commit().await.expect("commit");
    let got = store.case(c.id).await.expect("case").expect("row");
    assert_eq!(got.withdrawn_at, Some(micros(T0)));
}

/// Notifications page newest first; mail claims take only notices of organisations with
/// an address, once until their claim expires; mailed and given-up notices are never
/// claimed again; addresses are set, replaced and removed.
pub async fn notification_outbox(store: &dyn Store) {
    let w = world(store).await;
    let c = case(store, &w).await;
    let r = filed(store, &w, &c, T0).await;
    let base = datetime!(2031-05-05 12:00:00.000_001_999 UTC);
    let notes: Vec<NotificationRow> = (0..5i64)
        .map(|i| NotificationRow {
            id: uuid(),
            org_id: w.to.id,
            kind: if i % 2 == 0 {
                "referral.waiting"
            } else {
                "consent.withdrawn"
            }
            .into(),
            referral_id: (i % 2 == 0).then_some(r.id),
            case_id: Some(c.id),
            created_at: base + Duration::minutes(i / 2),
            mailed_at: None,
        })
        .collect();
    let other = NotificationRow {
        id: uuid(),
        org_id: w.from.id,
        created_at: base,
        ..notes[0].clone()
    };
    let mut tx = store.begin().await.expect("begin");
    for n in notes.iter().chain([&other]) {
        tx.insert_notification(n)
            .await
            .expect("insert notification");
    }
    tx.commit().await.expect("commit");

    let mut expected: Vec<NotificationRow> = notes
        .iter()
        .map(|n| NotificationRow {
            created_at: micros(n.created_at),
            ..n.clone()
        })
        .collect();
    expected.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
    let mut seen = Vec::new();
    let mut q = NotificationQuery {
        org: w.to.id,
        after: None,
        limit: 2,
    };
    loop {
        let page = store.notifications(&q).await.expect("notifications");
        let Some(last) = page.last() else { break };
        q.after = Some((last.created_at, last.id));
        let full = page.len() == 2;
        seen.extend(page);
        if !full {
            break;
        }
    }
    assert_eq!(
        seen, expected,
        "newest first, (created_at desc, id), every one once"
    );

    // No address: nothing to claim for this organisation.
    let since = base - Duration::days(1);
    let now = base + Duration::hours(1);
    let claims = store
        .claim_mail(now, since, now + Duration::minutes(5), 100)
        .await
        .expect("claim");
    assert!(claims.iter().all(|j| !notes.iter().any(|n| n.id == j.id)));

    assert_eq!(store.org_email(w.to.id).await.expect("email"), None);
    let mut tx = store.begin().await.expect("begin");
    tx.set_org_email(w.to.id, Some("old@example.org"))
        .await
        .expect("set");
    tx.set_org_email(w.to.id, Some("accueil@example.org"))
        .await
        .expect("replace");
    tx.commit().await.expect("commit");
    assert_eq!(
        store.org_email(w.to.id).await.expect("email").as_deref(),
        Some("accueil@example.org")
    );

    let claims = store
        .claim_mail(now, since, now + Duration::minutes(5), 100)
        .await
        .expect("claim");
    let mut claimed: Vec<_> = claims
        .iter()
        .filter(|j| notes.iter().any(|n| n.id == j.id))
        .collect();
    claimed.sort_by_key(|j| j.id);
    assert_eq!(claimed.len(), 5);
    assert!(
        claimed
            .iter()
            .all(|j| j.to == "accueil@example.org" && j.attempts == 1)
    );
    assert!(
        claimed
            .iter()
            .all(|j| notes.iter().any(|n| n.id == j.id && n.kind == j.kind))
    );
    let again = store
        .claim_mail(now, since, now + Duration::minutes(5), 100)
        .await
        .expect("claim");
    assert!(
        again.iter().all(|j| !notes.iter().any(|n| n.id == j.id)),
        "claimed notices wait for their claim to expire"
    );
    let (done, failed, gave_up) = (notes[0].id, notes[1].id, notes[2].id);
    store.mark_mailed(done, now).await.expect("mailed");
    store
        .mark_mail_failed(failed, now, false)
        .await
        .expect("failed");
    store
        .mark_mail_failed(gave_up, now, true)
        .await
        .expect("give up");
    let later = now + Duration::minutes(6);
    let retry = store
        .claim_mail(later, since, later + Duration::minutes(5), 100)
        .await
        .expect("claim");
    let mut retried: Vec<_> = retry
        .iter()
        .filter(|j| notes.iter().any(|n| n.id == j.id))
        .map(|j| (j.id, j.attempts))
        .collect();
    retried.sort();
    let mut want = vec![(failed, 2), (notes[3].id, 2), (notes[4].id, 2)];
    want.sort();
    assert_eq!(retried, want, "mailed and given-up notices are done");
    let listed = store
        .notifications(&NotificationQuery {
            org: w.to.id,
            after: None,
            limit: 10,
        })
        .await
        .expect("notifications");
    let mailed = listed.iter().find(|n| n.id == done).expect("listed");
    assert_eq!(mailed.mailed_at, Some(micros(now)));
    let too_old = store
        .claim_mail(
            later + Duration::minutes(10),
            later + Duration::days(1),
            later + Duration::minutes(15),
            100,
        )
        .await
        .expect("claim");
    assert!(
        too_old.iter().all(|j| !notes.iter().any(|n| n.id == j.id)),
        "notices older than `since` are not mailed"
    );

    let mut tx = store.begin().await.expect("begin");
    tx.set_org_email(w.to.id, None).await.expect("remove");
    tx.commit().await.expect("commit");
    assert_eq!(store.org_email(w.to.id).await.expect("email"), None);
}

/// An archive read is recorded with its sealed reason and needs its referral.
pub async fn archive_reads(store: &dyn Store) {
    let w = world(store).await;
    let c = case(store, &w).await;
    let r = filed(store, &w, &c, T0).await;
    let read = ArchiveReadRow {
        id: uuid(),
        referral_id: r.id,
        actor: w.receiver.id,
        at: T0,
        sealed_reason: b"age-encryption.org/v1 reason".to_vec(),
    };
    let mut tx = store.begin().await.expect("begin");
    tx.insert_archive_read(&read).await.expect("insert");
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    let orphan = ArchiveReadRow {
        id: uuid(),
        referral_id: ReferralId(uuid()),
        ..read
    };
    assert!(tx.insert_archive_read(&orphan).await.is_err());
}
