//! Benchmark: leaves verified per second by `passerelle audit verify` (streamed from
//! SQLite in pages, every check of [`AuditLog::verify`]) on a log of 1,000,000 realistic
//! leaves, next to the raw SHA-256 throughput of the same machine, as a ratio.
//!
//! ```text
//! cargo bench -p passerelle-core --bench audit_verify
//! PASSERELLE_BENCH_LEAVES=100000 cargo bench -p passerelle-core --bench audit_verify
//! ```
//!
//! The log is written through the store's own append (one signature per append, batches
//! of 10,000 per transaction), so it is exactly what the service writes.

use std::sync::Arc;
use std::time::Instant;

use passerelle_core::audit::{AuditLog, CHECKPOINTS_FILE, VerifierKey};
use passerelle_domain::audit::{Action, AuditLeaf, Outcome, Targets};
use passerelle_domain::enums::{ConsentBasis, Role};
use passerelle_domain::ids::*;
use passerelle_domain::merkle::leaf_hash;
use passerelle_domain::verify::Verifier;
use passerelle_store::{NewAuditLeaf, Store};
use passerelle_store_sqlite::SqliteStore;
use passerelle_vault::Vault;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

const BATCH: u64 = 10_000;

fn leaf(i: u64) -> AuditLeaf {
    let at = OffsetDateTime::from_unix_timestamp(1_800_000_000 + (i / 10) as i64)
        .expect("time")
        .replace_microsecond((i % 1_000_000) as u32)
        .expect("micros");
    let id = |salt: u64| Uuid::from_u64_pair(salt, i);
    AuditLeaf {
        at,
        actor: Some(Username::parse(&format!("user.{}", i % 150)).expect("username")),
        actor_org: Some(OrgSlug::parse(&format!("org{}", i % 12)).expect("slug")),
        role: Some(Role::Receiver),
        action: [
            Action::ReferralRead,
            Action::ReferralFiled,
            Action::MessageRead,
        ][i as usize % 3],
        targets: Targets {
            referral: Some(ReferralId(id(1))),
            case: Some(CaseId(id(2))),
            ..Targets::default()
        },
        outcome: Outcome::Allowed,
        legal_basis: Some(ConsentBasis::Consent),
        request_id: Some(id(3).to_string()),
        ciphertext_sha256: if i % 3 == 1 { vec![[7u8; 32]] } else { vec![] },
    }
}

fn columns(l: &AuditLeaf, bytes: Vec<u8>) -> NewAuditLeaf {
    NewAuditLeaf {
        at: l.at,
        bytes,
        actor: l.actor.as_ref().map(|u| u.as_str().to_owned()),
        org: l.actor_org.as_ref().map(|o| o.as_str().to_owned()),
        action: l.action.as_str().to_owned(),
        target: l.targets.main().map(|u| u.to_string()),
        case_id: l.targets.case,
    }
}

fn rate(n: u64, secs: f64) -> f64 {
    n as f64 / secs
}

#[tokio::main]
async fn main() {
    let n: u64 = std::env::var("PASSERELLE_BENCH_LEAVES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = dir.path().join("keys");
    passerelle_vault::init_keys(&keys).expect("keys");
    let vault = Vault::load(&keys).expect("vault");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = SqliteStore::connect(&url, &dir.path().join("keystore.db"))
        .await
        .expect("store");
    store.migrate().await.expect("migrate");
    let store: Arc<dyn Store> = Arc::new(store);

    // ---- the log ----
    eprintln!("writing {n} leaves (one signed head per append)…");
    let t = Instant::now();
    let mut bytes_total = 0u64;
    let mut last = None;
    let mut i = 0;
    while i < n {
        let mut tx = store.begin().await.expect("begin");
        for _ in 0..BATCH.min(n - i) {
            let l = leaf(i);
            let b = l.encode();
            bytes_total += b.len() as u64;
            last = Some(
                tx.append_audit(&columns(&l, b), vault.signer())
                    .await
                    .expect("append"),
            );
            i += 1;
        }
        tx.commit().await.expect("commit");
    }
    let head = last.expect("a head");
    let checkpoints = dir.path().join("checkpoints");
    std::fs::create_dir_all(&checkpoints).expect("folder");
    std::fs::write(
        checkpoints.join(CHECKPOINTS_FILE),
        format!(
            "{}\n",
            serde_json::json!({"size": head.size, "checkpoint": head.checkpoint})
        ),
    )
    .expect("checkpoint");
    let write_secs = t.elapsed().as_secs_f64();
    eprintln!(
        "written in {write_secs:.1} s ({:.0} appends/s), {:.1} MiB of leaf bytes (mean {} bytes)",
        rate(n, write_secs),
        bytes_total as f64 / (1 << 20) as f64,
        bytes_total / n
    );

    // ---- raw SHA-256 of the same machine ----
    let leaves: Vec<Vec<u8>> = (0..n.min(200_000)).map(|i| leaf(i).encode()).collect();
    let sample = leaves.len() as u64;
    let t = Instant::now();
    let mut acc = 0u8;
    for b in &leaves {
        acc ^= Sha256::digest(b)[0];
    }
    let sha_leaf = rate(sample, t.elapsed().as_secs_f64());
    let big = vec![0x5au8; 256 << 20];
    let t = Instant::now();
    acc ^= Sha256::digest(&big)[0];
    let sha_mib = 256.0 / t.elapsed().as_secs_f64();
    std::hint::black_box(acc);

    // ---- the domain verifier alone, leaves in memory (no database) ----
    let pk = vault.signer().public_key();
    let t = Instant::now();
    let mut v = Verifier::new(vault.signer().name(), &pk, None).expect("verifier");
    for (s, b) in leaves.iter().enumerate() {
        v.feed(s as u64, b, &leaf_hash(b)).expect("intact");
    }
    let domain = rate(sample, t.elapsed().as_secs_f64());

    // ---- reading the rows alone, pages of PAGE ----
    let t = Instant::now();
    let mut next = 0;
    let mut rows = 0u64;
    loop {
        let page = store
            .audit_leaves(next, passerelle_core::audit::PAGE)
            .await
            .expect("page");
        let Some(last) = page.last() else { break };
        next = last.seq + 1;
        rows += page.len() as u64;
    }
    assert_eq!(rows, n);
    let read = rate(n, t.elapsed().as_secs_f64());

    // ---- `passerelle audit verify`: SQLite, pages of PAGE, every check ----
    let log = AuditLog::new(
        store.clone(),
        VerifierKey {
            name: vault.signer().name().to_owned(),
            public_key: pk,
        },
        &checkpoints,
    );
    let t = Instant::now();
    let report = log.verify(None).await.expect("verify ran");
    let secs = t.elapsed().as_secs_f64();
    let summary = report.outcome.expect("the log is intact");
    assert_eq!(summary.entries, n);
    assert_eq!(summary.kept_size, Some(n));
    let full = rate(n, secs);

    println!("audit verify benchmark ({n} leaves, SQLite)");
    println!(
        "  raw SHA-256:                {sha_leaf:>12.0} leaf hashes/s ({sha_mib:.0} MiB/s on 256 MiB)"
    );
    println!(
        "  domain verifier (memory):   {domain:>12.0} leaves/s   ratio to raw SHA-256 {:.2}",
        domain / sha_leaf
    );
    println!("  reading the rows alone:     {read:>12.0} rows/s");
    println!(
        "  audit verify (SQLite):      {full:>12.0} leaves/s   ratio to raw SHA-256 {:.2}   ({secs:.1} s)",
        full / sha_leaf
    );
}
