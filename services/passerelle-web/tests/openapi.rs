//! Keeps `proto/openapi.yaml` equal to the router: every served (method, path) is
//! documented, and every documented operation is served.

use std::collections::BTreeSet;

#[test]
fn openapi_matches_the_router() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto/openapi.yaml");
    let text = std::fs::read_to_string(path).expect("proto/openapi.yaml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("valid YAML");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "an OpenAPI 3 document"
    );
    let mut documented = BTreeSet::new();
    let paths = doc["paths"].as_mapping().expect("paths");
    for (p, item) in paths {
        let p = p.as_str().expect("path string");
        for (m, op) in item.as_mapping().expect("path item") {
            let m = m.as_str().expect("method");
            if ["get", "post", "put", "patch", "delete"].contains(&m) {
                assert!(
                    op["responses"].as_mapping().is_some_and(|r| !r.is_empty()),
                    "{m} {p} documents no response"
                );
                documented.insert((m.to_uppercase(), p.to_owned()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = passerelle_web::routes()
        .list()
        .iter()
        .map(|(m, p)| (m.as_str().to_owned(), (*p).to_owned()))
        .collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "served but not in proto/openapi.yaml: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "in proto/openapi.yaml but not served: {extra:?}"
    );
}
