//! RFC 9457 problem details: every error of the API is `application/problem+json` with a
//! `type` ending in a stable code, a `title`, the `status`, a `detail` that never carries
//! victim data, and the request id. Internal errors are opaque: the detail goes to the log.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use passerelle_core::CoreError;
use serde::Serialize;

/// Base of every problem `type` URI; the code follows it.
pub const TYPE_BASE: &str = "https://passerelle.example/problems/";

/// A problem to send.
#[derive(Debug, Clone)]
pub struct Problem {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code, the last segment of `type`.
    pub code: &'static str,
    /// Short English title.
    pub title: &'static str,
    /// English detail, never victim data.
    pub detail: String,
    /// Seconds to wait, for 429.
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

impl Problem {
    /// A problem with a detail.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            status,
            code,
            title,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// 400.
    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Malformed request",
            detail,
        )
    }

    /// 401.
    pub fn unauthorized() -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            "Send a valid API token as 'Authorization: Bearer <token>'.",
        )
    }

    /// 404.
    pub fn not_found() -> Problem {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            "No such resource.",
        )
    }

    /// 413.
    pub fn too_large() -> Problem {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Request body too large",
            "The request body exceeds the limit; nothing was kept.",
        )
    }

    /// Renders with the request id.
    pub fn into_response_with(self, request_id: Option<&str>) -> Response {
        let body = Body {
            kind: format!("{TYPE_BASE}{}", self.code),
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            request_id,
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut res = (self.status, json).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        // The request id is added by the middleware that knows it (see `layers`).
        self.into_response_with(None)
    }
}

impl From<CoreError> for Problem {
    fn from(e: CoreError) -> Problem {
        match e {
            CoreError::Unauthenticated => Problem::unauthorized(),
            CoreError::Forbidden(why) => Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Forbidden",
                match why {
                    "side" => {
                        "Your organisation is not on the side of the referral that may do this."
                    }
                    _ => "Your role may not do this.",
                },
            ),
            CoreError::NotFound => Problem::not_found(),
            CoreError::Gone => Problem::new(
                StatusCode::GONE,
                "gone",
                "Content destroyed",
                "The content of this referral was destroyed.",
            ),
            CoreError::Archived => Problem::new(
                StatusCode::GONE,
                "archived",
                "Archived",
                "This referral was archived by the retention policy: your organisation can still read it through its archive read, with a stated reason.",
            ),
            CoreError::Conflict(d) => Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", d),
            CoreError::Rule(v) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                v.rule.as_str(),
                "Not allowed by the consent or by the law",
                v.detail,
            ),
            CoreError::Unprocessable { code, detail } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                code,
                "Unprocessable request",
                detail,
            ),
            CoreError::BadRequest(d) => Problem::bad_request(d),
            CoreError::TooLarge => Problem::too_large(),
            CoreError::Tamper(why) => {
                tracing::error!(reason = why, "stored data failed its integrity check");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "integrity",
                    "Integrity check failed",
                    "Stored data failed its integrity check; nothing was returned. The incident is logged with the request id.",
                )
            }
            CoreError::Unavailable => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
                "The database or the audit log cannot take the action now; nothing was done. Try again shortly.",
            ),
            CoreError::Internal(msg) => {
                tracing::error!(error = %msg, "internal error");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    "Something went wrong on our side; nothing was returned. The request id identifies it in the log.",
                )
            }
        }
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, Problem>;
