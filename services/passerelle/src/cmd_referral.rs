//! `passerelle referral …`: the operator's commands on one referral. They never show
//! content: ids, counts and dates only.

use anyhow::Context;
use clap::Subcommand;
use passerelle_core::{CoreError, RequestCtx, ShredReason};
use passerelle_domain::ids::ReferralId;

use crate::commands::explain;
use crate::config::Config;
use crate::wiring;

/// `passerelle referral …`
#[derive(Debug, Subcommand)]
pub enum ReferralCommand {
    /// Destroys a referral's content for good: its key wraps in the keystore, then every
    /// ciphertext (content, messages, attachments). Reads then answer 410. Shows no content.
    Shred {
        /// The referral's id.
        id: String,
        /// Why: admin (default), retention, consent-withdrawn or restore.
        #[arg(long, default_value = "admin", value_parser = parse_reason)]
        reason: ShredReason,
    },
}

fn parse_reason(s: &str) -> Result<ShredReason, String> {
    s.parse().map_err(|()| {
        let all: Vec<_> = ShredReason::ALL.iter().map(|r| r.as_str()).collect();
        format!("unknown reason; use one of: {}", all.join(", "))
    })
}

/// Runs a `referral` command.
pub async fn run(config: &Config, command: ReferralCommand) -> anyhow::Result<()> {
    let core = wiring::core(config).await?;
    let ctx = RequestCtx::default();
    match command {
        ReferralCommand::Shred { id, reason } => {
            let id: ReferralId = id
                .parse()
                .map_err(|_| anyhow::anyhow!("a referral id is a UUID"))?;
            // Finish any shred a crash interrupted first.
            for done in core.resume_shreds(&ctx).await.map_err(explain)? {
                println!("Interrupted shred of referral {} finished.", done.referral);
            }
            let report = core
                .shred_referral(id, reason, None, &ctx)
                .await
                .map_err(|e| match e {
                    CoreError::NotFound => anyhow::anyhow!("no such referral"),
                    other => explain(other),
                })
                .context("the referral could not be shredded; run the command again")?;
            if report.already && report.wraps == 0 && report.deleted.messages == 0 {
                println!("Referral {id}: its content was already destroyed; nothing left to do.");
            } else {
                println!(
                    "Referral {id}: content destroyed ({}). Deleted {} key wrap(s), {} sealed \
                     detail(s), {} message(s), {} attachment(s). Reads now answer 410.",
                    reason.as_str(),
                    report.wraps,
                    report.deleted.details,
                    report.deleted.messages,
                    report.deleted.attachments
                );
            }
            Ok(())
        }
    }
}
