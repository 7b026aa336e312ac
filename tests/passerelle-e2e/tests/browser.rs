//! The pages in a real browser: starts the real binary with demo-like organisations and
//! users (each with a fresh enrolment link), then runs `tests/browser/scenario.mjs` with
//! node — Debian's Chromium, headless, driven by playwright-core, axe-core on every page —
//! and fails on its exit code. Screenshots go to `target/browser-screenshots/<backend>/`.
//!
//! Without `/usr/bin/chromium` or `node` the test is skipped, except in CI (env `CI` set),
//! where it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use passerelle_e2e::{Backend, Deployment};

const ORGS: &[(&str, &str, &str)] = &[
    (
        "commissariat-clermont",
        "Commissariat de Clermont-Ferrand (ISCG)",
        "police",
    ),
    ("avec63", "AVEC 63 — accueil de jour", "association"),
    (
        "chu-urgences",
        "CHU Clermont-Ferrand — urgences",
        "hospital",
    ),
    ("cidff63", "CIDFF 63", "association"),
    (
        "chambre-vif",
        "Tribunal judiciaire — chambre VIF (greffe)",
        "court",
    ),
    (
        "parquet-clermont",
        "Parquet de Clermont-Ferrand",
        "prosecutor",
    ),
    (
        "gisele-halimi",
        "25 Gisèle Halimi — Mission Égalité",
        "centre",
    ),
];

const USERS: &[(&str, &str, &str)] = &[
    ("iscg.martin", "commissariat-clermont", "referrer"),
    ("psy.bernard", "avec63", "receiver"),
    ("greffe.vif", "chambre-vif", "receiver"),
    ("accueil.cidff", "cidff63", "receiver"),
    ("dpo.audit", "gisele-halimi", "auditor"),
    ("dr.urgences", "chu-urgences", "referrer"),
    ("coord.halimi", "gisele-halimi", "coordinator"),
    ("admin", "gisele-halimi", "admin"),
];

/// The users who are health professionals (`--health-professional`).
const HEALTH: &[&str] = &["dr.urgences"];

const CHROMIUM: &str = "/usr/bin/chromium";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Whether the browser tools are here; in CI their absence fails the test.
fn tools_ready(browser_dir: &Path) -> bool {
    let node = Command::new("node").arg("--version").output();
    let mut missing = Vec::new();
    if !Path::new(CHROMIUM).exists() {
        missing.push("chromium (apt-get install chromium)");
    }
    if !node.is_ok_and(|o| o.status.success()) {
        missing.push("node (apt-get install nodejs npm)");
    }
    if missing.is_empty() && !browser_dir.join("node_modules/playwright-core").exists() {
        let ci = Command::new("npm")
            .arg("ci")
            .arg("--no-audit")
            .arg("--no-fund")
            .current_dir(browser_dir)
            .status();
        if !ci.is_ok_and(|s| s.success()) {
            missing.push("tests/browser/node_modules (npm ci in tests/browser)");
        }
    }
    if missing.is_empty() {
        return true;
    }
    assert!(
        !in_ci(),
        "the browser test needs {} in CI",
        missing.join(", ")
    );
    eprintln!("skipped: missing {}", missing.join(", "));
    false
}

/// The enrolment path printed by `user add`.
fn enrol_path(out: &str) -> String {
    let at = out.find("/enrol/").expect("an enrolment link");
    out[at..]
        .split_whitespace()
        .next()
        .expect("link")
        .to_owned()
}

fn run(backend: Backend, label: &str) {
    let root = repo_root();
    let browser_dir = root.join("tests/browser");
    if !tools_ready(&browser_dir) {
        return;
    }
    let d = Deployment::new(backend);
    d.ok(&["init"]);
    d.orgs(ORGS);
    let mut links = serde_json::Map::new();
    for (user, org, role) in USERS {
        let mut args = vec!["user", "add", user, "--org", org, "--role", role];
        if HEALTH.contains(user) {
            args.push("--health-professional");
        }
        let out = d.ok(&args);
        links.insert((*user).to_owned(), enrol_path(&out).into());
    }
    let server = d.serve();
    let shots = root.join("target/browser-screenshots").join(label);
    let _ = std::fs::remove_dir_all(&shots);
    let status = Command::new("node")
        .arg("scenario.mjs")
        .current_dir(&browser_dir)
        .env("PASSERELLE_BASE", &server.base)
        .env(
            "PASSERELLE_ENROL",
            serde_json::Value::Object(links).to_string(),
        )
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM", CHROMIUM)
        .status()
        .expect("node runs");
    assert!(
        status.success(),
        "the browser scenario failed on {label} (see its output above)"
    );
    let count = std::fs::read_dir(&shots).map(|d| d.count()).unwrap_or(0);
    assert!(count >= 10, "screenshots were saved ({count})");
    server.stop();
}

#[test]
fn browser_scenario_on_sqlite() {
    run(Backend::Sqlite, "sqlite");
}

#[test]
fn browser_scenario_on_postgres() {
    if let Some(pg) = Backend::postgres() {
        run(pg, "postgres");
    }
}
