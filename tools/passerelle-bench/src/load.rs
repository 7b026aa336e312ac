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
        }
    }
}

/// Runs `op` on `concurrency` workers for `duration` (after `warmup`, not counted).
pub async fn run(
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
    op: Op,
) -> Result<Measure> {
    let start = Instant::now();
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
    Ok(Measure::from_latencies(all, elapsed))
}
