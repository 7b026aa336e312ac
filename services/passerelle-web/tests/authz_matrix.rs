//! The authorisation matrix: every route of the router × every role × an actor in the
//! sending, the receiving or an unrelated organisation × every referral state (and a
//! referral that does not exist) × both kinds of credential (API token, web session), plus
//! every kind of bad credential — each answer checked against [`MATRIX`], a table
//! transcribed by hand from CONTRACT.md ("Who may do what" and the check order), on SQLite
//! and on PostgreSQL. Nothing here asks `passerelle_domain::policy`.
//!
//! Zero leaks: an answer is exactly the table's (no 2xx where it says no); every `404` of a
//! referral's route has the body of a missing referral's; no answer but a successful read
//! by a party carries the victim's strings; no answer to an unrelated organisation carries
//! the referral's id, reference or case.
//!
//! **Adding a route**: the test fails until the route has its row in [`MATRIX`] (and a row
//! without its route fails too). Write the row from CONTRACT.md, not from the code: the
//! roles that may call it, the sides of a referral that may, and the answer in each state.
//! Rows for the contract's routes not served yet are sketched at the end of [`MATRIX`].

mod support;

use std::collections::{BTreeMap, BTreeSet};

use passerelle_core::{CloseRequest, DeclineRequest, Principal, RequestCtx};
use passerelle_domain::enums::{CloseOutcome, OrgKind, ReferralStatus, Role};
use passerelle_domain::ids::ReferralId;
use passerelle_domain::model::FilingRequest;
use passerelle_store::ReferralEventRow;
use passerelle_web::ratelimit::Limits;
use serde_json::{Value, json};
use support::*;

// ---------------------------------------------------------------------------------------
// The table (CONTRACT.md, transcribed)
// ---------------------------------------------------------------------------------------

/// A referral's state, or a referral that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum State {
    Sent,
    Acknowledged,
    Accepted,
    Declined,
    Closed,
    Withdrawn,
    Missing,
}

const STATES: [State; 7] = [
    State::Sent,
    State::Acknowledged,
    State::Accepted,
    State::Declined,
    State::Closed,
    State::Withdrawn,
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
    /// An API route about one referral. Order: `403` for other roles; `404` for an
    /// organisation not party (or a missing referral); `403` for a party on another side;
    /// then the answer of the referral's state.
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
    /// A form posted from a page by a signed-in user, sent without its CSRF token: `403`
    /// (`303` to `/login` without a session).
    PageFormWithoutToken,
}

/// What a request carries as its body.
#[derive(Debug, Clone, Copy)]
enum Payload_ {
    None,
    /// A valid filing to the receiving organisation.
    Filing,
    Json(&'static str),
    Form(&'static str),
}

struct Row {
    method: &'static str,
    path: &'static str,
    query: &'static str,
    body: Payload_,
    rule: Rule,
}

const BOTH: &[Side] = &[Side::Sender, Side::Receiver];
const RECEIVER_SIDE: &[Side] = &[Side::Receiver];
const PARTY_ROLES: &[Role] = &[Referrer, Recv];

/// Every state answers this.
const ALWAYS_200: &[(State, u16)] = &[
    (Sent, 200),
    (Acknowledged, 200),
    (Accepted, 200),
    (Declined, 200),
    (Closed, 200),
    (Withdrawn, 200),
];
/// `sent` or `acknowledged` → accepted or declined; anything else `409`.
const FROM_OPEN: &[(State, u16)] = &[
    (Sent, 200),
    (Acknowledged, 200),
    (Accepted, 409),
    (Declined, 409),
    (Closed, 409),
    (Withdrawn, 409),
];
/// `accepted` → closed; anything else `409`.
const FROM_ACCEPTED: &[(State, u16)] = &[
    (Sent, 409),
    (Acknowledged, 409),
    (Accepted, 200),
    (Declined, 409),
    (Closed, 409),
    (Withdrawn, 409),
];

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
    ),
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
    ),
    // "GET /referrals/{id}: sender, receiver (referrer and receiver roles); coordinator,
    //  auditor, admin 403." Content is kept after withdrawal for acknowledged/accepted.
    row(
        "GET",
        "/api/v1/referrals/{id}",
        "",
        Payload_::None,
        Rule::Referral {
            roles: PARTY_ROLES,
            sides: BOTH,
            by_state: ALWAYS_200,
        },
    ),
    // "accept, decline, close: receiver (side); coordinator, auditor, admin 403."
    row(
        "POST",
        "/api/v1/referrals/{id}/accept",
        "",
        Payload_::None,
        Rule::Referral {
            roles: PARTY_ROLES,
            sides: RECEIVER_SIDE,
            by_state: FROM_OPEN,
        },
    ),
    row(
        "POST",
        "/api/v1/referrals/{id}/decline",
        "",
        Payload_::Json(r#"{"reason":"Pas de place cette semaine"}"#),
        Rule::Referral {
            roles: PARTY_ROLES,
            sides: RECEIVER_SIDE,
            by_state: FROM_OPEN,
        },
    ),
    row(
        "POST",
        "/api/v1/referrals/{id}/close",
        "",
        Payload_::Json(r#"{"outcome":"got_help"}"#),
        Rule::Referral {
            roles: PARTY_ROLES,
            sides: RECEIVER_SIDE,
            by_state: FROM_ACCEPTED,
        },
    ),
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
    ),
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
    ),
    row(
        "POST",
        "/api/v1/users/{username}/disable",
        "",
        Payload_::None,
        Rule::ManageUser {
            roles: &[Admin, Coordinator],
            ok: 200,
        },
    ),
    // Web pages.
    row("GET", "/", "", Payload_::None, Rule::Page(200)),
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
    // Sketches for the contract's routes not served yet (add them when the route exists):
    //   GET  /api/v1/referrals/{id}/messages      Referral { PARTY_ROLES, BOTH, 200 in every
    //        state but 410 once shredded }
    //   POST /api/v1/referrals/{id}/messages      Referral { PARTY_ROLES, BOTH, 201; 422 after
    //        a withdrawal (consent-withdrawn) }
    //   POST /api/v1/referrals/{id}/attachments   like messages (raw body, X-Filename)
    //   GET  /api/v1/referrals/{id}/attachments/{aid}  Referral { PARTY_ROLES, BOTH, 200 }
    //   POST /api/v1/referrals/{id}/forward       Referral { PARTY_ROLES, RECEIVER_SIDE,
    //        201 when accepted, 409 otherwise, 422 after a withdrawal }
    //   POST /api/v1/cases/{case_id}/consent/withdraw  Referral { PARTY_ROLES, BOTH, 200 }
    //   POST /api/v1/referrals/{id}/tasks/{task_id}/close  sender side only
    //   GET  /api/v1/audit/…                      Roles { [Auditor], 200 }
];

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
        Rule::PageFormWithoutToken => {
            if cred == Cred::Session {
                Status(403)
            } else {
                ToLogin
            }
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
        } => api(&|| {
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
        }),
    }
}

// ---------------------------------------------------------------------------------------
// The world
// ---------------------------------------------------------------------------------------

const NAME: &str = "Gwenaëlle Tréguier-Onzain";
const NARRATIVE: &str = "Porte enfoncée au troisième étage, voisin témoin";

fn org_of(rel: Rel) -> &'static str {
    match rel {
        Rel::Sending => "m-sending",
        Rel::Receiving => "m-receiving",
        Rel::Unrelated => "m-unrelated",
    }
}

fn username(rel: Rel, role: Role) -> String {
    let r = match rel {
        Rel::Sending => "s",
        Rel::Receiving => "r",
        Rel::Unrelated => "u",
    };
    format!("m{r}.{}", role.as_str())
}

fn filing_json() -> Value {
    json!({
        "to_org": org_of(Rel::Receiving),
        "purpose": "psychological_support",
        "urgency": "high",
        "consent": {
            "basis": "consent", "method": "written", "obtained_at": "2026-11-29T10:00:00Z",
            "recipients": [org_of(Rel::Receiving)], "purposes": ["psychological_support"],
            "data_categories": ["identity", "narrative"], "expires_at": "2099-01-01T00:00:00Z"
        },
        "subject": { "name": NAME, "birth_date": "1988-03-09" },
        "safety": { "channel": "sms", "hours": "après 18 h", "voicemail_ok": false,
                    "may_name_org": false, "code_word": "Mistral", "do_not_contact": false },
        "notes": { "narrative": NARRATIVE }
    })
}

struct World {
    app: TestApp,
    tokens: BTreeMap<(Rel, Role), String>,
    sessions: BTreeMap<(Rel, Role), String>,
    bad: BTreeMap<Cred, (&'static str, String)>,
    sender: Principal,
    receiver: Principal,
    /// One referral per state, never changed by the cases.
    shared: BTreeMap<State, ReferralId>,
    /// A user of the sending organisation whom nobody may manage successfully in a shared
    /// case (successes get a fresh one).
    target: String,
    fresh_users: u32,
}

impl World {
    async fn new(app: TestApp) -> World {
        for rel in RELS {
            let kind = if rel == Rel::Sending {
                OrgKind::Police
            } else {
                OrgKind::Association
            };
            app.org(org_of(rel), kind).await;
        }
        let mut tokens = BTreeMap::new();
        let mut sessions = BTreeMap::new();
        for rel in RELS {
            for role in Role::ALL {
                let name = username(rel, *role);
                app.user(&name, org_of(rel), *role).await;
                tokens.insert((rel, *role), app.token(&name).await);
            }
        }
        for rel in RELS {
            for role in Role::ALL {
                let name = username(rel, *role);
                sessions.insert((rel, *role), app.web_session(&name).await);
            }
        }
        // Bad credentials.
        let mut bad = BTreeMap::new();
        bad.insert(Cred::Nothing, ("x-nothing", String::new()));
        bad.insert(
            Cred::ForgedToken,
            bearer("psl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        );
        let expired = app
            .core
            .issue_token(
                &username(Rel::Sending, Referrer),
                Some(time::Duration::minutes(1)),
                &RequestCtx::default(),
            )
            .await
            .expect("short token");
        bad.insert(Cred::ExpiredToken, bearer(&expired.token));
        let revoked = app
            .core
            .issue_token(
                &username(Rel::Receiving, Recv),
                None,
                &RequestCtx::default(),
            )
            .await
            .expect("token");
        app.core
            .revoke_token(revoked.id, &RequestCtx::default())
            .await
            .expect("revoke");
        bad.insert(Cred::RevokedToken, bearer(&revoked.token));
        app.user("m.gone", org_of(Rel::Receiving), Recv).await;
        let gone = app.token("m.gone").await;
        app.core
            .disable_user("m.gone", &RequestCtx::default())
            .await
            .expect("disable");
        bad.insert(Cred::DisabledUserToken, bearer(&gone));
        bad.insert(
            Cred::ForgedSession,
            session_header(&passerelle_core::new_secret().expect("secret")),
        );
        app.user("m.left", org_of(Rel::Receiving), Recv).await;
        let left = app.web_session("m.left").await;
        app.core
            .logout(&left, &RequestCtx::default())
            .await
            .expect("logout");
        bad.insert(Cred::EndedSession, session_header(&left));
        // Past the short token's expiry (sessions stay well within 15 minutes idle).
        app.advance(time::Duration::minutes(2));

        let sender = app.principal(&tokens[&(Rel::Sending, Referrer)]).await;
        let receiver = app.principal(&tokens[&(Rel::Receiving, Recv)]).await;
        app.user("m.target", org_of(Rel::Sending), Referrer).await;
        let mut w = World {
            app,
            tokens,
            sessions,
            bad,
            sender,
            receiver,
            shared: BTreeMap::new(),
            target: "m.target".into(),
            fresh_users: 0,
        };
        for s in STATES {
            if s != Missing {
                let id = w.referral_in(s).await;
                w.shared.insert(s, id);
            }
        }
        w
    }

    /// A new referral from the sending to the receiving organisation, brought to `state`.
    async fn referral_in(&self, state: State) -> ReferralId {
        let core = &self.app.core;
        let ctx = RequestCtx::default();
        let req: FilingRequest = serde_json::from_value(filing_json()).expect("filing");
        let id = core
            .file_referral(&self.sender, req, &ctx)
            .await
            .expect("file")
            .id;
        let r = &self.receiver;
        match state {
            Sent | Missing => {}
            Acknowledged => {
                core.open_referral(r, id, &ctx).await.expect("open");
            }
            Accepted | Withdrawn | Closed => {
                core.accept(r, id, &ctx).await.expect("accept");
            }
            Declined => {
                let d: DeclineRequest =
                    serde_json::from_value(json!({"reason": "complet"})).expect("decline");
                core.decline(r, id, d, &ctx).await.expect("decline");
            }
        }
        if state == Closed {
            let c = CloseRequest {
                outcome: CloseOutcome::GotHelp,
            };
            core.close(r, id, c, &ctx).await.expect("close");
        }
        if state == Withdrawn {
            // No withdrawal route yet: the state is written through the store.
            let mut tx = self.app.store.begin().await.expect("begin");
            let event = ReferralEventRow {
                referral_id: id,
                at: self.app.now(),
                status: ReferralStatus::Withdrawn,
                actor: None,
                outcome: None,
                sealed_detail: None,
                suggested_org: None,
            };
            assert!(
                tx.transition(id, ReferralStatus::Accepted, &event)
                    .await
                    .expect("withdraw")
            );
            tx.commit().await.expect("commit");
        }
        id
    }

    async fn fresh_target(&mut self) -> String {
        self.fresh_users += 1;
        let name = format!("m.target{}", self.fresh_users);
        self.app.user(&name, org_of(Rel::Sending), Referrer).await;
        name
    }
}

// ---------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------

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

async fn run(backend: Backend) {
    let Some(app) = TestApp::new(backend, Limits::disabled()).await else {
        return;
    };

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
    let stale: Vec<_> = rows.difference(&served).collect();
    assert!(stale.is_empty(), "rows of routes not served: {stale:?}");

    let mut w = World::new(app).await;
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
    assert!(cases.len() >= 3000, "{} cases", cases.len());

    let missing_id = ReferralId(uuid::Uuid::new_v4());
    let shared_meta: BTreeMap<State, Value> = {
        let mut m = BTreeMap::new();
        for (s, id) in &w.shared {
            let r = w
                .app
                .store
                .referral(*id)
                .await
                .expect("row")
                .expect("exists");
            m.insert(
                *s,
                json!([id.to_string(), r.reference, r.case_id.to_string()]),
            );
        }
        m
    };
    let mut missing_bodies: BTreeMap<(usize, Cred), Value> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();

    for case in &cases {
        let row = &MATRIX[case.row];
        let want = expected(row.rule, case.role, case.rel, case.state, case.cred);
        let success = matches!(want, Expect::Status(s) if (200..300).contains(&s));
        // Successful changes get an object of their own; everything else uses the shared
        // ones, which the refusals must leave as they are.
        let id = match case.state {
            Missing => missing_id,
            s if success && matches!(row.rule, Rule::Referral { .. }) => w.referral_in(s).await,
            s => w.shared[&s],
        };
        let target = if success && matches!(row.rule, Rule::ManageUser { .. }) {
            w.fresh_target().await
        } else {
            w.target.clone()
        };
        let path = row
            .path
            .replace("{id}", &id.to_string())
            .replace("{username}", &target)
            .replace("{token}", "A0b1C2d3E4f5G6h7I8j9K0l1M2n3O4p5Q6r7S8t9U0v");
        assert!(
            !path.contains('{'),
            "{}: a parameter without a value",
            row.path
        );
        let path = format!("{path}{}", row.query);
        let header = match case.cred {
            Cred::Bearer => bearer(&w.tokens[&(case.rel, case.role)]),
            Cred::Session => session_header(&w.sessions[&(case.rel, case.role)]),
            other => w.bad[&other].clone(),
        };
        let payload = match row.body {
            Payload_::None => Payload::Empty,
            Payload_::Filing => Payload::Json(filing_json()),
            Payload_::Json(s) => Payload::Json(serde_json::from_str(s).expect("row JSON")),
            Payload_::Form(f) => Payload::Form(f.to_owned()),
        };
        let a = w.app.send(row.method, &path, &[header], payload).await;
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
        // No victim string, except in a party's successful read.
        let reads_content = row.path == "/api/v1/referrals/{id}" && a.status == 200;
        if !reads_content {
            for s in [NAME, NARRATIVE, "Mistral"] {
                if contains(&a.body, s) {
                    failures.push(format!("{what}: victim data in the answer"));
                }
            }
        }
        // Nothing of the referral reaches an unrelated organisation or a bad credential.
        let outsider =
            case.rel == Rel::Unrelated || !matches!(case.cred, Cred::Bearer | Cred::Session);
        if outsider && let Some(meta) = shared_meta.get(&case.state) {
            for v in meta.as_array().into_iter().flatten() {
                if let Some(s) = v.as_str()
                    && contains(&a.body, s)
                {
                    failures.push(format!("{what}: the referral's {s} in the answer"));
                }
            }
        }
        // A 404 on a referral's route is the 404 of a missing referral, byte for byte.
        if a.status == 404 && matches!(row.rule, Rule::Referral { .. }) {
            let body = strip_request_id(&a.body);
            match missing_bodies.get(&(case.row, case.cred)) {
                Some(m) if case.state != Missing => {
                    if *m != body {
                        failures.push(format!("{what}: 404 differs from a missing one's"));
                    }
                }
                _ => {
                    missing_bodies.insert((case.row, case.cred), body);
                }
            }
        }
    }
    // The shared referrals are as they were.
    for (s, id) in &w.shared {
        let r = w
            .app
            .store
            .referral(*id)
            .await
            .expect("row")
            .expect("exists");
        let want = match s {
            Sent => ReferralStatus::Sent,
            Acknowledged => ReferralStatus::Acknowledged,
            Accepted => ReferralStatus::Accepted,
            Declined => ReferralStatus::Declined,
            Closed => ReferralStatus::Closed,
            Withdrawn => ReferralStatus::Withdrawn,
            Missing => unreachable!(),
        };
        assert_eq!(r.status, want, "a refused case changed the {s:?} referral");
    }
    eprintln!(
        "authorisation matrix on {:?}: {} cases, answers {by_status:?}",
        w.app.backend,
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from the contract:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorisation_matrix_on_sqlite() {
    run(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorisation_matrix_on_postgres() {
    run(Backend::Postgres).await;
}
