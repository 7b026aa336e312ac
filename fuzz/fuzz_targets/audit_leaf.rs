//! The audit leaf decoding (stored bytes, export lines): a leaf that decodes encodes back
//! to the same bytes (the encoding is canonical).
#![no_main]

use libfuzzer_sys::fuzz_target;
use passerelle_domain::audit::AuditLeaf;

fuzz_target!(|data: &[u8]| {
    if let Ok(leaf) = AuditLeaf::decode(data) {
        assert_eq!(leaf.encode(), data, "a decoded leaf encodes to other bytes");
    }
});
