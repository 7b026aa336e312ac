//! Audit verification: a log of realistic leaves written straight through the store's own
//! append (one signed head per append, 10,000 appends per transaction: exactly what the
//! service writes, without HTTP), then `passerelle audit verify` timed on it, next to raw
//! SHA-256 over the same leaf bytes.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use passerelle_domain::audit::{Action, AuditLeaf, Outcome, Targets};
use passerelle_domain::enums::{ConsentBasis, Role};
use passerelle_domain::ids::{CaseId, OrgSlug, ReferralId, Username};
use passerelle_store::{NewAuditLeaf, Store};
use passerelle_store_sqlite::SqliteStore;
use passerelle_vault::Vault;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

const BATCH: u64 = 10_000;

/// What the verification measured.
pub struct Verified {
    /// Leaves in the log.
    pub leaves: u64,
    /// Bytes of leaf encodings.
    pub bytes: u64,
    /// Seconds `passerelle audit verify` took (the whole process).
    pub verify_secs: f64,
    /// Seconds raw SHA-256 took over the same leaf bytes, one hash per leaf.
    pub sha_secs: f64,
    /// Seconds the log took to write.
    pub write_secs: f64,
}

fn leaf(i: u64, t0: i64) -> AuditLeaf {
    let at = OffsetDateTime::from_unix_timestamp(t0 + (i / 1000) as i64)
        .expect("time")
        .replace_microsecond((i % 1000) as u32 * 1000)
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

/// Writes `n` leaves into the (initialised, stopped) SQLite deployment at `data_dir`,
/// appends the last signed checkpoint to its checkpoint folder as the service does, then
/// times `verify` (which runs `passerelle audit verify`).
pub async fn run(data_dir: &Path, n: u64, verify: impl FnOnce() -> Result<()>) -> Result<Verified> {
    let keys = data_dir.join("keys");
    let vault = Vault::load(&keys).context("the deployment's keys")?;
    let url = format!("sqlite://{}", data_dir.join("passerelle.db").display());
    let store = SqliteStore::connect(&url, &keys.join("keystore.db"))
        .await
        .context("the deployment's database")?;
    let t0 = OffsetDateTime::now_utc().unix_timestamp() - (n / 1000) as i64 - 10;
    let t = Instant::now();
    let mut bytes_total = 0u64;
    let mut last = None;
    let mut i = 0;
    while i < n {
        let mut tx = store.begin().await?;
        for _ in 0..BATCH.min(n - i) {
            let l = leaf(i, t0);
            let b = l.encode();
            bytes_total += b.len() as u64;
            last = Some(tx.append_audit(&columns(&l, b), vault.signer()).await?);
            i += 1;
        }
        tx.commit().await?;
    }
    let write_secs = t.elapsed().as_secs_f64();
    let head = last.context("no leaf written")?;
    drop(store);
    let folder = data_dir.join("checkpoints");
    std::fs::create_dir_all(&folder)?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(folder.join(passerelle_core::audit::CHECKPOINTS_FILE))?;
    writeln!(
        f,
        "{}",
        serde_json::json!({"size": head.size, "checkpoint": head.checkpoint})
    )?;
    drop(f);

    // Raw SHA-256 over the same leaf bytes, one hash per leaf, bytes held in memory.
    let mut sha_secs = 0.0;
    let mut acc = 0u8;
    let mut i = 0;
    let mut chunk = Vec::with_capacity(BATCH as usize);
    while i < n {
        chunk.clear();
        chunk.extend((i..(i + BATCH).min(n)).map(|j| leaf(j, t0).encode()));
        let t = Instant::now();
        for b in &chunk {
            acc ^= Sha256::digest(b)[0];
        }
        sha_secs += t.elapsed().as_secs_f64();
        i += chunk.len() as u64;
    }
    std::hint::black_box(acc);

    let t = Instant::now();
    verify()?;
    let verify_secs = t.elapsed().as_secs_f64();
    Ok(Verified {
        leaves: head.size,
        bytes: bytes_total,
        verify_secs,
        sha_secs,
        write_secs,
    })
}
