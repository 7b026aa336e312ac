//! The role-checked use cases of the admin and coordinator pages and the auditor's export,
//! through core, on both backends: who may call each, what an invitation may grant and
//! where, what a user list says each caller may manage, and whose name the leaves carry.

mod support;

use passerelle_core::CoreError;
use passerelle_domain::enums::{OrgKind, Role};
use support::{Backend, Harness, ctx};

async fn rules(backend: Backend) {
    let Some(h) = Harness::new(backend).await else {
        return;
    };
    h.org("ops", OrgKind::Centre).await;
    h.org("avec63", OrgKind::Association).await;
    let admin = h.user("admin.o", "ops", Role::Admin).await;
    let auditor = h.user("audit.o", "ops", Role::Auditor).await;
    let coord = h.user("coord.a", "avec63", Role::Coordinator).await;
    let psy = h.user("psy.a", "avec63", Role::Receiver).await;

    // Admin-only use cases: every other role is refused, nothing is done.
    for p in [&auditor, &coord, &psy] {
        assert!(matches!(
            h.core.orgs_as(p, &ctx()).await,
            Err(CoreError::Forbidden(_))
        ));
        assert!(matches!(
            h.core.key_status_as(p, &ctx()).await,
            Err(CoreError::Forbidden(_))
        ));
        assert!(matches!(
            h.core.add_org_as(p, "x-org", "X", "centre", &ctx()).await,
            Err(CoreError::Forbidden(_))
        ));
        assert!(matches!(
            h.core.issue_token_as(p, "psy.a", 3, &ctx()).await,
            Err(CoreError::Forbidden(_))
        ));
        assert!(matches!(
            h.core.tokens_as(p, "psy.a", &ctx()).await,
            Err(CoreError::Forbidden(_))
        ));
    }
    assert!(h.store.org_by_slug("x-org").await.unwrap().is_none());

    // Organisations: checked slug, kind and name; a taken slug is a conflict.
    let org = h
        .core
        .add_org_as(&admin, "cidff63", "CIDFF 63", "association", &ctx())
        .await
        .expect("added");
    assert_eq!(org.kind, OrgKind::Association);
    for (slug, name, kind) in [
        ("Bad Slug", "N", "centre"),
        ("ok-slug", "N", "spaceship"),
        ("ok-slug", "  ", "centre"),
    ] {
        assert!(matches!(
            h.core.add_org_as(&admin, slug, name, kind, &ctx()).await,
            Err(CoreError::BadRequest(_))
        ));
    }
    assert!(matches!(
        h.core
            .add_org_as(&admin, "cidff63", "Again", "centre", &ctx())
            .await,
        Err(CoreError::Conflict(_))
    ));
    assert!(h.core.key_status_as(&admin, &ctx()).await.is_ok());

    // Invitations: an admin anywhere with any role; a coordinator in their own
    // organisation, referrers and receivers only; auditors never.
    let inv = h
        .core
        .invite_user_as(&admin, "greffe.c", "cidff63", "admin", false, &ctx())
        .await
        .expect("admin invites");
    assert!(inv.link.path().starts_with("/enrol/"));
    assert!(
        h.core.enrolment(&inv.link.token).await.is_ok(),
        "the link works"
    );
    h.core
        .invite_user_as(&coord, "accueil.a", "avec63", "referrer", false, &ctx())
        .await
        .expect("coordinator invites a referrer");
    assert!(matches!(
        h.core
            .invite_user_as(&coord, "chef.a", "avec63", "admin", false, &ctx())
            .await,
        Err(CoreError::Forbidden("role-not-grantable"))
    ));
    assert!(matches!(
        h.core
            .invite_user_as(&coord, "loin.a", "cidff63", "referrer", false, &ctx())
            .await,
        Err(CoreError::Forbidden("other-organisation"))
    ));
    assert!(matches!(
        h.core
            .invite_user_as(&auditor, "z.z", "ops", "referrer", false, &ctx())
            .await,
        Err(CoreError::Forbidden("role"))
    ));
    assert!(matches!(
        h.core
            .invite_user_as(&admin, "psy.a", "avec63", "receiver", false, &ctx())
            .await,
        Err(CoreError::Conflict(_))
    ));
    assert!(matches!(
        h.core
            .invite_user_as(&admin, "x.y", "nowhere", "receiver", false, &ctx())
            .await,
        Err(CoreError::NotFound)
    ));
    for name in ["chef.a", "loin.a", "z.z", "x.y"] {
        assert!(h.store.user_by_username(name).await.unwrap().is_none());
    }

    // Lists: an admin sees every organisation, a coordinator their own; `manageable`
    // says what reset and disable would allow.
    let all = h.core.users_as(&admin, &ctx()).await.expect("admin list");
    assert!(all.iter().any(|u| u.username.as_str() == "psy.a"));
    assert!(all.iter().any(|u| u.username.as_str() == "greffe.c"));
    let own = h
        .core
        .users_as(&coord, &ctx())
        .await
        .expect("coordinator list");
    assert!(own.iter().all(|u| u.org == "avec63"));
    for u in &own {
        let want = matches!(u.role, Role::Referrer | Role::Receiver);
        assert_eq!(u.manageable, want, "{}", u.username.as_str());
        let reset = h
            .core
            .reset_user_as(&coord, u.username.as_str(), &ctx())
            .await;
        assert_eq!(reset.is_ok(), want, "{}", u.username.as_str());
    }
    assert!(matches!(
        h.core.users_as(&auditor, &ctx()).await,
        Err(CoreError::Forbidden(_))
    ));

    // Tokens by an admin, revoked by id; the leaves name the admin.
    let t = h
        .core
        .issue_token_as(&admin, "psy.a", 7, &ctx())
        .await
        .expect("token");
    assert!(matches!(
        h.core.issue_token_as(&admin, "psy.a", 91, &ctx()).await,
        Err(CoreError::BadRequest(_))
    ));
    assert!(matches!(
        h.core.issue_token_as(&admin, "nobody.x", 7, &ctx()).await,
        Err(CoreError::NotFound)
    ));
    h.core
        .revoke_token_as(&admin, &t.id.to_string(), &ctx())
        .await
        .expect("revoked");
    assert!(matches!(
        h.core.revoke_token_as(&admin, "not-an-id", &ctx()).await,
        Err(CoreError::NotFound)
    ));
    assert!(h.core.authenticate_token(&t.token, &ctx()).await.is_err());

    // The auditor's export: auditors only, recorded first by the auditor.
    let mut out = Vec::new();
    assert!(matches!(
        h.core.audit_export_as(&admin, &mut out, &ctx()).await,
        Err(CoreError::Forbidden(_))
    ));
    assert!(out.is_empty());
    let summary = h
        .core
        .audit_export_as(&auditor, &mut out, &ctx())
        .await
        .expect("export");
    assert!(summary.entries > 0 && !out.is_empty());

    let leaves = h.store.audit_leaves(0, 10_000).await.unwrap();
    let by = |action: &str, who: &str| {
        leaves
            .iter()
            .any(|l| l.leaf.action == action && l.leaf.actor.as_deref() == Some(who))
    };
    assert!(by("org.added", "admin.o"));
    assert!(by("user.added", "admin.o"));
    assert!(by("user.added", "coord.a"));
    assert!(by("user.enrolment_issued", "coord.a"));
    assert!(by("token.issued", "admin.o"));
    assert!(by("token.revoked", "admin.o"));
    assert!(by("audit.exported", "audit.o"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_rules_on_sqlite() {
    rules(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_rules_on_postgres() {
    rules(Backend::Postgres).await;
}
