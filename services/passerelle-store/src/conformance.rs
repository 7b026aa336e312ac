//! The backend-independent conformance suite of the storage port (feature `conformance`).
//!
//! Every adapter runs the same checks on a freshly migrated database of its own
//! (`tests/conformance.rs` in each adapter crate): what one backend does, the other does
//! too. Each check creates its own organisations, users and cases with unique slugs and ids,
//! so checks may share a database and run in any order; the audit checks only look at the
//! leaves they appended, except those that verify the whole log (dense seqs, root).
//!
//! A check panics (like `assert!`) on the first difference. Times written carry
//! nanoseconds on purpose: both backends keep microseconds, rounded down, and the checks
//! compare against [`micros`].

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use passerelle_domain::audit::HeadSigner;
use passerelle_domain::enums::*;
use passerelle_domain::ids::*;
use passerelle_domain::merkle::{self, CompactRange};
use passerelle_domain::model::ConsentTerms;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::*;

mod workflow;
pub use workflow::*;
pub mod identity;
pub mod ops;

/// Raw SQL, for the guards the port cannot express (the append-only audit table). Each
/// adapter's test implements it over its own pool.
#[async_trait]
pub trait RawExec: Send + Sync {
    /// Executes one statement outside any port transaction; the rows affected, or the
    /// database's refusal as an error.
    async fn execute(&self, sql: &'static str) -> StoreResult<u64>;
}

/// A head signer for tests: a readable, deterministic checkpoint of size and root.
#[derive(Debug, Clone, Copy, Default)]
pub struct TestSigner;

impl HeadSigner for TestSigner {
    fn sign_head(&self, size: u64, root: &[u8; 32]) -> String {
        test_checkpoint(size, root)
    }
}

/// The checkpoint [`TestSigner`] returns for `size` and `root`.
pub fn test_checkpoint(size: u64, root: &[u8; 32]) -> String {
    format!("passerelle-test-log\n{size}\n{}\n", hex(root))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `t` rounded down to the microsecond: what both backends store.
pub fn micros(t: OffsetDateTime) -> OffsetDateTime {
    let extra = t.unix_timestamp_nanos().rem_euclid(1000);
    t - Duration::nanoseconds(extra as i64)
}

fn micros_opt(t: Option<OffsetDateTime>) -> Option<OffsetDateTime> {
    t.map(micros)
}

/// A fixed instant with nanoseconds, so that rounding is exercised.
const T0: OffsetDateTime = datetime!(2026-11-29 10:00:00.123_456_789 UTC);

// ---------------------------------------------------------------------------------------
// Unique, scattered ids and names
// ---------------------------------------------------------------------------------------

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A new value, unique in this process and (with overwhelming likelihood) in the database.
fn unique() -> u64 {
    static SALT: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let salt = *SALT.get_or_init(|| {
        let now = OffsetDateTime::now_utc().unix_timestamp_nanos() as u64;
        splitmix(now ^ u64::from(std::process::id()).rotate_left(32))
    });
    splitmix(salt ^ COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A version-4-shaped UUID whose bytes are scattered (so `id` order is not insert order).
fn uuid() -> Uuid {
    let (a, b) = (unique(), unique());
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_be_bytes());
    bytes[8..].copy_from_slice(&b.to_be_bytes());
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// A unique name, valid as an organisation slug and as a username.
fn name(prefix: &str) -> String {
    format!("{prefix}-{:012x}", unique() >> 16)
}

fn hash_of(n: u64) -> [u8; 32] {
    let mut h = [0u8; 32];
    for (i, chunk) in h.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&splitmix(n ^ i as u64).to_be_bytes());
    }
    h
}

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// Two organisations, a referrer in the first and a receiver in the second.
struct World {
    from: OrgRow,
    to: OrgRow,
    referrer: UserRow,
    receiver: UserRow,
}

fn org_row(kind: OrgKind) -> OrgRow {
    let slug = name("o");
    OrgRow {
        id: OrgId(uuid()),
        slug: OrgSlug::parse(&slug).expect("valid slug"),
        name: format!("Organisation {slug}"),
        kind,
        created_at: T0,
    }
}

fn user_row(org: &OrgRow, role: Role) -> UserRow {
    UserRow {
        id: UserId(uuid()),
        username: Username::parse(&name("u")).expect("valid username"),
        org_id: org.id,
        role,
        health_professional: false,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        totp_secret: Some(vec![1, 2, 3, 4]),
        disabled: false,
        created_at: T0,
    }
}

async fn world(store: &dyn Store) -> World {
    let from = org_row(OrgKind::Police);
    let to = org_row(OrgKind::Association);
    let w = World {
        referrer: user_row(&from, Role::Referrer),
        receiver: user_row(&to, Role::Receiver),
        from,
        to,
    };
    let mut tx = store.begin().await.expect("begin");
    tx.insert_org(&w.from).await.expect("insert org");
    tx.insert_org(&w.to).await.expect("insert org");
    tx.insert_user(&w.referrer).await.expect("insert user");
    tx.insert_user(&w.receiver).await.expect("insert user");
    tx.commit().await.expect("commit");
    w
}

fn terms(w: &World) -> ConsentTerms {
    ConsentTerms {
        basis: ConsentBasis::Consent,
        method: ConsentMethod::Written,
        obtained_at: T0,
        recipients: vec![w.to.slug.clone()],
        purposes: vec![Purpose::PsychologicalSupport, Purpose::CourtProceedings],
        data_categories: vec![DataCategory::Identity, DataCategory::Risk],
        expires_at: T0 + Duration::days(365),
    }
}

async fn case(store: &dyn Store, w: &World) -> CaseRow {
    let c = CaseRow {
        id: CaseId(uuid()),
        created_at: T0,
        terms: terms(w),
        withdrawn_at: None,
    };
    let mut tx = store.begin().await.expect("begin");
    tx.insert_case(&c).await.expect("insert case");
    tx.commit().await.expect("commit");
    c
}

/// A referral from `w.from` to `w.to`, with sealed-looking content.
fn referral(
    w: &World,
    c: &CaseRow,
    created_at: OffsetDateTime,
    due_at: OffsetDateTime,
    status: ReferralStatus,
) -> ReferralRow {
    let id = ReferralId(uuid());
    let content = format!("age-encryption.org/v1 sealed {id}").into_bytes();
    ReferralRow {
        id,
        case_id: c.id,
        reference: format!("PSR-{}", &name("r")[2..]),
        parent_id: None,
        from_org: w.from.id,
        from_slug: w.from.slug.clone(),
        to_org: w.to.id,
        to_slug: w.to.slug.clone(),
        purpose: Purpose::PsychologicalSupport,
        urgency: Urgency::High,
        status,
        basis: ConsentBasis::Consent,
        categories: vec![DataCategory::Identity, DataCategory::Risk],
        created_by: w.referrer.id,
        created_at,
        due_at,
        updated_at: created_at,
        recipient: format!("age1test{}", hex(&hash_of(unique())[..8])),
        content,
        content_sha256: hash_of(unique()),
        shredded_at: None,
    }
}

async fn insert_referrals(store: &dyn Store, rows: &[ReferralRow]) {
    let mut tx = store.begin().await.expect("begin");
    for r in rows {
        tx.insert_referral(r).await.expect("insert referral");
    }
    tx.commit().await.expect("commit");
}

/// What a read returns for a written referral: times rounded, content as asked.
fn as_stored(r: &ReferralRow, with_content: bool) -> ReferralRow {
    ReferralRow {
        created_at: micros(r.created_at),
        due_at: micros(r.due_at),
        updated_at: micros(r.updated_at),
        shredded_at: micros_opt(r.shredded_at),
        content: if with_content {
            r.content.clone()
        } else {
            Vec::new()
        },
        ..r.clone()
    }
}

fn expect_conflict<T: std::fmt::Debug>(r: StoreResult<T>, what: &str) {
    match r {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{what}: expected Conflict, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------------------

/// Runs every check on `store` (migrated already), in an order where each is independent.
pub async fn run_all(store: &dyn Store, raw: &dyn RawExec) {
    migrate_is_idempotent(store).await;
    orgs_users_tokens_round_trip(store).await;
    uniqueness_is_conflict(store).await;
    dropped_transaction_rolls_back(store).await;
    referral_round_trip(store).await;
    box_paging(store).await;
    overdue_filter(store).await;
    transition_compare_and_set(store).await;
    key_wraps(store).await;
    audit_append(store).await;
    audit_rollback(store).await;
    audit_append_only(store, raw).await;
    audit_search(store).await;
    audit_leaf_batches(store).await;
    tasks_round_trip(store).await;
    retention_stages(store).await;
    notification_outbox(store).await;
    archive_reads(store).await;
    identity::run_all(store).await;
}

/// Migrating an up-to-date database again changes nothing and fails nothing.
pub async fn migrate_is_idempotent(store: &dyn Store) {
    store.migrate().await.expect("second migrate");
    store.migrate().await.expect("third migrate");
    store.ping().await.expect("ping");
    store.audit_head().await.expect("audit head readable");
    assert!(matches!(store.backend(), "sqlite" | "postgres"));
}

/// Organisations, their key versions, users and tokens read back as written.
pub async fn orgs_users_tokens_round_trip(store: &dyn Store) {
    let org = org_row(OrgKind::Hospital);
    let keyless = org_row(OrgKind::Court);
    let key = |version: i32, retired: bool| OrgKeyRow {
        org_id: org.id,
        version,
        recipient: format!("age1org{version}"),
        wrapped_identity: vec![version as u8; 40],
        kek_version: "kek-v1".into(),
        created_at: T0 + Duration::minutes(version.into()),
        retired_at: retired.then(|| T0 + Duration::days(1)),
    };
    let (k1, k2, k3) = (key(1, true), key(2, false), key(3, true));
    let mut alice = user_row(&org, Role::Receiver);
    alice.health_professional = true;
    let mut bob = user_row(&org, Role::Coordinator);
    bob.password_hash = None;
    bob.totp_secret = None;
    bob.disabled = true;
    let token = TokenRow {
        id: TokenId(uuid()),
        user_id: alice.id,
        hash: hash_of(unique()),
        created_at: T0,
        expires_at: T0 + Duration::hours(24),
        revoked_at: None,
    };

    let mut tx = store.begin().await.expect("begin");
    tx.insert_org(&org).await.expect("insert org");
    tx.insert_org(&keyless).await.expect("insert org");
    for k in [&k1, &k2, &k3] {
        tx.insert_org_key(k).await.expect("insert org key");
    }
    tx.insert_user(&alice).await.expect("insert user");
    tx.insert_user(&bob).await.expect("insert user");
    tx.insert_token(&token).await.expect("insert token");
    tx.commit().await.expect("commit");

    let stored_org = OrgRow {
        created_at: micros(org.created_at),
        ..org.clone()
    };
    let got = store
        .org_by_slug(org.slug.as_str())
        .await
        .expect("org by slug");
    assert_eq!(got.as_ref(), Some(&stored_org));
    assert_eq!(
        store.org_by_id(org.id).await.expect("org by id"),
        Some(stored_org.clone())
    );
    assert_eq!(
        store.org_by_slug("no-such-org").await.expect("org by slug"),
        None
    );
    assert_eq!(
        store.org_by_id(OrgId(uuid())).await.expect("org by id"),
        None
    );
    let orgs = store.list_orgs().await.expect("list orgs");
    assert!(orgs.contains(&stored_org));
    assert!(
        orgs.windows(2).all(|p| p[0].slug < p[1].slug),
        "orgs sorted by slug"
    );

    let stored_key = |k: &OrgKeyRow| OrgKeyRow {
        created_at: micros(k.created_at),
        retired_at: micros_opt(k.retired_at),
        ..k.clone()
    };
    assert_eq!(
        store.current_org_key(org.id).await.expect("current key"),
        Some(stored_key(&k2))
    );
    assert_eq!(
        store
            .current_org_key(keyless.id)
            .await
            .expect("current key"),
        None
    );
    assert_eq!(
        store.org_key(org.id, 1).await.expect("key"),
        Some(stored_key(&k1))
    );
    assert_eq!(store.org_key(org.id, 9).await.expect("key"), None);
    let keys: Vec<OrgKeyRow> = store
        .all_org_keys()
        .await
        .expect("all keys")
        .into_iter()
        .filter(|k| k.org_id == org.id)
        .collect();
    assert_eq!(
        keys,
        vec![stored_key(&k1), stored_key(&k2), stored_key(&k3)]
    );

    let stored_user = |u: &UserRow| UserRow {
        created_at: micros(u.created_at),
        ..u.clone()
    };
    let got = store
        .user_by_username(alice.username.as_str())
        .await
        .expect("user");
    assert_eq!(got, Some(stored_user(&alice)));
    assert_eq!(
        store.user_by_id(bob.id).await.expect("user"),
        Some(stored_user(&bob))
    );
    assert_eq!(store.user_by_username("nobody").await.expect("user"), None);
    let mut both = vec![stored_user(&alice), stored_user(&bob)];
    both.sort_by(|a, b| a.username.cmp(&b.username));
    assert_eq!(
        store.users_of_org(org.id).await.expect("users of org"),
        both
    );
    assert_eq!(
        store.users_of_org(keyless.id).await.expect("users of org"),
        vec![]
    );

    let stored_token = TokenRow {
        created_at: micros(token.created_at),
        expires_at: micros(token.expires_at),
        ..token.clone()
    };
    assert_eq!(
        store.token_by_hash(&token.hash).await.expect("token"),
        Some(stored_token.clone())
    );
    assert_eq!(
        store.token_by_id(token.id).await.expect("token"),
        Some(stored_token.clone())
    );
    assert_eq!(store.token_by_hash(&[0xee; 32]).await.expect("token"), None);

    let revoked_at = T0 + Duration::hours(2);
    let mut tx = store.begin().await.expect("begin");
    assert!(tx.revoke_token(token.id, revoked_at).await.expect("revoke"));
    assert!(
        !tx.revoke_token(token.id, revoked_at)
            .await
            .expect("revoke again")
    );
    assert!(
        !tx.revoke_token(TokenId(uuid()), revoked_at)
            .await
            .expect("revoke unknown")
    );
    tx.commit().await.expect("commit");
    let got = store.token_by_id(token.id).await.expect("token");
    assert_eq!(got.and_then(|t| t.revoked_at), Some(micros(revoked_at)));
}

/// Every uniqueness constraint answers [`StoreError::Conflict`], and nothing is written.
pub async fn uniqueness_is_conflict(store: &dyn Store) {
    let w = world(store).await;

    let mut same_slug = org_row(OrgKind::Shelter);
    same_slug.slug = w.from.slug.clone();
    let mut same_id = org_row(OrgKind::Shelter);
    same_id.id = w.from.id;
    for (org, what) in [(&same_slug, "org slug"), (&same_id, "org id")] {
        let mut tx = store.begin().await.expect("begin");
        expect_conflict(tx.insert_org(org).await, what);
    }
    assert_eq!(store.org_by_id(same_slug.id).await.expect("org"), None);

    let mut same_username = user_row(&w.from, Role::Referrer);
    same_username.username = w.receiver.username.clone();
    let mut tx = store.begin().await.expect("begin");
    expect_conflict(tx.insert_user(&same_username).await, "username");
    drop(tx);

    let token = |hash| TokenRow {
        id: TokenId(uuid()),
        user_id: w.referrer.id,
        hash,
        created_at: T0,
        expires_at: T0 + Duration::hours(1),
        revoked_at: None,
    };
    let first = token(hash_of(unique()));
    let mut tx = store.begin().await.expect("begin");
    tx.insert_token(&first).await.expect("insert token");
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    expect_conflict(tx.insert_token(&token(first.hash)).await, "token hash");
    drop(tx);

    let key = OrgKeyRow {
        org_id: w.to.id,
        version: 1,
        recipient: "age1x".into(),
        wrapped_identity: vec![1],
        kek_version: "kek-v1".into(),
        created_at: T0,
        retired_at: None,
    };
    let mut tx = store.begin().await.expect("begin");
    tx.insert_org_key(&key).await.expect("insert key");
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    expect_conflict(tx.insert_org_key(&key).await, "org key version");
    drop(tx);

    let c = case(store, &w).await;
    let r = referral(&w, &c, T0, T0 + Duration::hours(1), ReferralStatus::Sent);
    insert_referrals(store, std::slice::from_ref(&r)).await;
    let mut again = referral(&w, &c, T0, T0, ReferralStatus::Sent);
    again.id = r.id;
    let mut tx = store.begin().await.expect("begin");
    expect_conflict(tx.insert_referral(&again).await, "referral id");
    drop(tx);

    let referral_id = ReferralId(uuid());
    let wrap = |org_id| KeyWrapRow {
        referral_id,
        org_id,
        org_key_version: 1,
        wrapped: vec![9; 16],
    };
    store
        .put_key_wraps(&[wrap(w.from.id)])
        .await
        .expect("put wraps");
    expect_conflict(
        store.put_key_wraps(&[wrap(w.to.id), wrap(w.from.id)]).await,
        "key wrap",
    );
    let kept = store.key_wrap(referral_id, w.to.id).await.expect("wrap");
    assert_eq!(kept, None, "a refused batch of wraps writes none of them");
}

/// A transaction dropped without commit leaves nothing behind.
pub async fn dropped_transaction_rolls_back(store: &dyn Store) {
    let org = org_row(OrgKind::Centre);
    let user = user_row(&org, Role::Admin);
    {
        let mut tx = store.begin().await.expect("begin");
        tx.insert_org(&org).await.expect("insert org");
        tx.insert_user(&user).await.expect("insert user");
    }
    assert_eq!(store.org_by_id(org.id).await.expect("org"), None);
    assert_eq!(store.user_by_id(user.id).await.expect("user"), None);
    // The store is still usable afterwards.
    let mut tx = store.begin().await.expect("begin");
    tx.insert_org(&org).await.expect("insert org");
    tx.commit().await.expect("commit");
    assert!(store.org_by_id(org.id).await.expect("org").is_some());
}

/// Cases and referrals read back as written, slugs joined; the history starts with the
/// filing; a referral needs its case.
pub async fn referral_round_trip(store: &dyn Store) {
    let w = world(store).await;
    let c = case(store, &w).await;
    let got = store.case(c.id).await.expect("case");
    let stored_case = CaseRow {
        created_at: micros(c.created_at),
        ..c.clone()
    };
    assert_eq!(got, Some(stored_case));
    assert_eq!(store.case(CaseId(uuid())).await.expect("case"), None);

    let first = referral(&w, &c, T0, T0 + Duration::hours(24), ReferralStatus::Sent);
    let mut forward = referral(
        &w,
        &c,
        T0 + Duration::minutes(5),
        T0 + Duration::hours(72),
        ReferralStatus::Sent,
    );
    forward.parent_id = Some(first.id);
    forward.categories = vec![DataCategory::Narrative];
    forward.urgency = Urgency::Normal;
    forward.purpose = Purpose::CourtProceedings;
    forward.shredded_at = Some(T0 + Duration::days(3));
    forward.content = Vec::new();
    insert_referrals(store, &[first.clone(), forward.clone()]).await;

    let got = store.referral(first.id).await.expect("referral");
    assert_eq!(got, Some(as_stored(&first, true)));
    let got = store.referral(forward.id).await.expect("referral");
    assert_eq!(got, Some(as_stored(&forward, true)));
    assert_eq!(
        store.referral(ReferralId(uuid())).await.expect("referral"),
        None
    );
    let of_case = store
        .referrals_of_case(c.id)
        .await
        .expect("referrals of case");
    assert_eq!(
        of_case,
        vec![as_stored(&first, true), as_stored(&forward, true)]
    );

    let events = store.referral_events(first.id).await.expect("events");
    let filed = ReferralEventRow {
        referral_id: first.id,
        at: micros(first.created_at),
        status: ReferralStatus::Sent,
        actor: Some(first.created_by),
        outcome: None,
        sealed_detail: None,
        suggested_org: None,
    };
    assert_eq!(events, vec![filed]);

    let orphan_case = CaseRow {
        id: CaseId(uuid()),
        ..c.clone()
    };
    let orphan = referral(&w, &orphan_case, T0, T0, ReferralStatus::Sent);
    let mut tx = store.begin().await.expect("begin");
    assert!(
        tx.insert_referral(&orphan).await.is_err(),
        "a referral needs its case"
    );
}

/// Pages through `q` with the given page size, following the cursor.
async fn all_pages(store: &dyn Store, q: &ListQuery, page: u32) -> Vec<ReferralRow> {
    let mut out: Vec<ReferralRow> = Vec::new();
    let mut q = ListQuery {
        limit: page,
        after: None,
        ..q.clone()
    };
    loop {
        let rows = store.list_referrals(&q).await.expect("list");
        assert!(
            rows.len() <= page as usize,
            "a page holds at most `limit` rows"
        );
        let Some(last) = rows.last() else { break };
        q.after = Some(match q.kind {
            BoxKind::Inbox => (last.due_at, last.id),
            BoxKind::Sent => (last.created_at, last.id),
        });
        let full = rows.len() == page as usize;
        out.extend(rows);
        if !full {
            break;
        }
        assert!(out.len() < 10_000, "paging does not end");
    }
    out
}

/// Inbox `(due_at, id)` and sent `(created_at desc, id)` orders, cursors across ties, the
/// status filter, and lists without content.
pub async fn box_paging(store: &dyn Store) {
    let w = world(store).await;
    let c = case(store, &w).await;
    let statuses = [
        ReferralStatus::Sent,
        ReferralStatus::Acknowledged,
        ReferralStatus::Accepted,
    ];
    let mut rows: Vec<ReferralRow> = (0..47i64)
        .map(|i| {
            let created = T0 - Duration::minutes(i % 5) + Duration::nanoseconds(i % 3);
            let due = T0 + Duration::hours(i % 4);
            referral(&w, &c, created, due, statuses[(i % 3) as usize])
        })
        .collect();
    // Noise: the other direction, which must not show in these boxes.
    let back = World {
        from: w.to.clone(),
        to: w.from.clone(),
        referrer: UserRow {
            org_id: w.to.id,
            ..w.receiver.clone()
        },
        receiver: w.referrer.clone(),
    };
    for i in 0..5 {
        rows.push(referral(
            &back,
            &c,
            T0,
            T0 + Duration::hours(i),
            ReferralStatus::Sent,
        ));
    }
    insert_referrals(store, &rows).await;
    let forth: Vec<ReferralRow> = rows
        .iter()
        .filter(|r| r.from_org == w.from.id)
        .map(|r| as_stored(r, false))
        .collect();

    let inbox = ListQuery {
        org: w.to.id,
        kind: BoxKind::Inbox,
        status: None,
        overdue_before: None,
        after: None,
        limit: 6,
    };
    let mut expected = forth.clone();
    expected.sort_by_key(|r| (r.due_at, r.id));
    for page in [1, 6, 7, 47, 201] {
        assert_eq!(
            all_pages(store, &inbox, page).await,
            expected,
            "inbox, pages of {page}"
        );
    }

    let sent = ListQuery {
        org: w.from.id,
        kind: BoxKind::Sent,
        ..inbox.clone()
    };
    let mut expected = forth.clone();
    expected.sort_by_key(|r| (std::cmp::Reverse(r.created_at), r.id));
    for page in [1, 5, 46, 48] {
        assert_eq!(
            all_pages(store, &sent, page).await,
            expected,
            "sent, pages of {page}"
        );
    }

    let accepted = ListQuery {
        status: Some(ReferralStatus::Accepted),
        ..inbox.clone()
    };
    let mut expected: Vec<ReferralRow> = forth
        .iter()
        .filter(|r| r.status == ReferralStatus::Accepted)
        .cloned()
        .collect();
    expected.sort_by_key(|r| (r.due_at, r.id));
    assert_eq!(expected.len(), 15);
    assert_eq!(
        all_pages(store, &accepted, 4).await,
        expected,
        "inbox, accepted only"
    );

    let one_page = store
        .list_referrals(&ListQuery {
            limit: 201,
            ..inbox.clone()
        })
        .await
        .expect("list");
    assert_eq!(one_page.len(), 47);
    assert!(
        one_page.iter().all(|r| r.content.is_empty()),
        "lists carry no content"
    );
    let other_inbox = ListQuery {
        org: w.from.id,
        limit: 201,
        ..inbox.clone()
    };
    assert_eq!(
        store
            .list_referrals(&other_inbox)
            .await
            .expect("list")
            .len(),
        5
    );
}

/// The overdue filter: `sent`/`acknowledged` referrals due strictly before the instant.
pub async fn overdue_filter(store: &dyn Store) {
    let w = world(store).await;
    let c = case(store, &w).await;
    let now = T0 + Duration::days(2);
    let past = now - Duration::hours(1);
    let rows = vec![
        referral(&w, &c, T0, past, ReferralStatus::Sent),
        referral(&w, &c, T0, past, ReferralStatus::Acknowledged),
        referral(&w, &c, T0, past, ReferralStatus::Accepted),
        referral(&w, &c, T0, past, ReferralStatus::Declined),
        referral(&w, &c, T0, past, ReferralStatus::Closed),
        referral(&w, &c, T0, past, ReferralStatus::Withdrawn),
        referral(&w, &c, T0, now, ReferralStatus::Sent),
        referral(
            &w,
            &c,
            T0,
            now + Duration::hours(1),
            ReferralStatus::Acknowledged,
        ),
    ];
    insert_referrals(store, &rows).await;
    let q = ListQuery {
        org: w.to.id,
        kind: BoxKind::Inbox,
        status: None,
        overdue_before: Some(now),
        after: None,
        limit: 50,
    };
    let mut expected: Vec<ReferralRow> = rows[..2].iter().map(|r| as_stored(r, false)).collect();
    expected.sort_by_key(|r| (r.due_at, r.id));
    assert_eq!(store.list_referrals(&q).await.expect("list"), expected);
    assert_eq!(all_pages(store, &q, 1).await, expected);

    let sent_only = ListQuery {
        status: Some(ReferralStatus::Sent),
        ..q.clone()
    };
    assert_eq!(
        store.list_referrals(&sent_only).await.expect("list"),
        vec![as_stored(&rows[0], false)]
    );
    let sent_box = ListQuery {
        org: w.from.id,
        kind: BoxKind::Sent,
        ..q.clone()
    };
    assert_eq!(
        store.list_referrals(&sent_box).await.expect("list").len(),
        2
    );
    let nothing = ListQuery {
        overdue_before: Some(T0),
        ..q
    };
    assert_eq!(store.list_referrals(&nothing).await.expect("list"), vec![]);
}

/// `transition` is a compare-and-set: a stale expected state changes nothing.
pub async fn transition_compare_and_set(store: &dyn Store) {
    let w = world(store).await;
    let c = case(store, &w).await;
    let r = referral(&w, &c, T0, T0 + Duration::hours(1), ReferralStatus::Sent);
    let other = referral(&w, &c, T0, T0 + Duration::hours(1), ReferralStatus::Sent);
    insert_referrals(store, &[r.clone(), other.clone()]).await;
    let event = |status, minutes| ReferralEventRow {
        referral_id: r.id,
        at: T0 + Duration::minutes(minutes) + Duration::nanoseconds(999),
        status,
        actor: Some(w.receiver.id),
        outcome: None,
        sealed_detail: None,
        suggested_org: None,
    };
    let ack = event(ReferralStatus::Acknowledged, 1);
    let accept = event(ReferralStatus::Accepted, 2);
    let close = ReferralEventRow {
        outcome: Some(CloseOutcome::GotHelp),
        sealed_detail: Some(vec![0xa9; 24]),
        ..event(ReferralStatus::Closed, 3)
    };

    let mut tx = store.begin().await.expect("begin");
    let done = tx.transition(r.id, ReferralStatus::Sent, &ack).await;
    assert!(done.expect("transition"));
    tx.commit().await.expect("commit");

    let mut tx = store.begin().await.expect("begin");
    let stale = tx.transition(r.id, ReferralStatus::Sent, &accept).await;
    assert!(
        !stale.expect("stale transition"),
        "a stale expected state is refused"
    );
    let unknown = ReferralEventRow {
        referral_id: ReferralId(uuid()),
        ..accept.clone()
    };
    let missing = tx
        .transition(unknown.referral_id, ReferralStatus::Sent, &unknown)
        .await;
    assert!(!missing.expect("transition of a missing referral"));
    tx.commit().await.expect("commit");

    // A transition in a dropped transaction does not stick.
    {
        let mut tx = store.begin().await.expect("begin");
        let done = tx
            .transition(r.id, ReferralStatus::Acknowledged, &accept)
            .await;
        assert!(done.expect("transition"));
    }
    let now = store
        .referral(r.id)
        .await
        .expect("referral")
        .expect("exists");
    assert_eq!(now.status, ReferralStatus::Acknowledged);
    assert_eq!(now.updated_at, micros(ack.at));

    let mut tx = store.begin().await.expect("begin");
    assert!(
        tx.transition(r.id, ReferralStatus::Acknowledged, &accept)
            .await
            .expect("accept")
    );
    assert!(
        tx.transition(r.id, ReferralStatus::Accepted, &close)
            .await
            .expect("close")
    );
    tx.commit().await.expect("commit");

    let decline = ReferralEventRow {
        referral_id: other.id,
        sealed_detail: Some(vec![7; 10]),
        suggested_org: Some(w.from.slug.clone()),
        ..event(ReferralStatus::Declined, 4)
    };
    let mut tx = store.begin().await.expect("begin");
    let done = tx
        .transition(other.id, ReferralStatus::Sent, &decline)
        .await;
    assert!(done.expect("decline"));
    tx.commit().await.expect("commit");

    let stored = |e: &ReferralEventRow| ReferralEventRow {
        at: micros(e.at),
        ..e.clone()
    };
    let events = store.referral_events(r.id).await.expect("events");
    let statuses: Vec<ReferralStatus> = events.iter().map(|e| e.status).collect();
    use ReferralStatus::*;
    assert_eq!(statuses, vec![Sent, Acknowledged, Accepted, Closed]);
    assert_eq!(events[1..], [stored(&ack), stored(&accept), stored(&close)]);
    let events = store.referral_events(other.id).await.expect("events");
    assert_eq!(events.last(), Some(&stored(&decline)));
    let now = store
        .referral(r.id)
        .await
        .expect("referral")
        .expect("exists");
    assert_eq!((now.status, now.updated_at), (Closed, micros(close.at)));
}

/// Key wraps: put (atomically), get, delete (shredding).
pub async fn key_wraps(store: &dyn Store) {
    let (r1, r2) = (ReferralId(uuid()), ReferralId(uuid()));
    let (a, b, c) = (OrgId(uuid()), OrgId(uuid()), OrgId(uuid()));
    let wrap = |referral_id, org_id, n: u8| KeyWrapRow {
        referral_id,
        org_id,
        org_key_version: i32::from(n),
        wrapped: vec![n; 200],
    };
    store.put_key_wraps(&[]).await.expect("put nothing");
    store
        .put_key_wraps(&[wrap(r1, a, 1), wrap(r1, b, 2), wrap(r2, a, 3)])
        .await
        .expect("put wraps");
    assert_eq!(
        store.key_wrap(r1, a).await.expect("wrap"),
        Some(wrap(r1, a, 1))
    );
    assert_eq!(
        store.key_wrap(r1, b).await.expect("wrap"),
        Some(wrap(r1, b, 2))
    );
    assert_eq!(store.key_wrap(r1, c).await.expect("wrap"), None);
    assert_eq!(store.delete_key_wraps(r1).await.expect("delete"), 2);
    assert_eq!(store.key_wrap(r1, a).await.expect("wrap"), None);
    assert_eq!(store.key_wrap(r1, b).await.expect("wrap"), None);
    assert_eq!(store.delete_key_wraps(r1).await.expect("delete again"), 0);
    assert_eq!(
        store.key_wrap(r2, a).await.expect("wrap"),
        Some(wrap(r2, a, 3))
    );
}

// ---------------------------------------------------------------------------------------
// Audit log
// ---------------------------------------------------------------------------------------

fn leaf(actor: &str, org: &str, action: &str, case_id: Option<CaseId>, n: u64) -> NewAuditLeaf {
    NewAuditLeaf {
        at: T0 + Duration::seconds(n as i64) + Duration::nanoseconds(321),
        bytes: format!("leaf v1 {actor} {org} {action} {n} {}", unique()).into_bytes(),
        actor: Some(actor.to_owned()),
        org: Some(org.to_owned()),
        action: action.to_owned(),
        target: case_id.map(|c| c.0.to_string()),
        case_id,
    }
}

fn stored_leaf(l: &NewAuditLeaf) -> NewAuditLeaf {
    NewAuditLeaf {
        at: micros(l.at),
        ..l.clone()
    }
}

/// Appends one leaf in a transaction of its own, signed by [`TestSigner`]; `n` varies the
/// leaf. What the concurrency tests of the adapters run in parallel.
pub async fn append_one(store: &dyn Store, actor: &str, n: u64) -> StoreResult<AuditHeadRow> {
    let mut tx = store.begin().await?;
    let head = tx
        .append_audit(
            &leaf(actor, "test-org", "referral.read", None, n),
            &TestSigner,
        )
        .await?;
    tx.commit().await?;
    Ok(head)
}

/// Reads the whole log and checks it against its head: seqs dense from 0, leaf hashes of
/// the bytes, root and compact range recomputed, checkpoint of [`TestSigner`] when
/// `test_signed`. Returns every leaf.
pub async fn check_audit_log(store: &dyn Store, test_signed: bool) -> Vec<AuditLeafRow> {
    let mut leaves: Vec<AuditLeafRow> = Vec::new();
    loop {
        let page = store
            .audit_leaves(leaves.len() as u64, 97)
            .await
            .expect("audit leaves");
        let full = page.len() == 97;
        leaves.extend(page);
        if !full {
            break;
        }
    }
    assert_eq!(
        batched_log(store, 89).await,
        leaves,
        "the packed batches hold the same leaves"
    );
    for (i, l) in leaves.iter().enumerate() {
        assert_eq!(l.seq, i as u64, "seqs are dense from 0");
        assert_eq!(
            l.leaf_hash,
            merkle::leaf_hash(&l.leaf.bytes),
            "leaf hash of seq {i}"
        );
    }
    let hashes: Vec<[u8; 32]> = leaves.iter().map(|l| l.leaf_hash).collect();
    let head = store.audit_head().await.expect("audit head");
    let Some(head) = head else {
        assert!(leaves.is_empty(), "no head, no leaves");
        return leaves;
    };
    assert_eq!(
        head.size,
        leaves.len() as u64,
        "head size is the number of leaves"
    );
    assert_eq!(head.root, merkle::root_of(&hashes), "head root");
    let mut range = CompactRange::empty();
    for h in &hashes {
        range.append(*h);
    }
    assert_eq!(head.compact, range.hashes(), "head compact range");
    if test_signed {
        assert_eq!(head.checkpoint, test_checkpoint(head.size, &head.root));
    }
    leaves
}

/// The whole log read through [`Store::audit_leaf_batch`], `page` leaves at a time.
async fn batched_log(store: &dyn Store, page: u32) -> Vec<AuditLeafRow> {
    let mut leaves: Vec<AuditLeafRow> = Vec::new();
    loop {
        let from = leaves.last().map_or(0, |l| l.seq + 1);
        let batch = store
            .audit_leaf_batch(from, page)
            .await
            .expect("audit leaf batch");
        let rows = batch.to_rows().expect("well-formed batch");
        assert_eq!(rows.len(), batch.len());
        assert_eq!(rows.last().map(|r| r.seq), batch.last_seq());
        let full = rows.len() == page as usize;
        leaves.extend(rows);
        if !full {
            return leaves;
        }
    }
}

/// `audit_leaf_batch` returns exactly the rows of `audit_leaves` for the same window:
/// NULL and empty columns, text beyond ASCII, bytes with NUL and 0xff, times before 1970,
/// windows in the middle, of one leaf, and past the end.
pub async fn audit_leaf_batches(store: &dyn Store) {
    let actor = name("batch");
    let mut tx = store.begin().await.expect("begin");
    let mut written = 0u64;
    for n in 0..7u64 {
        let mut l = leaf(&actor, "avec63", "referral.read", Some(CaseId(uuid())), n);
        match n {
            1 => {
                l.actor = None;
                l.org = None;
                l.target = None;
                l.case_id = None;
            }
            2 => {
                l.actor = Some(String::new());
                l.org = Some("élan-ü".into());
                l.target = Some(String::new());
            }
            3 => l.bytes = vec![0, 0, 255, 1, 0],
            4 => l.bytes = Vec::new(),
            5 => l.at = datetime!(1969-12-31 23:59:59.999_999_5 UTC),
            _ => {}
        }
        tx.append_audit(&l, &TestSigner).await.expect("append");
        written += 1;
    }
    tx.commit().await.expect("commit");
    let all = check_audit_log(store, true).await;
    let size = all.len() as u64;
    let start = size - written;
    for (from, limit) in [
        (start, 7),
        (start + 1, 3),
        (start + 5, 1),
        (0, 1000),
        (0, 2),
    ] {
        let rows = store.audit_leaves(from, limit).await.expect("leaves");
        let batch = store.audit_leaf_batch(from, limit).await.expect("batch");
        assert_eq!(batch.len(), rows.len(), "{from} {limit}");
        assert_eq!(batch.to_rows().expect("rows"), rows, "{from} {limit}");
    }
    let l = &all[start as usize + 5];
    let first = store.audit_leaf_batch(start + 5, 1).await.expect("batch");
    let r = first.iter().next().expect("one").expect("well-formed");
    assert_eq!((r.seq, r.at_micros), (start + 5, -1), "{:?}", l.leaf.at);
    let past = store.audit_leaf_batch(size, 10).await.expect("batch");
    assert!(past.is_empty());
    assert_eq!(past.last_seq(), None);
    assert_eq!(past.iter().count(), 0);
}

/// Appends: seqs dense from 0, the head's root is the RFC 6962 root of the leaf hashes,
/// the signer's checkpoint is stored, leaves read back as written.
pub async fn audit_append(store: &dyn Store) {
    let before = store.audit_head().await.expect("audit head");
    let start = before.as_ref().map_or(0, |h| h.size);
    if start == 0 {
        assert_eq!(before, None, "the empty log has no head");
    }
    let actor = name("auditee");
    let mut written = Vec::new();
    let mut last = None;
    for n in 0..21u64 {
        let l = leaf(&actor, "avec63", "referral.read", None, n);
        let mut tx = store.begin().await.expect("begin");
        let head = tx.append_audit(&l, &TestSigner).await.expect("append");
        tx.commit().await.expect("commit");
        assert_eq!(head.size, start + n + 1);
        assert_eq!(head.checkpoint, test_checkpoint(head.size, &head.root));
        written.push(l);
        last = Some(head);
    }
    // Two leaves in one transaction take consecutive seqs.
    let mut tx = store.begin().await.expect("begin");
    for n in 21..23u64 {
        let l = leaf(&actor, "avec63", "referral.filed", None, n);
        last = Some(tx.append_audit(&l, &TestSigner).await.expect("append"));
        written.push(l);
    }
    tx.commit().await.expect("commit");

    let head = store.audit_head().await.expect("audit head");
    assert_eq!(
        head, last,
        "the stored head is the one returned by the last append"
    );
    let leaves = check_audit_log(store, false).await;
    let mine: Vec<NewAuditLeaf> = leaves[start as usize..]
        .iter()
        .filter(|l| l.leaf.actor.as_deref() == Some(actor.as_str()))
        .map(|l| l.leaf.clone())
        .collect();
    let expected: Vec<NewAuditLeaf> = written.iter().map(stored_leaf).collect();
    assert_eq!(mine, expected);
    let window = store
        .audit_leaves(start + 5, 3)
        .await
        .expect("audit leaves");
    let seqs: Vec<u64> = window.iter().map(|l| l.seq).collect();
    assert_eq!(seqs, vec![start + 5, start + 6, start + 7]);
    assert!(
        store
            .audit_leaves(start + 1000, 3)
            .await
            .expect("leaves")
            .is_empty()
    );
}

/// A rolled-back transaction leaves no leaf and does not move the head.
pub async fn audit_rollback(store: &dyn Store) {
    append_one(store, "rollback-check", 0)
        .await
        .expect("append");
    let before = store.audit_head().await.expect("audit head");
    let size = before.as_ref().map_or(0, |h| h.size);
    let org = org_row(OrgKind::Court);
    {
        let mut tx = store.begin().await.expect("begin");
        tx.insert_org(&org).await.expect("insert org");
        let l = leaf("rollback-check", "x", "org.added", None, 1);
        let head = tx.append_audit(&l, &TestSigner).await.expect("append");
        assert_eq!(head.size, size + 1);
    }
    assert_eq!(store.audit_head().await.expect("audit head"), before);
    assert!(
        store
            .audit_leaves(size, 10)
            .await
            .expect("leaves")
            .is_empty()
    );
    assert_eq!(store.org_by_id(org.id).await.expect("org"), None);
    // The next append takes the seq the rolled-back one had.
    let head = append_one(store, "rollback-check", 2)
        .await
        .expect("append");
    assert_eq!(head.size, size + 1);
    check_audit_log(store, true).await;
}

/// The database itself refuses to change or delete audit leaves or the head row.
pub async fn audit_append_only(store: &dyn Store, raw: &dyn RawExec) {
    append_one(store, "append-only-check", 0)
        .await
        .expect("append");
    let before = check_audit_log(store, true).await;
    for sql in [
        "UPDATE audit_leaves SET action = 'tampered'",
        "UPDATE audit_leaves SET seq = seq + 1000000 WHERE seq = 0",
        "DELETE FROM audit_leaves",
        "DELETE FROM audit_leaves WHERE seq = 0",
        "DELETE FROM audit_head",
    ] {
        let r = raw.execute(sql).await;
        assert!(r.is_err(), "the database must refuse: {sql}");
    }
    assert_eq!(check_audit_log(store, true).await, before);
}

/// `audit_search`: each filter, their combination, the time window and the cursor.
pub async fn audit_search(store: &dyn Store) {
    let (a1, a2) = (name("actor"), name("actor"));
    let (o1, o2) = (name("org"), name("org"));
    let (c1, c2) = (CaseId(uuid()), CaseId(uuid()));
    let actions = ["referral.read", "referral.filed", "login.ok"];
    let mut written: Vec<NewAuditLeaf> = Vec::new();
    let mut tx = store.begin().await.expect("begin");
    for n in 0..30u64 {
        let actor = if n % 2 == 0 { &a1 } else { &a2 };
        let org = if n % 5 < 2 { &o1 } else { &o2 };
        let case_id = [Some(c1), Some(c2), None][(n % 3) as usize];
        let l = leaf(actor, org, actions[(n % 4 % 3) as usize], case_id, n);
        tx.append_audit(&l, &TestSigner).await.expect("append");
        written.push(l);
    }
    tx.commit().await.expect("commit");
    let all = check_audit_log(store, true).await;
    let start = all.len() as u64 - 30;
    let rows: Vec<AuditLeafRow> = written
        .iter()
        .enumerate()
        .map(|(i, l)| AuditLeafRow {
            seq: start + i as u64,
            leaf: stored_leaf(l),
            leaf_hash: merkle::leaf_hash(&l.bytes),
        })
        .collect();

    async fn search_all(store: &dyn Store, f: &AuditFilter, page: u32) -> Vec<AuditLeafRow> {
        let mut out: Vec<AuditLeafRow> = Vec::new();
        let mut f = AuditFilter {
            limit: page,
            ..f.clone()
        };
        loop {
            let got = store.audit_search(&f).await.expect("audit search");
            assert!(got.len() <= page as usize);
            let full = got.len() == page as usize;
            f.after = got.last().map(|l| l.seq).or(f.after);
            out.extend(got);
            if !full {
                return out;
            }
        }
    }
    let pick = |keep: &dyn Fn(&NewAuditLeaf) -> bool| -> Vec<AuditLeafRow> {
        rows.iter().filter(|r| keep(&r.leaf)).cloned().collect()
    };

    let by_case = AuditFilter {
        case_id: Some(c1),
        limit: 100,
        ..AuditFilter::default()
    };
    let expected = pick(&|l| l.case_id == Some(c1));
    assert_eq!(expected.len(), 10);
    assert_eq!(search_all(store, &by_case, 100).await, expected);
    assert_eq!(
        search_all(store, &by_case, 3).await,
        expected,
        "cursor paging"
    );

    let by_actor_action = AuditFilter {
        actor: Some(a1.clone()),
        action: Some("referral.read".into()),
        limit: 100,
        ..AuditFilter::default()
    };
    let expected = pick(&|l| l.actor.as_deref() == Some(&a1) && l.action == "referral.read");
    assert!(!expected.is_empty());
    assert_eq!(search_all(store, &by_actor_action, 2).await, expected);

    let window = AuditFilter {
        org: Some(o2.clone()),
        since: Some(written[10].at),
        until: Some(written[20].at),
        limit: 100,
        ..AuditFilter::default()
    };
    let expected: Vec<AuditLeafRow> = rows[10..20]
        .iter()
        .filter(|r| r.leaf.org.as_deref() == Some(&o2))
        .cloned()
        .collect();
    assert_eq!(expected.len(), 6);
    assert_eq!(
        search_all(store, &window, 4).await,
        expected,
        "since inclusive, until exclusive"
    );

    let everything = AuditFilter {
        org: Some(o1.clone()),
        actor: Some(a2.clone()),
        case_id: Some(c2),
        action: Some("login.ok".into()),
        limit: 100,
        ..AuditFilter::default()
    };
    let expected = pick(&|l| {
        l.org.as_deref() == Some(&o1)
            && l.actor.as_deref() == Some(&a2)
            && l.case_id == Some(c2)
            && l.action == "login.ok"
    });
    assert_eq!(search_all(store, &everything, 100).await, expected);

    let after_last = AuditFilter {
        after: Some(start + 29),
        ..by_case.clone()
    };
    assert!(
        store
            .audit_search(&after_last)
            .await
            .expect("search")
            .is_empty()
    );
    let nobody = AuditFilter {
        actor: Some(name("nobody")),
        limit: 100,
        ..AuditFilter::default()
    };
    assert!(
        store
            .audit_search(&nobody)
            .await
            .expect("search")
            .is_empty()
    );
    let unfiltered = AuditFilter {
        after: Some(start + 9),
        limit: 5,
        ..AuditFilter::default()
    };
    let seqs: Vec<u64> = store
        .audit_search(&unfiltered)
        .await
        .expect("search")
        .iter()
        .map(|l| l.seq)
        .collect();
    assert_eq!(seqs, (start + 10..start + 15).collect::<Vec<_>>());
}

mod content;
pub use content::*;
