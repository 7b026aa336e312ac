//! Layers around every route: request ids, the client address, body limits, security
//! headers, access logs and metrics (method, matched route, status, latency — never a
//! body, a query string or a header value), and problem+json for the router's own 404/405.
//!
//! Every log line written while a request is handled carries its request id: the access
//! layer opens a `request` span holding `request_id`, `method` and `route`, and the JSON
//! log format prints the current span's fields on every line.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tracing::Instrument;

use crate::problem::Problem;
use crate::{AppState, MAX_JSON_BYTES, WebConfig};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps the routes with every layer.
pub fn wrap(router: Router<AppState>, config: &WebConfig) -> Router<AppState> {
    let limiter = crate::ratelimit::Limiter::new(config.limits);
    let mut router = router
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(
            limiter,
            crate::ratelimit::limit,
        ))
        .layer(middleware::from_fn(close_when_body_unread))
        .layer(middleware::from_fn(problem_request_id))
        .layer(middleware::from_fn(access_log))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_JSON_BYTES))
        .layer(axum::Extension(Arc::new(config.metrics.clone())));
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=()",
        ),
    ] {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    if config.hsts {
        router = router.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        ));
    }
    let trusted = Arc::new(config.trusted_proxies.clone());
    router
        .layer(middleware::from_fn(move |req, next| {
            crate::client_addr::layer(trusted.clone(), req, next)
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

async fn fallback(method: axum::http::Method) -> Response {
    let _ = method;
    Problem::not_found().into_response()
}

/// Answers with `Connection: close` (HTTP/1) when the request had a body that was not read
/// to its end: a refusal before the handler (rate limit, authentication, a body too large)
/// leaves it unread, and hyper then closes the connection. Without the header a client
/// reusing the connection for its next request would meet a closed socket (schemathesis
/// found it: "EOF occurred in violation of protocol" after a 429).
async fn close_when_body_unread(req: Request, next: Next) -> Response {
    use futures::StreamExt;
    use std::sync::atomic::{AtomicBool, Ordering};

    let has_body = req.version() <= axum::http::Version::HTTP_11
        && (req.headers().contains_key(header::TRANSFER_ENCODING)
            || req
                .headers()
                .get(header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() != b"0"));
    if !has_body {
        return next.run(req).await;
    }
    let read = Arc::new(AtomicBool::new(false));
    let flag = read.clone();
    let (parts, body) = req.into_parts();
    let end = futures::stream::once(async move {
        flag.store(true, Ordering::SeqCst);
        None::<Result<axum::body::Bytes, axum::Error>>
    })
    .filter_map(futures::future::ready);
    let body = axum::body::Body::from_stream(body.into_data_stream().chain(end));
    let mut res = next.run(Request::from_parts(parts, body)).await;
    if !read.load(Ordering::SeqCst) {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

/// Adds the request id to problem bodies (they are rendered before it is known).
async fn problem_request_id(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let res = next.run(req).await;
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/problem+json");
    if res.status() == StatusCode::METHOD_NOT_ALLOWED && !is_problem {
        return Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            "This route does not take this method.",
        )
        .into_response_with(id.as_deref());
    }
    if !is_problem || id.is_none() {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        obj.insert("request_id".into(), serde_json::Value::from(id));
    }
    let bytes = serde_json::to_vec(&value).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// One log line per request: method, matched route (ids are not content but the route
/// template is enough), status, latency, request id. Never bodies, queries or headers.
async fn access_log(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "<unmatched>".into());
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_default();
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let start = std::time::Instant::now();
    let res = next.run(req).instrument(span.clone()).await;
    let elapsed: Duration = start.elapsed();
    crate::metrics::record_request(method.as_str(), &route, res.status().as_u16(), elapsed);
    span.in_scope(|| {
        tracing::info!(
            target: "passerelle::access",
            status = res.status().as_u16(),
            micros = elapsed.as_micros() as u64,
            "request"
        )
    });
    res
}
