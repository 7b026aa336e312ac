//! Streaming seal and open (attachments): round trips at chunk boundaries, written and
//! read in odd pieces; the stream and the one-shot envelope are the same format; a wrong
//! binding fails before any body byte; any flipped bit or truncation fails.

mod common;

use std::io::{Read, Write};

use passerelle_vault::{Binding, Part, ReferralKey, SealWriter, VaultError, seal};
use uuid::Uuid;

fn body(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn seal_stream(key: &ReferralKey, b: &Binding, plain: &[u8], piece: usize) -> Vec<u8> {
    let mut w = SealWriter::new(&key.recipient(), b, Vec::new()).unwrap();
    for part in plain.chunks(piece.max(1)) {
        w.write_all(part).unwrap();
    }
    w.finish().unwrap()
}

fn open_stream(
    key: &ReferralKey,
    b: &Binding,
    ct: &[u8],
    piece: usize,
) -> std::io::Result<Vec<u8>> {
    let mut r = key.open_reader(b, ct).map_err(std::io::Error::other)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; piece];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn round_trips_at_chunk_boundaries() {
    let key = ReferralKey::generate();
    let b = Binding::new(common::referral(), Part::Attachment, Some(Uuid::new_v4()));
    const K: usize = 64 * 1024;
    for (len, piece) in [
        (0, 1),
        (1, 1),
        (K - 38, 7_000),
        (K - 39, 4096),
        (K, 65_536),
        (K + 1, 1000),
        (3 * K + 17, 99_999),
    ] {
        let plain = body(len);
        let ct = seal_stream(&key, &b, &plain, piece);
        assert_eq!(open_stream(&key, &b, &ct, 333).unwrap(), plain, "len {len}");
        // The stream is the one-shot envelope, and the other way round.
        assert_eq!(&key.open(&b, &ct).unwrap()[..], &plain[..]);
        let one_shot = seal(&key.recipient(), &b, &plain).unwrap();
        assert_eq!(open_stream(&key, &b, &one_shot, 4096).unwrap(), plain);
    }
}

#[test]
fn another_binding_or_key_fails_before_any_body_byte() {
    let key = ReferralKey::generate();
    let item = Uuid::new_v4();
    let b = Binding::new(common::referral(), Part::Attachment, Some(item));
    let ct = seal_stream(&key, &b, &body(100_000), 10_000);
    for other in [
        Binding::new(common::referral(), Part::Attachment, Some(item)),
        Binding::new(b.referral, Part::Attachment, Some(Uuid::new_v4())),
        Binding::new(b.referral, Part::Message, Some(item)),
        Binding::new(b.referral, Part::AttachmentName, Some(item)),
    ] {
        assert!(matches!(
            key.open_reader(&other, &ct[..]),
            Err(VaultError::Tamper(_))
        ));
    }
    assert!(matches!(
        ReferralKey::generate().open_reader(&b, &ct[..]),
        Err(VaultError::Tamper(_))
    ));
    assert!(matches!(
        key.open_reader(&b, &b"not an age file at all"[..]),
        Err(VaultError::Tamper(_))
    ));
}

/// Every bit of a two-chunk stream, one at a time (several thousand positions spread over
/// the whole file: age header, binding header, both payload chunks and their tags).
#[test]
fn every_flipped_bit_fails() {
    let key = ReferralKey::generate();
    let b = Binding::new(common::referral(), Part::Attachment, Some(Uuid::new_v4()));
    let ct = seal_stream(&key, &b, &body(70_000), 8192);
    let mut positions = 0;
    // Every byte of the first 600 (headers) and the last 600 (last chunk and its tag),
    // and every 23rd byte in between; each with a different bit.
    let dense = |i: usize| i < 600 || i + 600 >= ct.len() || i.is_multiple_of(23);
    for i in (0..ct.len()).filter(|&i| dense(i)) {
        let mut bad = ct.clone();
        bad[i] ^= 1 << (i % 8);
        let opened = key
            .open_reader(&b, &bad[..])
            .map_err(std::io::Error::other)
            .and_then(|mut r| {
                let mut out = Vec::new();
                r.read_to_end(&mut out).map(|_| out)
            });
        assert!(opened.is_err(), "flipped bit at byte {i} went unnoticed");
        positions += 1;
    }
    assert!(positions > 4000, "{positions} positions");
}

#[test]
fn truncation_fails() {
    let key = ReferralKey::generate();
    let b = Binding::new(common::referral(), Part::Attachment, Some(Uuid::new_v4()));
    let ct = seal_stream(&key, &b, &body(140_000), 50_000);
    for cut in [1, 16, 17, 1000, 65_536 + 16, ct.len() - 200] {
        assert!(
            open_stream(&key, &b, &ct[..ct.len() - cut], 4096).is_err(),
            "cut {cut}"
        );
    }
    let mut longer = ct.clone();
    longer.extend_from_slice(&[0u8; 20]);
    assert!(open_stream(&key, &b, &longer, 4096).is_err());
}
