//! How audit leaves are shown: the search columns stored beside each leaf (and their check
//! against the signed bytes), the items of the auditor API, and the readable form of an
//! entry in exports and proofs. Only what a leaf holds: ids, usernames of professionals,
//! organisation slugs, codes; never content.

use passerelle_domain::audit::{AuditLeaf, LeafView, Outcome};
use passerelle_domain::enums::{ConsentBasis, Role};
use passerelle_domain::ids::CaseId;
use passerelle_domain::merkle::leaf_hash;
use passerelle_store::{AuditLeafRef, AuditLeafRow};
use serde::Serialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The search columns stored beside a leaf, derived from it alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Columns {
    pub(crate) actor: Option<String>,
    pub(crate) org: Option<String>,
    pub(crate) action: String,
    pub(crate) target: Option<String>,
    pub(crate) case_id: Option<CaseId>,
}

/// The columns of `leaf`.
pub(crate) fn columns(leaf: &AuditLeaf) -> Columns {
    Columns {
        actor: leaf.actor.as_ref().map(|u| u.as_str().to_owned()),
        org: leaf.actor_org.as_ref().map(|o| o.as_str().to_owned()),
        action: leaf.action.as_str().to_owned(),
        target: leaf.targets.main().map(|u| u.to_string()),
        case_id: leaf.targets.case,
    }
}

/// The row stored for `leaf`: its canonical bytes and the search columns derived from it
/// (what the journal appends, and what `audit verify` checks the columns against).
pub fn stored_leaf(leaf: &AuditLeaf) -> passerelle_store::NewAuditLeaf {
    let c = columns(leaf);
    passerelle_store::NewAuditLeaf {
        at: leaf.at,
        bytes: leaf.encode(),
        actor: c.actor,
        org: c.org,
        action: c.action,
        target: c.target,
        case_id: c.case_id,
    }
}

/// The first stored column that differs from what the signed bytes say (someone edited a
/// column to hide or misattribute an entry in searches).
pub(crate) fn column_mismatch(row: &AuditLeafRef<'_>, leaf: &LeafView<'_>) -> Option<&'static str> {
    // Compared in place, without building the columns: `audit verify` runs this on every
    // leaf, and allocating five strings per leaf cost more than hashing it.
    let mut uuid = uuid::Uuid::encode_buffer();
    let target = leaf
        .targets
        .main()
        .map(|u| &*u.hyphenated().encode_lower(&mut uuid));
    // What the adapters store: the time rounded down to the microsecond (`micros`).
    if leaf.at.unix_timestamp_nanos().div_euclid(1000) != i128::from(row.at_micros) {
        Some("at")
    } else if leaf.actor != row.actor {
        Some("actor")
    } else if leaf.actor_org != row.org {
        Some("org")
    } else if leaf.action.as_str() != row.action {
        Some("action")
    } else if target != row.target {
        Some("target")
    } else if leaf.targets.case != row.case_id {
        Some("case_id")
    } else {
        None
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// One event of `GET /api/v1/audit/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    /// Index in the log.
    pub seq: u64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Username of the actor (null for the system or an unknown caller).
    pub actor: Option<String>,
    /// The actor's organisation slug.
    pub org: Option<String>,
    /// The actor's role.
    pub role: Option<Role>,
    /// What, e.g. `referral.read`.
    pub action: String,
    /// The id acted on (the most specific).
    pub target: Option<String>,
    /// The case concerned.
    pub case_id: Option<CaseId>,
    /// `allowed`, `denied`, or `unreadable` (the stored bytes do not decode: run verify).
    pub outcome: &'static str,
    /// The refusal's reason code.
    pub reason: Option<String>,
    /// Under which legal basis content was shared or read.
    pub legal_basis: Option<ConsentBasis>,
    /// Content shared under Code pénal art. 226-14 3° (flagged).
    pub flag_226_14: bool,
    /// RFC 6962 leaf hash of the entry's bytes (hex).
    pub hash: String,
}

impl AuditEvent {
    /// The event of a stored row, from its signed bytes (columns only if they do not
    /// decode).
    pub(crate) fn of(row: &AuditLeafRow) -> AuditEvent {
        let hash = hex::encode(leaf_hash(&row.leaf.bytes));
        match AuditLeaf::decode(&row.leaf.bytes) {
            Ok(leaf) => {
                let c = columns(&leaf);
                let (outcome, reason) = match &leaf.outcome {
                    Outcome::Allowed => ("allowed", None),
                    Outcome::Denied(code) => ("denied", Some(code.clone())),
                };
                AuditEvent {
                    seq: row.seq,
                    at: leaf.at,
                    actor: c.actor,
                    org: c.org,
                    role: leaf.role,
                    action: c.action,
                    target: c.target,
                    case_id: c.case_id,
                    outcome,
                    reason,
                    legal_basis: leaf.legal_basis,
                    flag_226_14: leaf.flag_226_14(),
                    hash,
                }
            }
            Err(_) => {
                tracing::warn!(
                    seq = row.seq,
                    "audit leaf does not decode; run `passerelle audit verify`"
                );
                AuditEvent {
                    seq: row.seq,
                    at: row.leaf.at,
                    actor: row.leaf.actor.clone(),
                    org: row.leaf.org.clone(),
                    role: None,
                    action: row.leaf.action.clone(),
                    target: row.leaf.target.clone(),
                    case_id: row.leaf.case_id,
                    outcome: "unreadable",
                    reason: None,
                    legal_basis: None,
                    flag_226_14: false,
                    hash,
                }
            }
        }
    }
}

/// One line of an access report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessItem {
    /// Index in the log.
    pub seq: u64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who (username).
    pub actor: Option<String>,
    /// Their organisation's slug.
    pub org: Option<String>,
    /// What, e.g. `referral.read`, `message.read`, `referral.denied`.
    pub action: String,
    /// The id read (referral, message or attachment).
    pub target: Option<String>,
    /// Under which legal basis.
    pub legal_basis: Option<ConsentBasis>,
    /// `allowed` or `denied`.
    pub outcome: &'static str,
}

impl From<AuditEvent> for AccessItem {
    fn from(e: AuditEvent) -> AccessItem {
        AccessItem {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            org: e.org,
            action: e.action,
            target: e.target,
            legal_basis: e.legal_basis,
            outcome: e.outcome,
        }
    }
}

/// The readable form of an entry in exports and proofs: every field of the leaf. Offline
/// checks compare it with the decoded bytes, so it cannot say something they do not.
pub(crate) fn readable(leaf: &AuditLeaf) -> Value {
    let t = &leaf.targets;
    let mut targets = Map::new();
    for (k, v) in [
        ("referral", t.referral.map(|x| x.0)),
        ("case", t.case.map(|x| x.0)),
        ("attachment", t.attachment.map(|x| x.0)),
        ("message", t.message.map(|x| x.0)),
        ("user", t.user.map(|x| x.0)),
        ("org", t.org.map(|x| x.0)),
        ("token", t.token.map(|x| x.0)),
        ("task", t.task.map(|x| x.0)),
    ] {
        if let Some(v) = v {
            targets.insert(k.to_owned(), json!(v.to_string()));
        }
    }
    let (outcome, reason) = match &leaf.outcome {
        Outcome::Allowed => ("allowed", None),
        Outcome::Denied(code) => ("denied", Some(code.as_str())),
    };
    json!({
        "at": rfc3339(leaf.at),
        "actor": leaf.actor.as_ref().map(|u| u.as_str()),
        "org": leaf.actor_org.as_ref().map(|o| o.as_str()),
        "role": leaf.role.map(|r| r.as_str()),
        "action": leaf.action.as_str(),
        "targets": targets,
        "outcome": outcome,
        "reason": reason,
        "legal_basis": leaf.legal_basis.map(|b| b.as_str()),
        "flag_226_14": leaf.flag_226_14(),
        "request_id": leaf.request_id,
        "ciphertext_sha256": leaf.ciphertext_sha256.iter().map(hex::encode).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use passerelle_domain::audit::{Action, Targets};
    use passerelle_domain::ids::{OrgSlug, ReferralId, Username};
    use uuid::Uuid;

    /// Every search column, edited alone, is named; the time is compared after rounding
    /// down to the microsecond (what the adapters store), before 1970 too.
    #[test]
    fn each_edited_column_is_named() {
        let leaf = AuditLeaf {
            at: time::macros::datetime!(1969-12-31 23:59:59.999_999_5 UTC),
            actor: Some(Username::parse("marie.dupont").unwrap()),
            actor_org: Some(OrgSlug::parse("avec63").unwrap()),
            role: None,
            action: Action::ReferralRead,
            targets: Targets {
                referral: Some(ReferralId(Uuid::from_u128(1))),
                case: Some(CaseId(Uuid::from_u128(2))),
                ..Targets::default()
            },
            outcome: Outcome::Allowed,
            legal_basis: None,
            request_id: None,
            ciphertext_sha256: vec![],
        };
        let bytes = leaf.encode();
        let view = LeafView::decode(&bytes).unwrap();
        let target = Uuid::from_u128(1).to_string();
        let hash = [0u8; 32];
        let row = AuditLeafRef {
            seq: 0,
            at_micros: -1,
            bytes: &bytes,
            leaf_hash: &hash,
            actor: Some("marie.dupont"),
            org: Some("avec63"),
            action: "referral.read",
            target: Some(&target),
            case_id: Some(CaseId(Uuid::from_u128(2))),
        };
        assert_eq!(column_mismatch(&row, &view), None);
        let other = Uuid::from_u128(3).to_string();
        for (edited, col) in [
            (
                AuditLeafRef {
                    at_micros: 0,
                    ..row
                },
                "at",
            ),
            (AuditLeafRef { actor: None, ..row }, "actor"),
            (
                AuditLeafRef {
                    org: Some("x"),
                    ..row
                },
                "org",
            ),
            (
                AuditLeafRef {
                    action: "login.ok",
                    ..row
                },
                "action",
            ),
            (
                AuditLeafRef {
                    target: Some(&other),
                    ..row
                },
                "target",
            ),
            (
                AuditLeafRef {
                    case_id: None,
                    ..row
                },
                "case_id",
            ),
        ] {
            assert_eq!(column_mismatch(&edited, &view), Some(col));
        }
    }
}
