#![forbid(unsafe_code)]
//! `passerelle-bench`: starts the real `passerelle` binary (release build) on SQLite and on
//! PostgreSQL, creates its organisations, users and tokens with the binary's own commands,
//! and measures it over HTTPS next to the limits of the same machine: `pgbench` running the
//! filing's transaction, the same transaction on SQLite without the service, a bare axum
//! route over the same TLS, raw SHA-256, the `age` tool. Prints a table (figure, limit,
//! ratio, target, PASS/FAIL) and writes it as JSON.
//!
//! ```text
//! cargo build --release -p passerelle
//! cargo run --release -p passerelle-bench -- --quick     # about 2 minutes
//! cargo run --release -p passerelle-bench                # the full run (1,000,000 leaves)
//! ```
//!
//! Every payload is synthetic: no real person's data is used, printed or written.

mod audit;
mod limits;
mod load;
mod report;
mod server;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use sha2::{Digest, Sha256};

use crate::load::Measure;
use crate::report::Row;
use crate::server::{Deployment, PgDb, RssPeak, SPREAD, Server};

/// Measures the passerelle server next to the machine's limits.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// A short run (about two minutes): 2 s loads, 50,000 audit leaves.
    #[arg(long)]
    quick: bool,
    /// The server binary (default: `passerelle` next to this program, i.e.
    /// target/release/passerelle).
    #[arg(long, env = "PASSERELLE_BIN")]
    bin: Option<PathBuf>,
    /// Where the JSON report goes.
    #[arg(long, default_value = "target/bench/report.json")]
    out: PathBuf,
    /// Skip PostgreSQL (when none runs at 127.0.0.1:5432).
    #[arg(long)]
    skip_postgres: bool,
    /// Audit leaves to verify (default 1,000,000; 100,000 with --quick).
    #[arg(long)]
    leaves: Option<u64>,
    /// Only these parts (comma-separated): sqlite, postgres, audit, notes. Default: all.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Keep the audit part's data dir (its path is printed): to profile
    /// `passerelle audit verify` on it again.
    #[arg(long)]
    keep_audit_dir: bool,
}

/// How long each load runs.
struct Plan {
    warmup: Duration,
    load: Duration,
    levels: [usize; 3],
    read_concurrency: usize,
    leaves: u64,
    attachment: usize,
    spread: usize,
}

/// SHA-256.
pub fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

fn main() -> Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

fn locate_bin(arg: Option<PathBuf>) -> Result<PathBuf> {
    let path = match arg {
        Some(p) => p,
        None => std::env::current_exe()?
            .parent()
            .context("no folder")?
            .join("passerelle"),
    };
    if !path.exists() {
        bail!(
            "{} not found: build the server first with `cargo build --release -p passerelle` \
             (or pass --bin PATH)",
            path.display()
        );
    }
    Ok(path)
}

async fn run(args: Args) -> Result<()> {
    let bin = locate_bin(args.bin)?;
    let plan = if args.quick {
        Plan {
            warmup: Duration::from_millis(300),
            load: Duration::from_secs(2),
            levels: [1, 16, 64],
            read_concurrency: 16,
            leaves: args.leaves.unwrap_or(50_000),
            attachment: 100 << 20,
            spread: 64,
        }
    } else {
        Plan {
            warmup: Duration::from_secs(1),
            load: Duration::from_secs(10),
            levels: [1, 16, 64],
            read_concurrency: 16,
            leaves: args.leaves.unwrap_or(1_000_000),
            attachment: 100 << 20,
            spread: SPREAD,
        }
    };
    let started = Instant::now();
    let part = |p: &str| args.only.is_empty() || args.only.iter().any(|o| o == p);
    eprintln!(
        "passerelle-bench: server {} ({}); 2-core machines shared with compilers give noisy figures",
        bin.display(),
        if args.quick { "quick run" } else { "full run" }
    );
    let mut rows = Vec::new();

    // The attachment file, random (incompressible), shared by the service and `age`.
    let work = tempfile::tempdir()?;
    let file = work.path().join("attachment.bin");
    {
        let mut data = vec![0u8; plan.attachment];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for c in data.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes()[..c.len()]);
        }
        std::fs::write(&file, &data)?;
    }
    let age_run = if part("sqlite") || part("postgres") {
        limits::age_cli(&file)
    } else {
        Err(anyhow::anyhow!("not needed"))
    };
    let age_times = match age_run {
        Ok(t) => Some(t),
        Err(e) => {
            eprintln!("age tool: {e:#}; the attachment rows have no limit");
            None
        }
    };

    // SQLite.
    if part("sqlite") {
        eprintln!("[sqlite] deployment…");
        let d = Deployment::init(&bin, None)?;
        service(&d, "SQLite", &plan, &file, age_times, &mut rows).await?;
        drop(d);
    }

    // PostgreSQL.
    if !part("postgres") {
    } else if args.skip_postgres {
        eprintln!("[postgres] skipped (--skip-postgres)");
    } else {
        eprintln!("[postgres] deployment…");
        let db = PgDb::create("passerelle_bench").context(
            "no PostgreSQL at 127.0.0.1:5432 (user postgres); set PASSERELLE_BENCH_DATABASE_URL or pass --skip-postgres",
        )?;
        let d = Deployment::init(&bin, Some(db))?;
        service(&d, "PostgreSQL", &plan, &file, age_times, &mut rows).await?;
        drop(d);
    }

    // Audit verification.
    if part("audit") {
        audit_rows(&bin, &plan, args.keep_audit_dir, &mut rows).await?;
    }

    // Sealing 4 KiB notes in process: the vault next to the age library.
    if part("notes") {
        rows.push(notes()?);
    }
    report_out(&args.out, args.quick, &rows, started)
}

async fn audit_rows(
    bin: &std::path::Path,
    plan: &Plan,
    keep: bool,
    rows: &mut Vec<Row>,
) -> Result<()> {
    eprintln!("[audit] writing {} leaves through the store…", plan.leaves);
    let d = Deployment::init(bin, None)?;
    let data_dir = d.data_dir();
    let v = audit::run(&data_dir, plan.leaves, || {
        let out = d.run(&["audit", "verify"])?;
        eprintln!("[audit] {}", out.lines().next().unwrap_or_default());
        Ok(())
    })
    .await?;
    let mb = v.bytes as f64 / 1e6;
    eprintln!(
        "[audit] {} leaves written in {:.1} s; verify {:.2} s; raw SHA-256 {:.3} s",
        v.leaves, v.write_secs, v.verify_secs, v.sha_secs
    );
    rows.push(Row::ratio(
        format!("audit verify, {} leaves (SQLite)", v.leaves),
        v.leaves as f64 / v.verify_secs,
        "leaves/s",
        "raw SHA-256 of each leaf",
        Some(v.leaves as f64 / v.sha_secs),
        Some(0.5),
        format!(
            "{:.1} MB/s vs {:.1} MB/s; {:.1} MB of leaves; `passerelle audit verify` process, every check",
            mb / v.verify_secs,
            mb / v.sha_secs,
            mb
        ),
    ));
    // The floors: what verification cannot beat, next to the same limit (INFO rows).
    let floor = |figure: &str, secs: f64, detail: String| {
        let rate = v.leaves as f64 / secs;
        let limit = v.leaves as f64 / v.sha_secs;
        let name = "raw SHA-256 of each leaf";
        Row::ratio(figure, rate, "leaves/s", name, Some(limit), None, detail)
    };
    rows.push(floor(
        "reading the leaves alone (SQLite, no checks)",
        v.read_secs,
        format!(
            "one aggregate SELECT over every column verify reads, bundled SQLite, warm cache: {:.0} MB/s; \
             the same rows packed and split as `audit verify` reads them (store, no checks): {:.0} leaves/s ({:.0} % of raw SHA-256)",
            mb / v.read_secs,
            v.leaves as f64 / v.batch_secs,
            100.0 * v.sha_secs / v.batch_secs
        ),
    ));
    rows.push(floor(
        "RFC 6962 tree hashing alone (in memory, no reading or decoding)",
        v.tree_secs,
        format!(
            "leaf hashes and n - 1 interior nodes: {:.2} SHA-256 blocks per leaf vs {:.2} for one hash per leaf, \
             so, hashing on one core, no verifier can pass {:.0} % of raw SHA-256",
            v.tree_blocks as f64 / v.leaves as f64,
            v.raw_blocks as f64 / v.leaves as f64,
            100.0 * v.raw_blocks as f64 / v.tree_blocks as f64
        ),
    ));
    if keep {
        let Deployment { dir, .. } = d;
        eprintln!(
            "[audit] data dir kept: {}",
            dir.keep().join("data").display()
        );
    }
    Ok(())
}

fn report_out(out: &std::path::Path, quick: bool, rows: &[Row], started: Instant) -> Result<()> {
    let table = report::table(rows);
    println!("\n{table}");
    println!(
        "{} rows, {} PASS, {} FAIL; {:.0} s",
        rows.len(),
        rows.iter().filter(|r| r.verdict == "PASS").count(),
        rows.iter().filter(|r| r.verdict == "FAIL").count(),
        started.elapsed().as_secs_f64()
    );
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let json = serde_json::json!({
        "quick": quick,
        "date": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "rows": rows,
    });
    std::fs::write(out, serde_json::to_string_pretty(&json)?)?;
    println!("report written to {}", out.display());
    Ok(())
}

/// The filing's body: synthetic, ~3.5 KiB of notes so the sealed row is ~4 KiB.
fn filing_body(narrative_len: usize) -> serde_json::Value {
    use time::format_description::well_known::Rfc3339;
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| t.format(&Rfc3339).expect("RFC 3339");
    let filler = "Texte de synthèse pour la mesure, sans personne réelle. ";
    let narrative: String = filler.chars().cycle().take(narrative_len).collect();
    serde_json::json!({
        "to_org": "bench-asso",
        "purpose": "psychological_support",
        "urgency": "normal",
        "danger_grid": {"yes_answers": 3, "red_answers": 0},
        "consent": {
            "basis": "consent",
            "method": "written",
            "obtained_at": fmt(now - time::Duration::hours(1)),
            "recipients": ["bench-asso"],
            "purposes": ["psychological_support"],
            "data_categories": ["identity", "contact", "narrative", "risk"],
            "expires_at": fmt(now + time::Duration::days(300)),
        },
        "subject": {"name": "Personne Fictive", "birth_date": "1990-04-02", "phone": "0600000000"},
        "safety": {"channel": "sms", "hours": "9h-12h", "voicemail_ok": false,
                   "may_name_org": false, "code_word": "mesure", "do_not_contact": false},
        "notes": {"narrative": narrative, "risk": "aucun (synthèse)"},
    })
}

/// A limit's CPU per operation (every party), for a row's detail.
fn limit_cpu(m: &Measure) -> String {
    m.cpu.map_or_else(
        || "not measured".to_owned(),
        |c| format!("{:.2} ms", c.total_ms()),
    )
}

/// The CPU part of a row's detail.
fn cpu_line(m: &Measure) -> String {
    m.cpu
        .map_or_else(|| "CPU not measured".to_owned(), |c| c.describe())
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// Every measure of the service on one deployment.
async fn service(
    d: &Deployment,
    backend: &str,
    plan: &Plan,
    file: &std::path::Path,
    age_times: Option<(f64, f64)>,
    rows: &mut Vec<Row>,
) -> Result<()> {
    d.run(&[
        "org",
        "add",
        "bench-police",
        "--name",
        "Commissariat (mesure)",
        "--kind",
        "police",
    ])?;
    d.run(&[
        "org",
        "add",
        "bench-asso",
        "--name",
        "Association (mesure)",
        "--kind",
        "association",
    ])?;
    d.run(&[
        "user",
        "add",
        "agent.bench",
        "--org",
        "bench-police",
        "--role",
        "referrer",
    ])?;
    d.run(&[
        "user",
        "add",
        "psy.bench",
        "--org",
        "bench-asso",
        "--role",
        "receiver",
    ])?;
    let t = Instant::now();
    let senders = Arc::new(d.tokens("agent.bench", plan.spread)?);
    let receivers = Arc::new(d.tokens("psy.bench", plan.spread)?);
    eprintln!(
        "[{backend}] {} tokens issued in {:.1} s",
        2 * plan.spread,
        t.elapsed().as_secs_f64()
    );
    let max = (plan.attachment + (8 << 20)).to_string();
    let srv = d.serve(
        &[("PASSERELLE_MAX_ATTACHMENT_BYTES", max.as_str())],
        plan.spread,
    )?;
    let pid = srv.pid();
    // At rest: ready, its pools open, one request served.
    let (_, c) = srv.clients.pick();
    c.get(format!("{}/readyz", srv.base))
        .send()
        .await?
        .error_for_status()?;
    let rest = server::rss_mib(pid);
    rows.push(Row::below(
        format!("RSS at rest ({backend})"),
        rest,
        "MiB",
        40.0,
        "VmRSS after start",
    ));

    // Filing.
    let body = Arc::new(serde_json::to_vec(&filing_body(3200))?);
    let ids: Arc<Mutex<Vec<String>>> = Arc::default();
    let srv = Arc::new(srv);
    let mut load_peak: f64 = 0.0;
    let pg_limit = match &d.pg {
        Some(_) => match limits::pgbench_path() {
            Some(p) => Some((p, limits::pgbench_db()?)),
            None => {
                eprintln!("pgbench not found (package postgresql-client): no limit for filing");
                None
            }
        },
        None => None,
    };
    for &c in &plan.levels {
        let op: load::Op = {
            let (srv, body, ids, senders) =
                (srv.clone(), body.clone(), ids.clone(), senders.clone());
            Arc::new(move |_w, _i| {
                let (srv, body, ids, senders) =
                    (srv.clone(), body.clone(), ids.clone(), senders.clone());
                Box::pin(async move {
                    let (k, client) = srv.clients.pick();
                    let r = client
                        .post(format!("{}/api/v1/referrals", srv.base))
                        .bearer_auth(&senders[k])
                        .header("content-type", "application/json")
                        .body(body.as_ref().clone())
                        .send()
                        .await?;
                    if r.status() != 201 {
                        bail!(
                            "filing answered {}: {}",
                            r.status(),
                            r.text().await.unwrap_or_default()
                        );
                    }
                    let v: serde_json::Value = r.json().await?;
                    let mut ids = ids.lock().expect("ids");
                    if ids.len() < 5000 {
                        ids.push(v["id"].as_str().unwrap_or_default().to_owned());
                    }
                    Ok(())
                })
            })
        };
        let peak = RssPeak::start(pid);
        let m = load::run_with_cpu(Some(pid), c, plan.warmup, plan.load, op).await?;
        load_peak = load_peak.max(peak.finish());
        let (limit_name, limit): (String, Option<Measure>) = match (&d.pg, &pg_limit) {
            (Some(_), Some((pgb, db))) => (
                format!("pgbench, same transaction, {c} clients"),
                Some(limits::pgbench(pgb, db, c, plan.load.as_secs())?),
            ),
            (Some(_), None) => ("pgbench (not installed)".into(), None),
            (None, _) => (
                format!("SQLite direct (sqlx), same transaction, {c} tasks"),
                Some(limits::sqlite_direct(c, plan.warmup, plan.load).await?),
            ),
        };
        eprintln!(
            "[{backend}] filing c={c}: {:.0}/s p50 {:.1} ms p99 {:.1} ms; limit {:.0}/s",
            m.rate,
            m.p50_ms,
            m.p99_ms,
            limit.map_or(0.0, |l| l.rate)
        );
        rows.push(Row::ratio(
            format!("filing, concurrency {c} ({backend})"),
            m.rate,
            "referrals/s",
            limit_name,
            limit.map(|l| l.rate),
            Some(0.5),
            format!(
                "{} filed; p50 {:.1} ms, p99 {:.1} ms; limit p50 {:.1} ms, p99 {:.1} ms; {}; the limit's CPU per transaction {}",
                m.count,
                m.p50_ms,
                m.p99_ms,
                limit.map_or(0.0, |l| l.p50_ms),
                limit.map_or(0.0, |l| l.p99_ms),
                cpu_line(&m),
                limit.map_or_else(|| "not measured".to_owned(), |l| limit_cpu(&l))
            ),
        )
        .with_cpu(m.cpu, limit.and_then(|l| l.cpu)));
    }
    drop(pg_limit);
    // The filings took the referrals table from empty to thousands of rows in seconds, and
    // PostgreSQL plans with the statistics of the empty table until autovacuum analyses it
    // (within `autovacuum_naptime`, one minute by default): it then estimates ~10 inbox rows,
    // reads them all through a bitmap scan and sorts them, instead of walking the inbox
    // index in order and stopping after one page (seen with auto_explain: 13 rows
    // estimated, 3,872 read, 20–30 ms a page). A deployment in service has long been
    // analysed; do now what autovacuum would, so that the listing measures that.
    if let Some(db) = &d.pg {
        server::psql(&db.url, "ANALYZE")?;
    }

    // Listing the inbox and opening a referral, next to a bare axum route.
    let ids: Arc<Vec<String>> = Arc::new(ids.lock().expect("ids").clone());
    if ids.is_empty() {
        bail!("no referral was filed");
    }
    let (_, c0) = srv.clients.pick();
    let list_url = format!("{}/api/v1/referrals?box=inbox&limit=50", srv.base);
    let list_len = c0
        .get(&list_url)
        .bearer_auth(&receivers[0])
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?
        .len();
    let open_len = c0
        .get(format!("{}/api/v1/referrals/{}", srv.base, ids[0]))
        .bearer_auth(&receivers[0])
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?
        .len();
    let bare = limits::BareAxum::start(list_len, open_len)?;
    let get = |base: String,
               clients: server::Clients,
               path: Arc<dyn Fn(u64) -> String + Send + Sync>,
               auth: bool|
     -> load::Op {
        let receivers = receivers.clone();
        Arc::new(move |_w, i| {
            let (base, clients, path, receivers) = (
                base.clone(),
                clients.clone(),
                path.clone(),
                receivers.clone(),
            );
            Box::pin(async move {
                let (k, client) = clients.pick();
                let mut req = client.get(format!("{base}{}", path(i)));
                if auth {
                    req = req.bearer_auth(&receivers[k]);
                }
                let r = req.send().await?;
                if !r.status().is_success() {
                    if r.status() == 429 {
                        bail!(
                            "GET answered 429: the load outran the rate limits of the {} client addresses and tokens it is spread over",
                            clients.count()
                        );
                    }
                    bail!("GET answered {}", r.status());
                }
                r.bytes().await?;
                Ok(())
            })
        })
    };
    let rc = plan.read_concurrency;
    let list = load::run_with_cpu(
        Some(pid),
        rc,
        plan.warmup,
        plan.load,
        get(
            srv.base.clone(),
            srv.clients.clone(),
            Arc::new(|_| "/api/v1/referrals?box=inbox&limit=50".into()),
            true,
        ),
    )
    .await?;
    let list_bare = load::run_in_process(
        rc,
        plan.warmup,
        plan.load,
        get(
            bare.base.clone(),
            bare.clients.clone(),
            Arc::new(|_| "/list".into()),
            false,
        ),
    )
    .await?;
    let peak = RssPeak::start(pid);
    let open = {
        let ids = ids.clone();
        load::run_with_cpu(
            Some(pid),
            rc,
            plan.warmup,
            plan.load,
            get(
                srv.base.clone(),
                srv.clients.clone(),
                Arc::new(move |i| {
                    format!("/api/v1/referrals/{}", ids[(i as usize * 7919) % ids.len()])
                }),
                true,
            ),
        )
        .await?
    };
    load_peak = load_peak.max(peak.finish());
    let open_bare = load::run_in_process(
        rc,
        plan.warmup,
        plan.load,
        get(
            bare.base.clone(),
            bare.clients.clone(),
            Arc::new(|_| "/open".into()),
            false,
        ),
    )
    .await?;
    drop(bare);
    rows.push(Row::ratio(
        format!("listing the inbox, concurrency {rc} ({backend})"),
        list.rate,
        "requests/s",
        format!("bare axum route, same TLS, {list_len}-byte JSON"),
        Some(list_bare.rate),
        Some(0.4),
        format!(
            "p50 {:.1} ms, p99 {:.1} ms; limit p50 {:.1} ms; {}; the bare route's CPU per request {}",
            list.p50_ms,
            list.p99_ms,
            list_bare.p50_ms,
            cpu_line(&list),
            limit_cpu(&list_bare)
        ),
    )
    .with_cpu(list.cpu, list_bare.cpu));
    rows.push(Row::ratio(
        format!("opening a referral, concurrency {rc} ({backend})"),
        open.rate,
        "requests/s",
        format!("bare axum route, same TLS, {open_len}-byte JSON"),
        Some(open_bare.rate),
        // Issue #9 sets no target for opening: each open is a durable transaction (its
        // audit leaf commits before the content is sent), so its bound is the database's
        // commit rate (the filing rows), not a route answering from memory.
        None,
        format!(
            "unwrap + decrypt + durable audit append each; p50 {:.1} ms, p99 {:.1} ms; limit p50 {:.1} ms; {}; the bare route's CPU per request {}",
            open.p50_ms,
            open.p99_ms,
            open_bare.p50_ms,
            cpu_line(&open),
            limit_cpu(&open_bare)
        ),
    )
    .with_cpu(open.cpu, open_bare.cpu));
    rows.push(Row::ratio(
        format!("RSS under load ({backend})"),
        load_peak,
        "MiB",
        "",
        None,
        None,
        "peak VmRSS while filing, listing, opening",
    ));

    // A 100 MiB attachment, up and down.
    attachment(
        &srv,
        d.pg.is_some(),
        backend,
        file,
        &body,
        &senders,
        &receivers,
        age_times,
        rows,
    )
    .await?;
    drop(srv);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn attachment(
    srv: &Server,
    on_pg: bool,
    backend: &str,
    file: &std::path::Path,
    body: &[u8],
    senders: &[String],
    receivers: &[String],
    age_times: Option<(f64, f64)>,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let pid = srv.pid();
    let (k, client) = srv.clients.pick();
    let r = client
        .post(format!("{}/api/v1/referrals", srv.base))
        .bearer_auth(&senders[k])
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await?;
    if r.status() != 201 {
        bail!("filing answered {}", r.status());
    }
    let id = r.json::<serde_json::Value>().await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let data = std::fs::read(file)?;
    let len = data.len();
    let want = hex::encode(sha256(&data));
    let rest = server::rss_mib(pid);
    eprintln!(
        "[{backend}] attachment {:.0} MiB: upload, then download…",
        mib(len)
    );
    let peak = RssPeak::start(pid);
    let cpu0 = server::CpuSample::take(pid);
    let t = Instant::now();
    let r = client
        .post(format!("{}/api/v1/referrals/{id}/attachments", srv.base))
        .bearer_auth(&receivers[k])
        .header("x-filename", "mesure.bin")
        .header("x-data-category", "narrative")
        .header("content-type", "application/octet-stream")
        .body(data)
        .send()
        .await?;
    if r.status() != 201 {
        bail!(
            "upload answered {}: {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
    }
    let up = t.elapsed().as_secs_f64();
    let cpu_up = cpu0.per_op(&cpu0.again(), 1.0);
    let meta: serde_json::Value = r.json().await?;
    if meta["sha256"].as_str() != Some(want.as_str()) {
        bail!("the service returned another SHA-256 for the attachment");
    }
    let aid = meta["id"].as_str().unwrap_or_default().to_owned();
    let cpu0 = server::CpuSample::take(pid);
    let t = Instant::now();
    let mut r = client
        .get(format!(
            "{}/api/v1/referrals/{id}/attachments/{aid}",
            srv.base
        ))
        .bearer_auth(&receivers[k])
        .send()
        .await?
        .error_for_status()?;
    let mut h = Sha256::new();
    let mut got = 0usize;
    while let Some(chunk) = r.chunk().await? {
        got += chunk.len();
        h.update(&chunk);
    }
    let down = t.elapsed().as_secs_f64();
    let cpu_down = cpu0.per_op(&cpu0.again(), 1.0);
    let peak = peak.finish();
    if got != len || hex::encode(h.finalize()) != want {
        bail!("the attachment came back different");
    }
    let mbs = |secs: f64| len as f64 / 1e6 / secs;
    eprintln!(
        "[{backend}] attachment {:.0} MiB: up {:.1} MB/s, down {:.1} MB/s, peak RSS {:.0} MiB (rest {:.0})",
        mib(len),
        mbs(up),
        mbs(down),
        peak,
        rest
    );
    // What the database alone does with the same bytes, cut and stored as the service
    // stores them: the floor under the service's rows.
    let floor = if on_pg {
        limits::pg_chunks(file).await?
    } else {
        limits::sqlite_chunks(file).await?
    };
    let cpu = |c: &load::CpuPerOp, secs: f64| {
        format!(
            "CPU: server {:.2} s, PostgreSQL {:.2} s, harness {:.2} s in {secs:.2} s",
            c.server_ms / 1000.0,
            c.database_ms / 1000.0,
            c.client_ms / 1000.0
        )
    };
    let (sealing, opening) = ("age -r (CLI), same file", "age -d (CLI), same file");
    let age = |sealed: bool| age_times.map(|(e, d)| mbs(if sealed { e } else { d }));
    let chunk_mib = mib(passerelle_core::CHUNK_BYTES);
    for (figure, value, limit_name, limit, target, detail) in [
        (
            format!(
                "sealing a {:.0} MiB attachment over HTTPS ({backend})",
                mib(len)
            ),
            mbs(up),
            sealing,
            age(true),
            Some(0.8),
            format!(
                "upload: TLS, streamed seal, stored, audited; {}",
                cpu(&cpu_up, up)
            ),
        ),
        (
            format!(
                "opening a {:.0} MiB attachment over HTTPS ({backend})",
                mib(len)
            ),
            mbs(down),
            opening,
            age(false),
            Some(0.8),
            format!(
                "download: integrity pass, streamed open, TLS, audited; {}",
                cpu(&cpu_down, down)
            ),
        ),
        (
            format!(
                "storing the same file in {chunk_mib:.0} MiB chunks, database alone ({backend})"
            ),
            floor.up_mb_s,
            sealing,
            age(true),
            None,
            format!(
                "no service: the service's chunk statements and durability; the upload reaches {:.0} % of it",
                100.0 * mbs(up) / floor.up_mb_s
            ),
        ),
        (
            format!("reading them back, database alone ({backend})"),
            floor.down_mb_s,
            opening,
            age(false),
            None,
            format!(
                "no service: one point read per chunk; the download (which reads every chunk twice) reaches {:.0} % of it",
                100.0 * mbs(down) / floor.down_mb_s
            ),
        ),
    ] {
        rows.push(Row::ratio(
            figure, value, "MB/s", limit_name, limit, target, detail,
        ));
    }
    rows.push(Row::below(
        format!("attachment peak RSS above rest ({backend})"),
        (peak - rest).max(0.0),
        "MiB",
        64.0,
        format!("peak {peak:.0} MiB during upload and download, {rest:.0} MiB just before"),
    ));
    Ok(())
}

/// Sealing 4 KiB notes in process: the vault (binding header + age to the referral key)
/// next to the age library alone to one X25519 recipient.
fn notes() -> Result<Row> {
    use passerelle_domain::ids::ReferralId;
    use passerelle_vault::{Binding, Part, ReferralKey};
    let note = vec![0x41u8; 4096];
    let key = ReferralKey::generate();
    let recipient = key.recipient();
    let binding = Binding::new(ReferralId(uuid::Uuid::new_v4()), Part::Content, None);
    let window = Duration::from_millis(1500);
    let rate = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
        let t = Instant::now();
        let mut n = 0u64;
        while t.elapsed() < window {
            f()?;
            n += 1;
        }
        Ok(n as f64 / t.elapsed().as_secs_f64())
    };
    let vault = rate(&mut || {
        std::hint::black_box(passerelle_vault::seal(&recipient, &binding, &note)?);
        Ok(())
    })?;
    let id = age::x25519::Identity::generate();
    let to = id.to_public();
    let age_lib = rate(&mut || {
        std::hint::black_box(age::encrypt(&to, &note)?);
        Ok(())
    })?;
    Ok(Row::ratio(
        "sealing 4 KiB notes in process (vault)",
        vault,
        "notes/s",
        "age library, one X25519 recipient",
        Some(age_lib),
        None,
        "one X25519 wrap + ChaCha20-Poly1305 each; the ratio is the vault's overhead",
    ))
}
