//! Mapping of sqlx and SQLite errors onto [`StoreError`].
//!
//! The rule: a uniqueness violation is a [`StoreError::Conflict`]; anything that means "the
//! database cannot take the action now" (pool exhausted or closed, I/O, the write lock still
//! held after the busy timeout, a full disk) is [`StoreError::Unavailable`], so callers answer
//! 503 and nothing is mistaken for "not found". Messages never carry bound values.

use passerelle_store::StoreError;

/// SQLite primary result codes (the low byte of an extended code) that mean "not now".
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
const SQLITE_NOMEM: i64 = 7;
const SQLITE_READONLY: i64 = 8;
const SQLITE_IOERR: i64 = 10;
const SQLITE_CORRUPT: i64 = 11;
const SQLITE_FULL: i64 = 13;
const SQLITE_CANTOPEN: i64 = 14;
const SQLITE_PROTOCOL: i64 = 15;
const SQLITE_NOTADB: i64 = 26;

/// Maps an error where no uniqueness violation is expected.
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    map(e, None)
}

/// Maps an error of a write that may violate a uniqueness constraint on `what`.
pub(crate) fn conflict(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| map(e, Some(what))
}

fn map(e: sqlx::Error, what: Option<&'static str>) -> StoreError {
    match e {
        sqlx::Error::Database(d) => {
            if d.is_unique_violation() {
                return StoreError::Conflict(what.unwrap_or("row"));
            }
            let code = d
                .code()
                .and_then(|c| c.parse::<i64>().ok())
                .map(|c| c & 0xff);
            match code {
                Some(SQLITE_BUSY | SQLITE_LOCKED | SQLITE_NOMEM | SQLITE_READONLY)
                | Some(SQLITE_IOERR | SQLITE_FULL | SQLITE_CANTOPEN | SQLITE_PROTOCOL) => {
                    StoreError::Unavailable(d.message().to_owned())
                }
                Some(SQLITE_CORRUPT | SQLITE_NOTADB) => StoreError::Corrupt(d.message().to_owned()),
                _ => StoreError::Other(d.message().to_owned()),
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_)
        | sqlx::Error::BeginFailed => StoreError::Unavailable(e.to_string()),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            StoreError::Corrupt(e.to_string())
        }
        other => StoreError::Other(other.to_string()),
    }
}

/// Maps a migration error.
pub(crate) fn migrate(e: sqlx::migrate::MigrateError) -> StoreError {
    match e {
        sqlx::migrate::MigrateError::Execute(inner) => db(inner),
        sqlx::migrate::MigrateError::ExecuteMigration(inner, version) => match db(inner) {
            StoreError::Unavailable(m) => StoreError::Unavailable(m),
            other => StoreError::Other(format!("migration {version}: {other}")),
        },
        other => StoreError::Other(format!("migration: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_unavailable() {
        assert!(matches!(
            db(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            db(sqlx::Error::PoolClosed),
            StoreError::Unavailable(_)
        ));
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(matches!(
            db(sqlx::Error::Io(io)),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(db(sqlx::Error::RowNotFound), StoreError::Other(_)));
    }
}
