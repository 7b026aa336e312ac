//! A forward is one transaction: the new referral, its copied attachments (re-sealed to
//! the new referral's key) and its audit leaves. The server is killed (fault injection,
//! `PASSERELLE_FAULT=forward-copy:2`: abort after the second attachment copy is staged)
//! in the middle of a forward carrying three attachments: after a restart there is no
//! forward at all — no referral, no leaf, nothing in the onward organisation's box, the
//! parent's attachments as they were, the log intact — and the forward done again works.

use passerelle_e2e::{Backend, Body, Deployment};
use serde_json::{Value, json};

const NAME: &str = "Maëlys Roche-Aubépin";

fn filing() -> Value {
    json!({
        "to_org": "avec63",
        "purpose": "psychological_support",
        "urgency": "normal",
        "consent": {
            "basis": "consent", "method": "written", "obtained_at": "2026-11-29T10:00:00Z",
            "recipients": ["avec63", "chambre-vif"],
            "purposes": ["psychological_support", "court_proceedings"],
            "data_categories": ["identity", "narrative"],
            "expires_at": "2099-01-01T00:00:00Z"
        },
        "subject": { "name": NAME, "birth_date": "1987-02-11" },
        "safety": { "channel": "sms", "hours": "soir", "voicemail_ok": false,
                    "may_name_org": false, "code_word": "Gentiane", "do_not_contact": false },
        "notes": { "narrative": "Plainte déposée le matin même" }
    })
}

fn forward() -> Value {
    json!({
        "to_org": "chambre-vif",
        "purpose": "court_proceedings",
        "data_categories": ["identity", "narrative"],
        "note": "Audience à prévoir"
    })
}

async fn killed_mid_copy(backend: Backend) {
    let d = Deployment::new(backend);
    d.ok(&["init"]);
    d.orgs(&[
        ("police-clermont", "Commissariat", "police"),
        ("avec63", "AVEC 63", "association"),
        ("chambre-vif", "Chambre VIF", "court"),
    ]);
    d.users(&[
        ("iscg.martin", "police-clermont", "referrer"),
        ("psy.bernard", "avec63", "receiver"),
        ("greffe.vif", "chambre-vif", "receiver"),
    ]);
    let police = d.token("iscg.martin");
    let psy = d.token("psy.bernard");
    let greffe = d.token("greffe.vif");

    let server = d.serve_with(&[("PASSERELLE_FAULT", "forward-copy:2")]);
    let filed = server
        .call(
            "POST",
            "/api/v1/referrals",
            Some(&police),
            Some(Body::Json(filing())),
        )
        .await;
    assert_eq!(filed.status, 201, "{:?}", filed.json);
    let id = filed.json["id"].as_str().expect("id").to_owned();
    assert_eq!(
        server
            .call("GET", &format!("/api/v1/referrals/{id}"), Some(&psy), None)
            .await
            .status,
        200
    );
    let accepted = server
        .call(
            "POST",
            &format!("/api/v1/referrals/{id}/accept"),
            Some(&psy),
            None,
        )
        .await;
    assert_eq!(accepted.status, 200);
    for n in 0..3 {
        let up = server
            .client
            .post(format!("{}/api/v1/referrals/{id}/attachments", server.base))
            .bearer_auth(&psy)
            .header("x-filename", format!("piece-{n}.pdf"))
            .header("x-data-category", "narrative")
            .body(format!("%PDF-1.4 pièce {n} ").repeat(5000).into_bytes())
            .send()
            .await
            .expect("upload");
        assert_eq!(up.status(), 201);
    }
    let leaves_before: u64 = d
        .sql("SELECT count(*) FROM audit_leaves")
        .parse()
        .expect("n");

    // The forward: the process aborts after staging the second copy.
    let res = server
        .client
        .post(format!("{}/api/v1/referrals/{id}/forward", server.base))
        .bearer_auth(&psy)
        .json(&forward())
        .send()
        .await;
    assert!(res.is_err(), "the server died mid-forward: {res:?}");
    drop(server);

    // No half forward: no referral, no leaf of it, nothing in the onward box.
    assert_eq!(d.sql("SELECT count(*) FROM referrals"), "1");
    let leaves_after: u64 = d
        .sql("SELECT count(*) FROM audit_leaves")
        .parse()
        .expect("n");
    assert_eq!(leaves_after, leaves_before, "no leaf of the killed forward");
    assert_eq!(
        d.sql("SELECT count(*) FROM attachments WHERE completed_at IS NOT NULL"),
        "3",
        "only the parent's own attachments are complete"
    );
    assert_eq!(
        d.sql("SELECT count(*) FROM attachments WHERE completed_at IS NULL"),
        "2",
        "the staged copies stay incomplete (invisible) until the stale-upload sweep"
    );
    let out = d.ok(&["audit", "verify"]);
    assert!(!out.is_empty());

    let server = d.serve();
    let inbox = server
        .call("GET", "/api/v1/referrals?box=inbox", Some(&greffe), None)
        .await;
    assert_eq!(inbox.status, 200);
    assert_eq!(inbox.json["items"].as_array().map(Vec::len), Some(0));
    let parent = server
        .call("GET", &format!("/api/v1/referrals/{id}"), Some(&psy), None)
        .await;
    assert_eq!(parent.json["attachments"].as_array().map(Vec::len), Some(3));

    // Done again, whole: the forward and its three copies, readable by the court.
    let again = server
        .call(
            "POST",
            &format!("/api/v1/referrals/{id}/forward"),
            Some(&psy),
            Some(Body::Json(forward())),
        )
        .await;
    assert_eq!(again.status, 201, "{:?}", again.json);
    let fid = again.json["id"].as_str().expect("id").to_owned();
    let read = server
        .call(
            "GET",
            &format!("/api/v1/referrals/{fid}"),
            Some(&greffe),
            None,
        )
        .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.json["subject"]["name"], NAME);
    let copies = read.json["attachments"].as_array().expect("attachments");
    assert_eq!(copies.len(), 3);
    let aid = copies[0]["id"].as_str().expect("aid");
    let bytes = server
        .client
        .get(format!(
            "{}/api/v1/referrals/{fid}/attachments/{aid}",
            server.base
        ))
        .bearer_auth(&greffe)
        .send()
        .await
        .expect("download");
    assert_eq!(bytes.status(), 200);
    assert!(bytes.bytes().await.expect("body").starts_with(b"%PDF-1.4"));
    assert!(server.stop().success());
    assert!(!d.ok(&["audit", "verify"]).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forward_killed_mid_copy_leaves_nothing_on_sqlite() {
    killed_mid_copy(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forward_killed_mid_copy_leaves_nothing_on_postgres() {
    if let Some(pg) = Backend::postgres() {
        killed_mid_copy(pg).await;
    }
}
