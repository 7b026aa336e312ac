//! The background jobs of `serve`: the retention job on a schedule (one instance at a time
//! runs it: each run, core takes the leadership of the `retention` job through the one
//! leader election, `OpsStore::try_leader` — a PostgreSQL advisory lock, a file lock beside
//! a SQLite database — also against `passerelle retention run` by hand), and the e-mail
//! sender of notices when `PASSERELLE_SMTP_URL` is set (no leader: rows are claimed with
//! `FOR UPDATE SKIP LOCKED`).
//!
//! Neither logs anything about a case: counts, notification ids and error kinds only.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use passerelle_core::{Core, MAIL_BODY, MAIL_SUBJECT, MailJob, RequestCtx, RetentionPolicy};

use crate::config::redact_url;

/// How many notices one sending round claims.
const MAIL_BATCH: u32 = 20;
/// How long the sender waits for a wake-up before looking again (other instances queue
/// notices too, and failed ones are retried).
const MAIL_POLL: Duration = Duration::from_secs(30);

/// Runs the retention job now and then every `interval`, forever.
pub async fn retention_loop(core: Core, policy: RetentionPolicy, interval: Duration) {
    loop {
        run_retention_once(&core, &policy).await;
        tokio::time::sleep(interval).await;
    }
}

/// One run of the retention job, logged.
pub async fn run_retention_once(core: &Core, policy: &RetentionPolicy) {
    match core.run_retention(policy, &RequestCtx::default()).await {
        Ok(r) if r.ran => tracing::info!(
            archived = r.archived,
            shredded = r.shredded,
            "retention job done"
        ),
        Ok(_) => tracing::info!("retention job: another instance holds the lock"),
        Err(e) => tracing::error!(error = %e, "retention job failed; the next run retries"),
    }
}

/// Builds the content-free notice e-mail to `to`.
pub fn notice(from: &str, to: &str) -> anyhow::Result<Message> {
    Ok(Message::builder()
        .from(from.parse()?)
        .to(to.parse()?)
        .subject(MAIL_SUBJECT)
        .header(ContentType::TEXT_PLAIN)
        .body(MAIL_BODY.to_owned())?)
}

/// Sends the queued notices by e-mail, forever: woken when this instance queues one,
/// and every 30 s for the others' and for retries.
pub async fn mail_loop(core: Core, url: String, from: String) {
    let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(&url) {
        Ok(b) => b.timeout(Some(Duration::from_secs(30))).build(),
        Err(e) => {
            tracing::error!(smtp = %redact_url(&url), error = %e, "invalid PASSERELLE_SMTP_URL: notices are not e-mailed");
            return;
        }
    };
    tracing::info!(smtp = %redact_url(&url), "notices are e-mailed");
    let signal = core.outbox_signal();
    loop {
        let jobs = match core.claim_mail(MAIL_BATCH).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::error!(error = %e, "cannot claim notices to e-mail");
                Vec::new()
            }
        };
        let full = jobs.len() == MAIL_BATCH as usize;
        for job in jobs {
            send_one(&core, &transport, &from, &job).await;
        }
        if full {
            continue;
        }
        tokio::select! {
            _ = signal.notified() => {}
            _ = tokio::time::sleep(MAIL_POLL) => {}
        }
    }
}

async fn send_one(
    core: &Core,
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    from: &str,
    job: &MailJob,
) {
    let sent = match notice(from, &job.to) {
        Ok(msg) => transport
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let recorded = match &sent {
        Ok(()) => core.mail_sent(job.id).await,
        Err(e) => {
            tracing::warn!(notification = %job.id, attempt = job.attempts, error = %e, "notice e-mail failed");
            core.mail_failed(job).await
        }
    };
    if let Err(e) = recorded {
        tracing::error!(notification = %job.id, error = %e, "cannot record the notice e-mail's outcome");
    }
}
