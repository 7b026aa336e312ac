//! Shared helpers of core's integration tests: a [`Core`] on a fresh SQLite data dir or a
//! fresh PostgreSQL database (created with `psql`, dropped at the end; skipped with a note
//! without a server, except in CI), with three organisations and their users.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use passerelle_core::{Clock, Core, NewUser, Principal, RequestCtx, SystemClock};
use passerelle_domain::enums::{OrgKind, Role};
use passerelle_domain::ids::{OrgId, OrgSlug, ReferralId, Username};
use passerelle_domain::model::FilingRequest;
use passerelle_store::Store;
use passerelle_store_postgres::PgStore;
use passerelle_store_sqlite::SqliteStore;
use passerelle_vault::Vault;
use serde_json::json;

/// Victim strings used by the tests (searched for afterwards).
pub const NAME: &str = "Gwenaëlle Trouvadec-Sorlin";
/// A narrative.
pub const NARRATIVE: &str = "Quillbrook incident near the laundrette";
/// A phone number.
pub const PHONE: &str = "+33 6 48 19 27 55";

/// A fresh PostgreSQL database, dropped on drop.
pub struct PgDb {
    /// Its URL.
    pub url: String,
    name: String,
}

fn pg_admin_url() -> String {
    std::env::var("PASSERELLE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn psql(url: &str, sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql])
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

impl PgDb {
    /// A fresh database, or `None` (the test is skipped) without PostgreSQL outside CI.
    pub fn create() -> Option<PgDb> {
        let admin = pg_admin_url();
        let name = format!("passerelle_core_{}", uuid::Uuid::new_v4().simple());
        if let Err(e) = psql(&admin, &format!("CREATE DATABASE {name}")) {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("PostgreSQL is required in CI but did not answer: {e}");
            }
            eprintln!("skipped: no PostgreSQL at {admin} ({e})");
            return None;
        }
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b.to_owned())
            .unwrap_or(admin);
        Some(PgDb {
            url: format!("{base}/{name}"),
            name,
        })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = psql(
            &pg_admin_url(),
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// A core with its store and vault, on a temporary data dir.
pub struct Harness {
    /// The use cases.
    pub core: Core,
    /// The store behind it.
    pub store: Arc<dyn Store>,
    /// The SQLite store, when that is the backend.
    pub sqlite: Option<Arc<SqliteStore>>,
    /// The PostgreSQL store, when that is the backend.
    pub postgres: Option<Arc<PgStore>>,
    /// The keys.
    pub vault: Arc<Vault>,
    /// The data dir.
    pub dir: tempfile::TempDir,
    /// The PostgreSQL database, when that is the backend (dropped last).
    pub pg: Option<PgDb>,
}

/// Which backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded.
    Sqlite,
    /// Production.
    Postgres,
}

impl Harness {
    /// A harness on `backend`, or `None` when PostgreSQL is unavailable (outside CI).
    pub async fn new(backend: Backend) -> Option<Harness> {
        Harness::with_clock(backend, Arc::new(SystemClock)).await
    }

    /// A harness on `backend` whose core reads `clock` (an injected clock for tests that
    /// move time), or `None` when PostgreSQL is unavailable (outside CI).
    pub async fn with_clock(backend: Backend, clock: Arc<dyn Clock>) -> Option<Harness> {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys = dir.path().join("keys");
        passerelle_vault::init_keys(&keys).expect("init keys");
        std::fs::create_dir_all(dir.path().join("checkpoints")).expect("checkpoints");
        let vault = Arc::new(Vault::load(&keys).expect("load keys"));
        let (store, sqlite, postgres, pg): (Arc<dyn Store>, _, _, _) = match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("passerelle.db").display());
                let s = Arc::new(
                    SqliteStore::connect(&url, &keys.join("keystore.db"))
                        .await
                        .expect("sqlite"),
                );
                (s.clone(), Some(s), None, None)
            }
            Backend::Postgres => {
                let db = PgDb::create()?;
                let s = Arc::new(PgStore::connect(&db.url).await.expect("postgres"));
                (s.clone(), None, Some(s), Some(db))
            }
        };
        store.migrate().await.expect("migrate");
        let core = Core::new(
            store.clone(),
            vault.clone(),
            clock,
            dir.path().join("checkpoints"),
        );
        Some(Harness {
            core,
            store,
            sqlite,
            postgres,
            vault,
            dir,
            pg,
        })
    }

    /// A blob literal in this backend's SQL dialect.
    pub fn blob(&self, bytes: &[u8]) -> String {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        if self.sqlite.is_some() {
            format!("X'{hex}'")
        } else {
            format!("'\\x{hex}'::bytea")
        }
    }

    /// An id literal in this backend's SQL dialect.
    pub fn id(&self, id: uuid::Uuid) -> String {
        if self.sqlite.is_some() {
            self.blob(id.as_bytes())
        } else {
            format!("'{id}'::uuid")
        }
    }

    /// Runs raw SQL on the main database (what an attacker who can write it could do);
    /// returns the rows affected.
    pub async fn exec(&self, sql: String) -> u64 {
        use sqlx::AssertSqlSafe;
        match (&self.sqlite, &self.postgres) {
            (Some(s), _) => sqlx::query(AssertSqlSafe(sql))
                .execute(s.pool())
                .await
                .expect("raw SQL")
                .rows_affected(),
            (_, Some(p)) => sqlx::query(AssertSqlSafe(sql))
                .execute(p.pool())
                .await
                .expect("raw SQL")
                .rows_affected(),
            _ => unreachable!("a backend"),
        }
    }

    /// Runs raw SQL on the keystore; `key_wraps` names its table.
    pub async fn exec_keystore(&self, sql: String) -> u64 {
        use sqlx::AssertSqlSafe;
        match (&self.sqlite, &self.postgres) {
            (Some(s), _) => sqlx::query(AssertSqlSafe(sql))
                .execute(s.keystore_pool())
                .await
                .expect("raw SQL")
                .rows_affected(),
            (_, Some(p)) => sqlx::query(AssertSqlSafe(
                sql.replace("key_wraps", "keystore.key_wraps"),
            ))
            .execute(p.pool())
            .await
            .expect("raw SQL")
            .rows_affected(),
            _ => unreachable!("a backend"),
        }
    }

    /// A count from raw SQL on the main database.
    pub async fn count(&self, sql: &'static str) -> i64 {
        match (&self.sqlite, &self.postgres) {
            (Some(s), _) => sqlx::query_scalar(sql)
                .fetch_one(s.pool())
                .await
                .expect("count"),
            (_, Some(p)) => sqlx::query_scalar(sql)
                .fetch_one(p.pool())
                .await
                .expect("count"),
            _ => unreachable!("a backend"),
        }
    }

    /// The keys folder.
    pub fn keys_dir(&self) -> PathBuf {
        self.dir.path().join("keys")
    }

    /// Adds an organisation; returns its id.
    pub async fn org(&self, slug: &str, kind: OrgKind) -> OrgId {
        self.core
            .add_org(OrgSlug::parse(slug).unwrap(), slug, kind, &ctx())
            .await
            .expect("add org")
            .id
    }

    /// Adds a user and authenticates them through a token.
    pub async fn user(&self, username: &str, org: &str, role: Role) -> Principal {
        self.core
            .add_user(
                NewUser {
                    username: Username::parse(username).unwrap(),
                    org: OrgSlug::parse(org).unwrap(),
                    role,
                    health_professional: false,
                    password: None,
                },
                &ctx(),
            )
            .await
            .expect("add user");
        let t = self
            .core
            .issue_token(username, None, &ctx())
            .await
            .expect("token");
        self.core
            .authenticate_token(&t.token, &ctx())
            .await
            .expect("authenticate")
    }

    /// Police → AVEC 63, the court not party; one user each.
    pub async fn world(&self) -> World {
        let police_org = self.org("police-63", OrgKind::Police).await;
        let avec_org = self.org("avec63", OrgKind::Association).await;
        let court_org = self.org("chambre-vif", OrgKind::Court).await;
        World {
            police: self.user("iscg.martin", "police-63", Role::Referrer).await,
            psy: self.user("psy.bernard", "avec63", Role::Receiver).await,
            court: self.user("greffe.vif", "chambre-vif", Role::Receiver).await,
            police_org,
            avec_org,
            court_org,
        }
    }

    /// Files a referral from the police to AVEC 63 with victim strings.
    pub async fn file(&self, w: &World) -> ReferralId {
        self.core
            .file_referral(&w.police, filing("avec63"), &ctx())
            .await
            .expect("file")
            .id
    }
}

/// Organisations and users of a test.
pub struct World {
    /// A referrer of the police.
    pub police: Principal,
    /// A receiver of AVEC 63.
    pub psy: Principal,
    /// A receiver of the court (not party).
    pub court: Principal,
    /// Ids.
    pub police_org: OrgId,
    /// Ids.
    pub avec_org: OrgId,
    /// Ids.
    pub court_org: OrgId,
}

/// An empty request context.
pub fn ctx() -> RequestCtx {
    RequestCtx::default()
}

/// A filing to `to` with the victim strings, consent covering AVEC 63 and the court.
pub fn filing(to: &str) -> FilingRequest {
    serde_json::from_value(json!({
        "to_org": to,
        "purpose": "psychological_support",
        "urgency": "normal",
        "consent": {
            "basis": "consent",
            "method": "written",
            "obtained_at": "2026-11-29T10:00:00Z",
            "recipients": ["avec63", "chambre-vif"],
            "purposes": ["psychological_support", "court_proceedings"],
            "data_categories": ["identity", "contact", "narrative", "risk"],
            "expires_at": "2099-11-29T00:00:00Z"
        },
        "subject": { "name": NAME, "birth_date": "1990-04-02", "phone": PHONE },
        "safety": { "channel": "sms", "code_word": "Ricochet" },
        "notes": { "narrative": NARRATIVE, "risk": "Menaces de mort" }
    }))
    .expect("valid filing")
}

/// A minimal tracing subscriber recording every event as `LEVEL message field=value …`.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<std::sync::Mutex<Vec<String>>>);

struct Line<'a>(&'a mut String);

impl tracing::field::Visit for Line<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl tracing::Subscriber for Recorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = format!("{}", event.metadata().level());
        event.record(&mut Line(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

impl Recorder {
    /// Every line recorded so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// Every byte of every file under `dir`.
pub fn all_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.extend_from_slice(&bytes);
            }
        }
    }
    out
}

/// Whether any 32-byte window of the age file `needle`, past its fixed first line and
/// stanza tag (`age-encryption.org/v1\n-> X25519 `, the same in every file), occurs in
/// `hay`.
pub fn shares_32_bytes(hay: &[u8], needle: &[u8]) -> bool {
    use std::collections::HashSet;
    let windows: HashSet<&[u8]> = needle[32..].windows(32).collect();
    hay.windows(32).any(|w| windows.contains(w))
}
