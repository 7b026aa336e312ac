//! The handlers: each one parses, calls one core use case with the caller, and renders.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use passerelle_core::{CloseRequest, DeclineRequest, ListParams};
use passerelle_domain::ids::ReferralId;
use passerelle_domain::model::FilingRequest;

use crate::extract::{Caller, Json};
use crate::problem::{ApiResult, Problem};
use crate::{AppState, Routes};

/// Registers every route.
pub fn register(r: Routes) -> Routes {
    r.add(&[Method::GET], "/healthz", get(healthz))
        .add(&[Method::GET], "/readyz", get(readyz))
        .add(
            &[Method::GET, Method::POST],
            "/api/v1/referrals",
            get(list_referrals).post(file_referral),
        )
        .add(&[Method::GET], "/api/v1/referrals/{id}", get(open_referral))
        .add(
            &[Method::POST],
            "/api/v1/referrals/{id}/accept",
            post(accept),
        )
        .add(
            &[Method::POST],
            "/api/v1/referrals/{id}/decline",
            post(decline),
        )
        .add(&[Method::POST], "/api/v1/referrals/{id}/close", post(close))
}

/// A JSON answer with `status` (every API handler answers through it or a problem).
pub(crate) fn json<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    (status, axum::Json(body)).into_response()
}

/// An id from the path. A malformed id names nothing that exists: `404`, like any unknown
/// resource (the body of a missing referral's).
pub(crate) fn parse_id<T: std::str::FromStr>(raw: &str) -> ApiResult<T> {
    raw.parse().map_err(|_| Problem::not_found())
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(s): State<AppState>) -> Response {
    if s.core.ready().await {
        (StatusCode::OK, "ready").into_response()
    } else {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Not ready",
            "The database does not answer.",
        )
        .into_response()
    }
}

async fn file_referral(
    State(s): State<AppState>,
    caller: Caller,
    Json(req): Json<FilingRequest>,
) -> ApiResult<Response> {
    let meta = s
        .core
        .file_referral(&caller.principal, req, &caller.ctx)
        .await?;
    Ok(json(StatusCode::CREATED, &meta))
}

async fn list_referrals(
    State(s): State<AppState>,
    caller: Caller,
    query: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(params) = query.map_err(|_| Problem::bad_request("Invalid query parameters."))?;
    let page = s
        .core
        .list_referrals(&caller.principal, &params, &caller.ctx)
        .await?;
    Ok(json(StatusCode::OK, &page))
}

async fn open_referral(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id: ReferralId = parse_id(&id)?;
    let view = s
        .core
        .open_referral(&caller.principal, id, &caller.ctx)
        .await?;
    Ok(json(StatusCode::OK, &view))
}

async fn accept(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id: ReferralId = parse_id(&id)?;
    let meta = s.core.accept(&caller.principal, id, &caller.ctx).await?;
    Ok(json(StatusCode::OK, &meta))
}

async fn decline(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<DeclineRequest>,
) -> ApiResult<Response> {
    let id: ReferralId = parse_id(&id)?;
    let out = s
        .core
        .decline_with_advice(&caller.principal, id, req, &caller.ctx)
        .await?;
    Ok(json(StatusCode::OK, &out))
}

async fn close(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<CloseRequest>,
) -> ApiResult<Response> {
    let id: ReferralId = parse_id(&id)?;
    let meta = s
        .core
        .close(&caller.principal, id, req, &caller.ctx)
        .await?;
    Ok(json(StatusCode::OK, &meta))
}
