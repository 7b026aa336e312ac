//! Several instances: two `serve` processes on one PostgreSQL, on distinct ports, each
//! with its own copy of the keys folder and its own checkpoint folder, serve the same
//! users. Filings and reads on both at once leave one dense audit log with exactly one
//! leaf per action; a token revoked from the command line is refused by both from the
//! next request; a web session opened on one instance works on the other, and failed
//! logins counted on both lock the account on both (the counters live in the database);
//! background jobs run on one leader, and the other takes over when the leader is killed.

use std::time::Duration;

use passerelle_e2e::{Backend, Body, Deployment, ServeOptions, Server};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);
const PER_INSTANCE: usize = 15;

fn filing() -> Value {
    json!({
        "to_org": "avec63",
        "purpose": "social_support",
        "urgency": "high",
        "consent": {
            "basis": "consent", "method": "written", "obtained_at": "2026-11-29T10:00:00Z",
            "recipients": ["avec63"], "purposes": ["social_support"],
            "data_categories": ["identity", "narrative"],
            "expires_at": "2099-01-01T00:00:00Z"
        },
        "subject": { "name": "Isaure Kerbrat-Lemoine", "birth_date": "1979-06-30" },
        "safety": { "channel": "sms", "hours": "10h-12h", "voicemail_ok": false,
                    "may_name_org": false, "code_word": "Ardoise", "do_not_contact": false },
        "notes": { "narrative": "Relogement demandé" }
    })
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to).expect("mkdir");
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    for e in std::fs::read_dir(from).expect("read keys") {
        let e = e.expect("entry");
        if e.file_type().expect("type").is_file() {
            let dest = to.join(e.file_name());
            std::fs::copy(e.path(), &dest).expect("copy key");
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
    }
}

fn enc(s: &str) -> String {
    passerelle_e2e::pct(s)
}

fn between(hay: &str, start: &str, end: &str) -> String {
    let from = hay.find(start).expect("start marker") + start.len();
    let to = hay[from..].find(end).expect("end marker") + from;
    hay[from..to].to_owned()
}

fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (k, val) = v.split(';').next()?.split_once('=')?;
            (k == name).then(|| val.to_owned())
        })
}

/// The TOTP code of a base32 seed, `offset_steps` time steps from now.
fn code(secret: &str, offset_steps: i64) -> String {
    let seed = totp_rs::Secret::try_from_base32(secret).expect("base32");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    totp_rs::Builder::new()
        .with_secret(seed)
        .build()
        .expect("totp")
        .generate((now + 30 * offset_steps) as u64)
        .to_string()
}

/// A client for the web pages (no redirect following), trusting the deployment's certificate.
fn no_redirects(data: &std::path::Path) -> reqwest::Client {
    let cert = std::fs::read(data.join("tls/cert.pem")).expect("certificate");
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert).expect("PEM"))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Posts the login form on `s`; returns the answer.
async fn login(
    s: &Server,
    http: &reqwest::Client,
    user: &str,
    password: &str,
    code: &str,
) -> reqwest::Response {
    let page = http
        .get(format!("{}/login", s.base))
        .send()
        .await
        .expect("login page");
    let cookie = set_cookie(&page, "__Host-passerelle-login").expect("login cookie");
    let html = page.text().await.expect("html");
    let csrf = between(&html, "type=\"hidden\" name=\"csrf\" value=\"", "\"");
    http.post(format!("{}/login", s.base))
        .header("cookie", format!("__Host-passerelle-login={cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf={}&username={user}&password={}&code={code}&next=%2F",
            enc(&csrf),
            enc(password)
        ))
        .send()
        .await
        .expect("login")
}

/// The outcome code of the newest `login.failed` entry.
fn last_login_failure(d: &Deployment) -> String {
    let hex_bytes = d.backend.query(
        "SELECT encode(bytes, 'hex') FROM audit_leaves WHERE action = 'login.failed' ORDER BY seq DESC LIMIT 1",
    );
    let leaf = passerelle_domain::audit::AuditLeaf::decode(&hex::decode(hex_bytes).expect("hex"))
        .expect("leaf");
    match leaf.outcome {
        passerelle_domain::audit::Outcome::Denied(code) => code,
        other => panic!("a failed login recorded as {other:?}"),
    }
}

fn leader_line(s: &Server) -> bool {
    s.wait_log("this instance now runs a background job", 1, Duration::ZERO)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_on_one_postgres() {
    let Some(pg) = Backend::postgres() else {
        return;
    };
    let d = Deployment::new(pg);
    d.ok(&["init"]);
    d.ok(&[
        "org",
        "add",
        "police-clermont",
        "--name",
        "Commissariat",
        "--kind",
        "police",
    ]);
    d.ok(&[
        "org",
        "add",
        "avec63",
        "--name",
        "AVEC 63",
        "--kind",
        "association",
    ]);
    d.ok(&[
        "user",
        "add",
        "iscg.martin",
        "--org",
        "police-clermont",
        "--role",
        "referrer",
    ]);
    d.ok(&[
        "user",
        "add",
        "psy.bernard",
        "--org",
        "avec63",
        "--role",
        "receiver",
    ]);
    let police = d.token("iscg.martin");
    let psy = d.token("psy.bernard");
    let doomed = d.token("psy.bernard");
    let added = d.ok(&[
        "user", "add", "psy.web", "--org", "avec63", "--role", "receiver",
    ]);
    let link = added
        .lines()
        .find(|l| l.contains("/enrol/"))
        .and_then(|l| l.rsplit("/enrol/").next())
        .expect("an enrolment link")
        .trim()
        .to_owned();

    let fast_jobs = ("PASSERELLE_JOB_INTERVAL_SECS".to_string(), "1".to_string());
    let a = d.serve_opts(ServeOptions {
        env: vec![fast_jobs.clone()],
        ..ServeOptions::default()
    });
    // Instance B: another host, as the operator would set it up — the same keys (copied),
    // its own checkpoint folder, the same certificate.
    let keys_b = d.dir.path().join("host-b/keys");
    copy_dir(&d.data_dir().join("keys"), &keys_b);
    let data = d.data_dir();
    let b = d.serve_opts(ServeOptions {
        env: vec![
            fast_jobs,
            ("PASSERELLE_KEYS_DIR".into(), keys_b.display().to_string()),
            (
                "PASSERELLE_CHECKPOINT_DIR".into(),
                d.dir
                    .path()
                    .join("host-b/checkpoints")
                    .display()
                    .to_string(),
            ),
            (
                "PASSERELLE_TLS_CERT".into(),
                data.join("tls/cert.pem").display().to_string(),
            ),
            (
                "PASSERELLE_TLS_KEY".into(),
                data.join("tls/key.pem").display().to_string(),
            ),
        ],
        ..ServeOptions::default()
    });
    assert_ne!(a.base, b.base, "two ports");

    // Filed on A, seen and opened on B, accepted on A.
    let filed = a
        .call(
            "POST",
            "/api/v1/referrals",
            Some(&police),
            Some(Body::Json(filing())),
        )
        .await;
    assert_eq!(filed.status, 201, "{:?}", filed.json);
    let first = filed.json["id"].as_str().expect("id").to_owned();
    let opened = b
        .call(
            "GET",
            &format!("/api/v1/referrals/{first}"),
            Some(&psy),
            None,
        )
        .await;
    assert_eq!(opened.status, 200, "{:?}", opened.json);
    assert_eq!(opened.json["status"], "acknowledged");
    let accepted = a
        .call(
            "POST",
            &format!("/api/v1/referrals/{first}/accept"),
            Some(&psy),
            None,
        )
        .await;
    assert_eq!(accepted.json["status"], "accepted");

    // Both at once: filings on each instance, reads of the first referral on each.
    let mut tasks = Vec::new();
    for server in [&a, &b] {
        for _ in 0..PER_INSTANCE {
            let (client, base, police, psy, first) = (
                server.client.clone(),
                server.base.clone(),
                police.clone(),
                psy.clone(),
                first.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let f = client
                    .post(format!("{base}/api/v1/referrals"))
                    .bearer_auth(&police)
                    .json(&filing())
                    .send()
                    .await
                    .expect("file");
                assert_eq!(f.status(), 201);
                let r = client
                    .get(format!("{base}/api/v1/referrals/{first}"))
                    .bearer_auth(&psy)
                    .send()
                    .await
                    .expect("read");
                assert_eq!(r.status(), 200);
            }));
        }
    }
    for t in tasks {
        t.await.expect("task");
    }
    let total = 1 + 2 * PER_INSTANCE;
    for s in [&a, &b] {
        let inbox = s
            .call(
                "GET",
                "/api/v1/referrals?box=inbox&limit=200",
                Some(&psy),
                None,
            )
            .await;
        assert_eq!(inbox.json["items"].as_array().map(Vec::len), Some(total));
    }

    // Revoked from the command line: refused by both instances from the next request.
    for s in [&a, &b] {
        let ok = s
            .call("GET", "/api/v1/referrals?box=inbox", Some(&doomed), None)
            .await;
        assert_eq!(ok.status, 200);
    }
    let issued = d
        .backend
        .query("SELECT id FROM api_tokens ORDER BY created_at DESC, id LIMIT 1");
    // The newest token is `doomed` (issued last).
    d.ok(&["token", "revoke", &issued]);
    for s in [&a, &b] {
        let refused = s
            .call("GET", "/api/v1/referrals?box=inbox", Some(&doomed), None)
            .await;
        assert_eq!(refused.status, 401);
    }

    // Web users: enrolled and logged in on A, their session works on B.
    const PASSWORD: &str = "Lanterne-Basalte-Orgue-28";
    let (web_a, web_b) = (no_redirects(&data), no_redirects(&data));
    let page = web_a
        .get(format!("{}/enrol/{link}", a.base))
        .send()
        .await
        .expect("enrol page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    let secret = between(&html, "id=\"totp-secret\">", "<").replace(' ', "");
    let csrf = between(&html, "type=\"hidden\" name=\"csrf\" value=\"", "\"");
    let enrolled = web_a
        .post(format!("{}/enrol/{link}", a.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf={}&password={}&confirm={}&code={}",
            enc(&csrf),
            enc(PASSWORD),
            enc(PASSWORD),
            code(&secret, 0)
        ))
        .send()
        .await
        .expect("enrol");
    assert_eq!(enrolled.status(), 303);
    let ok = login(&a, &web_a, "psy.web", PASSWORD, &code(&secret, 1)).await;
    assert_eq!(ok.status(), 303);
    let session = set_cookie(&ok, "__Host-passerelle").expect("session cookie");
    let home = web_b
        .get(format!("{}/", b.base))
        .header("cookie", format!("__Host-passerelle={session}"))
        .send()
        .await
        .expect("home on B");
    assert_eq!(home.status(), 200, "a session opened on A works on B");
    // Failed logins on both instances add up: the fifth, on B, locks the account…
    for (i, (s, http)) in [
        (&a, &web_a),
        (&a, &web_a),
        (&a, &web_a),
        (&a, &web_a),
        (&b, &web_b),
    ]
    .into_iter()
    .enumerate()
    {
        let r = login(s, http, "psy.web", "Mauvais-Essai-Quenouille-11", "000000").await;
        assert_eq!(r.status(), 401, "failure {i}");
    }
    assert_eq!(last_login_failure(&d), "bad-password-locked");
    // …and A refuses even the right password from then on.
    let r = login(&a, &web_a, "psy.web", PASSWORD, &code(&secret, 1)).await;
    assert_eq!(r.status(), 401);
    assert_eq!(last_login_failure(&d), "locked");

    // One audit log: dense, one leaf per action, the head covering all of them.
    let q = |sql: &str| d.backend.query(sql);
    let (count, max) = {
        let row = q("SELECT count(*), max(seq) FROM audit_leaves");
        let (c, m) = row.split_once('|').expect("two columns");
        (
            c.parse::<u64>().expect("count"),
            m.parse::<u64>().expect("max"),
        )
    };
    assert_eq!(max + 1, count, "audit sequence numbers are dense");
    assert_eq!(
        q("SELECT size FROM audit_head")
            .parse::<u64>()
            .expect("size"),
        count
    );
    assert_eq!(
        q("SELECT count(*) FROM audit_leaves WHERE action = 'referral.filed'"),
        total.to_string()
    );
    assert_eq!(
        q("SELECT count(*) FROM audit_leaves WHERE action = 'referral.read'"),
        (1 + 2 * PER_INSTANCE).to_string()
    );
    assert_eq!(
        q("SELECT count(*) FROM audit_leaves WHERE action = 'token.revoked'"),
        "1"
    );
    assert_eq!(q("SELECT count(*) FROM referrals"), total.to_string());

    // Background jobs: exactly one leader, and the other takes over when it dies.
    let deadline = std::time::Instant::now() + WAIT;
    while !(leader_line(&a) || leader_line(&b)) {
        assert!(std::time::Instant::now() < deadline, "no leader elected");
        a.wait_log(
            "this instance now runs a background job",
            1,
            Duration::from_millis(200),
        );
    }
    assert!(
        !(leader_line(&a) && leader_line(&b)),
        "both instances lead the same job"
    );
    let (leader, follower) = if leader_line(&a) { (a, b) } else { (b, a) };
    leader.signal("KILL");
    assert!(
        follower.wait_log("this instance now runs a background job", 1, WAIT),
        "the surviving instance did not take over the jobs"
    );
    // The survivor still serves, and sees everything.
    let inbox = follower
        .call(
            "GET",
            "/api/v1/referrals?box=inbox&limit=200",
            Some(&psy),
            None,
        )
        .await;
    assert_eq!(inbox.json["items"].as_array().map(Vec::len), Some(total));
    drop(leader);
    assert!(follower.stop().success());
}
