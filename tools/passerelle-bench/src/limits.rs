//! The limits each figure is compared to: `pgbench` running the filing's transaction on the
//! same PostgreSQL, the same transaction on SQLite without the service, a bare axum route
//! over the same TLS, raw SHA-256, and the `age` tool.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::load::{self, Measure};
use crate::server::{Clients, PgDb};

/// The filing's storage work, as the service does it: one ~4 KiB row (the sealed referral),
/// one ~300-byte audit row, the audit head row locked and updated, in one transaction.
const PG_SCHEMA: &str = "
CREATE TABLE bench_referral (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now(), body bytea NOT NULL);
ALTER TABLE bench_referral ALTER COLUMN body SET STORAGE EXTERNAL;
CREATE TABLE bench_audit (seq bigint PRIMARY KEY, bytes bytea NOT NULL, leaf_hash bytea NOT NULL);
CREATE TABLE bench_head (id int PRIMARY KEY, size bigint NOT NULL, root bytea NOT NULL);
INSERT INTO bench_head VALUES (1, 0, '\\x00');
";

/// The pgbench script (`SET STORAGE EXTERNAL` keeps the 4 KiB row uncompressed, like a
/// ciphertext).
const PG_SCRIPT: &str = "BEGIN;
SELECT size FROM bench_head WHERE id = 1 FOR UPDATE;
INSERT INTO bench_referral (body) VALUES (convert_to(repeat(md5(random()::text), 128), 'UTF8'));
INSERT INTO bench_audit (seq, bytes, leaf_hash) SELECT size, convert_to(repeat(md5(random()::text), 9) || 'abcdefghijkl', 'UTF8'), sha256(convert_to(size::text, 'UTF8')) FROM bench_head WHERE id = 1;
UPDATE bench_head SET size = size + 1, root = sha256(root) WHERE id = 1;
END;
";

/// `pgbench`: `PATH`, else the PostgreSQL installation's own.
pub fn pgbench_path() -> Option<PathBuf> {
    if Command::new("pgbench").arg("--version").output().is_ok() {
        return Some(PathBuf::from("pgbench"));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin/pgbench"))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop()
}

/// A database for pgbench with the schema above.
pub fn pgbench_db() -> Result<PgDb> {
    let db = PgDb::create("passerelle_bench_pgbench")?;
    crate::server::psql(&db.url, PG_SCHEMA)?;
    Ok(db)
}

/// Runs the script at `clients` for `secs`; rate and latencies from pgbench's per-transaction
/// log.
pub fn pgbench(bin: &Path, db: &PgDb, clients: usize, secs: u64) -> Result<Measure> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("filing.sql");
    std::fs::write(&script, PG_SCRIPT)?;
    let prefix = dir.path().join("log");
    let cpu = crate::server::ChildCpu::start();
    let out = Command::new(bin)
        .current_dir(dir.path())
        .args([
            "-n",
            "-f",
            &script.to_string_lossy(),
            "-c",
            &clients.to_string(),
            "-j",
            &clients.min(2).to_string(),
            "-T",
            &secs.to_string(),
            "-l",
            "--log-prefix",
            &prefix.to_string_lossy(),
            &db.url,
        ])
        .output()
        .context("cannot run pgbench")?;
    if !out.status.success() {
        bail!("pgbench: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let tps: f64 = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("tps = "))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no tps in pgbench's output")?;
    // Log lines: client_id transaction_no latency_us script_no epoch_s epoch_us.
    let mut lat = Vec::new();
    for e in std::fs::read_dir(dir.path())? {
        let p = e?.path();
        if p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("log"))
        {
            for line in std::fs::read_to_string(&p)?.lines() {
                if let Some(us) = line.split_whitespace().nth(2).and_then(|v| v.parse().ok()) {
                    lat.push(Duration::from_micros(us));
                }
            }
        }
    }
    let mut m = Measure::from_latencies(lat, Duration::from_secs(secs));
    m.rate = tps;
    m.cpu = Some(cpu.per_op(tps * secs as f64));
    Ok(m)
}

/// The same transaction on SQLite (WAL, `synchronous=FULL`, `BEGIN IMMEDIATE`, one writer at
/// a time as the service's store does) without the service.
pub async fn sqlite_direct(clients: usize, warmup: Duration, secs: Duration) -> Result<Measure> {
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    use std::str::FromStr;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("direct.db").display());
    let opts = SqliteConnectOptions::from_str(&url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(clients.clamp(1, 8) as u32)
        .connect_with(opts)
        .await?;
    for stmt in [
        "CREATE TABLE bench_referral (id INTEGER PRIMARY KEY, created_at INTEGER NOT NULL, body BLOB NOT NULL)",
        "CREATE TABLE bench_audit (seq INTEGER PRIMARY KEY, bytes BLOB NOT NULL, leaf_hash BLOB NOT NULL)",
        "CREATE TABLE bench_head (id INTEGER PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL)",
        "INSERT INTO bench_head VALUES (1, 0, x'00')",
    ] {
        sqlx::query(stmt).execute(&pool).await?;
    }
    let writer = Arc::new(tokio::sync::Semaphore::new(1));
    let body: Arc<Vec<u8>> = Arc::new(
        (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect(),
    );
    let op: load::Op = Arc::new(move |_w, i| {
        let (pool, writer, body) = (pool.clone(), writer.clone(), body.clone());
        Box::pin(async move {
            let _turn = writer.acquire().await?;
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            let (size,): (i64,) = sqlx::query_as("SELECT size FROM bench_head WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?;
            let mut b = body.as_ref().clone();
            b[..8].copy_from_slice(&i.to_le_bytes());
            sqlx::query("INSERT INTO bench_referral (created_at, body) VALUES ($1, $2)")
                .bind(size)
                .bind(b)
                .execute(&mut *tx)
                .await?;
            let leaf = vec![(size % 251) as u8; 300];
            let hash = crate::sha256(&leaf);
            sqlx::query("INSERT INTO bench_audit (seq, bytes, leaf_hash) VALUES ($1, $2, $3)")
                .bind(size)
                .bind(leaf)
                .bind(hash.to_vec())
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE bench_head SET size = size + 1, root = $1 WHERE id = 1")
                .bind(hash.to_vec())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    });
    // The transactions run in this process: its CPU per transaction is the limit's.
    load::run_in_process(clients, warmup, secs, op).await
}

/// A bare axum route over the same TLS (a self-signed rcgen certificate, rustls with ring,
/// HTTP/1.1 and 2) returning a fixed JSON body, on its own runtime of two workers.
pub struct BareAxum {
    /// `https://127.0.0.1:PORT`
    pub base: String,
    /// Clients trusting its certificate.
    pub clients: Clients,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BareAxum {
    /// Serves `GET /list` and `GET /open` answering bodies of those sizes.
    pub fn start(list_len: usize, open_len: usize) -> Result<BareAxum> {
        use axum::routing::get;
        let cert =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])?;
        let cert_pem = cert.cert.pem();
        let key_pem = cert.signing_key.serialize_pem();
        let body = |len: usize| -> bytes::Bytes {
            // {"items":"xxxx…"}: valid JSON of exactly `len` bytes.
            let pad = len.saturating_sub(12).max(1);
            bytes::Bytes::from(format!("{{\"items\":\"{}\"}}", "x".repeat(pad)))
        };
        let (list, open) = (body(list_len), body(open_len));
        let app = axum::Router::new()
            .route(
                "/list",
                get(move || {
                    let b = list.clone();
                    async move { ([("content-type", "application/json")], b) }
                }),
            )
            .route(
                "/open",
                get(move || {
                    let b = open.clone();
                    async move { ([("content-type", "application/json")], b) }
                }),
            );
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (c, k) = (cert_pem.clone(), key_pem);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let tls =
                    axum_server::tls_rustls::RustlsConfig::from_pem(c.into_bytes(), k.into_bytes())
                        .await
                        .expect("TLS config");
                let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
                let addr = listener.local_addr().expect("address");
                let handle = axum_server::Handle::new();
                let h = handle.clone();
                tokio::spawn(async move {
                    let _ = stop_rx.await;
                    h.shutdown();
                });
                let _ = addr_tx.send(addr);
                let _ = axum_server::from_tcp_rustls(listener, tls)
                    .expect("listener")
                    .handle(handle)
                    .serve(app.into_make_service())
                    .await;
            });
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .context("the bare axum server did not start")?;
        Ok(BareAxum {
            base: format!("https://{addr}"),
            clients: Clients::new(cert_pem.as_bytes(), crate::server::SPREAD)?,
            shutdown: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

impl Drop for BareAxum {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The `age` tool, if installed.
pub fn age_tool() -> Option<(PathBuf, PathBuf)> {
    let ok = |b: &str| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    (ok("age") && ok("age-keygen")).then(|| (PathBuf::from("age"), PathBuf::from("age-keygen")))
}

/// Encrypts then decrypts `file` with the `age` tool to a fresh X25519 recipient; returns
/// (encrypt seconds, decrypt seconds).
pub fn age_cli(file: &Path) -> Result<(f64, f64)> {
    let (age, keygen) = age_tool().context("the age tool is not installed (Debian package age)")?;
    let dir = tempfile::tempdir()?;
    let key = dir.path().join("key.txt");
    let out = Command::new(keygen).arg("-o").arg(&key).output()?;
    if !out.status.success() {
        bail!("age-keygen failed");
    }
    let text = std::fs::read_to_string(&key)?;
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .context("no public key in age-keygen's file")?
        .trim()
        .to_owned();
    let sealed = dir.path().join("file.age");
    let t = Instant::now();
    let st = Command::new(&age)
        .args(["-r", &recipient, "-o"])
        .arg(&sealed)
        .arg(file)
        .status()?;
    let enc = t.elapsed().as_secs_f64();
    if !st.success() {
        bail!("age -r failed");
    }
    let t = Instant::now();
    let st = Command::new(&age)
        .args(["-d", "-i"])
        .arg(&key)
        .args(["-o", "/dev/null"])
        .arg(&sealed)
        .status()?;
    let dec = t.elapsed().as_secs_f64();
    if !st.success() {
        bail!("age -d failed");
    }
    Ok((enc, dec))
}

/// The database alone storing and reading back a file in chunks the service's size, with
/// the service's statements and durability: what an attachment's storage costs before any
/// TLS, sealing or hashing. Megabytes per second up and down.
pub struct ChunkFloor {
    /// Storing every chunk, then one durable commit.
    pub up_mb_s: f64,
    /// Reading every chunk back by its key.
    pub down_mb_s: f64,
}

/// Chunk size of the service's attachment storage (`passerelle_core::CHUNK_BYTES`).
const CHUNK: usize = passerelle_core::CHUNK_BYTES;

/// A chunk by its key, as the service reads one.
const READ_CHUNK: &str = "SELECT bytes FROM chunks WHERE attachment_id = $1 AND seq = $2";

impl ChunkFloor {
    /// Times reading back every chunk of a `len`-byte file stored in `up_secs`, one point
    /// read (`read(seq)`) per chunk.
    async fn read_back<F, Fut>(len: usize, up_secs: f64, read: F) -> Result<ChunkFloor>
    where
        F: Fn(usize) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<u8>, sqlx::Error>>,
    {
        let t = Instant::now();
        let mut got = 0usize;
        for seq in 0..len.div_ceil(CHUNK) {
            got += read(seq).await?.len();
        }
        let down = t.elapsed().as_secs_f64();
        Ok(ChunkFloor {
            up_mb_s: len as f64 / 1e6 / up_secs,
            down_mb_s: got as f64 / 1e6 / down,
        })
    }
}

/// [`ChunkFloor`] on SQLite: WAL, `synchronous=FULL`, one autocommitted insert per chunk
/// (the service's `put_attachment_chunk`), then a point read per chunk.
pub async fn sqlite_chunks(file: &Path) -> Result<ChunkFloor> {
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    use std::str::FromStr;
    let data = std::fs::read(file)?;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("chunks.db").display());
    let opts = SqliteConnectOptions::from_str(&url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let pool = SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(opts)
        .await?;
    sqlx::query(
        "CREATE TABLE chunks (attachment_id BLOB NOT NULL, seq INTEGER NOT NULL, \
         bytes BLOB NOT NULL, PRIMARY KEY (attachment_id, seq)) STRICT",
    )
    .execute(&pool)
    .await?;
    let id = uuid::Uuid::new_v4();
    let t = Instant::now();
    for (seq, c) in data.chunks(CHUNK).enumerate() {
        sqlx::query("INSERT INTO chunks (attachment_id, seq, bytes) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(seq as i64)
            .bind(c)
            .execute(&pool)
            .await?;
    }
    let up = t.elapsed().as_secs_f64();
    let floor = ChunkFloor::read_back(data.len(), up, |seq| {
        sqlx::query_scalar(READ_CHUNK)
            .bind(id)
            .bind(seq as i64)
            .fetch_one(&pool)
    })
    .await?;
    pool.close().await;
    Ok(floor)
}

/// [`ChunkFloor`] on PostgreSQL: a fresh database, `bytea` stored uncompressed
/// (`STORAGE EXTERNAL`, as the service's table), one insert per chunk committed without
/// waiting for its flush and one flushed commit at the end (the service's way), then a
/// point read per chunk.
pub async fn pg_chunks(file: &Path) -> Result<ChunkFloor> {
    let data = std::fs::read(file)?;
    let db = PgDb::create("passerelle_bench_chunks")?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&db.url)
        .await?;
    for stmt in [
        "CREATE TABLE chunks (attachment_id uuid NOT NULL, seq integer NOT NULL, \
         bytes bytea NOT NULL, PRIMARY KEY (attachment_id, seq))",
        "ALTER TABLE chunks ALTER COLUMN bytes SET STORAGE EXTERNAL",
        "CREATE TABLE done (attachment_id uuid PRIMARY KEY)",
    ] {
        sqlx::query(stmt).execute(&pool).await?;
    }
    let id = uuid::Uuid::new_v4();
    let t = Instant::now();
    for (seq, c) in data.chunks(CHUNK).enumerate() {
        let mut tx = pool.begin().await?;
        sqlx::query("SET LOCAL synchronous_commit TO OFF")
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO chunks (attachment_id, seq, bytes) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(seq as i32)
            .bind(c)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    sqlx::query("INSERT INTO done (attachment_id) VALUES ($1)")
        .bind(id)
        .execute(&pool)
        .await?;
    let up = t.elapsed().as_secs_f64();
    let floor = ChunkFloor::read_back(data.len(), up, |seq| {
        sqlx::query_scalar(READ_CHUNK)
            .bind(id)
            .bind(seq as i32)
            .fetch_one(&pool)
    })
    .await?;
    pool.close().await;
    drop(db);
    Ok(floor)
}
