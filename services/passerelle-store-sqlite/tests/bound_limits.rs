//! Every bound `LIMIT` of the adapter is written `LIMIT $n + 0` (see the crate
//! documentation: a bare bound limit makes SQLite prepare the statement again on every
//! execution).

#[test]
fn no_statement_binds_a_bare_limit() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut bare = Vec::new();
    let mut seen = 0;
    for entry in std::fs::read_dir(&src).expect("src") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("source");
        for (i, _) in text.match_indices("LIMIT $") {
            let line_start = text[..i].rfind('\n').map_or(0, |n| n + 1);
            if text[line_start..i].trim_start().starts_with("//") {
                continue; // documentation, not SQL
            }
            seen += 1;
            let rest = &text[i + "LIMIT $".len()..];
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            if digits == 0 || !rest[digits..].starts_with(" + 0") {
                let line = text[..i].lines().count();
                bare.push(format!("{}:{line}", path.display()));
            }
        }
    }
    assert!(
        seen >= 10,
        "only {seen} bound limits found: has the SQL moved?"
    );
    assert!(bare.is_empty(), "bare bound LIMIT at {bare:?}");
}
