//! The tamper suite, on both backends, driving the real binary: someone who can write the
//! database (triggers turned off, as its owner can) but holds neither the signing key nor
//! the checkpoint folder edits, deletes, swaps, inserts or cuts leaves, or rewrites the
//! whole tree; `passerelle audit verify` catches every class and names the entry where the
//! leaves or the checkpoint folder allow it. Rolling the head back to an older signed head
//! is caught by the checkpoint folder, or, when the folder was cut too, by `--against` a
//! checkpoint an auditor kept. An untouched log is never reported bad.
//!
//! Then exports and inclusion proofs: verified offline with the public key alone (no data
//! dir, no database, no secret), refused when tampered with, and free of victim data.

mod audit_support;

use std::path::Path;
use std::process::Command;

use audit_support::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey};
use passerelle_domain::audit::AuditLeaf;
use passerelle_domain::checkpoint;
use passerelle_domain::ids::Username;
use passerelle_domain::merkle::{CompactRange, Hash, leaf_hash};
use passerelle_e2e::{Backend, Db, Deployment, bin, contains};
use serde_json::Value;

/// A leaf with an actor, re-attributed to someone else (same length, valid encoding).
fn reattributed(bytes: &[u8]) -> Vec<u8> {
    let mut leaf = AuditLeaf::decode(bytes).expect("a valid leaf");
    let actor = leaf.actor.as_ref().expect("an actor").as_str().to_owned();
    let other = format!("x{}", &actor[1..]);
    leaf.actor = Some(Username::parse(&other).expect("username"));
    leaf.encode()
}

/// A different valid leaf (another request id).
fn forged(bytes: &[u8]) -> Vec<u8> {
    let mut leaf = AuditLeaf::decode(bytes).expect("a valid leaf");
    leaf.request_id = Some("forged-request".into());
    leaf.encode()
}

fn compact(hashes: &[Hash]) -> CompactRange {
    let mut r = CompactRange::empty();
    hashes.iter().for_each(|h| r.append(*h));
    r
}

/// Writes the head row (what the adapters store: size, root, compact range, checkpoint).
fn set_head(db: &Db, range: &CompactRange, checkpoint: &str) {
    let compact: Vec<u8> = range.hashes().concat();
    db.sql(&format!(
        "UPDATE audit_head SET size = {}, root = {}, compact = {}, checkpoint = '{}' WHERE id = 1",
        range.size(),
        db.blob(&range.root()),
        db.blob(&compact),
        checkpoint.replace('\'', "''")
    ));
}

/// The first leaf at or after `from` that has an actor.
fn with_actor(leaves: &[(u64, Vec<u8>, Hash)], from: u64) -> u64 {
    leaves
        .iter()
        .find(|(s, b, _)| *s >= from && AuditLeaf::decode(b).is_ok_and(|l| l.actor.is_some()))
        .map(|l| l.0)
        .expect("a leaf with an actor")
}

/// The checkpoint folder's lines.
fn folder_lines(d: &Deployment) -> Vec<Value> {
    let text = std::fs::read_to_string(d.data_dir().join("checkpoints/checkpoints.jsonl"))
        .expect("checkpoint folder");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn key_id_of(pub_line: &str) -> [u8; 4] {
    let id = pub_line.trim().split('+').nth(1).expect("key id");
    hex::decode(id).expect("hex").try_into().expect("4 bytes")
}

async fn suite(backend: Backend) {
    // ---- an intact log with every kind of leaf the service writes today ----
    let base = Deployment::new(backend);
    let users = seed(&base);
    let server = base.serve();
    let act = activity(&server, &users).await;
    assert!(server.stop().success());
    let db = Db::of(&base);
    let n = db.head_size();
    assert!(n >= 20, "a log worth tampering with: {n}");
    let kept_dir = tempfile::tempdir().expect("temp dir");
    let kept = kept_dir.path().join("kept.txt");
    let out = base.ok(&["audit", "checkpoint"]);
    std::fs::write(&kept, &out).expect("kept checkpoint");
    let kept_cp = checkpoint::parse(&out).expect("a signed note");
    assert_eq!(kept_cp.size, n);

    // Untouched: intact, with or without a kept checkpoint (the current one or an older).
    let summary = assert_intact(&base, &[]);
    assert!(summary.contains(&format!("{n} entries")), "{summary}");
    assert!(
        summary.contains("checkpoint folder: consistent"),
        "{summary}"
    );
    assert_intact(&base, &["--against", kept.to_str().unwrap()]);
    let older = kept_dir.path().join("older.json");
    std::fs::write(&older, folder_lines(&base)[5].to_string()).expect("older");
    assert_intact(&base, &["--against", older.to_str().unwrap()]);

    // The triggers refuse changes (defence in depth).
    let refused = db.sql_err("UPDATE audit_leaves SET actor = 'x' WHERE seq = 0");
    assert!(refused.contains("append-only"), "{refused}");
    db.sql_err("DELETE FROM audit_leaves WHERE seq = 0");

    let leaves = db.leaves();
    assert_eq!(leaves.len() as u64, n);
    let k = with_actor(&leaves, n / 2);

    // ---- alter a field ----
    // (a) the bytes, leaving the stored hash.
    let d = clone(&base);
    let t = Db::of(&d);
    t.disable_triggers();
    t.sql(&format!(
        "UPDATE audit_leaves SET bytes = {} WHERE seq = {k}",
        t.blob(&reattributed(&leaves[k as usize].1))
    ));
    let e = assert_caught(&d, &[], Some(k), "bytes altered");
    assert!(e.contains("hash"), "{e}");
    // (b) the bytes, the hash and the search column, consistently.
    let d = clone(&base);
    let t = Db::of(&d);
    t.disable_triggers();
    let b = reattributed(&leaves[k as usize].1);
    let actor = AuditLeaf::decode(&b).unwrap().actor.unwrap();
    t.sql(&format!(
        "UPDATE audit_leaves SET bytes = {}, leaf_hash = {}, actor = '{}' WHERE seq = {k}",
        t.blob(&b),
        t.blob(&leaf_hash(&b)),
        actor.as_str()
    ));
    assert_caught(&d, &[], Some(k), "bytes, hash and column altered");
    // (c) only a search column (hiding an access from searches).
    let d = clone(&base);
    let t = Db::of(&d);
    t.disable_triggers();
    t.sql(&format!(
        "UPDATE audit_leaves SET actor = 'someone.else' WHERE seq = {k}"
    ));
    let e = assert_caught(&d, &[], Some(k), "search column altered");
    assert!(e.contains("actor"), "{e}");
    // The auditor's API says the same.
    let server = d.serve();
    let v = server
        .call("GET", "/api/v1/audit/verify", Some(&users.auditor), None)
        .await;
    assert_eq!(v.status, 200, "{:?}", v.json);
    assert_eq!(v.json["ok"], false, "{:?}", v.json);
    assert_eq!(v.json["first_bad_entry"], k, "{:?}", v.json);
    assert!(
        v.json["problem"]
            .as_str()
            .is_some_and(|p| p.contains("actor")),
        "{:?}",
        v.json
    );
    assert!(server.stop().success());

    // ---- delete a leaf ----
    let d = clone(&base);
    let t = Db::of(&d);
    t.disable_triggers();
    t.sql(&format!("DELETE FROM audit_leaves WHERE seq = {k}"));
    assert_caught(&d, &[], Some(k), "leaf deleted");

    // ---- swap two leaves ----
    let (i, j) = (k, k + 2);
    let d = clone(&base);
    let t = Db::of(&d);
    t.disable_triggers();
    t.sql(&format!(
        "UPDATE audit_leaves SET seq = 1000000 WHERE seq = {i}; \
         UPDATE audit_leaves SET seq = {i} WHERE seq = {j}; \
         UPDATE audit_leaves SET seq = {j} WHERE seq = 1000000;"
    ));
    assert_caught(&d, &[], Some(i), "two leaves swapped");

    // ---- insert a forged leaf ----
    // (a) in the middle, renumbering the rest.
    let d = clone(&base);
    let t = Db::of(&d);
    t.disable_triggers();
    let f = forged(&leaves[k as usize].1);
    t.sql(&format!(
        "UPDATE audit_leaves SET seq = seq + 1000000 WHERE seq >= {k}; \
         UPDATE audit_leaves SET seq = seq - 999999 WHERE seq >= 1000000; \
         INSERT INTO audit_leaves (seq, at, bytes, leaf_hash, actor, org, action, target, case_id) \
         SELECT {k}, at, {}, {}, actor, org, action, target, case_id FROM audit_leaves WHERE seq = {};",
        t.blob(&f),
        t.blob(&leaf_hash(&f)),
        k + 1
    ));
    assert_caught(&d, &[], Some(k), "forged leaf inserted in the middle");
    // (b) at the end, beyond the signed head.
    let d = clone(&base);
    let t = Db::of(&d);
    t.sql(&format!(
        "INSERT INTO audit_leaves (seq, at, bytes, leaf_hash, actor, org, action, target, case_id) \
         SELECT {n}, at, {}, {}, actor, org, action, target, case_id FROM audit_leaves WHERE seq = {k};",
        t.blob(&f),
        t.blob(&leaf_hash(&f)),
    ));
    let e = assert_caught(&d, &[], Some(n), "forged leaf appended");
    assert!(e.contains("beyond the signed head"), "{e}");

    // ---- cut the newest leaf ----
    let d = clone(&base);
    let t = Db::of(&d);
    t.disable_triggers();
    t.sql(&format!("DELETE FROM audit_leaves WHERE seq = {}", n - 1));
    let e = assert_caught(&d, &[], Some(n - 1), "newest leaf cut");
    assert!(e.contains("truncated"), "{e}");

    // ---- recompute the whole tree without the signing key ----
    let pub_line = std::fs::read_to_string(base.data_dir().join("keys/audit-signing.pub"))
        .expect("public key");
    let d = clone(&base);
    let t = Db::of(&d);
    t.disable_triggers();
    let mut hashes: Vec<Hash> = leaves.iter().map(|l| l.2).collect();
    let b = reattributed(&leaves[k as usize].1);
    hashes[k as usize] = leaf_hash(&b);
    t.sql(&format!(
        "UPDATE audit_leaves SET bytes = {}, leaf_hash = {}, actor = '{}' WHERE seq = {k}",
        t.blob(&b),
        t.blob(&hashes[k as usize]),
        AuditLeaf::decode(&b).unwrap().actor.unwrap().as_str()
    ));
    let range = compact(&hashes);
    let body = checkpoint::body(&kept_cp.origin, n, &range.root());
    let forger = SigningKey::from_bytes(&[7; 32]);
    let sig = forger.sign(body.as_bytes()).to_bytes();
    let fake = checkpoint::signed_note(&body, "passerelle-audit", key_id_of(&pub_line), &sig);
    set_head(&t, &range, &fake);
    let e = assert_caught(
        &d,
        &[],
        Some(k),
        "tree recomputed, head signed with another key",
    );
    assert!(e.contains("signed checkpoint"), "{e}");
    // Without the checkpoint folder, the signature alone catches it (no entry to name).
    std::fs::remove_file(d.data_dir().join("checkpoints/checkpoints.jsonl")).expect("rm");
    let e = assert_caught(&d, &[], None, "tree recomputed, no folder");
    assert!(e.contains("head checkpoint does not verify"), "{e}");

    // ---- roll the head back to an older signed head ----
    let m = n - 3;
    let older_line = folder_lines(&base)
        .into_iter()
        .find(|l| l["size"] == m)
        .expect("the folder keeps a checkpoint per append");
    let older_text = older_line["checkpoint"].as_str().expect("text").to_owned();
    let rollback = |cut_folder: bool| {
        let d = clone(&base);
        let t = Db::of(&d);
        t.disable_triggers();
        t.sql(&format!("DELETE FROM audit_leaves WHERE seq >= {m}"));
        let hashes: Vec<Hash> = leaves[..m as usize].iter().map(|l| l.2).collect();
        set_head(&t, &compact(&hashes), &older_text);
        if cut_folder {
            let kept_lines: String = folder_lines(&d)
                .into_iter()
                .filter(|l| l["size"].as_u64().is_some_and(|s| s <= m))
                .map(|l| format!("{l}\n"))
                .collect();
            std::fs::write(
                d.data_dir().join("checkpoints/checkpoints.jsonl"),
                kept_lines,
            )
            .expect("cut folder");
        }
        d
    };
    // The folder still holds the newer checkpoints: caught.
    let d = rollback(false);
    let e = assert_caught(&d, &[], Some(m), "rolled back, folder intact");
    assert!(e.contains("rolled back"), "{e}");
    // The folder was cut too: the database and the folder agree on the older head, and
    // nothing they hold can tell; the checkpoint an auditor kept elsewhere does.
    let d = rollback(true);
    assert_intact(&d, &[]);
    let e = assert_caught(
        &d,
        &["--against", kept.to_str().unwrap()],
        Some(m),
        "rolled back, folder cut, --against a newer kept checkpoint",
    );
    assert!(e.contains("--against"), "{e}");

    // ---- exports and proofs, offline ----
    offline_checks(&base, &act, &pub_line);
}

fn offline(args: &[&str]) -> (i32, String, String) {
    // No data dir, no database URL: nothing but the files given.
    let out = Command::new(bin())
        .args(["--data-dir", "/nonexistent/passerelle"])
        .args(args)
        .env_remove("PASSERELLE_DATABASE_URL")
        .env_remove("PASSERELLE_DATA_DIR")
        .env_remove("PASSERELLE_KEYS_DIR")
        .output()
        .expect("passerelle runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.to_str().expect("utf-8 path").to_owned()
}

fn offline_checks(base: &Deployment, act: &Activity, pub_line: &str) {
    let d = clone(base);
    let before = Db::of(&d).head_size();
    let export = d.ok(&["audit", "export", "--format", "jsonl"]);
    // The export recorded itself, first, and covers its own record.
    let db = Db::of(&d);
    assert_eq!(db.head_size(), before + 1);
    let lines: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines[0]["type"], "header");
    assert_eq!(lines[0]["size"], before + 1);
    let last_leaf = &lines[lines.len() - 3];
    assert_eq!(last_leaf["entry"]["action"], "audit.exported");
    assert_eq!(lines[lines.len() - 2]["type"], "checkpoint");
    assert_eq!(lines[lines.len() - 1]["verifier_key"], pub_line.trim());
    // The 226-14 3° report is flagged, with its legal basis.
    let legal = lines
        .iter()
        .find(|l| {
            l["entry"]["action"] == "referral.filed"
                && l["entry"]["targets"]["referral"] == act.legal_referral.as_str()
        })
        .expect("the 226-14 filing's leaf");
    assert_eq!(legal["entry"]["legal_basis"], "legal_exception_226_14");
    assert_eq!(legal["entry"]["flag_226_14"], true);
    let ordinary = lines
        .iter()
        .find(|l| {
            l["entry"]["action"] == "referral.filed"
                && l["entry"]["targets"]["referral"] == act.referral.as_str()
        })
        .expect("the consented filing's leaf");
    assert_eq!(ordinary["entry"]["legal_basis"], "consent");
    assert_eq!(ordinary["entry"]["flag_226_14"], false);
    for v in VICTIM {
        assert!(!export.contains(v), "{v:?} in the export");
    }

    // Offline, with the public key alone, in a folder of its own.
    let dir = tempfile::tempdir().expect("temp dir");
    let key = write(dir.path(), "audit-signing.pub", pub_line);
    let file = write(dir.path(), "export.jsonl", &export);
    let (code, out, err) = offline(&["audit", "verify-export", &file, "--key", &key]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("{} entries", before + 1)), "{out}");
    // The report and the prosecutor's read of it.
    let flagged = lines
        .iter()
        .filter(|l| l["entry"]["legal_basis"] == "legal_exception_226_14")
        .count();
    assert_eq!(flagged, 2);
    assert!(out.contains("226-14 3° flags: 2"), "{out}");
    let kept = write(dir.path(), "kept.txt", &d.ok(&["audit", "checkpoint"]));
    let (code, _, err) = offline(&[
        "audit",
        "verify-export",
        &file,
        "--key",
        &key,
        "--against",
        &kept,
    ]);
    assert_eq!(code, 0, "{err}");

    // Tampered exports are refused (exit 2).
    let leaf_line = lines
        .iter()
        .position(|l| l["type"] == "leaf" && l["entry"]["actor"].is_string())
        .expect("a leaf with an actor");
    let seq = lines[leaf_line]["seq"].as_u64().expect("seq");
    let mutate = |f: &dyn Fn(&mut Vec<Value>)| {
        let mut l = lines.clone();
        f(&mut l);
        l.iter().map(|v| format!("{v}\n")).collect::<String>()
    };
    let bytes = STANDARD
        .decode(lines[leaf_line]["bytes"].as_str().expect("bytes"))
        .expect("base64");
    let cases: Vec<(&str, String, Option<u64>)> = vec![
        (
            "readable actor changed",
            mutate(&|l| l[leaf_line]["entry"]["actor"] = "someone.else".into()),
            Some(seq),
        ),
        (
            "bytes changed",
            mutate(&|l| l[leaf_line]["bytes"] = STANDARD.encode(reattributed(&bytes)).into()),
            Some(seq),
        ),
        (
            "bytes and hash changed",
            mutate(&|l| {
                let b = reattributed(&bytes);
                l[leaf_line]["hash"] = hex::encode(leaf_hash(&b)).into();
                l[leaf_line]["bytes"] = STANDARD.encode(&b).into();
                let entry = l[leaf_line]["entry"]["actor"]
                    .as_str()
                    .map(|a| format!("x{}", &a[1..]));
                l[leaf_line]["entry"]["actor"] = entry.into();
            }),
            None,
        ),
        (
            "leaf removed",
            mutate(&|l| drop(l.remove(leaf_line))),
            Some(seq),
        ),
        (
            "leaves swapped",
            mutate(&|l| l.swap(leaf_line, leaf_line + 1)),
            Some(seq),
        ),
        (
            "checkpoint replaced by an older one",
            mutate(&|l| {
                let n = l.len();
                l[n - 2]["checkpoint"] = folder_lines(base)[3]["checkpoint"].clone();
            }),
            None,
        ),
        (
            "checkpoint removed",
            mutate(&|l| drop(l.remove(l.len() - 2))),
            None,
        ),
    ];
    for (what, text, entry) in cases {
        let file = write(dir.path(), "tampered.jsonl", &text);
        let (code, out, err) = offline(&["audit", "verify-export", &file, "--key", &key]);
        assert_eq!(code, 2, "{what}: not refused: {out}{err}");
        assert!(err.contains("does NOT verify"), "{what}: {err}");
        if let Some(e) = entry {
            assert!(err.contains(&format!("entry {e}: ")), "{what}: {err}");
        }
    }
    // Another key: refused.
    let other = SigningKey::from_bytes(&[3; 32]).verifying_key().to_bytes();
    let mut raw = vec![checkpoint::ED25519_TYPE];
    raw.extend_from_slice(&other);
    let other_key = write(
        dir.path(),
        "other.pub",
        &format!(
            "passerelle-audit+{}+{}\n",
            hex::encode(checkpoint::key_id("passerelle-audit", &other)),
            STANDARD.encode(raw)
        ),
    );
    let (code, _, err) = offline(&["audit", "verify-export", &file, "--key", &other_key]);
    assert_eq!(code, 2, "{err}");

    // An inclusion proof of the consented filing's leaf: checked offline, and refused
    // when anything in it changes.
    let filed_seq = ordinary["seq"].as_u64().expect("seq");
    let proof_text = d.ok(&["audit", "prove", &filed_seq.to_string()]);
    for v in VICTIM {
        assert!(!proof_text.contains(v), "{v:?} in a proof");
    }
    let proof: Value = serde_json::from_str(&proof_text).expect("proof JSON");
    // The proof holds this entry only: no other entry's bytes.
    assert!(!proof_text.contains(lines[1]["bytes"].as_str().unwrap()));
    let pfile = write(dir.path(), "proof.json", &proof_text);
    let (code, out, err) = offline(&["audit", "verify-proof", &pfile, "--key", &key]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("Entry {filed_seq} is in the audit log")),
        "{out}"
    );
    assert!(out.contains(&act.referral), "{out}");
    let tamper = |f: &dyn Fn(&mut Value)| {
        let mut p = proof.clone();
        f(&mut p);
        p.to_string()
    };
    let other_leaf = lines[2]["bytes"].clone();
    let bad_proofs: Vec<(&str, String)> = vec![
        (
            "readable field",
            tamper(&|p| p["entry"]["org"] = "avec63".into()),
        ),
        ("seq", tamper(&|p| p["seq"] = (filed_seq + 1).into())),
        ("leaf bytes", tamper(&|p| p["leaf"] = other_leaf.clone())),
        (
            "path",
            tamper(&|p| p["path"][0] = hex::encode([0u8; 32]).into()),
        ),
        (
            "tree size",
            tamper(&|p| {
                let n = p["tree_size"].as_u64().unwrap();
                p["tree_size"] = (n + 1).into();
            }),
        ),
        (
            "checkpoint",
            tamper(&|p| p["checkpoint"] = folder_lines(base)[3]["checkpoint"].clone()),
        ),
    ];
    for (what, text) in bad_proofs {
        let f = write(dir.path(), "bad-proof.json", &text);
        let (code, out, err) = offline(&["audit", "verify-proof", &f, "--key", &key]);
        assert_eq!(code, 2, "{what}: not refused: {out}{err}");
    }
    let (code, _, _) = offline(&["audit", "verify-proof", &pfile, "--key", &other_key]);
    assert_eq!(code, 2);
    // A proof of an entry that does not exist is refused, without recording anything.
    let size = db.head_size();
    let out = d.run(&["audit", "prove", &(size + 5).to_string()], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(db.head_size(), size);
    // After all that, the log (with its exports recorded) is still intact.
    assert_intact(&d, &[]);
    assert!(!contains(export.as_bytes(), NAME));
}

#[tokio::test(flavor = "multi_thread")]
async fn tamper_suite_on_sqlite() {
    suite(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tamper_suite_on_postgres() {
    if let Some(pg) = Backend::postgres() {
        suite(pg).await;
    }
}
