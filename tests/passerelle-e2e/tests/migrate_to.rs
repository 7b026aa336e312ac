//! SQLite → PostgreSQL, as an operator moves a grown deployment: `passerelle migrate-to`
//! copies every row (ciphertexts and audit leaves byte for byte) and the keystore, checks
//! the audit log and opens a sample on the target, records the move in the log; then the
//! same data dir served on PostgreSQL reads every referral back through the API, with the
//! same tokens, and the copied log goes on growing densely.

use std::collections::BTreeMap;

use passerelle_e2e::{Backend, Body, Deployment, ServeOptions};
use serde_json::{Value, json};

fn filing(n: usize) -> Value {
    let urgency = ["normal", "high", "immediate"][n % 3];
    json!({
        "to_org": if n.is_multiple_of(3) { "cidff63" } else { "avec63" },
        "purpose": "legal_information",
        "urgency": urgency,
        "consent": {
            "basis": "consent", "method": "oral", "obtained_at": "2026-11-29T10:00:00Z",
            "recipients": ["avec63", "cidff63"], "purposes": ["legal_information"],
            "data_categories": ["identity", "contact", "narrative"],
            "expires_at": "2099-01-01T00:00:00Z"
        },
        "subject": { "name": format!("Victime numéro {n} Tréguier"), "birth_date": "1985-01-20",
                     "phone": format!("+33 6 00 00 00 {n:02}") },
        "safety": { "channel": "phone", "hours": "14h-16h", "voicemail_ok": false,
                    "may_name_org": true, "code_word": format!("mot-{n}"), "do_not_contact": false },
        "notes": { "narrative": format!("Récit {n}: démarches juridiques") }
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_deployment_moves_to_postgres() {
    let Some(target) = Backend::postgres() else {
        return;
    };
    let url = target.url().expect("url").to_owned();
    let d = Deployment::new(Backend::Sqlite);
    d.ok(&["init"]);
    d.ok(&[
        "org",
        "add",
        "police-clermont",
        "--name",
        "Commissariat",
        "--kind",
        "police",
    ]);
    d.ok(&[
        "org",
        "add",
        "avec63",
        "--name",
        "AVEC 63",
        "--kind",
        "association",
    ]);
    d.ok(&[
        "org",
        "add",
        "cidff63",
        "--name",
        "CIDFF 63",
        "--kind",
        "association",
    ]);
    d.ok(&[
        "user",
        "add",
        "iscg.martin",
        "--org",
        "police-clermont",
        "--role",
        "referrer",
    ]);
    d.ok(&[
        "user",
        "add",
        "psy.bernard",
        "--org",
        "avec63",
        "--role",
        "receiver",
    ]);
    d.ok(&[
        "user",
        "add",
        "jur.cidff",
        "--org",
        "cidff63",
        "--role",
        "receiver",
    ]);
    let police = d.token("iscg.martin");
    let psy = d.token("psy.bernard");
    let jur = d.token("jur.cidff");

    // A deployment with history: filings, reads, accepts, declines, closes.
    let server = d.serve();
    let mut originals: BTreeMap<String, Value> = BTreeMap::new();
    for n in 0..12 {
        let a = server
            .call(
                "POST",
                "/api/v1/referrals",
                Some(&police),
                Some(Body::Json(filing(n))),
            )
            .await;
        assert_eq!(a.status, 201, "{:?}", a.json);
        let id = a.json["id"].as_str().expect("id").to_owned();
        let reader = if n.is_multiple_of(3) { &jur } else { &psy };
        match n % 4 {
            0 => {}
            1 => {
                let r = server
                    .call(
                        "POST",
                        &format!("/api/v1/referrals/{id}/accept"),
                        Some(reader),
                        None,
                    )
                    .await;
                assert_eq!(r.status, 200);
            }
            2 => {
                let r = server
                    .call(
                        "POST",
                        &format!("/api/v1/referrals/{id}/decline"),
                        Some(reader),
                        Some(Body::Json(json!({"reason": format!("Pas de place {n}")}))),
                    )
                    .await;
                assert_eq!(r.status, 200, "{:?}", r.json);
            }
            _ => {
                server
                    .call(
                        "POST",
                        &format!("/api/v1/referrals/{id}/accept"),
                        Some(reader),
                        None,
                    )
                    .await;
                let r = server
                    .call(
                        "POST",
                        &format!("/api/v1/referrals/{id}/close"),
                        Some(reader),
                        Some(Body::Json(json!({"outcome": "got_help"}))),
                    )
                    .await;
                assert_eq!(r.status, 200);
            }
        }
        let view = server
            .call(
                "GET",
                &format!("/api/v1/referrals/{id}"),
                Some(&police),
                None,
            )
            .await;
        assert_eq!(view.status, 200);
        originals.insert(id, view.json);
    }
    let leaves_before: u64 = d
        .sql("SELECT count(*) FROM audit_leaves")
        .parse()
        .expect("n");

    // Not while serving.
    let busy = d.run(&["migrate-to", &url], None);
    assert!(!busy.status.success());
    assert!(server.stop().success());

    let out = d.run(&["migrate-to", &url], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "main.referrals: 12 rows",
        "keystore.key_wraps: 24 rows",
        "row counts equal in every table",
        "audit log intact on the target",
        "Done.",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("referrals opened on the target: 12"),
        "{stdout}"
    );
    // Every table of the source is copied, whole, or explicitly excluded: a table added by
    // a later migration cannot be forgotten. Listed from SQLite's own catalogue, not from
    // the code under test.
    const EXCLUDED: &[&str] = &[
        // Migration bookkeeping: the target ran its own migrations.
        "_sqlx_migrations",
        // SQLite's internal tables.
        "sqlite_sequence",
        "sqlite_stat1",
        "sqlite_stat4",
    ];
    let keystore = d.data_dir().join("keys/keystore.db");
    let sqlite3 = |db: &std::path::Path, sql: &str| {
        let out = std::process::Command::new("sqlite3")
            .arg(db)
            .arg(sql)
            .output()
            .expect("sqlite3");
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let mut listed = 0;
    for (area, db) in [
        ("main", d.data_dir().join("passerelle.db")),
        ("keystore", keystore),
    ] {
        let names = sqlite3(
            &db,
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
        );
        for name in names.lines().map(str::trim).filter(|n| !n.is_empty()) {
            if EXCLUDED.contains(&name) {
                continue;
            }
            listed += 1;
            let rows = sqlite3(&db, &format!("SELECT count(*) FROM \"{name}\""));
            let line = format!("  {area}.{name}: {rows} rows");
            assert!(
                stdout.lines().any(|l| l == line),
                "{area}.{name} ({rows} rows) is neither copied nor excluded:\n{stdout}"
            );
        }
    }
    assert!(listed >= 20, "{listed} tables");
    // The target's log: the source's entries verbatim, then the migration's.
    let q = |sql: &str| target.query(sql);
    assert_eq!(
        q("SELECT count(*) FROM audit_leaves")
            .parse::<u64>()
            .expect("n"),
        leaves_before + 1
    );
    assert_eq!(
        q("SELECT action FROM audit_leaves ORDER BY seq DESC LIMIT 1"),
        "store.migrated"
    );
    // The tables the copy filled are analysed: the first requests are planned on their
    // rows, not on an empty table's statistics (a never-analysed table says -1 or 0).
    for (table, rows) in [("referrals", "12"), ("keystore.key_wraps", "24")] {
        assert_eq!(
            q(&format!(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = '{table}'::regclass"
            )),
            rows,
            "{table}"
        );
    }
    let src_hashes = d.sql("SELECT hex(leaf_hash) FROM audit_leaves ORDER BY seq");
    let dst_hashes = q(&format!(
        "SELECT upper(encode(leaf_hash, 'hex')) FROM audit_leaves WHERE seq < {leaves_before} ORDER BY seq"
    ));
    assert_eq!(src_hashes, dst_hashes, "audit leaves copied verbatim");
    let src_ct = d.sql("SELECT hex(content) FROM referrals ORDER BY id");
    let dst_ct = q("SELECT upper(encode(content, 'hex')) FROM referrals ORDER BY id");
    assert_eq!(src_ct, dst_ct, "ciphertexts copied verbatim");
    // A second migration into a database that holds a deployment is refused.
    let again = d.run(&["migrate-to", &url], None);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a deployment"));

    // Served on PostgreSQL: every referral reads back, for both parties, same tokens.
    let on_pg = d.serve_opts(ServeOptions {
        env: vec![("PASSERELLE_DATABASE_URL".into(), url.clone())],
        ..ServeOptions::default()
    });
    assert!(on_pg.wait_log(
        "\"backend\":\"postgres\"",
        1,
        std::time::Duration::from_secs(10)
    ));
    for (id, before) in &originals {
        let receiver = if before["to_org"] == "cidff63" {
            &jur
        } else {
            &psy
        };
        // The sender first: nothing changes, every field is as it was on SQLite.
        let now = on_pg
            .call(
                "GET",
                &format!("/api/v1/referrals/{id}"),
                Some(&police),
                None,
            )
            .await;
        assert_eq!(now.status, 200, "{id}: {:?}", now.json);
        assert_eq!(&now.json, before, "{id}: read back differently");
        // The receiver too (a first read may acknowledge it).
        let now = on_pg
            .call(
                "GET",
                &format!("/api/v1/referrals/{id}"),
                Some(receiver),
                None,
            )
            .await;
        assert_eq!(now.status, 200, "{id}: {:?}", now.json);
        for field in [
            "subject",
            "notes",
            "safety",
            "consent",
            "danger_grid",
            "due_at",
        ] {
            assert_eq!(now.json[field], before[field], "{id}: {field}");
        }
    }
    let inbox = on_pg
        .call(
            "GET",
            "/api/v1/referrals?box=inbox&limit=200",
            Some(&psy),
            None,
        )
        .await;
    assert_eq!(inbox.json["items"].as_array().map(Vec::len), Some(8));
    // Identity sequences moved on: a new decline (a new history row) works.
    let fresh = on_pg
        .call(
            "POST",
            "/api/v1/referrals",
            Some(&police),
            Some(Body::Json(filing(1))),
        )
        .await;
    assert_eq!(fresh.status, 201);
    let fid = fresh.json["id"].as_str().expect("id");
    let declined = on_pg
        .call(
            "POST",
            &format!("/api/v1/referrals/{fid}/decline"),
            Some(&psy),
            Some(Body::Json(json!({"reason": "complet"}))),
        )
        .await;
    assert_eq!(declined.status, 200, "{:?}", declined.json);
    assert!(on_pg.stop().success());
    let count: u64 = q("SELECT count(*) FROM audit_leaves").parse().expect("n");
    let max: u64 = q("SELECT max(seq) FROM audit_leaves").parse().expect("n");
    assert_eq!(max + 1, count, "the copied log goes on densely");
}
