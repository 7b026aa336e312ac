//! API token authentication through core, on both backends: one store read per request
//! gives the principal, and every check holds on the next request (expiry by the service's
//! clock, a disabled user, a revoked token), nothing cached.

mod support;

use std::sync::Arc;

use passerelle_core::{CoreError, FixedClock};
use passerelle_domain::enums::{OrgKind, Role};
use support::{Backend, Harness, ctx};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const T0: OffsetDateTime = datetime!(2027-03-01 09:00:00 UTC);

async fn checks(backend: Backend) {
    let clock = Arc::new(FixedClock::new(T0));
    let Some(h) = Harness::with_clock(backend, clock.clone()).await else {
        return;
    };
    h.org("ops", OrgKind::Centre).await;
    h.org("chu63", OrgKind::Hospital).await;
    let admin = h.user("admin.o", "ops", Role::Admin).await;
    let nurse = h.user("ide.a", "chu63", Role::Receiver).await;
    let coord = h.user("coord.a", "chu63", Role::Coordinator).await;
    let issue = |user: &'static str, days: i64| {
        let (h, admin) = (&h, &admin);
        async move {
            h.core
                .issue_token_as(admin, user, days, &ctx())
                .await
                .expect("token")
        }
    };
    let (short, long, other) = (
        issue("ide.a", 1).await,
        issue("ide.a", 7).await,
        issue("coord.a", 7).await,
    );
    let auth = |t: &str| {
        let (h, t) = (&h, t.to_owned());
        async move { h.core.authenticate_token(&t, &ctx()).await }
    };

    assert_eq!(auth(&short.token).await.expect("valid"), nurse);
    assert_eq!(auth(&other.token).await.expect("valid"), coord);
    let p = auth(&long.token).await.expect("valid");
    assert_eq!(p.org_slug().as_str(), "chu63");
    assert_eq!(p.org_kind(), OrgKind::Hospital);
    assert_eq!(p.role(), Role::Receiver);

    // Expiry, by the service's clock.
    clock.set(T0 + Duration::days(1) + Duration::seconds(1));
    assert!(matches!(
        auth(&short.token).await,
        Err(CoreError::Unauthenticated)
    ));
    assert_eq!(auth(&long.token).await.expect("still valid"), nurse);

    // A disabled user: refused on the next request.
    assert!(
        h.core
            .disable_user("coord.a", &ctx())
            .await
            .expect("disabled")
    );
    assert!(matches!(
        auth(&other.token).await,
        Err(CoreError::Unauthenticated)
    ));

    // A revoked token: refused on the next request.
    h.core
        .revoke_token_as(&admin, &long.id.to_string(), &ctx())
        .await
        .expect("revoked");
    assert!(matches!(
        auth(&long.token).await,
        Err(CoreError::Unauthenticated)
    ));
    assert!(matches!(
        auth("psl_not-a-token").await,
        Err(CoreError::Unauthenticated)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_checks_on_sqlite() {
    checks(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_checks_on_postgres() {
    checks(Backend::Postgres).await;
}
