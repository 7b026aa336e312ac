//! Architecture invariants of ARCHITECTURE.md, checked over `cargo metadata` and the
//! source tree: dependencies point one way, IO crates stay out of the domain, only the
//! adapters use sqlx, only the web crate and the binary use axum, only the vault uses age;
//! every crate inherits the workspace lints (unsafe code forbidden) and every module
//! documents itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use cargo_metadata::{DependencyKind, MetadataCommand, Package};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

fn packages() -> BTreeMap<String, Package> {
    let meta = MetadataCommand::new()
        .manifest_path(workspace_root().join("Cargo.toml"))
        .exec()
        .expect("cargo metadata");
    let members: BTreeSet<_> = meta.workspace_members.iter().cloned().collect();
    meta.packages
        .into_iter()
        .filter(|p| members.contains(&p.id))
        .map(|p| (p.name.to_string(), p))
        .collect()
}

/// Declared normal (non-dev, non-build) dependencies.
fn normal_deps(p: &Package) -> BTreeSet<String> {
    p.dependencies
        .iter()
        .filter(|d| d.kind == DependencyKind::Normal)
        .map(|d| d.name.clone())
        .collect()
}

#[test]
fn dependencies_point_one_way() {
    let pkgs = packages();
    let internal = |name: &str| -> BTreeSet<String> {
        normal_deps(&pkgs[name])
            .into_iter()
            .filter(|d| d.starts_with("passerelle"))
            .collect()
    };
    let set = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(internal("passerelle-domain"), set(&[]));
    assert_eq!(internal("passerelle-store"), set(&["passerelle-domain"]));
    assert_eq!(internal("passerelle-vault"), set(&["passerelle-domain"]));
    assert_eq!(
        internal("passerelle-store-sqlite"),
        set(&["passerelle-domain", "passerelle-store"])
    );
    assert_eq!(
        internal("passerelle-store-postgres"),
        set(&["passerelle-domain", "passerelle-store"])
    );
    assert_eq!(
        internal("passerelle-core"),
        set(&["passerelle-domain", "passerelle-store", "passerelle-vault"])
    );
    assert_eq!(
        internal("passerelle-web"),
        set(&["passerelle-core", "passerelle-domain"])
    );
}

#[test]
fn io_and_framework_crates_stay_where_they_belong() {
    let pkgs = packages();
    let users_of = |dep: &str| -> BTreeSet<String> {
        pkgs.iter()
            .filter(|(name, p)| {
                name.starts_with("passerelle")
                    && *name != "passerelle-e2e"
                    // The benchmark harness measures the limits themselves: bare SQLite
                    // through sqlx, a bare axum route, the age library.
                    && *name != "passerelle-bench"
                    && normal_deps(p).contains(dep)
            })
            .map(|(n, _)| n.clone())
            .collect()
    };
    let set = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        users_of("sqlx"),
        set(&["passerelle-store-postgres", "passerelle-store-sqlite"])
    );
    assert_eq!(users_of("axum"), set(&["passerelle", "passerelle-web"]));
    assert_eq!(users_of("age"), set(&["passerelle-vault"]));
    let domain = normal_deps(&pkgs["passerelle-domain"]);
    for io in [
        "tokio",
        "sqlx",
        "axum",
        "age",
        "hyper",
        "reqwest",
        "rand",
        "getrandom",
        "tower",
        "mio",
        "async-std",
        "tracing",
    ] {
        assert!(
            !domain.contains(io),
            "the domain crate must not depend on {io}"
        );
    }
}

#[test]
fn every_crate_inherits_the_workspace_lints() {
    let root = workspace_root();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("manifest");
    assert!(manifest.contains("unsafe_code = \"forbid\""));
    for (name, p) in packages() {
        let text = std::fs::read_to_string(p.manifest_path.as_std_path()).expect("crate manifest");
        assert!(
            text.contains("[lints]\nworkspace = true"),
            "{name} does not inherit the workspace lints"
        );
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            if p.file_name()
                .is_some_and(|n| n == "target" || n == "node_modules")
            {
                continue;
            }
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_module_documents_itself() {
    let root = workspace_root();
    let mut files = Vec::new();
    rust_files(&root.join("services"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    assert!(files.len() > 20);
    let undocumented: Vec<_> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .collect();
    assert!(
        undocumented.is_empty(),
        "modules without a //! doc: {undocumented:?}"
    );
}

#[test]
fn no_stub_in_product_code() {
    let root = workspace_root();
    let mut files = Vec::new();
    rust_files(&root.join("services"), &mut files);
    for f in files {
        if f.components().any(|c| c.as_os_str() == "tests") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for stub in ["todo!(", "unimplemented!("] {
            assert!(!text.contains(stub), "{stub} in {}", f.display());
        }
    }
}
