//! What the API returns for one referral: metadata plus the opened content, the consent,
//! history, attachments and tasks; and how core opens and builds it (for a party's read
//! and an archive read alike).

use serde::Serialize;
use time::OffsetDateTime;

use passerelle_domain::audit::Action;
use passerelle_domain::enums::{CloseOutcome, ReferralStatus};
use passerelle_domain::ids::OrgSlug;
use passerelle_domain::model::{
    Consent, DangerGrid, Notes, ReferralContent, ReferralMeta, Safety, Subject,
};
use passerelle_store::{CaseRow, ReferralRow};
use passerelle_vault::{Binding, Part, ReferralKey};

use crate::auth::Principal;
use crate::integrity::Recorded;
use crate::referrals::meta_of;
use crate::{Core, CoreError, CoreResult};

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

impl Core {
    /// Opens a referral's content with the caller's organisation identity, checking its
    /// digest and binding.
    pub(crate) async fn open_content(
        &self,
        p: &Principal,
        row: &ReferralRow,
    ) -> CoreResult<(ReferralKey, ReferralContent)> {
        let key = self.referral_key(p, row).await?;
        let binding = Binding {
            referral: row.id,
            part: Part::Content,
            item: None,
        };
        // Against the leaf that wrote it, not only its column.
        self.check_recorded(
            &row.content,
            Some(&row.content_sha256),
            Recorded::By(
                &[Action::ReferralFiled, Action::ReferralForwarded],
                row.id.0,
            ),
            &binding,
        )
        .await?;
        let plain = key.open(&binding, &row.content)?;
        let content: ReferralContent =
            serde_json::from_slice(&plain).map_err(|e| CoreError::Internal(e.to_string()))?;
        Ok((key, content))
    }

    /// The view of an opened referral.
    pub(crate) async fn view_of(
        &self,
        key: &ReferralKey,
        row: &ReferralRow,
        case: CaseRow,
        content: ReferralContent,
    ) -> CoreResult<ReferralView> {
        let history = self.history(key, row).await?;
        let attachments = self
            .attachment_infos(key, row)
            .await?
            .into_iter()
            .map(|a| serde_json::to_value(a).map_err(|e| CoreError::Internal(e.to_string())))
            .collect::<CoreResult<Vec<_>>>()?;
        let t = case.terms;
        let consent = Consent {
            basis: t.basis,
            method: t.method,
            obtained_at: t.obtained_at,
            recipients: t.recipients,
            purposes: t.purposes,
            data_categories: t.data_categories,
            expires_at: t.expires_at,
            legal_exception: content.legal_exception.clone(),
        };
        Ok(ReferralView {
            meta: meta_of(row),
            subject: content.subject,
            notes: content.notes,
            safety: content.safety,
            danger_grid: content.danger_grid,
            consent,
            forward_note: content.forward_note,
            attachments,
            tasks: self.task_views(row.id).await?,
            history,
        })
    }
}
