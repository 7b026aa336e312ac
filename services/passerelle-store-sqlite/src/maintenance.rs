//! Maintenance of a SQLite deployment, for the operator's commands (not the service):
//! online backups and the export side of `passerelle migrate-to`.
//!
//! - **Backup** ([`SqliteStore::backup_into`]): `VACUUM INTO` writes a consistent
//!   snapshot of the main database while writers go on (WAL), then of the keystore, in
//!   that order: a referral in the main copy had its wraps committed before it, so they are
//!   in the later keystore copy; wraps shredded in between are re-shredded by the restore
//!   (it re-applies every shred recorded after the backup). The audit head is read from the
//!   main copy itself, so it is exactly the head the copy holds.
//! - **Export** ([`SqliteStore::export_rows`]): the rows of one table in insertion
//!   (`rowid`) order, typed by the target's catalogue — which also loads rows that
//!   reference earlier rows of the same table (forwards) after them.

use std::path::{Path, PathBuf};

use futures::TryStreamExt;
use passerelle_store::transfer::{Area, Cell, Kind, Table};
use passerelle_store::{AuditHeadRow, StoreError, StoreResult};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqliteRow};
use sqlx::{AssertSqlSafe, Connection, Row, SqliteConnection};

use crate::SqliteStore;
use crate::codec::{head_row, time};
use crate::error::db;

/// What [`SqliteStore::backup_into`] wrote.
#[derive(Debug, Clone)]
pub struct SqliteBackup {
    /// The copy of the main database.
    pub main: PathBuf,
    /// The copy of the keystore.
    pub keystore: PathBuf,
    /// The audit head held by the main copy (`None`: empty log).
    pub head: Option<AuditHeadRow>,
}

/// A table's name and columns, as SQLite declares them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteTable {
    /// Area.
    pub area: Area,
    /// Name.
    pub name: String,
    /// Column names, in declaration order.
    pub columns: Vec<String>,
    /// Declared `WITHOUT ROWID`.
    pub without_rowid: bool,
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("backup file: {e}"))
}

impl SqliteStore {
    /// The main database file.
    pub fn database_path(&self) -> PathBuf {
        self.pool().connect_options().get_filename().to_owned()
    }

    /// The keystore file.
    pub fn keystore_path(&self) -> PathBuf {
        self.keystore_pool()
            .connect_options()
            .get_filename()
            .to_owned()
    }

    /// Writes consistent copies of the main database (`passerelle.db`) and the keystore
    /// (`keystore.db`) into `dir` (which must exist), both 0600, while the service runs.
    pub async fn backup_into(&self, dir: &Path) -> StoreResult<SqliteBackup> {
        let main = dir.join("passerelle.db");
        let keystore = dir.join("keystore.db");
        for (pool, target) in [(self.pool(), &main), (self.keystore_pool(), &keystore)] {
            if target.exists() {
                return Err(StoreError::Other(format!(
                    "{} already exists",
                    target.display()
                )));
            }
            vacuum_into(pool, target).await?;
        }
        let mut conn = SqliteConnection::connect_with(
            &SqliteConnectOptions::new().filename(&main).read_only(true),
        )
        .await
        .map_err(db)?;
        let row =
            sqlx::query("SELECT size, root, compact, checkpoint FROM audit_head WHERE id = 1")
                .fetch_one(&mut conn)
                .await
                .map_err(db)?;
        let head = head_row(&row)?;
        conn.close().await.map_err(db)?;
        Ok(SqliteBackup {
            main,
            keystore,
            head,
        })
    }

    /// The tables of both files (without SQLite's and sqlx's own).
    pub async fn tables(&self) -> StoreResult<Vec<SqliteTable>> {
        let mut out = Vec::new();
        for (area, pool) in [
            (Area::Main, self.pool()),
            (Area::Keystore, self.keystore_pool()),
        ] {
            let rows = sqlx::query(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
            )
            .fetch_all(pool)
            .await
            .map_err(db)?;
            for row in rows {
                let name: String = row.try_get("name").map_err(db)?;
                let sql: String = row.try_get("sql").map_err(db)?;
                let columns = sqlx::query(AssertSqlSafe(format!(
                    "SELECT name FROM pragma_table_info({})",
                    quote_literal(&name)
                )))
                .fetch_all(pool)
                .await
                .map_err(db)?
                .iter()
                .map(|r| r.try_get::<String, _>("name").map_err(db))
                .collect::<StoreResult<Vec<_>>>()?;
                out.push(SqliteTable {
                    area,
                    without_rowid: sql.to_ascii_uppercase().contains("WITHOUT ROWID"),
                    name,
                    columns,
                });
            }
        }
        Ok(out)
    }

    /// Rows of `table` (typed by its catalogue, columns in its order), at most `limit` and
    /// about `max_bytes` of values (at least one row), after the position `after` returned
    /// by the previous page; also returns the position to continue from (`None` when this
    /// page is the last). Rows are streamed, so a page of large ciphertext chunks stops at
    /// the byte bound without reading further.
    pub async fn export_rows(
        &self,
        table: &Table,
        without_rowid: bool,
        after: i64,
        limit: u32,
        max_bytes: usize,
    ) -> StoreResult<(Vec<Vec<Cell>>, Option<i64>)> {
        let pool = match table.area {
            Area::Main => self.pool(),
            Area::Keystore => self.keystore_pool(),
        };
        let cols: Vec<String> = table.columns.iter().map(|c| quote(&c.name)).collect();
        let sql = if without_rowid {
            // No rowid: a stable order by every column, paged by offset.
            format!(
                "SELECT 0, {cols} FROM {t} ORDER BY {cols} LIMIT {limit} OFFSET {after}",
                cols = cols.join(", "),
                t = quote(&table.name)
            )
        } else {
            format!(
                "SELECT rowid, {} FROM {} WHERE rowid > {after} ORDER BY rowid LIMIT {limit}",
                cols.join(", "),
                quote(&table.name)
            )
        };
        let mut stream = sqlx::query(AssertSqlSafe(sql)).fetch(pool);
        let mut out = Vec::new();
        let mut last = after;
        let mut bytes = 0usize;
        let mut more = false;
        while let Some(row) = stream.try_next().await.map_err(db)? {
            last = if without_rowid {
                last + 1
            } else {
                row.try_get::<i64, _>(0).map_err(db)?
            };
            let mut cells = Vec::with_capacity(table.columns.len());
            for (i, c) in table.columns.iter().enumerate() {
                cells.push(
                    cell(&row, i + 1, c.kind).map_err(|e| {
                        StoreError::Corrupt(format!("{}.{}: {e}", table.name, c.name))
                    })?,
                );
            }
            bytes += cells.iter().map(Cell::weight).sum::<usize>();
            out.push(cells);
            if out.len() as u32 == limit || bytes >= max_bytes {
                // A full page: there may be more (the next call finds out).
                more = true;
                break;
            }
        }
        Ok((out, more.then_some(last)))
    }

    /// Number of rows of a table.
    pub async fn count_rows(&self, area: Area, name: &str) -> StoreResult<u64> {
        let pool = match area {
            Area::Main => self.pool(),
            Area::Keystore => self.keystore_pool(),
        };
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT count(*) FROM {}",
            quote(name)
        )))
        .fetch_one(pool)
        .await
        .map_err(db)?;
        Ok(n as u64)
    }
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

async fn vacuum_into(pool: &SqlitePool, target: &Path) -> StoreResult<()> {
    let path = target
        .to_str()
        .ok_or_else(|| StoreError::Other("backup path is not UTF-8".into()))?;
    sqlx::query("VACUUM INTO $1")
        .bind(path)
        .execute(pool)
        .await
        .map_err(db)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    Ok(())
}

/// Reads column `i` as `kind`, accepting the storage classes SQLite may hold for it.
fn cell(row: &SqliteRow, i: usize, kind: Kind) -> Result<Cell, String> {
    use sqlx::ValueRef;
    let raw = row.try_get_raw(i).map_err(|e| e.to_string())?;
    if raw.is_null() {
        return Ok(Cell::Null);
    }
    let err = |e: sqlx::Error| e.to_string();
    Ok(match kind {
        Kind::Uuid => match row.try_get::<Vec<u8>, _>(i) {
            Ok(b) => Cell::Uuid(uuid::Uuid::from_slice(&b).map_err(|e| e.to_string())?),
            Err(_) => {
                let s: String = row.try_get(i).map_err(err)?;
                Cell::Uuid(s.parse().map_err(|_| "not a UUID".to_string())?)
            }
        },
        Kind::Time => {
            let m: i64 = row.try_get(i).map_err(err)?;
            Cell::Time(time(m).map_err(|e| e.to_string())?)
        }
        Kind::Bytes => Cell::Bytes(row.try_get(i).map_err(err)?),
        Kind::Text => Cell::Text(row.try_get(i).map_err(err)?),
        Kind::Int => Cell::Int(row.try_get(i).map_err(err)?),
        Kind::Bool => Cell::Bool(row.try_get::<i64, _>(i).map_err(err)? != 0),
    })
}
