//! Web sessions seen from the handlers: the session cookie, the [`WebUser`] extractor (the
//! signed-in user of a page, or a redirection to `/login?next=…`), the [`WebForm`]
//! extractor (a form posted from a page, its CSRF token checked), and the helpers around
//! them.
//!
//! Architecture invariant: a handler of a page that changes anything takes a [`WebForm`];
//! [`WebUser`] alone refuses every unsafe method (`403`), so a form handler cannot forget
//! the CSRF check.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use passerelle_core::{CoreError, Principal, RequestCtx};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::extract::request_ctx;
use crate::lang::Lang;
use crate::pages;

/// The session cookie (`__Host-`: set by this host only, over HTTPS, for every path).
pub const SESSION_COOKIE: &str = "__Host-passerelle";
/// The cookie of the login form's CSRF token (double submit: no session exists yet).
pub const LOGIN_CSRF_COOKIE: &str = "__Host-passerelle-login";
/// Largest form body of a page.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// The signed-in user of a page.
///
/// As an extractor: reads the session cookie and checks the session through
/// `Core::authenticate_session` (idle 15 min, absolute 12 h, user enabled). Without a live
/// session it answers `303 See Other` to `/login?next=<this path>` (and forgets the stale
/// cookie). On a method other than GET/HEAD it answers `403` unless the request came
/// through [`WebForm`], which checks the CSRF token.
#[derive(Debug, Clone)]
pub struct WebUser {
    /// Who, for core's use cases.
    pub principal: Principal,
    /// The session's CSRF token: put it in every form as `<input type="hidden" name="csrf">`.
    pub csrf: String,
    /// The page language.
    pub lang: Lang,
    /// Request context for the audit leaves.
    pub ctx: RequestCtx,
}

/// Marks a request whose form's CSRF token was checked.
#[derive(Debug, Clone, Copy)]
struct CsrfChecked;

/// Marks a response refusing a presented but unusable credential (the rate limiter counts
/// it as a failed authentication).
#[derive(Debug, Clone, Copy)]
pub struct AuthFailure;

/// The value of cookie `name`, if sent once.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        let Ok(v) = value.to_str() else { continue };
        for pair in v.split(';') {
            if let Some((k, val)) = pair.trim().split_once('=')
                && k == name
            {
                if found.is_some() {
                    // Two cookies of one name: trust neither.
                    return None;
                }
                found = Some(val.to_owned());
            }
        }
    }
    found
}

/// `Set-Cookie` for the session: `Secure; HttpOnly; SameSite=Strict; Path=/`, no
/// `Max-Age` (gone when the browser closes; the server ends it anyway).
pub fn session_cookie(secret: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={secret}; Path=/; Secure; HttpOnly; SameSite=Strict"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` that erases cookie `name`.
pub fn clear_cookie(name: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Whether `next` is a path of this service (never another host: no scheme, no `//`, no
/// backslash, no control character), so a login cannot redirect elsewhere.
pub fn is_local_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 512
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// `303` to the login page, coming back to this page afterwards.
pub fn login_redirect(parts: &Parts) -> Response {
    let here = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    let target = if is_local_path(here) && here != "/" {
        let next: String =
            percent_encoding::utf8_percent_encode(here, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        format!("/login?next={next}")
    } else {
        "/login".to_owned()
    };
    Redirect::to(&target).into_response()
}

/// Whether an unsafe request comes from a page of this service: a cross-site
/// `Sec-Fetch-Site`, or an `Origin` whose host is not the request's `Host`, is refused
/// (defence in depth behind `SameSite=Strict` and the CSRF token); `Sec-Fetch-Site:
/// same-origin` is accepted whatever `Origin` says (Chromium sends `Origin: null` on form
/// posts of pages with `no-referrer`).
pub fn same_origin(headers: &HeaderMap) -> bool {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site" || v.as_bytes() == b"same-site")
    {
        return false;
    }
    // The browser's own word: with `Referrer-Policy: no-referrer` (every page's), Chromium
    // sends `Origin: null` on same-origin form posts, and says `same-origin` here.
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"same-origin")
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (origin.to_str().ok(), host) {
        (Some(o), Some(h)) => o
            .strip_prefix("https://")
            .or_else(|| o.strip_prefix("http://"))
            .is_some_and(|rest| rest.eq_ignore_ascii_case(h)),
        _ => false,
    }
}

async fn session_of(parts: &mut Parts, state: &AppState) -> Result<WebUser, Response> {
    let lang = Lang::of(parts);
    let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Err(login_redirect(parts));
    };
    match state.core.authenticate_session(&secret).await {
        Ok(s) => Ok(WebUser {
            principal: s.principal,
            csrf: s.csrf,
            lang,
            ctx: request_ctx(parts),
        }),
        Err(CoreError::Unauthenticated) => {
            // Every denial is recorded (DESIGN.md §4), fail closed.
            let ctx = request_ctx(parts);
            if let Err(e) = state.core.record_unauthenticated("bad-session", &ctx).await {
                let status = match e {
                    CoreError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                return Err(pages::error_page(lang, status));
            }
            let mut res = login_redirect(parts);
            res.headers_mut()
                .append(header::SET_COOKIE, clear_cookie(SESSION_COOKIE));
            res.extensions_mut().insert(AuthFailure);
            Err(res)
        }
        Err(e) => {
            let status = match e {
                CoreError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                other => {
                    tracing::error!(error = %other, "session check failed");
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            };
            Err(pages::error_page(lang, status))
        }
    }
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let user = session_of(parts, state).await?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD);
        if !safe && parts.extensions.get::<CsrfChecked>().is_none() {
            return Err(pages::forbidden_form(user.lang));
        }
        Ok(user)
    }
}

/// The signed-in user of a multipart form (an upload): the session and the origin are
/// checked here; the form's CSRF token, its first field, is checked by the handler with
/// [`csrf_ok`] before any byte of the file is read.
pub async fn upload_user(parts: &mut Parts, state: &AppState) -> Result<WebUser, Response> {
    let user = session_of(parts, state).await?;
    if !same_origin(&parts.headers) {
        return Err(pages::forbidden_form(user.lang));
    }
    Ok(user)
}

/// Whether `token` is the CSRF token of the request's session.
pub fn csrf_ok(headers: &HeaderMap, token: &str) -> bool {
    let secret = cookie(headers, SESSION_COOKIE).unwrap_or_default();
    !secret.is_empty() && passerelle_core::csrf_matches(&secret, token)
}

#[derive(Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

/// Parses an `application/x-www-form-urlencoded` body; `None` when it is something else.
pub fn parse_form<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Option<T> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim() == "application/x-www-form-urlencoded")
        });
    if !is_form {
        return None;
    }
    serde_urlencoded::from_bytes(body).ok()
}

/// Reads a form body of at most [`MAX_FORM_BYTES`].
pub async fn form_bytes(req: Request) -> Result<Bytes, Response> {
    axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES)
        .await
        .map_err(|_| StatusCode::PAYLOAD_TOO_LARGE.into_response())
}

/// A form posted from a page by a signed-in user: the session is checked like
/// [`WebUser`], then the form's `csrf` field against the session's token (`403` page when
/// missing or wrong, or when the request comes from another site), then the body is
/// parsed as `T` (`400` when it does not parse). `T` must not deny unknown fields (the
/// `csrf` field is part of the form).
pub struct WebForm<T> {
    /// The signed-in user.
    pub user: WebUser,
    /// The form.
    pub form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for WebForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let user = session_of(&mut parts, state).await?;
        if !same_origin(&parts.headers) {
            return Err(pages::forbidden_form(user.lang));
        }
        let headers = parts.headers.clone();
        let bytes = form_bytes(Request::from_parts(parts, body)).await?;
        let token = parse_form::<CsrfField>(&headers, &bytes).and_then(|f| f.csrf);
        let secret = cookie(&headers, SESSION_COOKIE).unwrap_or_default();
        if !token.is_some_and(|t| passerelle_core::csrf_matches(&secret, &t)) {
            return Err(pages::forbidden_form(user.lang));
        }
        let Some(form) = parse_form::<T>(&headers, &bytes) else {
            return Err(StatusCode::BAD_REQUEST.into_response());
        };
        Ok(WebForm { user, form })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        for ok in ["/", "/inbox", "/referrals/abc?tab=messages", "/a%2Fb"] {
            assert!(is_local_path(ok), "{ok}");
        }
        for bad in [
            "",
            "inbox",
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "/\tx",
            "/ x",
            "/x\r\nLocation: //evil",
        ] {
            assert!(!is_local_path(bad), "{bad:?}");
        }
        assert!(!is_local_path(&format!("/{}", "a".repeat(600))));
    }

    #[test]
    fn cookies_are_read_once() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-passerelle=abc; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "missing"), None);
        h.append(
            header::COOKIE,
            HeaderValue::from_static("__Host-passerelle=other"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), None, "two of one name");
    }

    #[test]
    fn session_cookie_attributes() {
        let v = session_cookie("s3cret");
        let v = v.to_str().unwrap();
        assert!(v.starts_with("__Host-passerelle=s3cret;"));
        for attr in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(v.contains(attr), "{attr}");
        }
        assert!(!v.contains("Domain"), "__Host- cookies have no Domain");
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let mut h = HeaderMap::new();
        assert!(same_origin(&h), "no Origin: nothing to compare");
        h.insert(header::HOST, HeaderValue::from_static("passerelle.example"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://passerelle.example"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(
            same_origin(&h),
            "Chromium's Origin: null on a same-origin post"
        );
        h.remove("sec-fetch-site");
        h.remove(header::ORIGIN);
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h));
    }
}
