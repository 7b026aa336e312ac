//! Interoperability with the `age` command-line tool (Debian package `age`, 1.1.1).
//!
//! Skipped, with a printed note, when the `age` binary is not installed (fails in CI).

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
    } else if std::env::var("CI").as_deref() == Ok("true") {
        panic!("the `age` command-line tool (Debian package age) is required in CI");
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
    let org_id = common::org();
    let org = vault.new_org_identity(org_id, 1).unwrap();
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

    // The unwrapped file names its organisation and version (comment lines age ignores);
    // re-encrypted by the CLI, it opens in the crate for that organisation only.
    let text = String::from_utf8(org_key.clone()).unwrap();
    assert!(
        text.contains(&format!("# org: {org_id}")),
        "{}",
        text.lines().next().unwrap()
    );
    let wrapped = age(bin, &["-e", "-i", p(&kek), p(&work.join("org.key"))]);
    let id = vault.org_identity(org_id, 1, &wrapped, "kek-v1").unwrap();
    assert_eq!(id.recipient(), org.recipient);
    vault.clear_cache();
    assert!(matches!(
        vault.org_identity(common::org(), 1, &wrapped, "kek-v1"),
        Err(passerelle_vault::VaultError::Tamper(_))
    ));
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

/// Attachments are streamed: a multi-chunk stream sealed by the crate opens with the CLI
/// (binding header, then the bytes), and a large file encrypted by the CLI opens with the
/// crate's streaming reader.
#[test]
fn streamed_attachments_open_with_the_age_cli_and_back() {
    use std::io::{Read, Write};
    let Some(bin) = age_binary() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let key = ReferralKey::generate();
    let (_kt, vault) = common::vault();
    let org_id = common::org();
    let org = vault.new_org_identity(org_id, 1).unwrap();
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let b = Binding::new(common::referral(), Part::Attachment, Some(Uuid::new_v4()));
    let mut w = passerelle_vault::SealWriter::new(&key.recipient(), &b, Vec::new()).unwrap();
    for piece in body.chunks(33_333) {
        w.write_all(piece).unwrap();
    }
    fs::write(work.join("att.age"), w.finish().unwrap()).unwrap();
    // The referral identity file, as an emergency gets it with the CLI alone: master key →
    // organisation identity file → referral identity file.
    let ref_key_file = work.join("ref.key");
    fs::write(&ref_key_file, referral_key_text(bin, &vault, &org, &key)).unwrap();
    let plain = age(
        bin,
        &["-d", "-i", p(&ref_key_file), p(&work.join("att.age"))],
    );
    assert_eq!(&plain[..b.header().len()], &b.header()[..]);
    assert_eq!(&plain[b.header().len()..], &body[..]);

    // And back: a file encrypted by the CLI (several 64 KiB chunks) opens as a stream.
    let mut envelope = b.header().to_vec();
    envelope.extend_from_slice(&body);
    fs::write(work.join("cli-att"), &envelope).unwrap();
    let ct = age(
        bin,
        &["-e", "-r", &key.recipient(), p(&work.join("cli-att"))],
    );
    let mut r = key.open_reader(&b, &ct[..]).unwrap();
    let mut out = Vec::new();
    r.read_to_end(&mut out).unwrap();
    assert_eq!(out, body);
}

/// The referral identity file obtained by unwrapping the chain with the CLI: master key →
/// organisation identity file → referral identity file.
fn referral_key_text(
    bin: &str,
    vault: &passerelle_vault::Vault,
    org_key: &passerelle_vault::NewOrgKey,
    key: &ReferralKey,
) -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    let kek = vault.dir().join("kek-v1.key");
    fs::write(tmp.path().join("org.age"), &org_key.wrapped_identity).unwrap();
    let org_file = tmp.path().join("org.key");
    fs::write(
        &org_file,
        age(bin, &["-d", "-i", p(&kek), p(&tmp.path().join("org.age"))]),
    )
    .unwrap();
    fs::write(
        tmp.path().join("ref.age"),
        key.wrap_to(&org_key.recipient).unwrap(),
    )
    .unwrap();
    age(
        bin,
        &["-d", "-i", p(&org_file), p(&tmp.path().join("ref.age"))],
    )
}
