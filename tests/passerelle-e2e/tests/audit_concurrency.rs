//! Two `serve` processes on one database (PostgreSQL, and SQLite too) filing and reading
//! concurrently, hundreds of actions each, while an auditor verifies the log through the
//! API and an operator with `passerelle audit verify`: every verification made during the
//! load finds the log intact (appends made meanwhile are followed, never mistaken for
//! tampering); afterwards the log verifies, its indexes are dense, and every action left
//! exactly one leaf (matched by the request id each answer carries).

mod audit_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use audit_support::*;
use passerelle_e2e::{Answer, Backend, Db, Deployment, Server};
use serde_json::Value;

/// Workers per server, and rounds per worker; each round is three actions.
const WORKERS: usize = 5;
const ROUNDS: usize = 20;

/// What one request should have left in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expected {
    action: &'static str,
    actor: &'static str,
    referral: Option<String>,
}

fn request_id(a: &Answer) -> String {
    a.headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("every answer carries its request id")
        .to_owned()
}

/// One worker: file on `here`, read as the receiver on `there`, try to read as a
/// non-party on `here`.
async fn worker(
    here: Arc<Server>,
    there: Arc<Server>,
    police: String,
    psy: String,
    court: String,
) -> Vec<(String, Expected)> {
    let mut out = Vec::new();
    for _ in 0..ROUNDS {
        let a = here
            .call(
                "POST",
                "/api/v1/referrals",
                Some(&police),
                Some(passerelle_e2e::Body::Json(filing())),
            )
            .await;
        assert_eq!(a.status, 201, "{:?}", a.json);
        let id = a.json["id"].as_str().expect("id").to_owned();
        out.push((
            request_id(&a),
            Expected {
                action: "referral.filed",
                actor: "iscg.martin",
                referral: Some(id.clone()),
            },
        ));
        let r = there
            .call("GET", &format!("/api/v1/referrals/{id}"), Some(&psy), None)
            .await;
        assert_eq!(r.status, 200, "{:?}", r.json);
        out.push((
            request_id(&r),
            Expected {
                action: "referral.read",
                actor: "psy.bernard",
                referral: Some(id.clone()),
            },
        ));
        let x = here
            .call(
                "GET",
                &format!("/api/v1/referrals/{id}"),
                Some(&court),
                None,
            )
            .await;
        assert_eq!(x.status, 404);
        out.push((
            request_id(&x),
            Expected {
                action: "referral.denied",
                actor: "greffe.vif",
                referral: Some(id),
            },
        ));
    }
    out
}

/// Verifies the log through the API and the command line until `stop`: always intact.
async fn auditor(
    s: Arc<Server>,
    d: Arc<Deployment>,
    token: String,
    stop: Arc<AtomicBool>,
) -> Vec<(String, Expected)> {
    let mut out = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let v = s
            .call("GET", "/api/v1/audit/verify", Some(&token), None)
            .await;
        assert_eq!(v.status, 200, "{:?}", v.json);
        assert_eq!(v.json["ok"], true, "reported bad under load: {:?}", v.json);
        out.push((
            request_id(&v),
            Expected {
                action: "audit.read",
                actor: "dpo.audit",
                referral: None,
            },
        ));
        let d = d.clone();
        let cli = tokio::task::spawn_blocking(move || verify(&d, &[]))
            .await
            .expect("verify ran");
        assert_eq!(cli.0, 0, "reported bad under load: {}{}", cli.1, cli.2);
    }
    out
}

async fn flow(backend: Backend) {
    let d = Arc::new(Deployment::new(backend));
    let u = seed(&d);
    let one = Arc::new(d.serve());
    let two = Arc::new(d.serve());
    let db = Db::of(&d);
    let before = db.head_size();

    let mut tasks = Vec::new();
    for w in 0..2 * WORKERS {
        let (here, there) = if w % 2 == 0 {
            (one.clone(), two.clone())
        } else {
            (two.clone(), one.clone())
        };
        tasks.push(tokio::spawn(worker(
            here,
            there,
            u.police.clone(),
            u.psy.clone(),
            u.court.clone(),
        )));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let audits = tokio::spawn(auditor(
        two.clone(),
        d.clone(),
        u.auditor.clone(),
        stop.clone(),
    ));
    let all = async {
        let mut done = Vec::new();
        for t in tasks {
            done.extend(t.await.expect("worker"));
        }
        stop.store(true, Ordering::SeqCst);
        done.extend(audits.await.expect("auditor"));
        done
    };
    // Bounded: hundreds of actions finish well within this on a loaded 2-core machine.
    let done = tokio::time::timeout(Duration::from_secs(600), all)
        .await
        .expect("the concurrent actions finish in time");
    let total = done.len();
    let verifications = done
        .iter()
        .filter(|(_, e)| e.action == "audit.read")
        .count();
    assert!(verifications >= 1);
    eprintln!(
        "{total} requests on two servers, {verifications} verifications through the API (and as many with the command line) during the load"
    );
    assert_eq!(total - verifications, 2 * WORKERS * ROUNDS * 3);
    for s in [one, two] {
        let s = Arc::try_unwrap(s).ok().expect("no other holder");
        assert!(s.stop().success());
    }

    // Exactly one leaf per action, and nothing else.
    assert_eq!(db.head_size(), before + total as u64);
    let leaves = db.leaves();
    let seqs: Vec<u64> = leaves.iter().map(|l| l.0).collect();
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>(), "dense");
    assert_intact(&d, &[]);

    // Match each request with its leaf through the export (the readable fields).
    let export = d.ok(&["audit", "export"]);
    let mut by_request: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for line in export.lines() {
        let v: Value = serde_json::from_str(line).expect("JSON line");
        if let Some(r) = v["entry"]["request_id"].as_str() {
            by_request
                .entry(r.to_owned())
                .or_default()
                .push(v["entry"].clone());
        }
    }
    let mut distinct = std::collections::BTreeSet::new();
    for (rid, want) in &done {
        assert!(distinct.insert(rid.clone()), "request id {rid} reused");
        let got = by_request.get(rid).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(got.len(), 1, "request {rid} left {} leaves", got.len());
        let e = &got[0];
        assert_eq!(e["action"], want.action, "{rid}");
        assert_eq!(e["actor"], want.actor, "{rid}");
        assert_eq!(
            e["targets"]["referral"].as_str(),
            want.referral.as_deref(),
            "{rid}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_servers_on_one_postgres() {
    if let Some(pg) = Backend::postgres() {
        flow(pg).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_servers_on_one_sqlite_file() {
    flow(Backend::Sqlite).await;
}
