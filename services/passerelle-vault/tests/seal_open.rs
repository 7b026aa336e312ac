//! Sealing and opening: round trips, bindings, tampering, wrong keys.

mod common;

use std::sync::OnceLock;

use common::{Recorder, referral};
use passerelle_vault::{Binding, HEADER_LEN, Part, ReferralKey, VaultError, seal, sha256};
use proptest::prelude::*;
use uuid::Uuid;

const SECRET: &[u8] = b"Elle a peur pour sa vie. Contact sur: 06 00 00 00 00, pas de messagerie";

#[test]
fn round_trip_of_every_part_and_size() {
    let key = ReferralKey::generate();
    let r = referral();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    for part in Part::ALL {
        for item in [None, Some(Uuid::new_v4())] {
            let b = Binding::new(r, part, item);
            for plain in [&b""[..], SECRET, &big] {
                let ct = seal(&key.recipient(), &b, plain).unwrap();
                assert!(!ct.windows(16).any(|w| SECRET.starts_with(w)));
                assert_eq!(&key.open(&b, &ct).unwrap()[..], plain);
            }
        }
    }
}

#[test]
fn seal_needs_a_valid_recipient() {
    let b = Binding::new(referral(), Part::Content, None);
    assert!(matches!(
        seal("age1notakey", &b, SECRET),
        Err(VaultError::Malformed(_))
    ));
    assert!(matches!(
        ReferralKey::generate().wrap_to("AGE-SECRET-KEY-1XYZ"),
        Err(VaultError::Malformed(_))
    ));
}

fn assert_tamper(result: Result<zeroize::Zeroizing<Vec<u8>>, VaultError>) {
    match result {
        Err(VaultError::Tamper(reason)) => {
            assert!(!reason.contains("Elle"));
        }
        Err(e) => panic!("expected Tamper, got {e:?}"),
        Ok(_) => panic!("expected Tamper, got Ok"),
    }
}

#[test]
fn header_mismatch_is_tamper_and_alerted_without_content() {
    let key = ReferralKey::generate();
    let r = referral();
    let item = Uuid::new_v4();
    let sealed_for = Binding::new(r, Part::Message, Some(item));
    let ct = seal(&key.recipient(), &sealed_for, SECRET).unwrap();
    assert_eq!(&key.open(&sealed_for, &ct).unwrap()[..], SECRET);

    let others = [
        Binding::new(referral(), Part::Message, Some(item)),
        Binding::new(r, Part::Attachment, Some(item)),
        Binding::new(r, Part::Content, Some(item)),
        Binding::new(r, Part::Message, Some(Uuid::new_v4())),
        Binding::new(r, Part::Message, None),
        Binding::new(r, Part::Message, Some(Uuid::nil())),
    ];
    let rec = Recorder::default();
    for other in &others {
        let result = rec.run(|| key.open(other, &ct));
        assert_tamper(result);
    }
    let warnings = rec.warnings();
    assert_eq!(warnings.len(), others.len(), "{warnings:?}");
    let text = std::str::from_utf8(SECRET).unwrap();
    for (w, other) in warnings.iter().zip(&others) {
        assert!(w.contains(&other.referral.to_string()), "{w}");
        assert!(w.contains("does not match its binding"), "{w}");
        for word in text.split_whitespace().filter(|w| w.len() > 3) {
            assert!(!w.contains(word), "alert leaks content: {w}");
        }
    }
}

#[test]
fn ciphertext_freshly_sealed_for_another_binding_is_tamper() {
    // Someone who can write the database knows the referral recipient and forges a
    // ciphertext for another place; moving it to this place must fail.
    let key = ReferralKey::generate();
    let r = referral();
    let expected = Binding::new(r, Part::Content, None);
    let forged = seal(
        &key.recipient(),
        &Binding::new(r, Part::Detail, None),
        b"forged",
    )
    .unwrap();
    assert_tamper(key.open(&expected, &forged));
    let other_ref = seal(
        &key.recipient(),
        &Binding::new(referral(), Part::Content, None),
        b"forged",
    )
    .unwrap();
    assert_tamper(key.open(&expected, &other_ref));
}

#[test]
fn plaintext_without_the_header_is_tamper() {
    let key = ReferralKey::generate();
    let b = Binding::new(referral(), Part::Content, None);
    let recipient: age::x25519::Recipient = key.recipient().parse().unwrap();
    // A raw age file of the right recipient with no header, a short one, another version.
    let mut v2 = b.header().to_vec();
    v2[3] = b'2';
    for plain in [SECRET, &b.header()[..HEADER_LEN - 1], &v2[..]] {
        let ct = age::encrypt(&recipient, plain).unwrap();
        assert_tamper(key.open(&b, &ct));
    }
}

#[test]
fn another_referral_key_and_passphrase_files_are_tamper() {
    let key = ReferralKey::generate();
    let b = Binding::new(referral(), Part::Content, None);
    let ct = seal(&ReferralKey::generate().recipient(), &b, SECRET).unwrap();
    assert_tamper(key.open(&b, &ct));

    let mut plain = b.header().to_vec();
    plain.extend_from_slice(SECRET);
    let enc = age::Encryptor::with_user_passphrase("x".to_owned().into());
    let mut scrypt_ct = Vec::new();
    let mut w = enc.wrap_output(&mut scrypt_ct).unwrap();
    std::io::Write::write_all(&mut w, &plain).unwrap();
    w.finish().unwrap();
    assert_tamper(key.open(&b, &scrypt_ct));
    // Armored files are never what the vault stores.
    let recipient: age::x25519::Recipient = key.recipient().parse().unwrap();
    let armored = age::encrypt_and_armor(&recipient, &plain).unwrap();
    assert_tamper(key.open(&b, armored.as_bytes()));
    assert_eq!(
        &key.open(&b, &age::encrypt(&recipient, &plain).unwrap())
            .unwrap()[..],
        SECRET
    );
    assert_tamper(key.open(&b, b""));
    assert_tamper(key.open(&b, b"age-encryption.org/v1\n"));
}

#[test]
fn open_verified_checks_the_recorded_sha256() {
    let key = ReferralKey::generate();
    let b = Binding::new(referral(), Part::Attachment, Some(Uuid::new_v4()));
    let ct = seal(&key.recipient(), &b, SECRET).unwrap();
    let digest = sha256(&ct);
    assert_eq!(&key.open_verified(&b, &ct, &digest).unwrap()[..], SECRET);
    let mut wrong = digest;
    wrong[0] ^= 1;
    assert_tamper(key.open_verified(&b, &ct, &wrong));
}

#[test]
fn sha256_known_answer() {
    assert_eq!(
        hex::encode(sha256(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn referral_key_wrap_round_trip_and_wrong_org() {
    let (_tmp, vault) = common::vault();
    let (org_a, org_b) = (common::org(), common::org());
    let a_key = vault.new_org_identity(org_a, 1).unwrap();
    let b_key = vault.new_org_identity(org_b, 1).unwrap();
    let a = vault
        .org_identity(org_a, 1, &a_key.wrapped_identity, &a_key.kek_version)
        .unwrap();
    let b = vault
        .org_identity(org_b, 1, &b_key.wrapped_identity, &b_key.kek_version)
        .unwrap();

    // Filing: public keys only.
    let key = ReferralKey::generate();
    let bind = Binding::new(referral(), Part::Content, None);
    let ct = seal(&key.recipient(), &bind, SECRET).unwrap();
    let wrap_a = key.wrap_to(&a_key.recipient).unwrap();
    let recipient = key.recipient();
    drop(key);

    let unwrapped = ReferralKey::unwrap(&a, &wrap_a).unwrap();
    assert_eq!(unwrapped.recipient(), recipient);
    assert_eq!(&unwrapped.open(&bind, &ct).unwrap()[..], SECRET);

    // Organisation B cannot unwrap A's wrap, nor open anything.
    let rec = Recorder::default();
    let err = rec.run(|| ReferralKey::unwrap(&b, &wrap_a)).unwrap_err();
    assert!(matches!(err, VaultError::Tamper(_)), "{err:?}");
    assert_eq!(rec.warnings().len(), 1);
    assert!(rec.warnings()[0].contains(&org_b.to_string()));

    // An altered wrap fails too.
    let mut bad = wrap_a.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x40;
    assert!(matches!(
        ReferralKey::unwrap(&a, &bad),
        Err(VaultError::Tamper(_))
    ));
}

#[test]
fn debug_output_holds_no_secret() {
    let (_tmp, vault) = common::vault();
    let org_id = common::org();
    let k = vault.new_org_identity(org_id, 1).unwrap();
    let org = vault
        .org_identity(org_id, 1, &k.wrapped_identity, &k.kek_version)
        .unwrap();
    let key = ReferralKey::generate();
    let text = format!("{vault:?} {org:?} {key:?} {:?}", vault.signer());
    assert!(!text.to_uppercase().contains("AGE-SECRET-KEY"), "{text}");
    assert!(text.contains(&key.recipient()));
    assert!(text.contains(&k.recipient));
    let seed_file = std::fs::read_to_string(vault.dir().join("audit-signing.key")).unwrap();
    let seed_b64 = seed_file.lines().last().unwrap();
    assert!(!text.contains(seed_b64));
}

/// One ciphertext shared by every proptest case (sealing per case would dominate).
fn fixture() -> &'static (ReferralKey, Binding, Vec<u8>) {
    static F: OnceLock<(ReferralKey, Binding, Vec<u8>)> = OnceLock::new();
    F.get_or_init(|| {
        let key = ReferralKey::generate();
        let b = Binding::new(referral(), Part::Message, Some(Uuid::new_v4()));
        // Two payload chunks (64 KiB each) so flips hit both a full and the last chunk.
        let mut plain = SECRET.to_vec();
        plain.resize(70_000, b'x');
        let ct = seal(&key.recipient(), &b, &plain).unwrap();
        (key, b, ct)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn any_bit_flip_fails(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (key, b, ct) = fixture();
        let mut bad = ct.clone();
        let i = pos.index(bad.len());
        bad[i] ^= 1 << bit;
        prop_assert!(matches!(key.open(b, &bad), Err(VaultError::Tamper(_))));
    }

    #[test]
    fn flips_in_the_header_region_fail(i in 0usize..400, bit in 0u8..8) {
        // The age header (stanzas, MAC, nonce) is the first ~200 bytes: hit it densely.
        let (key, b, ct) = fixture();
        let mut bad = ct.clone();
        let i = i.min(bad.len() - 1);
        bad[i] ^= 1 << bit;
        prop_assert!(key.open(b, &bad).is_err());
    }

    #[test]
    fn truncation_and_extension_fail(cut in 1usize..2000, extra in prop::collection::vec(any::<u8>(), 1..64)) {
        let (key, b, ct) = fixture();
        let cut = cut.min(ct.len());
        prop_assert!(key.open(b, &ct[..ct.len() - cut]).is_err());
        let mut longer = ct.clone();
        longer.extend_from_slice(&extra);
        prop_assert!(key.open(b, &longer).is_err());
    }
}
