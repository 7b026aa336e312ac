//! Conformance checks of the identity part of the port ([`IdentityStore`], [`IdentityTx`],
//! [`StatsStore`]): what one backend does with enrolment links, sessions, the login guard
//! and statistics, the other does too.

use super::*;

/// Runs every identity check.
pub async fn run_all(store: &dyn Store) {
    enrolment_links(store).await;
    credentials_and_disabling(store).await;
    sessions(store).await;
    login_guard(store).await;
    tokens_of_a_user(store).await;
    token_auth_joins_user_and_org(store).await;
    referral_timings(store).await;
}

async fn commit(tx: Box<dyn StoreTx>) {
    tx.commit().await.expect("commit");
}

/// Links: by hash, pending TOTP secret, one use only, expiry, voiding.
pub async fn enrolment_links(store: &dyn Store) {
    let w = world(store).await;
    let link = |n: u64, expires: OffsetDateTime| EnrolmentRow {
        id: uuid(),
        user_id: w.receiver.id,
        hash: hash_of(unique() ^ n),
        created_at: T0,
        expires_at: expires,
        used_at: None,
        pending_totp: None,
    };
    let a = link(1, T0 + Duration::hours(72));
    let b = link(2, T0 + Duration::hours(72));
    let expired = link(3, T0 + Duration::minutes(1));
    let mut tx = store.begin().await.expect("begin");
    for l in [&a, &b, &expired] {
        tx.insert_enrolment(l).await.expect("insert enrolment");
    }
    commit(tx).await;
    let mut dup = store.begin().await.expect("begin");
    expect_conflict(dup.insert_enrolment(&a).await, "same link twice");
    drop(dup);

    let stored = |l: &EnrolmentRow| EnrolmentRow {
        created_at: micros(l.created_at),
        expires_at: micros(l.expires_at),
        used_at: micros_opt(l.used_at),
        ..l.clone()
    };
    assert_eq!(
        store.enrolment_by_hash(&a.hash).await.expect("by hash"),
        Some(stored(&a))
    );
    assert_eq!(
        store
            .enrolment_by_hash(&hash_of(unique()))
            .await
            .expect("by hash"),
        None
    );

    let mut tx = store.begin().await.expect("begin");
    assert!(tx.set_enrolment_totp(a.id, b"sealed").await.expect("totp"));
    commit(tx).await;
    let got = store.enrolment_by_hash(&a.hash).await.expect("by hash");
    assert_eq!(got.and_then(|e| e.pending_totp), Some(b"sealed".to_vec()));

    let now = T0 + Duration::hours(1) + Duration::nanoseconds(777);
    let mut tx = store.begin().await.expect("begin");
    assert!(tx.use_enrolment(a.id, now).await.expect("use"));
    assert!(
        !tx.use_enrolment(a.id, now).await.expect("use again"),
        "a link works once"
    );
    assert!(
        !tx.use_enrolment(expired.id, now)
            .await
            .expect("use expired"),
        "an expired link does not work"
    );
    assert!(
        !tx.set_enrolment_totp(a.id, b"other").await.expect("totp"),
        "a used link keeps no secret"
    );
    commit(tx).await;
    let used = store
        .enrolment_by_hash(&a.hash)
        .await
        .expect("by hash")
        .expect("link");
    assert_eq!(used.used_at, Some(micros(now)));
    assert_eq!(used.pending_totp, None, "the pending secret is forgotten");

    let mut tx = store.begin().await.expect("begin");
    assert_eq!(
        tx.void_enrolments(w.receiver.id, now).await.expect("void"),
        2,
        "b and the expired link were unused"
    );
    assert_eq!(
        tx.void_enrolments(w.receiver.id, now).await.expect("void"),
        0
    );
    assert!(!tx.use_enrolment(b.id, now).await.expect("use voided"));
    commit(tx).await;
}

/// Credentials are set and cleared; disabling happens once.
pub async fn credentials_and_disabling(store: &dyn Store) {
    let w = world(store).await;
    let id = w.referrer.id;
    let mut tx = store.begin().await.expect("begin");
    assert!(
        tx.set_credentials(id, Some("$argon2id$new"), Some(&[9, 9]))
            .await
            .expect("set")
    );
    assert!(
        !tx.set_credentials(UserId(uuid()), None, None)
            .await
            .expect("set unknown")
    );
    commit(tx).await;
    let u = store.user_by_id(id).await.expect("user").expect("exists");
    assert_eq!(u.password_hash.as_deref(), Some("$argon2id$new"));
    assert_eq!(u.totp_secret, Some(vec![9, 9]));

    let mut tx = store.begin().await.expect("begin");
    assert!(tx.set_credentials(id, None, None).await.expect("clear"));
    assert!(tx.disable_user(id).await.expect("disable"));
    assert!(!tx.disable_user(id).await.expect("disable again"));
    commit(tx).await;
    let u = store.user_by_id(id).await.expect("user").expect("exists");
    assert_eq!((u.password_hash, u.totp_secret), (None, None));
    assert!(u.disabled, "disabled, not deleted");
}

/// Sessions: by hash, touched, ended one by one or all at once.
pub async fn sessions(store: &dyn Store) {
    let w = world(store).await;
    let user = w.receiver.id;
    let session = || SessionRow {
        id: uuid(),
        user_id: user,
        hash: hash_of(unique()),
        created_at: T0,
        last_seen_at: T0,
        expires_at: T0 + Duration::hours(12),
        ended_at: None,
    };
    let (a, b, c) = (session(), session(), session());
    let mut tx = store.begin().await.expect("begin");
    for s in [&a, &b, &c] {
        tx.insert_session(s).await.expect("insert session");
    }
    commit(tx).await;
    let stored = |s: &SessionRow| SessionRow {
        created_at: micros(s.created_at),
        last_seen_at: micros(s.last_seen_at),
        expires_at: micros(s.expires_at),
        ended_at: micros_opt(s.ended_at),
        ..s.clone()
    };
    assert_eq!(
        store.session_by_hash(&a.hash).await.expect("by hash"),
        Some(stored(&a))
    );
    assert_eq!(
        store
            .session_by_hash(&hash_of(unique()))
            .await
            .expect("by hash"),
        None
    );

    let later = T0 + Duration::minutes(7) + Duration::nanoseconds(1_999);
    let mut tx = store.begin().await.expect("begin");
    assert!(tx.touch_session(a.id, later).await.expect("touch"));
    assert!(tx.end_session(b.id, later).await.expect("end"));
    assert!(!tx.end_session(b.id, later).await.expect("end again"));
    assert!(!tx.touch_session(b.id, later).await.expect("touch ended"));
    commit(tx).await;
    let got = store
        .session_by_hash(&a.hash)
        .await
        .expect("by hash")
        .expect("session");
    assert_eq!(got.last_seen_at, micros(later));
    let got = store
        .session_by_hash(&b.hash)
        .await
        .expect("by hash")
        .expect("session");
    assert_eq!(got.ended_at, Some(micros(later)));

    let mut tx = store.begin().await.expect("begin");
    assert_eq!(tx.end_sessions_of(user, later).await.expect("end all"), 2);
    assert_eq!(tx.end_sessions_of(user, later).await.expect("end all"), 0);
    commit(tx).await;
    for s in [&a, &c] {
        let got = store.session_by_hash(&s.hash).await.expect("by hash");
        assert!(got.and_then(|s| s.ended_at).is_some());
    }
}

/// Failed logins count atomically, lock, clear; a TOTP step is accepted once, in order.
pub async fn login_guard(store: &dyn Store) {
    let w = world(store).await;
    let user = w.referrer.id;
    assert_eq!(
        store.auth_state(user).await.expect("state"),
        AuthStateRow::default()
    );
    let mut tx = store.begin().await.expect("begin");
    assert_eq!(tx.bump_login_failures(user).await.expect("bump"), 1);
    assert_eq!(tx.bump_login_failures(user).await.expect("bump"), 2);
    commit(tx).await;
    let mut tx = store.begin().await.expect("begin");
    assert_eq!(tx.bump_login_failures(user).await.expect("bump"), 3);
    drop(tx);
    assert_eq!(
        store.auth_state(user).await.expect("state").failed_logins,
        2,
        "a rolled back failure does not count"
    );

    let until = T0 + Duration::minutes(15) + Duration::nanoseconds(5_432);
    let mut tx = store.begin().await.expect("begin");
    tx.lock_account(user, until).await.expect("lock");
    commit(tx).await;
    let state = store.auth_state(user).await.expect("state");
    assert_eq!(state.failed_logins, 0);
    assert_eq!(state.locked_until, Some(micros(until)));

    let mut tx = store.begin().await.expect("begin");
    tx.bump_login_failures(user).await.expect("bump");
    tx.clear_login_failures(user).await.expect("clear");
    commit(tx).await;
    let state = store.auth_state(user).await.expect("state");
    assert_eq!((state.failed_logins, state.locked_until), (0, None));

    let mut tx = store.begin().await.expect("begin");
    assert!(tx.claim_totp_step(user, 59_000_000).await.expect("claim"));
    assert!(!tx.claim_totp_step(user, 59_000_000).await.expect("replay"));
    assert!(!tx.claim_totp_step(user, 58_999_999).await.expect("older"));
    assert!(tx.claim_totp_step(user, 59_000_001).await.expect("newer"));
    commit(tx).await;
    let state = store.auth_state(user).await.expect("state");
    assert_eq!(state.totp_last_step, Some(59_000_001));
    // The lock columns and the step live side by side.
    let other = w.receiver.id;
    let mut tx = store.begin().await.expect("begin");
    tx.lock_account(other, until).await.expect("lock");
    assert!(tx.claim_totp_step(other, 7).await.expect("claim"));
    assert_eq!(tx.bump_login_failures(other).await.expect("bump"), 1);
    commit(tx).await;
    let state = store.auth_state(other).await.expect("state");
    assert_eq!(
        state,
        AuthStateRow {
            failed_logins: 1,
            locked_until: Some(micros(until)),
            totp_last_step: Some(7),
        }
    );
}

/// Every token of a user, newest first; revoking all of them at once.
pub async fn tokens_of_a_user(store: &dyn Store) {
    let w = world(store).await;
    let token = |minutes: i64| TokenRow {
        id: TokenId(uuid()),
        user_id: w.receiver.id,
        hash: hash_of(unique()),
        created_at: T0 + Duration::minutes(minutes),
        expires_at: T0 + Duration::hours(24),
        revoked_at: None,
    };
    let (old, new) = (token(1), token(2));
    let mut tx = store.begin().await.expect("begin");
    tx.insert_token(&old).await.expect("insert");
    tx.insert_token(&new).await.expect("insert");
    commit(tx).await;
    let stored = |t: &TokenRow, revoked: Option<OffsetDateTime>| TokenRow {
        created_at: micros(t.created_at),
        expires_at: micros(t.expires_at),
        revoked_at: revoked.map(micros),
        ..t.clone()
    };
    assert_eq!(
        store.tokens_of_user(w.receiver.id).await.expect("tokens"),
        vec![stored(&new, None), stored(&old, None)]
    );
    assert!(
        store
            .tokens_of_user(w.referrer.id)
            .await
            .expect("tokens")
            .is_empty()
    );
    let at = T0 + Duration::hours(1);
    let mut tx = store.begin().await.expect("begin");
    assert!(tx.revoke_token(old.id, at).await.expect("revoke one"));
    assert_eq!(
        tx.revoke_tokens_of(w.receiver.id, at)
            .await
            .expect("revoke"),
        1
    );
    commit(tx).await;
    assert_eq!(
        store.tokens_of_user(w.receiver.id).await.expect("tokens"),
        vec![stored(&new, Some(at)), stored(&old, Some(at))]
    );
}

/// One read authenticates a token: its validity, its user and the user's organisation, as
/// stored now (a revocation or a disabling shows on the next read).
pub async fn token_auth_joins_user_and_org(store: &dyn Store) {
    let w = world(store).await;
    let mut nurse = user_row(&w.to, Role::Receiver);
    nurse.health_professional = true;
    let token = |user: &UserRow, hours: i64| TokenRow {
        id: TokenId(uuid()),
        user_id: user.id,
        hash: hash_of(unique()),
        created_at: T0,
        expires_at: T0 + Duration::hours(hours),
        revoked_at: None,
    };
    let (a, b, c) = (token(&nurse, 24), token(&w.referrer, 1), token(&nurse, 48));
    let mut tx = store.begin().await.expect("begin");
    tx.insert_user(&nurse).await.expect("insert user");
    for t in [&a, &b, &c] {
        tx.insert_token(t).await.expect("insert token");
    }
    commit(tx).await;
    let expected = |t: &TokenRow, u: &UserRow, org: &OrgRow| TokenAuthRow {
        token_id: t.id,
        expires_at: micros(t.expires_at),
        revoked_at: None,
        user_id: u.id,
        username: u.username.clone(),
        role: u.role,
        health_professional: u.health_professional,
        disabled: false,
        org_id: org.id,
        org: Some((org.slug.clone(), org.kind)),
    };
    assert_eq!(
        store.token_auth(&a.hash).await.expect("token auth"),
        Some(expected(&a, &nurse, &w.to))
    );
    assert_eq!(
        store.token_auth(&b.hash).await.expect("token auth"),
        Some(expected(&b, &w.referrer, &w.from))
    );
    assert_eq!(
        store
            .token_auth(&hash_of(unique()))
            .await
            .expect("token auth"),
        None
    );

    let at = T0 + Duration::minutes(30);
    let mut tx = store.begin().await.expect("begin");
    assert!(tx.revoke_token(a.id, at).await.expect("revoke"));
    assert!(tx.disable_user(w.referrer.id).await.expect("disable"));
    commit(tx).await;
    assert_eq!(
        store.token_auth(&a.hash).await.expect("token auth"),
        Some(TokenAuthRow {
            revoked_at: Some(micros(at)),
            ..expected(&a, &nurse, &w.to)
        })
    );
    assert_eq!(
        store.token_auth(&b.hash).await.expect("token auth"),
        Some(TokenAuthRow {
            disabled: true,
            ..expected(&b, &w.referrer, &w.from)
        })
    );
    assert_eq!(
        store.token_auth(&c.hash).await.expect("token auth"),
        Some(expected(&c, &nurse, &w.to)),
        "another token of the same user is unaffected"
    );
}

/// Timings: sent and received flags, and the first answer of the receiver.
pub async fn referral_timings(store: &dyn Store) {
    let w = world(store).await;
    let c = case(store, &w).await;
    let answered = referral(&w, &c, T0, T0 + Duration::hours(1), ReferralStatus::Sent);
    let waiting = referral(&w, &c, T0, T0 + Duration::hours(2), ReferralStatus::Sent);
    insert_referrals(store, &[answered.clone(), waiting.clone()]).await;
    let event = |status, minutes: i64| ReferralEventRow {
        referral_id: answered.id,
        at: T0 + Duration::minutes(minutes),
        status,
        actor: Some(w.receiver.id),
        outcome: None,
        sealed_detail: None,
        suggested_org: None,
    };
    let mut tx = store.begin().await.expect("begin");
    let ack = event(ReferralStatus::Acknowledged, 42);
    assert!(
        tx.transition(answered.id, ReferralStatus::Sent, &ack)
            .await
            .expect("ack")
    );
    let accept = event(ReferralStatus::Accepted, 50);
    assert!(
        tx.transition(answered.id, ReferralStatus::Acknowledged, &accept)
            .await
            .expect("accept")
    );
    commit(tx).await;

    let mut got = store.referral_timings(w.to.id).await.expect("timings");
    got.sort_by_key(|t| t.due_at);
    assert_eq!(
        got,
        vec![
            ReferralTimingRow {
                sent: false,
                received: true,
                status: ReferralStatus::Accepted,
                created_at: micros(T0),
                due_at: micros(T0 + Duration::hours(1)),
                first_response_at: Some(micros(T0 + Duration::minutes(42))),
            },
            ReferralTimingRow {
                sent: false,
                received: true,
                status: ReferralStatus::Sent,
                created_at: micros(T0),
                due_at: micros(T0 + Duration::hours(2)),
                first_response_at: None,
            },
        ]
    );
    let sent = store.referral_timings(w.from.id).await.expect("timings");
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|t| t.sent && !t.received));
    let nobody = org_row(OrgKind::Shelter);
    assert!(
        store
            .referral_timings(nobody.id)
            .await
            .expect("timings")
            .is_empty()
    );
}
