//! The conformance checks of the sealed-content ports (shredding, messages, attachments,
//! key rotation) on SQLite files in a temporary folder, one fresh database per test; and
//! the keystore's `secure_delete`: a deleted wrap leaves no byte in the file.

mod support;

use passerelle_store::conformance;
use passerelle_store::{KeyWrapRow, Store};
use support::fresh;

macro_rules! conformance {
    ($($check:ident),+ $(,)?) => {$(
        #[tokio::test]
        async fn $check() {
            let db = fresh().await;
            conformance::$check(db.store.as_ref()).await;
        }
    )+};
}

conformance!(
    shred_content,
    messages,
    attachments,
    leaves_recording,
    keyring,
    user_secrets
);

/// `secure_delete`: the bytes of a deleted wrap are gone from the keystore file, while a
/// kept wrap is still there (so the search would find them).
#[tokio::test]
async fn deleted_wraps_leave_no_byte_in_the_keystore_file() {
    let db = fresh().await;
    // Pseudo-random bytes (xorshift), distinct for each seed.
    let pattern = |seed: u8| -> Vec<u8> {
        let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(seed).wrapping_mul(0xbf58_476d);
        (0..600)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    };
    let wrap = |n: u8| KeyWrapRow {
        referral_id: uuid::Uuid::from_u128(0x5eed_0000 + u128::from(n)).into(),
        org_id: uuid::Uuid::from_u128(0x0e60_0000 + u128::from(n)).into(),
        org_key_version: 1,
        wrapped: pattern(n),
    };
    let (shredded, kept) = (wrap(1), wrap(2));
    db.store
        .put_key_wraps(&[shredded.clone(), kept.clone()])
        .await
        .expect("put");
    assert_eq!(
        db.store
            .delete_key_wraps(shredded.referral_id)
            .await
            .expect("delete"),
        1
    );
    db.store.close().await;
    let file = std::fs::read(db.dir.path().join("keys/keystore.db")).expect("keystore file");
    let has = |needle: &[u8]| file.windows(32).any(|w| needle.windows(32).any(|n| n == w));
    assert!(has(&kept.wrapped), "the kept wrap is in the file");
    assert!(!has(&shredded.wrapped), "a deleted wrap left bytes behind");
    for leftover in ["keystore.db-journal", "keystore.db-wal"] {
        assert!(!db.dir.path().join("keys").join(leftover).exists());
    }
}
