//! The authorisation matrix: every route of the router × every role × an actor in the
//! sending, the receiving or an unrelated organisation × every referral state (and a
//! referral that does not exist) × both kinds of credential (API token, web session), plus
//! every kind of bad credential — each answer checked against [`MATRIX`], a table
//! transcribed by hand from CONTRACT.md ("Who may do what", the check order 401; 403 role;
//! 404 not party; 403 wrong side; 410; 409; 422, the withdrawal table, forwards, messages
//! and attachments after a withdrawal), on SQLite and on PostgreSQL. Nothing here asks
//! `passerelle_domain::policy`. The routes the contract does not name (recorded contacts,
//! archive reads, notifications, statistics, user management, pages) are transcribed from
//! `proto/openapi.yaml` under the contract's roles and check order.
//!
//! The states are reached through the product's own use cases and routes: filing, reading,
//! accepting, declining, closing, the consent withdrawal route (a `withdrawn` referral that
//! was accepted keeps its content; one withdrawn before it was opened is `destroyed`, `410`),
//! a 226-14 3° report (a health professional in a hospital to a prosecutor) with its open
//! "inform the victim" task, and the retention job (`archived`). Shared referrals carry a
//! message and an attachment, so that reads have something to read (and to leak).
//!
//! Zero leaks: an answer is exactly the table's (no 2xx where it says no); every `422`
//! names the rule of its state; every `404` of a referral's route has the body of a missing
//! referral's; no answer but a successful read of content by a party carries the victim's
//! strings; no answer to an unrelated organisation or a bad credential carries the
//! referral's id, reference, case, attachment or task id. Successes that change something
//! get a referral of their own; afterwards the shared referrals are as they were.
//!
//! Every denial leaves its leaf: each answer is checked to have appended exactly the audit
//! leaves (action and outcome) [`expected_leaves`] says — an anonymous `auth.failed` for a
//! missing or bad credential, `referral.denied` (or the route's own action) with `role`,
//! `not-party` or `side`, the rule of a `422`, the read or change of a success.
//!
//! **Adding a route**: the test fails until the route has its row in [`MATRIX`], with its
//! audit leaves if it is an API route (and a row without its route fails too). Write the row from CONTRACT.md, not from the code: the
//! roles that may call it, the sides of a referral that may, and the answer in each state.

mod support;
#[path = "authz_matrix/world.rs"]
mod world;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use passerelle_domain::enums::{ReferralStatus, Role};
use passerelle_web::ratelimit::Limits;
use serde_json::Value;
use support::*;
use uuid::Uuid;
use world::*;

// ---------------------------------------------------------------------------------------
// The table (CONTRACT.md, transcribed)
// ---------------------------------------------------------------------------------------

/// A referral's state, or a referral that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum State {
    /// Filed, never opened by the receiver.
    Sent,
    /// Opened by the receiver.
    Acknowledged,
    Accepted,
    Declined,
    /// Accepted, then closed.
    Closed,
    /// Accepted, then the case's consent withdrawn: `withdrawn`, content kept.
    Withdrawn,
    /// Sent (never opened), then the case's consent withdrawn: `withdrawn`, content
    /// destroyed.
    Destroyed,
    /// A 226-14 3° report (no consent), accepted by the prosecutor, its "inform the victim"
    /// task open.
    Report,
    /// Accepted, then archived by the retention job (no contact for the archive period).
    Archived,
    Missing,
}

const STATES: [State; 10] = [
    State::Sent,
    State::Acknowledged,
    State::Accepted,
    State::Declined,
    State::Closed,
    State::Withdrawn,
    State::Destroyed,
    State::Report,
    State::Archived,
    State::Missing,
];

/// Where the actor's organisation stands to the referral (and, for user management, to the
/// target user: "sending" is the target's own organisation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rel {
    Sending,
    Receiving,
    Unrelated,
}

const RELS: [Rel; 3] = [Rel::Sending, Rel::Receiving, Rel::Unrelated];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Sender,
    Receiver,
}

use Role::{Admin, Coordinator, Receiver as Recv, Referrer};
use State::*;

/// Who may call a route, and what it answers.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// No credential needed: this status to anyone, whatever they send.
    Public(u16),
    /// An API route not about one referral: these roles get `ok`, the others `403`.
    Roles { roles: &'static [Role], ok: u16 },
    /// An API route about one referral (or its case). Order: `403` for other roles; `404`
    /// for an organisation not party (or a missing referral); `403` for a party on another
    /// side; then the answer of the referral's state (`410`, `409`, `422` or success).
    Referral {
        roles: &'static [Role],
        sides: &'static [Side],
        by_state: &'static [(State, u16)],
    },
    /// Managing a user of one's own organisation: `403` for other roles, `404` for a user
    /// of another organisation, else `ok`.
    ManageUser { roles: &'static [Role], ok: u16 },
    /// A page for any signed-in user (`303` to `/login` without a session).
    Page(u16),
    /// A page for some roles: `ok` to their web session, the `403` page to any other
    /// role's (`303` to `/login` without a session).
    RolePage { roles: &'static [Role], ok: u16 },
    /// A form posted from a page by a signed-in user, sent without its CSRF token: `403`
    /// (`303` to `/login` without a session).
    PageFormWithoutToken,
    /// A page for referrers who are health professionals (in this world, the sending
    /// organisation's referrer, who files the 226-14 3° report): `200`, `403` for everyone
    /// else (`303` to `/login` without a session).
    PageHealthReferrer,
    /// A page about one referral, answered like [`Rule::Referral`] but for a session (`303`
    /// to `/login` without one, a bearer token included); its `404` is the page of a
    /// missing referral.
    PageReferral {
        roles: &'static [Role],
        sides: &'static [Side],
        by_state: &'static [(State, u16)],
    },
}

/// What a request carries as its body.
#[derive(Debug, Clone, Copy)]
enum Payload_ {
    None,
    /// A valid filing to the receiving organisation.
    Filing,
    /// JSON; `{now}` becomes the application's current time (RFC 3339).
    Json(&'static str),
    Form(&'static str),
    /// An attachment: raw bytes, `X-Filename` (percent-encoded UTF-8) and
    /// `X-Data-Category: narrative` (consented in every case of the world).
    Attachment,
}

/// Whether a success may change the referral, its case or its tasks (then the case gets a
/// referral of its own) or only reads (shared referrals serve).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Changes,
    Reads,
    /// Returns the referral's content to its reader.
    ReadsContent,
    /// Returns the content, and the receiver's first read acknowledges the referral.
    Opens,
}

impl Effect {
    fn changes(self) -> bool {
        matches!(self, Effect::Changes | Effect::Opens)
    }

    fn returns_content(self) -> bool {
        matches!(self, Effect::ReadsContent | Effect::Opens)
    }
}

struct Row {
    method: &'static str,
    path: &'static str,
    query: &'static str,
    body: Payload_,
    rule: Rule,
    effect: Effect,
    /// The audit leaves of an API route (DESIGN.md §4: every read of content, every
    /// change, every denial); `None` on public routes and pages, whose leaves follow from
    /// the credential alone. An API row without it fails the test.
    leaf: Option<Leaf>,
}

/// What an API route leaves in the audit log, as actions (`referral.read`…). The reason
/// codes follow from the case: `role`, `not-party`, `side`, the rule of a `422`.
#[derive(Debug, Clone, Copy)]
struct Leaf {
    /// The leaf of a success, if any (lists of metadata and statistics leave none).
    ok: Option<&'static str>,
    /// The action of a refusal by role, party or side (and of a `404` user).
    denied: &'static str,
    /// The action of a `422` (the rule is the reason), if the route has one.
    refused: Option<&'static str>,
}

const fn leaf(ok: &'static str, refused: Option<&'static str>) -> Leaf {
    Leaf {
        ok: Some(ok),
        denied: "referral.denied",
        refused,
    }
}

/// The auditor's routes: every call leaves `audit.read`.
const AUDIT: Leaf = Leaf {
    ok: Some("audit.read"),
    denied: "audit.read",
    refused: None,
};

/// An admin page: no leaf when it answers, `access.denied` when it refuses a role.
const ADMIN: Leaf = Leaf {
    ok: None,
    denied: "access.denied",
    refused: None,
};

/// A route of metadata only: no leaf when it answers, one when it refuses.
const METADATA: Leaf = Leaf {
    ok: None,
    denied: "referral.denied",
    refused: None,
};

impl Row {
    const fn audited(mut self, leaf: Leaf) -> Row {
        self.leaf = Some(leaf);
        self
    }
}

const BOTH: &[Side] = &[Side::Sender, Side::Receiver];
const RECEIVER_SIDE: &[Side] = &[Side::Receiver];
const SENDER_SIDE: &[Side] = &[Side::Sender];
const PARTY_ROLES: &[Role] = &[Referrer, Recv];

/// "`GET /referrals/{id}`, attachments (read), messages (read): sender, receiver" — in
/// every state, a withdrawn one included ("kept until retention | the sending and receiving
/// organisations"), but `410` once the content is destroyed ("withdrawn before it was
/// opened, or retention ended"; an archived referral answers `410 archived` on the usual
/// routes, openapi.yaml).
const CONTENT_READ: &[(State, u16)] = &[
    (Sent, 200),
    (Acknowledged, 200),
    (Accepted, 200),
    (Declined, 200),
    (Closed, 200),
    (Withdrawn, 200),
    (Destroyed, 410),
    (Report, 200),
    (Archived, 410),
];
/// Messages (write), attachments (upload): no state forbids them; `410` once destroyed
/// (410 before 422); "after a withdrawal, a … message or attachment on any referral of the
/// case answers `422` (`consent-withdrawn`), not `409`"; "226-14 3° referrals are not
/// affected".
const ADDITION: &[(State, u16)] = &[
    (Sent, 201),
    (Acknowledged, 201),
    (Accepted, 201),
    (Declined, 201),
    (Closed, 201),
    (Withdrawn, 422),
    (Destroyed, 410),
    (Report, 201),
    (Archived, 410),
];
/// "`sent` or `acknowledged` → `accepted` | `declined`"; anything else `409` (after `410`).
const FROM_OPEN: &[(State, u16)] = &[
    (Sent, 200),
    (Acknowledged, 200),
    (Accepted, 409),
    (Declined, 409),
    (Closed, 409),
    (Withdrawn, 409),
    (Destroyed, 410),
    (Report, 409),
    (Archived, 410),
];
/// "`accepted` → `closed`"; anything else `409` (after `410`).
const FROM_ACCEPTED: &[(State, u16)] = &[
    (Sent, 409),
    (Acknowledged, 409),
    (Accepted, 200),
    (Declined, 409),
    (Closed, 409),
    (Withdrawn, 409),
    (Destroyed, 410),
    (Report, 200),
    (Archived, 410),
];
/// Forward: "receiving organisation, referral `accepted`" (`409` otherwise); after a
/// withdrawal `422 consent-withdrawn`, not `409`; a 226-14 3° report "cannot be forwarded
/// (`422`)".
const FORWARD: &[(State, u16)] = &[
    (Sent, 409),
    (Acknowledged, 409),
    (Accepted, 201),
    (Declined, 409),
    (Closed, 409),
    (Withdrawn, 422),
    (Destroyed, 410),
    (Report, 422),
    (Archived, 410),
];
/// Consent withdrawal (on the referral's case): `200` in every state of the withdrawal
/// table (`declined`, `closed`: unchanged; repeating it on a withdrawn case changes
/// nothing); a 226-14 3° report "has no consent to withdraw (`422`)".
const WITHDRAW: &[(State, u16)] = &[
    (Sent, 200),
    (Acknowledged, 200),
    (Accepted, 200),
    (Declined, 200),
    (Closed, 200),
    (Withdrawn, 200),
    (Destroyed, 200),
    (Report, 422),
    (Archived, 200),
];
/// Closing the "inform the victim" task: only a 226-14 3° report has one; on any other
/// referral the task named does not exist (`404`, after the referral's own checks, `410`
/// included).
const TASK_CLOSE: &[(State, u16)] = &[
    (Sent, 404),
    (Acknowledged, 404),
    (Accepted, 404),
    (Declined, 404),
    (Closed, 404),
    (Withdrawn, 404),
    (Destroyed, 410),
    (Report, 200),
    (Archived, 410),
];
/// Recording a contact (openapi.yaml): "open to `acknowledged`, `accepted` and `closed`
/// referrals (409 otherwise)".
const CONTACT: &[(State, u16)] = &[
    (Sent, 409),
    (Acknowledged, 200),
    (Accepted, 200),
    (Declined, 409),
    (Closed, 200),
    (Withdrawn, 409),
    (Destroyed, 410),
    (Report, 200),
    (Archived, 410),
];
/// Reading an archived referral with a stated reason (openapi.yaml): `409` when not
/// archived, `410` once destroyed.
const ARCHIVE_READ: &[(State, u16)] = &[
    (Sent, 409),
    (Acknowledged, 409),
    (Accepted, 409),
    (Declined, 409),
    (Closed, 409),
    (Withdrawn, 409),
    (Destroyed, 410),
    (Report, 409),
    (Archived, 200),
];

/// The rule a `422` names in each state ("the problem `type` ends with the rule").
fn rule_of_422(state: State) -> &'static str {
    match state {
        Withdrawn => "consent-withdrawn",
        Report => "legal-exception",
        other => panic!("no 422 is expected on a {other:?} referral"),
    }
}

/// A row of a referral's route.
const fn on_referral(
    method: &'static str,
    path: &'static str,
    body: Payload_,
    effect: Effect,
    sides: &'static [Side],
    by_state: &'static [(State, u16)],
) -> Row {
    Row {
        method,
        path,
        query: "",
        body,
        rule: Rule::Referral {
            roles: PARTY_ROLES,
            sides,
            by_state,
        },
        effect,
        leaf: None,
    }
}

const MATRIX: &[Row] = &[
    // Operations.
    row("GET", "/healthz", "", Payload_::None, Rule::Public(200)),
    row("GET", "/readyz", "", Payload_::None, Rule::Public(200)),
    // Metrics go to monitoring addresses or the metrics token, never by role: in process
    // (no client address, no token configured) everyone, signed in or not, gets 403.
    row("GET", "/metrics", "", Payload_::None, Rule::Public(403)),
    // "POST /referrals: referrer ✔, everyone else 403."
    row(
        "POST",
        "/api/v1/referrals",
        "",
        Payload_::Filing,
        Rule::Roles {
            roles: &[Referrer],
            ok: 201,
        },
    )
    .audited(leaf("referral.filed", None)),
    // "GET /referrals?box=…: referrer, receiver, coordinator (metadata) ✔ own org;
    //  auditor, admin 403."
    row(
        "GET",
        "/api/v1/referrals",
        "?box=inbox",
        Payload_::None,
        Rule::Roles {
            roles: &[Referrer, Recv, Coordinator],
            ok: 200,
        },
    )
    .audited(METADATA),
    // "GET /referrals/{id}: sender, receiver (referrer and receiver roles); coordinator,
    //  auditor, admin 403." The receiver's first read acknowledges: a change.
    on_referral(
        "GET",
        "/api/v1/referrals/{id}",
        Payload_::None,
        Effect::Opens,
        BOTH,
        CONTENT_READ,
    )
    .audited(leaf("referral.read", None)),
    // "accept, decline, close, forward: receiver (side); coordinator, auditor, admin 403."
    on_referral(
        "POST",
        "/api/v1/referrals/{id}/accept",
        Payload_::None,
        Effect::Changes,
        RECEIVER_SIDE,
        FROM_OPEN,
    )
    .audited(leaf("referral.accepted", None)),
    on_referral(
        "POST",
        "/api/v1/referrals/{id}/decline",
        Payload_::Json(r#"{"reason":"Pas de place cette semaine"}"#),
        Effect::Changes,
        RECEIVER_SIDE,
        FROM_OPEN,
    )
    .audited(leaf("referral.declined", None)),
    on_referral(
        "POST",
        "/api/v1/referrals/{id}/close",
        Payload_::Json(r#"{"outcome":"got_help"}"#),
        Effect::Changes,
        RECEIVER_SIDE,
        FROM_ACCEPTED,
    )
    .audited(leaf("referral.closed", None)),
    // The consent covers the onward organisation, the purpose and the categories.
    on_referral(
        "POST",
        "/api/v1/referrals/{id}/forward",
        Payload_::Json(
            r#"{"to_org":"m-onward","purpose":"psychological_support","data_categories":["identity"],"note":"Suivi proposé"}"#,
        ),
        Effect::Changes,
        RECEIVER_SIDE,
        FORWARD,
    )
    .audited(leaf("referral.forwarded", Some("referral.refused"))),
    // "messages (read, write), attachments (upload): sender, receiver; coordinator,
    //  auditor, admin 403."
    on_referral(
        "GET",
        "/api/v1/referrals/{id}/messages",
        Payload_::None,
        Effect::ReadsContent,
        BOTH,
        CONTENT_READ,
    )
    .audited(leaf("message.read", None)),
    on_referral(
        "POST",
        "/api/v1/referrals/{id}/messages",
        Payload_::Json(r#"{"body":"Rendez-vous proposé jeudi"}"#),
        Effect::Changes,
        BOTH,
        ADDITION,
    )
    .audited(leaf("message.written", Some("message.written"))),
    on_referral(
        "POST",
        "/api/v1/referrals/{id}/attachments",
        Payload_::Attachment,
        Effect::Changes,
        BOTH,
        ADDITION,
    )
    .audited(leaf("attachment.uploaded", Some("attachment.uploaded"))),
    // "attachments (read): sender, receiver": the referral's own attachment.
    on_referral(
        "GET",
        "/api/v1/referrals/{id}/attachments/{aid}",
        Payload_::None,
        Effect::ReadsContent,
        BOTH,
        CONTENT_READ,
    )
    .audited(leaf("attachment.read", None)),
    // "POST /cases/{id}/consent/withdraw: sender, receiver of any referral of the case;
    //  coordinator, auditor, admin 403." On the case of the state's referral.
    on_referral(
        "POST",
        "/api/v1/cases/{case_id}/consent/withdraw",
        Payload_::Json(r#"{"note":"Retrait annoncé par téléphone"}"#),
        Effect::Changes,
        BOTH,
        WITHDRAW,
    )
    .audited(leaf("consent.withdrawn", Some("consent.withdrawn"))),
    // "POST /referrals/{id}/tasks/{task_id}/close {done_at, channel} (the filing
    //  organisation)": the referral's own task, a task that does not exist elsewhere.
    on_referral(
        "POST",
        "/api/v1/referrals/{id}/tasks/{task_id}/close",
        Payload_::Json(r#"{"done_at":"{now}","channel":"sms"}"#),
        Effect::Changes,
        SENDER_SIDE,
        TASK_CLOSE,
    )
    .audited(leaf("task.closed", None)),
    // openapi.yaml: "Record a contact with the person (receiving organisation)".
    on_referral(
        "POST",
        "/api/v1/referrals/{id}/contact",
        Payload_::None,
        Effect::Changes,
        RECEIVER_SIDE,
        CONTACT,
    )
    .audited(leaf("contact.recorded", None)),
    // Issue #6 §5, openapi.yaml: "Read an archived referral (role coordinator, of the
    // holding — receiving — organisation) with a stated reason".
    Row {
        method: "POST",
        path: "/api/v1/referrals/{id}/archive/read",
        query: "",
        body: Payload_::Json(r#"{"reason":"Réquisition judiciaire"}"#),
        rule: Rule::Referral {
            roles: &[Coordinator],
            sides: RECEIVER_SIDE,
            by_state: ARCHIVE_READ,
        },
        effect: Effect::ReadsContent,
        leaf: Some(leaf("referral.archive_read", None)),
    },
    // openapi.yaml: "The organisation's content-free notices (referrer, receiver,
    // coordinator)", like the boxes.
    row(
        "GET",
        "/api/v1/notifications",
        "",
        Payload_::None,
        Rule::Roles {
            roles: &[Referrer, Recv, Coordinator],
            ok: 200,
        },
    )
    .audited(METADATA),
    // "coordinator: sees counts and delays of their own organisation, no content."
    row(
        "GET",
        "/api/v1/stats",
        "",
        Payload_::None,
        Rule::Roles {
            roles: &[Coordinator],
            ok: 200,
        },
    )
    .audited(METADATA),
    // "Password reset by an admin or coordinator [of the same organisation] only by a new
    //  enrolment link"; disabling likewise. The target here is a referrer.
    row(
        "POST",
        "/api/v1/users/{username}/reset",
        "",
        Payload_::None,
        Rule::ManageUser {
            roles: &[Admin, Coordinator],
            ok: 201,
        },
    )
    .audited(Leaf {
        ok: Some("user.enrolment_issued"),
        denied: "user.enrolment_issued",
        refused: None,
    }),
    row(
        "POST",
        "/api/v1/users/{username}/disable",
        "",
        Payload_::None,
        Rule::ManageUser {
            roles: &[Admin, Coordinator],
            ok: 200,
        },
    )
    .audited(Leaf {
        ok: Some("user.disabled"),
        denied: "user.disabled",
        refused: None,
    }),
    // Web pages.
    row("GET", "/", "", Payload_::None, Rule::Page(200)),
    // The referral pages: the boxes for the roles that list, the new referral for
    // referrers, the 226-14 3° report for health professionals; a
    // referral's pages like the API's reads (a receiver's first read acknowledges);
    // every form refused without its token.
    row(
        "GET",
        "/inbox",
        "",
        Payload_::None,
        Rule::RolePage {
            roles: &[Referrer, Recv, Coordinator],
            ok: 200,
        },
    )
    .audited(METADATA),
    row(
        "GET",
        "/sent",
        "",
        Payload_::None,
        Rule::RolePage {
            roles: &[Referrer, Recv, Coordinator],
            ok: 200,
        },
    )
    .audited(METADATA),
    row(
        "GET",
        "/referrals/new",
        "",
        Payload_::None,
        Rule::RolePage {
            roles: &[Referrer],
            ok: 200,
        },
    )
    .audited(METADATA),
    row(
        "POST",
        "/referrals/new",
        "",
        Payload_::Form("step=1&to_org=avec63"),
        Rule::PageFormWithoutToken,
    ),
    row(
        "GET",
        "/reports/new",
        "",
        Payload_::None,
        Rule::PageHealthReferrer,
    )
    .audited(METADATA),
    row(
        "POST",
        "/reports/new",
        "",
        Payload_::Form("cond_adult=on"),
        Rule::PageFormWithoutToken,
    ),
    Row {
        method: "GET",
        path: "/referrals/{id}",
        query: "",
        body: Payload_::None,
        rule: Rule::PageReferral {
            roles: PARTY_ROLES,
            sides: BOTH,
            by_state: CONTENT_READ,
        },
        effect: Effect::Opens,
        leaf: Some(leaf("referral.read", None)),
    },
    Row {
        method: "GET",
        path: "/referrals/{id}/receipt",
        query: "",
        body: Payload_::None,
        rule: Rule::PageReferral {
            roles: PARTY_ROLES,
            sides: BOTH,
            by_state: CONTENT_READ,
        },
        effect: Effect::Opens,
        leaf: Some(leaf("referral.read", None)),
    },
    Row {
        method: "GET",
        path: "/referrals/{id}/files/{aid}",
        query: "",
        body: Payload_::None,
        rule: Rule::PageReferral {
            roles: PARTY_ROLES,
            sides: BOTH,
            by_state: CONTENT_READ,
        },
        effect: Effect::ReadsContent,
        leaf: Some(leaf("attachment.read", None)),
    },
    row(
        "POST",
        "/referrals/{id}/upload",
        "",
        Payload_::Form("category=narrative"),
        Rule::PageFormWithoutToken,
    ),
    row(
        "POST",
        "/referrals/{id}/action",
        "",
        Payload_::Form("do=accept"),
        Rule::PageFormWithoutToken,
    ),
    row("GET", "/login", "", Payload_::None, Rule::Public(200)),
    row(
        "POST",
        "/login",
        "",
        Payload_::Form("username=x&password=y&code=123456"),
        Rule::Public(403),
    ),
    row(
        "POST",
        "/logout",
        "",
        Payload_::Form(""),
        Rule::PageFormWithoutToken,
    ),
    row(
        "GET",
        "/enrol/{token}",
        "",
        Payload_::None,
        Rule::Public(404),
    ),
    row(
        "POST",
        "/enrol/{token}",
        "",
        Payload_::Form("password=aaaaaaaaaaaaaaaa&confirm=aaaaaaaaaaaaaaaa&code=123456"),
        Rule::Public(403),
    ),
    row(
        "GET",
        "/static/passerelle.css",
        "",
        Payload_::None,
        Rule::Public(200),
    ),
    // The auditor console, the admin pages and the coordinator dashboard (issue 7): a page
    // for its role only ("auditor (reads the audit log, never content), admin
    // (organisations, keys, users; never content), coordinator (manages their
    // organisation's users, sees counts and delays, no content)"), the 403 page for every
    // other role; every form refused without its CSRF token.
    row(
        "GET",
        "/audit",
        "",
        Payload_::None,
        Rule::RolePage {
            roles: &[Role::Auditor],
            ok: 200,
        },
    )
    .audited(AUDIT),
    row(
        "GET",
        "/audit/verify",
        "",
        Payload_::None,
        Rule::RolePage {
            roles: &[Role::Auditor],
            ok: 200,
        },
    )
    .audited(AUDIT),
    row(
        "GET",
        "/audit/cases/{case_id}",
        "",
        Payload_::None,
        Rule::RolePage {
            roles: &[Role::Auditor],
            ok: 200,
        },
    )
    .audited(AUDIT),
    row(
        "POST",
        "/audit/export",
        "",
        Payload_::Form(""),
        Rule::PageFormWithoutToken,
    ),
    row(
        "GET",
        "/admin",
        "",
        Payload_::None,
        Rule::RolePage {
            roles: &[Admin],
            ok: 200,
        },
    )
    .audited(ADMIN),
    row(
        "POST",
        "/admin/orgs",
        "",
        Payload_::Form("slug=new-org&name=New&kind=centre"),
        Rule::PageFormWithoutToken,
    ),
    row(
        "GET",
        "/admin/users",
        "",
        Payload_::None,
        Rule::RolePage {
            roles: &[Admin],
            ok: 200,
        },
    )
    .audited(ADMIN),
    row(
        "GET",
        "/admin/tokens",
        "",
        Payload_::None,
        Rule::RolePage {
            roles: &[Admin],
            ok: 200,
        },
    )
    .audited(ADMIN),
    row(
        "POST",
        "/admin/tokens",
        "",
        Payload_::Form("user=x&days=30"),
        Rule::PageFormWithoutToken,
    ),
    row(
        "POST",
        "/admin/tokens/revoke",
        "",
        Payload_::Form("id=x"),
        Rule::PageFormWithoutToken,
    ),
    row(
        "GET",
        "/coordination",
        "",
        Payload_::None,
        Rule::RolePage {
            roles: &[Coordinator],
            ok: 200,
        },
    )
    .audited(METADATA),
    row(
        "POST",
        "/accounts",
        "",
        Payload_::Form("username=new.user&org=x&role=referrer"),
        Rule::PageFormWithoutToken,
    ),
    row(
        "POST",
        "/accounts/{username}/reset",
        "",
        Payload_::Form(""),
        Rule::PageFormWithoutToken,
    ),
    row(
        "POST",
        "/accounts/{username}/disable",
        "",
        Payload_::Form("confirm=yes"),
        Rule::PageFormWithoutToken,
    ),
    // "GET /audit/…: auditor ✔; referrer, receiver, coordinator, admin 403." The access
    // report is asked for the case of an existing referral.
    row(
        "GET",
        "/api/v1/audit/events",
        "",
        Payload_::None,
        Rule::Roles {
            roles: &[Role::Auditor],
            ok: 200,
        },
    )
    .audited(AUDIT),
    row(
        "GET",
        "/api/v1/audit/verify",
        "",
        Payload_::None,
        Rule::Roles {
            roles: &[Role::Auditor],
            ok: 200,
        },
    )
    .audited(AUDIT),
    row(
        "GET",
        "/api/v1/audit/cases/{case_id}/access-report",
        "",
        Payload_::None,
        Rule::Roles {
            roles: &[Role::Auditor],
            ok: 200,
        },
    )
    .audited(AUDIT),
];

/// A row of a route that is not about one referral.
const fn row(
    method: &'static str,
    path: &'static str,
    query: &'static str,
    body: Payload_,
    rule: Rule,
) -> Row {
    Row {
        method,
        path,
        query,
        body,
        rule,
        effect: Effect::Reads,
        leaf: None,
    }
}

// ---------------------------------------------------------------------------------------
// Expected answers
// ---------------------------------------------------------------------------------------

/// The credential a case sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cred {
    /// The actor's API token.
    Bearer,
    /// The actor's web session.
    Session,
    /// Nothing.
    Nothing,
    /// A token that never existed.
    ForgedToken,
    /// A token past its expiry.
    ExpiredToken,
    /// A revoked token.
    RevokedToken,
    /// The token of a disabled user.
    DisabledUserToken,
    /// A session cookie that never existed.
    ForgedSession,
    /// A session ended by logout.
    EndedSession,
}

const BAD_CREDS: [Cred; 7] = [
    Cred::Nothing,
    Cred::ForgedToken,
    Cred::ExpiredToken,
    Cred::RevokedToken,
    Cred::DisabledUserToken,
    Cred::ForgedSession,
    Cred::EndedSession,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Status(u16),
    /// `303` to `/login…`.
    ToLogin,
}

impl Expect {
    fn success(self) -> bool {
        matches!(self, Expect::Status(s) if (200..300).contains(&s))
    }
}

fn side_of(rel: Rel) -> Option<Side> {
    match rel {
        Rel::Sending => Some(Side::Sender),
        Rel::Receiving => Some(Side::Receiver),
        Rel::Unrelated => None,
    }
}

/// The contract's answer for one case. `role`/`rel` are those of the actor behind `cred`
/// (ignored for bad credentials).
fn expected(rule: Rule, role: Role, rel: Rel, state: State, cred: Cred) -> Expect {
    use Expect::*;
    let api = |f: &dyn Fn() -> u16| {
        if cred == Cred::Bearer {
            Status(f())
        } else {
            Status(401)
        }
    };
    match rule {
        Rule::Public(s) => Status(s),
        Rule::Page(ok) => {
            if cred == Cred::Session {
                Status(ok)
            } else {
                ToLogin
            }
        }
        Rule::RolePage { roles, ok } => {
            if cred != Cred::Session {
                ToLogin
            } else if roles.contains(&role) {
                Status(ok)
            } else {
                Status(403)
            }
        }
        Rule::PageFormWithoutToken => {
            if cred == Cred::Session {
                Status(403)
            } else {
                ToLogin
            }
        }
        Rule::PageHealthReferrer => {
            if cred != Cred::Session {
                ToLogin
            } else if role == Referrer && rel == Rel::Sending {
                Status(200)
            } else {
                Status(403)
            }
        }
        Rule::PageReferral {
            roles,
            sides,
            by_state,
        } => {
            if cred != Cred::Session {
                return ToLogin;
            }
            Status(referral_answer(roles, sides, by_state, role, rel, state))
        }
        Rule::Roles { roles, ok } => api(&|| if roles.contains(&role) { ok } else { 403 }),
        Rule::ManageUser { roles, ok } => api(&|| {
            if !roles.contains(&role) {
                403
            } else if rel != Rel::Sending {
                404
            } else {
                ok
            }
        }),
        Rule::Referral {
            roles,
            sides,
            by_state,
        } => api(&|| referral_answer(roles, sides, by_state, role, rel, state)),
    }
}

/// The audit leaves (action, outcome: `allowed` or the reason code) one answer must have
/// appended, in order. Every refusal of an identity or an access is recorded (401: an
/// anonymous `auth.failed`; 403 by role or side, 404 of an organisation not party or a
/// user of another organisation); every `422` under its rule; every read of content,
/// change and auditor's read. Not recorded: a `409` or `410` answered to an authorised
/// party (no access refused: the state forbids the action, and nothing is revealed), a
/// page request without a session cookie (sent to the login page), a form refused for
/// want of its CSRF token (ARCHITECTURE.md "The audit log").
fn expected_leaves(row: &Row, case: &Case, status: u16) -> Vec<(&'static str, &'static str)> {
    let bad_token = matches!(
        case.cred,
        Cred::ForgedToken | Cred::ExpiredToken | Cred::RevokedToken | Cred::DisabledUserToken
    );
    let bad_session = matches!(case.cred, Cred::ForgedSession | Cred::EndedSession);
    let page = matches!(
        row.rule,
        Rule::Page(_)
            | Rule::RolePage { .. }
            | Rule::PageFormWithoutToken
            | Rule::PageHealthReferrer
            | Rule::PageReferral { .. }
    );
    if page && bad_session {
        // A stale or forged session cookie on a page.
        return vec![("auth.failed", "bad-session")];
    }
    if page && (case.cred != Cred::Session || status == 303) {
        // Sent to the login page: nobody was identified, nothing was refused.
        return vec![];
    }
    let Some(leaf) = row.leaf else {
        // Public routes, pages any signed-in user sees, and forms refused for want of
        // their CSRF token (checked before anyone is identified to the core).
        return vec![];
    };
    if status == 401 {
        return vec![(
            "auth.failed",
            if bad_token {
                "bad-token"
            } else {
                "no-credential"
            },
        )];
    }
    let allowed_role = match row.rule {
        Rule::Roles { roles, .. }
        | Rule::Referral { roles, .. }
        | Rule::RolePage { roles, .. }
        | Rule::PageReferral { roles, .. }
        | Rule::ManageUser { roles, .. } => roles.contains(&case.role),
        Rule::PageHealthReferrer => case.role == Referrer && case.rel == Rel::Sending,
        Rule::Public(_) | Rule::Page(_) | Rule::PageFormWithoutToken => {
            unreachable!("these rows carry no leaves")
        }
    };
    match status {
        200..=299 => {
            let mut v: Vec<_> = leaf.ok.map(|a| (a, "allowed")).into_iter().collect();
            // A withdrawal before the referral was opened destroys its content.
            if row.path == "/api/v1/cases/{case_id}/consent/withdraw" && case.state == Sent {
                v.push(("content.shredded", "allowed"));
            }
            // The referral page shows its thread: the messages are read too.
            if row.path == "/referrals/{id}" {
                v.push(("message.read", "allowed"));
            }
            v
        }
        403 if !allowed_role => vec![(leaf.denied, "role")],
        403 => vec![(leaf.denied, "side")],
        404 => match row.rule {
            Rule::ManageUser { .. } => vec![(leaf.denied, "not-found")],
            _ if case.rel == Rel::Unrelated || case.state == Missing => {
                vec![(leaf.denied, "not-party")]
            }
            // A task that does not exist, on a referral the party may use.
            _ => vec![],
        },
        422 => vec![(
            leaf.refused
                .expect("a 422 on a route without a refusal leaf"),
            rule_of_422(case.state),
        )],
        409 | 410 => vec![],
        other => panic!("no leaf expectation for {other}"),
    }
}

/// The answer of a route about one referral to a party's valid credential.
fn referral_answer(
    roles: &[Role],
    sides: &[Side],
    by_state: &[(State, u16)],
    role: Role,
    rel: Rel,
    state: State,
) -> u16 {
    if !roles.contains(&role) {
        return 403;
    }
    let Some(side) = side_of(rel) else { return 404 };
    if state == Missing {
        return 404;
    }
    if !sides.contains(&side) {
        return 403;
    }
    by_state
        .iter()
        .find(|(s, _)| *s == state)
        .map(|(_, code)| *code)
        .unwrap_or_else(|| panic!("the row names no answer for {state:?}"))
}

// ---------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------

/// The status of a referral in `state`.
fn status_of(state: State) -> ReferralStatus {
    match state {
        Sent => ReferralStatus::Sent,
        Acknowledged => ReferralStatus::Acknowledged,
        Accepted | Report | Archived => ReferralStatus::Accepted,
        Declined => ReferralStatus::Declined,
        Closed => ReferralStatus::Closed,
        Withdrawn | Destroyed => ReferralStatus::Withdrawn,
        Missing => unreachable!("a missing referral has no status"),
    }
}

/// After a success of `row` by an actor on the `rel` side of a referral in `state`: its
/// status, and whether its content is destroyed (the transitions and the withdrawal table
/// of CONTRACT.md).
fn after_success(row: &Row, state: State, rel: Rel) -> (ReferralStatus, bool) {
    let before = status_of(state);
    let withdrawal = row.path == "/api/v1/cases/{case_id}/consent/withdraw";
    let status = match row.path.rsplit('/').next() {
        // "The first read by the receiving organisation moves sent → acknowledged."
        Some("{id}" | "receipt") if state == Sent && rel == Rel::Receiving => {
            ReferralStatus::Acknowledged
        }
        Some("accept") => ReferralStatus::Accepted,
        Some("decline") => ReferralStatus::Declined,
        Some("close") if !row.path.contains("/tasks/") => ReferralStatus::Closed,
        // "sent → withdrawn; acknowledged, accepted → withdrawn; declined, closed:
        //  unchanged."
        _ if withdrawal && matches!(state, Sent | Acknowledged | Accepted | Archived) => {
            ReferralStatus::Withdrawn
        }
        _ => before,
    };
    // "sent (never opened) → destroyed"; everything else "kept until retention".
    let destroyed = state == Destroyed || (withdrawal && state == Sent);
    (status, destroyed)
}

fn strip_request_id(body: &[u8]) -> Value {
    let mut v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.remove("request_id");
    }
    v
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

struct Case {
    row: usize,
    role: Role,
    rel: Rel,
    state: State,
    cred: Cred,
}

impl Case {
    fn want(&self) -> Expect {
        expected(
            MATRIX[self.row].rule,
            self.role,
            self.rel,
            self.state,
            self.cred,
        )
    }

    /// Whether this case gets a referral of its own: a success that changes something.
    fn fresh(&self) -> bool {
        let row = &MATRIX[self.row];
        self.want().success()
            && matches!(row.rule, Rule::Referral { .. } | Rule::PageReferral { .. })
            && row.effect.changes()
            && self.state != Missing
    }
}

fn all_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (i, _) in MATRIX.iter().enumerate() {
        for state in STATES {
            for rel in RELS {
                for role in Role::ALL {
                    for cred in [Cred::Bearer, Cred::Session] {
                        cases.push(Case {
                            row: i,
                            role: *role,
                            rel,
                            state,
                            cred,
                        });
                    }
                }
            }
            for cred in BAD_CREDS {
                cases.push(Case {
                    row: i,
                    role: Referrer,
                    rel: Rel::Sending,
                    state,
                    cred,
                });
            }
        }
    }
    cases
}

async fn run(backend: Backend) {
    let Some(app) = TestApp::new(backend, Limits::disabled()).await else {
        return;
    };
    let started = Instant::now();

    // Every route has its row, every row its route.
    let served: BTreeSet<(String, String)> = passerelle_web::routes()
        .list()
        .iter()
        .map(|(m, p)| (m.as_str().to_owned(), (*p).to_owned()))
        .collect();
    let rows: BTreeSet<(String, String)> = MATRIX
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(rows.len(), MATRIX.len(), "one row per route");
    let unlisted: Vec<_> = served.difference(&rows).collect();
    assert!(
        unlisted.is_empty(),
        "routes without a row in the authorisation matrix: {unlisted:?}"
    );
    let unaudited: Vec<_> = MATRIX
        .iter()
        .filter(|r| r.leaf.is_none())
        .filter(|r| {
            matches!(
                r.rule,
                Rule::Roles { .. } | Rule::Referral { .. } | Rule::ManageUser { .. }
            )
        })
        .map(|r| (r.method, r.path))
        .collect();
    assert!(
        unaudited.is_empty(),
        "API routes without their audit leaves in the matrix: {unaudited:?}"
    );
    let stale: Vec<_> = rows.difference(&served).collect();
    assert!(stale.is_empty(), "rows of routes not served: {stale:?}");

    let cases = all_cases();
    assert!(cases.len() >= 3000, "{} cases", cases.len());
    let archived_spares = cases
        .iter()
        .filter(|c| c.state == Archived && c.fresh())
        .count();
    let mut w = World::new(app, archived_spares).await;
    let set_up = started.elapsed();

    let missing = Fixture::missing();
    // What an outsider must never see of each shared referral.
    let mut shared_ids: BTreeMap<State, Vec<String>> = BTreeMap::new();
    for (s, f) in &w.shared {
        let r = w
            .app
            .store
            .referral(f.id)
            .await
            .expect("row")
            .expect("exists");
        let mut ids = vec![f.id.to_string(), r.reference, f.case.to_string()];
        ids.extend(f.task.map(|t| t.to_string()));
        ids.extend(f.attachment.map(|a| a.to_string()));
        shared_ids.insert(*s, ids);
    }
    assert!(
        w.shared[&Report].task.is_some(),
        "a 226-14 3° report's task"
    );
    // The case the access-report row asks about: one that exists.
    let shared_case = w.shared[&Sent].case.to_string();
    let mut missing_bodies: BTreeMap<(usize, Cred), Value> = BTreeMap::new();
    let mut other_404s: Vec<(usize, Cred, String, Value)> = Vec::new();
    let mut failures = Vec::new();
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    let mut fresh = 0usize;

    for case in &cases {
        let row = &MATRIX[case.row];
        let want = case.want();
        // Successful changes get an object of their own; everything else uses the shared
        // ones, which the refusals must leave as they are.
        let f = match case.state {
            Missing => missing,
            s if case.fresh() => {
                fresh += 1;
                w.fixture(s, false).await
            }
            s => w.shared[&s],
        };
        let own = case.fresh().then_some(f);
        let target = if want.success() && matches!(row.rule, Rule::ManageUser { .. }) {
            w.fresh_target().await
        } else {
            w.target.clone()
        };
        let on_referral = matches!(row.rule, Rule::Referral { .. } | Rule::PageReferral { .. });
        let case_id = if on_referral {
            f.case.to_string()
        } else {
            shared_case.clone()
        };
        let nothing = Uuid::new_v4().to_string();
        let task = f.task.map_or(nothing, |t| t.to_string());
        let aid = match f.attachment {
            Some(a) => a.to_string(),
            None if row.path.contains("{aid}") => {
                panic!("{}: a referral without attachment", row.path)
            }
            None => String::new(),
        };
        let path = row
            .path
            .replace("{id}", &f.id.to_string())
            .replace("{case_id}", &case_id)
            .replace("{task_id}", &task)
            .replace("{aid}", &aid)
            .replace("{username}", &target)
            .replace("{token}", "A0b1C2d3E4f5G6h7I8j9K0l1M2n3O4p5Q6r7S8t9U0v");
        assert!(
            !path.contains('{'),
            "{}: a parameter without a value",
            row.path
        );
        let path = format!("{path}{}", row.query);
        let auth = match case.cred {
            Cred::Bearer => bearer(&w.tokens[&(case.rel, case.role)]),
            Cred::Session => session_header(&w.sessions[&(case.rel, case.role)]),
            other => w.bad[&other].clone(),
        };
        let (headers, payload) = match row.body {
            Payload_::None => (vec![auth], Payload::Empty),
            Payload_::Filing => (vec![auth], Payload::Json(filing_json())),
            Payload_::Json(s) => {
                let now = w
                    .app
                    .now()
                    .format(&time::format_description::well_known::Rfc3339)
                    .expect("now");
                let s = s.replace("{now}", &now);
                (
                    vec![auth],
                    Payload::Json(serde_json::from_str(&s).expect("row JSON")),
                )
            }
            Payload_::Form(f) => (vec![auth], Payload::Form(f.to_owned())),
            Payload_::Attachment => {
                let (h, b) = attachment(auth, b"Attestation de prise en charge", "piece.pdf");
                (h, Payload::Bytes(b))
            }
        };
        let before = audit_size(&w.app).await;
        let a = w.app.send(row.method, &path, &headers, payload).await;
        let leaves = leaves_since(&w.app, before).await;
        *by_status.entry(a.status).or_default() += 1;
        let what = format!(
            "{} {}{} as {:?} {} ({:?}) on {:?}",
            row.method, row.path, row.query, case.cred, case.role, case.rel, case.state
        );
        let got = if a.status == 303
            && a.header("location")
                .is_some_and(|l| l.starts_with("/login"))
        {
            Expect::ToLogin
        } else {
            Expect::Status(a.status)
        };
        if got != want {
            failures.push(format!("{what}: want {want:?}, got {got:?}: {}", a.text()));
            continue;
        }
        // Exactly the leaves the answer should leave, no more (DESIGN.md §4).
        let want_leaves: Vec<(String, String)> = expected_leaves(row, case, a.status)
            .into_iter()
            .map(|(a, o)| (a.to_owned(), o.to_owned()))
            .collect();
        if leaves != want_leaves {
            failures.push(format!(
                "{what} ({}): audit leaves {leaves:?}, want {want_leaves:?}",
                a.status
            ));
        }
        // A 422 names the rule of the state.
        if a.status == 422 {
            let rule = rule_of_422(case.state);
            let kind = a.json()["type"].as_str().unwrap_or_default().to_owned();
            if !kind.ends_with(&format!("/{rule}")) {
                failures.push(format!("{what}: 422 of type {kind}, want {rule}"));
            }
        }
        // A success on a referral of its own did what the contract says, and no more.
        if let Some(f) = own {
            let (status, destroyed) = after_success(row, case.state, case.rel);
            let r = w.app.store.referral(f.id).await.expect("row").expect("row");
            if (r.status, r.shredded_at.is_some()) != (status, destroyed) {
                failures.push(format!(
                    "{what}: afterwards {:?} (destroyed: {}), want {status:?} (destroyed: \
                     {destroyed})",
                    r.status,
                    r.shredded_at.is_some()
                ));
            }
            let tasks = w.app.store.tasks_of(f.id).await.expect("tasks");
            let closed = row.path.contains("/tasks/");
            if tasks.iter().any(|t| t.closed_at.is_some() != closed) {
                failures.push(format!("{what}: the task is not as it should be"));
            }
        }
        // No victim string, except in a party's successful read of content.
        let reads_content = row.effect.returns_content() && a.status == 200;
        if !reads_content {
            for s in VICTIM {
                if contains(&a.body, s) || contains(&a.body, &enc(s)) {
                    failures.push(format!("{what}: victim data in the answer"));
                }
            }
        }
        // Nothing of the referral reaches an unrelated organisation or a bad credential.
        // (Ids, never content, are what an auditor reads the audit log for.)
        let audit_read = (row.path.starts_with("/api/v1/audit/") || row.path.starts_with("/audit"))
            && a.status == 200;
        let outsider = (case.rel == Rel::Unrelated && !audit_read)
            || !matches!(case.cred, Cred::Bearer | Cred::Session);
        if outsider && let Some(ids) = shared_ids.get(&case.state) {
            for s in ids {
                if contains(&a.body, s) {
                    failures.push(format!("{what}: the referral's {s} in the answer"));
                }
            }
        }
        // A 404 on a referral's route is the 404 of a missing referral, byte for byte.
        if a.status == 404 && on_referral {
            let body = strip_request_id(&a.body);
            if case.state == Missing {
                missing_bodies.insert((case.row, case.cred), body);
            } else {
                other_404s.push((case.row, case.cred, what, body));
            }
        }
    }
    for (row, cred, what, body) in other_404s {
        match missing_bodies.get(&(row, cred)) {
            Some(m) if *m == body => {}
            Some(_) => failures.push(format!("{what}: 404 differs from a missing one's")),
            None => failures.push(format!("{what}: 404 where a missing referral is not")),
        }
    }
    // The shared referrals are as they were.
    for (s, f) in &w.shared {
        let r = w
            .app
            .store
            .referral(f.id)
            .await
            .expect("row")
            .expect("exists");
        assert_eq!(
            r.status,
            status_of(*s),
            "a refused case changed the {s:?} referral"
        );
        assert_eq!(
            r.shredded_at.is_some(),
            *s == Destroyed,
            "{s:?}: content destroyed only by a withdrawal before opening"
        );
        let case = w.app.store.case(f.case).await.expect("case").expect("case");
        assert_eq!(
            case.withdrawn_at.is_some(),
            matches!(s, Withdrawn | Destroyed),
            "a refused case withdrew the {s:?} referral's consent"
        );
        let tasks = w.app.store.tasks_of(f.id).await.expect("tasks");
        assert!(
            tasks.iter().all(|t| t.closed_at.is_none()),
            "a refused case closed the {s:?} referral's task"
        );
        let retention = w
            .app
            .store
            .retention(f.id)
            .await
            .expect("retention")
            .expect("retention row");
        assert_eq!(retention.archived_at.is_some(), *s == Archived);
    }
    assert!(w.archived.is_empty(), "every archived spare was used");

    eprintln!(
        "authorisation matrix on {:?}: {} cases ({fresh} on referrals of their own) in {:.1?} \
         (world {:.1?}), answers {by_status:?}",
        w.app.backend,
        cases.len(),
        started.elapsed(),
        set_up,
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from the contract:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

async fn audit_size(app: &TestApp) -> u64 {
    app.store
        .audit_head()
        .await
        .expect("audit head")
        .map_or(0, |h| h.size)
}

/// The leaves appended since `from`, as (action, outcome): `allowed` or the denial's
/// reason code.
async fn leaves_since(app: &TestApp, from: u64) -> Vec<(String, String)> {
    let rows = app.store.audit_leaves(from, 1000).await.expect("leaves");
    rows.iter()
        .map(|r| {
            let leaf = passerelle_domain::audit::AuditLeaf::decode(&r.leaf.bytes).expect("leaf");
            let outcome = match leaf.outcome {
                passerelle_domain::audit::Outcome::Allowed => "allowed".to_owned(),
                passerelle_domain::audit::Outcome::Denied(c) => c,
            };
            (leaf.action.as_str().to_owned(), outcome)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorisation_matrix_on_sqlite() {
    run(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorisation_matrix_on_postgres() {
    run(Backend::Postgres).await;
}
