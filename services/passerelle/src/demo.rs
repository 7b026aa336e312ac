//! `passerelle demo`: the newcomer's first command. On a data dir it created itself (or a
//! missing or empty one): init, the seed's organisations, one user per role, fresh API
//! tokens printed, then serve. Any other data dir is refused.

use std::path::Path;

use anyhow::{Context, bail};
use passerelle_core::{Core, EnrolmentForm, NewUser, RequestCtx};
use passerelle_domain::enums::{OrgKind, Role};
use passerelle_domain::ids::{OrgSlug, Username};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::config::Config;
use crate::wiring;

const MARKER: &str = ".passerelle-demo";
/// The demo users' web logins (password and TOTP secret), file 0600 in the demo data dir.
const LOGINS: &str = "demo-logins.json";

/// The seed's organisations: slug, name, kind.
pub const ORGS: &[(&str, &str, OrgKind)] = &[
    (
        "commissariat-clermont",
        "Commissariat de Clermont-Ferrand (ISCG)",
        OrgKind::Police,
    ),
    (
        "gendarmerie-63",
        "Gendarmerie du Puy-de-Dôme (ISCG)",
        OrgKind::Gendarmerie,
    ),
    (
        "chu-urgences",
        "CHU Clermont-Ferrand — urgences",
        OrgKind::Hospital,
    ),
    ("avec63", "AVEC 63 — accueil de jour", OrgKind::Association),
    (
        "gisele-halimi",
        "25 Gisèle Halimi — Mission Égalité",
        OrgKind::Centre,
    ),
    ("cidff63", "CIDFF 63", OrgKind::Association),
    (
        "chambre-vif",
        "Tribunal judiciaire — chambre VIF (greffe)",
        OrgKind::Court,
    ),
    (
        "parquet-clermont",
        "Parquet de Clermont-Ferrand",
        OrgKind::Prosecutor,
    ),
];

/// The seed's users: username, organisation, role, health professional.
pub const USERS: &[(&str, &str, Role, bool)] = &[
    (
        "iscg.martin",
        "commissariat-clermont",
        Role::Referrer,
        false,
    ),
    ("psy.bernard", "avec63", Role::Receiver, false),
    ("greffe.vif", "chambre-vif", Role::Receiver, false),
    ("dr.urgences", "chu-urgences", Role::Referrer, true),
    ("parquet.vif", "parquet-clermont", Role::Receiver, false),
    ("coord.halimi", "gisele-halimi", Role::Coordinator, false),
    ("dpo.audit", "gisele-halimi", Role::Auditor, false),
    ("admin", "gisele-halimi", Role::Admin, false),
];

fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false)
}

/// Runs the demo.
pub async fn run(data_dir: &Path) -> anyhow::Result<()> {
    let marker = data_dir.join(MARKER);
    let fresh = !data_dir.exists() || is_empty_dir(data_dir);
    if !fresh && !marker.exists() {
        bail!(
            "{} is not a demo data dir (it was not created by `passerelle demo`): refusing to touch it. Use another --data-dir, or `passerelle serve` for a real deployment.",
            data_dir.display()
        );
    }
    let config = if fresh {
        let config = crate::commands::init(data_dir).await?;
        std::fs::write(&marker, "created by passerelle demo\n")?;
        config
    } else {
        Config::load(data_dir)?
    };
    let core = wiring::core(&config).await?;
    let ctx = RequestCtx::default();
    if fresh {
        for (slug, name, kind) in ORGS {
            core.add_org(OrgSlug::parse(slug)?, name, *kind, &ctx)
                .await
                .map_err(crate::commands::explain)?;
        }
        for (username, org, role, hp) in USERS {
            core.add_user(
                NewUser {
                    username: Username::parse(username)?,
                    org: OrgSlug::parse(org)?,
                    role: *role,
                    health_professional: *hp,
                    password: None,
                },
                &ctx,
            )
            .await
            .map_err(crate::commands::explain)?;
        }
    }
    println!();
    println!("=== Passerelle demo ({}) ===", data_dir.display());
    println!(
        "Organisations: {}",
        ORGS.iter().map(|o| o.0).collect::<Vec<_>>().join(", ")
    );
    println!("API tokens (valid 24 h, new ones at each start):");
    for (username, org, role, hp) in USERS {
        let issued = core
            .issue_token(username, None, &ctx)
            .await
            .map_err(crate::commands::explain)?;
        let hp = if *hp { ", health professional" } else { "" };
        println!("  {username:<14} {role:<11} {org}{hp}");
        println!(
            "    export TOKEN_{}={}",
            username.replace(['.', '-'], "_").to_uppercase(),
            issued.token.as_str()
        );
    }
    let logins = if fresh {
        let logins = pre_enrol(&core, &ctx).await?;
        write_logins(data_dir, &logins)?;
        logins
    } else {
        read_logins(data_dir)?
    };
    println!();
    println!("=== In the browser ===");
    println!(
        "Open https://{}/login (the certificate is self-signed: accept it once).",
        config.listen
    );
    println!(
        "Log in with a username, its password and the 6-digit code of its second factor: add the"
    );
    println!(
        "secret to an authenticator app, or print the current code with `passerelle --data-dir {} demo code USERNAME`.",
        data_dir.display()
    );
    println!(
        "Try: iscg.martin files a referral to avec63 (\"Nouvelle orientation\"); psy.bernard finds it in \"Dossiers reçus\"."
    );
    for (username, org, role, _) in USERS {
        if let Some(l) = logins.iter().find(|l| l.username == *username) {
            println!(
                "  {username:<14} {role:<12} {org:<22} password {}  TOTP secret {}",
                l.password.as_str(),
                l.secret.as_str()
            );
        }
    }
    println!();
    println!(
        "Try: curl -k -H \"Authorization: Bearer $TOKEN_PSY_BERNARD\" 'https://{}/api/v1/referrals?box=inbox'",
        config.listen
    );
    println!("The certificate is self-signed (hence -k). Stop with Ctrl-C.");
    println!();
    wiring::serve(&config, core).await
}

/// A demo user's web login.
#[derive(Serialize, Deserialize)]
struct Login {
    username: String,
    password: Zeroizing<String>,
    secret: Zeroizing<String>,
}

/// The TOTP code of `secret` (base32) at `unix` seconds.
fn totp_code(secret: &str, unix: u64) -> anyhow::Result<String> {
    let seed = totp_rs::Secret::try_from_base32(secret).context("TOTP secret")?;
    let totp = totp_rs::Builder::new()
        .with_secret(seed)
        .build()
        .context("TOTP")?;
    Ok(totp.generate(unix).to_string())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Enrols every demo user as a person would (a link, its page, a password and a code), so
/// that a newcomer logs in at once. The code used is the previous time step's (within the
/// skew), which leaves the current one for the newcomer's first login.
async fn pre_enrol(core: &Core, ctx: &RequestCtx) -> anyhow::Result<Vec<Login>> {
    let mut out = Vec::new();
    for (username, ..) in USERS {
        let link = core
            .reset_user(username, ctx)
            .await
            .map_err(crate::commands::explain)?;
        let page = core
            .enrolment(&link.token)
            .await
            .map_err(crate::commands::explain)?;
        let secret = page.secret_base32.clone();
        let raw = passerelle_core::new_secret().map_err(crate::commands::explain)?;
        let password: Zeroizing<String> = Zeroizing::new(format!(
            "demo-{}",
            raw.chars()
                .filter(char::is_ascii_alphanumeric)
                .take(12)
                .collect::<String>()
        ));
        let code = totp_code(&secret, unix_now().saturating_sub(30))?;
        core.complete_enrolment(
            &link.token,
            EnrolmentForm {
                password: &password,
                confirm: &password,
                code: &code,
            },
            ctx,
        )
        .await
        .map_err(crate::commands::explain)?;
        out.push(Login {
            username: (*username).to_owned(),
            password,
            secret,
        });
    }
    Ok(out)
}

fn write_logins(data_dir: &Path, logins: &[Login]) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut f = options
        .open(data_dir.join(LOGINS))
        .context("writing the demo logins")?;
    f.write_all(&serde_json::to_vec_pretty(logins)?)?;
    Ok(())
}

fn read_logins(data_dir: &Path) -> anyhow::Result<Vec<Login>> {
    let path = data_dir.join(LOGINS);
    let bytes = Zeroizing::new(
        std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?,
    );
    Ok(serde_json::from_slice(&bytes)?)
}

/// `passerelle demo code USER`: the current TOTP code of a demo user (demo data dirs only).
pub fn print_code(data_dir: &Path, user: &str) -> anyhow::Result<()> {
    if !data_dir.join(MARKER).exists() {
        bail!(
            "{} is not a demo data dir (it was not created by `passerelle demo`).",
            data_dir.display()
        );
    }
    let logins = read_logins(data_dir)?;
    let Some(login) = logins.iter().find(|l| l.username == user) else {
        bail!(
            "{user} is not a demo user (they are: {}).",
            USERS.iter().map(|u| u.0).collect::<Vec<_>>().join(", ")
        );
    };
    let now = unix_now();
    println!("{}", totp_code(&login.secret, now)?);
    eprintln!("(valid for {} more seconds)", 30 - now % 30);
    Ok(())
}
