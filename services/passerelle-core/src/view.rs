//! What the API returns for one referral: metadata plus the opened content, the consent,
//! history, attachments and tasks.

use serde::Serialize;
use time::OffsetDateTime;

use passerelle_domain::enums::{CloseOutcome, ReferralStatus};
use passerelle_domain::ids::OrgSlug;
use passerelle_domain::model::{Consent, DangerGrid, Notes, ReferralMeta, Safety, Subject};

/// One step of a referral's history (no content; the decline reason is opened for
/// parties).
#[derive(Debug, Clone, Serialize)]
pub struct HistoryItem {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// New state.
    pub status: ReferralStatus,
    /// Closing outcome.
    pub outcome: Option<CloseOutcome>,
    /// Decline reason, opened.
    pub reason: Option<String>,
    /// Suggested organisation on decline.
    pub suggested_org: Option<OrgSlug>,
}

/// A referral as its sender or receiver sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ReferralView {
    /// Metadata.
    #[serde(flatten)]
    pub meta: ReferralMeta,
    /// The victim's details (only consented fields).
    pub subject: Subject,
    /// Notes.
    pub notes: Notes,
    /// Safe-contact profile.
    pub safety: Safety,
    /// Danger grid.
    pub danger_grid: Option<DangerGrid>,
    /// The consent (or legal exception) under which it was shared.
    pub consent: Consent,
    /// The forwarding organisation's note.
    pub forward_note: Option<String>,
    /// Attachments (metadata).
    pub attachments: Vec<serde_json::Value>,
    /// Tasks.
    pub tasks: Vec<serde_json::Value>,
    /// History.
    pub history: Vec<HistoryItem>,
}
