//! `passerelle user add|reset|disable` and `passerelle token list`: accounts from the
//! operator's side. Enrolment links are printed on standard output (they are meant to be
//! handed to the person); nothing secret goes to the log.

use std::io::Read;

use anyhow::Context;
use passerelle_core::{Core, CoreError, NewUser, RequestCtx};
use passerelle_domain::ids::{OrgSlug, Username};
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

use crate::UserCommand;
use crate::commands::explain;
use crate::config::Config;

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// Prints a fresh enrolment link for `username`.
async fn print_link(core: &Core, config: &Config, username: &str) -> anyhow::Result<()> {
    let link = core
        .reset_user(username, &RequestCtx::default())
        .await
        .map_err(|e| match e {
            CoreError::NotFound => anyhow::anyhow!("no such user"),
            other => explain(other),
        })?;
    println!(
        "One-time enrolment link for {username} (valid until {}; it sets a password and the second factor):",
        rfc3339(link.expires_at)
    );
    println!("https://{}{}", config.listen, link.path());
    Ok(())
}

/// `passerelle user …`
pub async fn user(core: &Core, config: &Config, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            username,
            org,
            role,
            health_professional,
            password_stdin,
        } => {
            let username = Username::parse(&username).map_err(|e| anyhow::anyhow!("{e}"))?;
            let org = OrgSlug::parse(&org).map_err(|e| anyhow::anyhow!("{e}"))?;
            let password = if password_stdin {
                let mut s = Zeroizing::new(String::new());
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("cannot read the password from standard input")?;
                Some(Zeroizing::new(s.trim_end_matches(['\r', '\n']).to_owned()))
            } else {
                None
            };
            let has_password = password.is_some();
            let user = core
                .add_user(
                    NewUser {
                        username,
                        org,
                        role,
                        health_professional,
                        password,
                    },
                    &RequestCtx::default(),
                )
                .await
                .map_err(|e| match e {
                    CoreError::NotFound => anyhow::anyhow!("no such organisation"),
                    CoreError::Conflict(_) => anyhow::anyhow!("this username is already taken"),
                    other => explain(other),
                })?;
            println!("User {} ({}) added.", user.username, user.role);
            if has_password {
                println!(
                    "Password set. Web pages also need a second factor: `passerelle user reset {}` prints an enrolment link for it (and for a new password).",
                    user.username
                );
            } else {
                print_link(core, config, user.username.as_str()).await?;
            }
            Ok(())
        }
        UserCommand::Reset { username } => print_link(core, config, &username).await,
        UserCommand::Disable { username } => {
            let changed = core
                .disable_user(&username, &RequestCtx::default())
                .await
                .map_err(|e| match e {
                    CoreError::NotFound => anyhow::anyhow!("no such user"),
                    other => explain(other),
                })?;
            if changed {
                println!(
                    "User {username} disabled: every web session ended, every API token revoked."
                );
            } else {
                println!("User {username} was already disabled.");
            }
            Ok(())
        }
    }
}

/// `passerelle token list USERNAME`: id, created, expires, revoked; never the token.
pub async fn token_list(core: &Core, username: &str) -> anyhow::Result<()> {
    let tokens = core.tokens_of(username).await.map_err(|e| match e {
        CoreError::NotFound => anyhow::anyhow!("no such user"),
        other => explain(other),
    })?;
    println!("id\tcreated\texpires\trevoked");
    for t in tokens {
        println!(
            "{}\t{}\t{}\t{}",
            t.id,
            rfc3339(t.created_at),
            rfc3339(t.expires_at),
            t.revoked_at.map(rfc3339).unwrap_or_else(|| "-".into())
        );
    }
    Ok(())
}
