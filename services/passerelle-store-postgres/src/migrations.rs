//! The embedded migrations of the main database and of the keystore.
//!
//! The SQL files in `migrations/main` and `migrations/keystore` are compiled into the binary
//! with `include_str!` and handed to sqlx's [`Migrator`]: the same runtime machinery, table
//! `_sqlx_migrations` and checksums as `sqlx::migrate!`, without enabling sqlx's `macros`
//! feature (a proc-macro that would build a host copy of sqlx and of the database driver).
//! A unit test keeps this list equal to the files; the crate's `migration_versions` test
//! keeps both backends' trees equal.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// One embedded migration (from the file `<version:04>_<description>.sql`).
pub(crate) struct Embedded {
    pub(crate) version: i64,
    pub(crate) description: &'static str,
    pub(crate) sql: &'static str,
}

macro_rules! embedded {
    ($dir:literal: $($version:literal, $desc:literal, $file:literal;)*) => {
        &[$(Embedded {
            version: $version,
            description: $desc,
            sql: include_str!(concat!("../migrations/", $dir, "/", $file)),
        }),*]
    };
}

/// Migrations of the main database.
pub(crate) const MAIN: &[Embedded] = embedded!("main":
    1, "init", "0001_init.sql";
    2, "content", "0002_content.sql";
    3, "identity", "0003_identity.sql";
    4, "workflow", "0004_workflow.sql";
    6, "ops", "0006_ops.sql";
);

/// Migrations of the keystore schema (their own table `keystore._sqlx_migrations`).
pub(crate) const KEYSTORE: &[Embedded] = embedded!("keystore":
    1, "init", "0001_init.sql";
    2, "by_org", "0002_by_org.sql";
);

/// A migrator over `list`.
pub(crate) fn migrator(list: &[Embedded]) -> Migrator {
    Migrator::with_migrations(
        list.iter()
            .map(|m| {
                Migration::new(
                    m.version,
                    Cow::Borrowed(m.description),
                    MigrationType::Simple,
                    m.sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &str) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dir);
        let mut names: Vec<String> = std::fs::read_dir(path)
            .expect("migrations folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn embedded_lists_match_the_files() {
        for (dir, list) in [("main", MAIN), ("keystore", KEYSTORE)] {
            let embedded: Vec<String> = list
                .iter()
                .map(|m| format!("{:04}_{}.sql", m.version, m.description))
                .collect();
            assert_eq!(embedded, files(dir), "{dir}: embed every file, in order");
        }
    }
}
