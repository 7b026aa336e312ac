//! Mapping of sqlx and PostgreSQL errors onto [`StoreError`].
//!
//! The rule: a uniqueness violation is a [`StoreError::Conflict`]; anything that means "the
//! database cannot take the action now" (pool exhausted or closed, I/O, TLS, connection
//! refused or lost, server shutting down or out of resources, lock or statement timeout,
//! deadlock, a read-only standby after failover) is [`StoreError::Unavailable`], so callers
//! answer 503 and nothing is mistaken for "not found". Messages never carry bound values
//! (PostgreSQL puts key values in the error's *detail*, which is not kept).

use passerelle_store::StoreError;

/// Maps an error where no uniqueness violation is expected.
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    map(e, None)
}

/// Maps an error of a write that may violate a uniqueness constraint on `what`.
pub(crate) fn conflict(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| map(e, Some(what))
}

/// Whether a SQLSTATE means "not now": retrying later may succeed, nothing was done.
fn unavailable(code: &str) -> bool {
    matches!(code.get(..2), Some("08" | "53" | "28" | "3D"))
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "57014" | "55P03" | "40001" | "40P01" | "25006"
        )
}

fn map(e: sqlx::Error, what: Option<&'static str>) -> StoreError {
    match e {
        sqlx::Error::Database(d) => {
            if d.is_unique_violation() {
                return StoreError::Conflict(what.unwrap_or("row"));
            }
            let code = d.code().map(|c| c.into_owned()).unwrap_or_default();
            let message = format!("{code}: {}", d.message());
            if unavailable(&code) {
                StoreError::Unavailable(message)
            } else if code.starts_with("XX") {
                StoreError::Corrupt(message)
            } else {
                StoreError::Other(message)
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_)
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
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(matches!(
            db(sqlx::Error::Io(io)),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(db(sqlx::Error::RowNotFound), StoreError::Other(_)));
        for code in [
            "08006", "53300", "57P01", "55P03", "40P01", "25006", "28P01",
        ] {
            assert!(unavailable(code), "{code}");
        }
        for code in ["23503", "42601", "P0001", "XX001"] {
            assert!(!unavailable(code), "{code}");
        }
    }
}
