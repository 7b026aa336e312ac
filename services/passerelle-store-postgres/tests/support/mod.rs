//! A PostgreSQL database of its own per test: `passerelle_t_<uuid>` created on the server of
//! `PASSERELLE_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`),
//! migrated, handed to the test, then dropped `WITH (FORCE)` even when the test panics.
//! Without a server: the test panics when `CI=true`, otherwise prints
//! "skipped: no PostgreSQL" and passes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use passerelle_store::conformance::RawExec;
use passerelle_store::{Store, StoreError, StoreResult};
use passerelle_store_postgres::PgStore;
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn admin_url() -> String {
    std::env::var("PASSERELLE_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// `url` with its database replaced by `database` (query parameters kept).
fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("URL with a scheme");
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    let authority = path.split('/').next().unwrap_or_default();
    match query {
        Some(q) => format!("{scheme}://{authority}/{database}?{q}"),
        None => format!("{scheme}://{authority}/{database}"),
    }
}

/// Runs `body` on a migrated store in a fresh database, then drops the database.
pub async fn with_fresh_store<F, Fut>(body: F)
where
    F: FnOnce(Arc<PgStore>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let url = admin_url();
    // One attempt, no retry: a missing server answers at once.
    let connecting = PgConnection::connect(&url);
    let mut admin = match tokio::time::timeout(Duration::from_secs(5), connecting)
        .await
        .unwrap_or(Err(sqlx::Error::PoolTimedOut))
    {
        Ok(conn) => conn,
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("no PostgreSQL at PASSERELLE_TEST_DATABASE_URL or {DEFAULT_URL}: {e}")
        }
        Err(e) => {
            eprintln!("skipped: no PostgreSQL ({e})");
            return;
        }
    };
    let name = format!("passerelle_t_{}", uuid::Uuid::new_v4().simple());
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create the test database");
    let db_url = with_database(&url, &name);
    let outcome = tokio::spawn(async move {
        let store = Arc::new(PgStore::connect(&db_url).await.expect("connect"));
        store.migrate().await.expect("migrate");
        body(Arc::clone(&store)).await;
        store.close().await;
    })
    .await;
    sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)")))
        .execute(&mut admin)
        .await
        .expect("drop the test database");
    admin.close().await.expect("close");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Raw statements over the store's own pool.
pub struct Raw(pub sqlx::PgPool);

#[async_trait]
impl RawExec for Raw {
    async fn execute(&self, sql: &'static str) -> StoreResult<u64> {
        sqlx::query(sql)
            .execute(&self.0)
            .await
            .map(|done| done.rows_affected())
            .map_err(|e| StoreError::Other(e.to_string()))
    }
}

#[test]
fn database_is_replaced_in_urls() {
    assert_eq!(
        with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
        "postgres://u:p@h:5432/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
}
