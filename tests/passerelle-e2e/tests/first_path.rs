//! The foundation's path, as a new user would walk it, on both backends: init, three
//! organisations, users, tokens, serve; file, list, open, accept; refusals; and afterwards
//! no victim string in any byte of the data dir or of a `pg_dump`.

use passerelle_e2e::{Backend, Body, Deployment, all_bytes, contains, problem};
use serde_json::{Value, json};

const NAME: &str = "Zoubida Kervella-Tamsir";
const NARRATIVE: &str = "Wrenchfold quarrel overheard by the neighbour";
const PHONE: &str = "+33 6 71 29 48 03";

fn filing(to: &str, recipients: &[&str]) -> Value {
    json!({
        "to_org": to,
        "purpose": "psychological_support",
        "urgency": "normal",
        "danger_grid": { "yes_answers": 3, "red_answers": 2 },
        "consent": {
            "basis": "consent",
            "method": "written",
            "obtained_at": "2026-11-29T10:00:00Z",
            "recipients": recipients,
            "purposes": ["psychological_support", "court_proceedings"],
            "data_categories": ["identity", "contact", "narrative", "risk"],
            "expires_at": "2099-11-29T00:00:00Z"
        },
        "subject": { "name": NAME, "birth_date": "1990-04-02", "phone": PHONE },
        "safety": { "channel": "sms", "hours": "9h-12h en semaine", "voicemail_ok": false,
                    "may_name_org": false, "code_word": "Tournesol", "do_not_contact": false },
        "notes": { "narrative": NARRATIVE, "risk": "Menaces répétées" }
    })
}

async fn flow(backend: Backend) {
    let d = Deployment::new(backend);
    let init = d.ok(&["init"]);
    assert!(init.contains("Next steps"));
    // init refuses to overwrite keys.
    let again = d.run(&["init"], None);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));

    d.orgs(&[
        ("police-clermont", "Commissariat", "police"),
        ("avec63", "AVEC 63", "association"),
        ("chambre-vif", "Chambre VIF", "court"),
        ("cidff63", "CIDFF 63", "association"),
    ]);
    let bad_kind = d.run(
        &["org", "add", "x1", "--name", "X", "--kind", "spaceship"],
        None,
    );
    assert!(!bad_kind.status.success());
    d.users(&[("iscg.martin", "police-clermont", "referrer")]);
    let out = d.run(
        &[
            "user",
            "add",
            "psy.bernard",
            "--org",
            "avec63",
            "--role",
            "receiver",
            "--password-stdin",
        ],
        Some("correct horse battery staple\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    d.users(&[
        ("greffe.vif", "chambre-vif", "receiver"),
        ("dpo.audit", "avec63", "auditor"),
    ]);
    let dup = d.run(
        &[
            "user",
            "add",
            "iscg.martin",
            "--org",
            "avec63",
            "--role",
            "receiver",
        ],
        None,
    );
    assert!(!dup.status.success());

    let police = d.token("iscg.martin");
    let psy = d.token("psy.bernard");
    let court = d.token("greffe.vif");
    let auditor = d.token("dpo.audit");
    assert!(police.starts_with("psl_") && police.len() > 40);

    let server = d.serve();
    let s = &server;
    assert_eq!(s.call("GET", "/healthz", None, None).await.status, 200);
    assert_eq!(s.call("GET", "/readyz", None, None).await.status, 200);

    // No credentials, bad credentials.
    problem(
        &s.call("GET", "/api/v1/referrals?box=inbox", None, None)
            .await,
        401,
        "unauthorized",
    );
    problem(
        &s.call(
            "GET",
            "/api/v1/referrals?box=inbox",
            Some("psl_forged"),
            None,
        )
        .await,
        401,
        "unauthorized",
    );

    // File: police → AVEC 63, consent covering AVEC 63 and the chamber.
    let a = s
        .call(
            "POST",
            "/api/v1/referrals",
            Some(&police),
            Some(Body::Json(filing("avec63", &["avec63", "chambre-vif"]))),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    let id = a.json["id"].as_str().expect("id").to_owned();
    assert_eq!(a.json["status"], "sent");
    assert_eq!(a.json["from_org"], "police-clermont");
    assert_eq!(a.json["to_org"], "avec63");
    // The grid (2 red answers) raises "normal" to "high".
    assert_eq!(a.json["urgency"], "high");
    assert!(a.json["parent_id"].is_null());
    for k in ["case_id", "reference", "created_at", "due_at"] {
        assert!(a.json[k].is_string(), "missing {k}");
    }
    assert!(a.json.get("subject").is_none());

    // Listed in the association's inbox, metadata only.
    let inbox = s
        .call("GET", "/api/v1/referrals?box=inbox", Some(&psy), None)
        .await;
    assert_eq!(inbox.status, 200);
    let items = inbox.json["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id.as_str());
    assert!(items[0].get("subject").is_none() && items[0].get("notes").is_none());
    assert!(inbox.json["next_cursor"].is_null());
    let sent = s
        .call("GET", "/api/v1/referrals?box=sent", Some(&police), None)
        .await;
    assert_eq!(sent.json["items"].as_array().map(Vec::len), Some(1));
    problem(
        &s.call("GET", "/api/v1/referrals?box=attic", Some(&psy), None)
            .await,
        400,
        "bad-request",
    );
    problem(
        &s.call("GET", "/api/v1/referrals?box=inbox", Some(&auditor), None)
            .await,
        403,
        "forbidden",
    );

    // The sender accepting is on the wrong side: 403.
    problem(
        &s.call(
            "POST",
            &format!("/api/v1/referrals/{id}/accept"),
            Some(&police),
            None,
        )
        .await,
        403,
        "forbidden",
    );

    // Opened by the receiver: content, and the first read acknowledges.
    let open = s
        .call("GET", &format!("/api/v1/referrals/{id}"), Some(&psy), None)
        .await;
    assert_eq!(open.status, 200, "{:?}", open.json);
    assert_eq!(open.json["subject"]["name"], NAME);
    assert_eq!(open.json["notes"]["narrative"], NARRATIVE);
    assert_eq!(open.json["safety"]["code_word"], "Tournesol");
    assert_eq!(open.json["danger_grid"]["red_answers"], 2);
    assert_eq!(open.json["consent"]["basis"], "consent");
    assert_eq!(open.json["status"], "acknowledged");
    // The sender reads it too, without changing its state.
    let by_sender = s
        .call(
            "GET",
            &format!("/api/v1/referrals/{id}"),
            Some(&police),
            None,
        )
        .await;
    assert_eq!(by_sender.status, 200);
    assert_eq!(by_sender.json["status"], "acknowledged");

    // Accepted; accepting twice is a state conflict.
    let acc = s
        .call(
            "POST",
            &format!("/api/v1/referrals/{id}/accept"),
            Some(&psy),
            None,
        )
        .await;
    assert_eq!(acc.status, 200, "{:?}", acc.json);
    assert_eq!(acc.json["status"], "accepted");
    problem(
        &s.call(
            "POST",
            &format!("/api/v1/referrals/{id}/accept"),
            Some(&psy),
            None,
        )
        .await,
        409,
        "conflict",
    );

    // The court is not party: 404, exactly like a referral that does not exist.
    let foreign = s
        .call(
            "GET",
            &format!("/api/v1/referrals/{id}"),
            Some(&court),
            None,
        )
        .await;
    let missing = s
        .call(
            "GET",
            &format!("/api/v1/referrals/{}", uuid::Uuid::new_v4()),
            Some(&court),
            None,
        )
        .await;
    problem(&foreign, 404, "not-found");
    problem(&missing, 404, "not-found");
    let strip = |v: &Value| {
        let mut v = v.clone();
        v.as_object_mut().map(|o| o.remove("request_id"));
        v
    };
    assert_eq!(strip(&foreign.json), strip(&missing.json));
    problem(
        &s.call(
            "POST",
            &format!("/api/v1/referrals/{id}/accept"),
            Some(&court),
            None,
        )
        .await,
        404,
        "not-found",
    );

    // Close with an outcome.
    let closed = s
        .call(
            "POST",
            &format!("/api/v1/referrals/{id}/close"),
            Some(&psy),
            Some(Body::Json(json!({"outcome": "got_help"}))),
        )
        .await;
    assert_eq!(closed.status, 200, "{:?}", closed.json);
    assert_eq!(closed.json["status"], "closed");

    // An organisation outside the consent: 422 consent-recipient.
    let out = s
        .call(
            "POST",
            "/api/v1/referrals",
            Some(&police),
            Some(Body::Json(filing("cidff63", &["avec63"]))),
        )
        .await;
    problem(&out, 422, "consent-recipient");
    // A field outside the consented categories: 422 consent-category.
    let mut medical = filing("avec63", &["avec63"]);
    medical["notes"]["medical"] = json!("Fracture");
    problem(
        &s.call(
            "POST",
            "/api/v1/referrals",
            Some(&police),
            Some(Body::Json(medical)),
        )
        .await,
        422,
        "consent-category",
    );
    // 226-14 3° by a police user: 422 legal-exception.
    let mut legal = filing("avec63", &["avec63"]);
    legal["consent"]["basis"] = json!("legal_exception_226_14");
    problem(
        &s.call(
            "POST",
            "/api/v1/referrals",
            Some(&police),
            Some(Body::Json(legal)),
        )
        .await,
        422,
        "legal-exception",
    );
    // A receiver may not file: 403.
    problem(
        &s.call(
            "POST",
            "/api/v1/referrals",
            Some(&psy),
            Some(Body::Json(filing("avec63", &["avec63"]))),
        )
        .await,
        403,
        "forbidden",
    );

    // Malformed bodies: 400 problem+json that does not echo the input.
    let bad = s
        .call(
            "POST",
            "/api/v1/referrals",
            Some(&police),
            Some(Body::Raw(b"{\"to_org\": ".to_vec(), "application/json")),
        )
        .await;
    problem(&bad, 400, "bad-request");
    let mut unknown = filing("avec63", &["avec63"]);
    unknown["purpose"] = json!("astrology");
    let a = s
        .call(
            "POST",
            "/api/v1/referrals",
            Some(&police),
            Some(Body::Json(unknown)),
        )
        .await;
    problem(&a, 400, "bad-request");
    assert!(!a.json.to_string().contains(NAME));
    let invalid_utf8 = s
        .call(
            "POST",
            "/api/v1/referrals",
            Some(&police),
            Some(Body::Raw(vec![b'{', 0xff, b'}'], "application/json")),
        )
        .await;
    problem(&invalid_utf8, 400, "bad-request");
    // Too large: 413.
    let big = vec![b' '; 2 * 1024 * 1024];
    problem(
        &s.call(
            "POST",
            "/api/v1/referrals",
            Some(&police),
            Some(Body::Raw(big, "application/json")),
        )
        .await,
        413,
        "too-large",
    );

    // Cursor pagination over several referrals, stable and complete.
    let mut filed = vec![id.clone()];
    for _ in 0..4 {
        let a = s
            .call(
                "POST",
                "/api/v1/referrals",
                Some(&police),
                Some(Body::Json(filing("avec63", &["avec63"]))),
            )
            .await;
        assert_eq!(a.status, 201);
        filed.push(a.json["id"].as_str().expect("id").to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => "/api/v1/referrals?box=sent&limit=2".to_string(),
            Some(c) => format!("/api/v1/referrals?box=sent&limit=2&cursor={c}"),
        };
        let page = s.call("GET", &path, Some(&police), None).await;
        assert_eq!(page.status, 200);
        let items = page.json["items"].as_array().expect("items");
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|i| i["id"].as_str().expect("id").to_owned()),
        );
        match page.json["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut a = seen.clone();
    a.sort();
    a.dedup();
    assert_eq!(a.len(), 5, "every referral exactly once: {seen:?}");
    let mut b = filed.clone();
    b.sort();
    assert_eq!(a, b);

    // Security headers on every answer.
    let h = s.call("GET", "/healthz", None, None).await.headers;
    assert!(h.get("strict-transport-security").is_some());
    assert_eq!(
        h.get("x-content-type-options").map(|v| v.to_str().ok()),
        Some(Some("nosniff"))
    );
    assert!(h.get("x-request-id").is_some());

    let log = server.log();
    let status = server.stop();
    assert!(
        status.success(),
        "graceful shutdown exits 0, got {status:?}"
    );

    // No victim data anywhere at rest, nor in the log.
    let bytes = all_bytes(&d.data_dir());
    let dump = d.backend.dump();
    for needle in [NAME, NARRATIVE, PHONE, "Tournesol", "Menaces"] {
        assert!(
            !contains(&bytes, needle),
            "{needle:?} found in the data dir"
        );
        assert!(!contains(&dump, needle), "{needle:?} found in pg_dump");
        assert!(!contains(&log, needle), "{needle:?} found in the log");
    }
    for token in [&police, &psy, &court] {
        assert!(!contains(&log, token), "a token was logged");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn first_path_on_sqlite() {
    flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn first_path_on_postgres() {
    if let Some(pg) = Backend::postgres() {
        flow(pg).await;
    }
}
