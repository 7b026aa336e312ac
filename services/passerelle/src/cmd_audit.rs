//! `passerelle audit …`: verify the log, print its latest signed checkpoint, export it,
//! prove one entry, and check exports and proofs offline.
//!
//! `verify` and `checkpoint` need the database, the checkpoint folder and the *public* key
//! only; `export` and `prove` record `audit.exported` (so they sign, like the service);
//! `verify-export` and `verify-proof` need nothing but the file and the public key: no
//! database, no data dir, no secret.
//!
//! Exit status: 0 intact (or done), 2 the log, export or proof does NOT verify (the message
//! names the first bad entry when one can be named), 1 could not check (I/O, database…).

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use passerelle_core::RequestCtx;
use passerelle_core::audit::{
    self, AuditLog, OfflineError, VerifierKey, checkpoint_text, parse_proof, verify_export,
    verify_proof,
};

use crate::commands::explain;
use crate::config::Config;
use crate::wiring;

/// `passerelle audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Checks the whole log (every entry, the root, the signed head, the checkpoint
    /// folder); exit 0 and a summary when intact, 2 and the first bad entry when not.
    Verify {
        /// Also check against a checkpoint kept elsewhere (as printed by `audit checkpoint`).
        #[arg(long, value_name = "CHECKPOINT_FILE")]
        against: Option<PathBuf>,
        /// The verifier key to trust (default: `audit-signing.pub` of the keys folder).
        #[arg(long, value_name = "KEY_FILE")]
        key: Option<PathBuf>,
    },
    /// Writes the log, its signed checkpoint and the verifier key to stdout (JSON lines);
    /// records `audit.exported`.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
    },
    /// Prints the latest signed checkpoint, for auditors to keep (then `verify --against`).
    Checkpoint,
    /// Prints the inclusion proof of one entry (JSON); records `audit.exported`.
    Prove {
        /// The entry's index (`seq`).
        seq: u64,
    },
    /// Checks an inclusion proof offline with the public key alone.
    VerifyProof {
        /// The proof file (`audit prove` output).
        file: PathBuf,
        /// The verifier key file (`audit-signing.pub`).
        #[arg(long, value_name = "KEY_FILE")]
        key: PathBuf,
    },
    /// Checks an export offline with the public key alone.
    VerifyExport {
        /// The export file (`audit export` output).
        file: PathBuf,
        /// The verifier key file (`audit-signing.pub`).
        #[arg(long, value_name = "KEY_FILE")]
        key: PathBuf,
        /// Also check against a checkpoint kept elsewhere.
        #[arg(long, value_name = "CHECKPOINT_FILE")]
        against: Option<PathBuf>,
    },
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
}

/// The log, an export or a proof does not verify (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotIntact(pub String);

/// Largest proof or kept checkpoint file read.
const MAX_SMALL_FILE: u64 = 1024 * 1024;

fn read_small(path: &Path) -> anyhow::Result<String> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut text = String::new();
    f.take(MAX_SMALL_FILE + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {} as UTF-8 text", path.display()))?;
    anyhow::ensure!(
        text.len() as u64 <= MAX_SMALL_FILE,
        "{} is larger than 1 MiB",
        path.display()
    );
    Ok(text)
}

fn kept(path: &Option<PathBuf>) -> anyhow::Result<Option<String>> {
    path.as_ref()
        .map(|p| {
            checkpoint_text(&read_small(p)?)
                .map_err(|e| anyhow::anyhow!("{} is not a signed checkpoint: {e}", p.display()))
        })
        .transpose()
}

fn key(path: &Path) -> anyhow::Result<VerifierKey> {
    VerifierKey::read(path).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The log read with the public key only (no secret key is loaded).
async fn log(config: &Config, key_file: Option<&Path>) -> anyhow::Result<AuditLog> {
    let default = config.keys_dir.join(passerelle_vault::AUDIT_PUB_FILE);
    let key = key(key_file.unwrap_or(&default))?;
    let store = wiring::open_store(config).await?;
    Ok(AuditLog::new(store, key, &config.checkpoint_dir))
}

fn offline(e: OfflineError, what: &str) -> anyhow::Error {
    match e {
        OfflineError::Io(e) => anyhow::anyhow!("cannot read the {what}: {e}"),
        OfflineError::Refused(f) => NotIntact(format!("the {what} does NOT verify: {f}")).into(),
    }
}

/// Runs one `audit` command.
pub async fn run(data_dir: &Path, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { against, key } => {
            let config = Config::load(data_dir)?;
            let kept = kept(&against)?;
            let log = log(&config, key.as_deref()).await?;
            let report = log.verify(kept.as_deref()).await.map_err(explain)?;
            if report.folder.unreadable_lines > 0 {
                eprintln!(
                    "warning: {} unreadable line(s) skipped in {} (torn writes?)",
                    report.folder.unreadable_lines,
                    config
                        .checkpoint_dir
                        .join(audit::CHECKPOINTS_FILE)
                        .display()
                );
            }
            let summary = report
                .outcome
                .map_err(|f| NotIntact(format!("the audit log is NOT intact: {f}")))?;
            println!("The audit log is intact: {} entries.", summary.entries);
            println!("  root:              {}", hex::encode(summary.root));
            match &report.head {
                Some(h) => println!(
                    "  signed head:       {} entries, signature verified with {}",
                    h.size,
                    log.key().line()
                ),
                None => println!("  signed head:       none yet (empty log)"),
            }
            match &report.folder.latest {
                Some(l) => println!(
                    "  checkpoint folder: consistent with its latest checkpoint ({} entries)",
                    l.size
                ),
                None => println!("  checkpoint folder: holds no checkpoint yet"),
            }
            if let Some(size) = report.against_size {
                println!(
                    "  --against:         consistent with the kept checkpoint ({size} entries)"
                );
            }
            Ok(())
        }
        AuditCommand::Checkpoint => {
            let config = Config::load(data_dir)?;
            let log = log(&config, None).await?;
            let head = log
                .signed_head()
                .await
                .map_err(explain)?
                .ok_or_else(|| anyhow::anyhow!("the audit log is empty: no checkpoint yet"))?;
            print!("{}", head.checkpoint);
            Ok(())
        }
        AuditCommand::Export { format } => {
            let ExportFormat::Jsonl = format;
            let config = Config::load(data_dir)?;
            let core = wiring::core(&config).await?;
            let mut out = std::io::BufWriter::new(std::io::stdout());
            let summary = core
                .audit_export(&mut out, &RequestCtx::default())
                .await
                .map_err(explain)?;
            out.flush()?;
            eprintln!(
                "Exported {} entries (signed checkpoint of {} entries). Check it offline with:\n  passerelle audit verify-export FILE --key audit-signing.pub",
                summary.entries,
                summary.checkpoint_size.unwrap_or(0)
            );
            Ok(())
        }
        AuditCommand::Prove { seq } => {
            let config = Config::load(data_dir)?;
            let core = wiring::core(&config).await?;
            let proof = core
                .audit_prove(seq, &RequestCtx::default())
                .await
                .map_err(|e| match e {
                    passerelle_core::CoreError::NotFound => {
                        anyhow::anyhow!("no entry {seq} in the audit log")
                    }
                    other => explain(other),
                })?;
            println!("{}", serde_json::to_string_pretty(&proof)?);
            eprintln!(
                "Proof of entry {seq} in the log of {} entries. Check it offline with:\n  passerelle audit verify-proof FILE --key audit-signing.pub",
                proof.tree_size
            );
            Ok(())
        }
        AuditCommand::VerifyProof {
            file,
            key: key_file,
        } => {
            let key = key(&key_file)?;
            let text = read_small(&file)?;
            let proof = parse_proof(&text).map_err(|e| offline(e, "proof"))?;
            let proven = verify_proof(&proof, &key).map_err(|e| offline(e, "proof"))?;
            println!(
                "Entry {} is in the audit log of {} entries (root {}), signed by {}:",
                proven.seq,
                proven.tree_size,
                hex::encode(proven.root),
                key.line()
            );
            println!("{}", serde_json::to_string_pretty(&proven.entry)?);
            Ok(())
        }
        AuditCommand::VerifyExport {
            file,
            key: key_file,
            against,
        } => {
            let key = key(&key_file)?;
            let kept = kept(&against)?;
            let f = std::fs::File::open(&file)
                .with_context(|| format!("cannot open {}", file.display()))?;
            let summary = verify_export(BufReader::new(f), &key, kept.as_deref())
                .map_err(|e| offline(e, "export"))?;
            println!("The export is intact: {} entries.", summary.entries);
            println!("  root:            {}", hex::encode(summary.root));
            println!("  signed by:       {}", key.line());
            println!("  226-14 3° flags: {}", summary.flagged_226_14);
            if let Some(k) = &kept {
                let size = passerelle_domain::checkpoint::parse(k)
                    .map(|c| c.size)
                    .unwrap_or(0);
                println!("  --against:       consistent with the kept checkpoint ({size} entries)");
            }
            Ok(())
        }
    }
}
