//! A request whose body is refused before it was read (no credential, a rate limit, a body
//! too large) is answered with `Connection: close`: hyper closes such a connection, and a
//! client must not reuse it for its next request (schemathesis met a closed socket after a
//! `429` before this). A body read to its end keeps the connection.

mod support;

use passerelle_domain::enums::{OrgKind, Role};
use passerelle_web::ratelimit::Limits;
use serde_json::json;
use support::*;

#[tokio::test]
async fn unread_bodies_close_the_connection() {
    let app = TestApp::new(Backend::Sqlite, Limits::disabled())
        .await
        .expect("an SQLite app");
    app.org("police-63", OrgKind::Police).await;
    app.user("iscg.martin", "police-63", Role::Referrer).await;
    let bearer = format!("Bearer {}", app.token("iscg.martin").await);
    let body = json!({ "to_org": "avec63" });
    let len = serde_json::to_vec(&body).expect("json").len().to_string();

    // No credential: refused before the body is read.
    let a = app
        .send(
            "POST",
            "/api/v1/referrals",
            &[("content-length", len.clone())],
            Payload::Json(body.clone()),
        )
        .await;
    assert_eq!(a.status, 401);
    assert_eq!(a.header("connection").as_deref(), Some("close"));

    // Read to its end, then refused as incomplete: the connection stays usable.
    let a = app
        .send(
            "POST",
            "/api/v1/referrals",
            &[("content-length", len), ("authorization", bearer.clone())],
            Payload::Json(body),
        )
        .await;
    assert!(a.status == 400 || a.status == 422, "{}", a.status);
    assert_eq!(a.header("connection"), None);

    // No body at all: nothing to say.
    let a = app
        .send(
            "GET",
            "/api/v1/referrals?box=inbox",
            &[("authorization", bearer)],
            Payload::Empty,
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("connection"), None);
}
