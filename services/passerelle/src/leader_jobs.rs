//! Background jobs inside `serve`, run by **one** instance of the deployment at a time.
//!
//! Each job has a name; every `PASSERELLE_JOB_INTERVAL_SECS` each instance tries to take
//! the job's leadership (`Core::try_leader`: a PostgreSQL advisory lock, or a file lock
//! beside a SQLite database). The holder runs the job and keeps the lock across runs;
//! the others skip. When the leader dies its lock goes with its connection and another
//! instance takes over at its next try. `passerelle_leader{job}` in `/metrics` is 1 on
//! the instance that leads.
//!
//! Jobs: `checkpoint-witness` (copies the current signed audit head to the checkpoint
//! folder when the newest checkpoint there is older). The retention job (`jobs.rs`) uses
//! the same election, taken for each run only (`Core::run_retention`), so that an
//! operator's `passerelle retention run` can run between two scheduled ones; there is no
//! other job lock.

use std::time::Duration;

use passerelle_core::Core;
use passerelle_store::LeaderGuard;

use crate::config::Config;

/// Starts every job's loop.
pub fn spawn(core: Core, config: Config) {
    tokio::spawn(run_job(
        core,
        "checkpoint-witness",
        config.job_interval,
        |core: Core| async move {
            match core.witness_head().await {
                Ok(true) => tracing::info!("checkpoint folder caught up with the audit head"),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "checkpoint witness: database error"),
            }
        },
    ));
}

async fn run_job<F, Fut>(core: Core, job: &'static str, every: Duration, work: F)
where
    F: Fn(Core) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let mut guard: Option<LeaderGuard> = None;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Some(g) = guard.as_mut()
            && !g.still_held().await
        {
            tracing::warn!(job, "lost the leadership of a background job");
            guard = None;
            metrics::gauge!("passerelle_leader", "job" => job).set(0.0);
        }
        if guard.is_none() {
            match core.try_leader(job).await {
                Ok(Some(g)) => {
                    tracing::info!(job, "this instance now runs a background job");
                    metrics::gauge!("passerelle_leader", "job" => job).set(1.0);
                    guard = Some(g);
                }
                Ok(None) => {
                    metrics::gauge!("passerelle_leader", "job" => job).set(0.0);
                }
                Err(e) => {
                    tracing::warn!(job, error = %e, "cannot try the leadership of a job");
                }
            }
        }
        if guard.is_some() {
            work(core.clone()).await;
        }
    }
}
