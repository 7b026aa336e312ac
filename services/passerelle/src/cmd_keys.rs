//! `passerelle keys …`: master key rotation, organisation identity rotation, status. Run
//! while `serve` serves; each can be killed and run again. They print versions and counts,
//! never key material.

use anyhow::Context;
use clap::Subcommand;
use passerelle_core::{CoreError, RequestCtx};
use passerelle_domain::ids::OrgSlug;

use crate::commands::explain;
use crate::config::Config;
use crate::wiring;

/// `passerelle keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Adds a new master key version, promotes it, re-wraps every organisation identity
    /// under it (compare-and-set, idempotent), then retires the old version. Run again
    /// after an interruption: it finishes instead of starting over.
    Rotate {
        /// Only add the new version (not promoted). For several hosts: copy the new
        /// `kek-vN.key` to every instance's keys folder, then run `keys rotate`.
        #[arg(long)]
        add_only: bool,
    },
    /// Gives an organisation a new identity and re-wraps its referral keys to it, then
    /// retires and destroys the old identity. Run again after an interruption.
    RotateOrg {
        /// The organisation's slug.
        slug: String,
    },
    /// Shows master key versions, organisation identities and unfinished rotations.
    Status,
}

/// Runs a `keys` command.
pub async fn run(config: &Config, command: KeysCommand) -> anyhow::Result<()> {
    let core = wiring::core(config).await?;
    let ctx = RequestCtx::default();
    match command {
        KeysCommand::Rotate { add_only } => {
            let r = core
                .rotate_master_key(add_only, &ctx)
                .await
                .map_err(explain)
                .context("the rotation stopped; run `passerelle keys rotate` again to finish it")?;
            if add_only {
                match &r.added {
                    Some(v) => println!(
                        "Master key {v} is in {} (not promoted). Copy it to every instance's \
                         keys folder, then run `passerelle keys rotate`.",
                        config.keys_dir.display()
                    ),
                    None => println!("Nothing added."),
                }
                return Ok(());
            }
            if r.resumed {
                println!("Finishing an unfinished rotation.");
            }
            if let Some(v) = &r.added {
                println!("Added master key {v}.");
            }
            if let Some(v) = &r.promoted {
                println!("Promoted {v}: new wraps use it.");
            }
            println!(
                "Re-wrapped {} organisation identit{} under {} ({} already done).",
                r.rewrapped,
                if r.rewrapped == 1 { "y" } else { "ies" },
                r.current,
                r.skipped
            );
            for v in &r.retired {
                println!("Retired {v} (deleted from the keys folder).");
            }
            if !r.still_used.is_empty() {
                println!(
                    "Not retired, still in use: {}. Run `passerelle keys rotate` again.",
                    r.still_used.join(", ")
                );
            }
            Ok(())
        }
        KeysCommand::RotateOrg { slug } => {
            let slug = OrgSlug::parse(&slug).map_err(|e| anyhow::anyhow!("{e}"))?;
            let r = core
                .rotate_org_key(&slug, &ctx)
                .await
                .map_err(|e| match e {
                    CoreError::NotFound => anyhow::anyhow!("no such organisation"),
                    other => explain(other),
                })
                .context("the rotation stopped; run `passerelle keys rotate-org` again")?;
            println!(
                "Organisation {slug}: identity v{} ({}); {} referral key wrap(s) re-wrapped, \
                 {} user secret(s) re-sealed; {} old identit{} retired, {} destroyed.",
                r.version,
                if r.created { "new" } else { "resumed" },
                r.rewrapped,
                r.resealed,
                r.retired,
                if r.retired == 1 { "y" } else { "ies" },
                r.destroyed
            );
            if r.failed > 0 {
                anyhow::bail!(
                    "{} wrap(s) or user secret(s) could not be opened with the old identity; \
                     the old identity is kept. Check `passerelle keys status` and the log.",
                    r.failed
                );
            }
            Ok(())
        }
        KeysCommand::Status => {
            let s = core.key_status().await.map_err(explain)?;
            println!("Master keys (current: {}):", s.current);
            for (v, n) in &s.master_versions {
                let mark = if *v == s.current { " (current)" } else { "" };
                println!(
                    "  {v}{mark}: wraps {n} organisation identit{}",
                    if *n == 1 { "y" } else { "ies" }
                );
            }
            for (v, n) in &s.missing_versions {
                println!("  {v}: NOT IN THE KEYS FOLDER, wraps {n} organisation identities");
            }
            println!(
                "Escrow recipient: {}",
                if s.escrow {
                    "yes (every master wrap)"
                } else {
                    "none (escrow.pub absent)"
                }
            );
            println!("Organisation identities:");
            for (slug, versions) in &s.orgs {
                let parts: Vec<String> = versions
                    .iter()
                    .map(|k| {
                        if k.kek_version.is_empty() {
                            format!("v{} {} ({} wraps)", k.version, k.state, k.wraps)
                        } else {
                            format!(
                                "v{} {} under {} ({} wraps)",
                                k.version, k.state, k.kek_version, k.wraps
                            )
                        }
                    })
                    .collect();
                println!("  {slug}: {}", parts.join("; "));
            }
            let pending = s.pending();
            if pending.is_empty() {
                println!("No rotation pending.");
            } else {
                for p in pending {
                    println!("Pending: {p}");
                }
            }
            Ok(())
        }
    }
}
