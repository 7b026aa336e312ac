//! `passerelle`: the one binary. Subcommands for the operator (init, org, user, token) and
//! the service (serve, demo). Configuration is read once here and passed down.

#![forbid(unsafe_code)]

mod cmd_audit;
mod cmd_identity;
mod cmd_keys;
mod cmd_maintenance;
mod cmd_referral;
mod commands;
mod config;
mod demo;
mod jobs;
mod leader_jobs;
mod tls;
mod wiring;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use passerelle_domain::enums::{OrgKind, Role};

/// Secure case hand-off between the partners of a women's centre.
#[derive(Debug, Parser)]
#[command(name = "passerelle", version, about, long_about = None)]
pub struct Cli {
    /// The data dir (database, keys, TLS, checkpoints).
    #[arg(
        long,
        global = true,
        env = "PASSERELLE_DATA_DIR",
        default_value = "./passerelle-data"
    )]
    pub data_dir: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// What `passerelle demo` may be asked besides serving.
#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Prints the current second-factor (TOTP) code of a demo user.
    Code {
        /// The demo user, e.g. iscg.martin.
        user: String,
    },
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Creates the data dir, the keys (folder 0700, files 0600), the database and its schema.
    Init,
    /// Runs the service over HTTPS (SIGHUP reloads the certificate and key).
    Serve {
        /// Serve plain HTTP behind a TLS-terminating reverse proxy; `X-Forwarded-For` is
        /// believed only from PASSERELLE_TRUSTED_PROXIES. Also set by
        /// PASSERELLE_BEHIND_PROXY=true (or yes/1) or `behind_proxy = true` in passerelle.toml.
        #[arg(long)]
        behind_proxy: bool,
    },
    /// First run for newcomers: init, seed organisations and users, print how to log in, serve.
    Demo {
        /// `code USER`: print the demo user's current TOTP code, then exit.
        #[command(subcommand)]
        what: Option<DemoCommand>,
    },
    /// Applies pending database migrations (main schema and keystore), then exits.
    Migrate,
    /// Consistent copy of the database and the keystore into DIR, with the audit head, while
    /// the service runs (SQLite: online copy; PostgreSQL: pg_dump).
    Backup {
        /// A new (or empty) folder.
        dir: PathBuf,
    },
    /// Puts a backup back (every instance stopped), records a `restored` entry and
    /// re-applies every shred recorded since the backup.
    Restore {
        /// The backup folder.
        dir: PathBuf,
        /// An audit export to read later shreds from, when the live database is gone.
        #[arg(long, value_name = "FILE")]
        audit_export: Option<PathBuf>,
        /// Restore even with no record of shreds after the backup.
        #[arg(long)]
        without_shred_log: bool,
    },
    /// Copies this SQLite deployment (every row, the keystore) into an empty PostgreSQL
    /// database, then verifies the audit log and opens a sample of referrals there.
    MigrateTo {
        /// postgres://user:password@host:port/database
        url: String,
    },
    /// Organisations.
    Org {
        /// What to do with organisations.
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Users.
    User {
        /// What to do with users.
        #[command(subcommand)]
        command: UserCommand,
    },
    /// API tokens.
    Token {
        /// What to do with tokens.
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Retention (archive after a period without contact, then destroy the content).
    Retention {
        /// What to do.
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Keys: master key rotation, organisation identity rotation, status.
    Keys {
        /// What to do with the keys.
        #[command(subcommand)]
        command: cmd_keys::KeysCommand,
    },
    /// One referral (operator commands; never show content).
    Referral {
        /// What to do with the referral.
        #[command(subcommand)]
        command: cmd_referral::ReferralCommand,
    },
    /// The audit log: verify, export, checkpoint, prove; offline checks of exports and
    /// proofs with the public key alone.
    Audit {
        /// What to do with the audit log.
        #[command(subcommand)]
        command: cmd_audit::AuditCommand,
    },
}

/// `passerelle retention …`
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Runs the retention job once, now (as `serve` does on a schedule).
    Run,
}

/// `passerelle org …`
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Adds an organisation and its key pair.
    Add {
        /// Short unique identifier, e.g. avec63.
        slug: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// police, gendarmerie, hospital, association, centre, court, prosecutor, shelter.
        #[arg(long, value_parser = parse_kind)]
        kind: OrgKind,
    },
    /// Lists organisations.
    List,
    /// Sets the address where the organisation receives its content-free notices; without
    /// ADDRESS, removes it.
    SetEmail {
        /// The organisation (slug).
        slug: String,
        /// The address, e.g. accueil@avec63.fr.
        address: Option<String>,
    },
}

/// `passerelle user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Adds a user.
    Add {
        /// Unique username (not an e-mail address).
        username: String,
        /// The user's organisation (slug).
        #[arg(long)]
        org: String,
        /// referrer, receiver, coordinator, auditor, admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The person is a health professional (physician, midwife, nurse…).
        #[arg(long)]
        health_professional: bool,
        /// Read the password from standard input instead of printing an enrolment link.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Prints a new one-time enrolment link (72 h): the password and second factor are
    /// cleared and every web session ends until the user enrols again.
    Reset {
        /// Whose account.
        username: String,
    },
    /// Disables a user (never deleted): every web session ends, every API token is revoked.
    Disable {
        /// Whose account.
        username: String,
    },
}

/// `passerelle token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issues an API token: its id on stderr, the token alone on the last line of stdout.
    Issue {
        /// Whose token.
        username: String,
        /// Lifetime, e.g. 30m, 24h, 7d (default 24h, at most 90d).
        #[arg(long, value_parser = parse_duration)]
        ttl: Option<time::Duration>,
    },
    /// Revokes a token by id, effective from the next request on every instance.
    Revoke {
        /// The token id printed at issue.
        token_id: String,
    },
    /// Lists a user's tokens: id, created, expires, revoked (never the token itself).
    List {
        /// Whose tokens.
        username: String,
    },
}

fn parse_kind(s: &str) -> Result<OrgKind, String> {
    s.parse().map_err(|_| {
        let all: Vec<_> = OrgKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("unknown kind; use one of: {}", all.join(", "))
    })
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse().map_err(|_| {
        let all: Vec<_> = Role::ALL.iter().map(|k| k.as_str()).collect();
        format!("unknown role; use one of: {}", all.join(", "))
    })
}

/// Parses `30m`, `24h`, `7d`, `90d`.
pub fn parse_duration(s: &str) -> Result<time::Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| "use a number followed by m, h or d (e.g. 24h)".to_string())?;
    match unit {
        "m" => Ok(time::Duration::minutes(n)),
        "h" => Ok(time::Duration::hours(n)),
        "d" => Ok(time::Duration::days(n)),
        _ => Err("use a number followed by m, h or d (e.g. 24h)".into()),
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    wiring::init_logging();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(commands::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<cmd_audit::NotIntact>().is_some() {
                // The log, export or proof does not verify (not: could not check).
                return std::process::ExitCode::from(2);
            }
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h"), Ok(time::Duration::hours(24)));
        assert_eq!(parse_duration("90d"), Ok(time::Duration::days(90)));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
