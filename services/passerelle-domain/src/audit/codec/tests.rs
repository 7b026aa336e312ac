//! Round-trip and strictness tests of the audit leaf encoding.

use proptest::prelude::*;
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

use super::*;
use crate::enums::{ConsentBasis, Role};
use crate::ids::*;

fn sample() -> AuditLeaf {
    AuditLeaf {
        at: datetime!(2026-11-29 10:00:00.123456789 +01:00),
        actor: Some(Username::parse("marie.dupont").unwrap()),
        actor_org: Some(OrgSlug::parse("avec63").unwrap()),
        role: Some(Role::Receiver),
        action: Action::ReferralRead,
        targets: Targets {
            referral: Some(ReferralId(Uuid::from_bytes([1; 16]))),
            case: Some(CaseId(Uuid::from_bytes([2; 16]))),
            ..Targets::default()
        },
        outcome: Outcome::Allowed,
        legal_basis: Some(ConsentBasis::Consent),
        request_id: Some("req-1".into()),
        ciphertext_sha256: vec![[7; 32]],
    }
}

#[test]
fn known_encoding() {
    let leaf = AuditLeaf {
        at: datetime!(1970-01-01 00:00:01 UTC),
        actor: None,
        actor_org: None,
        role: None,
        action: Action::Logout,
        targets: Targets::default(),
        outcome: Outcome::Denied("role".into()),
        legal_basis: None,
        request_id: None,
        ciphertext_sha256: vec![],
    };
    let mut want = vec![1u8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
    want.extend_from_slice(&[0, 0, 0, 6]);
    want.extend_from_slice(b"logout");
    want.extend_from_slice(&[0; 8]);
    want.extend_from_slice(&[1, 0, 0, 0, 4]);
    want.extend_from_slice(b"role");
    want.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    assert_eq!(leaf.encode(), want);
    assert_eq!(AuditLeaf::decode(&want), Ok(leaf));
}

#[test]
fn round_trip_and_utc() {
    let leaf = sample();
    let bytes = leaf.encode();
    let back = AuditLeaf::decode(&bytes).unwrap();
    assert_eq!(back, leaf);
    assert_eq!(back.at.offset(), time::UtcOffset::UTC);
    assert_eq!(back.encode(), bytes);
    assert_eq!(leaf.leaf_hash(), crate::merkle::leaf_hash(&bytes));
}

#[test]
fn strictness() {
    let bytes = sample().encode();
    assert_eq!(AuditLeaf::decode(&[]), Err(LeafDecodeError::Empty));
    let mut v2 = bytes.clone();
    v2[0] = 2;
    assert_eq!(
        AuditLeaf::decode(&v2),
        Err(LeafDecodeError::UnknownVersion(2))
    );
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        AuditLeaf::decode(&trailing),
        Err(LeafDecodeError::TrailingBytes)
    );
    for cut in 1..bytes.len() {
        assert!(AuditLeaf::decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut nanos = bytes.clone();
    nanos[9..13].copy_from_slice(&1_000_000_000u32.to_be_bytes());
    assert_eq!(
        AuditLeaf::decode(&nanos),
        Err(LeafDecodeError::Invalid("at"))
    );
    let mut presence = bytes.clone();
    presence[13] = 2;
    assert_eq!(
        AuditLeaf::decode(&presence),
        Err(LeafDecodeError::Invalid("actor"))
    );
    // A username that does not parse (uppercase) is refused.
    let mut upper = bytes.clone();
    upper[18] = b'M';
    assert_eq!(
        AuditLeaf::decode(&upper),
        Err(LeafDecodeError::Invalid("actor"))
    );
    // A huge digest count does not allocate, it is truncation.
    let mut count = bytes.clone();
    let n = count.len();
    count[n - 36..n - 32].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(AuditLeaf::decode(&count), Err(LeafDecodeError::Truncated));
}

#[test]
fn flag() {
    let mut leaf = sample();
    assert!(!leaf.flag_226_14());
    leaf.legal_basis = Some(ConsentBasis::LegalException22614);
    assert!(leaf.flag_226_14());
}

fn opt_uuid<T: From<Uuid> + std::fmt::Debug>() -> impl Strategy<Value = Option<T>> {
    prop::option::of(any::<u128>().prop_map(|u| Uuid::from_u128(u).into()))
}

prop_compose! {
    fn targets()(referral in opt_uuid(), case in opt_uuid(), attachment in opt_uuid(),
                 message in opt_uuid(), user in opt_uuid(), org in opt_uuid(),
                 token in opt_uuid(), task in opt_uuid()) -> Targets {
        Targets { referral, case, attachment, message, user, org, token, task }
    }
}

prop_compose! {
    fn leaf()(secs in -62_000_000_000i64..253_000_000_000, nanos in 0u32..1_000_000_000,
              offset in -86_399i32..86_400,
              actor in prop::option::of("[a-z0-9][a-z0-9._-]{1,20}"),
              org in prop::option::of("[a-z0-9][a-z0-9_-]{1,20}"),
              role in prop::option::of(prop::sample::select(Role::ALL)),
              action in prop::sample::select(Action::ALL),
              targets in targets(),
              denied in prop::option::of("\\PC{0,12}"),
              basis in prop::option::of(prop::sample::select(ConsentBasis::ALL)),
              request_id in prop::option::of("\\PC{0,12}"),
              digests in prop::collection::vec(any::<[u8; 32]>(), 0..4)) -> AuditLeaf {
        let utc = OffsetDateTime::from_unix_timestamp(secs).unwrap().replace_nanosecond(nanos).unwrap();
        let offset = time::UtcOffset::from_whole_seconds(offset).unwrap();
        AuditLeaf {
            at: utc.checked_to_offset(offset).unwrap_or(utc),
            actor: actor.map(|a| Username::parse(&a).unwrap()),
            actor_org: org.map(|o| OrgSlug::parse(&o).unwrap()),
            role,
            action,
            targets,
            outcome: denied.map_or(Outcome::Allowed, Outcome::Denied),
            legal_basis: basis,
            request_id,
            ciphertext_sha256: digests,
        }
    }
}

proptest! {
    #[test]
    fn decode_encode_round_trip(l in leaf()) {
        let bytes = l.encode();
        let back = AuditLeaf::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &l);
        prop_assert_eq!(back.encode(), bytes);
    }

    #[test]
    fn every_accepted_mutation_is_canonical(l in leaf(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = l.encode();
        let i = pos.index(bytes.len());
        bytes[i] = byte;
        if let Ok(d) = AuditLeaf::decode(&bytes) {
            prop_assert_eq!(d.encode(), bytes);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_are_canonical(mut bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Some(b) = bytes.first_mut() { *b = 1; }
        if let Ok(d) = AuditLeaf::decode(&bytes) {
            prop_assert_eq!(d.encode(), bytes);
        }
    }
}

/// An organisation slug with a dot is a valid username but not a valid slug: the in-place
/// decoder checks each field with its own rule.
#[test]
fn view_checks_each_identifier_with_its_own_rule() {
    let mut leaf = sample();
    leaf.actor_org = None;
    leaf.actor = Some(Username::parse("a.b").unwrap());
    let mut bytes = leaf.encode();
    // Swap the actor into the organisation's place: `1 len "a.b" 0` → `0 1 len "a.b"`.
    let at = 13;
    assert_eq!(&bytes[at..at + 9], &[1, 0, 0, 0, 3, b'a', b'.', b'b', 0]);
    bytes[at..at + 9].copy_from_slice(&[0, 1, 0, 0, 0, 3, b'a', b'.', b'b']);
    assert_eq!(
        LeafView::decode(&bytes),
        Err(LeafDecodeError::Invalid("actor_org"))
    );
    assert_eq!(
        AuditLeaf::decode(&bytes),
        Err(LeafDecodeError::Invalid("actor_org"))
    );
}

proptest! {
    /// The in-place view holds the same fields as the owned leaf, borrowed from the bytes.
    #[test]
    fn view_fields_match_the_owned_leaf(l in leaf()) {
        let bytes = l.encode();
        let v = LeafView::decode(&bytes).unwrap();
        prop_assert_eq!(v.actor, l.actor.as_ref().map(Username::as_str));
        prop_assert_eq!(v.actor_org, l.actor_org.as_ref().map(OrgSlug::as_str));
        prop_assert_eq!(v.action, l.action);
        prop_assert_eq!(&v.targets, &l.targets);
        prop_assert_eq!(v.request_id, l.request_id.as_deref());
        let digests = l.ciphertext_sha256.concat();
        prop_assert_eq!(v.ciphertext_sha256, digests.as_slice());
        match (&v.outcome, &l.outcome) {
            (OutcomeRef::Allowed, Outcome::Allowed) => {}
            (OutcomeRef::Denied(a), Outcome::Denied(b)) => prop_assert_eq!(*a, b.as_str()),
            (a, b) => prop_assert!(false, "{a:?} vs {b:?}"),
        }
        prop_assert_eq!(v.at, l.at.to_offset(time::UtcOffset::UTC));
        prop_assert_eq!(v.to_leaf(), AuditLeaf::decode(&bytes).unwrap());
    }
}
