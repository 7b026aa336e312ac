//! Several instances: two `serve` processes on one PostgreSQL, on distinct ports, each
//! with its own copy of the keys folder and its own checkpoint folder, serve the same
//! users. Filings and reads on both at once leave one dense audit log with exactly one
//! leaf per action; a token revoked from the command line is refused by both from the
//! next request; background jobs run on one leader, and the other takes over when the
//! leader is killed.

use std::time::Duration;

use passerelle_e2e::{Backend, Body, Deployment, ServeOptions, Server};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);
const PER_INSTANCE: usize = 15;

fn filing() -> Value {
    json!({
        "to_org": "avec63",
        "purpose": "social_support",
        "urgency": "high",
        "consent": {
            "basis": "consent", "method": "written", "obtained_at": "2026-11-29T10:00:00Z",
            "recipients": ["avec63"], "purposes": ["social_support"],
            "data_categories": ["identity", "narrative"],
            "expires_at": "2099-01-01T00:00:00Z"
        },
        "subject": { "name": "Isaure Kerbrat-Lemoine", "birth_date": "1979-06-30" },
        "safety": { "channel": "sms", "hours": "10h-12h", "voicemail_ok": false,
                    "may_name_org": false, "code_word": "Ardoise", "do_not_contact": false },
        "notes": { "narrative": "Relogement demandé" }
    })
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to).expect("mkdir");
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    for e in std::fs::read_dir(from).expect("read keys") {
        let e = e.expect("entry");
        if e.file_type().expect("type").is_file() {
            let dest = to.join(e.file_name());
            std::fs::copy(e.path(), &dest).expect("copy key");
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
    }
}

fn leader_line(s: &Server) -> bool {
    s.wait_log("this instance now runs a background job", 1, Duration::ZERO)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_on_one_postgres() {
    let Some(pg) = Backend::postgres() else {
        return;
    };
    let d = Deployment::new(pg);
    d.ok(&["init"]);
    d.ok(&[
        "org",
        "add",
        "police-clermont",
        "--name",
        "Commissariat",
        "--kind",
        "police",
    ]);
    d.ok(&[
        "org",
        "add",
        "avec63",
        "--name",
        "AVEC 63",
        "--kind",
        "association",
    ]);
    d.ok(&[
        "user",
        "add",
        "iscg.martin",
        "--org",
        "police-clermont",
        "--role",
        "referrer",
    ]);
    d.ok(&[
        "user",
        "add",
        "psy.bernard",
        "--org",
        "avec63",
        "--role",
        "receiver",
    ]);
    let police = d.token("iscg.martin");
    let psy = d.token("psy.bernard");
    let doomed = d.token("psy.bernard");

    let fast_jobs = ("PASSERELLE_JOB_INTERVAL_SECS".to_string(), "1".to_string());
    let a = d.serve_opts(ServeOptions {
        env: vec![fast_jobs.clone()],
        ..ServeOptions::default()
    });
    // Instance B: another host, as the operator would set it up — the same keys (copied),
    // its own checkpoint folder, the same certificate.
    let keys_b = d.dir.path().join("host-b/keys");
    copy_dir(&d.data_dir().join("keys"), &keys_b);
    let data = d.data_dir();
    let b = d.serve_opts(ServeOptions {
        env: vec![
            fast_jobs,
            ("PASSERELLE_KEYS_DIR".into(), keys_b.display().to_string()),
            (
                "PASSERELLE_CHECKPOINT_DIR".into(),
                d.dir
                    .path()
                    .join("host-b/checkpoints")
                    .display()
                    .to_string(),
            ),
            (
                "PASSERELLE_TLS_CERT".into(),
                data.join("tls/cert.pem").display().to_string(),
            ),
            (
                "PASSERELLE_TLS_KEY".into(),
                data.join("tls/key.pem").display().to_string(),
            ),
        ],
        ..ServeOptions::default()
    });
    assert_ne!(a.base, b.base, "two ports");

    // Filed on A, seen and opened on B, accepted on A.
    let filed = a
        .call(
            "POST",
            "/api/v1/referrals",
            Some(&police),
            Some(Body::Json(filing())),
        )
        .await;
    assert_eq!(filed.status, 201, "{:?}", filed.json);
    let first = filed.json["id"].as_str().expect("id").to_owned();
    let opened = b
        .call(
            "GET",
            &format!("/api/v1/referrals/{first}"),
            Some(&psy),
            None,
        )
        .await;
    assert_eq!(opened.status, 200, "{:?}", opened.json);
    assert_eq!(opened.json["status"], "acknowledged");
    let accepted = a
        .call(
            "POST",
            &format!("/api/v1/referrals/{first}/accept"),
            Some(&psy),
            None,
        )
        .await;
    assert_eq!(accepted.json["status"], "accepted");

    // Both at once: filings on each instance, reads of the first referral on each.
    let mut tasks = Vec::new();
    for server in [&a, &b] {
        for _ in 0..PER_INSTANCE {
            let (client, base, police, psy, first) = (
                server.client.clone(),
                server.base.clone(),
                police.clone(),
                psy.clone(),
                first.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let f = client
                    .post(format!("{base}/api/v1/referrals"))
                    .bearer_auth(&police)
                    .json(&filing())
                    .send()
                    .await
                    .expect("file");
                assert_eq!(f.status(), 201);
                let r = client
                    .get(format!("{base}/api/v1/referrals/{first}"))
                    .bearer_auth(&psy)
                    .send()
                    .await
                    .expect("read");
                assert_eq!(r.status(), 200);
            }));
        }
    }
    for t in tasks {
        t.await.expect("task");
    }
    let total = 1 + 2 * PER_INSTANCE;
    for s in [&a, &b] {
        let inbox = s
            .call(
                "GET",
                "/api/v1/referrals?box=inbox&limit=200",
                Some(&psy),
                None,
            )
            .await;
        assert_eq!(inbox.json["items"].as_array().map(Vec::len), Some(total));
    }

    // Revoked from the command line: refused by both instances from the next request.
    for s in [&a, &b] {
        let ok = s
            .call("GET", "/api/v1/referrals?box=inbox", Some(&doomed), None)
            .await;
        assert_eq!(ok.status, 200);
    }
    let issued = d
        .backend
        .query("SELECT id FROM api_tokens ORDER BY created_at DESC, id LIMIT 1");
    // The newest token is `doomed` (issued last).
    d.ok(&["token", "revoke", &issued]);
    for s in [&a, &b] {
        let refused = s
            .call("GET", "/api/v1/referrals?box=inbox", Some(&doomed), None)
            .await;
        assert_eq!(refused.status, 401);
    }

    // One audit log: dense, one leaf per action, the head covering all of them.
    let q = |sql: &str| d.backend.query(sql);
    let (count, max) = {
        let row = q("SELECT count(*), max(seq) FROM audit_leaves");
        let (c, m) = row.split_once('|').expect("two columns");
        (
            c.parse::<u64>().expect("count"),
            m.parse::<u64>().expect("max"),
        )
    };
    assert_eq!(max + 1, count, "audit sequence numbers are dense");
    assert_eq!(
        q("SELECT size FROM audit_head")
            .parse::<u64>()
            .expect("size"),
        count
    );
    assert_eq!(
        q("SELECT count(*) FROM audit_leaves WHERE action = 'referral.filed'"),
        total.to_string()
    );
    assert_eq!(
        q("SELECT count(*) FROM audit_leaves WHERE action = 'referral.read'"),
        (1 + 2 * PER_INSTANCE).to_string()
    );
    assert_eq!(
        q("SELECT count(*) FROM audit_leaves WHERE action = 'token.revoked'"),
        "1"
    );
    assert_eq!(q("SELECT count(*) FROM referrals"), total.to_string());

    // Background jobs: exactly one leader, and the other takes over when it dies.
    let deadline = std::time::Instant::now() + WAIT;
    while !(leader_line(&a) || leader_line(&b)) {
        assert!(std::time::Instant::now() < deadline, "no leader elected");
        a.wait_log(
            "this instance now runs a background job",
            1,
            Duration::from_millis(200),
        );
    }
    assert!(
        !(leader_line(&a) && leader_line(&b)),
        "both instances lead the same job"
    );
    let (leader, follower) = if leader_line(&a) { (a, b) } else { (b, a) };
    leader.signal("KILL");
    assert!(
        follower.wait_log("this instance now runs a background job", 1, WAIT),
        "the surviving instance did not take over the jobs"
    );
    // The survivor still serves, and sees everything.
    let inbox = follower
        .call(
            "GET",
            "/api/v1/referrals?box=inbox&limit=200",
            Some(&psy),
            None,
        )
        .await;
    assert_eq!(inbox.json["items"].as_array().map(Vec::len), Some(total));
    drop(leader);
    assert!(follower.stop().success());
}
