//! Row types exchanged with the adapters. Content fields are ciphertexts (`Vec<u8>` sealed by
//! the vault); nothing here is victim data in clear.

use passerelle_domain::enums::*;
use passerelle_domain::ids::*;
use passerelle_domain::model::ConsentTerms;
use time::OffsetDateTime;

/// An organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgRow {
    /// Id.
    pub id: OrgId,
    /// Unique slug.
    pub slug: OrgSlug,
    /// Display name (an organisation's name, not victim data).
    pub name: String,
    /// Kind.
    pub kind: OrgKind,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// One version of an organisation's age identity: public recipient in clear, secret
/// identity wrapped under a master key version (and the escrow recipient).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgKeyRow {
    /// Organisation.
    pub org_id: OrgId,
    /// Identity version, 1, 2, …
    pub version: i32,
    /// The age recipient (`age1…`).
    pub recipient: String,
    /// The identity, age-encrypted to the master key version `kek_version` (and escrow).
    pub wrapped_identity: Vec<u8>,
    /// Which master key version wraps it, e.g. `kek-v1`.
    pub kek_version: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// When this version stopped being used for new wraps.
    pub retired_at: Option<OffsetDateTime>,
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// Id.
    pub id: UserId,
    /// Unique username.
    pub username: Username,
    /// Organisation.
    pub org_id: OrgId,
    /// Role.
    pub role: Role,
    /// Physician, midwife, nurse…: may use the 226-14 3° path.
    pub health_professional: bool,
    /// argon2id PHC string; `None` until enrolment.
    pub password_hash: Option<String>,
    /// TOTP secret, sealed; `None` until enrolment.
    pub totp_secret: Option<Vec<u8>>,
    /// Disabled accounts cannot log in; never deleted.
    pub disabled: bool,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// An API token; the secret itself is never stored, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// Public id.
    pub id: TokenId,
    /// Owner.
    pub user_id: UserId,
    /// SHA-256 of the secret.
    pub hash: [u8; 32],
    /// Issue time.
    pub created_at: OffsetDateTime,
    /// Expiry.
    pub expires_at: OffsetDateTime,
    /// Revocation time.
    pub revoked_at: Option<OffsetDateTime>,
}

/// What authenticating an API token reads in one statement: the token's validity, its
/// user and the user's organisation. The caller checks every field on every request
/// (revoked, expired, user disabled, organisation present): nothing is cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAuthRow {
    /// The token's id.
    pub token_id: TokenId,
    /// The token's expiry.
    pub expires_at: OffsetDateTime,
    /// The token's revocation time.
    pub revoked_at: Option<OffsetDateTime>,
    /// Owner.
    pub user_id: UserId,
    /// The owner's username.
    pub username: Username,
    /// The owner's role.
    pub role: Role,
    /// The owner is a health professional.
    pub health_professional: bool,
    /// The owner is disabled.
    pub disabled: bool,
    /// The owner's organisation.
    pub org_id: OrgId,
    /// That organisation's slug and kind; `None` when its row is missing.
    pub org: Option<(OrgSlug, OrgKind)>,
}

/// A case: the filing and its forwards share one consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRow {
    /// Id.
    pub id: CaseId,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// The consent terms in clear (no victim data).
    pub terms: ConsentTerms,
    /// When the consent was withdrawn.
    pub withdrawn_at: Option<OffsetDateTime>,
}

/// A referral: metadata in clear, content sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralRow {
    /// Id.
    pub id: ReferralId,
    /// Case.
    pub case_id: CaseId,
    /// Human reference.
    pub reference: String,
    /// Forwarded from.
    pub parent_id: Option<ReferralId>,
    /// Sending organisation.
    pub from_org: OrgId,
    /// Sending organisation's slug (joined on read; ignored on insert).
    pub from_slug: OrgSlug,
    /// Receiving organisation.
    pub to_org: OrgId,
    /// Receiving organisation's slug (joined on read; ignored on insert).
    pub to_slug: OrgSlug,
    /// Purpose.
    pub purpose: Purpose,
    /// Urgency.
    pub urgency: Urgency,
    /// State.
    pub status: ReferralStatus,
    /// Legal basis.
    pub basis: ConsentBasis,
    /// Data categories this packet carries.
    pub categories: Vec<DataCategory>,
    /// Who filed or forwarded it.
    pub created_by: UserId,
    /// Filing time.
    pub created_at: OffsetDateTime,
    /// Due time.
    pub due_at: OffsetDateTime,
    /// Last state change.
    pub updated_at: OffsetDateTime,
    /// The referral's own age recipient (its identity is wrapped in the keystore).
    pub recipient: String,
    /// Sealed `ReferralContent` (JSON inside the envelope); empty once shredded.
    pub content: Vec<u8>,
    /// SHA-256 of `content` as written (also in the filing's audit leaf).
    pub content_sha256: [u8; 32],
    /// When the content was destroyed.
    pub shredded_at: Option<OffsetDateTime>,
}

/// One state change of a referral (its history), without content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralEventRow {
    /// Referral.
    pub referral_id: ReferralId,
    /// When.
    pub at: OffsetDateTime,
    /// New state.
    pub status: ReferralStatus,
    /// Acting user (None for system actions).
    pub actor: Option<UserId>,
    /// Closing outcome, for `closed`.
    pub outcome: Option<CloseOutcome>,
    /// Sealed free text (a decline reason), when any.
    pub sealed_detail: Option<Vec<u8>>,
    /// Suggested organisation, for `declined`.
    pub suggested_org: Option<OrgSlug>,
}

/// The wrap of a referral identity for one organisation (in the keystore).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyWrapRow {
    /// Referral.
    pub referral_id: ReferralId,
    /// Organisation that can unwrap it.
    pub org_id: OrgId,
    /// Which identity version of that organisation it is wrapped to.
    pub org_key_version: i32,
    /// The referral identity, age-encrypted to that organisation identity.
    pub wrapped: Vec<u8>,
}

/// Which box to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoxKind {
    /// Received by the organisation; sorted by `(due_at, id)`.
    Inbox,
    /// Sent by the organisation; sorted by `(created_at desc, id)`.
    Sent,
}

/// A page request on a box. The cursor is the sort key of the last item of the previous
/// page: `(due_at, id)` for the inbox, `(created_at, id)` for sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// The organisation whose box it is.
    pub org: OrgId,
    /// Which box.
    pub kind: BoxKind,
    /// Only this state.
    pub status: Option<ReferralStatus>,
    /// Only `sent`/`acknowledged` referrals with `due_at < now`.
    pub overdue_before: Option<OffsetDateTime>,
    /// After this sort key.
    pub after: Option<(OffsetDateTime, ReferralId)>,
    /// Page size (1..=201: callers ask one more to know whether a next page exists).
    pub limit: u32,
}

/// The signed audit head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHeadRow {
    /// Number of leaves.
    pub size: u64,
    /// RFC 6962 root.
    pub root: [u8; 32],
    /// Compact range (roots of the perfect subtrees, largest first), 32 bytes each.
    pub compact: Vec<[u8; 32]>,
    /// The signed checkpoint (C2SP signed note) of this head.
    pub checkpoint: String,
}

/// A leaf to append: canonical bytes and the columns kept for searching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditLeaf {
    /// When.
    pub at: OffsetDateTime,
    /// Canonical encoding (domain `audit`), what is hashed.
    pub bytes: Vec<u8>,
    /// Actor's username.
    pub actor: Option<String>,
    /// Actor's organisation slug.
    pub org: Option<String>,
    /// Action, e.g. `referral.read`.
    pub action: String,
    /// Main target id.
    pub target: Option<String>,
    /// Case concerned.
    pub case_id: Option<CaseId>,
}

/// A stored leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLeafRow {
    /// Index, from 0, dense.
    pub seq: u64,
    /// The leaf columns.
    pub leaf: NewAuditLeaf,
    /// RFC 6962 leaf hash.
    pub leaf_hash: [u8; 32],
}

/// A search of the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this case.
    pub case_id: Option<CaseId>,
    /// Only this actor.
    pub actor: Option<String>,
    /// Only this organisation.
    pub org: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// At or after.
    pub since: Option<OffsetDateTime>,
    /// Before.
    pub until: Option<OffsetDateTime>,
    /// Only `seq > after`.
    pub after: Option<u64>,
    /// Page size.
    pub limit: u32,
}
