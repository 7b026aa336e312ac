//! Checkpoints (C2SP signed notes), inclusion proof files, export files and verifier keys,
//! as an auditor's offline tools read them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passerelle_core::VerifierKey;
use passerelle_core::audit::{parse_proof, verify_export, verify_proof};
use passerelle_domain::checkpoint;

const KEY: [u8; 32] = [7; 32];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = checkpoint::parse(text);
    let _ = checkpoint::verify(text, "passerelle-audit", &KEY);
    let _ = VerifierKey::parse(text);
    let _ = passerelle_vault::parse_verifier_key(text);
    let key = VerifierKey {
        name: "passerelle-audit".into(),
        public_key: KEY,
    };
    if let Ok(proof) = parse_proof(text) {
        let _ = verify_proof(&proof, &key);
    }
    let _ = verify_export(text.as_bytes(), &key, None);
    let _ = verify_export(text.as_bytes(), &key, Some(text));
});
