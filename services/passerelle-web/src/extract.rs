//! Extractors: the bearer principal and strict JSON bodies (a bad body is a 400 problem
//! whose detail names the position, never echoes the input).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use passerelle_core::{Principal, RequestCtx};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::problem::Problem;

/// The request id set by the request-id layer.
pub fn request_ctx(parts: &Parts) -> RequestCtx {
    RequestCtx {
        request_id: parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

/// The caller, authenticated by `Authorization: Bearer <token>`.
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// Request context for the audit leaves.
    pub ctx: RequestCtx,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let ctx = request_ctx(parts);
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(token) = token else {
            // No token: a machine client's verified TLS certificate, when there is one.
            if let Some(cert) = parts.extensions.get::<crate::mtls::ClientCertificate>() {
                let principal = crate::mtls::authenticate(cert, state, &ctx).await?;
                return Ok(Caller { principal, ctx });
            }
            // Every denial is recorded (DESIGN.md §4): an anonymous leaf; fail closed.
            state
                .core
                .record_unauthenticated("no-credential", &ctx)
                .await?;
            return Err(Problem::unauthorized());
        };
        let principal = state.core.authenticate_token(token, &ctx).await?;
        Ok(Caller { principal, ctx })
    }
}

/// A JSON body parsed strictly.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let v = v.split(';').next().unwrap_or("").trim();
                v == "application/json" || v.ends_with("+json")
            })
            .unwrap_or(true);
        if !is_json {
            return Err(Problem::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "Send a JSON body with 'Content-Type: application/json'.",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Problem::too_large()
            } else {
                Problem::bad_request("The request body could not be read.")
            }
        })?;
        parse_json(&bytes).map(Json)
    }
}

/// Parses JSON; the error names the kind and the position only.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    if std::str::from_utf8(bytes).is_err() {
        return Err(Problem::bad_request("The body is not valid UTF-8."));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        let what = match e.classify() {
            Category::Syntax => "invalid JSON",
            Category::Eof => "truncated JSON",
            Category::Data => "a field is missing, unknown or has a wrong type or value",
            Category::Io => "unreadable body",
        };
        Problem::bad_request(format!(
            "Malformed request: {what} (line {}, column {}).",
            e.line(),
            e.column()
        ))
    })
}
