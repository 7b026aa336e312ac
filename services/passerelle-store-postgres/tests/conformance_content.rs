//! The conformance checks of the sealed-content ports (shredding, messages, attachments,
//! key rotation) on PostgreSQL, one fresh database per test.

#[allow(dead_code)] // the helpers of the other test files
mod support;

use passerelle_store::conformance;
use support::with_fresh_store;

macro_rules! conformance {
    ($($check:ident),+ $(,)?) => {$(
        #[tokio::test]
        async fn $check() {
            with_fresh_store(|store| async move {
                conformance::$check(store.as_ref()).await;
            })
            .await;
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
