//! Identity routes: the login, logout, enrolment and home pages, the stylesheet, and the
//! API routes of coordinators and admins (statistics, user reset and disable).

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use passerelle_core::{CoreError, Credentials, EnrolmentForm};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::extract::{Caller, request_ctx};
use crate::lang::Lang;
use crate::pages::{
    self, EnrolPage, HomePage, Layout, LoginPage, MessagePage, render, with_page_headers,
};
use crate::problem::{ApiResult, Problem};
use crate::session::{
    LOGIN_CSRF_COOKIE, SESSION_COOKIE, WebForm, WebUser, clear_cookie, cookie, form_bytes,
    is_local_path, parse_form, same_origin, session_cookie,
};
use crate::{AppState, Routes};

/// The stylesheet of every page.
pub const STYLESHEET: &str = concat!(
    include_str!("../static/passerelle.css"),
    include_str!("../static/console.css")
);

/// Registers the identity routes.
pub fn register(r: Routes) -> Routes {
    r.add(&[Method::GET], "/", get(home))
        .add(
            &[Method::GET, Method::POST],
            "/login",
            get(login_page).post(login),
        )
        .add(&[Method::POST], "/logout", post(logout))
        .add(
            &[Method::GET, Method::POST],
            "/enrol/{token}",
            get(enrol_page).post(enrol),
        )
        .add(&[Method::GET], "/static/passerelle.css", get(stylesheet))
        .add(&[Method::GET], "/api/v1/stats", get(stats))
        .add(
            &[Method::POST],
            "/api/v1/users/{username}/reset",
            post(reset_user),
        )
        .add(
            &[Method::POST],
            "/api/v1/users/{username}/disable",
            post(disable_user),
        )
}

async fn stylesheet() -> Response {
    let mut res = STYLESHEET.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    res
}

async fn home(user: WebUser) -> Response {
    let page = HomePage {
        layout: Layout::for_user(&user, user.lang.texts().home_title),
    };
    render(StatusCode::OK, &page)
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    next: Option<String>,
    done: Option<String>,
}

fn login_notice(lang: Lang, done: Option<&str>) -> Option<&'static str> {
    match done {
        Some("logout") => Some(lang.texts().logged_out_notice),
        Some("enrolled") => Some(lang.texts().enrolled_notice),
        _ => None,
    }
}

/// The login page with a fresh double-submit CSRF token in its own cookie.
fn login_form(
    lang: Lang,
    status: StatusCode,
    next: String,
    username: String,
    error: Option<&'static str>,
    notice: Option<&'static str>,
) -> Response {
    let Ok(cookie_value) = passerelle_core::new_secret() else {
        return pages::error_page(lang, StatusCode::INTERNAL_SERVER_ERROR);
    };
    let page = LoginPage {
        layout: Layout::anonymous(
            lang,
            lang.texts().login_title,
            passerelle_core::csrf_token(&cookie_value),
        ),
        next: if is_local_path(&next) {
            next
        } else {
            "/".into()
        },
        username,
        error,
        notice,
    };
    let mut res = render(status, &page);
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{LOGIN_CSRF_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=3600",
        cookie_value.as_str()
    )) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

async fn login_page(req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let lang = Lang::of(&parts);
    let q: LoginQuery = parts
        .uri
        .query()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    login_form(
        lang,
        StatusCode::OK,
        q.next.unwrap_or_else(|| "/".into()),
        String::new(),
        None,
        login_notice(lang, q.done.as_deref()),
    )
}

#[derive(Deserialize)]
struct LoginFields {
    csrf: Option<String>,
    username: Option<String>,
    password: Option<Zeroizing<String>>,
    code: Option<String>,
    next: Option<String>,
}

async fn login(State(s): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let lang = Lang::of(&parts);
    let ctx = request_ctx(&parts);
    let headers = parts.headers.clone();
    if !same_origin(&headers) {
        return pages::forbidden_form(lang);
    }
    let bytes = match form_bytes(Request::from_parts(parts, body)).await {
        Ok(b) => b,
        Err(res) => return res,
    };
    let Some(form) = parse_form::<LoginFields>(&headers, &bytes) else {
        return pages::forbidden_form(lang);
    };
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE);
    let csrf_ok = match (&form.csrf, &expected) {
        (Some(given), Some(cookie)) => {
            !cookie.is_empty() && passerelle_core::csrf_matches(cookie, given)
        }
        _ => false,
    };
    if !csrf_ok {
        return pages::forbidden_form(lang);
    }
    let next = form
        .next
        .filter(|n| is_local_path(n))
        .unwrap_or_else(|| "/".into());
    let username = form.username.unwrap_or_default();
    let password = form.password.unwrap_or_default();
    let code = form.code.unwrap_or_default();
    let outcome = s
        .core
        .login(
            Credentials {
                username: &username,
                password: &password,
                code: &code,
            },
            &ctx,
        )
        .await;
    match outcome {
        Ok(session) => {
            let mut res = Redirect::to(&next).into_response();
            let h = res.headers_mut();
            h.append(header::SET_COOKIE, session_cookie(&session.secret));
            h.append(header::SET_COOKIE, clear_cookie(LOGIN_CSRF_COOKIE));
            with_page_headers(res)
        }
        Err(CoreError::Unauthenticated) => {
            let shown = if username.len() <= 64 {
                username
            } else {
                String::new()
            };
            login_form(
                lang,
                StatusCode::UNAUTHORIZED,
                next,
                shown,
                Some(lang.texts().login_failed),
                None,
            )
        }
        Err(CoreError::Unavailable) => pages::error_page(lang, StatusCode::SERVICE_UNAVAILABLE),
        Err(e) => {
            tracing::error!(error = %e, "login failed internally");
            pages::error_page(lang, StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

#[derive(Deserialize)]
struct NoFields {}

async fn logout(
    State(s): State<AppState>,
    headers: HeaderMap,
    form: WebForm<NoFields>,
) -> Response {
    let WebForm { user, form: _ } = form;
    let secret = cookie(&headers, SESSION_COOKIE).unwrap_or_default();
    match s.core.logout(&secret, &user.ctx).await {
        Ok(()) => {
            let mut res = Redirect::to(&format!("/login?done=logout&lang={}", user.lang.code()))
                .into_response();
            res.headers_mut()
                .append(header::SET_COOKIE, clear_cookie(SESSION_COOKIE));
            with_page_headers(res)
        }
        Err(CoreError::Unavailable) => {
            pages::error_page(user.lang, StatusCode::SERVICE_UNAVAILABLE)
        }
        Err(e) => {
            tracing::error!(error = %e, "logout failed internally");
            pages::error_page(user.lang, StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

fn enrolment_error(lang: Lang, code: &str) -> &'static str {
    let t = lang.texts();
    match code {
        "password-too-short" => t.err_password_too_short,
        "password-too-long" => t.err_password_too_long,
        "passwords-differ" => t.err_passwords_differ,
        _ => t.err_bad_code,
    }
}

fn link_invalid(lang: Lang) -> Response {
    let t = lang.texts();
    render(
        StatusCode::NOT_FOUND,
        &MessagePage {
            layout: Layout::anonymous(lang, t.link_invalid_title, String::new()),
            text: t.link_invalid,
            link: Some("/login"),
            link_text: t.back_to_login,
        },
    )
}

fn group4(s: &str) -> String {
    s.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

async fn enrolment_form(
    s: &AppState,
    lang: Lang,
    token: &str,
    status: StatusCode,
    error: Option<&'static str>,
) -> Response {
    match s.core.enrolment(token).await {
        Ok(page) => {
            let t = lang.texts();
            let Some(qr_svg) = pages::qr_svg(&page.otpauth_uri, t.qr_alt) else {
                return pages::error_page(lang, StatusCode::INTERNAL_SERVER_ERROR);
            };
            let view = EnrolPage {
                layout: Layout::anonymous(lang, t.enrol_title, passerelle_core::csrf_token(token)),
                token: token.to_owned(),
                username: page.username.as_str().to_owned(),
                org: page.org_slug.clone(),
                qr_svg,
                secret_grouped: group4(&page.secret_base32),
                error,
            };
            render(status, &view)
        }
        Err(CoreError::NotFound) => link_invalid(lang),
        Err(CoreError::Unavailable) => pages::error_page(lang, StatusCode::SERVICE_UNAVAILABLE),
        Err(e) => {
            tracing::error!(error = %e, "enrolment page failed");
            pages::error_page(lang, StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

async fn enrol_page(
    State(s): State<AppState>,
    Path(token): Path<String>,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    enrolment_form(&s, Lang::of(&parts), &token, StatusCode::OK, None).await
}

#[derive(Deserialize)]
struct EnrolFields {
    csrf: Option<String>,
    password: Option<Zeroizing<String>>,
    confirm: Option<Zeroizing<String>>,
    code: Option<String>,
}

async fn enrol(State(s): State<AppState>, Path(token): Path<String>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let lang = Lang::of(&parts);
    let ctx = request_ctx(&parts);
    let headers = parts.headers.clone();
    if !same_origin(&headers) {
        return pages::forbidden_form(lang);
    }
    let bytes = match form_bytes(Request::from_parts(parts, body)).await {
        Ok(b) => b,
        Err(res) => return res,
    };
    let Some(form) = parse_form::<EnrolFields>(&headers, &bytes) else {
        return pages::forbidden_form(lang);
    };
    if !form
        .csrf
        .is_some_and(|c| passerelle_core::csrf_matches(&token, &c))
    {
        return pages::forbidden_form(lang);
    }
    let password = form.password.unwrap_or_default();
    let confirm = form.confirm.unwrap_or_default();
    let code = form.code.unwrap_or_default();
    let done = s
        .core
        .complete_enrolment(
            &token,
            EnrolmentForm {
                password: &password,
                confirm: &confirm,
                code: &code,
            },
            &ctx,
        )
        .await;
    match done {
        Ok(_) => {
            Redirect::to(&format!("/login?done=enrolled&lang={}", lang.code())).into_response()
        }
        Err(CoreError::NotFound) => link_invalid(lang),
        Err(CoreError::Unprocessable { code, .. }) => {
            let msg = enrolment_error(lang, code);
            enrolment_form(
                &s,
                lang,
                &token,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(msg),
            )
            .await
        }
        Err(CoreError::Unavailable) => pages::error_page(lang, StatusCode::SERVICE_UNAVAILABLE),
        Err(e) => {
            tracing::error!(error = %e, "enrolment failed internally");
            pages::error_page(lang, StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

async fn stats(State(s): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let stats = s.core.org_stats(&caller.principal, &caller.ctx).await?;
    Ok((StatusCode::OK, axum::Json(stats)).into_response())
}

async fn reset_user(
    State(s): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
) -> ApiResult<Response> {
    let link = s
        .core
        .reset_user_as(&caller.principal, &username, &caller.ctx)
        .await?;
    let body = serde_json::json!({
        "enrolment_path": link.path(),
        "expires_at": link.expires_at.format(&time::format_description::well_known::Rfc3339)
            .map_err(|_| Problem::from(CoreError::Internal("time format".into())))?,
    });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

async fn disable_user(
    State(s): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
) -> ApiResult<Response> {
    let changed = s
        .core
        .disable_user_as(&caller.principal, &username, &caller.ctx)
        .await?;
    let body = serde_json::json!({ "username": username, "disabled": true, "changed": changed });
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_show_in_groups_of_four() {
        assert_eq!(group4("ABCDEFGHIJ"), "ABCD EFGH IJ");
    }
}
