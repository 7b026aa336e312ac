//! `passerelle demo`: the newcomer's first command. On a data dir it created itself (or a
//! missing or empty one): init, the seed's organisations, one user per role, fresh API
//! tokens printed, then serve. Any other data dir is refused.

use std::path::Path;

use anyhow::bail;
use passerelle_core::{NewUser, RequestCtx};
use passerelle_domain::enums::{OrgKind, Role};
use passerelle_domain::ids::{OrgSlug, Username};

use crate::config::Config;
use crate::wiring;

const MARKER: &str = ".passerelle-demo";

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
    if fresh {
        println!();
        println!("Web pages: one-time enrolment links (valid 72 h; each sets a password and the");
        println!(
            "second factor, then log in at https://{}/login):",
            config.listen
        );
        for (username, ..) in USERS {
            let link = core
                .reset_user(username, &ctx)
                .await
                .map_err(crate::commands::explain)?;
            println!("  {username:<14} https://{}{}", config.listen, link.path());
        }
    } else {
        println!();
        println!(
            "Web pages: log in at https://{}/login (a new enrolment link: `passerelle --data-dir {} user reset USERNAME`).",
            config.listen,
            data_dir.display()
        );
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
