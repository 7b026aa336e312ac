//! Interoperability with the `age` command-line tool (Debian package `age`, 1.1.1).
//!
//! Skipped, with a printed note, when the `age` binary is not installed.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use passerelle_vault::{Binding, Part, ReferralKey, seal};
use uuid::Uuid;

fn age_binary() -> Option<&'static str> {
    let ok = Command::new("age")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        Some("age")
    } else {
        eprintln!("note: the `age` command-line tool is not installed; interop test skipped");
        None
    }
}

fn age(bin: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(bin).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "age {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn whole_hierarchy_opens_with_the_age_cli_and_back() {
    let Some(bin) = age_binary() else { return };
    let (tmp, vault) = common::vault();
    let work = tmp.path();
    let kek = work.join("keys/kek-v1.key");

    // Master key → organisation identity.
    let org = vault.new_org_identity().unwrap();
    fs::write(work.join("org.age"), &org.wrapped_identity).unwrap();
    let org_key = age(bin, &["-d", "-i", p(&kek), p(&work.join("org.age"))]);
    fs::write(work.join("org.key"), &org_key).unwrap();
    let pub_line = age_keygen_public(&work.join("org.key"));
    assert_eq!(pub_line.as_deref(), Some(org.recipient.as_str()));

    // Organisation identity → referral identity.
    let key = ReferralKey::generate();
    fs::write(work.join("ref.age"), key.wrap_to(&org.recipient).unwrap()).unwrap();
    let ref_key = age(
        bin,
        &[
            "-d",
            "-i",
            p(&work.join("org.key")),
            p(&work.join("ref.age")),
        ],
    );
    fs::write(work.join("ref.key"), &ref_key).unwrap();

    // Referral identity → sealed part: header || body.
    let b = Binding::new(common::referral(), Part::Attachment, Some(Uuid::new_v4()));
    let body = b"scan of the signed consent";
    fs::write(
        work.join("part.age"),
        seal(&key.recipient(), &b, body).unwrap(),
    )
    .unwrap();
    let plain = age(
        bin,
        &[
            "-d",
            "-i",
            p(&work.join("ref.key")),
            p(&work.join("part.age")),
        ],
    );
    assert_eq!(&plain[..b.header().len()], &b.header()[..]);
    assert_eq!(&plain[b.header().len()..], body);

    // And back: files made by the CLI open in the crate.
    let mut envelope = b.header().to_vec();
    envelope.extend_from_slice(body);
    fs::write(work.join("cli-part"), &envelope).unwrap();
    let ct = age(
        bin,
        &["-e", "-r", &key.recipient(), p(&work.join("cli-part"))],
    );
    assert_eq!(&key.open(&b, &ct).unwrap()[..], body);

    let wrapped = age(bin, &["-e", "-i", p(&kek), p(&work.join("org.key"))]);
    let id = vault
        .org_identity(common::org(), 1, &wrapped, "kek-v1")
        .unwrap();
    assert_eq!(id.recipient(), org.recipient);
}

/// The recipient of an identity file, via `age-keygen -y` when available.
fn age_keygen_public(identity: &Path) -> Option<String> {
    let out = Command::new("age-keygen")
        .args(["-y", p(identity)])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
