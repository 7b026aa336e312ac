//! The auditor console, the admin pages and the coordinator dashboard through the real
//! router, on SQLite and on PostgreSQL: each page renders for its role (French, English on
//! request, the page CSP, no script) and is the 403 page for every other role; forms
//! without their CSRF token are refused; the auditor's pages and export hold no victim
//! string of a filed referral; the export downloads and is recorded; an invitation's link
//! enrols the new user; organisations, tokens, resets and disabling work and refuse in
//! French with the form kept.

mod support;

use passerelle_domain::enums::{OrgKind, Role};
use passerelle_web::ratelimit::Limits;
use serde_json::json;
use support::*;

macro_rules! on_both {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(app) = super::TestApp::new(super::Backend::Sqlite, super::Limits::disabled()).await {
                    super::$name(app).await;
                }
            })+
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(app) = super::TestApp::new(super::Backend::Postgres, super::Limits::disabled()).await {
                    super::$name(app).await;
                }
            })+
        }
    };
}

on_both!(
    each_page_for_its_role_only,
    auditor_pages_hold_no_content,
    export_downloads_and_is_recorded,
    invitation_link_enrols,
    organisations_tokens_and_keys,
    coordinators_reset_and_disable,
);

const NAME: &str = "Zoé Quelquechose-Unique";
const NARRATIVE: &str = "Récit confidentiel numéro 48151623";
const CODE_WORD: &str = "mot-de-passe-tournesol";
const PHONE: &str = "+33 6 98 76 54 32";
const VICTIM: [&str; 4] = [NAME, NARRATIVE, CODE_WORD, PHONE];

/// Two organisations with a user of every role; returns their web sessions.
struct World {
    referrer: String,
    receiver: String,
    coordinator: String,
    auditor: String,
    admin: String,
}

impl World {
    fn session(&self, role: Role) -> &str {
        match role {
            Role::Referrer => &self.referrer,
            Role::Receiver => &self.receiver,
            Role::Coordinator => &self.coordinator,
            Role::Auditor => &self.auditor,
            Role::Admin => &self.admin,
        }
    }
}

async fn world(app: &TestApp) -> World {
    app.org("police-a", OrgKind::Police).await;
    app.org("asso-b", OrgKind::Association).await;
    app.org("ops", OrgKind::Centre).await;
    app.user("ref.a", "police-a", Role::Referrer).await;
    app.user("rec.b", "asso-b", Role::Receiver).await;
    app.user("coord.b", "asso-b", Role::Coordinator).await;
    app.user("audit.o", "ops", Role::Auditor).await;
    app.user("admin.o", "ops", Role::Admin).await;
    World {
        referrer: app.web_session("ref.a").await,
        receiver: app.web_session("rec.b").await,
        coordinator: app.web_session("coord.b").await,
        auditor: app.web_session("audit.o").await,
        admin: app.web_session("admin.o").await,
    }
}

/// Files a referral with known victim strings through the API, and has the receiver open
/// it and the referrer read it; returns its case id.
async fn file_and_read(app: &TestApp) -> String {
    let referrer = app.token("ref.a").await;
    let receiver = app.token("rec.b").await;
    let filed = app
        .send(
            "POST",
            "/api/v1/referrals",
            &[bearer(&referrer)],
            Payload::Json(json!({
                "to_org": "asso-b",
                "purpose": "psychological_support",
                "urgency": "high",
                "consent": {
                    "basis": "consent", "method": "written", "obtained_at": "2026-11-29T10:00:00Z",
                    "recipients": ["asso-b"], "purposes": ["psychological_support"],
                    "data_categories": ["identity", "contact", "narrative"],
                    "expires_at": "2099-01-01T00:00:00Z"
                },
                "subject": { "name": NAME, "birth_date": "1988-03-09", "phone": PHONE },
                "safety": { "channel": "sms", "hours": "après 18 h", "voicemail_ok": false,
                            "may_name_org": false, "code_word": CODE_WORD, "do_not_contact": false },
                "notes": { "narrative": NARRATIVE }
            })),
        )
        .await;
    assert_eq!(filed.status, 201, "{}", filed.text());
    let id = filed.json()["id"].as_str().expect("id").to_owned();
    let row = app
        .store
        .referral(id.parse().expect("a referral id"))
        .await
        .expect("store")
        .expect("the referral");
    let case = row.case_id.to_string();
    for token in [&receiver, &referrer] {
        let read = app
            .send(
                "GET",
                &format!("/api/v1/referrals/{id}"),
                &[bearer(token)],
                Payload::Empty,
            )
            .await;
        assert_eq!(read.status, 200, "{}", read.text());
        assert!(read.text().contains(NAME), "the party reads the content");
    }
    case
}

fn assert_page(a: &Answer, what: &str) {
    let csp = a.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script"),
        "{what}: page CSP"
    );
    assert_eq!(
        a.header("cache-control").as_deref(),
        Some("no-store"),
        "{what}"
    );
    let html = a.text();
    assert!(
        !html.contains("<script") && !html.contains(" style="),
        "{what}"
    );
    assert!(html.contains("<html lang=\"fr\">"), "{what}: French");
}

async fn get(app: &TestApp, session: &str, path: &str) -> Answer {
    app.send("GET", path, &[session_header(session)], Payload::Empty)
        .await
}

async fn post(app: &TestApp, session: &str, path: &str, form: &str) -> Answer {
    let form = format!("csrf={}&{form}", enc(&passerelle_core::csrf_token(session)));
    app.send(
        "POST",
        path,
        &[session_header(session)],
        Payload::Form(form),
    )
    .await
}

async fn each_page_for_its_role_only(app: TestApp) {
    let w = world(&app).await;
    let case = file_and_read(&app).await;
    let report = format!("/audit/cases/{case}");
    let pages: [(&str, Role, &str); 7] = [
        ("/audit", Role::Auditor, "Journal d’audit"),
        ("/audit/verify", Role::Auditor, "Vérification du journal"),
        (&report, Role::Auditor, "Rapport d’accès du dossier"),
        ("/admin", Role::Admin, "Organisations et clés"),
        ("/admin/users", Role::Admin, "Inviter une personne"),
        ("/admin/tokens", Role::Admin, "Jetons d’API"),
        ("/coordination", Role::Coordinator, "Tableau de bord"),
    ];
    for (path, owner, title) in pages {
        for role in Role::ALL {
            let a = get(&app, w.session(*role), path).await;
            assert_page(&a, path);
            if *role == owner {
                assert_eq!(a.status, 200, "{path} as {role:?}: {}", a.text());
                assert!(a.text().contains(title), "{path}: {title}");
                let en = get(&app, w.session(*role), &format!("{path}?lang=en")).await;
                assert!(
                    en.text().contains("<html lang=\"en\">"),
                    "{path} in English"
                );
            } else {
                assert_eq!(a.status, 403, "{path} as {role:?}");
                assert!(
                    a.text()
                        .contains("Cette page n’est pas accessible avec votre rôle"),
                    "{path} as {role:?}: the French 403 page"
                );
            }
        }
        // Without a session: to the login page, coming back here.
        let anon = app.send("GET", path, &[], Payload::Empty).await;
        assert_eq!(anon.status, 303, "{path}");
        assert!(
            anon.header("location")
                .is_some_and(|l| l.starts_with("/login?next=")),
            "{path}"
        );
    }
    // The navigation shows each role its own pages only.
    let nav = |html: &str, href: &str| html.contains(&format!("href=\"{href}\""));
    let home = get(&app, &w.auditor, "/").await.text();
    assert!(nav(&home, "/audit") && !nav(&home, "/admin") && !nav(&home, "/coordination"));
    let home = get(&app, &w.admin, "/").await.text();
    assert!(nav(&home, "/admin") && nav(&home, "/admin/tokens") && !nav(&home, "/audit"));
    let home = get(&app, &w.coordinator, "/").await.text();
    assert!(nav(&home, "/coordination") && !nav(&home, "/admin"));
    let home = get(&app, &w.receiver, "/").await.text();
    assert!(!nav(&home, "/coordination") && !nav(&home, "/admin") && !nav(&home, "/audit"));

    // Every form of these pages is refused without its token, whoever posts it.
    for (path, form) in [
        ("/audit/export", ""),
        ("/admin/orgs", "slug=x-org&name=X&kind=centre"),
        ("/admin/tokens", "user=ref.a&days=3"),
        (
            "/admin/tokens/revoke",
            "id=00000000-0000-0000-0000-000000000000",
        ),
        ("/accounts", "username=n.new&org=asso-b&role=referrer"),
        ("/accounts/ref.a/reset", ""),
        ("/accounts/ref.a/disable", "confirm=yes"),
    ] {
        for session in [&w.admin, &w.auditor, &w.coordinator] {
            let a = app
                .send(
                    "POST",
                    path,
                    &[session_header(session)],
                    Payload::Form(form.to_owned()),
                )
                .await;
            assert_eq!(a.status, 403, "{path} without its token");
            assert!(a.text().contains("Ce formulaire a expiré"), "{path}");
            let a = app
                .send(
                    "POST",
                    path,
                    &[session_header(session)],
                    Payload::Form(format!("csrf=forged&{form}")),
                )
                .await;
            assert_eq!(a.status, 403, "{path} with a forged token");
        }
    }
    assert!(
        app.store
            .org_by_slug("x-org")
            .await
            .expect("store")
            .is_none()
    );
    assert!(
        app.store
            .user_by_username("n.new")
            .await
            .expect("store")
            .is_none()
    );
    // A right token but the wrong role: the 403 page, nothing done.
    let a = post(
        &app,
        &w.coordinator,
        "/admin/orgs",
        "slug=y-org&name=Y&kind=centre",
    )
    .await;
    assert_eq!(a.status, 403);
    let a = post(&app, &w.admin, "/audit/export", "").await;
    assert_eq!(a.status, 403);
    assert!(a.text().contains("Accès refusé"));
}

async fn auditor_pages_hold_no_content(app: TestApp) {
    let w = world(&app).await;
    let case = file_and_read(&app).await;
    let mut bodies = Vec::new();
    for path in [
        "/audit".to_owned(),
        format!("/audit?case_id={case}"),
        "/audit?actor=rec.b".to_owned(),
        "/audit?org=asso-b&action=referral.read".to_owned(),
        "/audit?since=2020-01-01&until=2099-12-31".to_owned(),
        "/audit/verify".to_owned(),
        format!("/audit/cases/{case}"),
        format!("/audit/cases/{case}?lang=en"),
    ] {
        let a = get(&app, &w.auditor, &path).await;
        assert_eq!(a.status, 200, "{path}: {}", a.text());
        bodies.push((path, a.text()));
    }
    let export = post(&app, &w.auditor, "/audit/export", "").await;
    assert_eq!(export.status, 200);
    bodies.push(("export".into(), export.text()));
    for (path, body) in &bodies {
        for s in VICTIM {
            assert!(!body.contains(s), "{path}: victim data on an auditor page");
            assert!(!body.contains(&enc(s)), "{path}: victim data, encoded");
        }
    }
    // What they do show: the case's reads by the receiver and the referrer, under consent.
    let report = &bodies[6].1;
    assert!(
        report.contains("rec.b") && report.contains("ref.a"),
        "{report}"
    );
    assert!(report.contains("referral.read") && report.contains("consentement"));
    assert!(report.contains("@media print") || report.contains("noprint"));
    let by_case = &bodies[1].1;
    assert!(by_case.contains(&format!("href=\"/audit/cases/{case}\"")));
    let verify = &bodies[5].1;
    assert!(verify.contains("Le journal est intact"), "{verify}");
    assert!(verify.contains("id=\"head-size\"") && verify.contains("id=\"checkpoint\""));
    let root = between(verify, "id=\"head-root\">", "<").expect("root");
    assert_eq!(root.len(), 64, "a SHA-256 root in hex");

    // Paging: 50 events a page; the next page through the cursor, keeping the filters.
    while app
        .store
        .audit_head()
        .await
        .expect("head")
        .expect("head")
        .size
        < 120
    {
        let a = get(&app, &w.auditor, "/audit?action=audit.read").await;
        assert_eq!(a.status, 200);
    }
    let first = get(&app, &w.auditor, "/audit?action=audit.read")
        .await
        .text();
    let seqs = |html: &str| -> Vec<u64> {
        html.split("<tr>\n  <td>")
            .skip(1)
            .filter_map(|row| row.split('<').next()?.parse().ok())
            .collect()
    };
    let page1 = seqs(&first);
    assert_eq!(page1.len(), 50, "a full first page");
    let next = between(&first, "<a href=\"/audit?", "\"").expect("next page link");
    let next = next.replace("&#38;", "&").replace("&amp;", "&");
    assert!(next.contains("action=audit.read") && next.contains("cursor="));
    let second = get(&app, &w.auditor, &format!("/audit?{next}")).await;
    assert_eq!(second.status, 200);
    assert!(
        second.text().contains("Première page"),
        "{next}: {}",
        second.text()
    );
    let page2 = seqs(&second.text());
    assert!(!page2.is_empty());
    assert!(
        page2.iter().all(|s| s > page1.last().expect("page 1")),
        "the next page follows the first"
    );

    // Refusals in French, the form kept; unknown ids are 404 pages.
    let a = get(&app, &w.auditor, "/audit?case_id=not-a-case&actor=rec.b").await;
    assert_eq!(a.status, 400);
    assert!(
        a.text()
            .contains("L’identifiant de dossier n’est pas valide")
    );
    assert!(a.text().contains("value=\"not-a-case\"") && a.text().contains("value=\"rec.b\""));
    let a = get(&app, &w.auditor, "/audit?since=29/11/2026").await;
    assert_eq!(a.status, 400);
    assert!(a.text().contains("Une date n’est pas valide"));
    let a = get(&app, &w.auditor, "/audit?action=referral.teleported").await;
    assert_eq!(a.status, 400);
    let a = get(
        &app,
        &w.auditor,
        "/audit/cases/00000000-0000-4000-8000-000000000000",
    )
    .await;
    assert_eq!(a.status, 404);
    assert!(a.text().contains("Introuvable"));
    let a = get(&app, &w.auditor, "/audit/cases/nope").await;
    assert_eq!(a.status, 404);
}

async fn export_downloads_and_is_recorded(app: TestApp) {
    let w = world(&app).await;
    file_and_read(&app).await;
    let a = post(&app, &w.auditor, "/audit/export", "").await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(
        a.header("content-disposition")
            .is_some_and(|d| d.starts_with("attachment; filename=\"passerelle-audit-"))
    );
    assert_eq!(
        a.header("content-type").as_deref(),
        Some("application/jsonl")
    );
    let text = a.text();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 5, "every entry, its checkpoint and key");
    for l in &lines {
        serde_json::from_str::<serde_json::Value>(l).expect("one JSON value per line");
    }
    // It verifies offline with the public key alone.
    let log = app.core.audit_log();
    let summary = passerelle_core::audit::verify_export(text.as_bytes(), log.key(), None)
        .unwrap_or_else(|e| panic!("the export verifies: {e:?}"));
    assert!(summary.entries > 0);
    // Recorded as audit.exported by the auditor, before the entries were written.
    let leaves = app.store.audit_leaves(0, 100_000).await.expect("leaves");
    let exported: Vec<_> = leaves
        .iter()
        .filter(|l| l.leaf.action == "audit.exported")
        .collect();
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0].leaf.actor.as_deref(), Some("audit.o"));
    assert!(
        exported[0].seq < summary.entries,
        "the export includes its own record"
    );
    // Another role's attempt is refused and recorded as such.
    let a = post(&app, &w.coordinator, "/audit/export", "").await;
    assert_eq!(a.status, 403);
    let leaves = app.store.audit_leaves(0, 100_000).await.expect("leaves");
    assert_eq!(
        leaves
            .iter()
            .filter(|l| l.leaf.action == "audit.exported")
            .count(),
        1
    );
}

async fn invitation_link_enrols(app: TestApp) {
    let w = world(&app).await;
    // An admin invites into any organisation, with any role.
    let a = post(
        &app,
        &w.admin,
        "/accounts",
        "username=psy.new&org=asso-b&role=receiver&health_professional=yes",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(a.text().contains("Ce lien ne s’affiche qu’une fois"));
    let shown = between(&a.text(), "id=\"enrolment-link\">", "<").expect("the link");
    let path = &shown[shown.find("/enrol/").expect("an enrolment path")..];
    // The link enrols the new user, who then logs in.
    let page = app.send("GET", path, &[], Payload::Empty).await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("psy.new"));
    let secret = between(&html, "id=\"totp-secret\">", "<")
        .expect("secret")
        .replace(' ', "");
    let csrf = hidden(&html, "csrf").expect("csrf");
    let pw = "une phrase de passe assez longue";
    let form = format!(
        "csrf={}&password={}&confirm={}&code={}",
        enc(&csrf),
        enc(pw),
        enc(pw),
        app.code(&secret)
    );
    let done = app.send("POST", path, &[], Payload::Form(form)).await;
    assert_eq!(done.status, 303, "{}", done.text());
    app.advance(time::Duration::seconds(30));
    let session = app
        .login("psy.new", pw, &app.code(&secret))
        .await
        .unwrap_or_else(|a| panic!("login: {} {}", a.status, a.text()));
    let home = get(&app, &session, "/").await;
    assert!(home.text().contains("psy.new") && home.text().contains("asso-b"));
    let user = app
        .store
        .user_by_username("psy.new")
        .await
        .expect("store")
        .expect("user");
    assert_eq!(user.role, Role::Receiver);
    assert!(user.health_professional);
    // The admin's list shows the account, enrolled.
    let list = get(&app, &w.admin, "/admin/users").await.text();
    assert!(list.contains("psy.new"));

    // Refusals: the form again, the values kept.
    let a = post(
        &app,
        &w.admin,
        "/accounts",
        "username=Bad%20Name&org=asso-b&role=referrer",
    )
    .await;
    assert_eq!(a.status, 400);
    assert!(
        a.text()
            .contains("L’identifiant de compte n’est pas valide")
    );
    assert!(a.text().contains("value=\"Bad Name\""));
    let a = post(
        &app,
        &w.admin,
        "/accounts",
        "username=psy.new&org=asso-b&role=referrer",
    )
    .await;
    assert_eq!(a.status, 409);
    assert!(a.text().contains("déjà pris"));
    let a = post(
        &app,
        &w.admin,
        "/accounts",
        "username=x.y&org=nowhere&role=referrer",
    )
    .await;
    assert_eq!(a.status, 400);
    assert!(a.text().contains("Cette organisation n’existe pas"));

    // A coordinator invites into their own organisation only, referrers and receivers only.
    let a = post(
        &app,
        &w.coordinator,
        "/accounts",
        "username=accueil.b&org=police-a&role=referrer",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let user = app
        .store
        .user_by_username("accueil.b")
        .await
        .expect("store")
        .expect("user");
    let asso = app
        .store
        .org_by_slug("asso-b")
        .await
        .expect("store")
        .expect("org");
    assert_eq!(user.org_id, asso.id, "the coordinator's own organisation");
    let a = post(
        &app,
        &w.coordinator,
        "/accounts",
        "username=boss.b&role=admin",
    )
    .await;
    assert_eq!(a.status, 403);
    assert!(a.text().contains("Vous ne pouvez pas donner ce rôle"));
    assert!(a.text().contains("value=\"boss.b\""), "the form kept");
    assert!(
        app.store
            .user_by_username("boss.b")
            .await
            .expect("store")
            .is_none()
    );
    // Other roles: the 403 page.
    let a = post(
        &app,
        &w.auditor,
        "/accounts",
        "username=z.z&org=ops&role=auditor",
    )
    .await;
    assert_eq!(a.status, 403);
    assert!(a.text().contains("Accès refusé"));
    // Invitations are recorded, naming who invited.
    let leaves = app.store.audit_leaves(0, 100_000).await.expect("leaves");
    assert!(
        leaves
            .iter()
            .any(|l| l.leaf.action == "user.added" && l.leaf.actor.as_deref() == Some("admin.o"))
    );
    assert!(
        leaves
            .iter()
            .any(|l| l.leaf.action == "user.enrolment_issued"
                && l.leaf.actor.as_deref() == Some("coord.b"))
    );
}

async fn organisations_tokens_and_keys(app: TestApp) {
    let w = world(&app).await;
    let a = post(
        &app,
        &w.admin,
        "/admin/orgs",
        "slug=cidff63&name=CIDFF%20du%20Puy-de-D%C3%B4me&kind=association",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(a.text().contains("L’organisation a été créée"));
    assert!(a.text().contains("CIDFF du Puy-de-Dôme"));
    assert!(
        app.store
            .org_by_slug("cidff63")
            .await
            .expect("store")
            .is_some()
    );
    let a = post(
        &app,
        &w.admin,
        "/admin/orgs",
        "slug=cidff63&name=Again&kind=association",
    )
    .await;
    assert_eq!(a.status, 409);
    assert!(a.text().contains("déjà pris") && a.text().contains("value=\"Again\""));
    let a = post(
        &app,
        &w.admin,
        "/admin/orgs",
        "slug=Not%20A%20Slug&name=N&kind=centre",
    )
    .await;
    assert_eq!(a.status, 400);
    assert!(a.text().contains("L’identifiant court n’est pas valide"));
    assert!(a.text().contains("value=\"Not A Slug\""));
    let a = post(
        &app,
        &w.admin,
        "/admin/orgs",
        "slug=ok-slug&name=N&kind=spaceship",
    )
    .await;
    assert_eq!(a.status, 400);

    // Key status: versions and counts, never a key.
    let page = get(&app, &w.admin, "/admin").await.text();
    assert!(page.contains("id=\"kek-current\""));
    assert!(page.contains("cidff63"));
    assert!(!page.contains("AGE-SECRET-KEY") && !page.contains("age1"));

    // Tokens: issued once, listed by id, revoked.
    let a = post(&app, &w.admin, "/admin/tokens", "user=ref.a&days=7").await;
    assert_eq!(a.status, 200, "{}", a.text());
    let token = between(&a.text(), "id=\"api-token\">", "<").expect("token shown");
    let id = between(&a.text(), "id=\"token-id\">", "<").expect("id shown");
    let api = app
        .send(
            "GET",
            "/api/v1/referrals?box=sent",
            &[bearer(&token)],
            Payload::Empty,
        )
        .await;
    assert_eq!(api.status, 200, "the token works");
    let list = get(&app, &w.admin, "/admin/tokens?user=ref.a").await.text();
    assert!(
        list.contains(&id) && !list.contains(&token),
        "listed by id only"
    );
    let a = post(
        &app,
        &w.admin,
        "/admin/tokens/revoke",
        &format!("id={id}&user=ref.a"),
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(a.text().contains("Le jeton a été révoqué"));
    let api = app
        .send(
            "GET",
            "/api/v1/referrals?box=sent",
            &[bearer(&token)],
            Payload::Empty,
        )
        .await;
    assert_eq!(api.status, 401, "revoked");
    let a = post(&app, &w.admin, "/admin/tokens/revoke", &format!("id={id}")).await;
    assert_eq!(a.status, 404, "already revoked");
    let a = post(&app, &w.admin, "/admin/tokens", "user=ref.a&days=365").await;
    assert_eq!(a.status, 400);
    assert!(a.text().contains("entre 1 et 90"));
    let a = post(&app, &w.admin, "/admin/tokens", "user=nobody.here&days=3").await;
    assert_eq!(a.status, 400);
    assert!(a.text().contains("Ce compte n’existe pas"));
    let leaves = app.store.audit_leaves(0, 100_000).await.expect("leaves");
    for action in ["org.added", "token.issued", "token.revoked"] {
        assert!(
            leaves
                .iter()
                .any(|l| l.leaf.action == action && l.leaf.actor.as_deref() == Some("admin.o")),
            "{action} by the admin"
        );
    }
}

async fn coordinators_reset_and_disable(app: TestApp) {
    let w = world(&app).await;
    file_and_read(&app).await;
    let dash = get(&app, &w.coordinator, "/coordination").await;
    assert_eq!(dash.status, 200);
    let html = dash.text();
    assert!(html.contains("Orientations reçues") && html.contains("rec.b"));
    for s in VICTIM {
        assert!(!html.contains(s), "no content on the dashboard");
    }
    // One received referral, opened, answered.
    assert!(html.contains("Délai médian de première réponse"));
    // The coordinator manages receivers of the organisation, not themself.
    assert!(html.contains("action=\"/accounts/rec.b/reset\""));
    assert!(!html.contains("action=\"/accounts/coord.b/reset\""));

    let a = post(&app, &w.coordinator, "/accounts/rec.b/reset", "").await;
    assert_eq!(a.status, 200, "{}", a.text());
    let link = between(&a.text(), "id=\"enrolment-link\">", "<").expect("link");
    assert!(link.contains("/enrol/"));
    // The reset ended the receiver's session.
    let gone = get(&app, &w.receiver, "/").await;
    assert_eq!(gone.status, 303);

    // Another organisation's user: 404; an admin of the same organisation would be 403.
    let a = post(&app, &w.coordinator, "/accounts/ref.a/reset", "").await;
    assert_eq!(a.status, 404);
    assert!(a.text().contains("Introuvable"));

    // Disabling asks first, then disables for good.
    let a = post(&app, &w.coordinator, "/accounts/rec.b/disable", "").await;
    assert_eq!(a.status, 200);
    assert!(a.text().contains("name=\"confirm\" value=\"yes\""));
    assert!(
        !app.store
            .user_by_username("rec.b")
            .await
            .expect("store")
            .expect("user")
            .disabled
    );
    let a = post(
        &app,
        &w.coordinator,
        "/accounts/rec.b/disable",
        "confirm=yes",
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(a.text().contains("Le compte a été désactivé"));
    assert!(
        app.store
            .user_by_username("rec.b")
            .await
            .expect("store")
            .expect("user")
            .disabled
    );
    let a = post(&app, &w.coordinator, "/accounts/rec.b/reset", "").await;
    assert_eq!(a.status, 409);
    assert!(a.text().contains("Ce compte est désactivé"));
    let a = post(
        &app,
        &w.coordinator,
        "/accounts/ref.a/disable",
        "confirm=yes",
    )
    .await;
    assert_eq!(a.status, 404);
}
