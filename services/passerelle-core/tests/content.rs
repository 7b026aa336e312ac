//! Messages and attachments through core, on both backends: round trips, the contract's
//! refusals (404 not party, 410 shredded, 422 consent, 413 with nothing kept), and the
//! integrity checks: a ciphertext moved to another referral, swapped between two messages,
//! freshly sealed to the referral's public key, or flipped, fails with a tamper error and
//! an alert without content — never returning the other data.

mod support;

use bytes::Bytes;
use passerelle_core::{
    AttachmentUpload, CoreError, DEFAULT_MAX_ATTACHMENT_BYTES, NewMessage, ShredReason,
};
use passerelle_domain::enums::DataCategory;
use passerelle_domain::rules::Rule;
use passerelle_vault::{Binding, Part, SealWriter};
use std::io::Write;
use support::{Backend, Harness, NAME, Recorder, ctx};

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as u8
        })
        .collect()
}

fn upload(filename: &str, category: DataCategory) -> AttachmentUpload {
    AttachmentUpload {
        filename: filename.into(),
        category,
        declared_len: None,
    }
}

/// The bytes as a body stream of uneven pieces.
fn body(bytes: &[u8]) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
    let pieces: Vec<Result<Bytes, std::io::Error>> = bytes
        .chunks(70_001)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures::stream::iter(pieces)
}

async fn collect(
    mut s: futures::stream::BoxStream<'static, Result<Bytes, std::io::Error>>,
) -> std::io::Result<Vec<u8>> {
    use futures::StreamExt;
    let mut out = Vec::new();
    while let Some(piece) = s.next().await {
        out.extend_from_slice(&piece?);
    }
    Ok(out)
}

fn msg(body: &str) -> NewMessage {
    NewMessage { body: body.into() }
}

async fn messages_flow(backend: Backend) {
    let Some(h) = Harness::new(backend).await else {
        return;
    };
    let w = h.world().await;
    let id = h.file(&w).await;
    let first = h
        .core
        .write_message(
            &w.police,
            id,
            msg("Elle préfère être appelée le matin."),
            &ctx(),
        )
        .await
        .expect("write");
    assert_eq!(first.author.as_str(), "iscg.martin");
    assert_eq!(first.org.as_str(), "police-63");
    h.core
        .write_message(&w.psy, id, msg("Bien noté, rendez-vous jeudi."), &ctx())
        .await
        .expect("write");
    for p in [&w.psy, &w.police] {
        let list = h.core.read_messages(p, id, &ctx()).await.expect("read");
        let bodies: Vec<&str> = list.items.iter().map(|m| m.body.as_str()).collect();
        assert_eq!(
            bodies,
            [
                "Elle préfère être appelée le matin.",
                "Bien noté, rendez-vous jeudi."
            ]
        );
        assert_eq!(list.items[1].author.as_str(), "psy.bernard");
        assert_eq!(list.items[1].org.as_str(), "avec63");
    }
    // Not party: 404 both ways. Empty or too long: 400.
    assert!(matches!(
        h.core.read_messages(&w.court, id, &ctx()).await,
        Err(CoreError::NotFound)
    ));
    assert!(matches!(
        h.core.write_message(&w.court, id, msg("x"), &ctx()).await,
        Err(CoreError::NotFound)
    ));
    assert!(matches!(
        h.core.write_message(&w.psy, id, msg("  "), &ctx()).await,
        Err(CoreError::BadRequest(_))
    ));
    assert!(matches!(
        h.core
            .write_message(&w.psy, id, msg(&"é".repeat(20_001)), &ctx())
            .await,
        Err(CoreError::BadRequest(_))
    ));
    // Stored sealed: the body is not in the row.
    let rows = h.store.messages(id).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(!support::shares_32_bytes(
        &rows[0].body,
        b"Elle pr\xc3\xa9f\xc3\xa8re \xc3\xaatre appel\xc3\xa9e le matin."
    ));

    // After the consent is withdrawn: 422 consent-withdrawn (reading still works).
    h.exec(format!(
        "UPDATE cases SET withdrawn_at = created_at WHERE id = (SELECT case_id FROM referrals WHERE id = {})",
        h.id(id.0)
    ))
    .await;
    match h
        .core
        .write_message(&w.psy, id, msg("encore"), &ctx())
        .await
    {
        Err(CoreError::Rule(v)) => assert_eq!(v.rule, Rule::ConsentWithdrawn),
        other => panic!("expected 422 consent-withdrawn, got {other:?}"),
    }
    assert_eq!(
        h.core
            .read_messages(&w.psy, id, &ctx())
            .await
            .unwrap()
            .items
            .len(),
        2
    );

    // Shredded: 410 both ways, and the messages are gone.
    h.core
        .shred_referral(id, ShredReason::Admin, None, &ctx())
        .await
        .unwrap();
    assert!(matches!(
        h.core.read_messages(&w.psy, id, &ctx()).await,
        Err(CoreError::Gone)
    ));
    assert!(matches!(
        h.core.write_message(&w.psy, id, msg("x"), &ctx()).await,
        Err(CoreError::Gone)
    ));
    assert!(h.store.messages(id).await.unwrap().is_empty());
}

async fn attachments_flow(backend: Backend) {
    let Some(h) = Harness::new(backend).await else {
        return;
    };
    assert_eq!(h.core.max_attachment_bytes(), DEFAULT_MAX_ATTACHMENT_BYTES);
    let w = h.world().await;
    let id = h.file(&w).await;
    let other = h.file(&w).await;
    let bytes = pseudo_random(3 * 1024 * 1024 + 12_345, 1);
    let info = h
        .core
        .upload_attachment(
            &w.police,
            id,
            upload("certificat médical.pdf", DataCategory::Narrative),
            &mut body(&bytes),
            &ctx(),
        )
        .await
        .expect("upload");
    assert_eq!(info.size, bytes.len() as u64);
    assert_eq!(info.filename, "certificat médical.pdf");
    assert_eq!(info.sha256, hex_sha(&bytes));
    // Listed in the referral's view.
    let view = h
        .core
        .open_referral(&w.psy, id, &ctx())
        .await
        .expect("open");
    assert_eq!(view.attachments.len(), 1);
    let listed = &view.attachments[0];
    assert_eq!(listed["id"], info.id.to_string());
    assert_eq!(listed["filename"], "certificat médical.pdf");
    assert_eq!(listed["size"], bytes.len() as u64);
    assert_eq!(listed["sha256"], info.sha256);
    assert_eq!(listed["category"], "narrative");
    // Downloaded by both parties, identical.
    for p in [&w.psy, &w.police] {
        let dl = h
            .core
            .read_attachment(p, id, info.id, &ctx())
            .await
            .expect("download");
        assert_eq!(dl.info.filename, info.filename);
        assert_eq!(collect(dl.body).await.expect("body"), bytes);
    }
    // An empty file is a file.
    let empty = h
        .core
        .upload_attachment(
            &w.psy,
            id,
            upload("vide.txt", DataCategory::Risk),
            &mut body(&[]),
            &ctx(),
        )
        .await
        .expect("empty upload");
    let dl = h
        .core
        .read_attachment(&w.police, id, empty.id, &ctx())
        .await
        .unwrap();
    assert!(collect(dl.body).await.unwrap().is_empty());

    // Not party, another referral's attachment, an unknown one: 404.
    assert!(matches!(
        h.core.read_attachment(&w.court, id, info.id, &ctx()).await,
        Err(CoreError::NotFound)
    ));
    assert!(matches!(
        h.core.read_attachment(&w.psy, other, info.id, &ctx()).await,
        Err(CoreError::NotFound)
    ));
    assert!(matches!(
        h.core
            .read_attachment(&w.psy, id, uuid::Uuid::new_v4().into(), &ctx())
            .await,
        Err(CoreError::NotFound)
    ));
    // A category the consent does not cover: 422, nothing kept.
    let before = h.count("SELECT count(*) FROM attachments").await;
    match h
        .core
        .upload_attachment(
            &w.psy,
            id,
            upload("x.pdf", DataCategory::Medical),
            &mut body(b"x"),
            &ctx(),
        )
        .await
    {
        Err(CoreError::Rule(v)) => assert_eq!(v.rule, Rule::ConsentCategory),
        other => panic!("expected 422, got {other:?}"),
    }
    // Bad names: 400.
    for bad in ["", "a/b", "tab\there", &"n".repeat(256)] {
        assert!(matches!(
            h.core
                .upload_attachment(
                    &w.psy,
                    id,
                    upload(bad, DataCategory::Narrative),
                    &mut body(b"x"),
                    &ctx()
                )
                .await,
            Err(CoreError::BadRequest(_))
        ));
    }
    // Over the limit, announced or not: 413 and no row, no chunk left.
    h.core.set_max_attachment_bytes(1024 * 1024);
    let big = pseudo_random(1024 * 1024 + 1, 2);
    assert!(matches!(
        h.core
            .upload_attachment(
                &w.psy,
                id,
                upload("big.bin", DataCategory::Narrative),
                &mut body(&big),
                &ctx()
            )
            .await,
        Err(CoreError::TooLarge)
    ));
    let announced = AttachmentUpload {
        declared_len: Some(5 * 1024 * 1024),
        ..upload("big.bin", DataCategory::Narrative)
    };
    assert!(matches!(
        h.core
            .upload_attachment(&w.psy, id, announced, &mut body(b"small"), &ctx())
            .await,
        Err(CoreError::TooLarge)
    ));
    // Exactly the limit is fine.
    h.core
        .upload_attachment(
            &w.psy,
            id,
            upload("juste.bin", DataCategory::Narrative),
            &mut body(&big[..1024 * 1024]),
            &ctx(),
        )
        .await
        .expect("exactly the limit");
    assert_eq!(
        h.count("SELECT count(*) FROM attachments").await,
        before + 1
    );
    assert_eq!(
        h.count("SELECT count(*) FROM attachments WHERE completed_at IS NULL")
            .await,
        0
    );
    assert_eq!(
        h.count("SELECT count(*) FROM attachment_chunks c WHERE NOT EXISTS (SELECT 1 FROM attachments a WHERE a.id = c.attachment_id AND a.completed_at IS NOT NULL)").await,
        0
    );
    // A body that fails midway: 400, nothing kept.
    let mut broken = futures::stream::iter(vec![
        Ok(Bytes::from_static(b"first piece")),
        Err(std::io::Error::other("connection reset")),
    ]);
    assert!(matches!(
        h.core
            .upload_attachment(
                &w.psy,
                id,
                upload("cut.bin", DataCategory::Narrative),
                &mut broken,
                &ctx()
            )
            .await,
        Err(CoreError::BadRequest(_))
    ));
    assert_eq!(
        h.count("SELECT count(*) FROM attachments").await,
        before + 1
    );

    // Shredded: 410, and the attachments with their chunks are gone.
    h.core
        .shred_referral(id, ShredReason::Admin, None, &ctx())
        .await
        .unwrap();
    assert!(matches!(
        h.core.read_attachment(&w.psy, id, info.id, &ctx()).await,
        Err(CoreError::Gone)
    ));
    assert!(matches!(
        h.core
            .upload_attachment(
                &w.psy,
                id,
                upload("x", DataCategory::Narrative),
                &mut body(b"x"),
                &ctx()
            )
            .await,
        Err(CoreError::Gone)
    ));
    assert_eq!(
        h.count("SELECT count(*) FROM attachment_chunks").await,
        0,
        "no chunk of a shredded referral is left"
    );
}

fn hex_sha(bytes: &[u8]) -> String {
    passerelle_vault::sha256(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn assert_tamper<T: std::fmt::Debug>(r: Result<T, CoreError>, what: &str) {
    match r {
        Err(CoreError::Tamper(_)) => {}
        other => panic!("{what}: expected a tamper error, got {other:?}"),
    }
}

/// What someone who can write the database tries, and what they get: a tamper error and an
/// alert naming ids only.
async fn tampering(backend: Backend) {
    let Some(h) = Harness::new(backend).await else {
        return;
    };
    let recorder = Recorder::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());
    let w = h.world().await;
    let a = h.file(&w).await;
    let b = h.file(&w).await;
    for (r, text) in [
        (a, "Premier message Zanzibarine"),
        (a, "Second message Zanzibarine"),
        (b, "Message de B"),
    ] {
        h.core
            .write_message(&w.police, r, msg(text), &ctx())
            .await
            .unwrap();
    }
    let ms = h.store.messages(a).await.unwrap();
    let (m1, m2) = (&ms[0], &ms[1]);

    // 1. Two messages swapped (bodies and digest columns): tamper, nothing returned.
    h.exec(format!(
        "UPDATE messages SET body = {}, body_sha256 = {} WHERE id = {}",
        h.blob(&m2.body),
        h.blob(&m2.body_sha256),
        h.id(m1.id.0)
    ))
    .await;
    h.exec(format!(
        "UPDATE messages SET body = {}, body_sha256 = {} WHERE id = {}",
        h.blob(&m1.body),
        h.blob(&m1.body_sha256),
        h.id(m2.id.0)
    ))
    .await;
    assert_tamper(
        h.core.read_messages(&w.psy, a, &ctx()).await,
        "swapped messages",
    );
    // Put back: opens again.
    for m in [m1, m2] {
        h.exec(format!(
            "UPDATE messages SET body = {}, body_sha256 = {} WHERE id = {}",
            h.blob(&m.body),
            h.blob(&m.body_sha256),
            h.id(m.id.0)
        ))
        .await;
    }
    assert_eq!(
        h.core
            .read_messages(&w.psy, a, &ctx())
            .await
            .unwrap()
            .items
            .len(),
        2
    );

    // 2. A message freshly sealed to the referral's public key with the right header, its
    //    digest column updated: no leaf recorded it.
    let row = h.store.referral(a).await.unwrap().unwrap();
    let forged = passerelle_vault::seal(
        &row.recipient,
        &Binding::new(a, Part::Message, Some(m1.id.0)),
        b"Faux message injecte",
    )
    .unwrap();
    h.exec(format!(
        "UPDATE messages SET body = {}, body_sha256 = {} WHERE id = {}",
        h.blob(&forged),
        h.blob(&passerelle_vault::sha256(&forged)),
        h.id(m1.id.0)
    ))
    .await;
    assert_tamper(
        h.core.read_messages(&w.psy, a, &ctx()).await,
        "forged message",
    );
    h.exec(format!(
        "UPDATE messages SET body = {}, body_sha256 = {} WHERE id = {}",
        h.blob(&m1.body),
        h.blob(&m1.body_sha256),
        h.id(m1.id.0)
    ))
    .await;

    // 3. A message moved to another referral.
    let mb = h.store.messages(b).await.unwrap().remove(0);
    h.exec(format!(
        "UPDATE messages SET referral_id = {} WHERE id = {}",
        h.id(a.0),
        h.id(mb.id.0)
    ))
    .await;
    assert_tamper(
        h.core.read_messages(&w.psy, a, &ctx()).await,
        "moved message",
    );
    h.exec(format!(
        "UPDATE messages SET referral_id = {} WHERE id = {}",
        h.id(b.0),
        h.id(mb.id.0)
    ))
    .await;

    // 4. The content of B copied into A (with its digest): tamper, never B's content.
    let rb = h.store.referral(b).await.unwrap().unwrap();
    h.exec(format!(
        "UPDATE referrals SET content = {}, content_sha256 = {} WHERE id = {}",
        h.blob(&rb.content),
        h.blob(&rb.content_sha256),
        h.id(a.0)
    ))
    .await;
    assert_tamper(
        h.core.open_referral(&w.psy, a, &ctx()).await,
        "content swapped between referrals",
    );
    // 5. A's content freshly sealed to A's key, with the right header and digest column.
    let forged = passerelle_vault::seal(
        &row.recipient,
        &Binding::new(a, Part::Content, None),
        br#"{"subject":{},"notes":{},"safety":{}}"#,
    )
    .unwrap();
    h.exec(format!(
        "UPDATE referrals SET content = {}, content_sha256 = {} WHERE id = {}",
        h.blob(&forged),
        h.blob(&passerelle_vault::sha256(&forged)),
        h.id(a.0)
    ))
    .await;
    assert_tamper(
        h.core.open_referral(&w.psy, a, &ctx()).await,
        "forged content",
    );
    h.exec(format!(
        "UPDATE referrals SET content = {}, content_sha256 = {} WHERE id = {}",
        h.blob(&row.content),
        h.blob(&row.content_sha256),
        h.id(a.0)
    ))
    .await;
    h.core
        .open_referral(&w.psy, a, &ctx())
        .await
        .expect("restored content opens");
    // Bit flips spread over the whole stored content (age header, binding header, payload,
    // tag), each with its digest column recomputed as an attacker would: all refused.
    let n = row.content.len();
    for i in (0..n).step_by((n / 40).max(1)).chain([n - 1]) {
        let mut bad = row.content.clone();
        bad[i] ^= 1 << (i % 8);
        h.exec(format!(
            "UPDATE referrals SET content = {}, content_sha256 = {} WHERE id = {}",
            h.blob(&bad),
            h.blob(&passerelle_vault::sha256(&bad)),
            h.id(a.0)
        ))
        .await;
        assert_tamper(h.core.open_referral(&w.psy, a, &ctx()).await, "flipped bit");
    }
    h.exec(format!(
        "UPDATE referrals SET content = {}, content_sha256 = {} WHERE id = {}",
        h.blob(&row.content),
        h.blob(&row.content_sha256),
        h.id(a.0)
    ))
    .await;

    // 6. Attachments: a flipped bit, then a stream freshly sealed to A's key (header right,
    //    digest column updated): tamper before any byte.
    let data = pseudo_random(2 * 1024 * 1024 + 3, 9);
    let info = h
        .core
        .upload_attachment(
            &w.police,
            a,
            upload("photo.jpg", DataCategory::Narrative),
            &mut body(&data),
            &ctx(),
        )
        .await
        .unwrap();
    let chunk0 = h.store.attachment_chunk(info.id, 0).await.unwrap().unwrap();
    let mut flipped = chunk0.clone();
    flipped[700_000] ^= 0x10;
    h.exec(format!(
        "UPDATE attachment_chunks SET bytes = {} WHERE attachment_id = {} AND seq = 0",
        h.blob(&flipped),
        h.id(info.id.0)
    ))
    .await;
    assert_tamper(
        h.core
            .read_attachment(&w.psy, a, info.id, &ctx())
            .await
            .map(|d| d.info),
        "flipped attachment",
    );
    let mut w2 = SealWriter::new(
        &row.recipient,
        &Binding::new(a, Part::Attachment, Some(info.id.0)),
        Vec::new(),
    )
    .unwrap();
    w2.write_all(&pseudo_random(data.len(), 10)).unwrap();
    let forged = w2.finish().unwrap();
    let done = h
        .store
        .attachment(info.id)
        .await
        .unwrap()
        .unwrap()
        .done
        .unwrap();
    h.exec(format!(
        "DELETE FROM attachment_chunks WHERE attachment_id = {}",
        h.id(info.id.0)
    ))
    .await;
    for (seq, piece) in forged.chunks(1024 * 1024).enumerate() {
        h.exec(format!(
            "INSERT INTO attachment_chunks (attachment_id, seq, bytes) VALUES ({}, {seq}, {})",
            h.id(info.id.0),
            h.blob(piece)
        ))
        .await;
    }
    assert_eq!(forged.chunks(1024 * 1024).count() as u32, done.chunks);
    h.exec(format!(
        "UPDATE attachments SET ciphertext_sha256 = {} WHERE id = {}",
        h.blob(&passerelle_vault::sha256(&forged)),
        h.id(info.id.0)
    ))
    .await;
    assert_tamper(
        h.core
            .read_attachment(&w.psy, a, info.id, &ctx())
            .await
            .map(|d| d.info),
        "forged attachment",
    );
    // The attachment's record (name) of another attachment: tamper in the referral's view.
    let info2 = h
        .core
        .upload_attachment(
            &w.police,
            b,
            upload("autre.pdf", DataCategory::Narrative),
            &mut body(b"autre"),
            &ctx(),
        )
        .await
        .unwrap();
    let d2 = h
        .store
        .attachment(info2.id)
        .await
        .unwrap()
        .unwrap()
        .done
        .unwrap();
    h.exec(format!(
        "UPDATE attachments SET record = {}, record_sha256 = {} WHERE id = {}",
        h.blob(&d2.record),
        h.blob(&d2.record_sha256),
        h.id(info.id.0)
    ))
    .await;
    assert_tamper(
        h.core.open_referral(&w.psy, a, &ctx()).await,
        "record of another attachment",
    );

    // 7. A wrong organisation: make the court the receiver of B in the database and give
    //    it a copy of AVEC 63's wrap; the court's identity cannot open it.
    let wrap = h.store.key_wrap(b, w.avec_org).await.unwrap().unwrap();
    h.exec(format!(
        "UPDATE referrals SET to_org = {} WHERE id = {}",
        h.id(w.court_org.0),
        h.id(b.0)
    ))
    .await;
    assert!(
        matches!(
            h.core.open_referral(&w.court, b, &ctx()).await,
            Err(CoreError::Gone)
        ),
        "no wrap for the court: nothing to open"
    );
    h.exec_keystore(format!(
        "INSERT INTO key_wraps (referral_id, org_id, org_key_version, wrapped) VALUES ({}, {}, 1, {})",
        h.id(b.0), h.id(w.court_org.0), h.blob(&wrap.wrapped)
    ))
    .await;
    assert_tamper(
        h.core.open_referral(&w.court, b, &ctx()).await,
        "another organisation's wrap",
    );

    // Every refusal above was alerted, and no alert carries content.
    let lines = recorder.lines();
    let alerts: Vec<&String> = lines.iter().filter(|l| l.starts_with("WARN")).collect();
    assert!(alerts.len() >= 8, "{alerts:#?}");
    for l in &lines {
        for secret in [
            "Zanzibarine",
            "Faux message",
            "Message de B",
            NAME,
            "photo.jpg",
            "autre.pdf",
        ] {
            assert!(!l.contains(secret), "the log carries content: {l}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_on_sqlite() {
    messages_flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_on_postgres() {
    messages_flow(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn attachments_on_sqlite() {
    attachments_flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn attachments_on_postgres() {
    attachments_flow(Backend::Postgres).await;
}

#[tokio::test]
async fn tampering_on_sqlite() {
    tampering(Backend::Sqlite).await;
}

#[tokio::test]
async fn tampering_on_postgres() {
    tampering(Backend::Postgres).await;
}
