//! Backup and restore on both backends, as an operator does it: a backup taken while the
//! service serves; more work after it; the service stopped; the backup restored. Then the
//! audit log verifies, a `restored` entry follows the backup's last one (the gap is on the
//! record), what was filed after the backup is gone, what the backup held reads again, and
//! the restore refuses to run while a server runs or when the backup was altered.

use std::time::Duration;

use passerelle_e2e::{Backend, Deployment, all_bytes, contains};
use serde_json::{Value, json};

const NAME: &str = "Philomène Arzur-Castagnet";

fn filing() -> Value {
    json!({
        "to_org": "avec63",
        "purpose": "psychological_support",
        "urgency": "normal",
        "consent": {
            "basis": "consent", "method": "written", "obtained_at": "2026-11-29T10:00:00Z",
            "recipients": ["avec63"], "purposes": ["psychological_support"],
            "data_categories": ["identity", "narrative"],
            "expires_at": "2099-01-01T00:00:00Z"
        },
        "subject": { "name": NAME, "birth_date": "1991-09-14" },
        "safety": { "channel": "email", "hours": "matin", "voicemail_ok": true,
                    "may_name_org": false, "code_word": "Mistral", "do_not_contact": false },
        "notes": { "narrative": "Hébergement d'urgence demandé" }
    })
}

async fn flow(backend: Backend) {
    let d = Deployment::new(backend);
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
    let police = d.token("iscg.martin");
    let psy = d.token("psy.bernard");

    let server = d.serve();
    let file = |s: &passerelle_e2e::Server| {
        let (client, base, police) = (s.client.clone(), s.base.clone(), police.clone());
        async move {
            let r = client
                .post(format!("{base}/api/v1/referrals"))
                .bearer_auth(&police)
                .json(&filing())
                .send()
                .await
                .expect("file");
            assert_eq!(r.status(), 201);
            r.json::<Value>().await.expect("json")["id"]
                .as_str()
                .expect("id")
                .to_owned()
        }
    };
    let kept = file(&server).await;
    let opened = server
        .call(
            "GET",
            &format!("/api/v1/referrals/{kept}"),
            Some(&psy),
            None,
        )
        .await;
    assert_eq!(opened.status, 200);

    // Backup while serving.
    let dir = d.dir.path().join("backups/first");
    let out = d.ok(&["backup", dir.to_str().expect("utf-8")]);
    assert!(out.contains("Backup of the"), "{out}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
            .expect("json manifest");
    let size = manifest["audit"]["size"].as_u64().expect("size");
    assert!(size >= 6, "{manifest}");
    assert!(
        manifest["audit"]["checkpoint"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    assert!(!manifest["files"].as_object().expect("files").is_empty());
    // No victim data in the backup folder: it holds ciphertexts only.
    assert!(!contains(&all_bytes(&dir), NAME));
    // A second backup into the same folder is refused.
    assert!(
        !d.run(&["backup", dir.to_str().expect("utf-8")], None)
            .status
            .success()
    );

    // Work after the backup.
    let later = file(&server).await;
    let entries_before_restore: u64 = d
        .sql("SELECT count(*) FROM audit_leaves")
        .parse()
        .expect("n");
    assert!(entries_before_restore > size);

    // Not while a server runs.
    let busy = d.run(&["restore", dir.to_str().expect("utf-8")], None);
    assert!(!busy.status.success());
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("stop every instance"),
        "{}",
        String::from_utf8_lossy(&busy.stderr)
    );
    assert!(server.stop().success());

    // A damaged backup is refused before anything is touched.
    let damaged = d.dir.path().join("backups/damaged");
    std::fs::create_dir_all(&damaged).expect("mkdir");
    for e in std::fs::read_dir(&dir).expect("ls") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), damaged.join(e.file_name())).expect("copy");
    }
    let victim_file = manifest["files"]
        .as_object()
        .expect("files")
        .keys()
        .next()
        .expect("a file")
        .clone();
    let mut bytes = std::fs::read(damaged.join(&victim_file)).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(damaged.join(&victim_file), bytes).expect("write");
    let refused = d.run(&["restore", damaged.to_str().expect("utf-8")], None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("does not match the manifest"));

    // Restore.
    let out = d.ok(&["restore", dir.to_str().expect("utf-8")]);
    assert!(out.contains("Restored. Audit log intact"), "{out}");

    // The log: the backup's entries, then `restored` at the next index, dense, verified.
    let restored_seq = d.sql("SELECT seq FROM audit_leaves WHERE action = 'restored'");
    assert_eq!(restored_seq, size.to_string());
    let count: u64 = d
        .sql("SELECT count(*) FROM audit_leaves")
        .parse()
        .expect("n");
    let max: u64 = d
        .sql("SELECT max(seq) FROM audit_leaves")
        .parse()
        .expect("n");
    assert_eq!(max + 1, count);
    // The checkpoint folder restarts from the restored log; the replaced one is kept.
    let cps = d.data_dir().join("checkpoints");
    assert!(std::fs::read_dir(&cps).expect("ls").any(|e| {
        e.expect("entry")
            .file_name()
            .to_string_lossy()
            .contains("before-restore")
    }));

    let server = d.serve();
    let back = server
        .call(
            "GET",
            &format!("/api/v1/referrals/{kept}"),
            Some(&psy),
            None,
        )
        .await;
    assert_eq!(back.status, 200, "{:?}", back.json);
    assert_eq!(back.json["subject"]["name"], NAME);
    let gone = server
        .call(
            "GET",
            &format!("/api/v1/referrals/{later}"),
            Some(&psy),
            None,
        )
        .await;
    assert_eq!(gone.status, 404, "filed after the backup: not in it");
    // The restored service keeps its log verifiable: more entries, still dense.
    assert!(server.wait_log("listening", 1, Duration::from_secs(10)));
    let inbox = server
        .call("GET", "/api/v1/referrals?box=inbox", Some(&psy), None)
        .await;
    assert_eq!(inbox.json["items"].as_array().map(Vec::len), Some(1));
    assert!(server.stop().success());
    let out = d.ok(&[
        "backup",
        d.dir.path().join("backups/second").to_str().expect("utf-8"),
    ]);
    assert!(out.contains("Backup of the"));
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_and_restore_on_sqlite() {
    flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_and_restore_on_postgres() {
    if let Some(pg) = Backend::postgres() {
        flow(pg).await;
    }
}

/// One export line (`passerelle audit export` format) recording that `referral`'s content
/// was destroyed, as an export taken before the live database was lost would hold it.
fn shred_export_line(seq: u64, referral: &str) -> String {
    use base64::Engine;
    use passerelle_domain::audit::{Action, AuditLeaf, Outcome, Targets};
    let leaf = AuditLeaf {
        at: time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .expect("time"),
        actor: None,
        actor_org: None,
        role: None,
        action: Action::ContentShredded,
        targets: Targets {
            referral: Some(referral.parse().expect("referral id")),
            ..Targets::default()
        },
        outcome: Outcome::Allowed,
        legal_basis: None,
        request_id: None,
        ciphertext_sha256: vec![],
    };
    let bytes = leaf.encode();
    json!({
        "type": "leaf",
        "seq": seq,
        "hash": hex::encode(passerelle_domain::merkle::leaf_hash(&bytes)),
        "bytes": base64::engine::general_purpose::STANDARD.encode(&bytes),
        "entry": {"action": "content.shredded"}
    })
    .to_string()
}

/// The live database is lost; the shreds recorded after the backup come from an audit
/// export: the restore refuses without one, and with it destroys that content again.
async fn shreds_from_an_export(backend: Backend) {
    let d = Deployment::new(backend);
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
    let police = d.token("iscg.martin");
    let psy = d.token("psy.bernard");
    let server = d.serve();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let a = server
            .call(
                "POST",
                "/api/v1/referrals",
                Some(&police),
                Some(passerelle_e2e::Body::Json(filing())),
            )
            .await;
        assert_eq!(a.status, 201);
        ids.push(a.json["id"].as_str().expect("id").to_owned());
    }
    let dir = d.dir.path().join("backup");
    d.ok(&["backup", dir.to_str().expect("utf-8")]);
    assert!(server.stop().success());
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
            .expect("json");
    let size = manifest["audit"]["size"].as_u64().expect("size");
    let (shredded, kept) = (&ids[0], &ids[1]);
    let wraps_of = |id: &str| match &d.backend {
        Backend::Sqlite => {
            let out = std::process::Command::new("sqlite3")
                .arg(d.data_dir().join("keys/keystore.db"))
                .arg(format!(
                    "SELECT count(*) FROM key_wraps WHERE hex(referral_id) = upper('{}')",
                    id.replace('-', "")
                ))
                .output()
                .expect("sqlite3");
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        }
        pg => pg.query(&format!(
            "SELECT count(*) FROM keystore.key_wraps WHERE referral_id = '{id}'"
        )),
    };
    assert_eq!(wraps_of(shredded), "2");

    let export = d.dir.path().join("audit-export.jsonl");
    std::fs::write(
        &export,
        format!(
            "{}\n{}\n",
            json!({"type": "header", "format": "passerelle-audit-export/1"}),
            shred_export_line(size + 3, shredded)
        ),
    )
    .expect("write export");
    if matches!(d.backend, Backend::Sqlite) {
        // The disk holding the live database died.
        std::fs::remove_file(d.data_dir().join("passerelle.db")).expect("rm");
        let _ = std::fs::remove_file(d.data_dir().join("passerelle.db-wal"));
        let _ = std::fs::remove_file(d.data_dir().join("passerelle.db-shm"));
        let refused = d.run(&["restore", dir.to_str().expect("utf-8")], None);
        assert!(!refused.status.success());
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("--audit-export"),
            "{}",
            String::from_utf8_lossy(&refused.stderr)
        );
        // An altered export is refused.
        let forged = d.dir.path().join("forged.jsonl");
        let line = shred_export_line(size + 3, shredded).replace("\"seq\":", "\"seq\":1");
        let mut v: Value = serde_json::from_str(&line).expect("json");
        v["hash"] = json!("00".repeat(32));
        std::fs::write(&forged, format!("{v}\n")).expect("write");
        let refused = d.run(
            &[
                "restore",
                dir.to_str().expect("utf-8"),
                "--audit-export",
                forged.to_str().expect("utf-8"),
            ],
            None,
        );
        assert!(!refused.status.success());
        assert!(String::from_utf8_lossy(&refused.stderr).contains("altered"));
    }
    let out = d.ok(&[
        "restore",
        dir.to_str().expect("utf-8"),
        "--audit-export",
        export.to_str().expect("utf-8"),
    ]);
    assert!(out.contains("shreds re-applied: 1"), "{out}");
    assert!(out.contains("Restored. Audit log intact"), "{out}");
    assert_eq!(wraps_of(shredded), "0", "the wraps are gone again");
    assert_eq!(wraps_of(kept), "2");
    assert_eq!(
        d.sql("SELECT action FROM audit_leaves ORDER BY seq DESC LIMIT 2"),
        "content.shredded\nrestored"
    );

    let server = d.serve();
    let gone = server
        .call(
            "GET",
            &format!("/api/v1/referrals/{shredded}"),
            Some(&psy),
            None,
        )
        .await;
    assert_eq!(gone.status, 410, "destroyed content does not come back");
    let back = server
        .call(
            "GET",
            &format!("/api/v1/referrals/{kept}"),
            Some(&psy),
            None,
        )
        .await;
    assert_eq!(back.status, 200);
    assert!(server.stop().success());

    // Restoring the same backup again: the live log now records that shred itself, and the
    // restore reads it there (no export needed) — the content stays destroyed.
    let out = d.ok(&["restore", dir.to_str().expect("utf-8")]);
    assert!(out.contains("shreds re-applied: 1"), "{out}");
    assert_eq!(wraps_of(shredded), "0");
    assert_eq!(wraps_of(kept), "2");
    assert_eq!(
        d.sql("SELECT count(*) FROM audit_leaves WHERE action = 'restored'"),
        "1",
        "the backup's log, then this restore's own entry"
    );
    let server = d.serve();
    let gone = server
        .call(
            "GET",
            &format!("/api/v1/referrals/{shredded}"),
            Some(&psy),
            None,
        )
        .await;
    assert_eq!(gone.status, 410);
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_reapplies_shreds_from_an_export_on_sqlite() {
    shreds_from_an_export(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_reapplies_shreds_from_an_export_on_postgres() {
    if let Some(pg) = Backend::postgres() {
        shreds_from_an_export(pg).await;
    }
}

/// File (with a message and an attachment), back up, shred with `passerelle referral shred`,
/// restore: the restore re-applies the shred through the same core shred function (reason
/// `restore`), so the referral answers 410, every ciphertext of it is gone again (content,
/// messages, attachments, keystore wraps) and the audit log verifies.
async fn shred_after_backup(backend: Backend) {
    let d = Deployment::new(backend);
    d.ok(&["init"]);
    for (slug, name, kind) in [
        ("police-clermont", "Commissariat", "police"),
        ("avec63", "AVEC 63", "association"),
    ] {
        d.ok(&["org", "add", slug, "--name", name, "--kind", kind]);
    }
    for (user, org, role) in [
        ("iscg.martin", "police-clermont", "referrer"),
        ("psy.bernard", "avec63", "receiver"),
    ] {
        d.ok(&["user", "add", user, "--org", org, "--role", role]);
    }
    let police = d.token("iscg.martin");
    let psy = d.token("psy.bernard");
    let server = d.serve();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let a = server
            .call(
                "POST",
                "/api/v1/referrals",
                Some(&police),
                Some(passerelle_e2e::Body::Json(filing())),
            )
            .await;
        assert_eq!(a.status, 201);
        let id = a.json["id"].as_str().expect("id").to_owned();
        let m = server
            .call(
                "POST",
                &format!("/api/v1/referrals/{id}/messages"),
                Some(&police),
                Some(passerelle_e2e::Body::Json(json!({"body": "Rappel demain"}))),
            )
            .await;
        assert_eq!(m.status, 201);
        let up = server
            .client
            .post(format!("{}/api/v1/referrals/{id}/attachments", server.base))
            .bearer_auth(&police)
            .header("x-filename", "attestation.pdf")
            .header("x-data-category", "narrative")
            .body(b"%PDF-1.4 attestation".to_vec())
            .send()
            .await
            .expect("upload");
        assert_eq!(up.status(), 201);
        ids.push(id);
    }
    let (shredded, kept) = (ids[0].clone(), ids[1].clone());
    let dir = d.dir.path().join("backup");
    d.ok(&["backup", dir.to_str().expect("utf-8")]);
    assert!(server.stop().success());

    // After the backup, the operator destroys one referral's content.
    let out = d.ok(&["referral", "shred", &shredded]);
    assert!(!contains(out.as_bytes(), NAME));
    let id_sql = |id: &str| match &d.backend {
        Backend::Sqlite => format!("hex(referral_id) = upper('{}')", id.replace('-', "")),
        _ => format!("referral_id = '{id}'"),
    };
    let ref_sql = |id: &str| match &d.backend {
        Backend::Sqlite => format!("hex(id) = upper('{}')", id.replace('-', "")),
        _ => format!("id = '{id}'"),
    };
    // What is left of a referral's ciphertexts in the main database: content bytes,
    // messages, attachments.
    let ciphertexts = |id: &str| {
        [
            d.sql(&format!(
                "SELECT length(content) FROM referrals WHERE {}",
                ref_sql(id)
            )),
            d.sql(&format!(
                "SELECT count(*) FROM messages WHERE {}",
                id_sql(id)
            )),
            d.sql(&format!(
                "SELECT count(*) FROM attachments WHERE {}",
                id_sql(id)
            )),
        ]
    };
    let wraps_of = |id: &str| match &d.backend {
        Backend::Sqlite => {
            let out = std::process::Command::new("sqlite3")
                .arg(d.data_dir().join("keys/keystore.db"))
                .arg(format!(
                    "SELECT count(*) FROM key_wraps WHERE {}",
                    id_sql(id)
                ))
                .output()
                .expect("sqlite3");
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        }
        pg => pg.query(&format!(
            "SELECT count(*) FROM keystore.key_wraps WHERE {}",
            id_sql(id)
        )),
    };
    let destroyed = ["0".to_owned(), "0".to_owned(), "0".to_owned()];
    assert_eq!(ciphertexts(&shredded), destroyed);
    assert_eq!(wraps_of(&shredded), "0");

    // The backup still holds it; the restore must destroy it again.
    let out = d.ok(&["restore", dir.to_str().expect("utf-8")]);
    assert!(out.contains("shreds re-applied: 1"), "{out}");
    assert!(out.contains("Restored. Audit log intact"), "{out}");
    assert_eq!(
        ciphertexts(&shredded),
        destroyed,
        "every ciphertext gone again"
    );
    assert_eq!(wraps_of(&shredded), "0", "the wraps gone again");
    let kept_left = ciphertexts(&kept);
    assert_ne!(kept_left[0], "0");
    assert_eq!(kept_left[1..], ["1".to_owned(), "1".to_owned()]);
    assert_eq!(wraps_of(&kept), "2");
    assert_eq!(
        d.sql(&format!(
            "SELECT shred_reason FROM referrals WHERE {}",
            ref_sql(&shredded)
        )),
        "restore"
    );
    assert_eq!(
        d.sql("SELECT action FROM audit_leaves ORDER BY seq DESC LIMIT 2"),
        "content.shredded\nrestored"
    );
    let verified = d.ok(&["audit", "verify"]);
    assert!(!verified.is_empty());

    let server = d.serve();
    let gone = server
        .call(
            "GET",
            &format!("/api/v1/referrals/{shredded}"),
            Some(&psy),
            None,
        )
        .await;
    assert_eq!(gone.status, 410, "destroyed content does not come back");
    let back = server
        .call(
            "GET",
            &format!("/api/v1/referrals/{kept}"),
            Some(&psy),
            None,
        )
        .await;
    assert_eq!(back.status, 200);
    assert_eq!(back.json["subject"]["name"], NAME);
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_reapplies_a_shred_made_after_the_backup_on_sqlite() {
    shred_after_backup(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_reapplies_a_shred_made_after_the_backup_on_postgres() {
    if let Some(pg) = Backend::postgres() {
        shred_after_backup(pg).await;
    }
}
