//! The auditor console (role auditor only; core refuses every other role and records the
//! refusal): `/audit` searches the events by case, person, organisation, action and
//! period, page by page; `/audit/verify` shows the verification result with the signed
//! head; `/audit/cases/{case_id}` the access report of one case (printable); `POST
//! /audit/export` downloads the JSON Lines export, recorded as `audit.exported` by the
//! auditor. Every page calls the same core use cases as `/api/v1/audit/…`, and shows only
//! what the log holds: ids and metadata, never content.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use passerelle_core::{AuditQuery, CoreError};
use passerelle_domain::audit::Action;
use serde::Deserialize;
use time::{Date, Duration};

use crate::lang::Lang;
use crate::lang_admin::{self as words, ConsoleTexts};
use crate::pages::{Layout, render, with_page_headers};
use crate::pages_admin::console_error;
use crate::session::{WebForm, WebUser};
use crate::{AppState, Routes};

/// Registers the auditor console.
pub fn register(r: Routes) -> Routes {
    r.add(&[Method::GET], "/audit", get(search))
        .add(&[Method::GET], "/audit/verify", get(verify))
        .add(&[Method::GET], "/audit/cases/{case_id}", get(report))
        .add(&[Method::POST], "/audit/export", post(export))
}

/// The search form's fields, as typed (kept on a refusal).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SearchValues {
    /// Case id.
    #[serde(default)]
    pub case_id: String,
    /// Username.
    #[serde(default)]
    pub actor: String,
    /// Organisation slug.
    #[serde(default)]
    pub org: String,
    /// Action code.
    #[serde(default)]
    pub action: String,
    /// First day (YYYY-MM-DD).
    #[serde(default)]
    pub since: String,
    /// Last day, included (YYYY-MM-DD).
    #[serde(default)]
    pub until: String,
    /// Cursor of the page.
    #[serde(default)]
    pub cursor: String,
}

/// One event as the table shows it.
pub struct EventRow {
    seq: u64,
    at: String,
    actor: String,
    org: String,
    role: String,
    action: String,
    target: String,
    case_id: String,
    outcome: String,
    basis: String,
}

/// An option of the action list.
pub struct ActionOption {
    code: &'static str,
    selected: bool,
}

/// `/audit`.
#[derive(Template)]
#[template(path = "audit.html")]
struct SearchPage {
    layout: Layout,
    c: &'static ConsoleTexts,
    q: SearchValues,
    actions: Vec<ActionOption>,
    error: Option<&'static str>,
    items: Vec<EventRow>,
    next_href: Option<String>,
    first_href: Option<String>,
    report_href: Option<String>,
}

/// `/audit/verify`.
#[derive(Template)]
#[template(path = "audit_verify.html")]
struct VerifyPage {
    layout: Layout,
    c: &'static ConsoleTexts,
    ok: bool,
    entries: u64,
    head: String,
    checkpoint: Option<String>,
    folder: String,
    first_bad: String,
    problem: Option<String>,
}

/// `/audit/cases/{case_id}`.
#[derive(Template)]
#[template(path = "audit_report.html")]
struct ReportPage {
    layout: Layout,
    c: &'static ConsoleTexts,
    case_id: String,
    generated: String,
    items: Vec<EventRow>,
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// The first instant of a `YYYY-MM-DD` day (UTC), `days` days later, as RFC 3339.
fn day_start(s: &str, days: i64) -> Result<Option<String>, ()> {
    let Some(s) = non_empty(s) else {
        return Ok(None);
    };
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = Date::parse(&s, &fmt).map_err(|_| ())?;
    let d = d.checked_add(Duration::days(days)).ok_or(())?;
    Ok(Some(format!("{d}T00:00:00Z")))
}

/// The core query of the form, or the French sentence of what is wrong.
fn query_of(v: &SearchValues, c: &'static ConsoleTexts) -> Result<AuditQuery, &'static str> {
    let since = day_start(&v.since, 0).map_err(|_| c.err_date)?;
    let until = day_start(&v.until, 1).map_err(|_| c.err_date)?;
    Ok(AuditQuery {
        case_id: non_empty(&v.case_id),
        actor: non_empty(&v.actor),
        org: non_empty(&v.org),
        action: non_empty(&v.action),
        since,
        until,
        limit: None,
        cursor: non_empty(&v.cursor),
    })
}

/// The French sentence of core's refusal of a query.
fn refusal(detail: &str, c: &'static ConsoleTexts) -> &'static str {
    if detail.starts_with("case_id") {
        c.err_case
    } else if detail.starts_with("actor") {
        c.err_actor
    } else if detail.starts_with("org") {
        c.err_org
    } else if detail.starts_with("action") {
        c.err_action
    } else if detail.starts_with("since") || detail.starts_with("until") {
        c.err_date
    } else if detail.contains("cursor") {
        c.err_cursor
    } else {
        c.bad_request
    }
}

fn outcome(c: &'static ConsoleTexts, o: &str, reason: Option<&str>) -> String {
    let word = match o {
        "allowed" => c.allowed,
        "denied" => c.denied,
        _ => c.unreadable,
    };
    match reason {
        Some(r) => format!("{word} ({r})"),
        None => word.to_owned(),
    }
}

fn href(path: &str, v: &SearchValues, cursor: Option<&str>, lang: Lang) -> String {
    let mut pairs: Vec<(&str, &str)> = [
        ("case_id", v.case_id.trim()),
        ("actor", v.actor.trim()),
        ("org", v.org.trim()),
        ("action", v.action.trim()),
        ("since", v.since.trim()),
        ("until", v.until.trim()),
    ]
    .into_iter()
    .filter(|(_, val)| !val.is_empty())
    .collect();
    if let Some(c) = cursor {
        pairs.push(("cursor", c));
    }
    if lang == Lang::En {
        pairs.push(("lang", "en"));
    }
    let q = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    if q.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{q}")
    }
}

fn action_options(selected: &str) -> Vec<ActionOption> {
    Action::ALL
        .iter()
        .map(|a| ActionOption {
            code: a.as_str(),
            selected: a.as_str() == selected.trim(),
        })
        .collect()
}

async fn search(State(s): State<AppState>, user: WebUser, RawQuery(raw): RawQuery) -> Response {
    let c = user.lang.console();
    let q: SearchValues = match raw.as_deref().map(serde_urlencoded::from_str) {
        None => SearchValues::default(),
        Some(Ok(q)) => q,
        Some(Err(_)) => SearchValues::default(),
    };
    let page = |status, error, items, next_href, report_href| {
        let first_href = (!q.cursor.is_empty()).then(|| href("/audit", &q, None, user.lang));
        render(
            status,
            &SearchPage {
                layout: Layout::for_user(&user, c.audit_title),
                c,
                actions: action_options(&q.action),
                q: q.clone(),
                error,
                items,
                next_href,
                first_href,
                report_href,
            },
        )
    };
    let query = match query_of(&q, c) {
        Ok(query) => query,
        Err(msg) => {
            // The role first: a refused form is for auditors only.
            return match s
                .core
                .audit_events(&user.principal, &AuditQuery::default(), &user.ctx)
                .await
            {
                Ok(_) => page(StatusCode::BAD_REQUEST, Some(msg), Vec::new(), None, None),
                Err(e) => console_error(&user, e),
            };
        }
    };
    match s
        .core
        .audit_events(&user.principal, &query, &user.ctx)
        .await
    {
        Ok(p) => {
            let items = p
                .items
                .iter()
                .map(|e| EventRow {
                    seq: e.seq,
                    at: words::when(e.at),
                    actor: e.actor.clone().unwrap_or_else(|| c.system.to_owned()),
                    org: e.org.clone().unwrap_or_default(),
                    role: e
                        .role
                        .map(|r| words::role(user.lang, r.as_str()))
                        .unwrap_or_default(),
                    action: e.action.clone(),
                    target: e.target.clone().unwrap_or_default(),
                    case_id: e.case_id.map(|c| c.to_string()).unwrap_or_default(),
                    outcome: outcome(c, e.outcome, e.reason.as_deref()),
                    basis: e
                        .legal_basis
                        .map(|b| words::basis(user.lang, b.as_str()))
                        .unwrap_or_default(),
                })
                .collect();
            let next = p
                .next_cursor
                .as_deref()
                .map(|cur| href("/audit", &q, Some(cur), user.lang));
            let report = query
                .case_id
                .as_deref()
                .map(|id| format!("/audit/cases/{id}"));
            page(StatusCode::OK, None, items, next, report)
        }
        Err(CoreError::BadRequest(detail)) => page(
            StatusCode::BAD_REQUEST,
            Some(refusal(detail, c)),
            Vec::new(),
            None,
            None,
        ),
        Err(e) => console_error(&user, e),
    }
}

async fn verify(State(s): State<AppState>, user: WebUser) -> Response {
    let c = user.lang.console();
    match s.core.audit_verify(&user.principal, &user.ctx).await {
        Ok(v) => render(
            StatusCode::OK,
            &VerifyPage {
                layout: Layout::for_user(&user, c.verify_title),
                c,
                ok: v.ok,
                entries: v.entries,
                head: v.head,
                checkpoint: v.checkpoint,
                folder: v
                    .checkpoint_folder_size
                    .map_or_else(|| c.none.to_owned(), |n| n.to_string()),
                first_bad: v
                    .first_bad_entry
                    .map_or_else(|| c.none.to_owned(), |n| n.to_string()),
                problem: v.problem,
            },
        ),
        Err(e) => console_error(&user, e),
    }
}

async fn report(State(s): State<AppState>, user: WebUser, Path(case_id): Path<String>) -> Response {
    let c = user.lang.console();
    match s
        .core
        .audit_access_report(&user.principal, &case_id, &user.ctx)
        .await
    {
        Ok(r) => {
            let items = r
                .items
                .iter()
                .map(|e| EventRow {
                    seq: e.seq,
                    at: words::when(e.at),
                    actor: e.actor.clone().unwrap_or_else(|| c.system.to_owned()),
                    org: e.org.clone().unwrap_or_default(),
                    role: String::new(),
                    action: e.action.clone(),
                    target: e.target.clone().unwrap_or_default(),
                    case_id: String::new(),
                    outcome: outcome(c, e.outcome, None),
                    basis: e
                        .legal_basis
                        .map(|b| words::basis(user.lang, b.as_str()))
                        .unwrap_or_default(),
                })
                .collect();
            render(
                StatusCode::OK,
                &ReportPage {
                    layout: Layout::for_user(&user, c.report_title),
                    c,
                    // Core parsed it: a UUID, nothing else.
                    case_id: case_id.to_ascii_lowercase(),
                    generated: words::when(s.core.now()),
                    items,
                },
            )
        }
        Err(e) => console_error(&user, e),
    }
}

#[derive(Deserialize)]
struct NoFields {}

async fn export(State(s): State<AppState>, form: WebForm<NoFields>) -> Response {
    let user = form.user;
    let mut out: Vec<u8> = Vec::new();
    match s
        .core
        .audit_export_as(&user.principal, &mut out, &user.ctx)
        .await
    {
        Ok(summary) => {
            let name = format!("passerelle-audit-{}.jsonl", summary.entries);
            let mut res = (StatusCode::OK, out).into_response();
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jsonl"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            with_page_headers(res)
        }
        Err(e) => console_error(&user, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_become_utc_bounds() {
        assert_eq!(day_start("", 0), Ok(None));
        assert_eq!(
            day_start("2026-11-29", 0),
            Ok(Some("2026-11-29T00:00:00Z".into()))
        );
        assert_eq!(
            day_start("2026-12-31", 1),
            Ok(Some("2027-01-01T00:00:00Z".into()))
        );
        assert!(day_start("29/11/2026", 0).is_err());
    }

    #[test]
    fn refusals_are_french_sentences() {
        let c = Lang::Fr.console();
        assert_eq!(refusal("case_id must be a UUID", c), c.err_case);
        assert_eq!(refusal("invalid cursor", c), c.err_cursor);
        assert_eq!(refusal("limit must be between 1 and 200", c), c.bad_request);
    }
}
