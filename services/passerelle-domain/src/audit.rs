//! Audit leaves: the actions recorded, the canonical versioned encoding of a leaf (what is
//! hashed into the Merkle tree), and the signer seam used by storage to sign each new head.
//!
//! A leaf never holds a name, a note, a phone number or any content: only ids, slugs,
//! usernames of professionals, codes and ciphertext digests.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::enums::{ConsentBasis, Role, str_enum};
use crate::ids::*;

mod codec;
pub use codec::{LEAF_FORMAT_VERSION, LeafDecodeError, LeafView, OutcomeRef};

str_enum!(
    /// Every action the log records (CONTRACT.md "Actions recorded", and more).
    Action, "audit action" {
    /// Successful login.
    LoginOk => "login.ok",
    /// Failed login.
    LoginFailed => "login.failed",
    /// Failed API authentication (bad, expired or revoked token).
    AuthFailed => "auth.failed",
    /// Logout.
    Logout => "logout",
    /// API token issued.
    TokenIssued => "token.issued",
    /// API token revoked.
    TokenRevoked => "token.revoked",
    /// Referral filed.
    ReferralFiled => "referral.filed",
    /// Referral content read.
    ReferralRead => "referral.read",
    /// Access to a referral refused (including cross-organisation 404s).
    ReferralDenied => "referral.denied",
    /// Filing refused by a consent or legal rule.
    ReferralRefused => "referral.refused",
    /// Referral accepted.
    ReferralAccepted => "referral.accepted",
    /// Referral declined.
    ReferralDeclined => "referral.declined",
    /// Referral closed.
    ReferralClosed => "referral.closed",
    /// Referral forwarded.
    ReferralForwarded => "referral.forwarded",
    /// Referral archived by retention.
    ReferralArchived => "referral.archived",
    /// Message written.
    MessageWritten => "message.written",
    /// Messages read.
    MessageRead => "message.read",
    /// Attachment uploaded.
    AttachmentUploaded => "attachment.uploaded",
    /// Attachment read.
    AttachmentRead => "attachment.read",
    /// Consent withdrawn.
    ConsentWithdrawn => "consent.withdrawn",
    /// Content destroyed.
    ContentShredded => "content.shredded",
    /// Master key rotated.
    KeyRotated => "key.rotated",
    /// Audit log exported.
    AuditExported => "audit.exported",
    /// Audit log searched or verified through the API.
    AuditRead => "audit.read",
    /// Organisation added.
    OrgAdded => "org.added",
    /// Organisation changed (e.g. its notice address).
    OrgUpdated => "org.updated",
    /// User added.
    UserAdded => "user.added",
    /// User disabled.
    UserDisabled => "user.disabled",
    /// A one-time enrolment link was issued (new user, or reset by an admin or coordinator).
    EnrolmentIssued => "user.enrolment_issued",
    /// A user set a password and enrolled a second factor through an enrolment link.
    UserEnrolled => "user.enrolled",
    /// Task closed.
    TaskClosed => "task.closed",
    /// Contact with the person recorded by the holding organisation (retention clock).
    ContactRecorded => "contact.recorded",
    /// An archived referral read by a party's referrer or receiver, with a stated reason.
    ArchiveRead => "referral.archive_read",
    /// A console page or operation refused to a role that may not use it (admin pages,
    /// user management); refusals about a referral are `referral.denied`.
    AccessDenied => "access.denied",
    /// Backup restored.
    Restored => "restored",
    /// Deployment copied to another database (`migrate-to`), checked there.
    StoreMigrated => "store.migrated",
});

impl Action {
    /// The actions an access report of a case lists (what a victim may ask for under RGPD
    /// art. 15): disclosures of the case's content to an organisation (filing, forward),
    /// reads of its content, and refused accesses.
    pub const CASE_ACCESS: &'static [Action] = &[
        Action::ReferralFiled,
        Action::ReferralForwarded,
        Action::ReferralRead,
        Action::MessageRead,
        Action::AttachmentRead,
        Action::ReferralDenied,
    ];
}

/// Whether the action was done or refused, with a reason code when refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Allowed,
    /// Refused; the code is a short kebab-case reason (`not-party`, `role`,
    /// `consent-recipient`, …), never free text.
    Denied(String),
}

/// The ids an action is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    /// Referral.
    pub referral: Option<ReferralId>,
    /// Case.
    pub case: Option<CaseId>,
    /// Attachment.
    pub attachment: Option<AttachmentId>,
    /// Message.
    pub message: Option<MessageId>,
    /// User acted upon.
    pub user: Option<UserId>,
    /// Organisation acted upon.
    pub org: Option<OrgId>,
    /// Token acted upon.
    pub token: Option<TokenId>,
    /// Task acted upon.
    pub task: Option<TaskId>,
}

impl Targets {
    /// The most specific target, as text (what the API shows as `target`).
    pub fn main(&self) -> Option<Uuid> {
        self.attachment
            .map(|x| x.0)
            .or(self.message.map(|x| x.0))
            .or(self.task.map(|x| x.0))
            .or(self.referral.map(|x| x.0))
            .or(self.case.map(|x| x.0))
            .or(self.token.map(|x| x.0))
            .or(self.user.map(|x| x.0))
            .or(self.org.map(|x| x.0))
    }
}

/// One audit leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLeaf {
    /// When.
    pub at: OffsetDateTime,
    /// Acting user's username (None for the system or an unknown caller).
    pub actor: Option<Username>,
    /// Acting user's organisation.
    pub actor_org: Option<OrgSlug>,
    /// Acting user's role.
    pub role: Option<Role>,
    /// What.
    pub action: Action,
    /// On what.
    pub targets: Targets,
    /// Done or refused.
    pub outcome: Outcome,
    /// Under which legal basis content was shared or read.
    pub legal_basis: Option<ConsentBasis>,
    /// The request id of the HTTP request, when any.
    pub request_id: Option<String>,
    /// SHA-256 of every ciphertext written by the action.
    pub ciphertext_sha256: Vec<[u8; 32]>,
}

/// Signs audit heads. Implemented by the vault (the key lives in the keys folder, never in
/// the database); called by storage inside the append transaction.
pub trait HeadSigner: Send + Sync {
    /// Returns the signed checkpoint (C2SP signed-note text) of the tree of `size` leaves
    /// with root `root`.
    fn sign_head(&self, size: u64, root: &[u8; 32]) -> String;
}

impl AuditLeaf {
    /// Whether the leaf belongs in the access report of its case: an access action
    /// ([`Action::CASE_ACCESS`]) or any refusal on the case.
    pub fn in_access_report(&self) -> bool {
        self.targets.case.is_some()
            && (Action::CASE_ACCESS.contains(&self.action)
                || matches!(self.outcome, Outcome::Denied(_)))
    }
}

#[cfg(test)]
mod access_tests {
    use super::*;
    use uuid::Uuid;

    fn leaf(action: Action, outcome: Outcome, case: bool) -> AuditLeaf {
        AuditLeaf {
            at: OffsetDateTime::UNIX_EPOCH,
            actor: None,
            actor_org: None,
            role: None,
            action,
            targets: Targets {
                case: case.then(|| CaseId(Uuid::from_u128(1))),
                ..Targets::default()
            },
            outcome,
            legal_basis: None,
            request_id: None,
            ciphertext_sha256: vec![],
        }
    }

    #[test]
    fn access_report_membership() {
        let denied = || Outcome::Denied("not-party".into());
        for a in Action::CASE_ACCESS {
            assert!(leaf(*a, Outcome::Allowed, true).in_access_report(), "{a}");
            assert!(!leaf(*a, Outcome::Allowed, false).in_access_report(), "{a}");
        }
        // Transitions and the auditor's own reads are not accesses to content…
        assert!(!leaf(Action::ReferralAccepted, Outcome::Allowed, true).in_access_report());
        assert!(!leaf(Action::AuditRead, Outcome::Allowed, true).in_access_report());
        // …but every refusal on the case is listed.
        assert!(leaf(Action::ReferralAccepted, denied(), true).in_access_report());
    }
}
