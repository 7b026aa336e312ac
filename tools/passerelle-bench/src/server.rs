//! A deployment of the real `passerelle` binary: its own data dir, organisations, users and
//! tokens made with its CLI, `serve` on a free port over HTTPS, and HTTPS clients that trust
//! only the certificate it generated.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// How many client addresses (127.0.0.2…) and tokens per user the load is spread over in a
/// full run (a quick run's 2 s loads need 64). The service limits every client address
/// (50 requests/s sustained, bursts of 1,000) and every credential (20/s, bursts of 300):
/// a benchmark from one address with one token would measure the rate limiter, not the
/// service. Spreading the load keeps every limit's code path on every request; 250
/// addresses and tokens carry about 11,000 requests/s for 11 s before any of them is
/// refused.
pub const SPREAD: usize = 250;

/// Where the PostgreSQL server is (`BENCH_DATABASE_URL` overrides).
pub fn pg_admin_url() -> String {
    std::env::var("PASSERELLE_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Runs one statement with `psql` on `url`; returns its unaligned output.
pub fn psql(url: &str, sql: &str) -> Result<String> {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql])
        .output()
        .context("cannot run psql (package postgresql-client)")?;
    if !out.status.success() {
        bail!("psql: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A fresh PostgreSQL database, dropped with the value.
pub struct PgDb {
    /// Its URL.
    pub url: String,
    name: String,
}

impl PgDb {
    /// Creates `passerelle_bench_<random>`.
    pub fn create(prefix: &str) -> Result<PgDb> {
        let admin = pg_admin_url();
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        psql(&admin, &format!("CREATE DATABASE {name}"))?;
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        Ok(PgDb {
            url: format!("{base}/{name}"),
            name,
        })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = psql(
            &pg_admin_url(),
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// One deployment of the binary.
pub struct Deployment {
    bin: PathBuf,
    /// The temporary folder holding the data dir and the server's log.
    pub dir: tempfile::TempDir,
    /// PostgreSQL database, or `None` for the SQLite default.
    pub pg: Option<PgDb>,
}

impl Deployment {
    /// A fresh deployment, `passerelle init` done.
    pub fn init(bin: &Path, pg: Option<PgDb>) -> Result<Deployment> {
        let d = Deployment {
            bin: bin.to_owned(),
            dir: tempfile::Builder::new()
                .prefix("passerelle-bench")
                .tempdir()?,
            pg,
        };
        d.run(&["init"])?;
        Ok(d)
    }

    /// The data dir.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `passerelle --data-dir … ARGS` on this deployment's database.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--data-dir").arg(self.data_dir());
        c.env_remove("PASSERELLE_DATABASE_URL");
        c.env("PASSERELLE_LOG_FORMAT", "json");
        if let Some(pg) = &self.pg {
            c.env("PASSERELLE_DATABASE_URL", &pg.url);
        }
        c
    }

    /// Runs a command to success; returns its stdout.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        let out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", self.bin.display()))?;
        if !out.status.success() {
            bail!(
                "passerelle {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Issues `n` tokens for `user` (the token is the last line of stdout).
    pub fn tokens(&self, user: &str, n: usize) -> Result<Vec<String>> {
        // Eight `token issue` processes at a time.
        let mut out = Vec::with_capacity(n);
        for batch in (0..n).collect::<Vec<_>>().chunks(8) {
            let issued: Vec<Result<String>> = std::thread::scope(|s| {
                let handles: Vec<_> = batch
                    .iter()
                    .map(|_| {
                        s.spawn(|| {
                            let out = self.run(&["token", "issue", user, "--ttl", "1d"])?;
                            Ok(out.lines().last().unwrap_or_default().trim().to_owned())
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| bail!("token issue panicked")))
                    .collect()
            });
            for t in issued {
                out.push(t?);
            }
        }
        Ok(out)
    }

    /// Starts `serve` on a free port and waits until it prints where it listens.
    pub fn serve(&self, env: &[(&str, &str)], spread: usize) -> Result<Server> {
        let log = std::fs::File::create(self.dir.path().join("server.log"))?;
        let mut c = self.command();
        c.arg("serve")
            .env("PASSERELLE_LISTEN", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = c.spawn().context("cannot start passerelle serve")?;
        let stdout = child.stdout.take().context("stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("Passerelle listens on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(b) => b,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let log =
                    std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
                bail!("the server did not start: {log}");
            }
        };
        let cert = std::fs::read(self.data_dir().join("tls/cert.pem"))
            .context("the generated certificate")?;
        Ok(Server {
            base,
            clients: Clients::new(&cert, spread)?,
            child,
        })
    }
}

/// HTTPS clients trusting one certificate, each bound to its own loopback address.
#[derive(Clone)]
pub struct Clients {
    clients: Arc<Vec<reqwest::Client>>,
    next: Arc<AtomicU64>,
}

impl Clients {
    /// `spread` clients trusting `cert_pem`.
    pub fn new(cert_pem: &[u8], spread: usize) -> Result<Clients> {
        let clients = (0..spread.clamp(1, 250))
            .map(|i| {
                reqwest::Client::builder()
                    .add_root_certificate(reqwest::Certificate::from_pem(cert_pem)?)
                    .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + i as u8)))
                    .http1_only()
                    .pool_max_idle_per_host(128)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Clients {
            clients: Arc::new(clients),
            next: Arc::new(AtomicU64::new(0)),
        })
    }

    /// How many clients (client addresses) there are.
    pub fn count(&self) -> usize {
        self.clients.len()
    }

    /// The next client, round robin, and its index (to pick the matching token).
    pub fn pick(&self) -> (usize, &reqwest::Client) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) as usize % self.clients.len();
        (i, &self.clients[i])
    }
}

/// A running server, killed when dropped.
pub struct Server {
    /// `https://127.0.0.1:PORT`
    pub base: String,
    /// Clients trusting its certificate.
    pub clients: Clients,
    child: Child,
}

impl Server {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `/proc/PID/status` field in KiB.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time (user + system) of a process so far, in clock ticks (`/proc/PID/stat`); with
/// `children`, that of its children already waited for instead.
fn stat_ticks(pid: u32, children: bool) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // The command name (field 2) may hold spaces: count fields after its closing ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime, stime, cutime, cstime are fields 14 to 17, i.e. from the 12th after the name.
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    if children {
        field(13) + field(14)
    } else {
        field(11) + field(12)
    }
}

fn cpu_ticks(pid: u32) -> u64 {
    stat_ticks(pid, false)
}

/// CPU milliseconds per operation of a limit run outside this process: every PostgreSQL
/// process and this process's children waited for meanwhile (`pgbench`).
pub struct ChildCpu {
    database: u64,
    children: u64,
}

impl ChildCpu {
    /// Reads them now.
    pub fn start() -> ChildCpu {
        ChildCpu {
            database: postgres_ticks(),
            children: stat_ticks(std::process::id(), true),
        }
    }

    /// Per operation since [`ChildCpu::start`], over `ops` operations.
    pub fn per_op(&self, ops: f64) -> crate::load::CpuPerOp {
        let ms = |a: u64, b: u64| b.saturating_sub(a) as f64 * 1000.0 / ticks_per_second() / ops;
        crate::load::CpuPerOp {
            server_ms: 0.0,
            database_ms: ms(self.database, postgres_ticks()),
            client_ms: ms(self.children, stat_ticks(std::process::id(), true)),
        }
    }
}

/// CPU ticks of every process named `postgres` (the server and its backends).
fn postgres_ticks() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .map(cpu_ticks)
        .sum()
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux unless told otherwise).
fn ticks_per_second() -> f64 {
    static TCK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The CPU time of the server, of PostgreSQL and of this harness at one moment.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    pid: u32,
    server: u64,
    database: u64,
    client: u64,
}

impl CpuSample {
    /// Reads them now.
    pub fn take(pid: u32) -> CpuSample {
        CpuSample {
            pid,
            server: cpu_ticks(pid),
            database: postgres_ticks(),
            client: cpu_ticks(std::process::id()),
        }
    }

    /// Reads them again for the same server.
    pub fn again(&self) -> CpuSample {
        CpuSample::take(self.pid)
    }

    /// CPU milliseconds per operation between `self` and `later`, over `ops` operations.
    pub fn per_op(&self, later: &CpuSample, ops: f64) -> crate::load::CpuPerOp {
        let ms = |a: u64, b: u64| b.saturating_sub(a) as f64 * 1000.0 / ticks_per_second() / ops;
        crate::load::CpuPerOp {
            server_ms: ms(self.server, later.server),
            database_ms: ms(self.database, later.database),
            client_ms: ms(self.client, later.client),
        }
    }
}

/// Resident memory now, MiB.
pub fn rss_mib(pid: u32) -> f64 {
    status_kib(pid, "VmRSS:").unwrap_or(0) as f64 / 1024.0
}

/// Samples the resident memory of a process until stopped; the peak is the larger of the
/// samples and the kernel's high-water mark (reset at the start when the kernel allows).
pub struct RssPeak {
    pid: u32,
    hwm_reset: bool,
    stop: Arc<AtomicBool>,
    peak_kib: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssPeak {
    /// Starts sampling every 10 ms.
    pub fn start(pid: u32) -> RssPeak {
        // "5" resets the peak resident set size (VmHWM) of the process.
        let hwm_reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
        let stop = Arc::new(AtomicBool::new(false));
        let peak_kib = Arc::new(AtomicU64::new(status_kib(pid, "VmRSS:").unwrap_or(0)));
        let (s, p) = (stop.clone(), peak_kib.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(v) = status_kib(pid, "VmRSS:") {
                    p.fetch_max(v, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        RssPeak {
            pid,
            hwm_reset,
            stop,
            peak_kib,
            thread: Some(thread),
        }
    }

    /// Stops; the peak in MiB.
    pub fn finish(mut self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // Without the reset, the high-water mark is the process's whole life: samples only.
        let hwm = if self.hwm_reset {
            status_kib(self.pid, "VmHWM:").unwrap_or(0)
        } else {
            0
        };
        self.peak_kib.load(Ordering::Relaxed).max(hwm) as f64 / 1024.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(d: Duration) {
        let t = std::time::Instant::now();
        let mut x = 1u64;
        while t.elapsed() < d {
            x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
        }
    }

    #[test]
    fn a_process_cpu_time_grows_with_its_work() {
        let before = CpuSample::take(std::process::id());
        spin(Duration::from_millis(400));
        let per = before.per_op(&before.again(), 2.0);
        // 400 ms of one busy thread, over two operations: ~200 ms each (the ticks are
        // 10 ms; other tests may run meanwhile, so only the lower bound is tight).
        assert!(per.server_ms >= 150.0, "{per:?}");
        assert!(
            per.client_ms >= 150.0,
            "this process is also the harness: {per:?}"
        );
    }

    #[test]
    fn a_child_cpu_time_counts_once_it_is_waited_for() {
        let cpu = ChildCpu::start();
        let st = Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done"])
            .status()
            .expect("sh");
        assert!(st.success());
        let per = cpu.per_op(1.0);
        assert!(per.client_ms >= 20.0, "{per:?}");
        assert_eq!(per.server_ms, 0.0);
    }
}
