//! Users' TOTP seeds sealed to their organisation identity: they open for that user with
//! that identity only, and a database dump holds no seed in clear.

mod common;

use passerelle_domain::ids::UserId;
use passerelle_vault::{VaultError, open_totp_secret, seal_totp_secret, sealed_secret_key_version};
use uuid::Uuid;

#[test]
fn a_seed_opens_for_its_user_with_its_organisation_identity_only() {
    let (_tmp, vault) = common::vault();
    let org = common::org();
    let other_org = common::org();
    let key = vault.new_org_identity(org, 3).unwrap();
    let other_key = vault.new_org_identity(other_org, 3).unwrap();
    let identity = vault
        .org_identity(org, 3, &key.wrapped_identity, &key.kek_version)
        .unwrap();
    let other = vault
        .org_identity(
            other_org,
            3,
            &other_key.wrapped_identity,
            &other_key.kek_version,
        )
        .unwrap();
    let user = UserId(Uuid::new_v4());
    let seed = b"twenty random bytes!";

    let sealed = seal_totp_secret(&key.recipient, 3, user, seed).unwrap();
    assert_eq!(sealed_secret_key_version(&sealed), Some(3));
    assert!(
        !sealed.windows(seed.len()).any(|w| w == seed),
        "no seed in clear"
    );
    assert_eq!(
        open_totp_secret(&identity, user, &sealed)
            .unwrap()
            .as_slice(),
        seed
    );
    // Another user's row, another organisation, another key version, altered bytes.
    let stranger = UserId(Uuid::new_v4());
    assert!(matches!(
        open_totp_secret(&identity, stranger, &sealed),
        Err(VaultError::Tamper(_))
    ));
    assert!(matches!(
        open_totp_secret(&other, user, &sealed),
        Err(VaultError::Tamper(_))
    ));
    let mut wrong_version = sealed.clone();
    wrong_version[3] = 4;
    assert!(open_totp_secret(&identity, user, &wrong_version).is_err());
    let mut altered = sealed.clone();
    let last = altered.len() - 1;
    altered[last] ^= 1;
    assert!(open_totp_secret(&identity, user, &altered).is_err());
    assert!(open_totp_secret(&identity, user, &sealed[..3]).is_err());
    assert_eq!(sealed_secret_key_version(&sealed[..3]), None);
}
