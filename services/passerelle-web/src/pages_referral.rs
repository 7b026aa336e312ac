//! The referral pages: inbox and sent box, the two-step new referral with its consent
//! receipt, the referral page with the actions its state allows, attachment downloads, and
//! the 226-14 3° report. Every handler calls the same core use case as the JSON API; the
//! rules stay in core, this module only turns forms into requests and core's refusals into
//! French (or English) sentences.
//!
//! Nothing typed is lost on an error: a refused form is rendered again with its values.
//! URLs carry ids and closed vocabulary words only, never content.

use std::collections::BTreeMap;

use askama::Template;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use passerelle_core::{
    AttachmentUpload, CloseRequest, CloseTaskRequest, CoreError, DeclineRequest, ListParams,
    NewMessage, NotificationParams, ReferralView, WithdrawRequest,
};
use passerelle_domain::audit::Action;
use passerelle_domain::enums::{
    CloseOutcome, ConsentBasis, ConsentMethod, DataCategory, OrgKind, Purpose, ReferralStatus,
    Role, SafetyChannel, Urgency,
};
use passerelle_domain::ids::{AttachmentId, CaseId, OrgSlug, ReferralId, TaskId};
use passerelle_domain::model::{
    Consent, DangerGrid, FilingRequest, LegalException, Notes, Safety, Subject,
};
use passerelle_domain::policy::Route;
use passerelle_domain::rules::{ForwardRequest, Rule, categories_of};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use time::{Date, Month, OffsetDateTime, Time};

use crate::lang::Lang;
use crate::lang_referral::{RTexts, label, rt};
use crate::pages::{Layout, render};
use crate::session::{WebForm, WebUser, csrf_ok, upload_user};
use crate::{AppState, Routes};

/// A posted form, field by field (checkbox names carry their value: `cat_identity=on`).
pub type Fields = BTreeMap<String, String>;

/// Largest free text accepted in one field (characters).
const MAX_TEXT: usize = 5000;

/// Registers the referral pages.
pub fn register(r: Routes) -> Routes {
    r.add(&[Method::GET], "/inbox", get(inbox))
        .add(&[Method::GET], "/sent", get(sent))
        .add(
            &[Method::GET, Method::POST],
            "/referrals/new",
            get(new_referral).post(new_referral_post),
        )
        .add(&[Method::GET], "/referrals/{id}", get(referral))
        .add(&[Method::GET], "/referrals/{id}/receipt", get(receipt))
        .add(
            &[Method::POST],
            "/referrals/{id}/action",
            axum::routing::post(action),
        )
        .add(&[Method::GET], "/referrals/{id}/files/{aid}", get(download))
        .add(
            &[Method::POST],
            "/referrals/{id}/upload",
            // Not limited here: core counts the bytes against the attachment limit.
            axum::routing::post(upload).layer(DefaultBodyLimit::disable()),
        )
        .add(
            &[Method::GET, Method::POST],
            "/reports/new",
            get(report_page).post(report_post),
        )
}

// ---------------------------------------------------------------------------------------
// Shared helpers.

/// One choice of a select, a radio group or a checkbox list.
#[derive(Debug, Clone)]
pub struct Opt {
    /// Wire value.
    pub value: String,
    /// Shown label.
    pub label: String,
    /// Selected or checked.
    pub on: bool,
}

fn opts<T: Copy>(
    lang: Lang,
    all: &[T],
    wire: fn(T) -> &'static str,
    on: impl Fn(&str) -> bool,
) -> Vec<Opt> {
    all.iter()
        .map(|v| {
            let w = wire(*v);
            Opt {
                value: w.to_owned(),
                label: label(lang, w),
                on: on(w),
            }
        })
        .collect()
}

fn fv<'a>(f: &'a Fields, k: &str) -> &'a str {
    f.get(k).map(|s| s.as_str()).unwrap_or("")
}

fn on(f: &Fields, k: &str) -> bool {
    matches!(fv(f, k), "on" | "1" | "true" | "yes")
}

fn text(f: &Fields, k: &str) -> Option<String> {
    let v = fv(f, k).trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// `yyyy-mm-dd` (a date input) or `dd/mm/yyyy`.
fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim();
    let (y, m, d) = if let Some((y, rest)) = s.split_once('-') {
        let (m, d) = rest.split_once('-')?;
        (y, m, d)
    } else {
        let mut it = s.split('/');
        let (d, m, y) = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some() {
            return None;
        }
        (y, m, d)
    };
    let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
}

fn fmt_date(d: Date) -> String {
    format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year())
}

fn fmt_time(t: OffsetDateTime) -> String {
    format!(
        "{} {:02}:{:02} UTC",
        fmt_date(t.date()),
        t.hour(),
        t.minute()
    )
}

fn lang_suffix(lang: Lang, first: bool) -> &'static str {
    match (lang, first) {
        (Lang::En, true) => "?lang=en",
        (Lang::En, false) => "&lang=en",
        _ => "",
    }
}

/// The French (or English) sentence of a core refusal, and its status.
fn explain(lang: Lang, e: &CoreError) -> (StatusCode, &'static str) {
    let t = rt(lang);
    match e {
        CoreError::Unauthenticated => (StatusCode::UNAUTHORIZED, t.err_forbidden),
        CoreError::Forbidden("side") => (StatusCode::FORBIDDEN, t.err_wrong_side),
        CoreError::Forbidden(_) => (StatusCode::FORBIDDEN, t.err_forbidden),
        CoreError::NotFound => (StatusCode::NOT_FOUND, t.not_found_text),
        CoreError::Gone | CoreError::Archived => (StatusCode::GONE, t.err_gone),
        CoreError::Conflict(_) => (StatusCode::CONFLICT, t.err_conflict),
        CoreError::Rule(v) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            match v.rule {
                Rule::ConsentRecipient => t.rule_consent_recipient,
                Rule::ConsentPurpose => t.rule_consent_purpose,
                Rule::ConsentCategory => t.rule_consent_category,
                Rule::ConsentExpired => t.rule_consent_expired,
                Rule::ConsentWithdrawn => t.rule_consent_withdrawn,
                Rule::LegalException => t.rule_legal_exception,
                Rule::UrgencyLowered => t.rule_urgency_lowered,
            },
        ),
        CoreError::Unprocessable { code, .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            match *code {
                "unknown-organisation" => t.err_unknown_org,
                _ => t.err_bad_request,
            },
        ),
        CoreError::BadRequest(_) => (StatusCode::BAD_REQUEST, t.err_bad_request),
        CoreError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, t.err_too_large),
        CoreError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, t.err_unavailable),
        CoreError::Tamper(_) | CoreError::Internal(_) => {
            tracing::error!(error = %e, "referral page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, t.err_internal)
        }
    }
}

/// A page with one message of the referral pages (refusals, not found).
#[derive(Template)]
#[template(path = "referral_message.html")]
pub struct RMessagePage {
    /// Layout.
    pub layout: Layout,
    /// Sentences.
    pub rt: &'static RTexts,
    /// The message.
    pub text: &'static str,
}

fn message(user: &WebUser, status: StatusCode, title: &str, text: &'static str) -> Response {
    render(
        status,
        &RMessagePage {
            layout: Layout::for_user(user, title),
            rt: rt(user.lang),
            text,
        },
    )
}

/// The page of a core refusal: the same 404 page for a missing referral and one of
/// another organisation.
fn refusal(user: &WebUser, e: &CoreError) -> Response {
    let t = rt(user.lang);
    let (status, text) = explain(user.lang, e);
    let title = if status == StatusCode::NOT_FOUND {
        t.not_found_title
    } else {
        t.refused_title
    };
    message(user, status, title, text)
}

fn not_found(user: &WebUser) -> Response {
    refusal(user, &CoreError::NotFound)
}

// ---------------------------------------------------------------------------------------
// Inbox and sent box.

/// One row of a box (metadata only).
#[derive(Debug, Clone)]
pub struct BoxRow {
    /// Id (for the link).
    pub id: String,
    /// Reference.
    pub reference: String,
    /// From organisation.
    pub from: String,
    /// To organisation.
    pub to: String,
    /// Purpose label.
    pub purpose: String,
    /// Urgency label.
    pub urgency: String,
    /// Urgency wire value (for the badge class).
    pub urgency_code: String,
    /// Status label.
    pub status: String,
    /// Due time.
    pub due: String,
    /// Past due and still open.
    pub overdue: bool,
}

/// One notice of the outbox (content-free).
#[derive(Debug, Clone)]
pub struct NoticeRow {
    /// Kind label.
    pub kind: String,
    /// Link to the referral, if any.
    pub referral: Option<String>,
    /// When.
    pub at: String,
}

/// `/inbox` and `/sent`.
#[derive(Template)]
#[template(path = "inbox.html")]
pub struct BoxPage {
    /// Layout.
    pub layout: Layout,
    /// Sentences.
    pub rt: &'static RTexts,
    /// Status filter links: (href, label, current).
    pub filters: Vec<(String, String, bool)>,
    /// Rows.
    pub rows: Vec<BoxRow>,
    /// Next page link.
    pub next: Option<String>,
    /// Notices (inbox only).
    pub notices: Vec<NoticeRow>,
    /// Whether the notices section is shown.
    pub show_notices: bool,
}

#[derive(Deserialize, Default)]
struct BoxQuery {
    status: Option<String>,
    cursor: Option<String>,
}

async fn inbox(
    State(s): State<AppState>,
    user: WebUser,
    q: Result<Query<BoxQuery>, QueryRejection>,
) -> Response {
    show_box(&s, &user, "inbox", q.map(|q| q.0).unwrap_or_default()).await
}

async fn sent(
    State(s): State<AppState>,
    user: WebUser,
    q: Result<Query<BoxQuery>, QueryRejection>,
) -> Response {
    show_box(&s, &user, "sent", q.map(|q| q.0).unwrap_or_default()).await
}

fn open_status(st: ReferralStatus) -> bool {
    matches!(
        st,
        ReferralStatus::Sent | ReferralStatus::Acknowledged | ReferralStatus::Accepted
    )
}

async fn show_box(s: &AppState, user: &WebUser, kind: &'static str, q: BoxQuery) -> Response {
    let lang = user.lang;
    let t = rt(lang);
    let status: Option<ReferralStatus> = match q.status.as_deref() {
        None | Some("") => None,
        Some(v) => match v.parse() {
            Ok(st) => Some(st),
            Err(_) => return refusal(user, &CoreError::BadRequest("status")),
        },
    };
    let params = ListParams {
        box_kind: Some(kind.to_owned()),
        status,
        overdue: None,
        limit: Some(50),
        cursor: q.cursor.clone(),
    };
    let page = match s
        .core
        .list_referrals(&user.principal, &params, &user.ctx)
        .await
    {
        Ok(p) => p,
        Err(e) => return refusal(user, &e),
    };
    let now = OffsetDateTime::now_utc();
    let mut items = page.items;
    // Overdue first (most overdue first), then by urgency, then by due time.
    items.sort_by_key(|m| {
        let overdue = open_status(m.status) && m.due_at < now;
        (!overdue, std::cmp::Reverse(m.urgency), m.due_at)
    });
    let rows = items
        .iter()
        .map(|m| BoxRow {
            id: m.id.to_string(),
            reference: m.reference.clone(),
            from: m.from_org.as_str().to_owned(),
            to: m.to_org.as_str().to_owned(),
            purpose: label(lang, m.purpose.as_str()),
            urgency: label(lang, m.urgency.as_str()),
            urgency_code: m.urgency.as_str().to_owned(),
            status: label(lang, m.status.as_str()),
            due: fmt_time(m.due_at),
            overdue: open_status(m.status) && m.due_at < now,
        })
        .collect();
    let base: &'static str = if kind == "inbox" { "/inbox" } else { "/sent" };
    let current = status.map(|s| s.as_str()).unwrap_or("");
    let mut filters = vec![(base.to_owned(), t.filter_all.to_owned(), current.is_empty())];
    for st in ReferralStatus::ALL {
        filters.push((
            format!("{base}?status={}", st.as_str()),
            label(lang, st.as_str()),
            current == st.as_str(),
        ));
    }
    let next = page.next_cursor.map(|c| {
        let mut href = format!("{base}?cursor={c}");
        if !current.is_empty() {
            href.push_str(&format!("&status={current}"));
        }
        href
    });
    let mut notices = Vec::new();
    let show_notices = kind == "inbox";
    if show_notices {
        let np = NotificationParams {
            limit: Some(20),
            cursor: None,
        };
        match s
            .core
            .list_notifications(&user.principal, &np, &user.ctx)
            .await
        {
            Ok(n) => {
                notices = n
                    .items
                    .iter()
                    .map(|i| NoticeRow {
                        kind: label(lang, &i.kind),
                        referral: i.referral_id.map(|r| r.to_string()),
                        at: fmt_time(i.created_at),
                    })
                    .collect()
            }
            Err(e) => return refusal(user, &e),
        }
    }
    let title = if kind == "inbox" {
        t.inbox_title
    } else {
        t.sent_title
    };
    render(
        StatusCode::OK,
        &BoxPage {
            layout: Layout::for_user(user, title),
            rt: t,
            filters,
            rows,
            next,
            notices,
            show_notices,
        },
    )
}

// ---------------------------------------------------------------------------------------
// New referral (two steps) and the 226-14 3° report.

/// What the consent covers, for step 2.
#[derive(Debug, Clone, Copy, Default)]
pub struct Covers {
    /// identity
    pub identity: bool,
    /// contact
    pub contact: bool,
    /// narrative
    pub narrative: bool,
    /// risk
    pub risk: bool,
    /// medical
    pub medical: bool,
}

impl Covers {
    fn of(f: &Fields) -> Covers {
        Covers {
            identity: on(f, "cat_identity"),
            contact: on(f, "cat_contact"),
            narrative: on(f, "cat_narrative"),
            risk: on(f, "cat_risk"),
            medical: on(f, "cat_medical"),
        }
    }

    /// Nothing about the person is covered.
    pub fn none(&self) -> bool {
        !(self.identity || self.contact || self.narrative || self.risk || self.medical)
    }
}

/// `/referrals/new` (both steps).
#[derive(Template)]
#[template(path = "referral_new.html")]
pub struct NewPage {
    /// Layout.
    pub layout: Layout,
    /// Sentences.
    pub rt: &'static RTexts,
    /// 1 or 2.
    pub step: u8,
    /// What to fix.
    pub errors: Vec<&'static str>,
    /// Receiving organisation.
    pub to_orgs: Vec<Opt>,
    /// Purpose.
    pub purposes: Vec<Opt>,
    /// Urgency.
    pub urgencies: Vec<Opt>,
    /// Consent: recipients.
    pub rcpts: Vec<Opt>,
    /// Consent: purposes.
    pub cpurposes: Vec<Opt>,
    /// Consent: categories.
    pub cats: Vec<Opt>,
    /// Consent: method.
    pub methods: Vec<Opt>,
    /// Safe channel.
    pub channels: Vec<Opt>,
    /// Step 1's fields, carried as hidden inputs in step 2.
    pub carried: Vec<(String, String)>,
    /// Step 2's fields, carried as hidden inputs when going back to step 1.
    pub kept: Vec<(String, String)>,
    /// What step 2 may offer.
    pub covers: Covers,
    /// The summary of step 1 shown in step 2: (label, value).
    pub summary: Vec<(&'static str, String)>,
    /// Every value typed.
    pub v: Fields,
}

impl NewPage {
    /// A typed value.
    pub fn val(&self, k: &str) -> &str {
        fv(&self.v, k)
    }

    /// A ticked box.
    pub fn ticked(&self, k: &str) -> bool {
        on(&self.v, k)
    }
}

const STEP1_PREFIXES: &[&str] = &["rcpt_", "cp_", "cat_"];
const STEP1_FIELDS: &[&str] = &[
    "to_org", "purpose", "urgency", "until", "method", "grid_yes", "grid_red",
];

async fn org_list(s: &AppState) -> Result<Vec<(String, String, OrgKind)>, CoreError> {
    Ok(s.core
        .orgs()
        .await?
        .into_iter()
        .map(|o| (o.slug.as_str().to_owned(), o.name, o.kind))
        .collect())
}

fn new_page(
    user: &WebUser,
    orgs: &[(String, String, OrgKind)],
    step: u8,
    errors: Vec<&'static str>,
    v: Fields,
) -> NewPage {
    let lang = user.lang;
    let t = rt(lang);
    let own = user.principal.org_slug().as_str().to_owned();
    let to_orgs = orgs
        .iter()
        .filter(|o| o.0 != own && o.2 != OrgKind::Prosecutor)
        .map(|o| Opt {
            value: o.0.clone(),
            label: o.1.clone(),
            on: fv(&v, "to_org") == o.0,
        })
        .collect();
    let rcpts = orgs
        .iter()
        .filter(|o| o.0 != own && o.2 != OrgKind::Prosecutor)
        .map(|o| Opt {
            value: o.0.clone(),
            label: o.1.clone(),
            on: on(&v, &format!("rcpt_{}", o.0)),
        })
        .collect();
    let consent_purposes: Vec<Purpose> = Purpose::ALL
        .iter()
        .copied()
        .filter(|p| *p != Purpose::ReportToProsecutor)
        .collect();
    let purposes = opts(lang, &consent_purposes, Purpose::as_str, |w| {
        fv(&v, "purpose") == w
    });
    let cpurposes = opts(lang, &consent_purposes, Purpose::as_str, |w| {
        on(&v, &format!("cp_{w}"))
    });
    let urg = if fv(&v, "urgency").is_empty() {
        "normal".to_owned()
    } else {
        fv(&v, "urgency").to_owned()
    };
    let urgencies = opts(lang, Urgency::ALL, Urgency::as_str, |w| urg == w);
    let cats = opts(lang, DataCategory::ALL, DataCategory::as_str, |w| {
        on(&v, &format!("cat_{w}"))
    });
    let methods = opts(lang, ConsentMethod::ALL, ConsentMethod::as_str, |w| {
        fv(&v, "method") == w
    });
    let channels = opts(lang, SafetyChannel::ALL, SafetyChannel::as_str, |w| {
        fv(&v, "channel") == w
    });
    let carried = v
        .iter()
        .filter(|(k, _)| {
            STEP1_FIELDS.contains(&k.as_str()) || STEP1_PREFIXES.iter().any(|p| k.starts_with(p))
        })
        .map(|(k, val)| (k.clone(), val.clone()))
        .collect();
    let kept = v
        .iter()
        .filter(|(k, _)| {
            !(STEP1_FIELDS.contains(&k.as_str())
                || STEP1_PREFIXES.iter().any(|p| k.starts_with(p))
                || matches!(k.as_str(), "csrf" | "step" | "go"))
        })
        .map(|(k, val)| (k.clone(), val.clone()))
        .collect();
    let name_of = |slug: &str| {
        orgs.iter()
            .find(|o| o.0 == slug)
            .map(|o| o.1.clone())
            .unwrap_or_else(|| slug.to_owned())
    };
    let list = |prefix: &str, f: &dyn Fn(&str) -> String| {
        v.iter()
            .filter(|(k, val)| k.starts_with(prefix) && matches!(val.as_str(), "on" | "1"))
            .map(|(k, _)| f(&k[prefix.len()..]))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let summary = vec![
        (t.to_org_label, name_of(fv(&v, "to_org"))),
        (t.purpose_label, label(lang, fv(&v, "purpose"))),
        (t.urgency_label, label(lang, &urg)),
        (t.consent_recipients, list("rcpt_", &|s| name_of(s))),
        (t.consent_purposes, list("cp_", &|s| label(lang, s))),
        (t.consent_categories, list("cat_", &|s| label(lang, s))),
        (
            t.consent_expires,
            parse_date(fv(&v, "until"))
                .map(fmt_date)
                .unwrap_or_default(),
        ),
        (t.consent_method, label(lang, fv(&v, "method"))),
    ];
    NewPage {
        layout: Layout::for_user(user, t.new_title),
        rt: t,
        step,
        errors,
        to_orgs,
        purposes,
        urgencies,
        rcpts,
        cpurposes,
        cats,
        methods,
        channels,
        carried,
        kept,
        covers: Covers::of(&v),
        summary,
        v,
    }
}

async fn new_referral(State(s): State<AppState>, user: WebUser) -> Response {
    if let Err(e) = s
        .core
        .require_route(
            &user.principal,
            Route::FileReferral,
            Action::ReferralDenied,
            &user.ctx,
        )
        .await
    {
        return refusal(&user, &e);
    }
    let orgs = match org_list(&s).await {
        Ok(o) => o,
        Err(e) => return refusal(&user, &e),
    };
    render(
        StatusCode::OK,
        &new_page(&user, &orgs, 1, Vec::new(), Fields::new()),
    )
}

/// Checks step 1's shape (not the rules: core decides those at filing).
fn step1_errors(lang: Lang, v: &Fields, today: Date) -> Vec<&'static str> {
    let t = rt(lang);
    let mut errs = Vec::new();
    if OrgSlug::parse(fv(v, "to_org")).is_err() {
        errs.push(t.err_to_org);
    }
    if fv(v, "purpose").parse::<Purpose>().is_err() {
        errs.push(t.err_purpose);
    }
    if fv(v, "urgency").parse::<Urgency>().is_err() {
        errs.push(t.err_urgency);
    }
    if !v
        .iter()
        .any(|(k, val)| k.starts_with("rcpt_") && val == "on")
    {
        errs.push(t.err_rcpt);
    }
    if !v.iter().any(|(k, val)| k.starts_with("cp_") && val == "on") {
        errs.push(t.err_consent_purpose);
    }
    if parse_date(fv(v, "until")).is_none_or(|d| d <= today) {
        errs.push(t.err_until);
    }
    if fv(v, "method").parse::<ConsentMethod>().is_err() {
        errs.push(t.err_method);
    }
    if grid_of(v).is_err() {
        errs.push(t.err_grid);
    }
    errs
}

fn grid_of(v: &Fields) -> Result<Option<DangerGrid>, ()> {
    let (y, r) = (fv(v, "grid_yes").trim(), fv(v, "grid_red").trim());
    if y.is_empty() && r.is_empty() {
        return Ok(None);
    }
    let y: u8 = y.parse().map_err(|_| ())?;
    let r: u8 = if r.is_empty() {
        0
    } else {
        r.parse().map_err(|_| ())?
    };
    if y > 50 || r > y {
        return Err(());
    }
    Ok(Some(DangerGrid {
        yes_answers: y,
        red_answers: r,
    }))
}

fn end_of(d: Date) -> OffsetDateTime {
    d.with_time(Time::from_hms(22, 59, 59).unwrap_or(Time::MIDNIGHT))
        .assume_utc()
}

fn checked<T: std::str::FromStr>(v: &Fields, prefix: &str) -> Vec<T> {
    v.iter()
        .filter(|(k, val)| k.starts_with(prefix) && val.as_str() == "on")
        .filter_map(|(k, _)| k[prefix.len()..].parse().ok())
        .collect()
}

fn too_long(v: &Fields) -> bool {
    v.values().any(|s| s.chars().count() > MAX_TEXT)
}

/// The person's details, safety profile and notes of a step-2 form (only what was typed).
fn content_of(lang: Lang, v: &Fields, errs: &mut Vec<&'static str>) -> (Subject, Safety, Notes) {
    let t = rt(lang);
    let birth_date = match text(v, "birth_date") {
        None => None,
        Some(b) => match parse_date(&b) {
            Some(d) => Some(d),
            None => {
                errs.push(t.err_birth);
                None
            }
        },
    };
    let subject = Subject {
        name: text(v, "name"),
        birth_date,
        phone: text(v, "phone"),
    };
    let safety = Safety {
        channel: fv(v, "channel").parse().ok(),
        hours: text(v, "hours"),
        voicemail_ok: on(v, "voicemail_ok"),
        may_name_org: on(v, "may_name_org"),
        code_word: text(v, "code_word"),
        do_not_contact: on(v, "do_not_contact"),
    };
    let notes = Notes {
        narrative: text(v, "narrative"),
        risk: text(v, "risk"),
        medical: text(v, "medical"),
    };
    (subject, safety, notes)
}

async fn new_referral_post(State(s): State<AppState>, form: WebForm<Fields>) -> Response {
    let WebForm { user, form: v } = form;
    let lang = user.lang;
    if let Err(e) = s
        .core
        .require_route(
            &user.principal,
            Route::FileReferral,
            Action::ReferralDenied,
            &user.ctx,
        )
        .await
    {
        return refusal(&user, &e);
    }
    let orgs = match org_list(&s).await {
        Ok(o) => o,
        Err(e) => return refusal(&user, &e),
    };
    let now = OffsetDateTime::now_utc();
    let mut errs = step1_errors(lang, &v, now.date());
    if too_long(&v) {
        errs.push(rt(lang).err_too_long);
    }
    if fv(&v, "go") == "back" {
        return render(StatusCode::OK, &new_page(&user, &orgs, 1, Vec::new(), v));
    }
    if !errs.is_empty() {
        return render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &new_page(&user, &orgs, 1, errs, v),
        );
    }
    if fv(&v, "step") != "2" {
        return render(StatusCode::OK, &new_page(&user, &orgs, 2, Vec::new(), v));
    }
    let (subject, safety, notes) = content_of(lang, &v, &mut errs);
    if !errs.is_empty() {
        return render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &new_page(&user, &orgs, 2, errs, v),
        );
    }
    let (Ok(to_org), Ok(purpose), Ok(urgency), Ok(method), Ok(grid), Some(until)) = (
        OrgSlug::parse(fv(&v, "to_org")),
        fv(&v, "purpose").parse::<Purpose>(),
        fv(&v, "urgency").parse::<Urgency>(),
        fv(&v, "method").parse::<ConsentMethod>(),
        grid_of(&v),
        parse_date(fv(&v, "until")),
    ) else {
        return render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &new_page(&user, &orgs, 1, vec![rt(lang).err_bad_request], v),
        );
    };
    let req = FilingRequest {
        to_org,
        purpose,
        urgency,
        danger_grid: grid,
        consent: Consent {
            basis: ConsentBasis::Consent,
            method,
            obtained_at: now,
            recipients: checked(&v, "rcpt_"),
            purposes: checked(&v, "cp_"),
            data_categories: checked(&v, "cat_"),
            expires_at: end_of(until),
            legal_exception: None,
        },
        subject,
        safety,
        notes,
    };
    match s.core.file_referral(&user.principal, req, &user.ctx).await {
        Ok(meta) => Redirect::to(&format!(
            "/referrals/{}?done=filed{}",
            meta.id,
            lang_suffix(lang, false)
        ))
        .into_response(),
        Err(e) => {
            let (status, msg) = explain(lang, &e);
            if matches!(
                status,
                StatusCode::SERVICE_UNAVAILABLE | StatusCode::INTERNAL_SERVER_ERROR
            ) || matches!(e, CoreError::Forbidden(_))
            {
                return refusal(&user, &e);
            }
            render(status, &new_page(&user, &orgs, 2, vec![msg], v))
        }
    }
}

/// `/reports/new`.
#[derive(Template)]
#[template(path = "report_new.html")]
pub struct ReportPage {
    /// Layout.
    pub layout: Layout,
    /// Sentences.
    pub rt: &'static RTexts,
    /// What to fix.
    pub errors: Vec<&'static str>,
    /// Prosecutor's offices.
    pub prosecutors: Vec<Opt>,
    /// Urgency.
    pub urgencies: Vec<Opt>,
    /// Safe channel.
    pub channels: Vec<Opt>,
    /// Every value typed.
    pub v: Fields,
}

impl ReportPage {
    /// A typed value.
    pub fn val(&self, k: &str) -> &str {
        fv(&self.v, k)
    }

    /// A ticked box.
    pub fn ticked(&self, k: &str) -> bool {
        on(&self.v, k)
    }
}

fn may_report(user: &WebUser) -> bool {
    user.principal.role() == Role::Referrer && user.principal.health_professional()
}

fn report_view(
    user: &WebUser,
    orgs: &[(String, String, OrgKind)],
    errors: Vec<&'static str>,
    v: Fields,
) -> ReportPage {
    let lang = user.lang;
    let prosecutors = orgs
        .iter()
        .filter(|o| o.2 == OrgKind::Prosecutor)
        .map(|o| Opt {
            value: o.0.clone(),
            label: o.1.clone(),
            on: fv(&v, "to_org") == o.0,
        })
        .collect();
    let urg = match fv(&v, "urgency") {
        "" => "immediate".to_owned(),
        u => u.to_owned(),
    };
    ReportPage {
        layout: Layout::for_user(user, rt(lang).nav_report),
        rt: rt(lang),
        errors,
        prosecutors,
        urgencies: opts(lang, Urgency::ALL, Urgency::as_str, |w| urg == w),
        channels: opts(lang, SafetyChannel::ALL, SafetyChannel::as_str, |w| {
            fv(&v, "channel") == w
        }),
        v,
    }
}

async fn report_page(State(s): State<AppState>, user: WebUser) -> Response {
    if !may_report(&user) {
        let e = s.core.refuse_page(&user.principal, &user.ctx).await;
        if !matches!(e, CoreError::Forbidden(_)) {
            return refusal(&user, &e);
        }
        return message(
            &user,
            StatusCode::FORBIDDEN,
            rt(user.lang).refused_title,
            rt(user.lang).report_only_health,
        );
    }
    match org_list(&s).await {
        Ok(orgs) => render(
            StatusCode::OK,
            &report_view(&user, &orgs, Vec::new(), Fields::new()),
        ),
        Err(e) => refusal(&user, &e),
    }
}

async fn report_post(State(s): State<AppState>, form: WebForm<Fields>) -> Response {
    let WebForm { user, form: v } = form;
    let lang = user.lang;
    let t = rt(lang);
    if !may_report(&user) {
        let e = s.core.refuse_page(&user.principal, &user.ctx).await;
        if !matches!(e, CoreError::Forbidden(_)) {
            return refusal(&user, &e);
        }
        return message(
            &user,
            StatusCode::FORBIDDEN,
            t.refused_title,
            t.report_only_health,
        );
    }
    let orgs = match org_list(&s).await {
        Ok(o) => o,
        Err(e) => return refusal(&user, &e),
    };
    let mut errs = Vec::new();
    if too_long(&v) {
        errs.push(t.err_too_long);
    }
    let (subject, safety, notes) = content_of(lang, &v, &mut errs);
    let to_org = OrgSlug::parse(fv(&v, "to_org"));
    if to_org.is_err() {
        errs.push(t.err_to_org);
    }
    if subject.birth_date.is_none() {
        errs.push(t.err_adult);
    }
    let record = LegalException {
        immediate_danger: on(&v, "cond_danger"),
        emprise: on(&v, "cond_emprise"),
        agreement_sought: fv(&v, "agreement_sought").trim().to_owned(),
        justification: fv(&v, "justification").trim().to_owned(),
    };
    if !on(&v, "cond_adult")
        || !record.immediate_danger
        || !record.emprise
        || record.agreement_sought.is_empty()
        || record.justification.is_empty()
    {
        errs.push(t.err_conditions);
    }
    let urgency = fv(&v, "urgency")
        .parse::<Urgency>()
        .unwrap_or(Urgency::Immediate);
    let Ok(to_org) = to_org else {
        return render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &report_view(&user, &orgs, errs, v),
        );
    };
    if !errs.is_empty() {
        return render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &report_view(&user, &orgs, errs, v),
        );
    }
    let now = OffsetDateTime::now_utc();
    let categories = categories_of(&subject, &notes, None).into_iter().collect();
    let req = FilingRequest {
        to_org: to_org.clone(),
        purpose: Purpose::ReportToProsecutor,
        urgency,
        danger_grid: None,
        consent: Consent {
            basis: ConsentBasis::LegalException22614,
            method: ConsentMethod::Written,
            obtained_at: now,
            recipients: vec![to_org],
            purposes: vec![Purpose::ReportToProsecutor],
            data_categories: categories,
            expires_at: now + time::Duration::days(365),
            legal_exception: Some(record),
        },
        subject,
        safety,
        notes,
    };
    match s.core.file_referral(&user.principal, req, &user.ctx).await {
        Ok(meta) => Redirect::to(&format!(
            "/referrals/{}?done=filed{}",
            meta.id,
            lang_suffix(lang, false)
        ))
        .into_response(),
        Err(e) => {
            let (status, msg) = explain(lang, &e);
            if matches!(
                status,
                StatusCode::SERVICE_UNAVAILABLE | StatusCode::INTERNAL_SERVER_ERROR
            ) {
                return refusal(&user, &e);
            }
            render(status, &report_view(&user, &orgs, vec![msg], v))
        }
    }
}

// ---------------------------------------------------------------------------------------
// The referral page and its actions.

/// A history line.
#[derive(Debug, Clone)]
pub struct HistRow {
    /// When.
    pub at: String,
    /// New state.
    pub status: String,
    /// Outcome, reason, suggestion.
    pub detail: String,
}

/// A message.
#[derive(Debug, Clone)]
pub struct MsgRow {
    /// Author.
    pub author: String,
    /// Organisation.
    pub org: String,
    /// When.
    pub at: String,
    /// Text.
    pub body: String,
}

/// An attachment.
#[derive(Debug, Clone)]
pub struct FileRow {
    /// Id.
    pub id: String,
    /// File name.
    pub name: String,
    /// Size in bytes.
    pub size: String,
    /// Category label.
    pub category: String,
}

/// A task.
#[derive(Debug, Clone)]
pub struct TaskRow {
    /// Id.
    pub id: String,
    /// What.
    pub label: String,
    /// Open or done, with date and channel.
    pub status: String,
    /// Still open.
    pub open: bool,
}

/// `/referrals/{id}`.
#[derive(Template)]
#[template(path = "referral.html")]
pub struct ReferralPage {
    /// Layout.
    pub layout: Layout,
    /// Sentences.
    pub rt: &'static RTexts,
    /// Id.
    pub id: String,
    /// Case id (withdrawal form).
    pub case_id: String,
    /// Reference.
    pub reference: String,
    /// A notice (after an action).
    pub notice: Option<&'static str>,
    /// An error (a refused action).
    pub error: Option<&'static str>,
    /// Summary rows.
    pub summary: Vec<(&'static str, String)>,
    /// The person (only fields sent).
    pub person: Vec<(&'static str, String)>,
    /// Safe contact.
    pub safety: Vec<(&'static str, String)>,
    /// Notes.
    pub notes: Vec<(&'static str, String)>,
    /// Consent.
    pub consent: Vec<(&'static str, String)>,
    /// History.
    pub history: Vec<HistRow>,
    /// Messages.
    pub messages: Vec<MsgRow>,
    /// Attachments.
    pub files: Vec<FileRow>,
    /// Tasks.
    pub tasks: Vec<TaskRow>,
    /// Accept and decline are possible.
    pub can_answer: bool,
    /// Close and forward are possible.
    pub can_close: bool,
    /// Withdrawal may be recorded.
    pub can_withdraw: bool,
    /// Messages may be written.
    pub can_message: bool,
    /// The consent receipt is offered (sender, consent basis).
    pub receipt: bool,
    /// Organisations (decline suggestion, forward).
    pub orgs: Vec<Opt>,
    /// Forward purposes (those of the consent).
    pub fwd_purposes: Vec<Opt>,
    /// Forward categories (those of the consent present in this referral).
    pub fwd_cats: Vec<Opt>,
    /// Outcomes.
    pub outcomes: Vec<Opt>,
    /// Channels (task).
    pub channels: Vec<Opt>,
    /// Categories an attachment may have (those of the consent).
    pub file_cats: Vec<Opt>,
    /// Attachments may be added.
    pub can_upload: bool,
    /// Values typed in a refused form.
    pub v: Fields,
}

impl ReferralPage {
    /// A typed value.
    pub fn val(&self, k: &str) -> &str {
        fv(&self.v, k)
    }
}

#[derive(Deserialize, Default)]
struct DoneQuery {
    done: Option<String>,
}

fn done_notice(lang: Lang, done: Option<&str>) -> Option<&'static str> {
    let t = rt(lang);
    Some(match done? {
        "filed" => t.done_filed,
        "accepted" => t.done_accepted,
        "declined" => t.done_declined,
        "closed" => t.done_closed,
        "forwarded" => t.done_forwarded,
        "message" => t.done_message,
        "withdrawn" => t.done_withdrawn,
        "task" => t.done_task,
        "file" => t.done_file,
        _ => return None,
    })
}

async fn referral(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    q: Result<Query<DoneQuery>, QueryRejection>,
) -> Response {
    let Ok(id) = id.parse::<ReferralId>() else {
        return not_found(&user);
    };
    let notice = done_notice(user.lang, q.ok().and_then(|q| q.0.done).as_deref());
    referral_page(&s, &user, id, StatusCode::OK, notice, None, Fields::new()).await
}

fn yes_no(t: &RTexts, b: bool) -> String {
    if b { t.yes } else { t.no }.to_owned()
}

async fn referral_page(
    s: &AppState,
    user: &WebUser,
    id: ReferralId,
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<&'static str>,
    v: Fields,
) -> Response {
    let view = match s.core.open_referral(&user.principal, id, &user.ctx).await {
        Ok(v) => v,
        Err(e) => return refusal(user, &e),
    };
    let messages = match s.core.read_messages(&user.principal, id, &user.ctx).await {
        Ok(m) => m.items,
        Err(e) => return refusal(user, &e),
    };
    let orgs = match org_list(s).await {
        Ok(o) => o,
        Err(e) => return refusal(user, &e),
    };
    render(
        status,
        &build_page(user, view, messages, &orgs, notice, error, v),
    )
}

fn build_page(
    user: &WebUser,
    view: ReferralView,
    messages: Vec<passerelle_core::MessageView>,
    orgs: &[(String, String, OrgKind)],
    notice: Option<&'static str>,
    error: Option<&'static str>,
    v: Fields,
) -> ReferralPage {
    let lang = user.lang;
    let t = rt(lang);
    let m = &view.meta;
    let own = user.principal.org_slug().as_str();
    let receiver = m.to_org.as_str() == own;
    let sender = m.from_org.as_str() == own;
    let name_of = |slug: &str| {
        orgs.iter()
            .find(|o| o.0 == slug)
            .map(|o| format!("{} ({})", o.1, o.0))
            .unwrap_or_else(|| slug.to_owned())
    };
    let mut summary = vec![
        (t.col_reference, m.reference.clone()),
        (t.col_status, label(lang, m.status.as_str())),
        (t.col_from, name_of(m.from_org.as_str())),
        (t.col_to, name_of(m.to_org.as_str())),
        (t.col_purpose, label(lang, m.purpose.as_str())),
        (t.col_urgency, label(lang, m.urgency.as_str())),
        (t.created_label, fmt_time(m.created_at)),
        (t.col_due, fmt_time(m.due_at)),
    ];
    if let Some(g) = &view.danger_grid {
        summary.push((
            t.grid_result,
            format!(
                "{} : {} — {} : {}",
                t.grid_yes, g.yes_answers, t.grid_red, g.red_answers
            ),
        ));
    }
    let mut person = Vec::new();
    if let Some(n) = &view.subject.name {
        person.push((t.name_label, n.clone()));
    }
    if let Some(b) = view.subject.birth_date {
        person.push((t.birth_label, fmt_date(b)));
    }
    if let Some(p) = &view.subject.phone {
        person.push((t.phone_label, p.clone()));
    }
    let sf = &view.safety;
    let mut safety = vec![(
        t.channel_label,
        sf.channel
            .map(|c| label(lang, c.as_str()))
            .unwrap_or_else(|| t.channel_none.to_owned()),
    )];
    if let Some(h) = &sf.hours {
        safety.push((t.hours_label, h.clone()));
    }
    safety.push((t.voicemail_label, yes_no(t, sf.voicemail_ok)));
    safety.push((t.name_org_label, yes_no(t, sf.may_name_org)));
    if let Some(c) = &sf.code_word {
        safety.push((t.code_word_label, c.clone()));
    }
    safety.push((t.dnc_label, yes_no(t, sf.do_not_contact)));
    let mut notes = Vec::new();
    if let Some(n) = &view.notes.narrative {
        notes.push((t.narrative_label, n.clone()));
    }
    if let Some(n) = &view.notes.risk {
        notes.push((t.risk_label, n.clone()));
    }
    if let Some(n) = &view.notes.medical {
        notes.push((t.medical_label, n.clone()));
    }
    if let Some(n) = &view.forward_note {
        notes.push((t.forward_note_label, n.clone()));
    }
    let c = &view.consent;
    let join = |items: Vec<String>| items.join(", ");
    let mut consent = vec![
        (t.consent_basis, label(lang, c.basis.as_str())),
        (
            t.consent_recipients,
            join(c.recipients.iter().map(|r| name_of(r.as_str())).collect()),
        ),
        (
            t.consent_purposes,
            join(c.purposes.iter().map(|p| label(lang, p.as_str())).collect()),
        ),
        (
            t.consent_categories,
            join(
                c.data_categories
                    .iter()
                    .map(|p| label(lang, p.as_str()))
                    .collect(),
            ),
        ),
        (t.consent_method, label(lang, c.method.as_str())),
        (t.consent_obtained, fmt_time(c.obtained_at)),
    ];
    if c.basis == ConsentBasis::Consent {
        consent.push((t.consent_expires, fmt_time(c.expires_at)));
    }
    if let Some(le) = &c.legal_exception {
        consent.push((t.cond_danger, yes_no(t, le.immediate_danger)));
        consent.push((t.cond_emprise, yes_no(t, le.emprise)));
        consent.push((t.agreement_sought, le.agreement_sought.clone()));
        consent.push((t.justification, le.justification.clone()));
    }
    let history = view
        .history
        .iter()
        .map(|h| {
            let mut detail = Vec::new();
            if let Some(o) = h.outcome {
                detail.push(label(lang, o.as_str()));
            }
            if let Some(r) = &h.reason {
                detail.push(r.clone());
            }
            if let Some(o) = &h.suggested_org {
                detail.push(format!("→ {}", name_of(o.as_str())));
            }
            HistRow {
                at: fmt_time(h.at),
                status: label(lang, h.status.as_str()),
                detail: detail.join(" — "),
            }
        })
        .collect();
    let messages = messages
        .iter()
        .map(|mv| MsgRow {
            author: mv.author.as_str().to_owned(),
            org: mv.org.as_str().to_owned(),
            at: fmt_time(mv.created_at),
            body: mv.body.clone(),
        })
        .collect();
    let files = view
        .attachments
        .iter()
        .map(|a| FileRow {
            id: a["id"].as_str().unwrap_or_default().to_owned(),
            name: a["filename"].as_str().unwrap_or_default().to_owned(),
            size: a["size"].as_u64().unwrap_or(0).to_string(),
            category: label(lang, a["category"].as_str().unwrap_or_default()),
        })
        .collect();
    let tasks = view
        .tasks
        .iter()
        .map(|tk| {
            let open = tk["status"].as_str() == Some("open");
            let mut status = if open { t.task_open } else { t.task_done }.to_owned();
            if let Some(ch) = tk["channel"].as_str() {
                status.push_str(&format!(" — {}", label(lang, ch)));
            }
            if let Some(d) = tk["done_at"].as_str() {
                status.push_str(&format!(" — {}", d.get(..10).unwrap_or(d)));
            }
            TaskRow {
                id: tk["id"].as_str().unwrap_or_default().to_owned(),
                label: label(lang, tk["kind"].as_str().unwrap_or_default()),
                status,
                open: open && sender,
            }
        })
        .collect();
    let st = m.status;
    let is_receiver_role = user.principal.role() == Role::Receiver;
    let live = !matches!(st, ReferralStatus::Withdrawn);
    let can_answer = receiver
        && is_receiver_role
        && matches!(st, ReferralStatus::Sent | ReferralStatus::Acknowledged);
    let can_close = receiver && is_receiver_role && st == ReferralStatus::Accepted;
    let fwd_purposes = c
        .purposes
        .iter()
        .map(|p| Opt {
            value: p.as_str().to_owned(),
            label: label(lang, p.as_str()),
            on: fv(&v, "purpose") == p.as_str(),
        })
        .collect();
    let present = categories_of(&view.subject, &view.notes, view.danger_grid.as_ref());
    let fwd_cats = c
        .data_categories
        .iter()
        .filter(|cat| present.contains(cat))
        .map(|cat| Opt {
            value: cat.as_str().to_owned(),
            label: label(lang, cat.as_str()),
            on: on(&v, &format!("fcat_{}", cat.as_str())),
        })
        .collect();
    let org_opts = orgs
        .iter()
        .filter(|o| o.0 != own && o.2 != OrgKind::Prosecutor)
        .map(|o| Opt {
            value: o.0.clone(),
            label: o.1.clone(),
            on: fv(&v, "to_org") == o.0 || fv(&v, "suggested_org") == o.0,
        })
        .collect();
    ReferralPage {
        layout: Layout::for_user(user, &format!("{} {}", t.referral_title, m.reference)),
        rt: t,
        id: m.id.to_string(),
        case_id: m.case_id.to_string(),
        reference: m.reference.clone(),
        notice,
        error,
        summary,
        person,
        safety,
        notes,
        consent,
        history,
        messages,
        files,
        tasks,
        can_answer,
        can_close,
        can_withdraw: live && c.basis == ConsentBasis::Consent,
        can_message: live,
        receipt: sender && c.basis == ConsentBasis::Consent,
        file_cats: c
            .data_categories
            .iter()
            .map(|cat| Opt {
                value: cat.as_str().to_owned(),
                label: label(lang, cat.as_str()),
                on: *cat == DataCategory::Narrative,
            })
            .collect(),
        can_upload: live,
        orgs: org_opts,
        fwd_purposes,
        fwd_cats,
        outcomes: opts(lang, CloseOutcome::ALL, CloseOutcome::as_str, |w| {
            fv(&v, "outcome") == w
        }),
        channels: opts(lang, SafetyChannel::ALL, SafetyChannel::as_str, |w| {
            fv(&v, "channel") == w
        }),
        v,
    }
}

/// Runs one action of the referral page; `Ok(done word)` or the refusal.
async fn run_action(
    s: &AppState,
    user: &WebUser,
    id: ReferralId,
    v: &Fields,
) -> Result<&'static str, CoreError> {
    let p = &user.principal;
    let ctx = &user.ctx;
    let bad = || CoreError::BadRequest("form");
    match fv(v, "do") {
        "accept" => s.core.accept(p, id, ctx).await.map(|_| "accepted"),
        "decline" => {
            let suggested_org = match fv(v, "suggested_org") {
                "" => None,
                o => Some(OrgSlug::parse(o).map_err(|_| bad())?),
            };
            let req = DeclineRequest {
                reason: fv(v, "reason").trim().to_owned(),
                suggested_org,
            };
            s.core
                .decline_with_advice(p, id, req, ctx)
                .await
                .map(|_| "declined")
        }
        "close" => {
            let outcome = fv(v, "outcome").parse().map_err(|_| bad())?;
            s.core
                .close(p, id, CloseRequest { outcome }, ctx)
                .await
                .map(|_| "closed")
        }
        "forward" => {
            let req = ForwardRequest {
                to_org: OrgSlug::parse(fv(v, "to_org")).map_err(|_| bad())?,
                purpose: fv(v, "purpose").parse().map_err(|_| bad())?,
                data_categories: checked(v, "fcat_"),
                note: fv(v, "note").trim().to_owned(),
                urgency: None,
            };
            s.core.forward(p, id, req, ctx).await.map(|_| "forwarded")
        }
        "message" => {
            let body = fv(v, "body").trim().to_owned();
            if body.is_empty() {
                return Err(bad());
            }
            s.core
                .write_message(p, id, NewMessage { body }, ctx)
                .await
                .map(|_| "message")
        }
        "withdraw" => {
            let case_id: CaseId = fv(v, "case_id").parse().map_err(|_| bad())?;
            let req = WithdrawRequest {
                note: fv(v, "note").trim().to_owned(),
            };
            s.core
                .withdraw_consent(p, case_id, req, ctx)
                .await
                .map(|_| "withdrawn")
        }
        "task" => {
            let task: TaskId = fv(v, "task_id").parse().map_err(|_| bad())?;
            let day = parse_date(fv(v, "done_at")).ok_or_else(bad)?;
            let now = OffsetDateTime::now_utc();
            let done_at = if day == now.date() {
                now
            } else {
                day.with_time(Time::from_hms(12, 0, 0).unwrap_or(Time::MIDNIGHT))
                    .assume_utc()
            };
            let channel = fv(v, "channel").parse().map_err(|_| bad())?;
            s.core
                .close_task(p, id, task, CloseTaskRequest { done_at, channel }, ctx)
                .await
                .map(|_| "task")
        }
        _ => Err(bad()),
    }
}

async fn action(
    State(s): State<AppState>,
    Path(id): Path<String>,
    form: WebForm<Fields>,
) -> Response {
    let WebForm { user, form: v } = form;
    let Ok(id) = id.parse::<ReferralId>() else {
        return not_found(&user);
    };
    if too_long(&v) {
        let msg = rt(user.lang).err_too_long;
        return referral_page(
            &s,
            &user,
            id,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(msg),
            v,
        )
        .await;
    }
    match run_action(&s, &user, id, &v).await {
        Ok(done) => Redirect::to(&format!(
            "/referrals/{id}?done={done}{}",
            lang_suffix(user.lang, false)
        ))
        .into_response(),
        Err(e) => {
            let (status, msg) = explain(user.lang, &e);
            match status {
                StatusCode::NOT_FOUND
                | StatusCode::GONE
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::INTERNAL_SERVER_ERROR => refusal(&user, &e),
                // The state changed: show the page as it is now, without the stale form.
                StatusCode::CONFLICT => {
                    referral_page(&s, &user, id, status, None, Some(msg), Fields::new()).await
                }
                _ => referral_page(&s, &user, id, status, None, Some(msg), v).await,
            }
        }
    }
}

/// `/referrals/{id}/receipt`: the consent receipt in easy-to-read French, no address (its
/// parties; a 226-14 3° report has none, and says so).
#[derive(Template)]
#[template(path = "receipt.html")]
pub struct ReceiptPage {
    /// Layout.
    pub layout: Layout,
    /// Sentences.
    pub rt: &'static RTexts,
    /// Referral id (back link).
    pub id: String,
    /// Reference.
    pub reference: String,
    /// Organisations (names only).
    pub who: Vec<String>,
    /// Purposes.
    pub why: Vec<String>,
    /// Categories.
    pub what: Vec<String>,
    /// Expiry date.
    pub until: String,
}

async fn receipt(State(s): State<AppState>, user: WebUser, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<ReferralId>() else {
        return not_found(&user);
    };
    let view = match s.core.open_referral(&user.principal, id, &user.ctx).await {
        Ok(v) => v,
        Err(e) => return refusal(&user, &e),
    };
    if view.consent.basis != ConsentBasis::Consent {
        let t = rt(user.lang);
        return message(&user, StatusCode::OK, t.receipt_title, t.receipt_none);
    }
    let orgs = org_list(&s).await.unwrap_or_default();
    let lang = user.lang;
    let t = rt(lang);
    let c = &view.consent;
    let page = ReceiptPage {
        layout: Layout::for_user(&user, t.receipt_title),
        rt: t,
        id: view.meta.id.to_string(),
        reference: view.meta.reference.clone(),
        who: c
            .recipients
            .iter()
            .map(|r| {
                orgs.iter()
                    .find(|o| o.0 == r.as_str())
                    .map(|o| o.1.clone())
                    .unwrap_or_else(|| r.as_str().to_owned())
            })
            .collect(),
        why: c.purposes.iter().map(|p| label(lang, p.as_str())).collect(),
        what: c
            .data_categories
            .iter()
            .map(|p| label(lang, p.as_str()))
            .collect(),
        until: fmt_date(c.expires_at.date()),
    };
    render(StatusCode::OK, &page)
}

/// The text of the next multipart field if it is named `name` (at most 1 KiB).
async fn small_field(mp: &mut Multipart, name: &str) -> Option<String> {
    let field = mp.next_field().await.ok()??;
    if field.name() != Some(name) {
        return None;
    }
    let text = field.text().await.ok()?;
    (text.len() <= 1024).then_some(text)
}

/// `POST /referrals/{id}/upload` (multipart: `csrf`, `category`, `file`, in this order):
/// the file is streamed to core's sealing stream as it arrives, never held whole, never
/// written in clear.
async fn upload(State(s): State<AppState>, Path(id): Path<String>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let user = match upload_user(&mut parts, &s).await {
        Ok(u) => u,
        Err(res) => return res,
    };
    let headers = parts.headers.clone();
    let Ok(id) = id.parse::<ReferralId>() else {
        return not_found(&user);
    };
    let bad = CoreError::BadRequest("upload form");
    // Not a multipart form: no token can be read from it.
    let Ok(mut mp) = Multipart::from_request(Request::from_parts(parts, body), &s).await else {
        return crate::pages::forbidden_form(user.lang);
    };
    // The token first: nothing of the file is read for a forged form.
    if !small_field(&mut mp, "csrf")
        .await
        .is_some_and(|t| csrf_ok(&headers, &t))
    {
        return crate::pages::forbidden_form(user.lang);
    }
    let Some(category) = small_field(&mut mp, "category")
        .await
        .and_then(|c| c.parse::<DataCategory>().ok())
    else {
        return refusal(&user, &bad);
    };
    let field = match mp.next_field().await {
        Ok(Some(f)) if f.name() == Some("file") => f,
        _ => return refusal(&user, &bad),
    };
    let filename = field
        .file_name()
        .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).to_owned())
        .filter(|n| !n.trim().is_empty());
    let Some(filename) = filename else {
        let msg = rt(user.lang).err_no_file;
        return referral_page(
            &s,
            &user,
            id,
            StatusCode::BAD_REQUEST,
            None,
            Some(msg),
            Fields::new(),
        )
        .await;
    };
    let mut stream = Box::pin(futures::TryStreamExt::map_err(field, std::io::Error::other));
    let req = AttachmentUpload {
        filename,
        category,
        declared_len: None,
    };
    let done = s
        .core
        .upload_attachment(&user.principal, id, req, &mut stream, &user.ctx)
        .await;
    drop(stream);
    match done {
        Ok(_) => Redirect::to(&format!(
            "/referrals/{id}?done=file{}",
            lang_suffix(user.lang, false)
        ))
        .into_response(),
        Err(e) => {
            let (status, msg) = explain(user.lang, &e);
            match status {
                StatusCode::NOT_FOUND
                | StatusCode::GONE
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::INTERNAL_SERVER_ERROR => refusal(&user, &e),
                _ => referral_page(&s, &user, id, status, None, Some(msg), Fields::new()).await,
            }
        }
    }
}

async fn download(
    State(s): State<AppState>,
    user: WebUser,
    Path((id, aid)): Path<(String, String)>,
) -> Response {
    let (Ok(id), Ok(aid)) = (id.parse::<ReferralId>(), aid.parse::<AttachmentId>()) else {
        return not_found(&user);
    };
    let dl = match s
        .core
        .read_attachment(&user.principal, id, aid, &user.ctx)
        .await
    {
        Ok(d) => d,
        Err(e) => return refusal(&user, &e),
    };
    let disposition = format!(
        "attachment; filename*=UTF-8''{}",
        utf8_percent_encode(&dl.info.filename, NON_ALPHANUMERIC)
    );
    let mut res = Response::new(Body::from_stream(dl.body));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(dl.info.size));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_read_both_ways() {
        let d = Date::from_calendar_date(2027, Month::December, 31).unwrap();
        assert_eq!(parse_date("2027-12-31"), Some(d));
        assert_eq!(parse_date("31/12/2027"), Some(d));
        assert_eq!(parse_date("31/13/2027"), None);
        assert_eq!(parse_date("tomorrow"), None);
        assert_eq!(fmt_date(d), "31/12/2027");
    }

    #[test]
    fn step1_needs_every_consent_field() {
        let today = Date::from_calendar_date(2026, Month::November, 29).unwrap();
        let empty = step1_errors(Lang::Fr, &Fields::new(), today);
        assert_eq!(empty.len(), 7, "{empty:?}");
        let mut v = Fields::new();
        for (k, val) in [
            ("to_org", "avec63"),
            ("purpose", "psychological_support"),
            ("urgency", "normal"),
            ("rcpt_avec63", "on"),
            ("cp_psychological_support", "on"),
            ("until", "2027-01-31"),
            ("method", "oral"),
        ] {
            v.insert(k.into(), val.into());
        }
        assert!(step1_errors(Lang::Fr, &v, today).is_empty());
        v.insert("until".into(), "2026-11-29".into());
        assert_eq!(
            step1_errors(Lang::Fr, &v, today),
            vec![rt(Lang::Fr).err_until]
        );
        v.insert("until".into(), "2027-01-31".into());
        v.insert("grid_yes".into(), "3".into());
        v.insert("grid_red".into(), "4".into());
        assert_eq!(
            step1_errors(Lang::Fr, &v, today),
            vec![rt(Lang::Fr).err_grid]
        );
    }

    #[test]
    fn every_rule_has_its_own_sentence() {
        let mut seen = std::collections::BTreeSet::new();
        for r in Rule::ALL {
            let e = CoreError::Rule(passerelle_domain::rules::RuleViolation {
                rule: *r,
                detail: "x",
            });
            let (status, text) = explain(Lang::Fr, &e);
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
            assert!(seen.insert(text), "{r:?}");
        }
    }
}
