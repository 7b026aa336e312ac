//! Workflow routes: forwards, consent withdrawal, tasks, recorded contacts, coordinators'
//! reads of archived referrals, and the organisation's notifications.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use passerelle_core::{ArchiveReadRequest, CloseTaskRequest, NotificationParams, WithdrawRequest};
use passerelle_domain::ids::{CaseId, ReferralId, TaskId};
use passerelle_domain::rules::ForwardRequest;

use crate::extract::{Caller, Json};
use crate::handlers::{json, parse_id};
use crate::problem::{ApiResult, Problem};
use crate::{AppState, Routes};

/// Registers the workflow routes.
pub fn register(r: Routes) -> Routes {
    r.add(
        &[Method::POST],
        "/api/v1/referrals/{id}/forward",
        post(forward),
    )
    .add(
        &[Method::POST],
        "/api/v1/cases/{case_id}/consent/withdraw",
        post(withdraw),
    )
    .add(
        &[Method::POST],
        "/api/v1/referrals/{id}/tasks/{task_id}/close",
        post(close_task),
    )
    .add(
        &[Method::POST],
        "/api/v1/referrals/{id}/contact",
        post(record_contact),
    )
    .add(
        &[Method::POST],
        "/api/v1/referrals/{id}/archive/read",
        post(read_archived),
    )
    .add(
        &[Method::GET],
        "/api/v1/notifications",
        get(list_notifications),
    )
}

async fn forward(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<ForwardRequest>,
) -> ApiResult<Response> {
    let id: ReferralId = parse_id(&id)?;
    let meta = s
        .core
        .forward(&caller.principal, id, req, &caller.ctx)
        .await?;
    Ok(json(StatusCode::CREATED, &meta))
}

async fn withdraw(
    State(s): State<AppState>,
    caller: Caller,
    Path(case_id): Path<String>,
    Json(req): Json<WithdrawRequest>,
) -> ApiResult<Response> {
    let case_id: CaseId = parse_id(&case_id)?;
    let out = s
        .core
        .withdraw_consent(&caller.principal, case_id, req, &caller.ctx)
        .await?;
    Ok(json(StatusCode::OK, &out))
}

async fn close_task(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, task_id)): Path<(String, String)>,
    Json(req): Json<CloseTaskRequest>,
) -> ApiResult<Response> {
    let id: ReferralId = parse_id(&id)?;
    let task_id: TaskId = parse_id(&task_id)?;
    let task = s
        .core
        .close_task(&caller.principal, id, task_id, req, &caller.ctx)
        .await?;
    Ok(json(StatusCode::OK, &task))
}

async fn record_contact(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id: ReferralId = parse_id(&id)?;
    let out = s
        .core
        .record_contact(&caller.principal, id, &caller.ctx)
        .await?;
    Ok(json(StatusCode::OK, &out))
}

async fn read_archived(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<ArchiveReadRequest>,
) -> ApiResult<Response> {
    let id: ReferralId = parse_id(&id)?;
    let view = s
        .core
        .read_archived(&caller.principal, id, req, &caller.ctx)
        .await?;
    Ok(json(StatusCode::OK, &view))
}

async fn list_notifications(
    State(s): State<AppState>,
    caller: Caller,
    query: Result<Query<NotificationParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(params) = query.map_err(|_| Problem::bad_request("Invalid query parameters."))?;
    let page = s
        .core
        .list_notifications(&caller.principal, &params, &caller.ctx)
        .await?;
    Ok(json(StatusCode::OK, &page))
}
