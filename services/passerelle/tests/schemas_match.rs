//! Both backends' migrations build the same tables with the same columns, in both areas —
//! what `passerelle migrate-to` relies on to copy a deployment table by table, and what a
//! later migration added to one tree only would break. On a fresh SQLite file and a fresh
//! PostgreSQL database (created and dropped here; skipped without PostgreSQL outside CI).

use std::collections::BTreeMap;
use std::process::Command;

use passerelle_store::Store;
use passerelle_store::transfer::Area;
use passerelle_store_postgres::PgStore;
use passerelle_store_sqlite::SqliteStore;

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

#[tokio::test]
async fn sqlite_and_postgres_schemas_have_the_same_tables_and_columns() {
    let admin = std::env::var("PASSERELLE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("passerelle_schema_{}", std::process::id());
    if let Err(e) = psql(&admin, &format!("CREATE DATABASE {name}")) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PostgreSQL is required in CI: {e}"
        );
        eprintln!("skipped: no PostgreSQL ({e})");
        return;
    }
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or_default();
    let url = format!("{base}/{name}");
    let result = async {
        let pg = PgStore::connect(&url).await.expect("connect");
        pg.migrate().await.expect("migrate");
        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir(dir.path().join("keys")).expect("keys");
        let lite = SqliteStore::connect(
            &format!("sqlite://{}", dir.path().join("p.db").display()),
            &dir.path().join("keys/keystore.db"),
        )
        .await
        .expect("sqlite");
        lite.migrate().await.expect("migrate");

        let mut pg_tables: BTreeMap<(Area, String), Vec<String>> = BTreeMap::new();
        for t in pg.catalog().await.expect("catalog") {
            let mut cols: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
            cols.sort();
            pg_tables.insert((t.area, t.name), cols);
        }
        let mut lite_tables: BTreeMap<(Area, String), Vec<String>> = BTreeMap::new();
        for t in lite.tables().await.expect("tables") {
            let mut cols = t.columns.clone();
            cols.sort();
            lite_tables.insert((t.area, t.name), cols);
        }
        pg.close().await;
        lite.close().await;
        (pg_tables, lite_tables)
    }
    .await;
    let _ = psql(
        &admin,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    );
    let (pg_tables, lite_tables) = result;
    assert!(pg_tables.contains_key(&(Area::Keystore, "key_wraps".into())));
    assert!(pg_tables.contains_key(&(Area::Main, "audit_leaves".into())));
    assert_eq!(pg_tables, lite_tables);
}
