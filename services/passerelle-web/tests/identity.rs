//! Accounts, sessions, TOTP, CSRF, rate limits and statistics through the real router, on
//! SQLite and on PostgreSQL.

mod support;

use passerelle_core::{RequestCtx, SESSION_ABSOLUTE, SESSION_IDLE};
use passerelle_domain::enums::{OrgKind, Role};
use passerelle_web::ratelimit::Limits;
use serde_json::json;
use support::*;
use time::Duration;

macro_rules! on_both {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(app) = super::TestApp::new(super::Backend::Sqlite, super::limits_for(stringify!($name))).await {
                    super::$name(app).await;
                }
            })+
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(app) = super::TestApp::new(super::Backend::Postgres, super::limits_for(stringify!($name))).await {
                    super::$name(app).await;
                }
            })+
        }
    };
}

on_both!(
    enrolment_then_login_then_logout,
    totp_wrong_reused_or_foreign_is_refused,
    lockout_is_shared_and_lifted,
    session_lifetimes,
    disabling_ends_everything,
    forms_need_their_csrf_token,
    reset_and_disable_through_the_api,
    coordinators_see_counts_and_delays_only,
    bad_tokens_draw_429,
);

fn limits_for(test: &str) -> Limits {
    if test == "bad_tokens_draw_429" {
        Limits::default()
    } else {
        Limits::disabled()
    }
}

async fn world(app: &TestApp) {
    app.org("police-a", OrgKind::Police).await;
    app.org("asso-b", OrgKind::Association).await;
    app.user("ref.a", "police-a", Role::Referrer).await;
    app.user("rec.b", "asso-b", Role::Receiver).await;
    app.user("coord.b", "asso-b", Role::Coordinator).await;
    app.user("admin.a", "police-a", Role::Admin).await;
}

const PW: &str = "correct horse battery staple";

async fn enrolment_then_login_then_logout(app: TestApp) {
    world(&app).await;
    let link = app
        .core
        .reset_user("rec.b", &RequestCtx::default())
        .await
        .expect("link");
    // The page: French by default, English on request, QR code and the secret, CSP.
    let page = app.send("GET", &link.path(), &[], Payload::Empty).await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("<html lang=\"fr\">") && html.contains("Activer votre compte"));
    assert!(html.contains("<svg role=\"img\""), "a QR code");
    let secret = between(&html, "id=\"totp-secret\">", "<")
        .expect("secret")
        .replace(' ', "");
    assert_eq!(secret.len(), 32, "160 bits in base32");
    let csp = page.header("content-security-policy").expect("csp");
    assert!(csp.contains("default-src 'none'") && csp.contains("style-src 'self'"));
    assert!(!csp.contains("script") && !csp.contains("unsafe"));
    assert!(!html.contains("<script") && !html.contains(" style="));
    let again = app
        .send(
            "GET",
            &format!("{}?lang=en", link.path()),
            &[],
            Payload::Empty,
        )
        .await;
    assert!(again.text().contains("Activate your account"));
    assert!(
        again.text().contains(&secret[..4]),
        "the same seed on every visit until used"
    );
    let csrf = hidden(&html, "csrf").expect("csrf");

    // Refusals keep the link usable.
    for (pw, confirm, code, want) in [
        (
            "short",
            "short",
            app.code(&secret),
            "au moins 12 caractères",
        ),
        (
            PW,
            "another long passphrase",
            app.code(&secret),
            "pas identiques",
        ),
        (PW, PW, "000000".to_owned(), "Code incorrect"),
    ] {
        let form = format!(
            "csrf={}&password={}&confirm={}&code={}",
            enc(&csrf),
            enc(pw),
            enc(confirm),
            code
        );
        let a = app
            .send("POST", &link.path(), &[], Payload::Form(form))
            .await;
        assert_eq!(a.status, 422, "{want}");
        assert!(a.text().contains(want), "{want}: {}", a.text());
    }
    // Without its token the form is refused.
    let form = format!("password={}&confirm={}&code=123456", enc(PW), enc(PW));
    let a = app
        .send("POST", &link.path(), &[], Payload::Form(form))
        .await;
    assert_eq!(a.status, 403);

    let code = app.code(&secret);
    let form = format!(
        "csrf={}&password={}&confirm={}&code={code}",
        enc(&csrf),
        enc(PW),
        enc(PW)
    );
    let done = app
        .send("POST", &link.path(), &[], Payload::Form(form.clone()))
        .await;
    assert_eq!(done.status, 303);
    assert!(
        done.header("location")
            .is_some_and(|l| l.starts_with("/login?done=enrolled"))
    );
    // The link worked once.
    let used = app
        .send("POST", &link.path(), &[], Payload::Form(form))
        .await;
    assert_eq!(used.status, 404);
    assert_eq!(
        app.send("GET", &link.path(), &[], Payload::Empty)
            .await
            .status,
        404
    );
    // The enrolment code cannot log in (its step is used); the next step's code can.
    assert!(app.login("rec.b", PW, &code).await.is_err());
    app.advance(Duration::seconds(30));
    let session = app
        .login("rec.b", PW, &app.code(&secret))
        .await
        .expect("login");
    let home = app
        .send("GET", "/", &[session_header(&session)], Payload::Empty)
        .await;
    assert_eq!(home.status, 200);
    let html = home.text();
    assert!(html.contains("rec.b") && html.contains("asso-b") && html.contains("receiver"));
    assert!(html.contains("href=\"/inbox\""));
    let csrf = hidden(&html, "csrf").expect("csrf of the session");
    assert_eq!(csrf, passerelle_core::csrf_token(&session));

    // Logout ends the session server-side: the same cookie no longer works.
    let out = app
        .send(
            "POST",
            "/logout",
            &[session_header(&session)],
            Payload::Form(format!("csrf={}", enc(&csrf))),
        )
        .await;
    assert_eq!(out.status, 303);
    assert_eq!(out.set_cookie("__Host-passerelle").as_deref(), Some(""));
    let after = app
        .send("GET", "/", &[session_header(&session)], Payload::Empty)
        .await;
    assert_eq!(after.status, 303);
    assert_eq!(after.header("location").as_deref(), Some("/login"));

    // The audit log holds login.ok, logout and user.enrolled, never a secret.
    let leaves = app.store.audit_leaves(0, 10_000).await.expect("leaves");
    let actions: Vec<&str> = leaves.iter().map(|l| l.leaf.action.as_str()).collect();
    for a in ["user.enrolled", "login.ok", "logout", "login.failed"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    for l in &leaves {
        for s in [session.as_str(), secret.as_str(), PW, link.token.as_str()] {
            assert!(!l.leaf.bytes.windows(s.len()).any(|w| w == s.as_bytes()));
        }
    }
}

async fn totp_wrong_reused_or_foreign_is_refused(app: TestApp) {
    world(&app).await;
    let secret = app.enrol("rec.b", PW).await;
    let other_secret = app.enrol("ref.a", PW).await;
    // A login without the second factor reaches nothing.
    let no_code = app.login("rec.b", PW, "").await.expect_err("refused");
    assert_eq!(no_code.status, 401);
    assert!(
        no_code
            .text()
            .contains("Identifiant ou mot de passe incorrect.")
    );
    assert!(no_code.set_cookie("__Host-passerelle").is_none());
    // Wrong code, another account's code, a good code with a wrong password.
    let wrong = app.login("rec.b", PW, "123456").await.expect_err("wrong");
    assert_eq!(wrong.status, 401);
    let foreign = app
        .login("rec.b", PW, &app.code(&other_secret))
        .await
        .expect_err("foreign");
    assert_eq!(foreign.status, 401);
    let bad_pw = app
        .login("rec.b", "wrong password!!", &app.code(&secret))
        .await
        .expect_err("bad password");
    assert_eq!(bad_pw.status, 401);
    // The same message for an unknown account.
    let unknown = app
        .login("nobody.here", PW, &app.code(&secret))
        .await
        .expect_err("unknown");
    assert_eq!(unknown.status, 401);
    assert!(
        unknown
            .text()
            .contains("Identifiant ou mot de passe incorrect.")
    );
    // A good code works once.
    let code = app.code(&secret);
    app.login("rec.b", PW, &code).await.expect("first use");
    let replay = app.login("rec.b", PW, &code).await.expect_err("replayed");
    assert_eq!(replay.status, 401);
    // A password alone (set from standard input, no second factor enrolled) opens nothing.
    app.core
        .add_user(
            passerelle_core::NewUser {
                username: passerelle_domain::ids::Username::parse("pw.only").expect("name"),
                org: passerelle_domain::ids::OrgSlug::parse("asso-b").expect("slug"),
                role: Role::Receiver,
                health_professional: false,
                password: Some(zeroize::Zeroizing::new(PW.to_owned())),
            },
            &RequestCtx::default(),
        )
        .await
        .expect("user with a password");
    let pw_only = app
        .login("pw.only", PW, &app.code(&secret))
        .await
        .expect_err("no second factor");
    assert_eq!(pw_only.status, 401);
    assert!(pw_only.set_cookie("__Host-passerelle").is_none());
    // An account enrolled through a link but not yet: no login at all.
    app.core
        .reset_user("coord.b", &RequestCtx::default())
        .await
        .expect("link");
    let not_enrolled = app
        .login("coord.b", PW, &app.code(&secret))
        .await
        .expect_err("not enrolled");
    assert_eq!(not_enrolled.status, 401);
}

async fn lockout_is_shared_and_lifted(app: TestApp) {
    world(&app).await;
    let secret = app.enrol("rec.b", PW).await;
    for _ in 0..passerelle_core::MAX_FAILED_LOGINS {
        let a = app
            .login("rec.b", "not the password", "000000")
            .await
            .expect_err("refused");
        assert_eq!(a.status, 401);
    }
    // Locked: even the right password and code are refused, with the same message.
    let locked = app
        .login("rec.b", PW, &app.code(&secret))
        .await
        .expect_err("locked");
    assert_eq!(locked.status, 401);
    assert!(
        locked
            .text()
            .contains("Identifiant ou mot de passe incorrect.")
    );
    // The lock is in the database: another instance (a new router over the same core's
    // store) sees it too.
    let state = app
        .store
        .auth_state(app.principal(&app.token("rec.b").await).await.user_id())
        .await
        .expect("state");
    assert!(state.locked_until.is_some_and(|t| t > app.now()));
    app.advance(passerelle_core::LOCKOUT + Duration::seconds(1));
    app.login("rec.b", PW, &app.code(&secret))
        .await
        .expect("lifted");
}

async fn session_lifetimes(app: TestApp) {
    assert_eq!(SESSION_IDLE, Duration::minutes(15));
    assert_eq!(SESSION_ABSOLUTE, Duration::hours(12));
    world(&app).await;
    let secret = app.enrol("rec.b", PW).await;
    let session = app
        .login("rec.b", PW, &app.code(&secret))
        .await
        .expect("login");
    let home = |s: String| {
        let app = &app;
        async move {
            app.send("GET", "/", &[session_header(&s)], Payload::Empty)
                .await
                .status
        }
    };
    // Active every 14 minutes: alive, until 12 hours after login.
    let mut elapsed = Duration::ZERO;
    while elapsed + Duration::minutes(14) < SESSION_ABSOLUTE {
        app.advance(Duration::minutes(14));
        elapsed += Duration::minutes(14);
        assert_eq!(home(session.clone()).await, 200, "alive after {elapsed}");
    }
    app.advance(SESSION_ABSOLUTE - elapsed);
    assert_eq!(home(session.clone()).await, 303, "ended after 12 h");

    // Idle for 15 minutes: ended; 14 minutes 50: alive.
    app.advance(Duration::seconds(30));
    let session = app
        .login("rec.b", PW, &app.code(&secret))
        .await
        .expect("login");
    app.advance(Duration::minutes(14) + Duration::seconds(50));
    assert_eq!(home(session.clone()).await, 200);
    app.advance(SESSION_IDLE);
    let gone = app
        .send(
            "GET",
            "/inbox?x=1",
            &[session_header(&session)],
            Payload::Empty,
        )
        .await;
    // The expired session sends to the login page, with the place to come back to.
    assert_eq!(gone.status, 303);
    assert_eq!(
        gone.header("location").as_deref(),
        Some("/login?next=%2Finbox%3Fx%3D1"),
        "back to the inbox after logging in again"
    );
    let gone = app
        .send("GET", "/", &[session_header(&session)], Payload::Empty)
        .await;
    assert_eq!(gone.status, 303);
}

async fn disabling_ends_everything(app: TestApp) {
    world(&app).await;
    let secret = app.enrol("rec.b", PW).await;
    let session = app
        .login("rec.b", PW, &app.code(&secret))
        .await
        .expect("login");
    let token = app.token("rec.b").await;
    let inbox = |t: String| {
        let app = &app;
        async move {
            app.send(
                "GET",
                "/api/v1/referrals?box=inbox",
                &[bearer(&t)],
                Payload::Empty,
            )
            .await
            .status
        }
    };
    assert_eq!(inbox(token.clone()).await, 200);
    assert!(
        app.core
            .disable_user("rec.b", &RequestCtx::default())
            .await
            .expect("disable")
    );
    assert!(
        !app.core
            .disable_user("rec.b", &RequestCtx::default())
            .await
            .expect("again")
    );
    assert_eq!(inbox(token.clone()).await, 401);
    let home = app
        .send("GET", "/", &[session_header(&session)], Payload::Empty)
        .await;
    assert_eq!(home.status, 303);
    app.advance(Duration::seconds(30));
    assert!(app.login("rec.b", PW, &app.code(&secret)).await.is_err());
    // Tokens are revoked in the database, not only refused.
    let user = app
        .store
        .user_by_username("rec.b")
        .await
        .expect("user")
        .expect("kept, not deleted");
    assert!(user.disabled);
    let tokens = app.core.tokens_of("rec.b").await.expect("tokens");
    assert!(tokens.iter().all(|t| t.revoked_at.is_some()));
    let actions: Vec<String> = app
        .store
        .audit_leaves(0, 10_000)
        .await
        .expect("leaves")
        .into_iter()
        .map(|l| l.leaf.action)
        .collect();
    assert_eq!(
        actions.iter().filter(|a| *a == "user.disabled").count(),
        1,
        "one leaf for one change"
    );
}

async fn forms_need_their_csrf_token(app: TestApp) {
    world(&app).await;
    let secret = app.enrol("rec.b", PW).await;
    // The login form without its token, with a token of another form, from another site.
    let page = app.send("GET", "/login", &[], Payload::Empty).await;
    let cookie = page.set_cookie("__Host-passerelle-login").expect("cookie");
    let csrf = hidden(&page.text(), "csrf").expect("csrf");
    let code = app.code(&secret);
    let fields = format!("username=rec.b&password={}&code={code}", enc(PW));
    let jar = ("cookie", format!("__Host-passerelle-login={cookie}"));
    let no_token = app
        .send(
            "POST",
            "/login",
            std::slice::from_ref(&jar),
            Payload::Form(fields.clone()),
        )
        .await;
    assert_eq!(no_token.status, 403);
    let no_cookie = app
        .send(
            "POST",
            "/login",
            &[],
            Payload::Form(format!("csrf={}&{fields}", enc(&csrf))),
        )
        .await;
    assert_eq!(no_cookie.status, 403);
    let cross = app
        .send(
            "POST",
            "/login",
            &[
                jar.clone(),
                ("host", "passerelle.example".into()),
                ("origin", "https://evil.example".into()),
            ],
            Payload::Form(format!("csrf={}&{fields}", enc(&csrf))),
        )
        .await;
    assert_eq!(cross.status, 403);
    // Next only to a local path.
    let evil = app
        .send(
            "POST",
            "/login",
            &[jar],
            Payload::Form(format!(
                "csrf={}&{fields}&next=%2F%2Fevil.example%2Fx",
                enc(&csrf)
            )),
        )
        .await;
    assert_eq!(evil.status, 303);
    assert_eq!(evil.header("location").as_deref(), Some("/"));
    let session = evil.set_cookie("__Host-passerelle").expect("session");
    // A page redirects to the login page with a local next.
    let anon = app.send("GET", "/?lang=en", &[], Payload::Empty).await;
    assert_eq!(anon.status, 303);
    assert_eq!(
        anon.header("location").as_deref(),
        Some("/login?next=%2F%3Flang%3Den")
    );
    let login_en = app
        .send("GET", "/login?next=%2Finbox&lang=en", &[], Payload::Empty)
        .await;
    assert!(login_en.text().contains("Log in") && login_en.text().contains("value=\"/inbox\""));
    let login_evil = app
        .send(
            "GET",
            "/login?next=https://evil.example",
            &[],
            Payload::Empty,
        )
        .await;
    assert!(login_evil.text().contains("name=\"next\" value=\"/\""));
    // Logout without the session's token: refused, and the session lives on.
    let other = passerelle_core::new_secret().expect("secret");
    for body in [
        String::new(),
        format!("csrf={}", passerelle_core::csrf_token(&other)),
    ] {
        let a = app
            .send(
                "POST",
                "/logout",
                &[session_header(&session)],
                Payload::Form(body),
            )
            .await;
        assert_eq!(a.status, 403);
        assert!(a.text().contains("Action refusée"));
    }
    let home = app
        .send("GET", "/", &[session_header(&session)], Payload::Empty)
        .await;
    assert_eq!(home.status, 200);
    // The stylesheet is served, cacheable, as CSS.
    let css = app
        .send("GET", "/static/passerelle.css", &[], Payload::Empty)
        .await;
    assert_eq!(css.status, 200);
    assert!(
        css.header("content-type")
            .is_some_and(|c| c.starts_with("text/css"))
    );
}

async fn reset_and_disable_through_the_api(app: TestApp) {
    world(&app).await;
    app.user("ref.b", "asso-b", Role::Referrer).await;
    let coord = app.token("coord.b").await;
    let admin_a = app.token("admin.a").await;
    let ref_token = app.token("ref.b").await;
    let call = |method: &'static str, path: String, t: String| {
        let app = &app;
        async move { app.send(method, &path, &[bearer(&t)], Payload::Empty).await }
    };
    // Coordinator of the same organisation: a new link (relative path), 201.
    let a = call("POST", "/api/v1/users/ref.b/reset".into(), coord.clone()).await;
    assert_eq!(a.status, 201, "{}", a.text());
    let path = a.json()["enrolment_path"]
        .as_str()
        .expect("path")
        .to_owned();
    assert!(path.starts_with("/enrol/"));
    assert_eq!(
        app.send("GET", &path, &[], Payload::Empty).await.status,
        200
    );
    // Another organisation's admin: 404 exactly like an unknown user.
    let other_org = call("POST", "/api/v1/users/ref.b/reset".into(), admin_a.clone()).await;
    let unknown = call("POST", "/api/v1/users/nobody/reset".into(), admin_a.clone()).await;
    assert_eq!((other_org.status, unknown.status), (404, 404));
    let strip = |mut v: serde_json::Value| {
        v.as_object_mut().map(|o| o.remove("request_id"));
        v
    };
    assert_eq!(strip(other_org.json()), strip(unknown.json()));
    // A referrer may not; a coordinator may not reset a coordinator, nor themselves.
    let a = call(
        "POST",
        "/api/v1/users/rec.b/reset".into(),
        ref_token.clone(),
    )
    .await;
    assert_eq!(a.status, 403);
    let a = call("POST", "/api/v1/users/coord.b/reset".into(), coord.clone()).await;
    assert_eq!(a.status, 403);
    // Disable: 200, then the user's token stops working.
    let a = call("POST", "/api/v1/users/ref.b/disable".into(), coord.clone()).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["changed"], json!(true));
    let a = call("GET", "/api/v1/referrals?box=sent".into(), ref_token).await;
    assert_eq!(a.status, 401);
    let a = call("POST", "/api/v1/users/ref.b/disable".into(), coord.clone()).await;
    assert_eq!(a.json()["changed"], json!(false));
    // A disabled user gets no new link.
    let a = call("POST", "/api/v1/users/ref.b/reset".into(), coord).await;
    assert_eq!(a.status, 409);
}

fn filing(to: &str) -> serde_json::Value {
    json!({
        "to_org": to,
        "purpose": "psychological_support",
        "urgency": "normal",
        "consent": {
            "basis": "consent", "method": "oral", "obtained_at": "2026-11-29T10:00:00Z",
            "recipients": [to], "purposes": ["psychological_support"],
            "data_categories": ["identity"], "expires_at": "2099-01-01T00:00:00Z"
        },
        "subject": { "name": "Ysolde Marchetti-Brun" },
        "safety": { "channel": "phone", "hours": "matin", "voicemail_ok": false,
                    "may_name_org": false, "do_not_contact": false }
    })
}

async fn coordinators_see_counts_and_delays_only(app: TestApp) {
    world(&app).await;
    let police = app.token("ref.a").await;
    let receiver = app.token("rec.b").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let a = app
            .send(
                "POST",
                "/api/v1/referrals",
                &[bearer(&police)],
                Payload::Json(filing("asso-b")),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.text());
        ids.push(a.json()["id"].as_str().expect("id").to_owned());
    }
    app.advance(Duration::minutes(10));
    let a = app
        .send(
            "GET",
            &format!("/api/v1/referrals/{}", ids[0]),
            &[bearer(&receiver)],
            Payload::Empty,
        )
        .await;
    assert_eq!(a.status, 200);
    app.advance(Duration::minutes(20));
    let a = app
        .send(
            "POST",
            &format!("/api/v1/referrals/{}/accept", ids[1]),
            &[bearer(&receiver)],
            Payload::Empty,
        )
        .await;
    assert_eq!(a.status, 200);
    app.advance(Duration::days(4));
    let coord = app.token("coord.b").await;
    let stats = app
        .send("GET", "/api/v1/stats", &[bearer(&coord)], Payload::Empty)
        .await;
    assert_eq!(stats.status, 200, "{}", stats.text());
    let s = stats.json();
    assert_eq!(s["org"], "asso-b");
    assert_eq!(s["received"]["total"], 3);
    assert_eq!(s["received"]["by_status"]["sent"], 1);
    assert_eq!(s["received"]["by_status"]["acknowledged"], 1);
    assert_eq!(s["received"]["by_status"]["accepted"], 1);
    assert_eq!(s["received"]["overdue"], 2, "72 h passed");
    let d = &s["received"]["acknowledgement_delay_seconds"];
    assert_eq!(d["count"], 2);
    assert_eq!(d["median"], 600);
    assert_eq!(d["p90"], 1800);
    assert_eq!(s["sent"]["total"], 0);
    let text = stats.text();
    for id in &ids {
        assert!(!text.contains(id.as_str()), "no referral id");
    }
    assert!(!text.contains("Ysolde"));
    // Nobody else reads them.
    for t in [
        app.token("ref.a").await,
        app.token("rec.b").await,
        app.token("admin.a").await,
    ] {
        let a = app
            .send("GET", "/api/v1/stats", &[bearer(&t)], Payload::Empty)
            .await;
        assert_eq!(a.status, 403);
    }
}

async fn bad_tokens_draw_429(app: TestApp) {
    world(&app).await;
    let good = app.token("rec.b").await;
    let mut statuses = Vec::new();
    for i in 0..300 {
        let forged = format!("psl_forged{i:040}");
        let a = app
            .send(
                "GET",
                "/api/v1/referrals?box=inbox",
                &[bearer(&forged)],
                Payload::Empty,
            )
            .await;
        if a.status == 429 {
            let retry: u64 = a
                .header("retry-after")
                .expect("Retry-After")
                .parse()
                .expect("seconds");
            assert!(retry >= 1);
            assert_eq!(
                a.header("content-type").as_deref(),
                Some("application/problem+json")
            );
            assert!(
                a.json()["type"]
                    .as_str()
                    .is_some_and(|t| t.ends_with("rate-limited"))
            );
        }
        statuses.push(a.status);
    }
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429));
    let first = statuses.iter().position(|s| *s == 429).expect("429 drawn");
    assert!(first <= 40, "after about 30 failures, not {first}");
    assert!(statuses[first..].iter().all(|s| *s == 429), "and it holds");
    // The bad stream did not write an audit leaf per request.
    let failures = app
        .store
        .audit_leaves(0, 100_000)
        .await
        .expect("leaves")
        .iter()
        .filter(|l| l.leaf.action == "auth.failed")
        .count();
    assert!(failures <= 40, "{failures} auth.failed leaves");
    // While blocked, the address is refused everything (the bucket refills in seconds).
    let a = app
        .send(
            "GET",
            "/api/v1/referrals?box=inbox",
            &[bearer(&good)],
            Payload::Empty,
        )
        .await;
    assert_eq!(a.status, 429);
    // Logins are limited per address too.
    let mut login_statuses = Vec::new();
    for _ in 0..40 {
        let a = app
            .send("POST", "/login", &[], Payload::Form("csrf=x".into()))
            .await;
        login_statuses.push(a.status);
    }
    assert!(login_statuses.contains(&429));
}
