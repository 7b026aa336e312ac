//! Audit verification: a log of realistic leaves written straight through the store's own
//! append (one signed head per append, 10,000 appends per transaction: exactly what the
//! service writes, without HTTP), then `passerelle audit verify` timed on it, next to raw
//! SHA-256 over the same leaf bytes. Two floors explain the distance: SQLite reading the
//! same rows with no check at all, and the RFC 6962 tree's own hashing (leaf hashes and
//! interior nodes, in memory), with the SHA-256 blocks it needs counted.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use passerelle_domain::audit::{Action, AuditLeaf, Outcome, Targets};
use passerelle_domain::enums::{ConsentBasis, Role};
use passerelle_domain::ids::{CaseId, OrgSlug, ReferralId, Username};
use passerelle_domain::merkle::{CompactRange, leaf_hash};
use passerelle_store::Store;
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
    /// Seconds SQLite took to read every column of every leaf row, no check (one
    /// aggregate statement; the floor of any reader).
    pub read_secs: f64,
    /// Seconds the store took to read the leaves as `audit verify` does (packed pages,
    /// split), no check.
    pub batch_secs: f64,
    /// Seconds the RFC 6962 tree's hashing took in memory (leaf hashes and interior
    /// nodes through the domain's compact range), no reading, decoding or comparison.
    pub tree_secs: f64,
    /// SHA-256 compression blocks of raw SHA-256, one hash per leaf.
    pub raw_blocks: u64,
    /// SHA-256 compression blocks of the RFC 6962 tree: each leaf hash (`0x00 || leaf`)
    /// and the n - 1 interior nodes (65 bytes each, 2 blocks).
    pub tree_blocks: u64,
}

/// SHA-256 compression blocks for a message of `len` bytes (padding: one 0x80 byte and an
/// 8-byte length).
pub fn sha256_blocks(len: u64) -> u64 {
    (len + 9).div_ceil(64)
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
            let row = passerelle_core::audit::stored_leaf(&leaf(i, t0));
            bytes_total += row.bytes.len() as u64;
            last = Some(tx.append_audit(&row, vault.signer()).await?);
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

    // The floors, after the verification (same warm page cache).
    let (read_secs, read_bytes) = read_rows(data_dir).await?;
    anyhow::ensure!(read_bytes >= bytes_total, "the plain read saw fewer bytes");
    let store = SqliteStore::connect(&url, &keys.join("keystore.db")).await?;
    let t = Instant::now();
    let mut next = 0;
    let mut read = 0u64;
    loop {
        let batch = store.audit_leaf_batch(next, 10_000).await?;
        for l in batch.iter() {
            read += l?.bytes.len() as u64;
        }
        match batch.last_seq() {
            Some(last) if batch.len() == 10_000 => next = last + 1,
            _ => break,
        }
    }
    let batch_secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(read == bytes_total, "the packed read saw other bytes");
    drop(store);

    let (mut tree_secs, mut raw_blocks, mut tree_blocks) = (0.0, 0, 0);
    let mut range = CompactRange::empty();
    let mut i = 0;
    while i < n {
        chunk.clear();
        chunk.extend((i..(i + BATCH).min(n)).map(|j| leaf(j, t0).encode()));
        for b in &chunk {
            raw_blocks += sha256_blocks(b.len() as u64);
            tree_blocks += sha256_blocks(1 + b.len() as u64);
        }
        let t = Instant::now();
        for b in &chunk {
            range.append(leaf_hash(b));
        }
        tree_secs += t.elapsed().as_secs_f64();
        i += chunk.len() as u64;
    }
    tree_blocks += n.saturating_sub(1) * sha256_blocks(65);
    anyhow::ensure!(
        range.root() == head.root,
        "the tree's root is the signed head's"
    );
    Ok(Verified {
        leaves: head.size,
        bytes: bytes_total,
        verify_secs,
        sha_secs,
        write_secs,
        read_secs,
        batch_secs,
        tree_secs,
        raw_blocks,
        tree_blocks,
    })
}

/// SQLite (bundled, through sqlx, read-only) reading every column `audit verify` reads
/// of every leaf row, in one aggregate statement: (seconds, leaf bytes seen).
async fn read_rows(data_dir: &Path) -> Result<(f64, u64)> {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection};
    let mut conn = SqliteConnectOptions::new()
        .filename(data_dir.join("passerelle.db"))
        .read_only(true)
        .connect()
        .await?;
    let t = Instant::now();
    let (leaf_bytes, _all): (i64, f64) = sqlx::query_as(
        "SELECT sum(octet_length(bytes)), total(seq + at + octet_length(bytes) \
             + octet_length(leaf_hash) + ifnull(octet_length(actor), 0) \
             + ifnull(octet_length(org), 0) + octet_length(action) \
             + ifnull(octet_length(target), 0) + ifnull(octet_length(case_id), 0)) \
         FROM audit_leaves",
    )
    .fetch_one(&mut conn)
    .await?;
    let secs = t.elapsed().as_secs_f64();
    conn.close().await?;
    Ok((secs, leaf_bytes as u64))
}
