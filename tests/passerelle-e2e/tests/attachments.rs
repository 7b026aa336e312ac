//! Messages and attachments over HTTPS, as a new user would use them, on both backends:
//! a 100 MiB attachment uploaded and downloaded back identical while the server's peak
//! resident memory stays under 64 MiB above its level at rest (measured from
//! `/proc/<pid>/status`, printed); over the limit → 413 with no stray row; messages;
//! and no victim string (file name, contents, message) anywhere at rest or in the log.

use passerelle_e2e::{Backend, Body, Db, Deployment, Server, all_bytes, contains, pct};
use serde_json::json;

const NAME: &str = "Solveig Marrec-Tanguy";
const FILE_NAME: &str = "plainte-Solveig-Marrec.pdf";
const MESSAGE: &str = "Rappeler Solveig après 18h, jamais avant";
const MIB: usize = 1024 * 1024;

fn filing() -> serde_json::Value {
    json!({
        "to_org": "avec63",
        "purpose": "psychological_support",
        "urgency": "normal",
        "consent": {
            "basis": "consent", "method": "written", "obtained_at": "2026-11-29T10:00:00Z",
            "recipients": ["avec63"], "purposes": ["psychological_support"],
            "data_categories": ["identity", "narrative"], "expires_at": "2099-11-29T00:00:00Z"
        },
        "subject": { "name": NAME },
        "safety": { "channel": "sms" }
    })
}

/// Deterministic pseudo-random bytes, with a victim string planted at a few offsets (so
/// the data-dir search would find any clear copy).
fn content(len: usize) -> Vec<u8> {
    let mut x = 0x853c_49e6_748f_ea9bu64;
    let mut v: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 17) as u8
        })
        .collect();
    for at in [0, len / 3, len / 2, len.saturating_sub(NAME.len())] {
        if at + NAME.len() <= len {
            v[at..at + NAME.len()].copy_from_slice(NAME.as_bytes());
        }
    }
    v
}

async fn upload(
    s: &Server,
    token: &str,
    id: &str,
    name: &str,
    category: Option<&str>,
    bytes: Vec<u8>,
) -> (u16, serde_json::Value) {
    let mut req = s
        .client
        .post(format!("{}/api/v1/referrals/{id}/attachments", s.base))
        .bearer_auth(token)
        .header("x-filename", pct(name))
        .header("content-type", "application/octet-stream")
        .body(bytes);
    if let Some(c) = category {
        req = req.header("x-data-category", c);
    }
    let res = req.send().await.expect("upload sent");
    let status = res.status().as_u16();
    let body = res.bytes().await.expect("body");
    (status, serde_json::from_slice(&body).unwrap_or_default())
}

/// Downloads and compares piece by piece with `expected`; returns the byte count.
async fn download_equals(s: &Server, token: &str, path: &str, expected: &[u8]) -> usize {
    let mut res = s
        .client
        .get(format!("{}{path}", s.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("download sent");
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "application/octet-stream"
    );
    let mut at = 0;
    while let Some(piece) = res.chunk().await.expect("piece") {
        assert_eq!(&expected[at..at + piece.len()], &piece[..], "bytes at {at}");
        at += piece.len();
    }
    assert_eq!(at, expected.len());
    at
}

async fn flow(backend: Backend, big: usize) {
    let d = Deployment::new(backend);
    d.ok(&["init"]);
    d.orgs(&[
        ("police-63", "Police", "police"),
        ("avec63", "AVEC 63", "association"),
        ("cidff63", "CIDFF", "association"),
    ]);
    d.users(&[
        ("iscg.martin", "police-63", "referrer"),
        ("psy.bernard", "avec63", "receiver"),
        ("jur.cidff", "cidff63", "receiver"),
        ("coord.avec", "avec63", "coordinator"),
    ]);
    let police = d.token("iscg.martin");
    let psy = d.token("psy.bernard");
    let outsider = d.token("jur.cidff");
    let coordinator = d.token("coord.avec");
    let limit = (big + MIB).to_string();
    let server = d.serve_with(&[("PASSERELLE_MAX_ATTACHMENT_BYTES", &limit)]);
    let s = &server;
    let a = s
        .call(
            "POST",
            "/api/v1/referrals",
            Some(&police),
            Some(Body::Json(filing())),
        )
        .await;
    assert_eq!(a.status, 201);
    let id = a.json["id"].as_str().unwrap().to_owned();

    // Messages.
    let m = s
        .call(
            "POST",
            &format!("/api/v1/referrals/{id}/messages"),
            Some(&police),
            Some(Body::Json(json!({ "body": MESSAGE }))),
        )
        .await;
    assert_eq!(m.status, 201, "{:?}", m.json);
    assert_eq!(m.json["author"], "iscg.martin");
    assert_eq!(m.json["org"], "police-63");
    let list = s
        .call(
            "GET",
            &format!("/api/v1/referrals/{id}/messages"),
            Some(&psy),
            None,
        )
        .await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json["items"][0]["body"], MESSAGE);
    assert_eq!(list.json["items"][0]["id"], m.json["id"]);
    for (token, status) in [(&outsider, 404), (&coordinator, 403)] {
        let r = s
            .call(
                "GET",
                &format!("/api/v1/referrals/{id}/messages"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(r.status, status);
    }
    let bad = s
        .call(
            "POST",
            &format!("/api/v1/referrals/{id}/messages"),
            Some(&psy),
            Some(Body::Json(json!({ "body": "x", "extra": 1 }))),
        )
        .await;
    assert_eq!(bad.status, 400);

    // At rest, after a warm-up upload and download (so that lazily allocated pools and
    // caches count as "rest").
    let small = content(3 * MIB);
    let (st, warm) = upload(s, &psy, &id, "warm-up.bin", None, small.clone()).await;
    assert_eq!(st, 201, "{warm:?}");
    download_equals(
        s,
        &police,
        &format!(
            "/api/v1/referrals/{id}/attachments/{}",
            warm["id"].as_str().unwrap()
        ),
        &small,
    )
    .await;
    let rest = server.proc_kib("VmRSS").expect("VmRSS");
    let rest_peak = server.proc_kib("VmHWM").expect("VmHWM");

    // The big one, up and down.
    let bytes = content(big);
    let started = std::time::Instant::now();
    let (st, info) = upload(s, &police, &id, FILE_NAME, Some("narrative"), bytes.clone()).await;
    let up = started.elapsed();
    assert_eq!(st, 201, "{info:?}");
    assert_eq!(info["size"], big as u64);
    assert_eq!(info["filename"], FILE_NAME);
    assert_eq!(info["category"], "narrative");
    assert_eq!(info["sha256"].as_str().unwrap().len(), 64);
    let aid = info["id"].as_str().unwrap().to_owned();
    let started = std::time::Instant::now();
    download_equals(
        s,
        &psy,
        &format!("/api/v1/referrals/{id}/attachments/{aid}"),
        &bytes,
    )
    .await;
    let down = started.elapsed();
    let peak = server.proc_kib("VmHWM").expect("VmHWM");
    println!(
        "attachment of {} MiB: upload {:.1} s, download {:.1} s; server RSS at rest {} KiB \
         (peak so far {} KiB), peak after {} KiB: {} KiB ({:.1} MiB) above rest",
        big / MIB,
        up.as_secs_f64(),
        down.as_secs_f64(),
        rest,
        rest_peak,
        peak,
        peak.saturating_sub(rest),
        peak.saturating_sub(rest) as f64 / 1024.0
    );
    assert!(
        peak.saturating_sub(rest) < 64 * 1024,
        "peak RSS {peak} KiB is 64 MiB or more above rest ({rest} KiB)"
    );

    // Listed in the referral, with the name.
    let open = s
        .call("GET", &format!("/api/v1/referrals/{id}"), Some(&psy), None)
        .await;
    assert_eq!(open.status, 200);
    let names: Vec<&str> = open.json["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["filename"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["warm-up.bin", FILE_NAME]);
    // Not party: 404; a coordinator: 403; missing header: 400; not consented: 422.
    let path = format!("/api/v1/referrals/{id}/attachments/{aid}");
    assert_eq!(
        s.call("GET", &path, Some(&outsider), None).await.status,
        404
    );
    assert_eq!(
        s.call("GET", &path, Some(&coordinator), None).await.status,
        403
    );
    let no_name = s
        .call(
            "POST",
            &format!("/api/v1/referrals/{id}/attachments"),
            Some(&psy),
            Some(Body::Raw(b"abc".to_vec(), "application/octet-stream")),
        )
        .await;
    assert_eq!(no_name.status, 400);
    let (st, p) = upload(s, &psy, &id, "dossier.pdf", Some("medical"), b"x".to_vec()).await;
    assert_eq!(st, 422);
    assert!(p["type"].as_str().unwrap().ends_with("consent-category"));
    let (st, _) = upload(
        s,
        &psy,
        &id,
        "dossier.pdf",
        Some("astrology"),
        b"x".to_vec(),
    )
    .await;
    assert_eq!(st, 400);

    // Over the limit: restart with a 1 MiB limit; 413 and nothing kept.
    let log = server.log();
    assert!(server.stop().success());
    let server = d.serve_with(&[("PASSERELLE_MAX_ATTACHMENT_BYTES", "1048576")]);
    let s = &server;
    let rows_before = all_rows(&d).await;
    let (st, p) = upload(s, &psy, &id, "trop-gros.bin", None, content(2 * MIB)).await;
    assert_eq!(st, 413, "{p:?}");
    assert!(p["type"].as_str().unwrap().ends_with("too-large"));
    let (st, _) = upload(s, &psy, &id, "juste.bin", None, content(MIB)).await;
    assert_eq!(st, 201, "exactly the limit is accepted");
    let rows_after = all_rows(&d).await;
    assert_eq!(
        rows_after,
        rows_before + 1,
        "one attachment more, no stray row"
    );
    let log2 = server.log();
    assert!(server.stop().success());

    let at_rest = all_bytes(&d.data_dir());
    let dump = d.backend.dump();
    for needle in [NAME, FILE_NAME, MESSAGE, "Solveig"] {
        assert!(!contains(&at_rest, needle), "{needle:?} in the data dir");
        assert!(!contains(&dump, needle), "{needle:?} in pg_dump");
        assert!(
            !contains(&log, needle) && !contains(&log2, needle),
            "{needle:?} in the log"
        );
    }
}

/// Attachment rows (complete or not) and chunk rows, counted with the database's own
/// client, so that a stray row of a refused upload would show.
async fn all_rows(d: &Deployment) -> i64 {
    let sql = "SELECT (SELECT count(*) FROM attachments) * 1000000 + \
               (SELECT count(*) FROM attachments WHERE completed_at IS NULL) * 1000 + \
               (SELECT count(*) FROM attachment_chunks WHERE attachment_id NOT IN \
                (SELECT id FROM attachments WHERE completed_at IS NOT NULL));";
    let n: i64 = Db::of(d).sql(sql).trim().parse().expect("a count");
    // Only complete attachments: no incomplete row, no orphan chunk.
    assert_eq!(n % 1_000_000, 0, "stray incomplete rows or chunks: {n}");
    n / 1_000_000
}

#[tokio::test(flavor = "multi_thread")]
async fn hundred_mib_attachment_on_sqlite() {
    flow(Backend::Sqlite, 100 * MIB).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hundred_mib_attachment_on_postgres() {
    if let Some(pg) = Backend::postgres() {
        flow(pg, 100 * MIB).await;
    }
}
