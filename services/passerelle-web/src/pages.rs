//! Server-rendered pages (askama): the base layout every page extends, and the rendering
//! helpers that give each page its headers — a Content-Security-Policy that allows the
//! service's own stylesheet and images and nothing else (no script at all, no inline
//! style), `no-store`, and `text/html; charset=utf-8`.
//!
//! A page template starts with `{% extends "base.html" %}`, fills `{% block content %}`,
//! and its struct holds a `layout: Layout` field (see ARCHITECTURE.md, "Web pages").

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::lang::{Lang, Texts};
use crate::session::WebUser;

/// The policy of every HTML page: own stylesheet and images (and `data:` images), forms
/// posted to the service only, never framed, no script, no plugin, no inline style.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The signed-in user shown in the page header.
#[derive(Debug, Clone)]
pub struct UserBar {
    /// Username.
    pub username: String,
    /// Organisation slug.
    pub org: String,
    /// Role.
    pub role: String,
}

/// What the base layout needs: language, sentences, title, and the signed-in user with the
/// session's CSRF token (for the logout form), if any.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Language of the page.
    pub lang: Lang,
    /// Its sentences.
    pub t: &'static Texts,
    /// The page title (the layout appends " — Passerelle").
    pub title: String,
    /// The signed-in user, if any.
    pub user: Option<UserBar>,
    /// The CSRF token for the layout's forms (logout) and the page's own forms.
    pub csrf: String,
}

impl Layout {
    /// The layout of a page seen by nobody signed in.
    pub fn anonymous(lang: Lang, title: &str, csrf: String) -> Layout {
        Layout {
            lang,
            t: lang.texts(),
            title: title.to_owned(),
            user: None,
            csrf,
        }
    }

    /// The layout of a page seen by a signed-in user.
    pub fn for_user(user: &WebUser, title: &str) -> Layout {
        let p = &user.principal;
        Layout {
            lang: user.lang,
            t: user.lang.texts(),
            title: title.to_owned(),
            user: Some(UserBar {
                username: p.username().as_str().to_owned(),
                org: p.org_slug().as_str().to_owned(),
                role: p.role().as_str().to_owned(),
            }),
            csrf: user.csrf.clone(),
        }
    }
}

/// Renders a page with `status` and the page headers.
pub fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => with_page_headers((status, Html(html)).into_response()),
        Err(e) => {
            tracing::error!(error = %e, "page template failed to render");
            with_page_headers(
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Html("<!DOCTYPE html><title>Erreur</title><p>Erreur interne.</p>"),
                )
                    .into_response(),
            )
        }
    }
}

/// Adds the page CSP and `no-store` to a response.
pub fn with_page_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `/login`.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    /// Layout.
    pub layout: Layout,
    /// Where to go after login (a local path).
    pub next: String,
    /// The username typed (kept after a failure).
    pub username: String,
    /// An error to show.
    pub error: Option<&'static str>,
    /// A notice to show (logged out, enrolled).
    pub notice: Option<&'static str>,
}

/// `/enrol/{token}`.
#[derive(Template)]
#[template(path = "enrol.html")]
pub struct EnrolPage {
    /// Layout.
    pub layout: Layout,
    /// The link's token (the form posts back to it).
    pub token: String,
    /// The account.
    pub username: String,
    /// Its organisation.
    pub org: String,
    /// The QR code of the `otpauth://` URI, as inline SVG.
    pub qr_svg: String,
    /// The base32 secret, in groups of four.
    pub secret_grouped: String,
    /// An error to show.
    pub error: Option<&'static str>,
}

/// `/`.
#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    /// Layout.
    pub layout: Layout,
}

/// A page with one message (invalid link, refused form, error).
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    /// Layout.
    pub layout: Layout,
    /// The message.
    pub text: &'static str,
    /// A link to follow, if any.
    pub link: Option<&'static str>,
    /// Its text.
    pub link_text: &'static str,
}

/// The `403` page of a form without its CSRF token (or with a wrong one).
pub fn forbidden_form(lang: Lang) -> Response {
    let t = lang.texts();
    render(
        StatusCode::FORBIDDEN,
        &MessagePage {
            layout: Layout::anonymous(lang, t.forbidden_title, String::new()),
            text: t.forbidden_form,
            link: Some("/login"),
            link_text: t.back_to_login,
        },
    )
}

/// The `500`/`503` page: nothing was saved.
pub fn error_page(lang: Lang, status: StatusCode) -> Response {
    let t = lang.texts();
    render(
        status,
        &MessagePage {
            layout: Layout::anonymous(lang, t.error_title, String::new()),
            text: t.error_text,
            link: None,
            link_text: "",
        },
    )
}

/// The QR code of `data` as inline SVG (no XML declaration; an image with a label).
pub fn qr_svg(data: &str, label: &str) -> Option<String> {
    let code = qrcode::QrCode::new(data.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    let start = svg.find("<svg")?;
    let label = label
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    Some(format!(
        "<svg role=\"img\" aria-label=\"{label}\"{}",
        &svg[start + 4..]
    ))
}
