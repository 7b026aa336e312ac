//! Maintenance of a PostgreSQL deployment, for the operator's commands (not the service):
//! the import side of `passerelle migrate-to`.
//!
//! [`PgStore::catalog`] reads the typed schema (`public` is the main area, `keystore` the
//! keystore) from `information_schema` and `pg_catalog`: columns and their types, primary
//! keys, identity columns, foreign keys. [`PgStore::import_rows`] inserts rows verbatim,
//! overriding identity columns, and replaces a row the migrations seeded (the audit head's
//! empty-tree row) by the copied one. [`PgStore::finish_import`] moves identity sequences
//! past the copied values.

use passerelle_store::transfer::{Area, Cell, Column, Kind, Table};
use passerelle_store::{StoreError, StoreResult};
use sqlx::{AssertSqlSafe, Postgres, QueryBuilder, Row};

use crate::PgStore;
use crate::codec::ts;
use crate::error::db;

/// Largest number of bound values in one INSERT (PostgreSQL allows 65535).
const MAX_BINDS: usize = 30_000;
/// Largest bytes of values in one INSERT.
const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn schema(area: Area) -> &'static str {
    match area {
        Area::Main => "public",
        Area::Keystore => "keystore",
    }
}

fn area_of(schema: &str) -> Option<Area> {
    match schema {
        "public" => Some(Area::Main),
        "keystore" => Some(Area::Keystore),
        _ => None,
    }
}

fn kind_of(data_type: &str) -> Option<Kind> {
    Some(match data_type {
        "uuid" => Kind::Uuid,
        "timestamp with time zone" => Kind::Time,
        "bytea" => Kind::Bytes,
        "text" | "character varying" => Kind::Text,
        "integer" | "bigint" | "smallint" => Kind::Int,
        "boolean" => Kind::Bool,
        _ => return None,
    })
}

impl PgStore {
    /// The typed catalogue of both areas (sqlx's own tables excluded).
    pub async fn catalog(&self) -> StoreResult<Vec<Table>> {
        let cols = sqlx::query(
            "SELECT c.table_schema::text AS s, c.table_name::text AS t, c.column_name::text AS c, \
             c.data_type::text AS d, c.is_identity::text AS i \
             FROM information_schema.columns c JOIN information_schema.tables t \
               ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
             WHERE t.table_type = 'BASE TABLE' AND c.table_schema IN ('public', 'keystore') \
               AND c.table_name <> '_sqlx_migrations' \
             ORDER BY c.table_schema, c.table_name, c.ordinal_position",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        let mut tables: Vec<Table> = Vec::new();
        for row in &cols {
            let (s, t, c, d, i): (String, String, String, String, String) = (
                row.try_get("s").map_err(db)?,
                row.try_get("t").map_err(db)?,
                row.try_get("c").map_err(db)?,
                row.try_get("d").map_err(db)?,
                row.try_get("i").map_err(db)?,
            );
            let area = area_of(&s).ok_or_else(|| StoreError::Other("unexpected schema".into()))?;
            let kind = kind_of(&d)
                .ok_or_else(|| StoreError::Other(format!("{t}.{c}: type {d} cannot be copied")))?;
            if tables.last().is_none_or(|l| l.area != area || l.name != t) {
                tables.push(Table {
                    area,
                    name: t.clone(),
                    columns: Vec::new(),
                    primary_key: Vec::new(),
                    references: Vec::new(),
                });
            }
            let table = tables.last_mut().expect("pushed");
            table.columns.push(Column {
                name: c,
                kind,
                identity: i == "YES",
            });
        }
        let keys = sqlx::query(
            "SELECT n.nspname::text AS s, c.relname::text AS t, a.attname::text AS c \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) \
             WHERE i.indisprimary AND n.nspname IN ('public', 'keystore') \
             ORDER BY n.nspname, c.relname, array_position(i.indkey::int2[], a.attnum)",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        for row in &keys {
            let (s, t, c): (String, String, String) = (
                row.try_get("s").map_err(db)?,
                row.try_get("t").map_err(db)?,
                row.try_get("c").map_err(db)?,
            );
            if let Some(table) = tables
                .iter_mut()
                .find(|x| Some(x.area) == area_of(&s) && x.name == t)
            {
                table.primary_key.push(c);
            }
        }
        let fks = sqlx::query(
            "SELECT n.nspname::text AS s, c.relname::text AS t, f.relname::text AS r \
             FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_class f ON f.oid = k.confrelid \
             WHERE k.contype = 'f' AND n.nspname IN ('public', 'keystore') AND f.oid <> c.oid",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        for row in &fks {
            let (s, t, r): (String, String, String) = (
                row.try_get("s").map_err(db)?,
                row.try_get("t").map_err(db)?,
                row.try_get("r").map_err(db)?,
            );
            if let Some(table) = tables
                .iter_mut()
                .find(|x| Some(x.area) == area_of(&s) && x.name == t)
                && !table.references.contains(&r)
            {
                table.references.push(r);
            }
        }
        Ok(tables)
    }

    /// Whether the database holds no deployment yet: no organisation, an empty audit log.
    pub async fn is_empty_deployment(&self) -> StoreResult<bool> {
        let orgs: i64 = sqlx::query_scalar("SELECT count(*) FROM orgs")
            .fetch_one(self.pool())
            .await
            .map_err(db)?;
        let leaves: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_leaves")
            .fetch_one(self.pool())
            .await
            .map_err(db)?;
        Ok(orgs == 0 && leaves == 0)
    }

    /// Inserts `rows` (cells in `table.columns` order) verbatim, in as few statements as the
    /// limits allow, in one transaction. A row whose primary key exists (a row seeded by
    /// the migrations) is replaced.
    pub async fn import_rows(&self, table: &Table, rows: &[Vec<Cell>]) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool().begin().await.map_err(db)?;
        let ncols = table.columns.len().max(1);
        let mut start = 0;
        while start < rows.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < rows.len()
                && (end - start + 1) * ncols <= MAX_BINDS
                && (end == start || bytes + weight(&rows[end]) <= MAX_BATCH_BYTES)
            {
                bytes += weight(&rows[end]);
                end += 1;
            }
            let mut q = insert_statement(table);
            q.push_values(&rows[start..end], |mut b, row| {
                for (c, col) in row.iter().zip(&table.columns) {
                    match c {
                        Cell::Null => match col.kind {
                            Kind::Uuid => b.push_bind(None::<uuid::Uuid>),
                            Kind::Time => b.push_bind(None::<time::OffsetDateTime>),
                            Kind::Bytes => b.push_bind(None::<Vec<u8>>),
                            Kind::Text => b.push_bind(None::<String>),
                            Kind::Int => b.push_bind(None::<i64>),
                            Kind::Bool => b.push_bind(None::<bool>),
                        },
                        Cell::Uuid(u) => b.push_bind(*u),
                        Cell::Time(t) => b.push_bind(ts(*t)),
                        Cell::Bytes(v) => b.push_bind(v.clone()),
                        Cell::Text(s) => b.push_bind(s.clone()),
                        Cell::Int(n) => b.push_bind(*n),
                        Cell::Bool(v) => b.push_bind(*v),
                    };
                }
            });
            push_conflict(&mut q, table);
            q.build().execute(&mut *tx).await.map_err(|e| {
                StoreError::Other(format!("copying into {}: {}", table.name, db(e)))
            })?;
            start = end;
        }
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    /// Moves every identity column's sequence past the largest copied value, then analyses
    /// every table: the copy filled them in minutes, and until autovacuum's next pass the
    /// planner would plan with the statistics of empty tables (an inbox page read by a
    /// bitmap scan and a sort of every row instead of one walk of its index).
    pub async fn finish_import(&self, tables: &[Table]) -> StoreResult<()> {
        for t in tables {
            let full = format!("{}.{}", quote(schema(t.area)), quote(&t.name));
            sqlx::query(AssertSqlSafe(format!("ANALYZE {full}")))
                .execute(self.pool())
                .await
                .map_err(db)?;
            for c in t.columns.iter().filter(|c| c.identity) {
                let sql = format!(
                    "SELECT setval(pg_get_serial_sequence('{}', '{}'), \
                     GREATEST((SELECT max({}) FROM {}), 1), \
                     (SELECT max({}) FROM {}) IS NOT NULL)",
                    full.replace('\'', "''"),
                    c.name.replace('\'', "''"),
                    quote(&c.name),
                    full,
                    quote(&c.name),
                    full
                );
                sqlx::query(AssertSqlSafe(sql))
                    .execute(self.pool())
                    .await
                    .map_err(db)?;
            }
        }
        Ok(())
    }

    /// Number of rows of a table.
    pub async fn count_rows(&self, area: Area, name: &str) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT count(*) FROM {}.{}",
            quote(schema(area)),
            quote(name)
        )))
        .fetch_one(self.pool())
        .await
        .map_err(db)?;
        Ok(n as u64)
    }
}

fn weight(row: &[Cell]) -> usize {
    row.iter().map(Cell::weight).sum()
}

fn insert_statement(table: &Table) -> QueryBuilder<Postgres> {
    let cols: Vec<String> = table.columns.iter().map(|c| quote(&c.name)).collect();
    let overriding = if table.columns.iter().any(|c| c.identity) {
        " OVERRIDING SYSTEM VALUE"
    } else {
        ""
    };
    QueryBuilder::new(format!(
        "INSERT INTO {}.{} ({}){overriding} ",
        quote(schema(table.area)),
        quote(&table.name),
        cols.join(", ")
    ))
}

fn push_conflict(q: &mut QueryBuilder<Postgres>, table: &Table) {
    if table.primary_key.is_empty() {
        return;
    }
    let keys: Vec<String> = table.primary_key.iter().map(|c| quote(c)).collect();
    let updates: Vec<String> = table
        .columns
        .iter()
        .filter(|c| !table.primary_key.contains(&c.name))
        .map(|c| format!("{0} = EXCLUDED.{0}", quote(&c.name)))
        .collect();
    if updates.is_empty() {
        q.push(format!(" ON CONFLICT ({}) DO NOTHING", keys.join(", ")));
    } else {
        q.push(format!(
            " ON CONFLICT ({}) DO UPDATE SET {}",
            keys.join(", "),
            updates.join(", ")
        ));
    }
}
