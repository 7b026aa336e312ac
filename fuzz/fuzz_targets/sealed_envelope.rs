//! The sealed envelope: any stored ciphertext (age header, payload, binding header) opened
//! whole or as a stream fails closed without panicking; a real ciphertext altered at a
//! place and by a value the input chooses, or cut short, never opens, and never opens for
//! another binding.
#![no_main]

use std::io::Read;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use passerelle_domain::ids::ReferralId;
use passerelle_vault::{Binding, Part, ReferralKey, seal};

fn key() -> &'static ReferralKey {
    static KEY: OnceLock<ReferralKey> = OnceLock::new();
    KEY.get_or_init(ReferralKey::generate)
}

fn binding() -> Binding {
    Binding::new(ReferralId(uuid::Uuid::from_u128(1)), Part::Content, None)
}

fn sealed() -> &'static [u8] {
    static SEALED: OnceLock<Vec<u8>> = OnceLock::new();
    SEALED.get_or_init(|| {
        let c = seal(&key().recipient(), &binding(), b"{\"narrative\":\"fuzz\"}").expect("seal");
        assert!(
            key().open(&binding(), &c).is_ok(),
            "a sealed ciphertext opens"
        );
        c
    })
}

fuzz_target!(|data: &[u8]| {
    let b = binding();
    let _ = key().open(&b, data);
    if let Ok(mut reader) = key().open_reader(&b, data) {
        let mut out = Vec::new();
        let _ = reader.read_to_end(&mut out);
    }
    if data.len() >= 4 {
        let good = sealed();
        let at = usize::from(u16::from_le_bytes([data[0], data[1]])) % good.len();
        if data[2] != 0 {
            let mut altered = good.to_vec();
            altered[at] ^= data[2];
            assert!(
                key().open(&b, &altered).is_err(),
                "an altered ciphertext opened"
            );
        }
        let cut = usize::from(data[3]) % good.len();
        assert!(
            key().open(&b, &good[..cut]).is_err(),
            "a cut ciphertext opened"
        );
        let other = Binding::new(ReferralId(uuid::Uuid::from_u128(2)), Part::Content, None);
        assert!(
            key().open(&other, good).is_err(),
            "opened for another referral"
        );
    }
});
