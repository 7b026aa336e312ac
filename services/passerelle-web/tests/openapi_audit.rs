//! Keeps the `AuditAction` vocabulary of `proto/openapi.yaml` equal to the actions the
//! log records (`passerelle_domain::audit::Action`): a new action is documented, or this
//! test fails.

#[test]
fn audit_actions_are_documented() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto/openapi.yaml");
    let text = std::fs::read_to_string(path).expect("proto/openapi.yaml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("valid YAML");
    let documented: Vec<&str> = doc["components"]["schemas"]["AuditAction"]["enum"]
        .as_sequence()
        .expect("AuditAction enum")
        .iter()
        .map(|v| v.as_str().expect("a string"))
        .collect();
    let recorded: Vec<&str> = passerelle_domain::audit::Action::ALL
        .iter()
        .map(|a| a.as_str())
        .collect();
    assert_eq!(
        documented, recorded,
        "list every audit action, in declaration order, in AuditAction of proto/openapi.yaml"
    );
}
