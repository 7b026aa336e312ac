//! Tests of the log verifier: an intact log passes; every kind of tampering is caught.

use ed25519_dalek::{Signer, SigningKey};
use proptest::prelude::*;
use time::OffsetDateTime;

use super::*;
use crate::audit::{Action, Outcome, Targets};
use crate::merkle::root_of;

const NAME: &str = "passerelle.test/audit";

struct Log {
    sk: SigningKey,
    leaves: Vec<(u64, Vec<u8>, Hash)>,
}

fn leaf_bytes(i: u64) -> Vec<u8> {
    AuditLeaf {
        at: OffsetDateTime::from_unix_timestamp(1_800_000_000 + i as i64).unwrap(),
        actor: None,
        actor_org: None,
        role: None,
        action: Action::ALL[i as usize % Action::ALL.len()],
        targets: Targets::default(),
        outcome: Outcome::Allowed,
        legal_basis: None,
        request_id: Some(format!("r{i}")),
        ciphertext_sha256: vec![],
    }
    .encode()
}

impl Log {
    fn new(n: u64) -> Log {
        let leaves = (0..n)
            .map(|i| {
                let b = leaf_bytes(i);
                let h = leaf_hash(&b);
                (i, b, h)
            })
            .collect();
        Log {
            sk: SigningKey::from_bytes(&[5; 32]),
            leaves,
        }
    }

    fn pk(&self) -> [u8; 32] {
        self.sk.verifying_key().to_bytes()
    }

    fn root(&self, m: usize) -> Hash {
        let hashes: Vec<Hash> = self.leaves[..m].iter().map(|l| l.2).collect();
        root_of(&hashes)
    }

    /// A checkpoint of the first `m` leaves as they are now.
    fn checkpoint(&self, m: usize) -> String {
        let b = checkpoint::body(NAME, m as u64, &self.root(m));
        let sig = self.sk.sign(b.as_bytes()).to_bytes();
        checkpoint::signed_note(&b, NAME, checkpoint::key_id(NAME, &self.pk()), &sig)
    }

    fn verify_with(&self, head: &str, kept: Option<&str>) -> Result<VerifySummary, VerifyFailure> {
        let cp = checkpoint::parse(head).unwrap();
        let head = StoredHead {
            size: cp.size,
            root: cp.root,
            checkpoint: head,
        };
        verify_log(
            self.leaves.iter().map(|(s, b, h)| (*s, b, *h)),
            &head,
            kept,
            NAME,
            &self.pk(),
        )
    }

    fn verify(&self, kept: Option<&str>) -> Result<VerifySummary, VerifyFailure> {
        self.verify_with(&self.checkpoint(self.leaves.len()), kept)
    }
}

#[test]
fn intact_logs_verify() {
    for n in [0u64, 1, 2, 7, 64, 100] {
        let log = Log::new(n);
        let s = log.verify(None).unwrap();
        assert_eq!(
            (s.entries, s.root, s.kept_size),
            (n, log.root(n as usize), None)
        );
        for m in [0, n / 2, n] {
            let kept = log.checkpoint(m as usize);
            assert_eq!(log.verify(Some(&kept)).unwrap().kept_size, Some(m));
        }
    }
}

#[test]
fn edited_leaf_without_rehash() {
    let mut log = Log::new(10);
    let head = log.checkpoint(10);
    log.leaves[4].1[20] ^= 1;
    let e = log.verify_with(&head, None).unwrap_err();
    assert_eq!(e.seq, Some(4));
    assert!(e.reason.contains("hash"), "{e}");
}

#[test]
fn edited_leaf_rehashed_is_caught_by_the_root_and_by_a_kept_checkpoint() {
    let mut log = Log::new(10);
    let head = log.checkpoint(10);
    let kept = log.checkpoint(6);
    let mut b = leaf_bytes(99);
    b[1] ^= 0; // a valid, different leaf
    log.leaves[4].1 = b.clone();
    log.leaves[4].2 = leaf_hash(&b);
    // Without the key: the signed head no longer matches.
    let e = log.verify_with(&head, None).unwrap_err();
    assert!(e.reason.contains("root"), "{e}");
    // With the key (head re-signed): the kept checkpoint still catches it.
    assert!(log.verify(None).is_ok());
    let e = log.verify(Some(&kept)).unwrap_err();
    assert!(e.reason.contains("rewritten"), "{e}");
}

#[test]
fn gaps_duplicates_reordering() {
    let mut log = Log::new(10);
    log.leaves.remove(3);
    assert_eq!(log.verify(None).unwrap_err().seq, Some(3));
    let mut log = Log::new(10);
    let dup = log.leaves[3].clone();
    log.leaves.insert(4, dup);
    assert_eq!(log.verify(None).unwrap_err().seq, Some(3));
    let mut log = Log::new(10);
    let head = log.checkpoint(10);
    log.leaves.swap(2, 3);
    log.leaves[2].0 = 2;
    log.leaves[3].0 = 3;
    assert!(log.verify_with(&head, None).is_err());
}

#[test]
fn truncation_and_rollback() {
    let mut log = Log::new(10);
    let head = log.checkpoint(10);
    let kept = log.checkpoint(9);
    log.leaves.truncate(8);
    let e = log.verify_with(&head, None).unwrap_err();
    assert_eq!(e.seq, Some(8));
    assert!(e.reason.contains("truncated"), "{e}");
    // Head re-signed at 8 by a key holder: the kept checkpoint of 9 catches the rollback.
    let e = log.verify(Some(&kept)).unwrap_err();
    assert_eq!(e.seq, Some(8));
    assert!(e.reason.contains("rolled back"), "{e}");
}

#[test]
fn unsigned_tail_and_bad_heads() {
    let log = Log::new(10);
    let e = log.verify_with(&log.checkpoint(9), None).unwrap_err();
    assert_eq!(e.seq, Some(9));
    // Stored head edited to match the leaves, but its checkpoint is the old one.
    let cp = log.checkpoint(9);
    let head = StoredHead {
        size: 10,
        root: log.root(10),
        checkpoint: &cp,
    };
    let e = verify_log(
        log.leaves.iter().map(|(s, b, h)| (*s, b, *h)),
        &head,
        None,
        NAME,
        &log.pk(),
    )
    .unwrap_err();
    assert!(
        e.reason.contains("differs from its signed checkpoint"),
        "{e}"
    );
    // Another key.
    let other = SigningKey::from_bytes(&[6; 32]).verifying_key().to_bytes();
    let cp = log.checkpoint(10);
    let head = StoredHead {
        size: 10,
        root: log.root(10),
        checkpoint: &cp,
    };
    let e = verify_log(
        log.leaves.iter().map(|(s, b, h)| (*s, b, *h)),
        &head,
        None,
        NAME,
        &other,
    )
    .unwrap_err();
    assert!(e.reason.contains("head checkpoint does not verify"), "{e}");
    assert!(Verifier::new(NAME, &other, Some(&cp)).is_err());
}

#[test]
fn undecodable_leaf_with_matching_hash() {
    let mut log = Log::new(5);
    log.leaves[2].1 = b"\x01garbage".to_vec();
    log.leaves[2].2 = leaf_hash(&log.leaves[2].1);
    let e = log.verify(None).unwrap_err();
    assert_eq!(e.seq, Some(2));
    assert!(e.reason.contains("decode"), "{e}");
    assert_eq!(e.to_string(), format!("entry 2: {}", e.reason));
}

#[test]
fn failures_are_sticky() {
    let log = Log::new(3);
    let mut v = Verifier::new(NAME, &log.pk(), None).unwrap();
    let first = v.feed(1, &log.leaves[1].1, &log.leaves[1].2).unwrap_err();
    assert_eq!(
        v.feed(0, &log.leaves[0].1, &log.leaves[0].2),
        Err(first.clone())
    );
    let cp = log.checkpoint(3);
    let head = StoredHead {
        size: 3,
        root: log.root(3),
        checkpoint: &cp,
    };
    assert_eq!(v.finish(&head), Err(first));
}

/// A larger log still verifies (speed is measured by the benchmark harness, not here).
#[test]
fn ten_thousand_leaves() {
    let log = Log::new(10_000);
    assert_eq!(log.verify(None).unwrap().entries, 10_000);
}

#[derive(Debug, Clone)]
enum Tamper {
    FlipByte(prop::sample::Index, prop::sample::Index),
    Remove(prop::sample::Index),
    Duplicate(prop::sample::Index),
    Truncate(prop::sample::Index),
    Rewrite(prop::sample::Index),
}

fn tamper() -> impl Strategy<Value = Tamper> {
    let i = any::<prop::sample::Index>;
    prop_oneof![
        (i(), i()).prop_map(|(a, b)| Tamper::FlipByte(a, b)),
        i().prop_map(Tamper::Remove),
        i().prop_map(Tamper::Duplicate),
        i().prop_map(Tamper::Truncate),
        i().prop_map(Tamper::Rewrite),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every tampering is caught, against the untouched head, and also against a
    /// re-signed head when a kept checkpoint covers the tampered entry.
    #[test]
    fn tampering_is_always_caught(n in 1u64..40, t in tamper()) {
        let mut log = Log::new(n);
        let head = log.checkpoint(n as usize);
        let kept = log.checkpoint(n as usize);
        prop_assert!(log.verify(Some(&kept)).is_ok());
        match t {
            Tamper::FlipByte(i, j) => {
                let leaf = &mut log.leaves[i.index(n as usize)].1;
                let k = j.index(leaf.len());
                leaf[k] ^= 0x40;
            }
            Tamper::Remove(i) => { log.leaves.remove(i.index(n as usize)); }
            Tamper::Duplicate(i) => {
                let k = i.index(n as usize);
                let d = log.leaves[k].clone();
                log.leaves.insert(k, d);
            }
            Tamper::Truncate(i) => log.leaves.truncate(i.index(n as usize)),
            Tamper::Rewrite(i) => {
                let k = i.index(n as usize);
                let b = leaf_bytes(1000 + k as u64);
                log.leaves[k].2 = leaf_hash(&b);
                log.leaves[k].1 = b;
            }
        }
        prop_assert!(log.verify_with(&head, None).is_err());
        let resigned = log.checkpoint(log.leaves.len());
        prop_assert!(log.verify_with(&resigned, Some(&kept)).is_err());
    }
}

#[test]
fn several_kept_checkpoints_are_each_checked_and_named() {
    let mut log = Log::new(12);
    let folder = log.checkpoint(12);
    let against = log.checkpoint(5);
    let kept = [
        Kept {
            label: "--against file",
            text: &against,
        },
        Kept {
            label: "checkpoint folder",
            text: &folder,
        },
    ];
    let mut v = Verifier::with_kept(NAME, &log.pk(), &kept).unwrap();
    for (s, b, h) in &log.leaves {
        let leaf = v.feed_leaf(*s, b, h).unwrap();
        assert_eq!(leaf.encode(), *b);
    }
    assert_eq!(v.root(), log.root(12));
    let head = log.checkpoint(12);
    let cp = checkpoint::parse(&head).unwrap();
    let s = v
        .finish(&StoredHead {
            size: 12,
            root: cp.root,
            checkpoint: &head,
        })
        .unwrap();
    assert_eq!(s.kept_size, Some(12));

    // Rolled back to 9 and re-signed: the larger kept checkpoint is named.
    log.leaves.truncate(9);
    let e = log.verify(None).map(|_| ());
    assert!(e.is_ok());
    let mut v = Verifier::with_kept(NAME, &log.pk(), &kept).unwrap();
    for (s, b, h) in &log.leaves {
        v.feed(*s, b, h).unwrap();
    }
    let head = log.checkpoint(9);
    let cp = checkpoint::parse(&head).unwrap();
    let e = v
        .finish(&StoredHead {
            size: 9,
            root: cp.root,
            checkpoint: &head,
        })
        .unwrap_err();
    assert_eq!(e.seq, Some(9));
    assert!(e.reason.contains("checkpoint folder"), "{e}");

    // A kept checkpoint that does not verify is refused by its label.
    let forged = against.replacen("\n5\n", "\n6\n", 1);
    let e = Verifier::with_kept(
        NAME,
        &log.pk(),
        &[Kept {
            label: "--against file",
            text: &forged,
        }],
    )
    .unwrap_err();
    assert!(e.reason.contains("--against file"), "{e}");
}

#[test]
fn empty_heads() {
    let log = Log::new(3);
    let v = Verifier::new(NAME, &log.pk(), None).unwrap();
    assert_eq!(v.finish_empty().unwrap().entries, 0);
    // Leaves under an empty head: beyond the signed head.
    let mut v = Verifier::new(NAME, &log.pk(), None).unwrap();
    v.feed(0, &log.leaves[0].1, &log.leaves[0].2).unwrap();
    assert_eq!(v.finish_empty().unwrap_err().seq, Some(0));
    // Everything deleted, head reset: a kept checkpoint sees it.
    let kept = log.checkpoint(3);
    let v = Verifier::new(NAME, &log.pk(), Some(&kept)).unwrap();
    let e = v.finish_empty().unwrap_err();
    assert!(e.reason.contains("rolled back"), "{e}");
}

#[test]
fn rejected_entries_are_sticky() {
    let log = Log::new(3);
    let mut v = Verifier::new(NAME, &log.pk(), None).unwrap();
    v.feed(0, &log.leaves[0].1, &log.leaves[0].2).unwrap();
    let f = v.reject(0, "search column actor differs");
    assert_eq!(f.seq, Some(0));
    assert_eq!(v.feed(1, &log.leaves[1].1, &log.leaves[1].2), Err(f));
}
