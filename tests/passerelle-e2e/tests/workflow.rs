//! The referral workflow end to end, on both backends, against the real binary: the seed's
//! whole story (police → AVEC 63 → the VIF chamber, then the victim withdraws), forwards
//! and their consent rules, every row of the withdrawal table, the 226-14 3° path, the
//! danger grid and overdue lists, retention (archive then shred, by `passerelle retention
//! run` on referrals made old in the database), and content-free notices e-mailed to a
//! real SMTP server on loopback (Python's aiosmtpd).
//!
//! Nothing sleeps: e-mails are awaited on the SMTP server's output with a bound.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine;
use passerelle_domain::audit::AuditLeaf;
use passerelle_domain::enums::ConsentBasis;
use passerelle_e2e::{Answer, Backend, Body, Db, Deployment, Server, all_bytes, contains, problem};
use serde_json::{Value, json};

const NAME: &str = "Maëlys Ravensworth-Ouedraogo";
const PHONE: &str = "+33 6 48 19 27 53";
const NARRATIVE: &str = "Quincaillerie incident relaté au commissariat";
const RISK: &str = "Menaces de mort réitérées";
const CODE_WORD: &str = "Coquelicot";
const NOTE: &str = "Audience fixée, merci de recevoir Madame";
const REASON: &str = "Réquisition du parquet pour la procédure";
const MESSAGE: &str = "Premier rendez-vous fixé jeudi, Madame viendra accompagnée";
const GRID_FILE: &[u8] = b"Grille d'evaluation du danger: 14 oui, 2 rouges (Ravensworth)";
const STORY_FILE: &[u8] = b"Recit integral de Madame Ravensworth, douze pages";

const ORGS: &[(&str, &str)] = &[
    ("commissariat-clermont", "police"),
    ("avec63", "association"),
    ("chambre-vif", "court"),
    ("cidff63", "association"),
    ("parquet-clermont", "prosecutor"),
    ("chu-urgences", "hospital"),
];

const USERS: &[(&str, &str, &str, bool)] = &[
    ("iscg.martin", "commissariat-clermont", "referrer", false),
    ("psy.bernard", "avec63", "receiver", false),
    ("asso.ref", "avec63", "referrer", false),
    ("coord.avec", "avec63", "coordinator", false),
    ("greffe.vif", "chambre-vif", "receiver", false),
    ("juriste.cidff", "cidff63", "receiver", false),
    ("parquet.vif", "parquet-clermont", "receiver", false),
    ("dr.urgences", "chu-urgences", "referrer", true),
    ("as.urgences", "chu-urgences", "referrer", false),
];

struct E {
    d: Deployment,
    s: Server,
    t: HashMap<&'static str, String>,
    smtp: Option<Smtp>,
}

impl E {
    fn tok(&self, user: &str) -> &str {
        self.t.get(user).map(String::as_str).expect("a token")
    }

    async fn call(&self, method: &str, path: &str, user: &str, body: Option<Value>) -> Answer {
        self.s
            .call(method, path, Some(self.tok(user)), body.map(Body::Json))
            .await
    }

    async fn file(&self, user: &str, body: Value) -> Answer {
        self.call("POST", "/api/v1/referrals", user, Some(body))
            .await
    }

    async fn filed(&self, user: &str, body: Value) -> Value {
        let a = self.file(user, body).await;
        assert_eq!(a.status, 201, "{:?}", a.json);
        a.json
    }

    async fn get(&self, id: &str, user: &str) -> Answer {
        self.call("GET", &format!("/api/v1/referrals/{id}"), user, None)
            .await
    }

    async fn post(&self, id: &str, verb: &str, user: &str, body: Option<Value>) -> Answer {
        self.call(
            "POST",
            &format!("/api/v1/referrals/{id}/{verb}"),
            user,
            body,
        )
        .await
    }

    async fn ok(&self, id: &str, verb: &str, user: &str, body: Option<Value>) -> Value {
        let a = self.post(id, verb, user, body).await;
        assert!(a.status == 200 || a.status == 201, "{verb}: {:?}", a.json);
        a.json
    }

    async fn forward(&self, id: &str, user: &str, body: Value) -> Answer {
        self.post(id, "forward", user, Some(body)).await
    }

    /// Files police → AVEC 63, opened and accepted by the psychologist.
    async fn accepted(&self, body: Value) -> Value {
        let r = self.filed("iscg.martin", body).await;
        let id = r["id"].as_str().expect("id");
        assert_eq!(self.get(id, "psy.bernard").await.status, 200);
        self.ok(id, "accept", "psy.bernard", None).await;
        r
    }

    /// Uploads an attachment; the answer.
    async fn upload(&self, id: &str, user: &str, name: &str, cat: &str, bytes: &[u8]) -> Answer {
        let res = self
            .s
            .client
            .post(format!("{}/api/v1/referrals/{id}/attachments", self.s.base))
            .bearer_auth(self.tok(user))
            .header("x-filename", name)
            .header("x-data-category", cat)
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .expect("upload sent");
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let headers = res.headers().clone();
        let json = serde_json::from_slice(&res.bytes().await.expect("body")).unwrap_or(Value::Null);
        Answer {
            status,
            content_type,
            json,
            headers,
        }
    }

    /// Downloads an attachment's bytes.
    async fn download(&self, id: &str, aid: &str, user: &str) -> (u16, Vec<u8>) {
        let res = self
            .s
            .client
            .get(format!(
                "{}/api/v1/referrals/{id}/attachments/{aid}",
                self.s.base
            ))
            .bearer_auth(self.tok(user))
            .send()
            .await
            .expect("download sent");
        let status = res.status().as_u16();
        (status, res.bytes().await.expect("body").to_vec())
    }

    /// Runs one SQL statement on the deployment's database; its text output.
    fn sql(&self, q: &str) -> String {
        Db::of(&self.d).sql(q).trim().to_owned()
    }

    fn id(&self, uuid: &str) -> String {
        match self.d.backend {
            Backend::Sqlite => format!("X'{}'", uuid.replace('-', "")),
            Backend::Postgres { .. } => format!("'{uuid}'"),
        }
    }

    /// A time literal for SQL, `days` days from now.
    fn days_from_now(&self, days: i64) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        let t = now + days * 86_400;
        match self.d.backend {
            Backend::Sqlite => format!("{}", t * 1_000_000),
            Backend::Postgres { .. } => format!("to_timestamp({t})"),
        }
    }

    /// The decoded audit leaves of `action` on target `target`.
    fn leaves(&self, action: &str, target: &str) -> Vec<AuditLeaf> {
        let q = format!(
            "SELECT {} FROM audit_leaves WHERE action = '{action}' AND target = '{target}' ORDER BY seq",
            Db::of(&self.d).hex("bytes")
        );
        self.sql(&q)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| AuditLeaf::decode(&hex::decode(l).expect("hex")).expect("a leaf"))
            .collect()
    }
}

fn filing(to: &str, recipients: &[&str], cats: &[&str]) -> Value {
    let mut v = json!({
        "to_org": to,
        "purpose": "psychological_support",
        "urgency": "normal",
        "consent": {
            "basis": "consent", "method": "written", "obtained_at": "2026-11-29T10:00:00Z",
            "recipients": recipients,
            "purposes": ["psychological_support", "court_proceedings", "legal_information"],
            "data_categories": cats,
            "expires_at": "2099-11-29T00:00:00Z"
        },
        "safety": { "channel": "sms", "hours": "9h-12h en semaine", "voicemail_ok": false,
                    "may_name_org": false, "code_word": CODE_WORD, "do_not_contact": false },
        "subject": {},
        "notes": {}
    });
    for c in cats {
        match *c {
            "identity" => {
                v["subject"]["name"] = json!(NAME);
                v["subject"]["birth_date"] = json!("1990-04-02");
            }
            "contact" => v["subject"]["phone"] = json!(PHONE),
            "narrative" => v["notes"]["narrative"] = json!(NARRATIVE),
            "risk" => {
                v["notes"]["risk"] = json!(RISK);
                v["danger_grid"] = json!({ "yes_answers": 3, "red_answers": 1 });
            }
            _ => {}
        }
    }
    v
}

const ALL: &[&str] = &["identity", "contact", "narrative", "risk"];

fn fwd(to: &str, cats: &[&str]) -> Value {
    json!({ "to_org": to, "purpose": "court_proceedings", "data_categories": cats, "note": NOTE })
}

// ---------------------------------------------------------------------------------------
// A real SMTP server on loopback
// ---------------------------------------------------------------------------------------

const SMTP_SERVER: &str = r#"
import base64, json, socket, sys
from aiosmtpd.controller import Controller
class Handler:
    async def handle_DATA(self, server, session, envelope):
        print(json.dumps({"to": envelope.rcpt_tos, "from": envelope.mail_from,
                          "data": base64.b64encode(envelope.content).decode()}), flush=True)
        return "250 OK"
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
c = Controller(Handler(), hostname="127.0.0.1", port=port)
c.start()
print("READY", port, flush=True)
sys.stdin.read()
c.stop()
"#;

/// aiosmtpd on a free loopback port; every message it receives arrives on `mails`.
struct Smtp {
    child: Child,
    port: u16,
    mails: mpsc::Receiver<(Vec<String>, String)>,
}

impl Smtp {
    fn start() -> Option<Smtp> {
        let spawned = Command::new("python3")
            .args(["-c", SMTP_SERVER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => return Smtp::unavailable(&e.to_string()),
        };
        let stdout = child.stdout.take().expect("stdout");
        let (ready_tx, ready_rx) = mpsc::channel();
        let (mail_tx, mail_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line.strip_prefix("READY ") {
                    let _ = ready_tx.send(port.trim().parse::<u16>().ok());
                } else if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let to = v["to"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default();
                    let data = base64::engine::general_purpose::STANDARD
                        .decode(v["data"].as_str().unwrap_or(""))
                        .unwrap_or_default();
                    let _ = mail_tx.send((to, String::from_utf8_lossy(&data).into_owned()));
                }
            }
        });
        match ready_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(port)) => Some(Smtp {
                child,
                port,
                mails: mail_rx,
            }),
            _ => {
                let _ = child.kill();
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                Smtp::unavailable(&err)
            }
        }
    }

    fn unavailable(why: &str) -> Option<Smtp> {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("aiosmtpd is required in CI (pip install aiosmtpd): {why}");
        }
        eprintln!("skipped e-mail checks: no aiosmtpd ({why})");
        None
    }

    /// The next message to `to`, within a minute.
    fn next_to(&self, to: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.mails.recv_timeout(left) {
                Ok((rcpt, data)) if rcpt.iter().any(|r| r == to) => return data,
                Ok(_) => continue,
                Err(_) => panic!("no e-mail to {to} within a minute"),
            }
        }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------

async fn setup(backend: Backend) -> E {
    let d = Deployment::new(backend);
    d.ok(&["init"]);
    for (slug, kind) in ORGS {
        d.ok(&["org", "add", slug, "--name", slug, "--kind", kind]);
    }
    for (user, org, role, hp) in USERS {
        let mut args = vec!["user", "add", user, "--org", org, "--role", role];
        if *hp {
            args.push("--health-professional");
        }
        d.ok(&args);
    }
    let bad = d.run(
        &["org", "set-email", "avec63", "a@b.fr\r\nBcc: x@y.fr"],
        None,
    );
    assert!(!bad.status.success(), "header injection refused");
    let unknown = d.run(&["org", "set-email", "nowhere", "a@b.fr"], None);
    assert!(!unknown.status.success());
    d.ok(&["org", "set-email", "avec63", "accueil@avec63.example.org"]);
    d.ok(&[
        "org",
        "set-email",
        "chambre-vif",
        "greffe@chambre-vif.example.org",
    ]);
    let mut t = HashMap::new();
    for (user, ..) in USERS {
        t.insert(*user, d.token(user));
    }
    let smtp = Smtp::start();
    let s = match &smtp {
        Some(m) => {
            let url = format!("smtp://127.0.0.1:{}", m.port);
            d.serve_with(&[
                ("PASSERELLE_SMTP_URL", url.as_str()),
                ("PASSERELLE_SMTP_FROM", "passerelle@puy-de-dome.example.org"),
            ])
        }
        None => d.serve(),
    };
    E { d, s, t, smtp }
}

// ---------------------------------------------------------------------------------------
// The seed's story
// ---------------------------------------------------------------------------------------

async fn story(e: &E) {
    // The police social worker files to AVEC 63, consent covering the VIF chamber.
    let r = e
        .filed(
            "iscg.martin",
            filing("avec63", &["avec63", "chambre-vif"], ALL),
        )
        .await;
    let id = r["id"].as_str().expect("id").to_owned();
    let case = r["case_id"].as_str().expect("case").to_owned();
    // AVEC 63 is notified, without content; and by e-mail.
    let n = e
        .call("GET", "/api/v1/notifications", "psy.bernard", None)
        .await;
    assert_eq!(n.status, 200, "{:?}", n.json);
    let first = &n.json["items"][0];
    assert_eq!(first["kind"], "referral.waiting");
    assert_eq!(first["referral_id"], id.as_str());
    assert_eq!(
        first.as_object().map(|o| o.len()),
        Some(5),
        "id, kind, referral_id, case_id, created_at: nothing else"
    );
    if let Some(m) = &e.smtp {
        let mail = m.next_to("accueil@avec63.example.org");
        assert!(mail.contains("Passerelle"), "{mail}");
        for secret in [
            NAME,
            PHONE,
            NARRATIVE,
            CODE_WORD,
            &id,
            &case,
            r["reference"].as_str().expect("reference"),
            "commissariat",
            "psychological",
        ] {
            assert!(!mail.contains(secret), "the e-mail reveals {secret:?}");
        }
    }
    // Another organisation's list does not show it; no token, no list; auditors never.
    let other = e
        .call("GET", "/api/v1/notifications", "parquet.vif", None)
        .await;
    assert!(
        !other.json["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|i| i["referral_id"] == id.as_str())
    );
    problem(
        &e.s.call("GET", "/api/v1/notifications", None, None).await,
        401,
        "unauthorized",
    );

    // The psychologist opens, accepts, and forwards to the chamber with fewer categories.
    let open = e.get(&id, "psy.bernard").await;
    assert_eq!(open.json["subject"]["phone"], PHONE);
    e.ok(&id, "accept", "psy.bernard", None).await;
    // She replies in the thread; the police attaches the danger grid, she the narrative.
    let before = e.sql(&format!(
        "SELECT last_contact_at FROM referrals WHERE id = {}",
        e.id(&id)
    ));
    let m = e
        .post(
            &id,
            "messages",
            "psy.bernard",
            Some(json!({ "body": MESSAGE })),
        )
        .await;
    assert_eq!(m.status, 201, "{:?}", m.json);
    let after = e.sql(&format!(
        "SELECT last_contact_at FROM referrals WHERE id = {}",
        e.id(&id)
    ));
    assert_ne!(before, after, "a message is a contact (retention clock)");
    let grid = e
        .upload(&id, "iscg.martin", "grille-danger.pdf", "risk", GRID_FILE)
        .await;
    assert_eq!(grid.status, 201, "{:?}", grid.json);
    let story_file = e
        .upload(&id, "psy.bernard", "recit.txt", "narrative", STORY_FILE)
        .await;
    assert_eq!(story_file.status, 201, "{:?}", story_file.json);
    let f = e
        .forward(
            &id,
            "psy.bernard",
            fwd("chambre-vif", &["identity", "risk"]),
        )
        .await;
    assert_eq!(f.status, 201, "{:?}", f.json);
    let fid = f.json["id"].as_str().expect("id").to_owned();
    assert_eq!(f.json["case_id"], case.as_str());
    assert_eq!(f.json["parent_id"], id.as_str());
    assert_eq!(f.json["from_org"], "avec63");
    assert_eq!(f.json["to_org"], "chambre-vif");
    assert_eq!(f.json["urgency"], r["urgency"], "inherited");
    assert_eq!(f.json["status"], "sent");
    if let Some(m) = &e.smtp {
        let mail = m.next_to("greffe@chambre-vif.example.org");
        assert!(!mail.contains(NAME) && !mail.contains(&fid));
    }

    // The chamber's clerk sees only those categories, the safety profile and the note.
    let clerk = e.get(&fid, "greffe.vif").await;
    assert_eq!(clerk.status, 200, "{:?}", clerk.json);
    let v = &clerk.json;
    assert_eq!(v["subject"]["name"], NAME);
    assert!(v["subject"].get("phone").is_none(), "contact not carried");
    assert!(
        v["notes"].get("narrative").is_none(),
        "narrative not carried"
    );
    assert_eq!(v["notes"]["risk"], RISK);
    assert_eq!(v["danger_grid"]["yes_answers"], 3);
    assert_eq!(v["safety"]["code_word"], CODE_WORD);
    assert_eq!(v["safety"]["channel"], "sms");
    assert_eq!(v["forward_note"], NOTE);
    assert_eq!(v["status"], "acknowledged");
    // Only the attachments of the forwarded categories, re-sealed; never the messages.
    let atts = v["attachments"].as_array().expect("attachments");
    assert_eq!(atts.len(), 1, "{atts:?}");
    assert_eq!(atts[0]["filename"], "grille-danger.pdf");
    assert_eq!(atts[0]["category"], "risk");
    assert_eq!(atts[0]["sha256"], grid.json["sha256"]);
    assert_ne!(atts[0]["id"], grid.json["id"], "a copy of its own");
    let (status, bytes) = e
        .download(&fid, atts[0]["id"].as_str().expect("aid"), "greffe.vif")
        .await;
    assert_eq!(status, 200);
    assert_eq!(bytes, GRID_FILE);
    let thread = e
        .call(
            "GET",
            &format!("/api/v1/referrals/{fid}/messages"),
            "greffe.vif",
            None,
        )
        .await;
    assert_eq!(thread.status, 200, "{:?}", thread.json);
    assert_eq!(thread.json["items"].as_array().map(Vec::len), Some(0));
    // The parent's attachments stay the parent's: 404 through the forward.
    let (status, _) = e
        .download(&fid, grid.json["id"].as_str().expect("aid"), "greffe.vif")
        .await;
    assert_eq!(status, 404);
    // The police never sees the forward: not party.
    problem(&e.get(&fid, "iscg.martin").await, 404, "not-found");

    // The victim withdraws (through the psychologist); nothing more can be forwarded.
    let w = e
        .call(
            "POST",
            &format!("/api/v1/cases/{case}/consent/withdraw"),
            "psy.bernard",
            Some(json!({ "note": "Madame retire son consentement par téléphone" })),
        )
        .await;
    assert_eq!(w.status, 200, "{:?}", w.json);
    problem(
        &e.forward(&id, "psy.bernard", fwd("chambre-vif", &["identity"]))
            .await,
        422,
        "consent-withdrawn",
    );
    problem(
        &e.post(
            &id,
            "messages",
            "psy.bernard",
            Some(json!({ "body": "Encore un mot" })),
        )
        .await,
        422,
        "consent-withdrawn",
    );
    problem(
        &e.upload(&id, "iscg.martin", "autre.pdf", "risk", b"x")
            .await,
        422,
        "consent-withdrawn",
    );
    // The chamber's opened copy stays readable by both organisations until retention.
    let after = e.get(&fid, "greffe.vif").await;
    assert_eq!(after.status, 200);
    assert_eq!(after.json["status"], "withdrawn");
    assert_eq!(e.get(&fid, "psy.bernard").await.status, 200);
    // Both organisations learn of it, without content, also by e-mail.
    let n = e
        .call("GET", "/api/v1/notifications", "greffe.vif", None)
        .await;
    assert_eq!(n.json["items"][0]["kind"], "consent.withdrawn");
    assert_eq!(n.json["items"][0]["case_id"], case.as_str());
    if let Some(m) = &e.smtp {
        let mail = m.next_to("accueil@avec63.example.org");
        assert!(!mail.contains(&case) && !mail.contains("retire"));
    }
}

// ---------------------------------------------------------------------------------------
// Forwards
// ---------------------------------------------------------------------------------------

async fn forwards(e: &E) {
    let r = e
        .accepted(filing(
            "avec63",
            &["avec63", "chambre-vif"],
            &["identity", "risk"],
        ))
        .await;
    let id = r["id"].as_str().expect("id");
    // Outside the consent: recipient, purpose, category.
    problem(
        &e.forward(id, "psy.bernard", fwd("cidff63", &["identity"]))
            .await,
        422,
        "consent-recipient",
    );
    let mut purpose = fwd("chambre-vif", &["identity"]);
    purpose["purpose"] = json!("shelter");
    problem(
        &e.forward(id, "psy.bernard", purpose).await,
        422,
        "consent-purpose",
    );
    problem(
        &e.forward(id, "psy.bernard", fwd("chambre-vif", &["narrative"]))
            .await,
        422,
        "consent-category",
    );
    problem(
        &e.forward(id, "psy.bernard", fwd("nowhere-63", &["identity"]))
            .await,
        422,
        "unknown-organisation",
    );
    // Urgency: inherited unless raised, never lowered.
    assert_eq!(r["urgency"], "normal");
    let mut high = fwd("chambre-vif", &["identity"]);
    high["urgency"] = json!("high");
    let raised = e.forward(id, "psy.bernard", high).await;
    assert_eq!(raised.status, 201, "{:?}", raised.json);
    assert_eq!(raised.json["urgency"], "high");
    let hid = raised.json["id"].as_str().expect("id");
    e.get(hid, "greffe.vif").await;
    e.ok(hid, "accept", "greffe.vif", None).await;
    let mut lower = fwd("avec63", &["identity"]);
    lower["urgency"] = json!("normal");
    lower["purpose"] = json!("psychological_support");
    problem(
        &e.forward(hid, "greffe.vif", lower).await,
        422,
        "urgency-lowered",
    );
    // Who: the sender is on the wrong side, others are not party, coordinators never.
    problem(
        &e.forward(id, "iscg.martin", fwd("chambre-vif", &["identity"]))
            .await,
        403,
        "forbidden",
    );
    problem(
        &e.forward(id, "juriste.cidff", fwd("chambre-vif", &["identity"]))
            .await,
        404,
        "not-found",
    );
    problem(
        &e.forward(id, "coord.avec", fwd("chambre-vif", &["identity"]))
            .await,
        403,
        "forbidden",
    );
    // Only an accepted referral: a fresh one is a state conflict.
    let fresh = e
        .filed(
            "iscg.martin",
            filing("avec63", &["avec63", "chambre-vif"], &["identity"]),
        )
        .await;
    problem(
        &e.forward(
            fresh["id"].as_str().expect("id"),
            "psy.bernard",
            fwd("chambre-vif", &["identity"]),
        )
        .await,
        409,
        "conflict",
    );
    // Missing field: 400.
    problem(
        &e.forward(id, "psy.bernard", json!({ "to_org": "chambre-vif" }))
            .await,
        400,
        "bad-request",
    );
    // After expiry: 422, no state changes, nothing destroyed.
    let case = r["case_id"].as_str().expect("case");
    e.sql(&format!(
        "UPDATE cases SET terms = replace(terms, '2099-11-29T00:00:00Z', '2020-01-01T00:00:00Z') WHERE id = {}",
        e.id(case)
    ));
    problem(
        &e.forward(id, "psy.bernard", fwd("chambre-vif", &["identity"]))
            .await,
        422,
        "consent-expired",
    );
    let still = e.get(id, "psy.bernard").await;
    assert_eq!(still.status, 200);
    assert_eq!(still.json["status"], "accepted");
    assert_eq!(still.json["subject"]["name"], NAME);

    // Decline with a suggestion: re-consent needed outside the consent, not inside.
    let a = e
        .filed(
            "iscg.martin",
            filing("avec63", &["avec63", "chambre-vif"], &["identity"]),
        )
        .await;
    let d = e
        .ok(
            a["id"].as_str().expect("id"),
            "decline",
            "psy.bernard",
            Some(json!({ "reason": "Hors de notre secteur", "suggested_org": "cidff63" })),
        )
        .await;
    assert_eq!(d["status"], "declined");
    assert_eq!(d["reconsent_needed"], true);
    let b = e
        .filed(
            "iscg.martin",
            filing("avec63", &["avec63", "chambre-vif"], &["identity"]),
        )
        .await;
    let d = e
        .ok(
            b["id"].as_str().expect("id"),
            "decline",
            "psy.bernard",
            Some(json!({ "reason": "Complet", "suggested_org": "chambre-vif" })),
        )
        .await;
    assert_eq!(d["reconsent_needed"], false);
}

// ---------------------------------------------------------------------------------------
// The withdrawal table
// ---------------------------------------------------------------------------------------

async fn withdrawal_table(e: &E) {
    let rec = ["avec63", "chambre-vif", "cidff63"];
    let root = e
        .accepted(filing("avec63", &rec, &["identity", "risk"]))
        .await;
    let id = root["id"].as_str().expect("id").to_owned();
    let case = root["case_id"].as_str().expect("case").to_owned();
    let make = |to: &'static str| {
        let id = id.clone();
        async move {
            let a = e.forward(&id, "psy.bernard", fwd(to, &["identity"])).await;
            assert_eq!(a.status, 201, "{:?}", a.json);
            a.json["id"].as_str().expect("id").to_owned()
        }
    };
    let sent = make("chambre-vif").await;
    let acknowledged = make("chambre-vif").await;
    let accepted = make("cidff63").await;
    let declined = make("cidff63").await;
    let closed = make("cidff63").await;
    e.get(&acknowledged, "greffe.vif").await;
    e.ok(&accepted, "accept", "juriste.cidff", None).await;
    e.ok(
        &declined,
        "decline",
        "juriste.cidff",
        Some(json!({ "reason": "Pas de juriste disponible" })),
    )
    .await;
    e.ok(&closed, "accept", "juriste.cidff", None).await;
    e.ok(
        &closed,
        "close",
        "juriste.cidff",
        Some(json!({ "outcome": "got_help" })),
    )
    .await;

    let path = format!("/api/v1/cases/{case}/consent/withdraw");
    let body = json!({ "note": "Retrait exprimé lors de l'entretien" });
    // Who may: not a coordinator (403), not an organisation outside the case (404), not
    // without a note (400).
    problem(
        &e.call("POST", &path, "coord.avec", Some(body.clone()))
            .await,
        403,
        "forbidden",
    );
    problem(
        &e.call("POST", &path, "parquet.vif", Some(body.clone()))
            .await,
        404,
        "not-found",
    );
    problem(
        &e.call(
            "POST",
            &format!("/api/v1/cases/{}/consent/withdraw", uuid::Uuid::new_v4()),
            "psy.bernard",
            Some(body.clone()),
        )
        .await,
        404,
        "not-found",
    );
    problem(
        &e.call("POST", &path, "psy.bernard", Some(json!({}))).await,
        400,
        "bad-request",
    );
    // The court's clerk, party through a forward only, may withdraw for the whole case.
    let w = e
        .call("POST", &path, "greffe.vif", Some(body.clone()))
        .await;
    assert_eq!(w.status, 200, "{:?}", w.json);
    let rows: HashMap<String, (String, String, String)> = w.json["referrals"]
        .as_array()
        .expect("referrals")
        .iter()
        .map(|r| {
            (
                r["id"].as_str().expect("id").to_owned(),
                (
                    r["previous_status"].as_str().expect("prev").to_owned(),
                    r["status"].as_str().expect("status").to_owned(),
                    r["content"].as_str().expect("content").to_owned(),
                ),
            )
        })
        .collect();
    let row = |id: &str| rows.get(id).cloned().expect("listed");
    let t = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
    assert_eq!(row(&sent), t("sent", "withdrawn", "destroyed"));
    assert_eq!(row(&acknowledged), t("acknowledged", "withdrawn", "kept"));
    assert_eq!(row(&accepted), t("accepted", "withdrawn", "kept"));
    assert_eq!(row(&id), t("accepted", "withdrawn", "kept"));
    assert_eq!(row(&declined), t("declined", "declined", "kept"));
    assert_eq!(row(&closed), t("closed", "closed", "kept"));

    // sent → destroyed: nobody reads it (410), and nothing can be done with it.
    problem(&e.get(&sent, "greffe.vif").await, 410, "gone");
    problem(&e.get(&sent, "psy.bernard").await, 410, "gone");
    problem(
        &e.post(&sent, "accept", "greffe.vif", None).await,
        410,
        "gone",
    );
    let leaves = e.leaves("content.shredded", &sent);
    assert_eq!(leaves.len(), 1, "the destruction is on the log");
    assert_eq!(
        e.sql(&format!(
            "SELECT length(content) FROM referrals WHERE id = {}",
            e.id(&sent)
        )),
        "0"
    );
    // acknowledged / accepted → withdrawn, readable by both organisations.
    for (rid, receiver) in [
        (&acknowledged, "greffe.vif"),
        (&accepted, "juriste.cidff"),
        (&id, "psy.bernard"),
    ] {
        let a = e.get(rid, receiver).await;
        assert_eq!(a.status, 200, "{:?}", a.json);
        assert_eq!(a.json["status"], "withdrawn");
        assert_eq!(a.json["subject"]["name"], NAME);
    }
    assert_eq!(e.get(&acknowledged, "psy.bernard").await.status, 200);
    assert_eq!(e.get(&id, "iscg.martin").await.status, 200);
    // declined / closed: unchanged, readable.
    assert_eq!(
        e.get(&declined, "juriste.cidff").await.json["status"],
        "declined"
    );
    assert_eq!(e.get(&closed, "psy.bernard").await.json["status"], "closed");
    // Afterwards: forwards are refused as withdrawn (422), not as a state conflict (409).
    for (rid, who) in [(&id, "psy.bernard"), (&accepted, "juriste.cidff")] {
        problem(
            &e.forward(rid, who, fwd("chambre-vif", &["identity"])).await,
            422,
            "consent-withdrawn",
        );
    }
    // Every organisation involved is notified.
    for user in ["iscg.martin", "psy.bernard", "greffe.vif", "juriste.cidff"] {
        let n = e.call("GET", "/api/v1/notifications", user, None).await;
        let items = n.json["items"].as_array().expect("items");
        assert!(
            items
                .iter()
                .any(|i| i["kind"] == "consent.withdrawn" && i["case_id"] == case.as_str()),
            "{user} was not notified"
        );
    }
    let n = e
        .call("GET", "/api/v1/notifications", "parquet.vif", None)
        .await;
    assert!(
        !n.json["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|i| i["case_id"] == case.as_str()),
        "an organisation outside the case learns nothing"
    );
    // Withdrawing again changes nothing.
    let again = e.call("POST", &path, "psy.bernard", Some(body)).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json["withdrawn_at"], w.json["withdrawn_at"]);
}

// ---------------------------------------------------------------------------------------
// Code pénal art. 226-14 3°
// ---------------------------------------------------------------------------------------

fn report(to: &str) -> Value {
    json!({
        "to_org": to,
        "purpose": "report_to_prosecutor",
        "urgency": "immediate",
        "consent": {
            "basis": "legal_exception_226_14", "method": "oral",
            "obtained_at": "2026-11-29T10:00:00Z",
            "recipients": [to], "purposes": ["report_to_prosecutor"],
            "data_categories": ["identity", "medical"],
            "expires_at": "2099-11-29T00:00:00Z",
            "legal_exception": {
                "immediate_danger": true, "emprise": true,
                "agreement_sought": "Entretien seule, proposition d'accompagnement refusée",
                "justification": "Strangulation, menaces de mort, emprise manifeste"
            }
        },
        "subject": { "name": NAME, "birth_date": "1990-04-02" },
        "safety": { "channel": "through_referrer", "do_not_contact": true },
        "notes": { "medical": "Traces de strangulation" }
    })
}

async fn legal_exception(e: &E) {
    // Who: only a health professional — not police, an association, a hospital social
    // worker.
    for user in ["iscg.martin", "asso.ref", "as.urgences"] {
        problem(
            &e.file(user, report("parquet-clermont")).await,
            422,
            "legal-exception",
        );
    }
    // To whom: the prosecutor only, never the court or an association.
    for to in ["chambre-vif", "avec63"] {
        problem(
            &e.file("dr.urgences", report(to)).await,
            422,
            "legal-exception",
        );
    }
    // About whom: an adult (a minor is another law: refused).
    let mut minor = report("parquet-clermont");
    minor["subject"]["birth_date"] = json!("2012-06-01");
    problem(&e.file("dr.urgences", minor).await, 422, "legal-exception");
    // The record: both conditions, both texts.
    for (field, value) in [
        ("immediate_danger", json!(false)),
        ("emprise", json!(false)),
        ("justification", json!("  ")),
        ("agreement_sought", json!("")),
    ] {
        let mut r = report("parquet-clermont");
        r["consent"]["legal_exception"][field] = value;
        problem(&e.file("dr.urgences", r).await, 422, "legal-exception");
    }
    let mut none = report("parquet-clermont");
    none["consent"]
        .as_object_mut()
        .expect("consent")
        .remove("legal_exception");
    problem(&e.file("dr.urgences", none).await, 422, "legal-exception");

    // Valid: filed, flagged in the log, with an open "inform the victim" task.
    let r = e.filed("dr.urgences", report("parquet-clermont")).await;
    let id = r["id"].as_str().expect("id");
    let case = r["case_id"].as_str().expect("case");
    let filed = e.leaves("referral.filed", id);
    assert_eq!(filed.len(), 1);
    assert_eq!(
        filed[0].legal_basis,
        Some(ConsentBasis::LegalException22614),
        "flagged in the audit log"
    );
    let view = e.get(id, "dr.urgences").await;
    assert_eq!(view.status, 200);
    let tasks = view.json["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["kind"], "inform_victim");
    assert_eq!(tasks[0]["status"], "open");
    let task = tasks[0]["id"].as_str().expect("task id");
    assert_eq!(
        view.json["consent"]["legal_exception"]["emprise"], true,
        "the record travels with the report"
    );

    // Not forwardable, whatever its state; no consent to withdraw.
    let p = e.get(id, "parquet.vif").await;
    assert_eq!(p.status, 200);
    problem(
        &e.forward(id, "parquet.vif", fwd("chambre-vif", &["identity"]))
            .await,
        422,
        "legal-exception",
    );
    e.ok(id, "accept", "parquet.vif", None).await;
    problem(
        &e.forward(id, "parquet.vif", fwd("chambre-vif", &["identity"]))
            .await,
        422,
        "legal-exception",
    );
    problem(
        &e.call(
            "POST",
            &format!("/api/v1/cases/{case}/consent/withdraw"),
            "dr.urgences",
            Some(json!({ "note": "x" })),
        )
        .await,
        422,
        "legal-exception",
    );

    // The task closes with a date and a channel, by the filing organisation only.
    let close = format!("tasks/{task}/close");
    let done = json!({ "done_at": r["created_at"], "channel": "in_person" });
    problem(
        &e.post(id, &close, "parquet.vif", Some(done.clone())).await,
        403,
        "forbidden",
    );
    problem(
        &e.post(id, &close, "iscg.martin", Some(done.clone())).await,
        404,
        "not-found",
    );
    problem(
        &e.post(
            id,
            &close,
            "dr.urgences",
            Some(json!({ "channel": "phone" })),
        )
        .await,
        400,
        "bad-request",
    );
    problem(
        &e.post(
            id,
            &close,
            "dr.urgences",
            Some(json!({ "done_at": r["created_at"] })),
        )
        .await,
        400,
        "bad-request",
    );
    problem(
        &e.post(
            id,
            &close,
            "dr.urgences",
            Some(json!({ "done_at": "2099-01-01T00:00:00Z", "channel": "phone" })),
        )
        .await,
        422,
        "task-done-at",
    );
    problem(
        &e.post(
            id,
            &format!("tasks/{}/close", uuid::Uuid::new_v4()),
            "dr.urgences",
            Some(done.clone()),
        )
        .await,
        404,
        "not-found",
    );
    let closed = e.ok(id, &close, "dr.urgences", Some(done.clone())).await;
    assert_eq!(closed["status"], "done");
    assert_eq!(closed["channel"], "in_person");
    problem(
        &e.post(id, &close, "dr.urgences", Some(done)).await,
        409,
        "conflict",
    );
    assert_eq!(e.leaves("task.closed", task).len(), 1);
    let view = e.get(id, "parquet.vif").await;
    assert_eq!(view.json["tasks"][0]["status"], "done");
}

// ---------------------------------------------------------------------------------------
// Urgency, the danger grid and overdue referrals
// ---------------------------------------------------------------------------------------

async fn urgency(e: &E) {
    let with = |urgency: &str, grid: Option<(u8, u8)>| {
        let mut f = filing("cidff63", &["cidff63"], &["identity", "risk"]);
        f["urgency"] = json!(urgency);
        f["consent"]["recipients"] = json!(["cidff63"]);
        match grid {
            Some((yes, red)) => {
                f["danger_grid"] = json!({ "yes_answers": yes, "red_answers": red })
            }
            None => {
                f.as_object_mut().expect("obj").remove("danger_grid");
            }
        }
        f
    };
    let cases = [
        ("normal", Some((12, 0)), "high"),
        ("normal", Some((0, 2)), "high"),
        ("normal", Some((11, 1)), "normal"),
        ("immediate", Some((12, 2)), "immediate"),
        ("high", None, "high"),
        ("normal", None, "normal"),
    ];
    let mut filed = Vec::new();
    for (asked, grid, want) in cases {
        let r = e.filed("iscg.martin", with(asked, grid)).await;
        assert_eq!(r["urgency"], want, "{asked} with {grid:?}");
        filed.push(r);
    }
    // The inbox is sorted by (due_at, id): immediate first, normal last.
    let inbox = e
        .call("GET", "/api/v1/referrals?box=inbox", "juriste.cidff", None)
        .await;
    let items = inbox.json["items"].as_array().expect("items");
    let keys: Vec<(String, String)> = items
        .iter()
        .map(|i| {
            (
                i["due_at"].as_str().expect("due").to_owned(),
                i["id"].as_str().expect("id").to_owned(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "(due_at, id) order");
    let mine: Vec<&str> = items
        .iter()
        .filter(|i| filed.iter().any(|f| f["id"] == i["id"]))
        .map(|i| i["urgency"].as_str().expect("urgency"))
        .collect();
    assert_eq!(mine.first(), Some(&"immediate"));
    assert_eq!(mine.last(), Some(&"normal"));

    // Overdue: sent and acknowledged referrals past their due time.
    let overdue = |a: &Answer| -> Vec<String> {
        a.json["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let ids: Vec<String> = filed
        .iter()
        .map(|f| f["id"].as_str().expect("id").to_owned())
        .collect();
    let none = e
        .call(
            "GET",
            "/api/v1/referrals?box=inbox&overdue=true",
            "juriste.cidff",
            None,
        )
        .await;
    assert!(overdue(&none).iter().all(|i| !ids.contains(i)));
    for id in &ids[..3] {
        e.sql(&format!(
            "UPDATE referrals SET due_at = {} WHERE id = {}",
            e.days_from_now(-1),
            e.id(id)
        ));
    }
    e.get(&ids[1], "juriste.cidff").await; // acknowledged: still overdue
    e.ok(&ids[2], "accept", "juriste.cidff", None).await; // accepted: no longer
    let late = e
        .call(
            "GET",
            "/api/v1/referrals?box=inbox&overdue=true",
            "juriste.cidff",
            None,
        )
        .await;
    let late: Vec<String> = overdue(&late)
        .into_iter()
        .filter(|i| ids.contains(i))
        .collect();
    let mut want = vec![ids[0].clone(), ids[1].clone()];
    want.sort();
    let mut got = late.clone();
    got.sort();
    assert_eq!(got, want);
}

// ---------------------------------------------------------------------------------------
// Retention: archive, then shred (on referrals made old in the database)
// ---------------------------------------------------------------------------------------

async fn retention(e: &E) {
    let old = e
        .accepted(filing("avec63", &["avec63"], &["identity", "narrative"]))
        .await;
    let id = old["id"].as_str().expect("id").to_owned();
    let young = e
        .accepted(filing("avec63", &["avec63"], &["identity"]))
        .await;
    let yid = young["id"].as_str().expect("id").to_owned();
    // A contact recorded by the holder; the sender cannot record one.
    let c = e.post(&yid, "contact", "psy.bernard", None).await;
    assert_eq!(c.status, 200, "{:?}", c.json);
    problem(
        &e.post(&yid, "contact", "iscg.martin", None).await,
        403,
        "forbidden",
    );
    assert_eq!(e.leaves("contact.recorded", &yid).len(), 1);

    // The last contact of `old` was 2 years and a day ago.
    e.sql(&format!(
        "UPDATE referrals SET last_contact_at = {} WHERE id = {}",
        e.days_from_now(-731),
        e.id(&id)
    ));
    let out = e.d.ok(&["retention", "run"]);
    assert!(out.contains("1 referral(s) archived, 0 destroyed"), "{out}");
    // Out of the boxes, 410 archived for the parties.
    let inbox = e
        .call(
            "GET",
            "/api/v1/referrals?box=inbox&limit=200",
            "psy.bernard",
            None,
        )
        .await;
    let listed: Vec<&str> = inbox.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert!(!listed.contains(&id.as_str()) && listed.contains(&yid.as_str()));
    problem(&e.get(&id, "psy.bernard").await, 410, "archived");
    problem(&e.get(&id, "iscg.martin").await, 410, "archived");
    assert_eq!(e.get(&yid, "psy.bernard").await.status, 200);
    // Readable only by the holding organisation's coordinator, with a stated reason (issue
    // #6 §5); the referrers and receivers of either party read it no more.
    let path = format!("/api/v1/referrals/{id}/archive/read");
    problem(
        &e.call("POST", &path, "coord.avec", Some(json!({ "reason": " " })))
            .await,
        400,
        "bad-request",
    );
    for party in ["psy.bernard", "iscg.martin"] {
        problem(
            &e.call("POST", &path, party, Some(json!({ "reason": REASON })))
                .await,
            403,
            "forbidden",
        );
    }
    let read = e
        .call(
            "POST",
            &path,
            "coord.avec",
            Some(json!({ "reason": REASON })),
        )
        .await;
    assert_eq!(read.status, 200, "{:?}", read.json);
    assert_eq!(read.json["subject"]["name"], NAME);
    let leaves = e.leaves("referral.archive_read", &id);
    assert_eq!(leaves.len(), 1);
    assert_eq!(
        leaves[0].actor.as_ref().map(|u| u.as_str()),
        Some("coord.avec")
    );
    assert_eq!(
        leaves[0].ciphertext_sha256.len(),
        1,
        "the sealed reason's digest"
    );
    assert_eq!(e.leaves("referral.archived", &id).len(), 1);

    // Three years later, its content is destroyed; metadata stays for the log.
    e.sql(&format!(
        "UPDATE referrals SET shred_due_at = {} WHERE id = {}",
        e.days_from_now(-1),
        e.id(&id)
    ));
    let out = e.d.ok(&["retention", "run"]);
    assert!(out.contains("0 referral(s) archived, 1 destroyed"), "{out}");
    problem(
        &e.call(
            "POST",
            &path,
            "coord.avec",
            Some(json!({ "reason": REASON })),
        )
        .await,
        410,
        "gone",
    );
    problem(&e.get(&id, "psy.bernard").await, 410, "gone");
    assert_eq!(e.leaves("content.shredded", &id).len(), 1);
    assert_eq!(
        e.sql(&format!(
            "SELECT status FROM referrals WHERE id = {}",
            e.id(&id)
        )),
        "accepted"
    );
}

async fn flow(backend: Backend) {
    let e = setup(backend).await;
    story(&e).await;
    forwards(&e).await;
    withdrawal_table(&e).await;
    legal_exception(&e).await;
    urgency(&e).await;
    retention(&e).await;

    let log = e.s.log();
    let E { d, s, smtp, .. } = e;
    assert!(s.stop().success());
    drop(smtp);
    let bytes = all_bytes(&d.data_dir());
    let dump = d.backend.dump();
    for needle in [
        NAME,
        PHONE,
        NARRATIVE,
        RISK,
        CODE_WORD,
        NOTE,
        REASON,
        "strangulation",
        "Retrait exprimé",
    ] {
        assert!(!contains(&bytes, needle), "{needle:?} in the data dir");
        assert!(!contains(&dump, needle), "{needle:?} in pg_dump");
        assert!(!contains(&log, needle), "{needle:?} in the log");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn workflow_on_sqlite() {
    flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn workflow_on_postgres() {
    if let Some(pg) = Backend::postgres() {
        flow(pg).await;
    }
}
