//! Observability, on the real binary and both backends: a full run's log (every command's
//! stderr and the server's, at `debug` level) holds no victim data, password or token;
//! every line written inside a request carries its request id, and so does every error
//! body; `/metrics` serves request counts, latency histograms and the audit log's size,
//! only to the configured monitoring addresses or token.

use std::collections::HashSet;

use passerelle_e2e::{Answer, Backend, Body, Deployment, ServeOptions, contains};
use serde_json::{Value, json};

const NAME: &str = "Maëlle Quintavalle-Brisson";
const NARRATIVE: &str = "Sledgemarrow threats after the custody hearing";
const PHONE: &str = "+33 7 58 14 92 60";
const CODE_WORD: &str = "Capucine";
const PASSWORD: &str = "saxophone-nebula-47-quartz";
const METRICS_TOKEN: &str = "scrape-7f3a9c2e41d8b6";

fn filing() -> Value {
    json!({
        "to_org": "avec63",
        "purpose": "psychological_support",
        "urgency": "normal",
        "consent": {
            "basis": "consent", "method": "oral", "obtained_at": "2026-11-29T10:00:00Z",
            "recipients": ["avec63"], "purposes": ["psychological_support"],
            "data_categories": ["identity", "contact", "narrative"],
            "expires_at": "2099-01-01T00:00:00Z"
        },
        "subject": { "name": NAME, "birth_date": "1988-02-11", "phone": PHONE },
        "safety": { "channel": "phone", "hours": "après 18h", "voicemail_ok": false,
                    "may_name_org": false, "code_word": CODE_WORD, "do_not_contact": false },
        "notes": { "narrative": NARRATIVE }
    })
}

/// The problem body names the same request id as the response header.
fn request_id_in_body(a: &Answer, ids: &mut HashSet<String>) {
    assert_eq!(a.content_type, "application/problem+json", "{:?}", a.json);
    let header = a
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id header")
        .to_owned();
    assert_eq!(a.json["request_id"], header.as_str(), "{:?}", a.json);
    ids.insert(header);
}

/// The value of the first sample whose line starts with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn flow(backend: Backend) {
    let d = Deployment::new(backend);
    let mut cli_stderr = Vec::new();
    let mut run = |args: &[&str], stdin: Option<&str>| {
        let out = d.run(args, stdin);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cli_stderr.extend_from_slice(&out.stderr);
        String::from_utf8(out.stdout).expect("utf-8")
    };
    run(&["init"], None);
    run(
        &[
            "org",
            "add",
            "police-clermont",
            "--name",
            "Commissariat",
            "--kind",
            "police",
        ],
        None,
    );
    run(
        &[
            "org",
            "add",
            "avec63",
            "--name",
            "AVEC 63",
            "--kind",
            "association",
        ],
        None,
    );
    run(
        &[
            "user",
            "add",
            "iscg.martin",
            "--org",
            "police-clermont",
            "--role",
            "referrer",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    run(
        &[
            "user",
            "add",
            "psy.bernard",
            "--org",
            "avec63",
            "--role",
            "receiver",
        ],
        None,
    );
    let police = run(&["token", "issue", "iscg.martin"], None)
        .lines()
        .last()
        .expect("token")
        .to_owned();
    let psy = run(&["token", "issue", "psy.bernard"], None)
        .lines()
        .last()
        .expect("token")
        .to_owned();

    // The receiving organisation gets its notices by e-mail; no SMTP server is configured
    // here, so they stay in the outbox, pending.
    run(
        &["org", "set-email", "avec63", "accueil@avec63.example"],
        None,
    );

    let server = d.serve_opts(ServeOptions {
        env: vec![
            ("RUST_LOG".into(), "debug".into()),
            // Loopback is *not* allowed here: the token is the only way in.
            ("PASSERELLE_METRICS_ALLOW".into(), "192.0.2.0/24".into()),
            ("PASSERELLE_METRICS_TOKEN".into(), METRICS_TOKEN.into()),
        ],
        ..ServeOptions::default()
    });
    let s = &server;
    let mut ids = HashSet::new();

    let filed = s
        .call(
            "POST",
            "/api/v1/referrals",
            Some(&police),
            Some(Body::Json(filing())),
        )
        .await;
    assert_eq!(filed.status, 201, "{:?}", filed.json);
    let id = filed.json["id"].as_str().expect("id").to_owned();

    // Errors of every kind carry the request id in their body.
    request_id_in_body(
        &s.call(
            "GET",
            "/api/v1/referrals?box=inbox",
            Some("psl_forged-token"),
            None,
        )
        .await,
        &mut ids,
    );
    request_id_in_body(
        &s.call(
            "GET",
            &format!("/api/v1/referrals/{}", uuid::Uuid::new_v4()),
            Some(&psy),
            None,
        )
        .await,
        &mut ids,
    );
    let malformed = format!("{{\"subject\": {{\"name\": \"{NAME}\"");
    let bad = s
        .call(
            "POST",
            "/api/v1/referrals",
            Some(&police),
            Some(Body::Raw(malformed.into_bytes(), "application/json")),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(
        !bad.json.to_string().contains(NAME),
        "the body echoed input"
    );
    request_id_in_body(&bad, &mut ids);
    request_id_in_body(&s.call("GET", "/nowhere", None, None).await, &mut ids);

    // /metrics: refused without the token (loopback is not in the allow list), served
    // with it.
    let refused = s.call("GET", "/metrics", None, None).await;
    assert_eq!(refused.status, 403);
    request_id_in_body(&refused, &mut ids);
    let scrape = |s: &passerelle_e2e::Server| {
        let client = s.client.clone();
        let url = format!("{}/metrics", s.base);
        async move {
            let r = client
                .get(url)
                .bearer_auth(METRICS_TOKEN)
                .send()
                .await
                .expect("scrape");
            assert_eq!(r.status(), 200);
            assert!(
                r.headers()["content-type"]
                    .to_str()
                    .expect("ascii")
                    .starts_with("text/plain")
            );
            r.text().await.expect("text")
        }
    };
    let m1 = scrape(s).await;
    assert_eq!(
        sample(
            &m1,
            "passerelle_http_requests_total{method=\"POST\",route=\"/api/v1/referrals\",status=\"201\"}"
        ),
        Some(1.0),
        "{m1}"
    );
    assert!(m1.contains("passerelle_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/v1/referrals\",le=\"0.1\"}"));
    assert!(
        m1.contains("route=\"<unmatched>\""),
        "unmatched routes are one label"
    );
    assert_eq!(sample(&m1, "passerelle_referrals_overdue "), Some(0.0));
    assert_eq!(sample(&m1, "passerelle_database_up "), Some(1.0));
    let entries = sample(&m1, "passerelle_audit_entries ").expect("audit size");
    assert!(entries >= 5.0, "{entries}");
    // One content read appends one leaf, and the gauge follows.
    let open = s
        .call("GET", &format!("/api/v1/referrals/{id}"), Some(&psy), None)
        .await;
    assert_eq!(open.status, 200);
    assert_eq!(open.json["subject"]["name"], NAME);
    let m2 = scrape(s).await;
    assert_eq!(
        sample(&m2, "passerelle_audit_entries "),
        Some(entries + 1.0)
    );
    // No id of any referral in the metrics.
    assert!(!m2.contains(&id));
    // The filing queued one notice for the receiver, not mailed (no SMTP configured).
    assert_eq!(sample(&m1, "passerelle_notifications_pending "), Some(1.0));
    // Past its due time, unanswered, the referral is overdue (it was opened:
    // `acknowledged`), and the gauge says so at the next scrape.
    let past = match &d.backend {
        Backend::Sqlite => "due_at - 7 * 86400000000".to_owned(),
        _ => "due_at - interval '7 days'".to_owned(),
    };
    d.sql(&format!("UPDATE referrals SET due_at = {past}"));
    let m3 = scrape(s).await;
    assert_eq!(sample(&m3, "passerelle_referrals_overdue "), Some(1.0));
    assert_eq!(sample(&m3, "passerelle_notifications_pending "), Some(1.0));
    assert!(sample(&m3, "passerelle_audit_entries ").is_some_and(|n| n >= entries + 1.0));

    let log = server.log();
    assert!(server.stop().success());

    // Every line written inside a request names it.
    let mut request_lines = 0;
    for line in log.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let v: Value = serde_json::from_slice(line)
            .unwrap_or_else(|_| panic!("not a JSON log line: {}", String::from_utf8_lossy(line)));
        if v["target"] == "passerelle::access" {
            let rid = v["span"]["request_id"]
                .as_str()
                .expect("request id on access line");
            assert!(!rid.is_empty());
            request_lines += 1;
        }
        if let Some(spans) = v["spans"].as_array()
            && spans.iter().any(|sp| sp["name"] == "request")
        {
            assert!(
                v["span"]["request_id"].is_string()
                    || spans.iter().any(|sp| sp["request_id"].is_string())
            );
        }
    }
    assert!(request_lines >= 9, "{request_lines} access lines");
    let logged: String = String::from_utf8_lossy(&log).into_owned();
    for rid in &ids {
        assert!(
            logged.contains(rid.as_str()),
            "request {rid} not in the log"
        );
    }

    // Nothing secret or about the victim anywhere in a full run's log, even at debug.
    let all = [log.as_slice(), cli_stderr.as_slice()].concat();
    for needle in [
        NAME,
        NARRATIVE,
        PHONE,
        CODE_WORD,
        "après 18h",
        PASSWORD,
        METRICS_TOKEN,
    ] {
        assert!(!contains(&all, needle), "{needle:?} found in the log");
    }
    for token in [&police, &psy] {
        assert!(!contains(&all, token), "a token was logged");
        // Nor a recognisable part of it.
        assert!(!contains(&all, &token[4..24]), "part of a token was logged");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn observability_on_sqlite() {
    flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn observability_on_postgres() {
    if let Some(pg) = Backend::postgres() {
        flow(pg).await;
    }
}
