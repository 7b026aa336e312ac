//! Support for the end-to-end tests: locate the real `passerelle` binary, run its commands
//! on a fresh data dir, start `serve` on port 0 against SQLite or a fresh PostgreSQL
//! database, and talk to it over HTTPS trusting only the certificate it generated; run raw
//! SQL on its database as its owner would ([`Db`]); check problem answers ([`problem`]).
//!
//! Nothing here sleeps to wait: the server is ready when it prints its address.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::Duration;

/// The `passerelle` binary built by `cargo test --workspace` (override with
/// `PASSERELLE_BIN`).
pub fn bin() -> PathBuf {
    if let Ok(p) = std::env::var("PASSERELLE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join("passerelle");
    assert!(
        path.exists(),
        "{} not found: run the tests with `cargo test --workspace` (it builds the binary) or set PASSERELLE_BIN",
        path.display()
    );
    path
}

/// Which database the deployment uses.
pub enum Backend {
    /// The embedded default.
    Sqlite,
    /// A fresh database on the test PostgreSQL, dropped at the end.
    Postgres {
        /// `postgres://…/passerelle_e2e_…`
        url: String,
        /// Its name.
        name: String,
    },
}

/// The administrative URL of the test PostgreSQL.
pub fn pg_admin_url() -> String {
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

impl Backend {
    /// A fresh PostgreSQL database, or `None` (test skipped) when none answers outside CI.
    pub fn postgres() -> Option<Backend> {
        let admin = pg_admin_url();
        let name = format!("passerelle_e2e_{}", uuid::Uuid::new_v4().simple());
        match psql(&admin, &format!("CREATE DATABASE {name}")) {
            Ok(()) => {}
            Err(e) => {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!("PostgreSQL is required in CI but did not answer: {e}");
                }
                eprintln!("skipped: no PostgreSQL at {admin} ({e})");
                return None;
            }
        }
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b.to_owned())
            .unwrap_or(admin);
        Some(Backend::Postgres {
            url: format!("{base}/{name}"),
            name,
        })
    }

    /// The URL the deployment uses (`None` for the SQLite default).
    pub fn url(&self) -> Option<&str> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres { url, .. } => Some(url),
        }
    }

    /// Runs one SQL query with `psql` on the deployment's database (PostgreSQL only);
    /// returns its unaligned output, one row a line, columns separated by `|`.
    pub fn query(&self, sql: &str) -> String {
        let Backend::Postgres { url, .. } = self else {
            panic!("query() is for PostgreSQL deployments");
        };
        let out = Command::new("psql")
            .args([url.as_str(), "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .trim()
            .to_owned()
    }

    /// The bytes of a `pg_dump` of the database (PostgreSQL only).
    pub fn dump(&self) -> Vec<u8> {
        match self {
            Backend::Sqlite => Vec::new(),
            Backend::Postgres { url, .. } => {
                let out = Command::new("pg_dump")
                    .arg(url)
                    .output()
                    .expect("pg_dump runs");
                assert!(
                    out.status.success(),
                    "pg_dump failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                out.stdout
            }
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Backend::Postgres { name, .. } = self {
            let _ = psql(
                &pg_admin_url(),
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

/// A deployment: a data dir, a backend, and the commands to run on it.
pub struct Deployment {
    /// The data dir (deleted at the end).
    pub dir: tempfile::TempDir,
    /// The backend.
    pub backend: Backend,
}

impl Deployment {
    /// A fresh, not yet initialised, deployment.
    pub fn new(backend: Backend) -> Deployment {
        Deployment {
            dir: tempfile::tempdir().expect("temp dir"),
            backend,
        }
    }

    /// The data dir path.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self) -> Command {
        let mut c = Command::new(bin());
        c.arg("--data-dir").arg(self.data_dir());
        c.env_remove("PASSERELLE_DATABASE_URL");
        c.env("PASSERELLE_LOG_FORMAT", "json");
        if let Some(url) = self.backend.url() {
            c.env("PASSERELLE_DATABASE_URL", url);
        }
        c
    }

    /// Runs `passerelle ARGS` with `stdin`; returns its output (any exit status).
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.run_env(args, stdin, &[])
    }

    /// Like [`Deployment::run`], with extra environment variables (e.g. a fault injection
    /// `PASSERELLE_FAULT`).
    pub fn run_env(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
        let mut c = self.command();
        c.envs(env.iter().copied());
        c.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn passerelle");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
        } else {
            drop(child.stdin.take());
        }
        child.wait_with_output().expect("passerelle ran")
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert!(
            out.status.success(),
            "passerelle {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs one SQL query on the deployment's main database (`sqlite3` or `psql`);
    /// returns its output, one row a line, columns separated by `|`.
    pub fn sql(&self, query: &str) -> String {
        match &self.backend {
            Backend::Sqlite => {
                let out = Command::new("sqlite3")
                    .arg(self.data_dir().join("passerelle.db"))
                    .arg(query)
                    .output()
                    .expect("sqlite3 runs");
                assert!(
                    out.status.success(),
                    "sqlite3 failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8(out.stdout)
                    .expect("utf-8")
                    .trim()
                    .to_owned()
            }
            pg => pg.query(query),
        }
    }

    /// `org add SLUG --name NAME --kind KIND` for each `(slug, name, kind)`.
    pub fn orgs(&self, orgs: &[(&str, &str, &str)]) {
        for (slug, name, kind) in orgs {
            self.ok(&["org", "add", slug, "--name", name, "--kind", kind]);
        }
    }

    /// `user add USERNAME --org SLUG --role ROLE` (an enrolment link, no password) for each
    /// `(username, org, role)`.
    pub fn users(&self, users: &[(&str, &str, &str)]) {
        for (user, org, role) in users {
            self.ok(&["user", "add", user, "--org", org, "--role", role]);
        }
    }

    /// Issues a token for `user`; returns the token (last line of stdout).
    pub fn token(&self, user: &str) -> String {
        let out = self.ok(&["token", "issue", user]);
        out.lines().last().expect("a token line").trim().to_owned()
    }

    /// Starts `serve` on a free port and waits until it says where it listens.
    pub fn serve(&self) -> Server {
        self.serve_opts(ServeOptions::default())
    }

    /// Like [`Deployment::serve`], with more environment variables (e.g. `RUST_LOG`,
    /// `PASSERELLE_MAX_ATTACHMENT_BYTES`).
    pub fn serve_with(&self, env: &[(&str, &str)]) -> Server {
        self.serve_opts(ServeOptions {
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..ServeOptions::default()
        })
    }

    /// Starts `serve` with extra environment, arguments and client TLS settings.
    pub fn serve_opts(&self, opts: ServeOptions) -> Server {
        let mut c = self.command();
        c.arg("serve")
            .args(&opts.args)
            .env("PASSERELLE_LISTEN", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &opts.env {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("spawn passerelle serve");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("Passerelle listens on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let log = Arc::new(Log::default());
        let log_writer = log.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stderr);
            let mut line = Vec::new();
            while r
                .read_until(b'\n', &mut line)
                .map(|n| n > 0)
                .unwrap_or(false)
            {
                log_writer.push(&line);
                line.clear();
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(b) => b,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "server did not start: {}",
                    String::from_utf8_lossy(&log.bytes())
                );
            }
        };
        let trust = opts.trust_pem.clone().unwrap_or_else(|| {
            std::fs::read(self.data_dir().join("tls/cert.pem")).unwrap_or_default()
        });
        let client = client(&trust, opts.identity_pem.as_deref());
        Server {
            child,
            base,
            client,
            log,
        }
    }
}

/// How to start `serve` (see [`Deployment::serve_with`]).
#[derive(Default, Clone)]
pub struct ServeOptions {
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Extra arguments after `serve`.
    pub args: Vec<String>,
    /// The certificate the test client trusts (default: the generated one).
    pub trust_pem: Option<Vec<u8>>,
    /// A client certificate and key (PEM) the test client presents.
    pub identity_pem: Option<Vec<u8>>,
}

/// An HTTPS client trusting `trust_pem` (when not empty), presenting `identity_pem` when
/// given.
pub fn client(trust_pem: &[u8], identity_pem: Option<&[u8]>) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::Client::builder();
    if !trust_pem.is_empty() {
        b = b.add_root_certificate(
            reqwest::Certificate::from_pem(trust_pem).expect("PEM certificate"),
        );
    }
    if let Some(id) = identity_pem {
        b = b.identity(reqwest::Identity::from_pem(id).expect("PEM identity"));
    }
    b.build().expect("client")
}

/// The server's stderr, growing, with a way to wait for a line.
#[derive(Default)]
struct Log {
    bytes: Mutex<Vec<u8>>,
    grew: Condvar,
}

impl Log {
    fn push(&self, line: &[u8]) {
        self.bytes.lock().expect("log lock").extend_from_slice(line);
        self.grew.notify_all();
    }

    fn bytes(&self) -> Vec<u8> {
        self.bytes.lock().expect("log lock").clone()
    }

    /// Waits until the log holds `needle` at least `count` times, at most `timeout`.
    fn wait_for(&self, needle: &str, count: usize, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut guard = self.bytes.lock().expect("log lock");
        loop {
            if occurrences(&guard, needle) >= count {
                return true;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            guard = self
                .grew
                .wait_timeout(guard, deadline - now)
                .expect("log lock")
                .0;
        }
    }
}

/// How many times `needle` occurs in `hay`.
pub fn occurrences(hay: &[u8], needle: &str) -> usize {
    if needle.is_empty() {
        return 0;
    }
    hay.windows(needle.len())
        .filter(|w| *w == needle.as_bytes())
        .count()
}

/// A running `serve`.
pub struct Server {
    child: Child,
    /// `https://127.0.0.1:PORT`
    pub base: String,
    /// A client trusting the server's certificate.
    pub client: reqwest::Client,
    log: Arc<Log>,
}

/// An answer: status, headers we look at, JSON body (or Null).
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Content-Type.
    pub content_type: String,
    /// Body as JSON (Null when not JSON).
    pub json: serde_json::Value,
    /// Every header.
    pub headers: reqwest::header::HeaderMap,
}

impl Server {
    /// Sends a request with an optional bearer token and JSON or raw body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Body>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        match body {
            Some(Body::Json(v)) => req = req.json(&v),
            Some(Body::Raw(bytes, ct)) => req = req.header("content-type", ct).body(bytes),
            None => {}
        }
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = res.bytes().await.expect("body");
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Answer {
            status,
            content_type,
            json,
            headers,
        }
    }

    /// The server's process id (e.g. to read `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`…), on Linux.
    pub fn proc_kib(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> Vec<u8> {
        self.log.bytes()
    }

    /// Waits (at most `timeout`) until the log holds `needle` at least `count` times.
    pub fn wait_log(&self, needle: &str, count: usize, timeout: Duration) -> bool {
        self.log.wait_for(needle, count, timeout)
    }

    /// Sends a signal (`HUP`, `TERM`, `KILL`…) to the server.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} {pid} failed");
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().expect("server exited")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request body.
pub enum Body {
    /// JSON.
    Json(serde_json::Value),
    /// Raw bytes with a content type.
    Raw(Vec<u8>, &'static str),
}

/// Every byte of every file under `dir`.
pub fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.extend_from_slice(&bytes);
            }
        }
    }
    out
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Asserts that `a` is an `application/problem+json` answer with `status`, whose `type`
/// ends with `/{code}` (the error code or the rule), with a title and a detail.
pub fn problem(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "{:?}", a.json);
    assert_eq!(a.content_type, "application/problem+json");
    let t = a.json["type"].as_str().expect("type");
    assert!(t.ends_with(&format!("/{code}")), "type {t} is not {code}");
    assert_eq!(a.json["status"], status);
    assert!(a.json["title"].is_string() && a.json["detail"].is_string());
}

/// Percent-encodes `s` as UTF-8, keeping only the unreserved characters of RFC 3986
/// (for header values, query parameters and form fields alike).
pub fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The main database of a deployment, for raw SQL as its owner would run it (with the
/// `sqlite3` or `psql` client), e.g. to age rows or to tamper with the audit log.
pub enum Db {
    /// `<data dir>/passerelle.db`
    Sqlite(std::path::PathBuf),
    /// `postgres://…`
    Postgres(String),
}

impl Db {
    /// The database of `d`.
    pub fn of(d: &Deployment) -> Db {
        match d.backend.url() {
            None => Db::Sqlite(d.data_dir().join("passerelle.db")),
            Some(url) => Db::Postgres(url.to_owned()),
        }
    }

    fn run(&self, sql: &str) -> Output {
        match self {
            // The server may be running: wait for its write lock rather than fail.
            Db::Sqlite(path) => Command::new("sqlite3")
                .args(["-bail", "-cmd", ".timeout 10000"])
                .arg(path)
                .arg(sql)
                .output()
                .expect("sqlite3 runs (Debian package sqlite3)"),
            Db::Postgres(url) => Command::new("psql")
                .args([url.as_str(), "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql])
                .output()
                .expect("psql runs (Debian package postgresql-client)"),
        }
    }

    /// Runs SQL; panics on error. Returns stdout (`a|b|c` rows).
    pub fn sql(&self, sql: &str) -> String {
        let out = self.run(sql);
        assert!(
            out.status.success(),
            "SQL failed: {sql}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Runs SQL expected to fail; returns the error text.
    pub fn sql_err(&self, sql: &str) -> String {
        let out = self.run(sql);
        assert!(!out.status.success(), "SQL unexpectedly succeeded: {sql}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// A byte string literal.
    pub fn blob(&self, bytes: &[u8]) -> String {
        match self {
            Db::Sqlite(_) => format!("X'{}'", hex::encode(bytes)),
            Db::Postgres(_) => format!("'\\x{}'::bytea", hex::encode(bytes)),
        }
    }

    /// SQL of a hex dump of a byte column.
    pub fn hex(&self, column: &str) -> String {
        match self {
            Db::Sqlite(_) => format!("lower(hex({column}))"),
            Db::Postgres(_) => format!("encode({column}, 'hex')"),
        }
    }

    /// What a database owner does first: turn the append-only triggers off.
    pub fn disable_triggers(&self) {
        match self {
            Db::Sqlite(_) => self
                .sql("DROP TRIGGER audit_leaves_no_update; DROP TRIGGER audit_leaves_no_delete;"),
            Db::Postgres(_) => self.sql("ALTER TABLE audit_leaves DISABLE TRIGGER USER;"),
        };
    }

    /// Every leaf: `(seq, bytes, stored hash)`.
    pub fn leaves(&self) -> Vec<(u64, Vec<u8>, [u8; 32])> {
        let out = self.sql(&format!(
            "SELECT seq, {}, {} FROM audit_leaves ORDER BY seq",
            self.hex("bytes"),
            self.hex("leaf_hash")
        ));
        out.lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let mut f = l.split('|');
                let seq = f.next().expect("seq").parse().expect("seq number");
                let bytes = hex::decode(f.next().expect("bytes")).expect("hex");
                let hash = hex::decode(f.next().expect("hash"))
                    .expect("hex")
                    .try_into()
                    .expect("32 bytes");
                (seq, bytes, hash)
            })
            .collect()
    }

    /// The stored head's size.
    pub fn head_size(&self) -> u64 {
        self.sql("SELECT size FROM audit_head")
            .trim()
            .parse()
            .expect("size")
    }
}
