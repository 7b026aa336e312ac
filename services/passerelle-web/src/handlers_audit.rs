//! The auditor's routes: search events, verify the whole log, the access report of one
//! case. Only the auditor role (core refuses every other with `403` and records the
//! refusal); every answer is recorded as an `audit.read` leaf before it is sent, and holds
//! no content.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use passerelle_core::AuditQuery;

use crate::extract::Caller;
use crate::handlers::json;
use crate::problem::{ApiResult, Problem};
use crate::{AppState, Routes};

/// Registers the audit routes.
pub fn register(r: Routes) -> Routes {
    r.add(&[Method::GET], "/api/v1/audit/events", get(events))
        .add(&[Method::GET], "/api/v1/audit/verify", get(verify))
        .add(
            &[Method::GET],
            "/api/v1/audit/cases/{case_id}/access-report",
            get(access_report),
        )
}

async fn events(
    State(s): State<AppState>,
    caller: Caller,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = query.map_err(|_| Problem::bad_request("Invalid query parameters."))?;
    let page = s
        .core
        .audit_events(&caller.principal, &q, &caller.ctx)
        .await?;
    Ok(json(StatusCode::OK, &page))
}

async fn verify(State(s): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let answer = s.core.audit_verify(&caller.principal, &caller.ctx).await?;
    Ok(json(StatusCode::OK, &answer))
}

async fn access_report(
    State(s): State<AppState>,
    caller: Caller,
    Path(case_id): Path<String>,
) -> ApiResult<Response> {
    let report = s
        .core
        .audit_access_report(&caller.principal, &case_id, &caller.ctx)
        .await?;
    Ok(json(StatusCode::OK, &report))
}
