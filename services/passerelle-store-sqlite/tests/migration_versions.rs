//! Both backends' migration trees carry the same versions and file names (main database
//! and keystore), so a deployment moves between them with the same schema history.

use std::collections::BTreeSet;
use std::path::Path;

fn files(backend: &str, tree: &str) -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(format!("passerelle-store-{backend}"))
        .join("migrations")
        .join(tree);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .collect()
}

#[test]
fn sqlite_and_postgres_migrations_have_the_same_versions() {
    for tree in ["main", "keystore"] {
        let sqlite = files("sqlite", tree);
        let postgres = files("postgres", tree);
        assert!(!sqlite.is_empty(), "{tree}: no migrations");
        assert_eq!(sqlite, postgres, "{tree}: same file names on both backends");
        let versions: BTreeSet<u64> = sqlite
            .iter()
            .map(|n| {
                let (v, _) = n.split_once('_').expect("<version>_<description>.sql");
                v.parse().expect("numeric version")
            })
            .collect();
        assert_eq!(versions.len(), sqlite.len(), "{tree}: one file per version");
    }
}
