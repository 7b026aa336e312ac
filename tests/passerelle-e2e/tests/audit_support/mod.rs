//! Shared by the audit end-to-end tests: a seeded deployment (organisations, one user per
//! role, a 226-14 3° path), filings and reads through the real server, raw SQL on either
//! backend through `passerelle_e2e::Db` (triggers disabled), and copies of a whole
//! deployment (data dir and database) so each tampering starts from the same intact log.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use passerelle_e2e::{Backend, Body, Deployment, Server, pg_admin_url};
use serde_json::{Value, json};

/// Victim strings: none may appear in any audit answer, export or proof.
pub const NAME: &str = "Yasmina Orlebec-Tridane";
/// Narrative note.
pub const NARRATIVE: &str = "Porte fracturée rue des Quatre-Vents";
/// Phone number.
pub const PHONE: &str = "+33 6 55 19 72 40";
/// Safety code word.
pub const CODE_WORD: &str = "Mirabelle";

/// Every victim string.
pub const VICTIM: &[&str] = &[NAME, NARRATIVE, PHONE, CODE_WORD];

/// The users of a seeded deployment and their tokens.
pub struct Users {
    /// Referrer at the police station.
    pub police: String,
    /// Receiver at AVEC 63.
    pub psy: String,
    /// Receiver at the court (never party here).
    pub court: String,
    /// Health professional (referrer) at the hospital.
    pub doctor: String,
    /// Receiver at the prosecutor's office.
    pub parquet: String,
    /// Auditor.
    pub auditor: String,
    /// Coordinator.
    pub coordinator: String,
    /// Admin.
    pub admin: String,
}

/// `init`, organisations, one user per role, tokens (each a leaf of the log).
pub fn seed(d: &Deployment) -> Users {
    d.ok(&["init"]);
    d.orgs(&[
        ("police-clermont", "Commissariat", "police"),
        ("avec63", "AVEC 63", "association"),
        ("chambre-vif", "Chambre VIF", "court"),
        ("chu-urgences", "CHU urgences", "hospital"),
        ("parquet63", "Parquet", "prosecutor"),
        ("mission-egalite", "25 Gisèle Halimi", "centre"),
    ]);
    d.users(&[
        ("iscg.martin", "police-clermont", "referrer"),
        ("psy.bernard", "avec63", "receiver"),
        ("greffe.vif", "chambre-vif", "receiver"),
        ("proc.durand", "parquet63", "receiver"),
        ("dpo.audit", "mission-egalite", "auditor"),
        ("coord.lea", "mission-egalite", "coordinator"),
        ("admin.ops", "mission-egalite", "admin"),
    ]);
    d.ok(&[
        "user",
        "add",
        "dr.roux",
        "--org",
        "chu-urgences",
        "--role",
        "referrer",
        "--health-professional",
    ]);
    Users {
        police: d.token("iscg.martin"),
        psy: d.token("psy.bernard"),
        court: d.token("greffe.vif"),
        doctor: d.token("dr.roux"),
        parquet: d.token("proc.durand"),
        auditor: d.token("dpo.audit"),
        coordinator: d.token("coord.lea"),
        admin: d.token("admin.ops"),
    }
}

/// A consented filing, police → AVEC 63.
pub fn filing() -> Value {
    json!({
        "to_org": "avec63",
        "purpose": "psychological_support",
        "urgency": "normal",
        "consent": {
            "basis": "consent",
            "method": "written",
            "obtained_at": "2026-11-29T10:00:00Z",
            "recipients": ["avec63"],
            "purposes": ["psychological_support"],
            "data_categories": ["identity", "contact", "narrative"],
            "expires_at": "2099-11-29T00:00:00Z"
        },
        "subject": { "name": NAME, "birth_date": "1990-04-02", "phone": PHONE },
        "safety": { "channel": "sms", "hours": "9h-12h", "voicemail_ok": false,
                    "may_name_org": false, "code_word": CODE_WORD, "do_not_contact": false },
        "notes": { "narrative": NARRATIVE }
    })
}

/// A 226-14 3° report, hospital physician → prosecutor.
pub fn filing_226_14() -> Value {
    json!({
        "to_org": "parquet63",
        "purpose": "report_to_prosecutor",
        "urgency": "immediate",
        "consent": {
            "basis": "legal_exception_226_14",
            "method": "written",
            "obtained_at": "2026-11-29T10:00:00Z",
            "recipients": ["parquet63"],
            "purposes": ["report_to_prosecutor"],
            "data_categories": ["identity", "narrative"],
            "expires_at": "2099-11-29T00:00:00Z",
            "legal_exception": {
                "immediate_danger": true,
                "emprise": true,
                "agreement_sought": "Proposé deux fois en consultation",
                "justification": "Strangulation récente, menaces de mort"
            }
        },
        "subject": { "name": NAME, "birth_date": "1990-04-02" },
        "notes": { "narrative": NARRATIVE }
    })
}

/// Files a referral; returns `(referral id, case id)`.
pub async fn file(s: &Server, token: &str, body: Value) -> (String, String) {
    let a = s
        .call(
            "POST",
            "/api/v1/referrals",
            Some(token),
            Some(Body::Json(body)),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    (
        a.json["id"].as_str().expect("id").to_owned(),
        a.json["case_id"].as_str().expect("case id").to_owned(),
    )
}

/// What happened in [`activity`], for the assertions.
pub struct Activity {
    /// The consented referral.
    pub referral: String,
    /// Its case.
    pub case: String,
    /// The 226-14 3° referral.
    pub legal_referral: String,
    /// Its case.
    pub legal_case: String,
}

/// Filings, reads by both sides, a cross-organisation refusal, an acceptance and a 226-14
/// 3° report: a log with every kind of leaf the service writes today.
pub async fn activity(s: &Server, u: &Users) -> Activity {
    let (referral, case) = file(s, &u.police, filing()).await;
    for t in [&u.psy, &u.police] {
        let a = s
            .call(
                "GET",
                &format!("/api/v1/referrals/{referral}"),
                Some(t),
                None,
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.json);
    }
    let denied = s
        .call(
            "GET",
            &format!("/api/v1/referrals/{referral}"),
            Some(&u.court),
            None,
        )
        .await;
    assert_eq!(denied.status, 404);
    let acc = s
        .call(
            "POST",
            &format!("/api/v1/referrals/{referral}/accept"),
            Some(&u.psy),
            None,
        )
        .await;
    assert_eq!(acc.status, 200, "{:?}", acc.json);
    let (legal_referral, legal_case) = file(s, &u.doctor, filing_226_14()).await;
    let read = s
        .call(
            "GET",
            &format!("/api/v1/referrals/{legal_referral}"),
            Some(&u.parquet),
            None,
        )
        .await;
    assert_eq!(read.status, 200, "{:?}", read.json);
    Activity {
        referral,
        case,
        legal_referral,
        legal_case,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp runs");
    assert!(st.success());
}

/// A copy of a stopped deployment: its data dir and its database.
pub fn clone(d: &Deployment) -> Deployment {
    let backend = match &d.backend {
        Backend::Sqlite => Backend::Sqlite,
        Backend::Postgres { name, .. } => {
            let new = format!("passerelle_e2e_{}", uuid::Uuid::new_v4().simple());
            let admin = pg_admin_url();
            let out = Command::new("psql")
                .args([
                    admin.as_str(),
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-qAt",
                    "-c",
                    &format!("CREATE DATABASE {new} TEMPLATE {name}"),
                ])
                .output()
                .expect("psql runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let base = admin
                .rsplit_once('/')
                .map(|(b, _)| b.to_owned())
                .unwrap_or(admin);
            Backend::Postgres {
                url: format!("{base}/{new}"),
                name: new,
            }
        }
    };
    let copy = Deployment::new(backend);
    copy_dir(&d.data_dir(), &copy.data_dir());
    copy
}

/// `passerelle audit verify ARGS`: `(exit code, stdout, stderr)`.
pub fn verify(d: &Deployment, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["audit", "verify"];
    all.extend_from_slice(args);
    let out = d.run(&all, None);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts that `audit verify` finds the log intact; returns stdout.
pub fn assert_intact(d: &Deployment, args: &[&str]) -> String {
    let (code, out, err) = verify(d, args);
    assert_eq!(code, 0, "an intact log was reported bad: {out}{err}");
    assert!(out.contains("The audit log is intact"), "{out}");
    out
}

/// Asserts that `audit verify` reports the log NOT intact (exit 2) and names `entry`;
/// returns the message.
pub fn assert_caught(d: &Deployment, args: &[&str], entry: Option<u64>, what: &str) -> String {
    let (code, out, err) = verify(d, args);
    assert_eq!(code, 2, "{what}: not caught (exit {code}): {out}{err}");
    assert!(err.contains("NOT intact"), "{what}: {err}");
    if let Some(e) = entry {
        assert!(
            err.contains(&format!("entry {e}: ")),
            "{what}: the message does not name entry {e}: {err}"
        );
    }
    err
}
