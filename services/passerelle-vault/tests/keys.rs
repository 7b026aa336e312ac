//! The keys folder: init, load checks, organisation identities, rotation, escrow, signer.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use age::secrecy::ExposeSecret;
use passerelle_domain::audit::HeadSigner;
use passerelle_domain::checkpoint;
use passerelle_vault::{
    AUDIT_KEY_NAME, AUDIT_ORIGIN, Binding, Part, ReferralKey, Vault, VaultError,
    add_master_version, init_keys, parse_verifier_key, promote, seal,
};

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn init_creates_private_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nested/keys");
    init_keys(&dir).unwrap();
    assert_eq!(mode(&dir), 0o700);
    for f in ["kek-v1.key", "audit-signing.key", "CURRENT"] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    assert_eq!(mode(&dir.join("audit-signing.pub")), 0o644);
    assert_eq!(
        fs::read_to_string(dir.join("CURRENT")).unwrap().trim(),
        "kek-v1"
    );
    let kek = fs::read_to_string(dir.join("kek-v1.key")).unwrap();
    assert!(kek.contains("# public key: age1"));
    assert_eq!(
        kek.lines()
            .filter(|l| l.starts_with("AGE-SECRET-KEY-1"))
            .count(),
        1
    );
    let vault = Vault::load(&dir).unwrap();
    assert_eq!(vault.current_kek_version(), "kek-v1");
    assert_eq!(vault.kek_versions(), ["kek-v1"]);
    assert!(!vault.has_escrow());
}

#[test]
fn init_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    init_keys(&dir).unwrap();
    let before: Vec<_> = [
        "kek-v1.key",
        "audit-signing.key",
        "audit-signing.pub",
        "CURRENT",
    ]
    .iter()
    .map(|f| fs::read(dir.join(f)).unwrap())
    .collect();
    let err = init_keys(&dir).unwrap_err();
    assert!(matches!(err, VaultError::Exists(_)), "{err:?}");
    assert!(err.to_string().contains("never overwrites"), "{err}");
    let after: Vec<_> = [
        "kek-v1.key",
        "audit-signing.key",
        "audit-signing.pub",
        "CURRENT",
    ]
    .iter()
    .map(|f| fs::read(dir.join(f)).unwrap())
    .collect();
    assert_eq!(before, after);

    // Any one key file is enough to refuse, and nothing is created then.
    for existing in [
        "kek-v3.key",
        "audit-signing.key",
        "audit-signing.pub",
        "CURRENT",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("keys");
        fs::create_dir(&dir).unwrap();
        chmod(&dir, 0o700);
        fs::write(dir.join(existing), "x").unwrap();
        let err = init_keys(&dir).unwrap_err();
        assert!(matches!(err, VaultError::Exists(_)), "{existing}: {err:?}");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "{existing}");
    }
}

#[test]
fn init_refuses_an_open_existing_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o755);
    let err = init_keys(&dir).unwrap_err();
    assert!(matches!(err, VaultError::Permissions(_)), "{err:?}");
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
}

#[test]
fn load_refuses_an_open_folder_with_a_clear_message() {
    let (tmp, _) = common::vault();
    let dir = tmp.path().join("keys");
    chmod(&dir, 0o755);
    let err = Vault::load(&dir).unwrap_err();
    assert!(matches!(err, VaultError::Permissions(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("0755") && msg.contains("chmod 700"), "{msg}");
    assert!(msg.contains(&dir.display().to_string()), "{msg}");
}

#[test]
fn load_refuses_a_readable_key_file_with_a_clear_message() {
    for (file, m) in [
        ("kek-v1.key", 0o644),
        ("audit-signing.key", 0o644),
        ("kek-v1.key", 0o620),
        ("audit-signing.key", 0o604),
    ] {
        let (tmp, _) = common::vault();
        let dir = tmp.path().join("keys");
        chmod(&dir.join(file), m);
        let err = Vault::load(&dir).unwrap_err();
        assert!(matches!(err, VaultError::Permissions(_)), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains(file) && msg.contains(&format!("{m:04o}")) && msg.contains("chmod 600"),
            "{msg}"
        );
        assert!(!msg.contains("AGE-SECRET-KEY"));
    }
}

#[test]
fn load_fails_fast_on_missing_or_malformed_files() {
    let tmp = tempfile::tempdir().unwrap();
    let err = Vault::load(&tmp.path().join("nope")).unwrap_err();
    assert!(matches!(err, VaultError::Missing(_)), "{err:?}");

    for (file, content) in [
        ("CURRENT", None),
        ("CURRENT", Some("kek-v2\n")),
        ("CURRENT", Some("v1\n")),
        ("kek-v1.key", None),
        ("kek-v1.key", Some("# nothing\n")),
        ("kek-v1.key", Some("AGE-SECRET-KEY-1QQQ\n")),
        ("audit-signing.key", None),
        ("audit-signing.key", Some("c2hvcnQ=\n")),
        ("audit-signing.pub", None),
        (
            "audit-signing.pub",
            Some("passerelle-audit+00000000+AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"),
        ),
        ("escrow.pub", Some("not a recipient\n")),
        ("escrow.pub", Some("# empty\n")),
    ] {
        let (tmp, _) = common::vault();
        let dir = tmp.path().join("keys");
        let path = dir.join(file);
        match content {
            None => fs::remove_file(&path).unwrap(),
            Some(c) => {
                let _ = fs::remove_file(&path);
                fs::write(&path, c).unwrap();
                chmod(&path, 0o600);
            }
        }
        let err = Vault::load(&dir).unwrap_err();
        assert!(
            matches!(err, VaultError::Missing(_) | VaultError::Malformed(_)),
            "{file} {content:?}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(file) || msg.contains("kek-v"), "{msg}");
        assert!(!msg.contains("QQQ"), "{msg}");
    }

    // Another key's verifier key in audit-signing.pub.
    let (tmp, _) = common::vault();
    let (tmp2, _) = common::vault();
    let dir = tmp.path().join("keys");
    fs::copy(
        tmp2.path().join("keys/audit-signing.pub"),
        dir.join("audit-signing.pub"),
    )
    .unwrap();
    let err = Vault::load(&dir).unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
}

#[test]
fn org_identity_round_trip_and_cache() {
    let (_tmp, vault) = common::vault();
    let org = common::org();
    let new = vault.new_org_identity(org, 1).unwrap();
    assert_eq!(new.kek_version, "kek-v1");
    assert!(new.recipient.starts_with("age1"));
    let id = vault
        .org_identity(org, 1, &new.wrapped_identity, &new.kek_version)
        .unwrap();
    assert_eq!(id.recipient(), new.recipient);
    assert_eq!((id.org(), id.version()), (org, 1));

    // Cached by (org, version): no unwrap the second time.
    let again = vault.org_identity(org, 1, b"garbage", "kek-v9").unwrap();
    assert!(Arc::ptr_eq(&id, &again));
    // Another version is not the cached one.
    assert!(matches!(
        vault.org_identity(org, 2, b"garbage", "kek-v1"),
        Err(VaultError::Tamper(_))
    ));
    assert!(matches!(
        vault.org_identity(org, 2, &new.wrapped_identity, "kek-v9"),
        Err(VaultError::Missing(_))
    ));
    vault.clear_cache();
    assert!(vault.org_identity(org, 1, b"garbage", "kek-v1").is_err());

    // A reloaded vault unwraps the same identity.
    let reloaded = Vault::load(vault.dir()).unwrap();
    let id2 = reloaded
        .org_identity(org, 1, &new.wrapped_identity, &new.kek_version)
        .unwrap();
    assert_eq!(id2.recipient(), new.recipient);

    // Another keys folder cannot.
    let (_tmp2, other) = common::vault();
    assert!(matches!(
        other.org_identity(org, 1, &new.wrapped_identity, &new.kek_version),
        Err(VaultError::Tamper(_))
    ));
}

#[test]
fn escrow_receives_every_master_wrap() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o700);
    let escrow = age::x25519::Identity::generate();
    fs::write(
        dir.join("escrow.pub"),
        format!("# offline escrow\n{}\n", escrow.to_public()),
    )
    .unwrap();
    init_keys(&dir).unwrap();
    let vault = Vault::load(&dir).unwrap();
    assert!(vault.has_escrow());
    let org = common::org();
    let new = vault.new_org_identity(org, 1).unwrap();
    // What escrow recovers is an age identity file naming the organisation and version.
    let from_escrow = age::decrypt(&escrow, &new.wrapped_identity).unwrap();
    let text = std::str::from_utf8(&from_escrow).unwrap();
    assert!(text.contains(&format!("# org: {org}\n# version: 1\n")));
    let line = text.lines().find(|l| !l.starts_with('#')).unwrap();
    let identity = age::x25519::Identity::from_str(line).unwrap();
    assert_eq!(identity.to_public().to_string(), new.recipient);
    // Still opens with the master key.
    assert!(
        vault
            .org_identity(org, 1, &new.wrapped_identity, &new.kek_version)
            .is_ok()
    );
    // Re-wraps go to escrow too.
    let re = vault
        .rewrap_org_identity(org, 1, &new.wrapped_identity, "kek-v1")
        .unwrap();
    assert!(age::decrypt(&escrow, &re.wrapped_identity).is_ok());
}

#[test]
fn rotation_add_promote_rewrap() {
    let (tmp, vault) = common::vault();
    let dir = tmp.path().join("keys");
    let org = common::org();
    let v1 = vault.new_org_identity(org, 1).unwrap();

    // A referral filed under v1 must stay readable after rotation.
    let key = ReferralKey::generate();
    let b = Binding::new(common::referral(), Part::Content, None);
    let ct = seal(&key.recipient(), &b, b"notes").unwrap();
    let wrap = key.wrap_to(&v1.recipient).unwrap();

    assert_eq!(add_master_version(&dir).unwrap(), "kek-v2");
    assert_eq!(mode(&dir.join("kek-v2.key")), 0o600);
    let added = Vault::load(&dir).unwrap();
    assert_eq!(added.current_kek_version(), "kek-v1");
    assert_eq!(added.kek_versions(), ["kek-v1", "kek-v2"]);

    assert!(matches!(
        promote(&dir, "kek-v7"),
        Err(VaultError::Missing(_))
    ));
    assert!(matches!(promote(&dir, "v2"), Err(VaultError::Malformed(_))));
    promote(&dir, "kek-v2").unwrap();
    assert_eq!(mode(&dir.join("CURRENT")), 0o600);
    assert!(!dir.join("CURRENT.tmp").exists());
    let promoted = Vault::load(&dir).unwrap();
    assert_eq!(promoted.current_kek_version(), "kek-v2");
    assert!(
        promoted
            .new_org_identity(org, 2)
            .unwrap()
            .kek_version
            .eq("kek-v2")
    );

    let re = promoted
        .rewrap_org_identity(org, 1, &v1.wrapped_identity, "kek-v1")
        .unwrap();
    assert_eq!(re.kek_version, "kek-v2");
    assert_eq!(re.recipient, v1.recipient);
    // The re-wrap opens with v2 only; the old wrap with v1 only.
    assert!(matches!(
        promoted.rewrap_org_identity(org, 1, &v1.wrapped_identity, "kek-v2"),
        Err(VaultError::Tamper(_))
    ));
    let id = promoted
        .org_identity(org, 1, &re.wrapped_identity, &re.kek_version)
        .unwrap();
    let opened = ReferralKey::unwrap(&id, &wrap)
        .unwrap()
        .open(&b, &ct)
        .unwrap();
    assert_eq!(&opened[..], b"notes");

    // Retiring v1 (removing its file) leaves re-wrapped identities readable.
    fs::remove_file(dir.join("kek-v1.key")).unwrap();
    let retired = Vault::load(&dir).unwrap();
    assert_eq!(retired.kek_versions(), ["kek-v2"]);
    assert!(
        retired
            .org_identity(org, 1, &re.wrapped_identity, "kek-v2")
            .is_ok()
    );
    assert_eq!(add_master_version(&dir).unwrap(), "kek-v3");
}

#[test]
fn operator_supplied_age_keygen_file_loads() {
    let (tmp, _) = common::vault();
    let dir = tmp.path().join("keys");
    let identity = age::x25519::Identity::generate();
    let text = format!(
        "# created: 2025-01-01T00:00:00+01:00\n# public key: {}\n{}\n",
        identity.to_public(),
        identity.to_string().expose_secret()
    );
    fs::write(dir.join("kek-v2.key"), text).unwrap();
    chmod(&dir.join("kek-v2.key"), 0o600);
    promote(&dir, "kek-v2").unwrap();
    let vault = Vault::load(&dir).unwrap();
    let new = vault.new_org_identity(common::org(), 1).unwrap();
    assert!(age::decrypt(&identity, &new.wrapped_identity).is_ok());
}

#[test]
fn audit_signer_checkpoints_verify_with_the_public_key() {
    let (tmp, vault) = common::vault();
    let signer = vault.signer();
    assert_eq!(signer.name(), AUDIT_KEY_NAME);
    assert_eq!(signer.name(), "passerelle-audit");
    assert_eq!(signer.origin(), AUDIT_ORIGIN);
    assert_eq!(signer.origin(), "passerelle/audit");

    let root = [7u8; 32];
    let note = signer.sign_head(42, &root);
    let cp = checkpoint::verify(&note, signer.name(), &signer.public_key()).unwrap();
    assert_eq!(
        (cp.origin.as_str(), cp.size, cp.root),
        (AUDIT_ORIGIN, 42, root)
    );
    assert_eq!(cp.signatures[0].key_id, signer.key_id());

    // Through the trait object the storage layer holds.
    let shared: Arc<dyn HeadSigner> = vault.shared_signer();
    let note0 = shared.sign_head(0, &[0u8; 32]);
    assert!(checkpoint::verify(&note0, "passerelle-audit", &signer.public_key()).is_ok());

    // The published verifier key is what auditors use; another key does not verify.
    let published = fs::read_to_string(tmp.path().join("keys/audit-signing.pub")).unwrap();
    let (name, pk) = parse_verifier_key(&published).unwrap();
    assert_eq!(published.trim(), signer.verifier_key());
    assert!(checkpoint::verify(&note, &name, &pk).is_ok());
    let (_tmp2, other) = common::vault();
    assert!(checkpoint::verify(&note, signer.name(), &other.signer().public_key()).is_err());
    let forged = note.replacen("\n42\n", "\n41\n", 1);
    assert!(checkpoint::verify(&forged, signer.name(), &signer.public_key()).is_err());

    // The key survives a reload.
    let reloaded = Vault::load(&tmp.path().join("keys")).unwrap();
    assert_eq!(reloaded.signer().public_key(), signer.public_key());
    assert!(
        checkpoint::verify(
            &reloaded.signer().sign_head(1, &root),
            "passerelle-audit",
            &pk
        )
        .is_ok()
    );
}

#[test]
fn org_identity_wraps_are_bound_to_their_organisation_and_version() {
    let (_tmp, vault) = common::vault();
    let (a, b) = (common::org(), common::org());
    let wrap_a = vault.new_org_identity(a, 1).unwrap();
    // Copied into B's row, or into another version of A: refused, alerted.
    let rec = common::Recorder::default();
    for (org, version) in [(b, 1), (a, 2)] {
        let err = rec
            .run(|| vault.org_identity(org, version, &wrap_a.wrapped_identity, "kek-v1"))
            .unwrap_err();
        assert!(matches!(err, VaultError::Tamper(_)), "{err:?}");
    }
    assert_eq!(rec.warnings().len(), 2);
    assert!(rec.warnings()[0].contains("bound to another"));
    // Its own row opens, and a re-wrap keeps the binding.
    assert!(
        vault
            .org_identity(a, 1, &wrap_a.wrapped_identity, "kek-v1")
            .is_ok()
    );
    let re = vault
        .rewrap_org_identity(a, 1, &wrap_a.wrapped_identity, "kek-v1")
        .unwrap();
    vault.clear_cache();
    assert!(matches!(
        vault.org_identity(b, 1, &re.wrapped_identity, "kek-v1"),
        Err(VaultError::Tamper(_))
    ));
    // A wrap from before binding (a bare identity) is refused too.
    let bare = age::encrypt(
        &age::x25519::Identity::generate().to_public(),
        b"AGE-SECRET-KEY-1QQQQ",
    )
    .unwrap();
    assert!(vault.org_identity(a, 3, &bare, "kek-v1").is_err());
}

#[test]
fn a_running_vault_reloads_versions_added_meanwhile() {
    let (tmp, running) = common::vault();
    let dir = tmp.path().join("keys");
    let org = common::org();
    let v1 = running.new_org_identity(org, 1).unwrap();

    // Another process (the `keys rotate` command) adds and promotes kek-v2 and re-wraps.
    add_master_version(&dir).unwrap();
    promote(&dir, "kek-v2").unwrap();
    let rotator = Vault::load(&dir).unwrap();
    let re = rotator
        .rewrap_org_identity(org, 1, &v1.wrapped_identity, "kek-v1")
        .unwrap();
    assert_eq!(re.kek_version, "kek-v2");

    // The running vault has never seen kek-v2: it reloads on the miss.
    assert_eq!(running.kek_versions(), ["kek-v1"]);
    let id = running
        .org_identity(org, 1, &re.wrapped_identity, "kek-v2")
        .unwrap();
    assert_eq!(id.recipient(), v1.recipient);
    assert_eq!(running.kek_versions(), ["kek-v1", "kek-v2"]);
    assert_eq!(running.current_kek_version(), "kek-v2");
    // And new wraps go to the new current version.
    assert_eq!(
        running
            .new_org_identity(common::org(), 1)
            .unwrap()
            .kek_version,
        "kek-v2"
    );
    // A version that exists nowhere is still missing after the reload.
    running.clear_cache();
    assert!(matches!(
        running.org_identity(org, 1, &re.wrapped_identity, "kek-v9"),
        Err(VaultError::Missing(_))
    ));

    // Retiring: never the current version; the old file is gone afterwards.
    assert!(matches!(
        passerelle_vault::retire(&dir, "kek-v2"),
        Err(VaultError::Exists(_))
    ));
    assert!(passerelle_vault::retire(&dir, "kek-v1").unwrap());
    assert!(!dir.join("kek-v1.key").exists());
    assert!(!passerelle_vault::retire(&dir, "kek-v1").unwrap());
    assert_eq!(Vault::load(&dir).unwrap().kek_versions(), ["kek-v2"]);
    running.forget_kek("kek-v1");
    assert_eq!(running.kek_versions(), ["kek-v2"]);
}
