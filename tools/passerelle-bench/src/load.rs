//! A closed-loop load: `concurrency` workers each send one request, wait for its answer,
//! send the next, for a fixed time; every latency is kept.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// One operation of the load (worker index, operation index).
pub type Op =
    Arc<dyn Fn(usize, u64) -> Pin<Box<dyn Future<Output = Result<()>> + Send>> + Send + Sync>;

/// What a load measured.
#[derive(Debug, Clone, Copy)]
pub struct Measure {
    /// Operations completed per second.
    pub rate: f64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
    /// Operations completed.
    pub count: u64,
    /// CPU time spent per operation while measuring, when the load was run with
    /// [`run_with_cpu`].
    pub cpu: Option<CpuPerOp>,
}

/// CPU time per operation, milliseconds, split by who spent it: the figure that says how
/// many operations per second the machine's cores can carry at most.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct CpuPerOp {
    /// The server process (with SQLite, the database too: it runs inside it).
    pub server_ms: f64,
    /// Every PostgreSQL process (0 on SQLite).
    pub database_ms: f64,
    /// This harness: the HTTPS clients, on the same cores.
    pub client_ms: f64,
}

impl CpuPerOp {
    /// Every party's CPU time per operation.
    pub fn total_ms(&self) -> f64 {
        self.server_ms + self.database_ms + self.client_ms
    }

    /// The rate the machine's cores could carry if they did nothing else, per second.
    pub fn bound(&self) -> f64 {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        cores * 1000.0 / self.total_ms().max(1e-6)
    }

    /// One line for a row's detail.
    pub fn describe(&self) -> String {
        format!(
            "CPU per request: server {:.2} ms, PostgreSQL {:.2} ms, harness {:.2} ms: the cores carry at most {:.0}/s",
            self.server_ms,
            self.database_ms,
            self.client_ms,
            self.bound()
        )
    }
}

impl Measure {
    /// From latencies (any order) over `elapsed`.
    pub fn from_latencies(mut lat: Vec<Duration>, elapsed: Duration) -> Measure {
        lat.sort_unstable();
        let q = |p: f64| -> f64 {
            if lat.is_empty() {
                return 0.0;
            }
            let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
            lat[i].as_secs_f64() * 1000.0
        };
        Measure {
            rate: lat.len() as f64 / elapsed.as_secs_f64(),
            p50_ms: q(0.50),
            p99_ms: q(0.99),
            count: lat.len() as u64,
            cpu: None,
        }
    }
}

/// [`run_with_cpu`] for a load whose both ends run in this process (a limit: the bare route, the
/// direct SQLite transaction): its CPU per operation is this process's, counted once.
pub async fn run_in_process(
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
    op: Op,
) -> Result<Measure> {
    let mut m = run_with_cpu(Some(std::process::id()), concurrency, warmup, duration, op).await?;
    m.cpu = m.cpu.map(|c| CpuPerOp {
        server_ms: 0.0,
        database_ms: 0.0,
        client_ms: c.server_ms,
    });
    Ok(m)
}

/// Runs `op` on `concurrency` workers for `duration` (after `warmup`, not counted); with a
/// server `pid`, also reads the CPU time of that server, of PostgreSQL and of this process
/// over the measured window (after the warm-up).
pub async fn run_with_cpu(
    pid: Option<u32>,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
    op: Op,
) -> Result<Measure> {
    let start = Instant::now();
    let sampler = pid.map(|pid| {
        tokio::spawn(async move {
            tokio::time::sleep(warmup).await;
            crate::server::CpuSample::take(pid)
        })
    });
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let op = op.clone();
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0u64;
            loop {
                let t = Instant::now();
                if t >= end {
                    break;
                }
                op(w, i).await?;
                i += 1;
                if t >= measure_from {
                    lat.push(t.elapsed());
                }
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await??);
    }
    // Operations finishing after `end` were started before it: the window is measured
    // from its start to the last answer.
    let elapsed = Instant::now().saturating_duration_since(measure_from);
    if all.is_empty() {
        bail!("no operation completed");
    }
    let ops = all.len() as f64;
    let mut m = Measure::from_latencies(all, elapsed);
    if let Some(sampler) = sampler {
        let before = sampler.await?;
        m.cpu = Some(before.per_op(&before.again(), ops));
    }
    Ok(m)
}
