//! The sealed envelope: any stored ciphertext (age header, payload, binding header) opened
//! whole or as a stream fails closed without panicking; only the sealed bytes open.
#![no_main]

use std::io::Read;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use passerelle_domain::ids::ReferralId;
use passerelle_vault::{Binding, Part, ReferralKey};

fn key() -> &'static ReferralKey {
    static KEY: OnceLock<ReferralKey> = OnceLock::new();
    KEY.get_or_init(ReferralKey::generate)
}

fuzz_target!(|data: &[u8]| {
    let binding = Binding::new(ReferralId(uuid::Uuid::from_u128(1)), Part::Content, None);
    let _ = key().open(&binding, data);
    if let Ok(mut reader) = key().open_reader(&binding, data) {
        let mut out = Vec::new();
        let _ = reader.read_to_end(&mut out);
    }
});
