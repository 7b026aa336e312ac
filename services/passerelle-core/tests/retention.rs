//! Retention, archive reads and the 226-14 3° flag, in process with an injected clock
//! (never a sleep), on SQLite and on PostgreSQL: a referral without contact is archived
//! after the first period (out of the boxes, `410 archived`, readable only by the holding
//! organisation's coordinator with a stated reason), and its content destroyed after the
//! second.

mod support;

use std::sync::Arc;

use passerelle_core::*;
use passerelle_domain::audit::{Action, AuditLeaf};
use passerelle_domain::enums::*;
use passerelle_domain::ids::*;
use passerelle_domain::model::FilingRequest;
use passerelle_store::{AuditFilter, Store};
use support::{Backend, Harness};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const T0: OffsetDateTime = datetime!(2027-01-11 09:00:00 UTC);

struct World {
    core: Core,
    clock: Arc<FixedClock>,
    store: Arc<dyn Store>,
    _h: Harness,
}

async fn world(backend: Backend) -> Option<World> {
    let clock = Arc::new(FixedClock::new(T0));
    let h = Harness::with_clock(backend, clock.clone()).await?;
    let core = h.core.clone();
    let ctx = RequestCtx::default();
    for (slug, kind) in [
        ("police", OrgKind::Police),
        ("avec63", OrgKind::Association),
        ("chambre-vif", OrgKind::Court),
        ("parquet", OrgKind::Prosecutor),
        ("chu", OrgKind::Hospital),
    ] {
        core.add_org(OrgSlug::parse(slug).unwrap(), slug, kind, &ctx)
            .await
            .expect("org");
    }
    for (user, org, role, hp) in [
        ("iscg", "police", Role::Referrer, false),
        ("psy", "avec63", Role::Receiver, false),
        ("coord", "avec63", Role::Coordinator, false),
        ("coord.police", "police", Role::Coordinator, false),
        ("greffe", "chambre-vif", Role::Receiver, false),
        ("dr", "chu", Role::Referrer, true),
    ] {
        core.add_user(
            NewUser {
                username: Username::parse(user).unwrap(),
                org: OrgSlug::parse(org).unwrap(),
                role,
                health_professional: hp,
                password: None,
            },
            &ctx,
        )
        .await
        .expect("user");
    }
    Some(World {
        core,
        clock,
        store: h.store.clone(),
        _h: h,
    })
}

impl World {
    /// A principal for `user`, now (tokens live 24 h: one per step of the clock).
    async fn who(&self, user: &str) -> Principal {
        let ctx = RequestCtx::default();
        let t = self
            .core
            .issue_token(user, None, &ctx)
            .await
            .expect("token");
        self.core
            .authenticate_token(&t.token, &ctx)
            .await
            .expect("principal")
    }

    fn at(&self, t: OffsetDateTime) {
        self.clock.set(t);
    }

    async fn leaves(&self, action: Action) -> Vec<AuditLeaf> {
        let rows = self
            .store
            .audit_search(&AuditFilter {
                action: Some(action.as_str().into()),
                limit: 1000,
                ..AuditFilter::default()
            })
            .await
            .expect("audit search");
        rows.iter()
            .map(|r| AuditLeaf::decode(&r.leaf.bytes).expect("leaf"))
            .collect()
    }
}

fn filing(to: &str) -> FilingRequest {
    serde_json::from_value(serde_json::json!({
        "to_org": to,
        "purpose": "psychological_support",
        "urgency": "normal",
        "consent": {
            "basis": "consent", "method": "oral", "obtained_at": "2027-01-10T10:00:00Z",
            "recipients": ["avec63", "chambre-vif"],
            "purposes": ["psychological_support", "court_proceedings"],
            "data_categories": ["identity", "narrative"],
            "expires_at": "2040-01-01T00:00:00Z"
        },
        "subject": { "name": "Ysolde Marchetti-Brun" },
        "safety": { "channel": "phone", "voicemail_ok": false },
        "notes": { "narrative": "Récit confidentiel" }
    }))
    .expect("filing")
}

fn legal_filing() -> FilingRequest {
    serde_json::from_value(serde_json::json!({
        "to_org": "parquet",
        "purpose": "report_to_prosecutor",
        "urgency": "immediate",
        "consent": {
            "basis": "legal_exception_226_14", "method": "oral",
            "obtained_at": "2027-01-10T10:00:00Z",
            "recipients": ["parquet"], "purposes": ["report_to_prosecutor"],
            "data_categories": ["identity", "medical"],
            "expires_at": "2040-01-01T00:00:00Z",
            "legal_exception": { "immediate_danger": true, "emprise": true,
                "agreement_sought": "Entretien seule à seul", "justification": "Danger vital" }
        },
        "subject": { "name": "Ysolde Marchetti-Brun", "birth_date": "1988-02-03" },
        "notes": { "medical": "Fractures" }
    }))
    .expect("filing")
}

async fn scenario(w: World) {
    let ctx = RequestCtx::default();
    let iscg = w.who("iscg").await;
    let psy = w.who("psy").await;
    // Two referrals at T0: one handled (contacts), one never opened.
    let handled = w
        .core
        .file_referral(&iscg, filing("avec63"), &ctx)
        .await
        .unwrap();
    let silent = w
        .core
        .file_referral(&iscg, filing("avec63"), &ctx)
        .await
        .unwrap();
    w.at(T0 + Duration::hours(1));
    w.core.open_referral(&psy, handled.id, &ctx).await.unwrap();
    w.core.accept(&psy, handled.id, &ctx).await.unwrap();
    // Reads are not contacts: the sender reads the silent one, often.
    w.at(T0 + Duration::days(300));
    let iscg = w.who("iscg").await;
    w.core.open_referral(&iscg, silent.id, &ctx).await.unwrap();
    // A contact recorded by the holder a year later.
    w.at(T0 + Duration::days(365));
    let psy = w.who("psy").await;
    let c = w.core.record_contact(&psy, handled.id, &ctx).await.unwrap();
    assert_eq!(c.last_contact_at, T0 + Duration::days(365));
    // The sender cannot record a contact (wrong side).
    let iscg = w.who("iscg").await;
    assert!(matches!(
        w.core.record_contact(&iscg, handled.id, &ctx).await,
        Err(CoreError::Forbidden(_))
    ));
    // A never-opened referral cannot have a contact recorded (nobody reached her).
    assert!(matches!(
        w.core.record_contact(&psy, silent.id, &ctx).await,
        Err(CoreError::Conflict(_))
    ));

    let policy = RetentionPolicy::default();
    // Just before two years: nothing moves.
    w.at(T0 + Duration::days(730) - Duration::minutes(1));
    let r = w.core.run_retention(&policy, &ctx).await.unwrap();
    assert_eq!((r.ran, r.archived, r.shredded), (true, 0, 0));
    // Another leader of the retention job: this run does nothing.
    let lock = w
        .store
        .try_leader("retention")
        .await
        .unwrap()
        .expect("free");
    w.at(T0 + Duration::days(731));
    let r = w.core.run_retention(&policy, &ctx).await.unwrap();
    assert!(!r.ran);
    lock.release().await;
    // Two years without contact: the silent one is archived, the handled one is not.
    let r = w.core.run_retention(&policy, &ctx).await.unwrap();
    assert_eq!((r.ran, r.archived, r.shredded), (true, 1, 0));
    let again = w.core.run_retention(&policy, &ctx).await.unwrap();
    assert_eq!(again.archived, 0, "archived once");

    let psy = w.who("psy").await;
    let inbox = w
        .core
        .list_referrals(
            &psy,
            &ListParams {
                box_kind: Some("inbox".into()),
                ..ListParams::default()
            },
            &ctx,
        )
        .await
        .unwrap();
    let ids: Vec<_> = inbox.items.iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![handled.id], "archived: out of the inbox");
    assert!(matches!(
        w.core.open_referral(&psy, silent.id, &ctx).await,
        Err(CoreError::Archived)
    ));
    assert!(matches!(
        w.core.accept(&psy, silent.id, &ctx).await,
        Err(CoreError::Archived)
    ));
    let iscg = w.who("iscg").await;
    assert!(matches!(
        w.core.open_referral(&iscg, silent.id, &ctx).await,
        Err(CoreError::Archived)
    ));
    assert!(w.core.open_referral(&psy, handled.id, &ctx).await.is_ok());

    // Archive reads: only the holding organisation's coordinator (the receiver, with whom
    // the referral is), with a stated reason (issue #6 §5). Referrers and receivers read
    // archives no more; the sender's coordinator is on the wrong side.
    let reason = |r: &str| ArchiveReadRequest { reason: r.into() };
    let coord = w.who("coord").await;
    assert!(matches!(
        w.core
            .read_archived(&coord, silent.id, reason("  "), &ctx)
            .await,
        Err(CoreError::BadRequest(_))
    ));
    for party in [&psy, &iscg] {
        assert!(matches!(
            w.core
                .read_archived(party, silent.id, reason("curiosité"), &ctx)
                .await,
            Err(CoreError::Forbidden("role"))
        ));
    }
    let police_coord = w.who("coord.police").await;
    assert!(matches!(
        w.core
            .read_archived(&police_coord, silent.id, reason("contrôle"), &ctx)
            .await,
        Err(CoreError::Forbidden("side"))
    ));
    let outsider = w.who("greffe").await;
    assert!(matches!(
        w.core
            .read_archived(&outsider, silent.id, reason("enquête"), &ctx)
            .await,
        Err(CoreError::Forbidden("role"))
    ));
    assert!(matches!(
        w.core
            .read_archived(&coord, handled.id, reason("contrôle"), &ctx)
            .await,
        Err(CoreError::Conflict(_))
    ));
    let view = w
        .core
        .read_archived(&coord, silent.id, reason("Réquisition judiciaire"), &ctx)
        .await
        .unwrap();
    assert_eq!(view.subject.name.as_deref(), Some("Ysolde Marchetti-Brun"));
    let reads = w.leaves(Action::ArchiveRead).await;
    let allowed: Vec<_> = reads
        .iter()
        .filter(|l| l.outcome == passerelle_domain::audit::Outcome::Allowed)
        .collect();
    assert_eq!(allowed.len(), 1);
    assert_eq!(allowed[0].targets.referral, Some(silent.id));
    assert_eq!(allowed[0].actor.as_ref().map(|u| u.as_str()), Some("coord"));
    assert_eq!(allowed[0].ciphertext_sha256.len(), 1, "the reason's digest");
    // Every refusal left its leaf (the role and side denials included).
    let denied = w.leaves(Action::ReferralDenied).await;
    let codes: Vec<_> = denied
        .iter()
        .filter(|l| l.targets.referral == Some(silent.id))
        .filter_map(|l| match &l.outcome {
            passerelle_domain::audit::Outcome::Denied(c) => Some(c.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(codes, ["role", "role", "side", "role"], "{codes:?}");
    let archived = w.leaves(Action::ReferralArchived).await;
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0].targets.referral, Some(silent.id));
    assert_eq!(archived[0].actor, None, "a system action");

    // Three years after archiving: content destroyed, metadata kept.
    w.at(T0 + Duration::days(731 + 3 * 365) - Duration::minutes(1));
    let r = w.core.run_retention(&policy, &ctx).await.unwrap();
    // The handled referral's last contact (T0 + 365 d) is now more than 2 years old too.
    assert_eq!((r.archived, r.shredded), (1, 0));
    w.at(T0 + Duration::days(731 + 3 * 365) + Duration::minutes(1));
    let r = w.core.run_retention(&policy, &ctx).await.unwrap();
    assert_eq!((r.archived, r.shredded), (0, 1));
    let coord = w.who("coord").await;
    assert!(matches!(
        w.core
            .read_archived(&coord, silent.id, reason("encore"), &ctx)
            .await,
        Err(CoreError::Gone)
    ));
    let row = w
        .store
        .referral(silent.id)
        .await
        .unwrap()
        .expect("metadata stays");
    assert!(row.content.is_empty() && row.shredded_at.is_some());
    assert_eq!(row.status, ReferralStatus::Sent);
    for org in [row.from_org, row.to_org] {
        assert!(w.store.key_wrap(silent.id, org).await.unwrap().is_none());
    }
    let shredded = w.leaves(Action::ContentShredded).await;
    assert_eq!(shredded.len(), 1);
    assert_eq!(shredded[0].targets.referral, Some(silent.id));

    // 226-14 3°: the filing leaf carries the legal basis; its task is open; the log says
    // nothing else about her.
    let dr = w.who("dr").await;
    let legal = w
        .core
        .file_referral(&dr, legal_filing(), &ctx)
        .await
        .unwrap();
    let filed = w.leaves(Action::ReferralFiled).await;
    let flagged: Vec<_> = filed
        .iter()
        .filter(|l| l.legal_basis == Some(ConsentBasis::LegalException22614))
        .collect();
    assert_eq!(flagged.len(), 1);
    assert_eq!(flagged[0].targets.referral, Some(legal.id));
    let tasks = w.store.tasks_of(legal.id).await.unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].kind, "inform_victim");
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_on_sqlite() {
    if let Some(w) = world(Backend::Sqlite).await {
        scenario(w).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_on_postgres() {
    if let Some(w) = world(Backend::Postgres).await {
        scenario(w).await;
    }
}
