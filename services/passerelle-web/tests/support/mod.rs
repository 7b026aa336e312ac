//! In-process test application: the real router (`passerelle_web::app`) over a real core,
//! vault and store — SQLite in a temporary folder, or a fresh PostgreSQL database created
//! and dropped with `psql` — with a settable clock. Requests go through `tower::oneshot`;
//! nothing listens on a port and nothing sleeps.
#![allow(dead_code)]

use std::process::Command;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, header};
use passerelle_core::{Core, FixedClock, NewUser, Principal, RequestCtx};
use passerelle_domain::enums::{OrgKind, Role};
use passerelle_domain::ids::{OrgSlug, Username};
use passerelle_store::Store;
use passerelle_web::WebConfig;
use passerelle_web::ratelimit::Limits;
use time::OffsetDateTime;
use tower::ServiceExt;

/// The instant tests start at (a TOTP step boundary plus 5 s).
pub fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_005).expect("valid instant")
}

/// Which database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite files in a temporary folder.
    Sqlite,
    /// A fresh PostgreSQL database.
    Postgres,
}

fn pg_admin_url() -> String {
    std::env::var("PASSERELLE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn psql(url: &str, sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql])
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// A PostgreSQL database dropped at the end.
struct PgDb {
    name: String,
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = psql(
            &pg_admin_url(),
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// The application under test.
pub struct TestApp {
    /// The router, with every layer.
    pub router: Router,
    /// The core behind it.
    pub core: Core,
    /// Its store (to set up states the API cannot reach yet).
    pub store: Arc<dyn Store>,
    /// Its clock.
    pub clock: Arc<FixedClock>,
    /// Which backend.
    pub backend: Backend,
    _dir: tempfile::TempDir,
    _pg: Option<PgDb>,
}

/// An answer.
#[derive(Debug)]
pub struct Answer {
    /// Status.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON (Null when not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
    /// The value a `Set-Cookie` gives cookie `name`, if any.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| {
                let first = v.split(';').next()?;
                let (k, val) = first.split_once('=')?;
                (k == name).then(|| val.to_owned())
            })
    }
}

/// A request body.
pub enum Payload {
    /// None.
    Empty,
    /// JSON.
    Json(serde_json::Value),
    /// An urlencoded form.
    Form(String),
    /// Raw bytes (`application/octet-stream`), e.g. an attachment.
    Bytes(Vec<u8>),
}

impl TestApp {
    /// A fresh application, or `None` when the backend is PostgreSQL and none answers
    /// (outside CI).
    pub async fn new(backend: Backend, limits: Limits) -> Option<TestApp> {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys = dir.path().join("keys");
        passerelle_vault::init_keys(&keys).expect("keys");
        let vault = passerelle_vault::Vault::load(&keys).expect("vault");
        let (store, pg): (Arc<dyn Store>, Option<PgDb>) = match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("main.db").display());
                let s =
                    passerelle_store_sqlite::SqliteStore::connect(&url, &keys.join("keystore.db"))
                        .await
                        .expect("sqlite");
                (Arc::new(s), None)
            }
            Backend::Postgres => {
                let admin = pg_admin_url();
                let name = format!("passerelle_w_{}", uuid::Uuid::new_v4().simple());
                if let Err(e) = psql(&admin, &format!("CREATE DATABASE {name}")) {
                    if std::env::var("CI").as_deref() == Ok("true") {
                        panic!("PostgreSQL is required in CI but did not answer: {e}");
                    }
                    eprintln!("skipped: no PostgreSQL at {admin} ({e})");
                    return None;
                }
                let db = PgDb { name: name.clone() };
                let base = admin
                    .rsplit_once('/')
                    .map(|(b, _)| b.to_owned())
                    .unwrap_or(admin);
                let s = passerelle_store_postgres::PgStore::connect(&format!("{base}/{name}"))
                    .await
                    .expect("postgres");
                (Arc::new(s), Some(db))
            }
        };
        store.migrate().await.expect("migrate");
        let clock = Arc::new(FixedClock::new(t0()));
        let checkpoints = dir.path().join("checkpoints");
        std::fs::create_dir_all(&checkpoints).expect("checkpoint dir");
        let core = Core::new(
            Arc::clone(&store),
            Arc::new(vault),
            clock.clone(),
            checkpoints,
        );
        let router = passerelle_web::app(
            core.clone(),
            &WebConfig {
                hsts: true,
                limits,
                ..WebConfig::default()
            },
        );
        Some(TestApp {
            router,
            core,
            store,
            clock,
            backend,
            _dir: dir,
            _pg: pg,
        })
    }

    /// Moves the clock by `d`.
    pub fn advance(&self, d: time::Duration) {
        let now = passerelle_core::Clock::now(self.clock.as_ref());
        self.clock.set(now + d);
    }

    /// Now, by the application's clock.
    pub fn now(&self) -> OffsetDateTime {
        passerelle_core::Clock::now(self.clock.as_ref())
    }

    /// Sends one request.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        payload: Payload,
    ) -> Answer {
        let mut b = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            b = b.header(*k, v.as_str());
        }
        let body = match payload {
            Payload::Empty => Body::empty(),
            Payload::Json(v) => {
                b = b.header("content-type", "application/json");
                Body::from(serde_json::to_vec(&v).expect("json"))
            }
            Payload::Form(f) => {
                b = b.header("content-type", "application/x-www-form-urlencoded");
                Body::from(f)
            }
            Payload::Bytes(bytes) => {
                b = b.header("content-type", "application/octet-stream");
                Body::from(bytes)
            }
        };
        let res = self
            .router
            .clone()
            .oneshot(b.body(body).expect("request"))
            .await
            .expect("infallible");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = axum::body::to_bytes(res.into_body(), 16 * 1024 * 1024)
            .await
            .expect("body")
            .to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Adds an organisation.
    pub async fn org(&self, slug: &str, kind: OrgKind) {
        self.core
            .add_org(
                OrgSlug::parse(slug).expect("slug"),
                slug,
                kind,
                &RequestCtx::default(),
            )
            .await
            .expect("add org");
    }

    /// Adds a user without credentials.
    pub async fn user(&self, username: &str, org: &str, role: Role) {
        self.user_with(username, org, role, false).await;
    }

    /// Adds a user without credentials, a health professional or not (226-14 3°).
    pub async fn user_with(
        &self,
        username: &str,
        org: &str,
        role: Role,
        health_professional: bool,
    ) {
        self.core
            .add_user(
                NewUser {
                    username: Username::parse(username).expect("username"),
                    org: OrgSlug::parse(org).expect("slug"),
                    role,
                    health_professional,
                    password: None,
                },
                &RequestCtx::default(),
            )
            .await
            .expect("add user");
    }

    /// An API token of a user.
    pub async fn token(&self, username: &str) -> String {
        self.core
            .issue_token(username, None, &RequestCtx::default())
            .await
            .expect("token")
            .token
            .to_string()
    }

    /// The principal behind a token.
    pub async fn principal(&self, token: &str) -> Principal {
        self.core
            .authenticate_token(token, &RequestCtx::default())
            .await
            .expect("principal")
    }

    /// The current TOTP code of a base32 seed, by the application's clock.
    pub fn code(&self, secret_base32: &str) -> String {
        code_at(secret_base32, self.now())
    }

    /// Enrols `username` through the pages (new link, GET, POST) with `password`; returns
    /// the base32 seed. Moves the clock one TOTP step on, so that the next code is new.
    pub async fn enrol(&self, username: &str, password: &str) -> String {
        let link = self
            .core
            .reset_user(username, &RequestCtx::default())
            .await
            .expect("link");
        let page = self.send("GET", &link.path(), &[], Payload::Empty).await;
        assert_eq!(page.status, 200, "{}", page.text());
        let html = page.text();
        let secret = between(&html, "id=\"totp-secret\">", "<")
            .expect("secret on the page")
            .replace(' ', "");
        let csrf = hidden(&html, "csrf").expect("csrf field");
        let form = format!(
            "csrf={}&password={}&confirm={}&code={}",
            enc(&csrf),
            enc(password),
            enc(password),
            self.code(&secret)
        );
        let done = self
            .send("POST", &link.path(), &[], Payload::Form(form))
            .await;
        assert_eq!(done.status, 303, "{}", done.text());
        self.advance(time::Duration::seconds(30));
        secret
    }

    /// Logs in through the pages; returns the session cookie's value, or the answer when
    /// the login is refused.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        code: &str,
    ) -> Result<String, Answer> {
        let page = self.send("GET", "/login", &[], Payload::Empty).await;
        let login_cookie = page
            .set_cookie("__Host-passerelle-login")
            .expect("login cookie");
        let csrf = hidden(&page.text(), "csrf").expect("csrf field");
        let form = format!(
            "csrf={}&username={}&password={}&code={}&next=%2F",
            enc(&csrf),
            enc(username),
            enc(password),
            enc(code)
        );
        let res = self
            .send(
                "POST",
                "/login",
                &[("cookie", format!("__Host-passerelle-login={login_cookie}"))],
                Payload::Form(form),
            )
            .await;
        match res.set_cookie("__Host-passerelle") {
            Some(s) if res.status == 303 && !s.is_empty() => Ok(s),
            _ => Err(res),
        }
    }

    /// Enrols then logs in; returns the session cookie's value.
    pub async fn web_session(&self, username: &str) -> String {
        let password = format!("{username} long passphrase");
        let secret = self.enrol(username, &password).await;
        let code = self.code(&secret);
        self.login(username, &password, &code)
            .await
            .unwrap_or_else(|a| panic!("login of {username}: {} {}", a.status, a.text()))
    }
}

/// The TOTP code of a base32 seed at `t`.
pub fn code_at(secret_base32: &str, t: OffsetDateTime) -> String {
    let seed = totp_rs::Secret::try_from_base32(secret_base32).expect("base32 seed");
    totp_rs::Builder::new()
        .with_secret(seed)
        .build()
        .expect("totp")
        .generate(u64::try_from(t.unix_timestamp()).expect("after 1970"))
        .to_string()
}

/// Percent-encodes a form value.
pub fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The text between `start` and the next `end`.
pub fn between(hay: &str, start: &str, end: &str) -> Option<String> {
    let from = hay.find(start)? + start.len();
    let to = hay[from..].find(end)? + from;
    Some(hay[from..to].to_owned())
}

/// The value of the hidden input `name` of a page.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    between(
        html,
        &format!("type=\"hidden\" name=\"{name}\" value=\""),
        "\"",
    )
}

/// A cookie header for a session.
pub fn session_header(secret: &str) -> (&'static str, String) {
    ("cookie", format!("__Host-passerelle={secret}"))
}

/// An authorization header for a token.
pub fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}
