//! A full identity run with the real binary, on both backends: `user add` prints a one-time
//! enrolment link, the person enrols (password and TOTP) and logs in over HTTPS, uses the
//! session, logs out; a program uses an API token; the operator lists, resets and
//! disables. Then the server's whole log (stderr, at debug level) and every command's
//! output but the ones meant to carry a secret are searched: no password, API token, TOTP
//! secret, enrolment link, session id or CSRF token in them.

use std::path::Path;

use passerelle_e2e::{Backend, Deployment, contains, pct};

const PASSWORD: &str = "Hirondelle-Granite-Lucarne-93";
const STDIN_PASSWORD: &str = "Velours-Ardoise-Carillon-57";
const WRONG_PASSWORD: &str = "Mauvais-Essai-Quenouille-11";

fn client(data_dir: &Path) -> reqwest::Client {
    let cert = std::fs::read(data_dir.join("tls/cert.pem")).expect("certificate");
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert).expect("PEM"))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn between(hay: &str, start: &str, end: &str) -> String {
    let from = hay.find(start).expect("start marker") + start.len();
    let to = hay[from..].find(end).expect("end marker") + from;
    hay[from..to].to_owned()
}

fn hidden_csrf(html: &str) -> String {
    between(html, "type=\"hidden\" name=\"csrf\" value=\"", "\"")
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

fn link_token(stdout: &str) -> String {
    let line = stdout
        .lines()
        .find(|l| l.contains("/enrol/"))
        .expect("an enrolment link");
    line.rsplit("/enrol/")
        .next()
        .expect("token")
        .trim()
        .to_owned()
}

async fn flow(backend: Backend) {
    let d = Deployment::new(backend);
    d.ok(&["init"]);
    d.ok(&[
        "org", "add", "police-x", "--name", "Police", "--kind", "police",
    ]);
    d.ok(&[
        "org",
        "add",
        "asso-y",
        "--name",
        "Asso",
        "--kind",
        "association",
    ]);
    let mut quiet = Vec::<u8>::new(); // outputs that must carry no secret
    let added = d.run(
        &[
            "user", "add", "psy.y", "--org", "asso-y", "--role", "receiver",
        ],
        None,
    );
    assert!(added.status.success());
    let added = String::from_utf8(added.stdout).expect("utf-8");
    assert!(added.contains("https://127.0.0.1:8443/enrol/"), "{added}");
    let link = link_token(&added);
    let with_pw = d.run(
        &[
            "user",
            "add",
            "iscg.x",
            "--org",
            "police-x",
            "--role",
            "referrer",
            "--password-stdin",
        ],
        Some(&format!("{STDIN_PASSWORD}\n")),
    );
    assert!(with_pw.status.success());
    quiet.extend_from_slice(&with_pw.stdout);
    quiet.extend_from_slice(&with_pw.stderr);
    let issued = d.run(&["token", "issue", "iscg.x"], None);
    let token = String::from_utf8(issued.stdout.clone())
        .expect("utf-8")
        .lines()
        .last()
        .expect("token")
        .to_owned();
    quiet.extend_from_slice(&issued.stderr);

    let server = d.serve_with(&[("RUST_LOG", "debug,rustls=error")]);
    let http = client(&d.data_dir());
    let base = server.base.clone();

    // Enrolment through the link.
    let page = http
        .get(format!("{base}/enrol/{link}"))
        .send()
        .await
        .expect("enrol page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    let secret = between(&html, "id=\"totp-secret\">", "<").replace(' ', "");
    let enrol_csrf = hidden_csrf(&html);
    let done = http
        .post(format!("{base}/enrol/{link}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf={}&password={}&confirm={}&code={}",
            pct(&enrol_csrf),
            pct(PASSWORD),
            pct(PASSWORD),
            code(&secret, 0)
        ))
        .send()
        .await
        .expect("enrol");
    assert_eq!(done.status(), 303);

    // A failed login, then a good one (the next step's code: the current one is used).
    let login = |password: &'static str, code: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let page = http
                .get(format!("{base}/login"))
                .send()
                .await
                .expect("login page");
            let cookie = set_cookie(&page, "__Host-passerelle-login").expect("cookie");
            let csrf = hidden_csrf(&page.text().await.expect("html"));
            let res = http
                .post(format!("{base}/login"))
                .header("cookie", format!("__Host-passerelle-login={cookie}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!(
                    "csrf={}&username=psy.y&password={}&code={code}&next=%2F",
                    pct(&csrf),
                    pct(password)
                ))
                .send()
                .await
                .expect("login");
            (res, cookie, csrf)
        }
    };
    let (refused, c1, k1) = login(WRONG_PASSWORD, code(&secret, 1)).await;
    assert_eq!(refused.status(), 401);
    let (ok, c2, k2) = login(PASSWORD, code(&secret, 1)).await;
    assert_eq!(ok.status(), 303);
    let session = set_cookie(&ok, "__Host-passerelle").expect("session cookie");
    let home = http
        .get(format!("{base}/"))
        .header("cookie", format!("__Host-passerelle={session}"))
        .send()
        .await
        .expect("home");
    assert_eq!(home.status(), 200);
    let session_csrf = hidden_csrf(&home.text().await.expect("html"));
    let out = http
        .post(format!("{base}/logout"))
        .header("cookie", format!("__Host-passerelle={session}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}", pct(&session_csrf)))
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 303);
    let after = http
        .get(format!("{base}/"))
        .header("cookie", format!("__Host-passerelle={session}"))
        .send()
        .await
        .expect("home");
    assert_eq!(after.status(), 303, "the session ended server-side");

    // A program with its token; a forged one.
    let api = |t: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            http.get(format!("{base}/api/v1/referrals?box=sent"))
                .bearer_auth(t)
                .send()
                .await
                .expect("api")
                .status()
                .as_u16()
        }
    };
    assert_eq!(api(token.clone()).await, 200);
    assert_eq!(api(format!("{token}x")).await, 401);

    // The operator: list (never the token), reset (a new link), disable.
    let listed = d.ok(&["token", "list", "iscg.x"]);
    assert!(
        listed.lines().count() == 2 && listed.contains("\t-"),
        "{listed}"
    );
    quiet.extend_from_slice(listed.as_bytes());
    let reset = d.ok(&["user", "reset", "psy.y"]);
    let new_link = link_token(&reset);
    assert_ne!(new_link, link);
    let disabled = d.run(&["user", "disable", "iscg.x"], None);
    assert!(disabled.status.success());
    quiet.extend_from_slice(&disabled.stdout);
    quiet.extend_from_slice(&disabled.stderr);
    assert_eq!(
        api(token.clone()).await,
        401,
        "disabled: the token stops at once"
    );
    let listed = d.ok(&["token", "list", "iscg.x"]);
    assert!(!listed.contains("\t-\n"), "the token is revoked: {listed}");

    let log = server.log();
    let status = server.stop();
    assert!(status.success(), "clean shutdown");
    assert!(
        contains(&log, "\"route\":\"/login\"") && contains(&log, "\"route\":\"/enrol/{token}\""),
        "the log records the requests (by route template)"
    );
    let token_secret = token.trim_start_matches("psl_").to_owned();
    for (what, needle) in [
        ("password", PASSWORD),
        ("password from stdin", STDIN_PASSWORD),
        ("mistyped password", WRONG_PASSWORD),
        ("API token", token.as_str()),
        ("API token secret", token_secret.as_str()),
        ("TOTP secret", secret.as_str()),
        ("enrolment link", link.as_str()),
        ("new enrolment link", new_link.as_str()),
        ("session id", session.as_str()),
        ("session CSRF token", session_csrf.as_str()),
        ("enrolment CSRF token", enrol_csrf.as_str()),
        ("login form cookie", c1.as_str()),
        ("login form cookie", c2.as_str()),
        ("login CSRF token", k1.as_str()),
        ("login CSRF token", k2.as_str()),
    ] {
        assert!(!contains(&log, needle), "the {what} is in the server's log");
        assert!(
            !contains(&quiet, needle),
            "the {what} is in a command's output"
        );
    }
}

#[tokio::test]
async fn no_secret_in_the_log_sqlite() {
    flow(Backend::Sqlite).await;
}

#[tokio::test]
async fn no_secret_in_the_log_postgres() {
    if let Some(b) = Backend::postgres() {
        flow(b).await;
    }
}
