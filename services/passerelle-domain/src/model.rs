//! The referral model: what a filing carries (subject, notes, safety profile, danger grid,
//! consent) and the metadata every list shows.
//!
//! The content types (`Subject`, `Notes`, `Safety`, `DangerGrid`) are what gets sealed; they
//! never appear in logs (their `Debug` is redacted) nor in audit leaves.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::enums::*;
use crate::ids::*;

/// Writes `<redacted>` instead of the value: content types never print their fields.
macro_rules! redacted_debug {
    ($($t:ty),+) => {
        $(impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($t), "(<redacted>)"))
            }
        })+
    };
}

/// The victim. Every field is optional: only what the consent covers may be sent.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    /// Category `identity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Category `identity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<Date>,
    /// Category `contact`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// Free-text notes, by category.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notes {
    /// Category `narrative`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub narrative: Option<String>,
    /// Category `risk`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<String>,
    /// Category `medical`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medical: Option<String>,
}

/// How to reach the victim safely. Carries no identifying data, needs no category and
/// travels with every referral and forward.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Safety {
    /// The safe channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<SafetyChannel>,
    /// When she may be reached, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<String>,
    /// Whether a voicemail may be left.
    #[serde(default)]
    pub voicemail_ok: bool,
    /// Whether the organisation may name itself when calling.
    #[serde(default)]
    pub may_name_org: bool,
    /// A code word agreed with her.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_word: Option<String>,
    /// Do not contact her at all (go through the referrer).
    #[serde(default)]
    pub do_not_contact: bool,
}

/// The police danger-assessment grid's result (category `risk`).
#[derive(Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DangerGrid {
    /// Number of "yes" answers.
    pub yes_answers: u8,
    /// Number of "red" (most severe) answers.
    pub red_answers: u8,
}

redacted_debug!(Subject, Notes, Safety, DangerGrid);

/// The 226-14 3° record: both legal conditions and what was done first.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalException {
    /// Her life is in immediate danger.
    pub immediate_danger: bool,
    /// She cannot protect herself because of the perpetrator's hold (*emprise*).
    pub emprise: bool,
    /// What was done to seek her agreement.
    pub agreement_sought: String,
    /// Why the report is made.
    pub justification: String,
}

redacted_debug!(LegalException);

/// The victim's consent as recorded at filing (or the legal exception replacing it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// `consent` or `legal_exception_226_14`.
    pub basis: ConsentBasis,
    /// How it was obtained.
    pub method: ConsentMethod,
    /// When it was obtained.
    #[serde(with = "time::serde::rfc3339")]
    pub obtained_at: OffsetDateTime,
    /// Named recipient organisations.
    pub recipients: Vec<OrgSlug>,
    /// Purposes covered.
    pub purposes: Vec<Purpose>,
    /// Data categories covered.
    pub data_categories: Vec<DataCategory>,
    /// Until when.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Present only with the `legal_exception_226_14` basis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_exception: Option<LegalException>,
}

/// A filing as received by `POST /api/v1/referrals`, after JSON parsing (shape and enum
/// values checked; rules not yet checked).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilingRequest {
    /// Receiving organisation.
    pub to_org: OrgSlug,
    /// Purpose of this referral.
    pub purpose: Purpose,
    /// Urgency asked by the filer (may be raised by the danger grid).
    pub urgency: Urgency,
    /// Optional danger grid (category `risk`).
    #[serde(default)]
    pub danger_grid: Option<DangerGrid>,
    /// The consent.
    pub consent: Consent,
    /// The victim's details.
    #[serde(default)]
    pub subject: Subject,
    /// The safe-contact profile.
    #[serde(default)]
    pub safety: Safety,
    /// The notes.
    #[serde(default)]
    pub notes: Notes,
}

/// The sealed part of a referral: everything that is victim data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralContent {
    /// The victim's details (only consented fields).
    pub subject: Subject,
    /// The notes (only consented fields).
    pub notes: Notes,
    /// The safe-contact profile.
    pub safety: Safety,
    /// The danger grid, when the `risk` category is carried.
    pub danger_grid: Option<DangerGrid>,
    /// The 226-14 3° record, for such referrals.
    pub legal_exception: Option<LegalException>,
    /// The forwarding organisation's note, for forwards.
    pub forward_note: Option<String>,
}

/// The consent as kept in clear for checks: no victim data (the legal-exception texts are
/// sealed in the content instead).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentTerms {
    /// Legal basis.
    pub basis: ConsentBasis,
    /// How it was obtained.
    pub method: ConsentMethod,
    /// When it was obtained.
    #[serde(with = "time::serde::rfc3339")]
    pub obtained_at: OffsetDateTime,
    /// Named recipients.
    pub recipients: Vec<OrgSlug>,
    /// Purposes.
    pub purposes: Vec<Purpose>,
    /// Data categories.
    pub data_categories: Vec<DataCategory>,
    /// Expiry.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl From<&Consent> for ConsentTerms {
    fn from(c: &Consent) -> Self {
        ConsentTerms {
            basis: c.basis,
            method: c.method,
            obtained_at: c.obtained_at,
            recipients: c.recipients.clone(),
            purposes: c.purposes.clone(),
            data_categories: c.data_categories.clone(),
            expires_at: c.expires_at,
        }
    }
}

/// A referral's metadata: what lists show, never content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralMeta {
    /// Id.
    pub id: ReferralId,
    /// Case.
    pub case_id: CaseId,
    /// Human reference, e.g. `PSR-7K3M9QX2`.
    pub reference: String,
    /// The referral this one forwards, if any.
    pub parent_id: Option<ReferralId>,
    /// Sending organisation's slug.
    pub from_org: OrgSlug,
    /// Receiving organisation's slug.
    pub to_org: OrgSlug,
    /// Purpose.
    pub purpose: Purpose,
    /// Urgency (after the danger grid).
    pub urgency: Urgency,
    /// State.
    pub status: ReferralStatus,
    /// Filing time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Due time (from urgency).
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
}

/// A human-friendly, non-sequential reference derived from the id (Crockford base32 of its
/// first 40 bits): `PSR-` and 8 characters.
pub fn reference_for(id: ReferralId) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let b = id.0.as_bytes();
    let mut v: u64 = 0;
    for byte in &b[..5] {
        v = (v << 8) | u64::from(*byte);
    }
    let mut out = String::from("PSR-");
    for i in (0..8).rev() {
        out.push(ALPHABET[((v >> (i * 5)) & 31) as usize] as char);
    }
    out
}
