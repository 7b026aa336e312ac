//! Fault injection for crash tests (debug builds only): `PASSERELLE_FAULT=<point>[:<n>]`
//! makes the process abort — like `kill -9`, no unwinding, no cleanup — the `n`-th time
//! (default: the first) it reaches `<point>`. Release builds ignore the variable.
//!
//! Points: `shred-after-wraps` (keystore wraps deleted, ciphertexts not yet),
//! `shred-after-queue` (request committed, nothing deleted yet), `rotate-rewrap` (after
//! each organisation identity re-wrapped to the new master key), `rotate-org-rewrap` (after
//! each referral key re-wrapped to an organisation's new identity), `forward-copy` (after
//! each attachment of a forward staged, before the forward's transaction).

/// Aborts the process if `PASSERELLE_FAULT` names `point` and its count is reached.
#[cfg(debug_assertions)]
pub(crate) fn point(point: &str) {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static HITS: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);

    let Ok(spec) = std::env::var("PASSERELLE_FAULT") else {
        return;
    };
    let (name, n) = match spec.split_once(':') {
        Some((name, n)) => (name, n.parse::<u64>().unwrap_or(1)),
        None => (spec.as_str(), 1),
    };
    if name != point {
        return;
    }
    let mut hits = HITS.lock().unwrap_or_else(|e| e.into_inner());
    let count = hits
        .get_or_insert_with(HashMap::new)
        .entry(point.to_owned())
        .or_insert(0);
    *count += 1;
    if *count >= n {
        eprintln!("fault injection: aborting at {point} (hit {count})");
        std::process::abort();
    }
}

/// Release builds: no fault injection.
#[cfg(not(debug_assertions))]
pub(crate) fn point(_point: &str) {}
