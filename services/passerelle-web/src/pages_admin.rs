//! The admin pages (role admin: `/admin` organisations and key status, `/admin/users`
//! accounts, `/admin/tokens` API tokens), the coordinator dashboard (`/coordination`:
//! counts and delays of their organisation, its accounts), and the account forms both
//! use (`/accounts…`: invite, new enrolment link, disable). Every page calls the core use
//! case that checks the role (`passerelle_core::Core::orgs_as`, `users_as`,
//! `invite_user_as`, `reset_user_as`, `disable_user_as`, `tokens_as`, `issue_token_as`,
//! `revoke_token_as`, `key_status_as`, `org_stats`); none shows content or a stored
//! secret. A new enrolment link or API token is shown once, on the answer to its form.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use passerelle_core::{CoreError, UserInfo};
use passerelle_domain::enums::{OrgKind, ReferralStatus, Role};
use serde::Deserialize;

use crate::lang::Lang;
use crate::lang_admin::{self as words, ConsoleTexts};
use crate::pages::{self, Layout, MessagePage, render};
use crate::session::{WebForm, WebUser};
use crate::{AppState, Routes};

/// Registers the admin pages, the coordinator dashboard and the account forms.
pub fn register(r: Routes) -> Routes {
    r.add(&[Method::GET], "/admin", get(admin_home))
        .add(&[Method::POST], "/admin/orgs", post(create_org))
        .add(&[Method::GET], "/admin/users", get(admin_users))
        .add(
            &[Method::GET, Method::POST],
            "/admin/tokens",
            get(tokens).post(issue_token),
        )
        .add(&[Method::POST], "/admin/tokens/revoke", post(revoke_token))
        .add(&[Method::GET], "/coordination", get(coordination))
        .add(&[Method::POST], "/accounts", post(invite))
        .add(&[Method::POST], "/accounts/{username}/reset", post(reset))
        .add(
            &[Method::POST],
            "/accounts/{username}/disable",
            post(disable),
        )
}

// ---------------------------------------------------------------------------------------
// Shared by the console pages
// ---------------------------------------------------------------------------------------

fn message(
    user: &WebUser,
    status: StatusCode,
    title: &'static str,
    text: &'static str,
) -> Response {
    let c = user.lang.console();
    render(
        status,
        &MessagePage {
            layout: Layout::for_user(user, title),
            text,
            link: Some("/"),
            link_text: c.back_home,
        },
    )
}

/// The French (or English) page of a core refusal: `403` for a role that may not, `404`
/// for an unknown id, `400` for a request that does not parse, `503`/`500` otherwise —
/// never a raw code or a trace.
pub(crate) fn console_error(user: &WebUser, e: CoreError) -> Response {
    let c = user.lang.console();
    match e {
        CoreError::Forbidden(_) => message(
            user,
            StatusCode::FORBIDDEN,
            c.forbidden_title,
            c.forbidden_role,
        ),
        CoreError::NotFound | CoreError::Gone | CoreError::Archived => {
            message(user, StatusCode::NOT_FOUND, c.not_found_title, c.not_found)
        }
        CoreError::BadRequest(_) | CoreError::Unprocessable { .. } | CoreError::Conflict(_) => {
            message(
                user,
                StatusCode::BAD_REQUEST,
                user.lang.texts().error_title,
                c.bad_request,
            )
        }
        CoreError::Unavailable => pages::error_page(user.lang, StatusCode::SERVICE_UNAVAILABLE),
        other => {
            tracing::error!(error = %other, "console page failed");
            pages::error_page(user.lang, StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// `https://<host>` of the request, when its `Host` is a plain host name (for the links
/// shown once); empty otherwise (the path alone is shown).
fn origin(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .map(|h| format!("https://{h}"))
        .unwrap_or_default()
}

/// Where an admin or a coordinator goes back to.
fn back_of(user: &WebUser) -> (&'static str, &'static str) {
    let c = user.lang.console();
    if user.principal.role() == Role::Admin {
        ("/admin/users", c.back_users)
    } else {
        ("/coordination", c.back_dashboard)
    }
}

/// One account as the tables show it.
pub struct UserView {
    username: String,
    org: String,
    role: String,
    health_professional: bool,
    state: &'static str,
    manageable: bool,
}

fn user_views(lang: Lang, users: &[UserInfo]) -> Vec<UserView> {
    let c = lang.console();
    users
        .iter()
        .map(|u| UserView {
            username: u.username.as_str().to_owned(),
            org: u.org.clone(),
            role: words::role(lang, u.role.as_str()),
            health_professional: u.health_professional,
            state: if u.disabled {
                c.disabled
            } else if u.enrolled {
                c.enrolled
            } else {
                c.not_enrolled
            },
            manageable: u.manageable && !u.disabled,
        })
        .collect()
}

/// A `(value, label, selected)` option.
pub struct Choice {
    value: String,
    label: String,
    selected: bool,
}

fn choices(items: impl Iterator<Item = (String, String)>, selected: &str) -> Vec<Choice> {
    items
        .map(|(value, label)| Choice {
            selected: value == selected,
            value,
            label,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// /admin: organisations and keys
// ---------------------------------------------------------------------------------------

/// An organisation row.
pub struct OrgView {
    slug: String,
    name: String,
    kind: String,
    created: String,
}

/// A master key version row.
pub struct MasterView {
    version: String,
    wrapped: u64,
    current: bool,
}

/// An organisation identity row.
pub struct IdentityView {
    org: String,
    version: i32,
    state: String,
    kek: String,
    wraps: u64,
}

/// The organisation form, as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OrgForm {
    #[serde(default)]
    slug: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    layout: Layout,
    c: &'static ConsoleTexts,
    orgs: Vec<OrgView>,
    form: OrgForm,
    kinds: Vec<Choice>,
    error: Option<&'static str>,
    notice: Option<&'static str>,
    current: String,
    masters: Vec<MasterView>,
    missing: Vec<MasterView>,
    escrow: bool,
    identities: Vec<IdentityView>,
    pending: Vec<String>,
}

async fn admin_page(
    s: &AppState,
    user: &WebUser,
    status: StatusCode,
    form: OrgForm,
    error: Option<&'static str>,
    notice: Option<&'static str>,
) -> Response {
    let c = user.lang.console();
    let orgs = match s.core.orgs_as(&user.principal, &user.ctx).await {
        Ok(o) => o,
        Err(e) => return console_error(user, e),
    };
    let keys = match s.core.key_status_as(&user.principal, &user.ctx).await {
        Ok(k) => k,
        Err(e) => return console_error(user, e),
    };
    let kinds = choices(
        OrgKind::ALL
            .iter()
            .map(|k| (k.as_str().to_owned(), words::kind(user.lang, k.as_str()))),
        &form.kind,
    );
    let page = AdminPage {
        layout: Layout::for_user(user, c.admin_title),
        c,
        orgs: orgs
            .iter()
            .map(|o| OrgView {
                slug: o.slug.as_str().to_owned(),
                name: o.name.clone(),
                kind: words::kind(user.lang, o.kind.as_str()),
                created: words::when(o.created_at),
            })
            .collect(),
        form,
        kinds,
        error,
        notice,
        current: keys.current.clone(),
        masters: keys
            .master_versions
            .iter()
            .map(|(v, n)| MasterView {
                current: *v == keys.current,
                version: v.clone(),
                wrapped: *n,
            })
            .collect(),
        missing: keys
            .missing_versions
            .iter()
            .map(|(v, n)| MasterView {
                current: false,
                version: v.clone(),
                wrapped: *n,
            })
            .collect(),
        escrow: keys.escrow,
        identities: keys
            .orgs
            .iter()
            .flat_map(|(slug, states)| {
                states.iter().map(move |k| IdentityView {
                    org: slug.as_str().to_owned(),
                    version: k.version,
                    state: k.state.to_owned(),
                    kek: k.kek_version.clone(),
                    wraps: k.wraps,
                })
            })
            .collect(),
        pending: keys.pending(),
    };
    render(status, &page)
}

async fn admin_home(State(s): State<AppState>, user: WebUser) -> Response {
    admin_page(&s, &user, StatusCode::OK, OrgForm::default(), None, None).await
}

async fn create_org(State(s): State<AppState>, form: WebForm<OrgForm>) -> Response {
    let WebForm { user, form } = form;
    let c = user.lang.console();
    match s
        .core
        .add_org_as(
            &user.principal,
            &form.slug,
            &form.name,
            &form.kind,
            &user.ctx,
        )
        .await
    {
        Ok(_) => {
            admin_page(
                &s,
                &user,
                StatusCode::OK,
                OrgForm::default(),
                None,
                Some(c.org_created),
            )
            .await
        }
        Err(CoreError::BadRequest(detail)) => {
            let msg = if detail.contains("slug") {
                c.err_slug
            } else if detail.contains("kind") {
                c.err_kind
            } else {
                c.err_name
            };
            admin_page(&s, &user, StatusCode::BAD_REQUEST, form, Some(msg), None).await
        }
        Err(CoreError::Conflict(_)) => {
            admin_page(
                &s,
                &user,
                StatusCode::CONFLICT,
                form,
                Some(c.err_slug_taken),
                None,
            )
            .await
        }
        Err(e) => console_error(&user, e),
    }
}

// ---------------------------------------------------------------------------------------
// Accounts: /admin/users, /coordination, /accounts…
// ---------------------------------------------------------------------------------------

/// The invitation form, as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    org: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    health_professional: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    layout: Layout,
    c: &'static ConsoleTexts,
    users: Vec<UserView>,
    form: InviteForm,
    orgs: Vec<Choice>,
    roles: Vec<Choice>,
    error: Option<&'static str>,
    notice: Option<&'static str>,
}

async fn users_page(
    s: &AppState,
    user: &WebUser,
    status: StatusCode,
    form: InviteForm,
    error: Option<&'static str>,
    notice: Option<&'static str>,
) -> Response {
    let c = user.lang.console();
    // The organisations first: an admin's page (coordinators have theirs).
    let orgs = match s.core.orgs_as(&user.principal, &user.ctx).await {
        Ok(o) => o,
        Err(e) => return console_error(user, e),
    };
    let users = match s.core.users_as(&user.principal, &user.ctx).await {
        Ok(u) => u,
        Err(e) => return console_error(user, e),
    };
    let page = UsersPage {
        layout: Layout::for_user(user, c.users_title),
        c,
        users: user_views(user.lang, &users),
        orgs: choices(
            orgs.iter().map(|o| {
                (
                    o.slug.as_str().to_owned(),
                    format!("{} ({})", o.name, o.slug),
                )
            }),
            &form.org,
        ),
        roles: choices(
            Role::ALL
                .iter()
                .map(|r| (r.as_str().to_owned(), words::role(user.lang, r.as_str()))),
            &form.role,
        ),
        form,
        error,
        notice,
    };
    render(status, &page)
}

async fn admin_users(State(s): State<AppState>, user: WebUser) -> Response {
    users_page(&s, &user, StatusCode::OK, InviteForm::default(), None, None).await
}

/// A figure of the dashboard.
pub struct Figure {
    label: String,
    value: String,
}

/// One side of the dashboard.
pub struct SideView {
    title: &'static str,
    id: &'static str,
    figures: Vec<Figure>,
}

#[derive(Template)]
#[template(path = "coordination.html")]
struct CoordinationPage {
    layout: Layout,
    c: &'static ConsoleTexts,
    org: String,
    computed: String,
    sides: Vec<SideView>,
    users: Vec<UserView>,
    form: InviteForm,
    roles: Vec<Choice>,
    error: Option<&'static str>,
    notice: Option<&'static str>,
}

fn side_view(
    lang: Lang,
    title: &'static str,
    id: &'static str,
    s: &passerelle_core::SideStats,
) -> SideView {
    let c = lang.console();
    let mut figures = vec![Figure {
        label: c.total.to_owned(),
        value: s.total.to_string(),
    }];
    // In the order of a referral's life, not alphabetical.
    for status in ReferralStatus::ALL {
        let code = status.as_str();
        figures.push(Figure {
            label: words::status(lang, code),
            value: s.by_status.get(code).copied().unwrap_or(0).to_string(),
        });
    }
    let d = &s.acknowledgement_delay_seconds;
    let delay = |v: Option<i64>| v.map_or_else(|| "—".to_owned(), |v| words::delay(lang, v));
    figures.extend([
        Figure {
            label: c.overdue.to_owned(),
            value: s.overdue.to_string(),
        },
        Figure {
            label: c.answered.to_owned(),
            value: d.count.to_string(),
        },
        Figure {
            label: c.median.to_owned(),
            value: delay(d.median),
        },
        Figure {
            label: c.p90.to_owned(),
            value: delay(d.p90),
        },
    ]);
    SideView { title, id, figures }
}

async fn coordination_page(
    s: &AppState,
    user: &WebUser,
    status: StatusCode,
    form: InviteForm,
    error: Option<&'static str>,
    notice: Option<&'static str>,
) -> Response {
    let c = user.lang.console();
    let stats = match s.core.org_stats(&user.principal, &user.ctx).await {
        Ok(st) => st,
        Err(e) => return console_error(user, e),
    };
    let users = match s.core.users_as(&user.principal, &user.ctx).await {
        Ok(u) => u,
        Err(e) => return console_error(user, e),
    };
    let page = CoordinationPage {
        layout: Layout::for_user(user, c.dash_title),
        c,
        org: stats.org.clone(),
        computed: words::when(stats.generated_at),
        sides: vec![
            side_view(user.lang, c.received, "received", &stats.received),
            side_view(user.lang, c.sent, "sent", &stats.sent),
        ],
        users: user_views(user.lang, &users),
        roles: choices(
            [Role::Referrer, Role::Receiver]
                .iter()
                .map(|r| (r.as_str().to_owned(), words::role(user.lang, r.as_str()))),
            &form.role,
        ),
        form,
        error,
        notice,
    };
    render(status, &page)
}

async fn coordination(State(s): State<AppState>, user: WebUser) -> Response {
    coordination_page(&s, &user, StatusCode::OK, InviteForm::default(), None, None).await
}

/// The page of a new enrolment link, shown once.
#[derive(Template)]
#[template(path = "link_once.html")]
struct LinkPage {
    layout: Layout,
    c: &'static ConsoleTexts,
    username: String,
    url: String,
    expires: String,
    back: &'static str,
    back_text: &'static str,
}

fn link_page(
    user: &WebUser,
    headers: &HeaderMap,
    username: &str,
    link: &passerelle_core::EnrolmentLink,
) -> Response {
    let c = user.lang.console();
    let (back, back_text) = back_of(user);
    let mut res = render(
        StatusCode::OK,
        &LinkPage {
            layout: Layout::for_user(user, c.link_title),
            c,
            username: username.to_owned(),
            url: format!("{}{}", origin(headers), link.path()),
            expires: words::when(link.expires_at),
            back,
            back_text,
        },
    );
    res.headers_mut().insert(
        header::REFERRER_POLICY,
        axum::http::HeaderValue::from_static("no-referrer"),
    );
    res
}

async fn invite(
    State(s): State<AppState>,
    headers: HeaderMap,
    form: WebForm<InviteForm>,
) -> Response {
    let WebForm { user, form } = form;
    let c = user.lang.console();
    let is_admin = user.principal.role() == Role::Admin;
    // A coordinator invites into their own organisation (the form has no choice).
    let org = if is_admin {
        form.org.clone()
    } else {
        user.principal.org_slug().as_str().to_owned()
    };
    let done = s
        .core
        .invite_user_as(
            &user.principal,
            &form.username,
            &org,
            &form.role,
            form.health_professional.is_some(),
            &user.ctx,
        )
        .await;
    let (status, msg) = match done {
        Ok(inv) => return link_page(&user, &headers, inv.username.as_str(), &inv.link),
        Err(CoreError::BadRequest(detail)) => {
            let msg = if detail.contains("role") {
                c.err_role
            } else {
                c.err_username
            };
            (StatusCode::BAD_REQUEST, msg)
        }
        Err(CoreError::Conflict(_)) => (StatusCode::CONFLICT, c.err_username_taken),
        Err(CoreError::NotFound) => (StatusCode::BAD_REQUEST, c.err_org_unknown),
        Err(CoreError::Forbidden("role-not-grantable" | "other-organisation")) => {
            (StatusCode::FORBIDDEN, c.err_role)
        }
        Err(e) => return console_error(&user, e),
    };
    if is_admin {
        users_page(&s, &user, status, form, Some(msg), None).await
    } else {
        coordination_page(&s, &user, status, form, Some(msg), None).await
    }
}

#[derive(Deserialize)]
struct NoFields {}

async fn reset(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(username): Path<String>,
    form: WebForm<NoFields>,
) -> Response {
    let user = form.user;
    match s
        .core
        .reset_user_as(&user.principal, &username, &user.ctx)
        .await
    {
        Ok(link) => link_page(&user, &headers, &username, &link),
        Err(CoreError::Conflict(_)) => {
            let c = user.lang.console();
            message(
                &user,
                StatusCode::CONFLICT,
                c.users_title,
                c.err_user_disabled,
            )
        }
        Err(e) => console_error(&user, e),
    }
}

#[derive(Deserialize)]
struct DisableForm {
    confirm: Option<String>,
}

/// Asks to confirm a disabling (final), then disables.
#[derive(Template)]
#[template(path = "confirm_disable.html")]
struct ConfirmPage {
    layout: Layout,
    c: &'static ConsoleTexts,
    username: String,
    back: &'static str,
}

async fn disable(
    State(s): State<AppState>,
    Path(username): Path<String>,
    form: WebForm<DisableForm>,
) -> Response {
    let WebForm { user, form } = form;
    let c = user.lang.console();
    let (back, back_text) = back_of(&user);
    if form.confirm.as_deref() != Some("yes") {
        // Only show the question to whoever may answer it.
        return match s.core.users_as(&user.principal, &user.ctx).await {
            Ok(users)
                if users
                    .iter()
                    .any(|u| u.username.as_str() == username && u.manageable) =>
            {
                render(
                    StatusCode::OK,
                    &ConfirmPage {
                        layout: Layout::for_user(&user, c.disable_button),
                        c,
                        username,
                        back,
                    },
                )
            }
            Ok(_) => console_error(&user, CoreError::NotFound),
            Err(e) => console_error(&user, e),
        };
    }
    match s
        .core
        .disable_user_as(&user.principal, &username, &user.ctx)
        .await
    {
        Ok(changed) => render(
            StatusCode::OK,
            &MessagePage {
                layout: Layout::for_user(&user, c.users_title),
                text: if changed {
                    c.user_disabled
                } else {
                    c.user_already_disabled
                },
                link: Some(back),
                link_text: back_text,
            },
        ),
        Err(e) => console_error(&user, e),
    }
}

// ---------------------------------------------------------------------------------------
// /admin/tokens
// ---------------------------------------------------------------------------------------

/// A token row.
pub struct TokenView {
    id: String,
    created: String,
    expires: String,
    state: &'static str,
    live: bool,
}

#[derive(Deserialize, Default)]
struct TokensQuery {
    user: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_tokens.html")]
struct TokensPage {
    layout: Layout,
    c: &'static ConsoleTexts,
    users: Vec<Choice>,
    selected: Option<String>,
    tokens: Vec<TokenView>,
    days: String,
    error: Option<&'static str>,
    notice: Option<&'static str>,
}

async fn tokens_page(
    s: &AppState,
    user: &WebUser,
    status: StatusCode,
    selected: Option<String>,
    days: String,
    error: Option<&'static str>,
    notice: Option<&'static str>,
) -> Response {
    let c = user.lang.console();
    if let Err(e) = s.core.orgs_as(&user.principal, &user.ctx).await {
        return console_error(user, e);
    }
    let users = match s.core.users_as(&user.principal, &user.ctx).await {
        Ok(u) => u,
        Err(e) => return console_error(user, e),
    };
    let selected = selected.filter(|u| !u.trim().is_empty());
    let tokens = match &selected {
        None => Vec::new(),
        Some(name) => match s.core.tokens_as(&user.principal, name, &user.ctx).await {
            Ok(t) => {
                let now = s.core.now();
                t.iter()
                    .map(|t| {
                        let (state, live) = if t.revoked_at.is_some() {
                            (c.revoked, false)
                        } else if t.expires_at <= now {
                            (c.expired, false)
                        } else {
                            (c.active, true)
                        };
                        TokenView {
                            id: t.id.to_string(),
                            created: words::when(t.created_at),
                            expires: words::when(t.expires_at),
                            state,
                            live,
                        }
                    })
                    .collect()
            }
            Err(e) => return console_error(user, e),
        },
    };
    let page = TokensPage {
        layout: Layout::for_user(user, c.tokens_title),
        c,
        users: choices(
            users.iter().map(|u| {
                (
                    u.username.as_str().to_owned(),
                    format!("{} ({})", u.username.as_str(), u.org),
                )
            }),
            selected.as_deref().unwrap_or(""),
        ),
        selected,
        tokens,
        days,
        error,
        notice,
    };
    render(status, &page)
}

async fn tokens(
    State(s): State<AppState>,
    user: WebUser,
    q: Result<Query<TokensQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    tokens_page(&s, &user, StatusCode::OK, q.user, "30".into(), None, None).await
}

#[derive(Deserialize)]
struct IssueForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    days: String,
}

/// The page of a new API token, shown once.
#[derive(Template)]
#[template(path = "token_once.html")]
struct TokenPage {
    layout: Layout,
    c: &'static ConsoleTexts,
    username: String,
    id: String,
    token: String,
    expires: String,
}

async fn issue_token(State(s): State<AppState>, form: WebForm<IssueForm>) -> Response {
    let WebForm { user, form } = form;
    let c = user.lang.console();
    let days = form
        .days
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|d| (1..=90).contains(d));
    let Some(days) = days else {
        return tokens_page(
            &s,
            &user,
            StatusCode::BAD_REQUEST,
            Some(form.user),
            form.days,
            Some(c.err_ttl),
            None,
        )
        .await;
    };
    match s
        .core
        .issue_token_as(&user.principal, &form.user, days, &user.ctx)
        .await
    {
        Ok(t) => render(
            StatusCode::OK,
            &TokenPage {
                layout: Layout::for_user(&user, c.token_title),
                c,
                username: form.user,
                id: t.id.to_string(),
                token: t.token.to_string(),
                expires: words::when(t.expires_at),
            },
        ),
        Err(CoreError::NotFound) => {
            tokens_page(
                &s,
                &user,
                StatusCode::BAD_REQUEST,
                None,
                form.days,
                Some(c.err_user_unknown),
                None,
            )
            .await
        }
        Err(CoreError::Conflict(_)) => {
            tokens_page(
                &s,
                &user,
                StatusCode::CONFLICT,
                Some(form.user),
                form.days,
                Some(c.err_user_disabled),
                None,
            )
            .await
        }
        Err(CoreError::BadRequest(_)) => {
            tokens_page(
                &s,
                &user,
                StatusCode::BAD_REQUEST,
                Some(form.user),
                form.days,
                Some(c.err_ttl),
                None,
            )
            .await
        }
        Err(e) => console_error(&user, e),
    }
}

#[derive(Deserialize)]
struct RevokeForm {
    #[serde(default)]
    id: String,
    #[serde(default)]
    user: String,
}

async fn revoke_token(State(s): State<AppState>, form: WebForm<RevokeForm>) -> Response {
    let WebForm { user, form } = form;
    let c = user.lang.console();
    match s
        .core
        .revoke_token_as(&user.principal, &form.id, &user.ctx)
        .await
    {
        Ok(()) => {
            tokens_page(
                &s,
                &user,
                StatusCode::OK,
                Some(form.user),
                "30".into(),
                None,
                Some(c.token_revoked),
            )
            .await
        }
        Err(e) => console_error(&user, e),
    }
}
