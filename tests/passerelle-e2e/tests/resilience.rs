//! Crash and fault tests against the real binary (issue 9):
//! - `kill -9` of `serve` at random moments of a stream of concurrent filings and reads,
//!   restart, repeat (`PASSERELLE_CRASH_CYCLES`, default 50 on SQLite and 10 on
//!   PostgreSQL): no acknowledged referral lost or altered, no duplicate, no ciphertext or
//!   referral without its key wraps, no action without its audit leaf, `audit verify`
//!   passes after every kill;
//! - a PostgreSQL outage under load, on a private PostgreSQL instance started for the test
//!   (the machine's shared cluster is never stopped): `/readyz` and writes answer 503
//!   meanwhile, the service recovers by itself, nothing acknowledged is lost;
//! - a full disk (the data dir on a small tmpfs): writes fail cleanly with a problem
//!   answer, nothing half-written, and writes succeed again once space is freed.
//!
//! Nothing sleeps to wait: the server is ready when it prints its address, load progress is
//! awaited on a notification, outages and recoveries are polled on `/readyz`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use passerelle_e2e::{Backend, Db, Deployment, Server};
use serde_json::{Value, json};
use tokio::sync::Notify;

const SUBJECT: &str = "Gwenaëlle Kerbrat-Vasseur";

fn filing(narrative: &str) -> Value {
    json!({
        "to_org": "avec63",
        "purpose": "psychological_support",
        "urgency": "normal",
        "consent": {
            "basis": "consent", "method": "written", "obtained_at": "2026-11-29T10:00:00Z",
            "recipients": ["avec63"], "purposes": ["psychological_support"],
            "data_categories": ["identity", "narrative"], "expires_at": "2099-11-29T00:00:00Z"
        },
        "subject": { "name": SUBJECT },
        "safety": { "channel": "sms" },
        "notes": { "narrative": narrative }
    })
}

/// A random number (the tests need no reproducible sequence, only unpredictable moments).
fn rand_u64() -> u64 {
    let b = *uuid::Uuid::new_v4().as_bytes();
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}

/// A deployment with a referrer (police) and a receiver (AVEC 63), and their tokens.
struct Setup {
    d: Deployment,
    police: String,
    psy: String,
}

fn setup(backend: Backend) -> Setup {
    let d = Deployment::new(backend);
    setup_on(d)
}

fn setup_on(d: Deployment) -> Setup {
    d.ok(&["init"]);
    d.orgs(&[
        ("police-63", "Police", "police"),
        ("avec63", "AVEC 63", "association"),
    ]);
    d.users(&[
        ("iscg.martin", "police-63", "referrer"),
        ("psy.bernard", "avec63", "receiver"),
    ]);
    let police = d.token("iscg.martin");
    let psy = d.token("psy.bernard");
    Setup { d, police, psy }
}

/// An answer that arrived (the server may die: then the request fails instead).
struct Reply {
    status: u16,
    content_type: String,
    json: Value,
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> Result<Reply, reqwest::Error> {
    let mut req = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(60));
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().await?;
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = res.bytes().await?;
    Ok(Reply {
        status,
        content_type,
        json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    })
}

/// Concurrent writers filing referrals and one reader opening acknowledged ones, until
/// stopped. Every 201 is recorded (id → narrative); every other answer too.
struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(String, String)>>>,
    acks: Arc<AtomicUsize>,
    /// Answers other than 201 (writes) and 200 (reads): `(status, content type, type)`.
    refusals: Arc<Mutex<Vec<(u16, String, String)>>>,
    /// Reads of an acknowledged referral that returned other content: must stay empty.
    wrong_reads: Arc<Mutex<Vec<String>>>,
    progress: Arc<Notify>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(s: &Setup, server: &Server, writers: usize, tag: &str) -> Load {
        let load = Load {
            stop: Arc::new(AtomicBool::new(false)),
            acked: Arc::new(Mutex::new(Vec::new())),
            acks: Arc::new(AtomicUsize::new(0)),
            refusals: Arc::new(Mutex::new(Vec::new())),
            wrong_reads: Arc::new(Mutex::new(Vec::new())),
            progress: Arc::new(Notify::new()),
            tasks: Vec::new(),
        };
        let mut tasks = Vec::new();
        for w in 0..writers {
            let (client, base, token) =
                (server.client.clone(), server.base.clone(), s.police.clone());
            let (stop, acked, acks, refusals, progress) = (
                load.stop.clone(),
                load.acked.clone(),
                load.acks.clone(),
                load.refusals.clone(),
                load.progress.clone(),
            );
            let tag = format!("{tag}-w{w}");
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let narrative = format!("resilience {tag}-{n}-{:016x}", rand_u64());
                    let body = filing(&narrative);
                    match send(
                        &client,
                        &base,
                        reqwest::Method::POST,
                        "/api/v1/referrals",
                        &token,
                        Some(&body),
                    )
                    .await
                    {
                        Ok(r) if r.status == 201 => {
                            let id = r.json["id"].as_str().expect("an id").to_owned();
                            acked.lock().expect("lock").push((id, narrative));
                            acks.fetch_add(1, Ordering::SeqCst);
                            progress.notify_waiters();
                        }
                        Ok(r) => {
                            let t = r.json["type"].as_str().unwrap_or("").to_owned();
                            refusals
                                .lock()
                                .expect("lock")
                                .push((r.status, r.content_type, t));
                            progress.notify_waiters();
                        }
                        // The server died or is restarting: nothing acknowledged.
                        Err(_) => progress.notify_waiters(),
                    }
                }
            }));
        }
        let (client, base, token) = (server.client.clone(), server.base.clone(), s.psy.clone());
        let (stop, acked, refusals, wrong) = (
            load.stop.clone(),
            load.acked.clone(),
            load.refusals.clone(),
            load.wrong_reads.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = 0usize;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let pick = {
                    let a = acked.lock().expect("lock");
                    (!a.is_empty()).then(|| a[rand_u64() as usize % a.len()].clone())
                };
                let open = pick.as_ref().filter(|_| !i.is_multiple_of(3));
                let path = match open {
                    Some((id, _)) => format!("/api/v1/referrals/{id}"),
                    None => "/api/v1/referrals?box=inbox".to_owned(),
                };
                match send(&client, &base, reqwest::Method::GET, &path, &token, None).await {
                    Ok(r) if r.status == 200 => {
                        if let Some((id, narrative)) = open
                            && r.json["notes"]["narrative"] != narrative.as_str()
                        {
                            wrong.lock().expect("lock").push(id.clone());
                        }
                    }
                    Ok(r) => {
                        let t = r.json["type"].as_str().unwrap_or("").to_owned();
                        refusals
                            .lock()
                            .expect("lock")
                            .push((r.status, r.content_type, t));
                    }
                    Err(_) => {}
                }
            }
        }));
        Load { tasks, ..load }
    }

    /// Waits (at most 120 s) until at least `n` filings were acknowledged since the start.
    async fn wait_acks(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let notified = self.progress.notified();
            if self.acks.load(Ordering::SeqCst) >= n {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the load made no progress: {} acknowledged",
                self.acks.load(Ordering::SeqCst)
            );
            let _ = tokio::time::timeout(left.min(Duration::from_secs(1)), notified).await;
        }
    }

    /// Stops the tasks; returns what was acknowledged, and the other answers.
    async fn finish(self) -> (Vec<(String, String)>, Vec<(u16, String, String)>) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            t.await.expect("load task");
        }
        let wrong = self.wrong_reads.lock().expect("lock").clone();
        assert!(wrong.is_empty(), "reads returned other content: {wrong:?}");
        let acked = self.acked.lock().expect("lock").clone();
        let refusals = self.refusals.lock().expect("lock").clone();
        (acked, refusals)
    }
}

/// Polls `/readyz` (at most `within`) until it answers `status`.
async fn until_ready_is(server: &Server, status: u16, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let got = server
            .client
            .get(format!("{}/readyz", server.base))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map(|r| r.status().as_u16());
        if got.as_ref().is_ok_and(|s| *s == status) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never answered {status}: {got:?}"
        );
    }
}

/// `passerelle audit verify` finds the log intact.
fn assert_audit_intact(d: &Deployment, when: &str) {
    let out = d.run(&["audit", "verify"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("The audit log is intact"),
        "{when}: audit verify failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One hex id (32 digits, no dashes) from the SQL of each backend.
fn id_sql(d: &Deployment, column: &str) -> String {
    match d.backend.url() {
        None => format!("lower(hex({column}))"),
        Some(_) => format!("replace({column}::text, '-', '')"),
    }
}

/// Runs SQL that sees both the main database and the keystore (`ks.key_wraps`).
fn sql_with_keystore(d: &Deployment, sql: &str) -> String {
    match d.backend.url() {
        None => {
            let ks = d.data_dir().join("keys/keystore.db");
            Db::of(d).sql(&format!("ATTACH '{}' AS ks; {sql}", ks.display()))
        }
        Some(_) => Db::of(d).sql(&sql.replace("ks.key_wraps", "keystore.key_wraps")),
    }
}

fn count(d: &Deployment, sql: &str) -> u64 {
    sql_with_keystore(d, sql)
        .trim()
        .lines()
        .last()
        .unwrap_or("")
        .parse()
        .unwrap_or_else(|_| panic!("a count from {sql}"))
}

/// What the databases say after a crash; panics on any inconsistency. Returns the number
/// of key wraps without a referral (left by filings killed between the keystore commit and
/// the referral's commit: they wrap a key to nothing, see the store port).
fn check_storage(d: &Deployment, acked: &HashMap<String, String>, when: &str) -> u64 {
    let unwrapped = count(
        d,
        "SELECT count(*) FROM referrals r WHERE r.shredded_at IS NULL AND (\
         NOT EXISTS (SELECT 1 FROM ks.key_wraps w WHERE w.referral_id = r.id AND w.org_id = r.to_org) \
         OR NOT EXISTS (SELECT 1 FROM ks.key_wraps w WHERE w.referral_id = r.id AND w.org_id = r.from_org))",
    );
    assert_eq!(unwrapped, 0, "{when}: referrals without their key wraps");
    let unaudited = count(
        d,
        "SELECT (SELECT count(*) FROM referrals) - \
         (SELECT count(*) FROM audit_leaves WHERE action = 'referral.filed')",
    );
    assert_eq!(
        unaudited, 0,
        "{when}: referrals and referral.filed leaves differ"
    );
    for sql in [
        "SELECT count(*) FROM referral_events e WHERE NOT EXISTS (SELECT 1 FROM referrals r WHERE r.id = e.referral_id)",
        "SELECT count(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM referrals r WHERE r.id = m.referral_id)",
        "SELECT count(*) FROM attachments a WHERE NOT EXISTS (SELECT 1 FROM referrals r WHERE r.id = a.referral_id)",
        "SELECT count(*) FROM attachment_chunks c WHERE NOT EXISTS (SELECT 1 FROM attachments a WHERE a.id = c.attachment_id)",
        "SELECT count(*) FROM referrals r WHERE NOT EXISTS (SELECT 1 FROM cases c WHERE c.id = r.case_id)",
    ] {
        assert_eq!(count(d, sql), 0, "{when}: orphan rows: {sql}");
    }
    let ids: HashSet<String> = Db::of(d)
        .sql(&format!("SELECT {} FROM referrals", id_sql(d, "id")))
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    for id in acked.keys() {
        assert!(
            ids.contains(&id.replace('-', "")),
            "{when}: acknowledged referral {id} lost"
        );
    }
    let orphan_wraps = count(
        d,
        "SELECT count(DISTINCT w.referral_id) FROM ks.key_wraps w \
         WHERE NOT EXISTS (SELECT 1 FROM referrals r WHERE r.id = w.referral_id)",
    );
    let orphan_ids = sql_with_keystore(
        d,
        &format!(
            "SELECT DISTINCT {} FROM ks.key_wraps w WHERE NOT EXISTS \
             (SELECT 1 FROM referrals r WHERE r.id = w.referral_id)",
            id_sql(d, "w.referral_id")
        ),
    );
    for id in acked.keys() {
        assert!(
            !orphan_ids.contains(&id.replace('-', "")),
            "{when}: {id} has wraps but no referral"
        );
    }
    orphan_wraps
}

/// Opens every referral of the database with the receiver's token: each opens, the
/// acknowledged ones with the content filed, and no content appears twice.
async fn check_all_readable(s: &Setup, server: &Server, acked: &HashMap<String, String>) -> usize {
    let rows = Db::of(&s.d).sql(&format!("SELECT {} FROM referrals", id_sql(&s.d, "id")));
    let mut seen = HashSet::new();
    let mut n = 0;
    for hex in rows.lines().filter(|l| !l.is_empty()) {
        let id = uuid::Uuid::parse_str(hex).expect("a uuid").to_string();
        let r = send(
            &server.client,
            &server.base,
            reqwest::Method::GET,
            &format!("/api/v1/referrals/{id}"),
            &s.psy,
            None,
        )
        .await
        .expect("the server answers");
        assert_eq!(r.status, 200, "{id}: {:?}", r.json);
        let narrative = r.json["notes"]["narrative"]
            .as_str()
            .expect("a narrative")
            .to_owned();
        if let Some(filed) = acked.get(&id) {
            assert_eq!(&narrative, filed, "{id}: content changed");
        }
        assert!(seen.insert(narrative), "{id}: duplicate referral");
        n += 1;
    }
    n
}

fn cycles(default: usize) -> usize {
    std::env::var("PASSERELLE_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const WRITERS: usize = 4;

async fn crash_cycles(backend: Backend, cycles: usize) {
    let s = setup(backend);
    let mut acked: HashMap<String, String> = HashMap::new();
    let mut orphans = 0;
    let started = Instant::now();
    for cycle in 0..cycles {
        let server = s.d.serve();
        until_ready_is(&server, 200, Duration::from_secs(30)).await;
        let load = Load::start(&s, &server, WRITERS, &format!("c{cycle}"));
        // Killed after a random number of acknowledgements, while the writers and the
        // reader have requests in flight.
        load.wait_acks(1 + (rand_u64() % 6) as usize).await;
        server.signal("KILL");
        let (new, refusals) = load.finish().await;
        drop(server);
        assert!(
            refusals.is_empty(),
            "cycle {cycle}: answers other than success: {refusals:?}"
        );
        acked.extend(new);
        let when = format!("after kill {}", cycle + 1);
        assert_audit_intact(&s.d, &when);
        let now = check_storage(&s.d, &acked, &when);
        // At most one filing per writer was between its keystore commit and its commit.
        assert!(
            now - orphans <= WRITERS as u64,
            "{when}: {} new orphan wraps",
            now - orphans
        );
        orphans = now;
    }
    let server = s.d.serve();
    let total = check_all_readable(&s, &server, &acked).await;
    assert!(server.stop().success());
    assert_audit_intact(&s.d, "at the end");
    eprintln!(
        "crash run: {cycles} kill -9 cycles, {} acknowledged filings, {total} referrals stored, \
         {orphans} harmless orphan wraps, 0 lost, {:.0} s",
        acked.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(acked.len() >= cycles);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_on_sqlite() {
    crash_cycles(Backend::Sqlite, cycles(50)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_on_postgres() {
    if let Some(pg) = Backend::postgres() {
        crash_cycles(pg, cycles(10)).await;
    }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL outage.

/// A private PostgreSQL instance on a free port, in a temporary folder; stopped and
/// deleted at the end. As root it runs as the `postgres` user (PostgreSQL refuses root).
struct PrivatePg {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PrivatePg {
    fn start() -> Option<PrivatePg> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").exists())
            .max()?;
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("pg");
        let uid = Command::new("id").arg("-u").output().expect("id runs");
        let as_postgres = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        if as_postgres {
            let ok = Command::new("chown")
                .args(["postgres:"])
                .arg(dir.path())
                .status()
                .expect("chown runs");
            assert!(ok.success());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("a free port")
            .local_addr()
            .expect("address")
            .port();
        let pg = PrivatePg {
            _dir: dir,
            data,
            bin,
            port,
            as_postgres,
        };
        let init = pg.run(
            "initdb",
            &[
                "-D",
                &pg.data.display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        if !init.status.success() {
            eprintln!("initdb failed: {}", String::from_utf8_lossy(&init.stderr));
            return None;
        }
        pg.start_again();
        Some(pg)
    }

    fn run(&self, tool: &str, args: &[&str]) -> std::process::Output {
        let exe = self.bin.join(tool);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        c.args(args)
            .current_dir("/")
            .output()
            .expect("PostgreSQL tool runs")
    }

    /// Starts (again) and waits until it accepts connections (`pg_ctl -w`).
    fn start_again(&self) {
        let data = self.data.display().to_string();
        let opts = format!("-p {} -k {data} -c listen_addresses=127.0.0.1", self.port);
        let log = format!("{data}/../server.log");
        let out = self.run(
            "pg_ctl",
            &[
                "-D", &data, "-o", &opts, "-l", &log, "-w", "-t", "60", "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops at once, like a crash or a pulled cable (`pg_ctl stop -m immediate`).
    fn stop_now(&self) {
        let data = self.data.display().to_string();
        let out = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "stop"]);
    }
}

fn must_run_here(what: &str, why: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{what} must run in CI: {why}");
    }
    eprintln!("skipped: {what}: {why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_outage_under_load() {
    let Some(pg) = PrivatePg::start() else {
        return must_run_here(
            "the PostgreSQL outage test",
            "no private PostgreSQL could start",
        );
    };
    let name = format!("passerelle_outage_{}", uuid::Uuid::new_v4().simple());
    let out = Command::new("psql")
        .args([
            pg.admin_url().as_str(),
            "-v",
            "ON_ERROR_STOP=1",
            "-qAt",
            "-c",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = format!("postgres://postgres@127.0.0.1:{}/{name}", pg.port);
    let s = setup(Backend::Postgres { url, name });
    let server = s.d.serve();
    until_ready_is(&server, 200, Duration::from_secs(30)).await;

    let load = Load::start(&s, &server, WRITERS, "outage");
    load.wait_acks(8).await;
    pg.stop_now();
    let down = Instant::now();
    until_ready_is(&server, 503, Duration::from_secs(30)).await;
    let probe = send(
        &server.client,
        &server.base,
        reqwest::Method::GET,
        "/readyz",
        &s.psy,
        None,
    )
    .await
    .expect("answers");
    assert_eq!(probe.status, 503);
    assert_eq!(probe.content_type, "application/problem+json");
    let write = send(
        &server.client,
        &server.base,
        reqwest::Method::POST,
        "/api/v1/referrals",
        &s.police,
        Some(&filing("during the outage")),
    )
    .await
    .expect("the server answers during the outage");
    assert_eq!(write.status, 503, "{:?}", write.json);
    assert_eq!(write.content_type, "application/problem+json");
    assert_eq!(write.json["status"], 503);
    let acks_down = load.acks.load(Ordering::SeqCst);

    pg.start_again();
    let up = Instant::now();
    // No restart of passerelle: it reconnects by itself.
    until_ready_is(&server, 200, Duration::from_secs(60)).await;
    load.wait_acks(acks_down + 8).await;
    let recovered = up.elapsed();
    let (acked, refusals) = load.finish().await;
    assert!(
        refusals.iter().any(|(status, _, _)| *status == 503),
        "some requests met the outage"
    );
    for (status, ct, t) in &refusals {
        // 503 during the outage; the reader, which runs as fast as it can with one token,
        // may also meet its rate limit (429), a documented answer too.
        assert!(*status == 503 || *status == 429, "{status} {t}");
        assert_eq!(ct, "application/problem+json");
    }
    let acked: HashMap<String, String> = acked.into_iter().collect();
    assert_audit_intact(&s.d, "after the outage");
    check_storage(&s.d, &acked, "after the outage");
    let total = check_all_readable(&s, &server, &acked).await;
    assert!(server.stop().success());
    eprintln!(
        "outage run: down {:.1} s, {} refusals (503 problem+json), recovered {:.1} s after \
         PostgreSQL was back, {} acknowledged, {total} stored, 0 lost",
        up.duration_since(down).as_secs_f64(),
        refusals.len(),
        recovered.as_secs_f64(),
        acked.len()
    );
}

// ---------------------------------------------------------------------------------------
// Full disk.

/// A tmpfs mounted on a folder; unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, size: &str) -> Result<Mount, String> {
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(Mount(at.to_owned()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Fills the filesystem of `path` with one file until it has no byte left.
fn fill(path: &Path) -> u64 {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("filler file");
    let mut written = 0u64;
    for size in [1 << 20, 64 << 10, 4 << 10, 512, 1] {
        let chunk = vec![0u8; size];
        while f.write_all(&chunk).is_ok() {
            written += size as u64;
        }
    }
    let _ = f.sync_all();
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_disk_on_sqlite() {
    let d = Deployment::new(Backend::Sqlite);
    let mount = match Mount::tmpfs(d.dir.path(), "48m") {
        Ok(m) => m,
        Err(e) => {
            return must_run_here("the full disk test", &format!("cannot mount a tmpfs: {e}"));
        }
    };
    let s = setup_on(d);
    let server = s.d.serve();
    let mut acked = HashMap::new();
    for i in 0..3 {
        let narrative = format!("before the disk fills {i}");
        let r = send(
            &server.client,
            &server.base,
            reqwest::Method::POST,
            "/api/v1/referrals",
            &s.police,
            Some(&filing(&narrative)),
        )
        .await
        .expect("answers");
        assert_eq!(r.status, 201, "{:?}", r.json);
        acked.insert(r.json["id"].as_str().expect("id").to_owned(), narrative);
    }
    let filler = s.d.dir.path().join("filler");
    assert!(fill(&filler) > 0);

    // Large narratives: the WAL must grow, and cannot.
    let big = "x".repeat(48 << 10);
    let mut failures = 0;
    for i in 0..40 {
        let narrative = format!("while the disk is full {i} {big}");
        let r = send(
            &server.client,
            &server.base,
            reqwest::Method::POST,
            "/api/v1/referrals",
            &s.police,
            Some(&filing(&narrative)),
        )
        .await
        .expect("the server answers on a full disk");
        match r.status {
            201 => {
                acked.insert(r.json["id"].as_str().expect("id").to_owned(), narrative);
            }
            503 | 507 => {
                assert_eq!(r.content_type, "application/problem+json", "{:?}", r.json);
                assert_eq!(r.json["status"], r.status);
                failures += 1;
                if failures >= 5 {
                    break;
                }
            }
            other => panic!("a write on a full disk answered {other}: {:?}", r.json),
        }
    }
    assert!(failures >= 5, "the full disk never refused a write");
    // Reads answer too (their audit leaf may not fit: then 503, never a half answer).
    for id in acked.keys().take(3) {
        let r = send(
            &server.client,
            &server.base,
            reqwest::Method::GET,
            &format!("/api/v1/referrals/{id}"),
            &s.psy,
            None,
        )
        .await
        .expect("answers");
        assert!(r.status == 200 || r.status == 503, "{:?}", r.json);
    }

    std::fs::remove_file(&filler).expect("space freed");
    for i in 0..3 {
        let narrative = format!("after space was freed {i}");
        let r = send(
            &server.client,
            &server.base,
            reqwest::Method::POST,
            "/api/v1/referrals",
            &s.police,
            Some(&filing(&narrative)),
        )
        .await
        .expect("answers");
        assert_eq!(r.status, 201, "writes succeed again: {:?}", r.json);
        acked.insert(r.json["id"].as_str().expect("id").to_owned(), narrative);
    }
    let log = server.log();
    assert!(
        !passerelle_e2e::contains(&log, "panicked"),
        "the server panicked"
    );
    check_storage(&s.d, &acked, "after the full disk");
    let total = check_all_readable(&s, &server, &acked).await;
    assert!(server.stop().success());
    assert_audit_intact(&s.d, "after the full disk");
    drop(mount);
    eprintln!(
        "full disk run: {failures} writes refused cleanly (503/507 problem+json), {} \
         acknowledged, {total} stored, 0 lost, writes succeed again once space is freed",
        acked.len()
    );
}
