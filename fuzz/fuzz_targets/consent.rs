//! Consent validation: any filing or forward body that deserialises goes through the rules
//! (filing, forward with the case's terms, withdrawal) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passerelle_domain::enums::{OrgKind, Role, Urgency};
use passerelle_domain::ids::OrgSlug;
use passerelle_domain::model::{ConsentTerms, FilingRequest};
use passerelle_domain::rules::{
    Filer, ForwardRequest, Party, check_filing, check_forward, check_withdrawal,
};
use time::macros::datetime;

fuzz_target!(|data: &[u8]| {
    let now = datetime!(2026-11-29 12:00 UTC);
    let to = |slug: &str, kind| Party {
        slug: OrgSlug::parse(slug).expect("a valid slug"),
        kind,
    };
    let parties = [
        to("avec63", OrgKind::Association),
        to("parquet-clermont", OrgKind::Prosecutor),
        to("chu-urgences", OrgKind::Hospital),
    ];
    if let Ok(req) = serde_json::from_slice::<FilingRequest>(data) {
        for health_professional in [false, true] {
            let filer = Filer {
                role: Role::Referrer,
                health_professional,
            };
            for party in &parties {
                let _ = check_filing(&req, &filer, party, now);
            }
        }
        let terms = ConsentTerms::from(&req.consent);
        let _ = check_withdrawal(&terms);
    }
    if let Ok(fwd) = serde_json::from_slice::<ForwardRequest>(data) {
        let terms = ConsentTerms {
            basis: passerelle_domain::enums::ConsentBasis::Consent,
            ..serde_json::from_str::<ConsentTerms>(TERMS).expect("valid terms")
        };
        for party in &parties {
            for withdrawn in [false, true] {
                let _ = check_forward(&terms, withdrawn, Urgency::Normal, &fwd, party, now);
            }
        }
    }
});

const TERMS: &str = r#"{"basis":"consent","method":"written","obtained_at":"2026-11-29T10:00:00Z","recipients":["avec63","chambre-vif"],"purposes":["psychological_support","court_proceedings"],"data_categories":["identity","narrative"],"expires_at":"2099-11-29T00:00:00Z"}"#;
