//! Key rotation while `serve` serves, and the full flow, as an operator and new users would
//! live it, on both backends:
//! - `keys rotate` and `keys rotate-org` run while other clients file and read: every
//!   request succeeds, every referral still opens afterwards (the server loads the master
//!   key version added after it started);
//! - each command killed midway (fault injection: the process aborts like `kill -9`), run
//!   again: it finishes, `keys status` shows nothing pending, everything opens;
//! - after attachments, messages, rotations and a shred, no victim string is in any byte
//!   of the data dir, of a `pg_dump`, or of the server's log.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use passerelle_e2e::{Backend, Body, Deployment, all_bytes, contains};
use serde_json::json;
use tokio::sync::Mutex;

const NAME: &str = "Iseult Penvern-Quéré";
const NARRATIVE: &str = "Thornbury episode at the bus depot";
const MESSAGE: &str = "Code convenu avec Iseult : tournesol bleu";
const FILE_NAME: &str = "certificat-Iseult-Penvern.pdf";
const FILE_MARK: &str = "FILECONTENT-Iseult-Penvern-0042";

fn filing() -> serde_json::Value {
    json!({
        "to_org": "avec63",
        "purpose": "psychological_support",
        "urgency": "high",
        "consent": {
            "basis": "consent", "method": "written", "obtained_at": "2026-11-29T10:00:00Z",
            "recipients": ["avec63"], "purposes": ["psychological_support"],
            "data_categories": ["identity", "narrative"], "expires_at": "2099-11-29T00:00:00Z"
        },
        "subject": { "name": NAME },
        "safety": { "channel": "sms" },
        "notes": { "narrative": NARRATIVE }
    })
}

/// Runs a command in a blocking thread (the async tasks keep running meanwhile).
async fn cli(d: &Arc<Deployment>, args: &[&str], fault: Option<&str>) -> std::process::Output {
    let d = Arc::clone(d);
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let fault = fault.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match &fault {
            Some(f) => d.run_env(&args, None, &[("PASSERELLE_FAULT", f)]),
            None => d.run(&args, None),
        }
    })
    .await
    .expect("command thread")
}

async fn ok(d: &Arc<Deployment>, args: &[&str]) -> String {
    let out = cli(d, args, None).await;
    assert!(
        out.status.success(),
        "passerelle {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

async fn flow(backend: Backend) {
    let d = Arc::new(Deployment::new(backend));
    d.ok(&["init"]);
    d.orgs(&[
        ("police-63", "police-63", "police"),
        ("avec63", "avec63", "association"),
        ("cidff63", "cidff63", "association"),
    ]);
    d.users(&[
        ("iscg.martin", "police-63", "referrer"),
        ("psy.bernard", "avec63", "receiver"),
    ]);
    let police = d.token("iscg.martin");
    let psy = d.token("psy.bernard");
    let server = Arc::new(d.serve());
    let s = &server;

    let file = |s: Arc<passerelle_e2e::Server>, token: String| async move {
        let a = s
            .call(
                "POST",
                "/api/v1/referrals",
                Some(&token),
                Some(Body::Json(filing())),
            )
            .await;
        assert_eq!(a.status, 201, "{:?}", a.json);
        a.json["id"].as_str().unwrap().to_owned()
    };
    let filed = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..3 {
        filed
            .lock()
            .await
            .push(file(s.clone(), police.clone()).await);
    }
    let first = filed.lock().await[0].clone();
    let m = s
        .call(
            "POST",
            &format!("/api/v1/referrals/{first}/messages"),
            Some(&police),
            Some(Body::Json(json!({ "body": MESSAGE }))),
        )
        .await;
    assert_eq!(m.status, 201);
    let mut bytes = vec![0x5au8; 300 * 1024];
    bytes[1000..1000 + FILE_MARK.len()].copy_from_slice(FILE_MARK.as_bytes());
    let up = s
        .client
        .post(format!("{}/api/v1/referrals/{first}/attachments", s.base))
        .bearer_auth(&police)
        .header("x-filename", FILE_NAME)
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(up.status().as_u16(), 201);
    let aid = up.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let read = filed.lock().await[1].clone();
    assert_eq!(
        s.call(
            "GET",
            &format!("/api/v1/referrals/{read}"),
            Some(&psy),
            None
        )
        .await
        .status,
        200
    );

    // Rotations while clients file and read.
    let stop = Arc::new(AtomicBool::new(false));
    let filer = {
        let (s, filed, stop, police) = (s.clone(), filed.clone(), stop.clone(), police.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let id = file(s.clone(), police.clone()).await;
                filed.lock().await.push(id);
                n += 1;
            }
            n
        })
    };
    let reader = {
        let (s, filed, stop, psy) = (s.clone(), filed.clone(), stop.clone(), psy.clone());
        tokio::spawn(async move {
            let mut n = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let ids = filed.lock().await.clone();
                let id = &ids[(n * 7) % ids.len()];
                let a = s
                    .call("GET", &format!("/api/v1/referrals/{id}"), Some(&psy), None)
                    .await;
                assert_eq!(a.status, 200, "read during rotation: {:?}", a.json);
                n += 1;
            }
            n
        })
    };
    let out = ok(&d, &["keys", "rotate"]).await;
    assert!(
        out.contains("Added master key kek-v2") && out.contains("Retired kek-v1"),
        "{out}"
    );
    let out = ok(&d, &["keys", "rotate-org", "avec63"]).await;
    assert!(
        out.contains("identity v2 (new)") && out.contains("1 destroyed"),
        "{out}"
    );
    let out = ok(&d, &["keys", "rotate-org", "police-63"]).await;
    assert!(out.contains("identity v2 (new)"), "{out}");
    stop.store(true, Ordering::SeqCst);
    let (filings, reads) = (filer.await.unwrap(), reader.await.unwrap());
    println!("during the rotations: {filings} filings and {reads} reads, all successful");

    // Killed midway, run again.
    let out = cli(&d, &["keys", "rotate"], Some("rotate-rewrap:2")).await;
    assert!(!out.status.success(), "the fault aborts the rotation");
    let status = ok(&d, &["keys", "status"]).await;
    assert!(status.contains("Pending"), "{status}");
    let out = ok(&d, &["keys", "rotate"]).await;
    assert!(
        out.contains("Finishing") && out.contains("Retired kek-v2"),
        "{out}"
    );
    let out = cli(
        &d,
        &["keys", "rotate-org", "avec63"],
        Some("rotate-org-rewrap:3"),
    )
    .await;
    assert!(!out.status.success());
    let status = ok(&d, &["keys", "status"]).await;
    assert!(
        status.contains("avec63: identity rotation unfinished"),
        "{status}"
    );
    let out = ok(&d, &["keys", "rotate-org", "avec63"]).await;
    assert!(out.contains("identity v3 (resumed)"), "{out}");
    let status = ok(&d, &["keys", "status"]).await;
    assert!(status.contains("No rotation pending"), "{status}");
    assert!(status.contains("kek-v3 (current)"), "{status}");
    assert!(!status.contains("AGE-SECRET-KEY"));

    // Everything filed still opens, for both sides; the thread and the file too.
    let ids = filed.lock().await.clone();
    for id in &ids {
        for token in [&psy, &police] {
            let a = s
                .call("GET", &format!("/api/v1/referrals/{id}"), Some(token), None)
                .await;
            assert_eq!(a.status, 200, "{id}: {:?}", a.json);
            assert_eq!(a.json["subject"]["name"], NAME);
        }
    }
    let msgs = s
        .call(
            "GET",
            &format!("/api/v1/referrals/{first}/messages"),
            Some(&psy),
            None,
        )
        .await;
    assert_eq!(msgs.json["items"][0]["body"], MESSAGE);
    let got = s
        .client
        .get(format!(
            "{}/api/v1/referrals/{first}/attachments/{aid}",
            s.base
        ))
        .bearer_auth(&psy)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&got[..], &bytes[..]);

    // A shred, then nothing anywhere.
    ok(&d, &["referral", "shred", &first]).await;
    assert_eq!(
        s.call(
            "GET",
            &format!("/api/v1/referrals/{first}"),
            Some(&psy),
            None
        )
        .await
        .status,
        410
    );
    let log = s.log();
    assert!(
        contains(&log, "keys folder reloaded"),
        "the running server loaded the master key versions added after it started"
    );
    let server = Arc::try_unwrap(server).ok().expect("no other handle");
    assert!(server.stop().success());
    let at_rest = all_bytes(&d.data_dir());
    let dump = d.backend.dump();
    for needle in [
        NAME, NARRATIVE, MESSAGE, FILE_NAME, FILE_MARK, "Iseult", "Penvern",
    ] {
        assert!(!contains(&at_rest, needle), "{needle:?} in the data dir");
        assert!(!contains(&dump, needle), "{needle:?} in pg_dump");
        assert!(!contains(&log, needle), "{needle:?} in the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_and_full_flow_on_sqlite() {
    flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_and_full_flow_on_postgres() {
    if let Some(pg) = Backend::postgres() {
        flow(pg).await;
    }
}
