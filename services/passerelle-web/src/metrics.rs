//! Prometheus metrics: what is recorded on every request, and the `/metrics` route.
//!
//! Recorded (labels are route *templates*, methods and status codes only, never an id,
//! a query string or anything a client chose, so their number stays bounded):
//! - `passerelle_http_requests_total{method, route, status}` (counter);
//! - `passerelle_http_request_duration_seconds{method, route}` (histogram);
//! - computed at each scrape from the database: `passerelle_audit_entries` (the audit
//!   head's size), `passerelle_referrals_overdue` (`sent`/`acknowledged` past `due_at`),
//!   `passerelle_notifications_pending` (outbox notices not yet e-mailed to an organisation
//!   with an address), `passerelle_database_up`;
//! - set by the binary: `passerelle_leader{job}`, `passerelle_tls_reloads_total{outcome}`,
//!   `passerelle_build_info{version}`.
//!
//! Who may read `/metrics`: it is metadata (counts, delays), but counts of overdue
//! referrals per deployment are still information about the service's activity, so it is
//! served only to clients whose address is in `PASSERELLE_METRICS_ALLOW` (default: the
//! loopback addresses, and nobody when `--behind-proxy` is set, since every request then
//! comes from the proxy), or that present `Authorization: Bearer <PASSERELLE_METRICS_TOKEN>`.
//! Anyone else gets `403`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Extension;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::client_addr::{ClientAddr, in_nets};
use crate::problem::Problem;

/// Latency buckets, in seconds: from a cached read to a slow attachment upload.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus recorder, installed on first use. When another recorder was
/// installed first (a test harness), the handle renders what this one saw: nothing.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), BUCKETS)
            .map(|b| b.build_recorder())
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_ok() {
            metrics::gauge!("passerelle_build_info", "version" => env!("CARGO_PKG_VERSION"))
                .set(1.0);
        }
        handle
    })
}

/// Records one answered request.
pub fn record_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    metrics::counter!(
        "passerelle_http_requests_total",
        "method" => method.to_owned(),
        "route" => route.to_owned(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!(
        "passerelle_http_request_duration_seconds",
        "method" => method.to_owned(),
        "route" => route.to_owned()
    )
    .record(elapsed.as_secs_f64());
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct MetricsAccess {
    /// Client addresses allowed without a token.
    pub allow: Vec<IpNet>,
    /// SHA-256 of the scrape token, when one is configured.
    pub token_sha256: Option<[u8; 32]>,
}

impl MetricsAccess {
    fn allows(&self, client: Option<ClientAddr>, bearer: Option<&str>) -> bool {
        if let (Some(expected), Some(given)) = (&self.token_sha256, bearer) {
            let given: [u8; 32] = Sha256::digest(given.as_bytes()).into();
            // Digests of equal length: compare without an early exit.
            if given
                .iter()
                .zip(expected.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
            {
                return true;
            }
        }
        client.is_some_and(|c| in_nets(c.0, &self.allow))
    }
}

/// `GET /metrics`.
pub async fn serve(
    State(s): State<AppState>,
    Extension(access): Extension<Arc<MetricsAccess>>,
    req: Request,
) -> Response {
    let client = req.extensions().get::<ClientAddr>().copied();
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if !access.allows(client, bearer) {
        return Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Forbidden",
            "Metrics are served to the configured monitoring addresses or token only.",
        )
        .into_response();
    }
    match s.core.gauges().await {
        Ok(g) => {
            metrics::gauge!("passerelle_database_up").set(1.0);
            metrics::gauge!("passerelle_audit_entries").set(g.audit_entries as f64);
            metrics::gauge!("passerelle_referrals_overdue").set(g.overdue_referrals as f64);
            metrics::gauge!("passerelle_notifications_pending").set(g.pending_notifications as f64);
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the database did not answer");
            metrics::gauge!("passerelle_database_up").set(0.0);
        }
    }
    let mut res = (StatusCode::OK, handle().render()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_by_address_or_token() {
        let access = MetricsAccess {
            allow: vec!["127.0.0.0/8".parse().expect("net")],
            token_sha256: Some(Sha256::digest(b"scrape-secret").into()),
        };
        let local = Some(ClientAddr("127.0.0.1".parse().expect("ip")));
        let remote = Some(ClientAddr("192.0.2.7".parse().expect("ip")));
        assert!(access.allows(local, None));
        assert!(!access.allows(remote, None));
        assert!(!access.allows(remote, Some("wrong")));
        assert!(access.allows(remote, Some("scrape-secret")));
        assert!(!access.allows(None, None));
        let closed = MetricsAccess::default();
        assert!(!closed.allows(local, Some("scrape-secret")));
    }
}
