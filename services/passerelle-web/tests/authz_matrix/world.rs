//! The world of the authorisation matrix: organisations (a hospital sending to a
//! prosecutor's office, an unrelated association, an onward court), one user of each role
//! in each, their tokens and sessions, every kind of bad credential, and referrals brought
//! to each state through the product's own use cases and routes.

use std::collections::BTreeMap;

use passerelle_core::{CloseRequest, DeclineRequest, Principal, RequestCtx, RetentionPolicy};
use passerelle_domain::enums::{CloseOutcome, OrgKind, Role};
use passerelle_domain::ids::{AttachmentId, CaseId, ReferralId, TaskId};
use passerelle_domain::model::FilingRequest;
use serde_json::{Value, json};
use uuid::Uuid;

use super::State::{
    Accepted, Acknowledged, Archived, Closed, Declined, Destroyed, Missing, Report, Sent, Withdrawn,
};
use super::support::*;
use super::{Cred, RELS, Rel, STATES, State};
use Role::{Receiver as Recv, Referrer};

const NAME: &str = "Gwenaëlle Tréguier-Onzain";
const NARRATIVE: &str = "Porte enfoncée au troisième étage, voisin témoin";
const CODE_WORD: &str = "Mistral";
const JUSTIFICATION: &str = "Strangulation, menaces de mort répétées";
const MESSAGE: &str = "Elle dort chez sa sœur rue Ballainvilliers";
const FILENAME: &str = "certificat Tréguier.pdf";
const ATTACHMENT: &str = "ITT de huit jours, ecchymoses au cou";

/// Every string of the victim's that the world stores.
pub(super) const VICTIM: [&str; 7] = [
    NAME,
    NARRATIVE,
    CODE_WORD,
    JUSTIFICATION,
    MESSAGE,
    FILENAME,
    ATTACHMENT,
];

fn org_of(rel: Rel) -> &'static str {
    match rel {
        Rel::Sending => "m-sending",
        Rel::Receiving => "m-receiving",
        Rel::Unrelated => "m-unrelated",
    }
}

/// The organisation forwards go to (no users: a party of no shared referral).
const ONWARD: &str = "m-onward";

fn username(rel: Rel, role: Role) -> String {
    let r = match rel {
        Rel::Sending => "s",
        Rel::Receiving => "r",
        Rel::Unrelated => "u",
    };
    format!("m{r}.{}", role.as_str())
}

pub(super) fn filing_json() -> Value {
    json!({
        "to_org": org_of(Rel::Receiving),
        "purpose": "psychological_support",
        "urgency": "high",
        "consent": {
            "basis": "consent", "method": "written", "obtained_at": "2026-11-29T10:00:00Z",
            "recipients": [org_of(Rel::Receiving), ONWARD],
            "purposes": ["psychological_support"],
            "data_categories": ["identity", "narrative"], "expires_at": "2099-01-01T00:00:00Z"
        },
        "subject": { "name": NAME, "birth_date": "1988-03-09" },
        "safety": { "channel": "sms", "hours": "après 18 h", "voicemail_ok": false,
                    "may_name_org": false, "code_word": CODE_WORD, "do_not_contact": false },
        "notes": { "narrative": NARRATIVE }
    })
}

/// A 226-14 3° report: from the sending organisation's referrer (a health professional in
/// a hospital) to the receiving organisation (a prosecutor's office).
fn report_json() -> Value {
    json!({
        "to_org": org_of(Rel::Receiving),
        "purpose": "report_to_prosecutor",
        "urgency": "immediate",
        "consent": {
            "basis": "legal_exception_226_14", "method": "oral",
            "obtained_at": "2026-11-29T10:00:00Z",
            "recipients": [org_of(Rel::Receiving)], "purposes": ["report_to_prosecutor"],
            "data_categories": ["identity", "narrative"], "expires_at": "2099-01-01T00:00:00Z",
            "legal_exception": {
                "immediate_danger": true, "emprise": true,
                "agreement_sought": "Entretien seule, accompagnement proposé et refusé",
                "justification": JUSTIFICATION
            }
        },
        "subject": { "name": NAME, "birth_date": "1988-03-09" },
        "safety": { "channel": "through_referrer", "do_not_contact": true },
        "notes": { "narrative": NARRATIVE }
    })
}

/// A referral of the world and what its routes' parameters name.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fixture {
    pub(super) id: ReferralId,
    pub(super) case: CaseId,
    /// Its "inform the victim" task (226-14 3° reports only).
    pub(super) task: Option<TaskId>,
    /// An attachment of its own (shared referrals only).
    pub(super) attachment: Option<AttachmentId>,
}

impl Fixture {
    /// Ids of nothing that exists.
    pub(super) fn missing() -> Fixture {
        Fixture {
            id: ReferralId(Uuid::new_v4()),
            case: CaseId(Uuid::new_v4()),
            task: Some(TaskId(Uuid::new_v4())),
            attachment: Some(AttachmentId(Uuid::new_v4())),
        }
    }
}

pub(super) struct World {
    pub(super) app: TestApp,
    pub(super) tokens: BTreeMap<(Rel, Role), String>,
    pub(super) sessions: BTreeMap<(Rel, Role), String>,
    pub(super) bad: BTreeMap<Cred, (&'static str, String)>,
    sender: Principal,
    receiver: Principal,
    /// One referral per state, never changed by the cases.
    pub(super) shared: BTreeMap<State, Fixture>,
    /// Archived referrals for the successes that change one (the retention job archives
    /// them all at once, before anything else exists).
    pub(super) archived: Vec<Fixture>,
    /// A user of the sending organisation whom nobody may manage successfully in a shared
    /// case (successes get a fresh one).
    pub(super) target: String,
    fresh_users: u32,
}

impl World {
    /// The world, with `archived_spares` archived referrals besides the shared one.
    pub(super) async fn new(app: TestApp, archived_spares: usize) -> World {
        // A hospital and a prosecutor's office, so that the 226-14 3° path exists between
        // them; consent-based referrals go the same way.
        for (slug, kind) in [
            (org_of(Rel::Sending), OrgKind::Hospital),
            (org_of(Rel::Receiving), OrgKind::Prosecutor),
            (org_of(Rel::Unrelated), OrgKind::Association),
            (ONWARD, OrgKind::Court),
        ] {
            app.org(slug, kind).await;
        }
        let mut tokens = BTreeMap::new();
        for rel in RELS {
            for role in Role::ALL {
                let name = username(rel, *role);
                // The sending referrer is a health professional (226-14 3°).
                let hp = rel == Rel::Sending && *role == Referrer;
                app.user_with(&name, org_of(rel), *role, hp).await;
                tokens.insert((rel, *role), app.token(&name).await);
            }
        }
        let sender = app.principal(&tokens[&(Rel::Sending, Referrer)]).await;
        let receiver = app.principal(&tokens[&(Rel::Receiving, Recv)]).await;
        let mut w = World {
            app,
            tokens,
            sessions: BTreeMap::new(),
            bad: BTreeMap::new(),
            sender,
            receiver,
            shared: BTreeMap::new(),
            archived: Vec::new(),
            target: "m.target".into(),
            fresh_users: 0,
        };

        // Archived referrals first: accepted, then two hours without contact, then the
        // retention job with a one-hour archive period archives every one of them (and
        // nothing made afterwards).
        let mut archived = Vec::new();
        for i in 0..=archived_spares {
            let mut f = w.filed(filing_json()).await;
            if i == 0 {
                f.attachment = Some(w.thread(f.id).await);
            }
            w.accept(f.id).await;
            archived.push(f);
        }
        w.app.advance(time::Duration::hours(2));
        let policy = RetentionPolicy {
            archive_after: time::Duration::hours(1),
            shred_after: time::Duration::days(3 * 365),
        };
        let report = w
            .app
            .core
            .run_retention(&policy, &RequestCtx::default())
            .await
            .expect("retention");
        assert_eq!(
            (report.ran, report.archived as usize, report.shredded),
            (true, archived.len(), 0),
            "the retention job archives the referrals made for it"
        );
        w.shared.insert(Archived, archived.remove(0));
        w.archived = archived;

        for rel in RELS {
            for role in Role::ALL {
                let name = username(rel, *role);
                let session = w.app.web_session(&name).await;
                w.sessions.insert((rel, *role), session);
            }
        }
        w.bad = bad_credentials(&w.app).await;
        w.app.user("m.target", org_of(Rel::Sending), Referrer).await;
        for s in STATES {
            if !matches!(s, Missing | Archived) {
                let f = w.fixture(s, true).await;
                w.shared.insert(s, f);
            }
        }
        w
    }

    /// Files `filing` as the sending referrer.
    async fn filed(&self, filing: Value) -> Fixture {
        let req: FilingRequest = serde_json::from_value(filing).expect("filing");
        let meta = self
            .app
            .core
            .file_referral(&self.sender, req, &RequestCtx::default())
            .await
            .expect("file");
        let task = self
            .app
            .store
            .tasks_of(meta.id)
            .await
            .expect("tasks")
            .first()
            .map(|t| t.id);
        Fixture {
            id: meta.id,
            case: meta.case_id,
            task,
            attachment: None,
        }
    }

    async fn accept(&self, id: ReferralId) {
        self.app
            .core
            .accept(&self.receiver, id, &RequestCtx::default())
            .await
            .expect("accept");
    }

    /// A message and an attachment from the sender, through the routes; the attachment.
    async fn thread(&self, id: ReferralId) -> AttachmentId {
        let auth = bearer(&self.tokens[&(Rel::Sending, Referrer)]);
        let m = self
            .app
            .send(
                "POST",
                &format!("/api/v1/referrals/{id}/messages"),
                std::slice::from_ref(&auth),
                Payload::Json(json!({ "body": MESSAGE })),
            )
            .await;
        assert_eq!(m.status, 201, "message: {}", m.text());
        let (headers, bytes) = attachment(auth, ATTACHMENT.as_bytes(), FILENAME);
        let a = self
            .app
            .send(
                "POST",
                &format!("/api/v1/referrals/{id}/attachments"),
                &headers,
                Payload::Bytes(bytes),
            )
            .await;
        assert_eq!(a.status, 201, "attachment: {}", a.text());
        a.json()["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .map(AttachmentId)
            .expect("attachment id")
    }

    /// Withdraws the case's consent through the route, as the sender; checks the answer
    /// against the withdrawal table for the one referral of the case.
    async fn withdraw(&self, f: &Fixture, before: &str, content: &str) {
        let w = self
            .app
            .send(
                "POST",
                &format!("/api/v1/cases/{}/consent/withdraw", f.case),
                &[bearer(&self.tokens[&(Rel::Sending, Referrer)])],
                Payload::Json(json!({ "note": "Retrait par téléphone" })),
            )
            .await;
        assert_eq!(w.status, 200, "withdrawal: {}", w.text());
        let r = &w.json()["referrals"][0];
        assert_eq!(r["id"], f.id.to_string());
        assert_eq!(r["previous_status"], before);
        assert_eq!(r["status"], "withdrawn");
        assert_eq!(r["content"], content, "the withdrawal table");
    }

    /// A referral brought to `state` (an archived one is taken from those made at the
    /// start), with a message and an attachment when `thread`.
    pub(super) async fn fixture(&mut self, state: State, thread: bool) -> Fixture {
        if state == Archived {
            return self
                .archived
                .pop()
                .expect("an archived referral made at the start for this success");
        }
        let core = &self.app.core;
        let ctx = RequestCtx::default();
        let filing = if state == Report {
            report_json()
        } else {
            filing_json()
        };
        let mut f = self.filed(filing).await;
        if thread {
            f.attachment = Some(self.thread(f.id).await);
        }
        let (id, r) = (f.id, &self.receiver);
        match state {
            Sent | Missing | Archived => {}
            Acknowledged => {
                core.open_referral(r, id, &ctx).await.expect("open");
            }
            Accepted | Closed | Withdrawn | Report => self.accept(id).await,
            Declined => {
                let d: DeclineRequest =
                    serde_json::from_value(json!({"reason": "complet"})).expect("decline");
                core.decline(r, id, d, &ctx).await.expect("decline");
            }
            Destroyed => self.withdraw(&f, "sent", "destroyed").await,
        }
        match state {
            Closed => {
                let c = CloseRequest {
                    outcome: CloseOutcome::GotHelp,
                };
                core.close(r, id, c, &ctx).await.expect("close");
            }
            Withdrawn => self.withdraw(&f, "accepted", "kept").await,
            _ => {}
        }
        f
    }

    pub(super) async fn fresh_target(&mut self) -> String {
        self.fresh_users += 1;
        let name = format!("m.target{}", self.fresh_users);
        self.app.user(&name, org_of(Rel::Sending), Referrer).await;
        name
    }
}

/// Every kind of bad credential, made through the product's own paths.
async fn bad_credentials(app: &TestApp) -> BTreeMap<Cred, (&'static str, String)> {
    let ctx = RequestCtx::default();
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
            &ctx,
        )
        .await
        .expect("short token");
    bad.insert(Cred::ExpiredToken, bearer(&expired.token));
    let revoked = app
        .core
        .issue_token(&username(Rel::Receiving, Recv), None, &ctx)
        .await
        .expect("token");
    app.core
        .revoke_token(revoked.id, &ctx)
        .await
        .expect("revoke");
    bad.insert(Cred::RevokedToken, bearer(&revoked.token));
    app.user("m.gone", org_of(Rel::Receiving), Recv).await;
    let gone = app.token("m.gone").await;
    app.core
        .disable_user("m.gone", &ctx)
        .await
        .expect("disable");
    bad.insert(Cred::DisabledUserToken, bearer(&gone));
    bad.insert(
        Cred::ForgedSession,
        session_header(&passerelle_core::new_secret().expect("secret")),
    );
    app.user("m.left", org_of(Rel::Receiving), Recv).await;
    let left = app.web_session("m.left").await;
    app.core.logout(&left, &ctx).await.expect("logout");
    bad.insert(Cred::EndedSession, session_header(&left));
    // Past the short token's expiry (sessions stay well within 15 minutes idle).
    app.advance(time::Duration::minutes(2));
    bad
}

/// The headers and body of an attachment upload.
pub(super) fn attachment(
    auth: (&'static str, String),
    bytes: &[u8],
    filename: &str,
) -> (Vec<(&'static str, String)>, Vec<u8>) {
    (
        vec![
            auth,
            ("x-filename", enc(filename)),
            ("x-data-category", "narrative".into()),
        ],
        bytes.to_vec(),
    )
}
