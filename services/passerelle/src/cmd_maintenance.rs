//! `passerelle backup DIR`, `passerelle restore DIR` and `passerelle migrate-to URL`: the
//! operator's maintenance commands. They print ids, counts and digests only.
//!
//! A backup folder holds the database copies and `manifest.json`:
//! `{"format": "passerelle-backup/1", "backend", "created_at", "version",
//!   "audit": {"size", "root", "checkpoint"}, "files": {NAME: {"sha256", "bytes"}}}`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::Arc;

use anyhow::{Context, bail};
use passerelle_core::{Core, RequestCtx, SystemClock};
use passerelle_store::Store;
use passerelle_store::transfer::{Area, Table, load_order};
use passerelle_store_postgres::PgStore;
use passerelle_store_sqlite::SqliteStore;
use passerelle_vault::Vault;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{Config, redact_url};

/// The manifest's format name.
pub const MANIFEST_FORMAT: &str = "passerelle-backup/1";
/// The job whose leadership a running `serve` holds (see `leader_jobs`).
const SERVE_JOB: &str = "checkpoint-witness";
/// Rows read per page while copying.
const COPY_PAGE: u32 = 500;
/// Bytes of values read per page while copying (attachment chunks are large).
const COPY_PAGE_BYTES: usize = 32 * 1024 * 1024;
/// Referrals opened on the target of a migration.
const SAMPLE: usize = 25;

/// `manifest.json` of a backup folder.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// When the backup was taken (RFC 3339).
    pub created_at: String,
    /// The version of passerelle that took it.
    pub version: String,
    /// The audit head at backup time.
    pub audit: ManifestAudit,
    /// Every file of the backup, by name.
    pub files: std::collections::BTreeMap<String, ManifestFile>,
}

/// The audit head recorded in a manifest.
#[derive(Debug, Serialize, Deserialize)]
pub struct ManifestAudit {
    /// Entries in the log (for PostgreSQL: at least this many are in the dump).
    pub size: u64,
    /// Root (hex).
    pub root: String,
    /// Its signed checkpoint ("" for an empty log).
    pub checkpoint: String,
}

/// One file of a backup.
#[derive(Debug, Serialize, Deserialize)]
pub struct ManifestFile {
    /// SHA-256 (hex).
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

fn file_entry(path: &Path) -> anyhow::Result<ManifestFile> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        h.update(&buf[..n]);
    }
    Ok(ManifestFile {
        sha256: hex::encode(h.finalize()),
        bytes,
    })
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn stamp() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

fn is_sqlite(config: &Config) -> bool {
    config.database_url.starts_with("sqlite:")
}

async fn sqlite_store(config: &Config) -> anyhow::Result<SqliteStore> {
    let keystore = config.keys_dir.join("keystore.db");
    SqliteStore::connect(&config.database_url, &keystore)
        .await
        .with_context(|| {
            format!(
                "cannot open the SQLite database {}",
                redact_url(&config.database_url)
            )
        })
}

fn core_on(config: &Config, store: Arc<dyn Store>) -> anyhow::Result<Core> {
    let vault = Vault::load(&config.keys_dir)
        .with_context(|| format!("cannot load the keys from {}", config.keys_dir.display()))?;
    std::fs::create_dir_all(&config.checkpoint_dir)?;
    Ok(Core::new(
        store,
        Arc::new(vault),
        Arc::new(SystemClock),
        config.checkpoint_dir.clone(),
    ))
}

/// Refuses while a `serve` runs on this database: it holds the background jobs' lock.
async fn ensure_not_serving(store: &dyn Store, what: &str) -> anyhow::Result<()> {
    match store.try_leader(SERVE_JOB).await {
        Ok(Some(guard)) => {
            guard.release().await;
            Ok(())
        }
        Ok(None) => bail!(
            "a `passerelle serve` is running on this database: stop every instance before {what}"
        ),
        Err(e) => Err(anyhow::anyhow!("{e}")).context("cannot check for a running service"),
    }
}

/// A PostgreSQL URL without its password, and the password for `PGPASSWORD` (so that it
/// never appears in a process list).
fn split_password(url: &str) -> (String, Option<String>) {
    if let (Some(s), Some(at)) = (url.find("://"), url.rfind('@'))
        && at > s
    {
        let creds = &url[s + 3..at];
        if let Some(c) = creds.find(':') {
            let password = percent_encoding::percent_decode_str(&creds[c + 1..])
                .decode_utf8_lossy()
                .into_owned();
            let bare = format!("{}{}{}", &url[..s + 3], &creds[..c], &url[at..]);
            return (bare, Some(password));
        }
    }
    (url.to_owned(), None)
}

fn pg_tool(tool: &str, url: &str, args: &[&str]) -> anyhow::Result<()> {
    let (bare, password) = split_password(url);
    let mut c = Process::new(tool);
    c.args(args).arg("--dbname").arg(&bare);
    if let Some(p) = password {
        c.env("PGPASSWORD", p);
    }
    let out = c.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!(
                "{tool} is not installed: install the PostgreSQL client tools (Debian: postgresql-client, the server's major version) or back up with your PostgreSQL tooling (base backups and WAL archiving, see deploy/README.md)"
            )
        } else {
            anyhow::anyhow!("cannot run {tool}: {e}")
        }
    })?;
    if !out.status.success() {
        bail!(
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// backup
// ---------------------------------------------------------------------------------------

/// `passerelle backup DIR`.
pub async fn backup(config: &Config, dir: &Path) -> anyhow::Result<()> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} exists and is not empty: give a new folder per backup",
            dir.display()
        );
    }
    private_dir(dir)?;
    let mut files = std::collections::BTreeMap::new();
    let (backend, head) = if is_sqlite(config) {
        let store = sqlite_store(config).await?;
        let copy = store
            .backup_into(dir)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("the online copy failed")?;
        store.close().await;
        for p in [&copy.main, &copy.keystore] {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            files.insert(name, file_entry(p)?);
        }
        ("sqlite", copy.head.map(|h| (h.size, h.root, h.checkpoint)))
    } else {
        // The head first: the dump then holds at least these entries.
        let store = PgStore::connect(&config.database_url)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("cannot connect to {}", redact_url(&config.database_url)))?;
        let head = store
            .audit_head()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .map(|h| (h.size, h.root, h.checkpoint));
        store.close().await;
        for (name, scope) in [
            ("main.pgdump", "--exclude-schema=keystore"),
            ("keystore.pgdump", "--schema=keystore"),
        ] {
            let path = dir.join(name);
            let p = path.to_string_lossy().into_owned();
            pg_tool(
                "pg_dump",
                &config.database_url,
                &["--format=custom", "--no-owner", scope, "--file", &p],
            )?;
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            }
            files.insert(name.to_owned(), file_entry(&path)?);
        }
        ("postgres", head)
    };
    let (size, root, checkpoint) = head.unwrap_or((
        0,
        passerelle_domain::merkle::CompactRange::empty().root(),
        String::new(),
    ));
    let manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        backend: backend.into(),
        created_at: now_rfc3339(),
        version: env!("CARGO_PKG_VERSION").into(),
        audit: ManifestAudit {
            size,
            root: hex::encode(root),
            checkpoint,
        },
        files,
    };
    let path = dir.join("manifest.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest)?)?;
    println!(
        "Backup of the {backend} deployment written to {} (audit log: {size} entries, root {}).",
        dir.display(),
        manifest.audit.root
    );
    for (name, f) in &manifest.files {
        println!("  {name}\t{} bytes\tsha256 {}", f.bytes, f.sha256);
    }
    println!(
        "Keep the keystore copy for a shorter time than the rest (see SECURITY.md); the keys folder is not in it."
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// restore
// ---------------------------------------------------------------------------------------

/// Where the shreds recorded after the backup come from.
pub struct ShredSource {
    /// An audit export (`passerelle audit export`, JSON lines) to read them from when the
    /// live database is gone.
    pub audit_export: Option<PathBuf>,
    /// Restore even without any record of later shreds (recorded in the output).
    pub without_shred_log: bool,
}

/// Shreds since `from` in an audit export (`passerelle audit export`: JSON lines, one
/// `{"type": "leaf", "seq", "hash", "bytes"}` per entry). Each entry's canonical bytes are
/// checked against its hash and decoded; the readable fields are not trusted.
fn shreds_in_export(path: &Path, from: u64) -> anyhow::Result<Vec<String>> {
    use base64::Engine;
    use passerelle_domain::audit::{Action, AuditLeaf};
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the audit export {}", path.display()))?;
    let mut out = Vec::new();
    let mut entries = 0u64;
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("line {} of the export is not JSON", n + 1))?;
        if v.get("type").and_then(|t| t.as_str()) != Some("leaf") {
            continue;
        }
        let bad = || anyhow::anyhow!("line {} of the export is not a valid entry", n + 1);
        let seq = v.get("seq").and_then(|s| s.as_u64()).ok_or_else(bad)?;
        let bytes = v
            .get("bytes")
            .and_then(|b| b.as_str())
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .ok_or_else(bad)?;
        let hash = v.get("hash").and_then(|h| h.as_str()).ok_or_else(bad)?;
        if hex::encode(passerelle_domain::merkle::leaf_hash(&bytes)) != hash {
            bail!("entry {seq} of the export does not match its hash: the export was altered");
        }
        let leaf = AuditLeaf::decode(&bytes).map_err(|_| bad())?;
        entries += 1;
        if seq >= from
            && leaf.action == Action::ContentShredded
            && let Some(id) = leaf.targets.referral
        {
            let id = id.to_string();
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    if entries == 0 {
        bail!("{} holds no audit entry", path.display());
    }
    Ok(out)
}

/// `passerelle restore DIR`.
pub async fn restore(config: &Config, dir: &Path, source: ShredSource) -> anyhow::Result<()> {
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(dir.join("manifest.json"))
            .with_context(|| format!("{} holds no manifest.json", dir.display()))?,
    )
    .context("manifest.json is not a Passerelle backup manifest")?;
    if manifest.format != MANIFEST_FORMAT {
        bail!("unknown backup format {:?}", manifest.format);
    }
    let backend = if is_sqlite(config) {
        "sqlite"
    } else {
        "postgres"
    };
    if manifest.backend != backend {
        bail!(
            "this is a {} backup and the deployment uses {backend}",
            manifest.backend
        );
    }
    for (name, f) in &manifest.files {
        let got = file_entry(&dir.join(name))?;
        if got.sha256 != f.sha256 || got.bytes != f.bytes {
            bail!("{name} does not match the manifest: the backup is damaged or was altered");
        }
    }
    println!(
        "Restoring the {backend} backup of {} ({} audit entries).",
        manifest.created_at, manifest.audit.size
    );

    // 1. What happened since the backup: the replaced log's root, and its shreds.
    let (replaced_root, shreds) = live_state(config, manifest.audit.size, &source).await?;
    println!(
        "  shreds recorded after the backup, to re-apply: {}",
        shreds.len()
    );

    // 2. The copy back in place; the live files aside.
    let aside = config.data_dir.join(format!("pre-restore-{}", stamp()));
    if is_sqlite(config) {
        put_back_sqlite(config, dir, &aside).await?;
    } else {
        let store = PgStore::connect(&config.database_url)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        ensure_not_serving(&store, "restoring").await?;
        store.close().await;
        for name in ["main.pgdump", "keystore.pgdump"] {
            let p = dir.join(name).to_string_lossy().into_owned();
            pg_tool(
                "pg_restore",
                &config.database_url,
                &[
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--single-transaction",
                    &p,
                ],
            )?;
        }
        println!("  database restored with pg_restore");
    }

    // 3. The checkpoint folder restarts from the restored head; the old file stays as the
    //    record of the log that was replaced.
    let store = crate::wiring::open_store(config).await?;
    let core = core_on(config, store.clone())?;
    let cp_file = config.checkpoint_dir.join("checkpoints.jsonl");
    if cp_file.exists() {
        let kept = config
            .checkpoint_dir
            .join(format!("checkpoints.jsonl.before-restore-{}", stamp()));
        std::fs::rename(&cp_file, &kept)?;
        println!(
            "  checkpoints of the replaced log kept in {}",
            kept.display()
        );
    }
    if let Some(head) = store
        .audit_head()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        let line = serde_json::json!({ "size": head.size, "checkpoint": head.checkpoint });
        std::fs::write(&cp_file, format!("{line}\n"))?;
    }

    // 4. On the record: the restore, then every shred again.
    let ctx = RequestCtx::default();
    core.record_restore(replaced_root, &ctx)
        .await
        .map_err(crate::commands::explain)?;
    let mut reapplied = 0;
    for id in &shreds {
        let Ok(id) = id.parse() else { continue };
        if core
            .reapply_shred(id, &ctx)
            .await
            .map_err(crate::commands::explain)?
        {
            reapplied += 1;
        }
    }
    println!(
        "  shreds re-applied: {reapplied} (the others named referrals filed after the backup)"
    );
    if source.without_shred_log && shreds.is_empty() {
        println!(
            "  WARNING: restored without any record of shreds after the backup (--without-shred-log): content destroyed since then may be readable again; shred it by hand."
        );
    }

    // 5. Checked.
    match core
        .verify_audit_log(None)
        .await
        .map_err(crate::commands::explain)?
    {
        Ok(check) => println!(
            "Restored. Audit log intact: {} entries, root {}.",
            check.entries,
            hex::encode(check.root)
        ),
        Err(f) => bail!("the restored audit log does not verify: {f}"),
    }
    if aside.exists() {
        println!(
            "The files replaced are in {}: delete them once the service works.",
            aside.display()
        );
    }
    Ok(())
}

/// The replaced log's root and the referrals shredded since `from`, from the live database
/// (or an export).
async fn live_state(
    config: &Config,
    from: u64,
    source: &ShredSource,
) -> anyhow::Result<(Option<[u8; 32]>, Vec<String>)> {
    let opened: anyhow::Result<(Core, Closer)> = async {
        if is_sqlite(config) {
            let path = config
                .database_url
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:");
            if !Path::new(path).exists() {
                bail!("no live database");
            }
            let store = Arc::new(sqlite_store(config).await?);
            store.migrate().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok((core_on(config, store.clone())?, Closer::Sqlite(store)))
        } else {
            let store = Arc::new(
                PgStore::connect(&config.database_url)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            );
            store.migrate().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok((core_on(config, store.clone())?, Closer::Pg(store)))
        }
    }
    .await;
    let (root, mut shreds) = match opened {
        Ok((core, closer)) => {
            let root = core
                .audit_head_summary()
                .await
                .map_err(crate::commands::explain)?
                .map(|(_, r)| r);
            let ids = core
                .shreds_since(from)
                .await
                .map_err(crate::commands::explain)?;
            drop(core);
            // Every connection closed before the files move: SQLite removes its WAL file
            // by name when the last connection closes.
            closer.close().await;
            (root, ids.iter().map(|i| i.to_string()).collect::<Vec<_>>())
        }
        Err(e) => {
            if source.audit_export.is_none() && !source.without_shred_log {
                bail!(
                    "the live database cannot be read ({e:#}), so the shreds recorded since the backup are unknown: give an audit export with --audit-export FILE, or --without-shred-log to restore anyway (content shredded since the backup could come back)"
                );
            }
            (None, Vec::new())
        }
    };
    if let Some(export) = &source.audit_export {
        for id in shreds_in_export(export, from)? {
            if !shreds.contains(&id) {
                shreds.push(id);
            }
        }
    }
    Ok((root, shreds))
}

/// A concrete store to close.
enum Closer {
    Sqlite(Arc<SqliteStore>),
    Pg(Arc<PgStore>),
}

impl Closer {
    async fn close(self) {
        match self {
            Closer::Sqlite(s) => s.close().await,
            Closer::Pg(s) => s.close().await,
        }
    }
}

async fn put_back_sqlite(config: &Config, dir: &Path, aside: &Path) -> anyhow::Result<()> {
    let live = sqlite_store(config).await?;
    ensure_not_serving(&live, "restoring").await?;
    let db = live.database_path();
    let keystore = live.keystore_path();
    live.close().await;
    private_dir(aside)?;
    let mut moved = 0;
    for p in [
        db.clone(),
        with_suffix(&db, "-wal"),
        with_suffix(&db, "-shm"),
        keystore.clone(),
        with_suffix(&keystore, "-journal"),
    ] {
        if p.exists() {
            let name = p.file_name().unwrap_or_default();
            std::fs::rename(&p, aside.join(name))
                .with_context(|| format!("cannot move {} aside", p.display()))?;
            moved += 1;
        }
    }
    if moved == 0 {
        std::fs::remove_dir(aside)?;
    }
    for (from, to) in [
        (dir.join("passerelle.db"), &db),
        (dir.join("keystore.db"), &keystore),
    ] {
        copy_private(&from, to)?;
    }
    println!("  database and keystore copied back");
    Ok(())
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn copy_private(from: &Path, to: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut src =
        std::fs::File::open(from).with_context(|| format!("cannot read {}", from.display()))?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .with_context(|| format!("cannot create {}", to.display()))?;
    std::io::copy(&mut src, &mut dst)?;
    dst.sync_all()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// migrate-to
// ---------------------------------------------------------------------------------------

/// `passerelle migrate-to postgres://…`.
pub async fn migrate_to(config: &Config, url: &str) -> anyhow::Result<()> {
    if !is_sqlite(config) {
        bail!("migrate-to copies a SQLite deployment; this one already uses PostgreSQL");
    }
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        bail!("the target must be a postgres:// URL");
    }
    let source = sqlite_store(config).await?;
    source
        .migrate()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("cannot bring the source schema up to date")?;
    ensure_not_serving(&source, "migrating").await?;
    let target = PgStore::connect(url)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("cannot connect to {}", redact_url(url)))?;
    target
        .migrate()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("cannot create the schema on the target")?;
    if !target
        .is_empty_deployment()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        bail!("the target database already holds a deployment: give an empty database (createdb)");
    }
    println!(
        "Copying {} to {}",
        redact_url(&config.database_url),
        redact_url(url)
    );

    let catalog = target.catalog().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let tables = source.tables().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    check_same_schema(&catalog, &tables)?;
    let order = load_order(&catalog).map_err(|e| anyhow::anyhow!(e))?;
    let mut copied_total = 0u64;
    for table in &order {
        let src = tables
            .iter()
            .find(|t| t.area == table.area && t.name == table.name)
            .expect("checked above");
        let total = source
            .count_rows(table.area, &table.name)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut done = 0u64;
        // rowids may start at 0 (an INTEGER PRIMARY KEY from 0, like audit seqs) or below.
        let mut after = if src.without_rowid { 0 } else { i64::MIN };
        loop {
            let (rows, next) = source
                .export_rows(table, src.without_rowid, after, COPY_PAGE, COPY_PAGE_BYTES)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| format!("reading {}", table.name))?;
            target
                .import_rows(table, &rows)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            done += rows.len() as u64;
            if total > 10 * u64::from(COPY_PAGE) && next.is_some() {
                println!("  {}.{}: {done}/{total}", table.area.as_str(), table.name);
            }
            match next {
                Some(n) => after = n,
                None => break,
            }
        }
        println!("  {}.{}: {done} rows", table.area.as_str(), table.name);
        copied_total += done;
    }
    target
        .finish_import(&catalog)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    println!("Checking the copy…");
    for table in &catalog {
        let a = source
            .count_rows(table.area, &table.name)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let b = target
            .count_rows(table.area, &table.name)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if a != b {
            bail!(
                "{}.{}: {a} rows in the source, {b} in the target",
                table.area.as_str(),
                table.name
            );
        }
    }
    println!("  row counts equal in every table ({copied_total} rows)");
    source.close().await;
    let core = core_on(config, Arc::new(target))?;
    let check = match core
        .verify_audit_log(None)
        .await
        .map_err(crate::commands::explain)?
    {
        Ok(c) => c,
        Err(f) => bail!("the audit log on the target does not verify: {f}"),
    };
    println!(
        "  audit log intact on the target: {} entries, root {}",
        check.entries,
        hex::encode(check.root)
    );
    let sample = core
        .check_decryption_sample(SAMPLE)
        .await
        .map_err(crate::commands::explain)?;
    println!(
        "  referrals opened on the target: {} (and {} destroyed ones skipped)",
        sample.opened, sample.shredded
    );
    core.record_migration(&RequestCtx::default())
        .await
        .map_err(crate::commands::explain)?;
    println!("Done. Now set PASSERELLE_DATABASE_URL to the target and restart the service;");
    println!(
        "keep {} until the service runs on PostgreSQL, then delete it and its keystore.",
        redact_url(&config.database_url)
    );
    Ok(())
}

fn check_same_schema(
    catalog: &[Table],
    tables: &[passerelle_store_sqlite::SqliteTable],
) -> anyhow::Result<()> {
    for t in catalog {
        let Some(s) = tables.iter().find(|s| s.area == t.area && s.name == t.name) else {
            bail!(
                "table {}.{} exists on PostgreSQL but not in SQLite: the two schemas differ",
                t.area.as_str(),
                t.name
            );
        };
        let pg: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        let lite: Vec<&str> = s.columns.iter().map(String::as_str).collect();
        let mut a = pg.clone();
        let mut b = lite.clone();
        a.sort_unstable();
        b.sort_unstable();
        if a != b {
            bail!(
                "table {}: columns differ between PostgreSQL ({}) and SQLite ({})",
                t.name,
                pg.join(", "),
                lite.join(", ")
            );
        }
    }
    for s in tables {
        if !catalog.iter().any(|t| t.area == s.area && t.name == s.name) {
            bail!(
                "table {}.{} exists in SQLite but not on PostgreSQL: the two schemas differ",
                match s.area {
                    Area::Main => "main",
                    Area::Keystore => "keystore",
                },
                s.name
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_url() {
        assert_eq!(
            split_password("postgres://app:s%40cret@db:5432/p"),
            ("postgres://app@db:5432/p".into(), Some("s@cret".into()))
        );
        assert_eq!(
            split_password("postgres://db/p"),
            ("postgres://db/p".into(), None)
        );
    }
}
