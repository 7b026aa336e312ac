//! The auditor's API on both backends, through the real server: events with every filter
//! and the cursor, whole-log verification, the access report of one case; every other role
//! gets `403`; every call (answered or refused) is itself recorded as `audit.read`; no
//! answer carries any content.

mod audit_support;

use std::collections::BTreeSet;

use audit_support::*;
use passerelle_e2e::{Answer, Backend, Deployment, Server, pct, problem};
use serde_json::Value;

/// Calls an audit route and keeps every body for the final "no content" check.
struct Auditor<'a> {
    s: &'a Server,
    token: String,
    bodies: String,
    /// Answered (200) calls by the auditor: each left an allowed `audit.read` leaf.
    answered: usize,
}

impl Auditor<'_> {
    async fn get(&mut self, path: &str) -> Answer {
        let a = self.s.call("GET", path, Some(&self.token), None).await;
        self.bodies.push_str(&a.json.to_string());
        if a.status == 200 {
            self.answered += 1;
        }
        a
    }

    /// Every event of a search, following the cursor.
    async fn all(&mut self, query: &str, limit: u32) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                None => format!("/api/v1/audit/events?{query}&limit={limit}"),
                Some(c) => format!("/api/v1/audit/events?{query}&limit={limit}&cursor={c}"),
            };
            let a = self.get(&path).await;
            assert_eq!(a.status, 200, "{path}: {:?}", a.json);
            let page = a.json["items"].as_array().expect("items");
            assert!(page.len() <= limit as usize);
            items.extend(page.iter().cloned());
            match a.json["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return items,
            }
        }
    }
}

const EVENT_FIELDS: &[&str] = &[
    "seq",
    "at",
    "actor",
    "org",
    "action",
    "target",
    "outcome",
    "legal_basis",
    "hash",
];

async fn flow(backend: Backend) {
    let d = Deployment::new(backend);
    let u = seed(&d);
    let s = d.serve();
    let act = activity(&s, &u).await;
    let case_path = format!("/api/v1/audit/cases/{}/access-report", act.case);
    let routes = [
        "/api/v1/audit/events".to_owned(),
        "/api/v1/audit/verify".to_owned(),
        case_path.clone(),
    ];

    // ---- other roles: 403, each refusal recorded ----
    let others = [
        ("iscg.martin", &u.police),
        ("psy.bernard", &u.psy),
        ("greffe.vif", &u.court),
        ("coord.lea", &u.coordinator),
        ("admin.ops", &u.admin),
    ];
    for (_, t) in others {
        for r in &routes {
            problem(&s.call("GET", r, Some(t), None).await, 403, "forbidden");
        }
    }
    for r in &routes {
        problem(&s.call("GET", r, None, None).await, 401, "unauthorized");
        let forged = s.call("GET", r, Some("psl_forged"), None).await;
        problem(&forged, 401, "unauthorized");
    }

    let mut a = Auditor {
        s: &s,
        token: u.auditor.clone(),
        bodies: String::new(),
        answered: 0,
    };

    // ---- verify ----
    let v = a.get("/api/v1/audit/verify").await;
    assert_eq!(v.status, 200, "{:?}", v.json);
    assert_eq!(v.json["ok"], true, "{:?}", v.json);
    let entries = v.json["entries"].as_u64().expect("entries");
    assert!(entries >= 20);
    assert_eq!(v.json["head"].as_str().map(str::len), Some(64));
    let cp = v.json["checkpoint"].as_str().expect("checkpoint");
    assert!(
        cp.starts_with(&format!("passerelle/audit\n{entries}\n")),
        "{cp}"
    );
    assert_eq!(v.json["checkpoint_folder_size"], entries);

    // ---- every event, paged: dense, with the contract's fields ----
    let all = a.all("", 7).await;
    let seqs: Vec<u64> = all.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (0..seqs.len() as u64).collect::<Vec<_>>(),
        "dense, in order"
    );
    assert!(
        seqs.len() as u64 > entries,
        "the searches themselves are recorded"
    );
    for e in &all {
        for f in EVENT_FIELDS {
            assert!(e.get(*f).is_some(), "missing {f} in {e}");
        }
        assert_eq!(e["hash"].as_str().map(str::len), Some(64));
    }
    let actions: BTreeSet<&str> = all.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for want in [
        "org.added",
        "user.added",
        "token.issued",
        "auth.failed",
        "referral.filed",
        "referral.read",
        "referral.denied",
        "referral.accepted",
        "audit.read",
    ] {
        assert!(actions.contains(want), "no {want} in {actions:?}");
    }

    // ---- filters ----
    let by_case = a.all(&format!("case_id={}", act.case), 3).await;
    let case_actions: Vec<&str> = by_case
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        case_actions[..5],
        [
            "referral.filed",
            "referral.read",
            "referral.read",
            "referral.denied",
            "referral.accepted",
        ],
        "{case_actions:?}"
    );
    // Then this search's own records (each page of it is about this case).
    assert!(case_actions[5..].iter().all(|a| *a == "audit.read"));
    assert!(by_case.iter().all(|e| e["case_id"] == act.case.as_str()));
    let denied = by_case
        .iter()
        .find(|e| e["action"] == "referral.denied")
        .expect("the refused read");
    assert_eq!(denied["actor"], "greffe.vif");
    assert_eq!(denied["org"], "chambre-vif");
    assert_eq!(denied["outcome"], "denied");
    assert_eq!(denied["reason"], "not-party");
    assert_eq!(denied["target"], act.referral.as_str());

    let psy = a.all("actor=psy.bernard", 50).await;
    assert!(psy.len() >= 2 && psy.iter().all(|e| e["actor"] == "psy.bernard"));
    let org = a.all("org=avec63", 50).await;
    assert!(!org.is_empty() && org.iter().all(|e| e["org"] == "avec63"));
    let reads = a.all("action=referral.read", 50).await;
    assert_eq!(
        reads.len(),
        3,
        "two reads of the referral, one of the report"
    );
    assert!(reads.iter().all(|e| e["action"] == "referral.read"));
    let both = a.all("action=referral.read&actor=iscg.martin", 50).await;
    assert_eq!(both.len(), 1);
    let pivot = &all[all.len() / 2];
    let at = time(pivot);
    let since = a
        .all(
            &format!("since={}", pct(pivot["at"].as_str().unwrap())),
            200,
        )
        .await;
    assert!(since.iter().all(|e| time(e) >= at));
    assert!(since.iter().any(|e| e["seq"] == pivot["seq"]));
    let until = a
        .all(
            &format!("until={}", pct(pivot["at"].as_str().unwrap())),
            200,
        )
        .await;
    assert!(until.iter().all(|e| time(e) < at));
    assert!(!until.is_empty() && !until.iter().any(|e| e["seq"] == pivot["seq"]));
    assert!(a.all("until=2000-01-01T00:00:00Z", 50).await.is_empty());

    // The 226-14 3° report is flagged, with its legal basis; the consented one is not.
    let legal = a
        .all(
            &format!("case_id={}&action=referral.filed", act.legal_case),
            50,
        )
        .await;
    assert_eq!(legal.len(), 1);
    assert_eq!(legal[0]["legal_basis"], "legal_exception_226_14");
    assert_eq!(legal[0]["flag_226_14"], true);
    assert_eq!(legal[0]["actor"], "dr.roux");
    assert_eq!(legal[0]["target"], act.legal_referral.as_str());
    let consented = &by_case[0];
    assert_eq!(consented["legal_basis"], "consent");
    assert_eq!(consented["flag_226_14"], false);

    // Malformed queries: 400, echoing nothing.
    for q in [
        "action=referral.teleported",
        "case_id=not-a-uuid",
        "since=yesterday",
        "limit=0",
        "limit=201",
        "limit=many",
        "cursor=!!",
        "actor=Not%20A%20Username",
    ] {
        let r = a.get(&format!("/api/v1/audit/events?{q}")).await;
        problem(&r, 400, "bad-request");
        assert!(!r.json.to_string().contains("teleported"));
    }

    // ---- the access report of one case ----
    let report = a.get(&case_path).await;
    assert_eq!(report.status, 200, "{:?}", report.json);
    let items = report.json["items"].as_array().expect("items");
    let summary: Vec<(&str, &str, &str, &str)> = items
        .iter()
        .map(|i| {
            (
                i["action"].as_str().unwrap(),
                i["actor"].as_str().unwrap(),
                i["org"].as_str().unwrap(),
                i["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "referral.filed",
                "iscg.martin",
                "police-clermont",
                "allowed"
            ),
            ("referral.read", "psy.bernard", "avec63", "allowed"),
            ("referral.read", "iscg.martin", "police-clermont", "allowed"),
            ("referral.denied", "greffe.vif", "chambre-vif", "denied"),
        ]
    );
    for i in items {
        let keys: BTreeSet<&str> = i.as_object().unwrap().keys().map(String::as_str).collect();
        let contract: BTreeSet<&str> = ["at", "actor", "org", "action", "target", "legal_basis"]
            .into_iter()
            .collect();
        assert!(contract.is_subset(&keys), "{keys:?}");
        assert_eq!(i["target"], act.referral.as_str());
        // A refusal shared nothing: no legal basis.
        if i["outcome"] == "denied" {
            assert!(i["legal_basis"].is_null());
        } else {
            assert_eq!(i["legal_basis"], "consent");
        }
    }
    let legal_report = a
        .get(&format!(
            "/api/v1/audit/cases/{}/access-report",
            act.legal_case
        ))
        .await;
    let legal_items = legal_report.json["items"].as_array().expect("items");
    assert_eq!(legal_items.len(), 2, "{legal_items:?}");
    assert!(
        legal_items
            .iter()
            .all(|i| i["legal_basis"] == "legal_exception_226_14")
    );
    assert_eq!(legal_items[1]["actor"], "proc.durand");
    // A case that does not exist, or a malformed id: 404, recorded as refused.
    for id in [uuid::Uuid::new_v4().to_string(), "nope".to_owned()] {
        let r = a
            .get(&format!("/api/v1/audit/cases/{id}/access-report"))
            .await;
        problem(&r, 404, "not-found");
    }

    // ---- every audit call was recorded ----
    let answered = a.answered;
    let reads = a.all("action=audit.read", 200).await;
    let mine: Vec<&Value> = reads.iter().filter(|e| e["actor"] == "dpo.audit").collect();
    let allowed = mine.iter().filter(|e| e["outcome"] == "allowed").count();
    let not_found = mine
        .iter()
        .filter(|e| e["outcome"] == "denied" && e["reason"] == "not-found")
        .count();
    assert_eq!(allowed, answered, "one audit.read per answered call");
    assert_eq!(not_found, 2);
    for (name, _) in others {
        let theirs: Vec<&Value> = reads.iter().filter(|e| e["actor"] == name).collect();
        assert_eq!(theirs.len(), 3, "{name}: one refused audit.read per route");
        assert!(
            theirs
                .iter()
                .all(|e| e["outcome"] == "denied" && e["reason"] == "role")
        );
    }
    // The access report's own record names the case (it is about that case).
    assert!(
        reads
            .iter()
            .any(|e| e["case_id"] == act.case.as_str() && e["outcome"] == "allowed")
    );

    // ---- no content in any answer ----
    for v in VICTIM {
        assert!(!a.bodies.contains(v), "{v:?} in an audit answer");
    }
    // And the log still verifies, with every record of this test in it.
    let v = a.get("/api/v1/audit/verify").await;
    assert_eq!(v.json["ok"], true, "{:?}", v.json);
    assert!(s.stop().success());
    assert_intact(&d, &[]);
}

fn time(e: &Value) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(
        e["at"].as_str().expect("at"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339")
}

#[tokio::test(flavor = "multi_thread")]
async fn auditor_api_on_sqlite() {
    flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn auditor_api_on_postgres() {
    if let Some(pg) = Backend::postgres() {
        flow(pg).await;
    }
}
