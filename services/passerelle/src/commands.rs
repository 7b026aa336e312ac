//! The subcommands: each loads the configuration for the data dir and calls core.

use std::path::Path;

use anyhow::{Context, bail};
use passerelle_core::{CoreError, RequestCtx};
use passerelle_domain::ids::{OrgSlug, TokenId};

use crate::config::Config;
use crate::{Cli, Command, OrgCommand, RetentionCommand, TokenCommand, wiring};

/// Turns a core error into a sentence for the operator.
pub fn explain(e: CoreError) -> anyhow::Error {
    match e {
        CoreError::Conflict(what) => anyhow::anyhow!("refused: {what}"),
        CoreError::NotFound => anyhow::anyhow!("not found"),
        CoreError::BadRequest(d) => anyhow::anyhow!("{d}"),
        CoreError::Unavailable => anyhow::anyhow!("the database is unavailable; nothing was done"),
        other => anyhow::anyhow!("{other}"),
    }
}

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let data_dir = cli.data_dir.clone();
    match cli.command {
        Command::Init => {
            init(&data_dir).await?;
            println!("Passerelle is initialised in {}.", data_dir.display());
            println!("Next steps:");
            println!(
                "  passerelle --data-dir {} org add SLUG --name NAME --kind KIND",
                data_dir.display()
            );
            println!(
                "  passerelle --data-dir {} user add USERNAME --org SLUG --role ROLE",
                data_dir.display()
            );
            println!("  passerelle --data-dir {} serve", data_dir.display());
            Ok(())
        }
        Command::Serve { behind_proxy } => {
            let mut config = Config::load(&data_dir)?;
            config.behind_proxy |= behind_proxy;
            let core = wiring::core(&config).await?;
            // A shred interrupted by a crash is finished before serving.
            core.resume_shreds(&RequestCtx::default())
                .await
                .map_err(explain)
                .context("cannot finish an interrupted shred")?;
            wiring::serve(&config, core).await
        }
        Command::Keys { command } => {
            let config = Config::load(&data_dir)?;
            crate::cmd_keys::run(&config, command).await
        }
        Command::Referral { command } => {
            let config = Config::load(&data_dir)?;
            crate::cmd_referral::run(&config, command).await
        }
        Command::Demo { what: None } => crate::demo::run(&data_dir).await,
        Command::Demo {
            what: Some(crate::DemoCommand::Code { user }),
        } => crate::demo::print_code(&data_dir, &user),
        Command::Retention { command } => retention(&data_dir, command).await,
        Command::Backup { dir } => {
            let config = Config::load(&data_dir)?;
            crate::cmd_maintenance::backup(&config, &dir).await
        }
        Command::Restore {
            dir,
            audit_export,
            without_shred_log,
        } => {
            let config = Config::load(&data_dir)?;
            let source = crate::cmd_maintenance::ShredSource {
                audit_export,
                without_shred_log,
            };
            crate::cmd_maintenance::restore(&config, &dir, source).await
        }
        Command::MigrateTo { url } => {
            let config = Config::load(&data_dir)?;
            crate::cmd_maintenance::migrate_to(&config, &url).await
        }
        Command::Migrate => {
            let config = Config::load(&data_dir)?;
            let store = wiring::open_store(&config).await?;
            println!("The {} database schema is up to date.", store.backend());
            Ok(())
        }
        Command::Org { command } => {
            let config = Config::load(&data_dir)?;
            let core = wiring::core(&config).await?;
            match command {
                OrgCommand::Add { slug, name, kind } => {
                    let slug = OrgSlug::parse(&slug).map_err(|e| anyhow::anyhow!("{e}"))?;
                    let org = core
                        .add_org(slug, &name, kind, &RequestCtx::default())
                        .await
                        .map_err(explain)?;
                    println!(
                        "Organisation {} ({}) added, with its key pair.",
                        org.slug, org.kind
                    );
                }
                OrgCommand::SetEmail { slug, address } => {
                    let slug = OrgSlug::parse(&slug).map_err(|e| anyhow::anyhow!("{e}"))?;
                    core.set_org_email(&slug, address.as_deref(), &RequestCtx::default())
                        .await
                        .map_err(|e| match e {
                            CoreError::NotFound => anyhow::anyhow!("no such organisation"),
                            other => explain(other),
                        })?;
                    match address {
                        Some(a) => println!("Notices of {slug} go to {a}."),
                        None => println!("Notices of {slug} are no longer e-mailed."),
                    }
                }
                OrgCommand::List => {
                    for org in core.orgs().await.map_err(explain)? {
                        println!("{}\t{}\t{}", org.slug, org.kind, org.name);
                    }
                }
            }
            Ok(())
        }
        Command::User { command } => {
            let config = Config::load(&data_dir)?;
            let core = wiring::core(&config).await?;
            crate::cmd_identity::user(&core, &config, command).await
        }
        Command::Audit { command } => crate::cmd_audit::run(&data_dir, command).await,
        Command::Token { command } => {
            let config = Config::load(&data_dir)?;
            let core = wiring::core(&config).await?;
            match command {
                TokenCommand::Issue { username, ttl } => {
                    let issued = core
                        .issue_token(&username, ttl, &RequestCtx::default())
                        .await
                        .map_err(|e| match e {
                            CoreError::NotFound => anyhow::anyhow!("no such user"),
                            other => explain(other),
                        })?;
                    eprintln!("token id: {} (expires {})", issued.id, issued.expires_at);
                    println!("{}", issued.token.as_str());
                }
                TokenCommand::Revoke { token_id } => {
                    let id: TokenId = token_id
                        .parse()
                        .map_err(|_| anyhow::anyhow!("a token id is a UUID"))?;
                    core.revoke_token(id, &RequestCtx::default())
                        .await
                        .map_err(|e| match e {
                            CoreError::NotFound => anyhow::anyhow!("no such active token"),
                            other => explain(other),
                        })?;
                    println!("Token {id} revoked.");
                }
                TokenCommand::List { username } => {
                    crate::cmd_identity::token_list(&core, &username).await?;
                }
            }
            Ok(())
        }
    }
}

/// `passerelle retention run`.
async fn retention(data_dir: &Path, command: RetentionCommand) -> anyhow::Result<()> {
    let config = Config::load(data_dir)?;
    let core = wiring::core(&config).await?;
    let RetentionCommand::Run = command;
    let report = core
        .run_retention(&config.retention, &RequestCtx::default())
        .await
        .map_err(explain)?;
    if report.ran {
        println!(
            "Retention: {} referral(s) archived, {} destroyed.",
            report.archived, report.shredded
        );
    } else {
        println!("Retention: another instance is running it now; nothing done.");
    }
    Ok(())
}

/// Creates the data dir (0700), the keys, the checkpoint folder and the database schema.
/// Refuses to overwrite existing keys.
pub async fn init(data_dir: &Path) -> anyhow::Result<Config> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))?;
    let config = Config::load(data_dir)?;
    if config.keys_dir.join("kek-v1.key").exists() || config.keys_dir.join("CURRENT").exists() {
        bail!(
            "keys already exist in {}: refusing to overwrite them",
            config.keys_dir.display()
        );
    }
    passerelle_vault::init_keys(&config.keys_dir)
        .with_context(|| format!("cannot create the keys in {}", config.keys_dir.display()))?;
    std::fs::create_dir_all(&config.checkpoint_dir)?;
    wiring::open_store(&config).await?;
    Ok(config)
}
