//! `passerelle referral shred ID`, as an operator would run it while `serve` serves, on
//! both backends: the content is destroyed (reads answer 410), the command shows no
//! content, and a shred killed after the keystore step (fault injection: the process
//! aborts like `kill -9`) is finished by running it again or by the next `serve`.

use passerelle_e2e::{Backend, Body, Deployment, all_bytes, contains};
use serde_json::json;

const NAME: &str = "Maëlys Quenderec-Abiven";
const NARRATIVE: &str = "Harbourlight argument on the stairwell";

fn filing() -> serde_json::Value {
    json!({
        "to_org": "avec63",
        "purpose": "psychological_support",
        "urgency": "normal",
        "consent": {
            "basis": "consent", "method": "written", "obtained_at": "2026-11-29T10:00:00Z",
            "recipients": ["avec63"], "purposes": ["psychological_support"],
            "data_categories": ["identity", "narrative"], "expires_at": "2099-11-29T00:00:00Z"
        },
        "subject": { "name": NAME },
        "safety": { "channel": "sms" },
        "notes": { "narrative": NARRATIVE }
    })
}

async fn flow(backend: Backend) {
    let d = Deployment::new(backend);
    d.ok(&["init"]);
    d.orgs(&[
        ("police-63", "Police", "police"),
        ("avec63", "AVEC 63", "association"),
    ]);
    d.users(&[
        ("iscg.martin", "police-63", "referrer"),
        ("psy.bernard", "avec63", "receiver"),
    ]);
    let police = d.token("iscg.martin");
    let psy = d.token("psy.bernard");
    let server = d.serve();
    let s = &server;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let a = s
            .call(
                "POST",
                "/api/v1/referrals",
                Some(&police),
                Some(Body::Json(filing())),
            )
            .await;
        assert_eq!(a.status, 201, "{:?}", a.json);
        ids.push(a.json["id"].as_str().unwrap().to_owned());
    }
    let (first, second) = (&ids[0], &ids[1]);
    let read = |id: &str, token: &str| {
        let path = format!("/api/v1/referrals/{id}");
        let token = token.to_owned();
        async move { s.call("GET", &path, Some(&token), None).await }
    };
    assert_eq!(read(first, &psy).await.status, 200);

    // Killed right after the keystore step: already unreadable.
    let crashed = d.run_env(
        &["referral", "shred", first],
        None,
        &[("PASSERELLE_FAULT", "shred-after-wraps")],
    );
    assert!(!crashed.status.success(), "the fault aborts the command");
    let gone = read(first, &psy).await;
    assert_eq!(gone.status, 410, "{:?}", gone.json);
    assert!(gone.json["type"].as_str().unwrap().ends_with("/gone"));
    // Run again: finished.
    let out = d.ok(&["referral", "shred", first]);
    assert!(
        out.contains("content destroyed") || out.contains("Interrupted shred"),
        "{out}"
    );
    assert_eq!(read(first, &psy).await.status, 410);
    assert_eq!(read(first, &police).await.status, 410);
    assert_eq!(read(second, &psy).await.status, 200);
    let again = d.ok(&["referral", "shred", first]);
    assert!(again.contains("already destroyed"), "{again}");
    for out in [&out, &again] {
        assert!(!out.contains(NAME) && !out.contains(NARRATIVE));
    }
    let unknown = d.run(
        &["referral", "shred", &uuid::Uuid::new_v4().to_string()],
        None,
    );
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no such referral"));
    let bad = d.run(&["referral", "shred", "not-a-uuid"], None);
    assert!(!bad.status.success());

    // Killed after queueing the request, before anything is deleted: the next `serve`
    // finishes it at start.
    let crashed = d.run_env(
        &["referral", "shred", second],
        None,
        &[("PASSERELLE_FAULT", "shred-after-queue")],
    );
    assert!(!crashed.status.success());
    let log = server.log();
    assert!(server.stop().success());
    let server = d.serve();
    let gone = server
        .call(
            "GET",
            &format!("/api/v1/referrals/{second}"),
            Some(&psy),
            None,
        )
        .await;
    assert_eq!(gone.status, 410, "{:?}", gone.json);
    let out = d.ok(&["referral", "shred", second]);
    assert!(
        out.contains("already destroyed"),
        "serve finished it: {out}"
    );
    let log2 = server.log();
    assert!(server.stop().success());

    let bytes = all_bytes(&d.data_dir());
    let dump = d.backend.dump();
    for needle in [NAME, NARRATIVE] {
        assert!(!contains(&bytes, needle), "{needle:?} in the data dir");
        assert!(!contains(&dump, needle), "{needle:?} in pg_dump");
        assert!(!contains(&log, needle) && !contains(&log2, needle));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn shred_command_on_sqlite() {
    flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shred_command_on_postgres() {
    if let Some(pg) = Backend::postgres() {
        flow(pg).await;
    }
}
