//! Consent and legal rules of CONTRACT.md "Referrals": what a filing or a forward may carry,
//! to whom, for what, until when, and the Code pénal art. 226-14 3° path. Every refusal is a
//! [`RuleViolation`] naming the rule (the end of the problem `type` of the `422`) and an
//! English sentence for the problem `detail` that never holds victim data.
//!
//! # Check order
//!
//! The first failing check answers, so the order decides which rule a caller sees. The
//! most specific, least revealing reason comes first:
//!
//! * [`check_filing`], basis `consent`: a 226-14 record on a consent filing
//!   ([`Rule::LegalException`]) → expiry ([`Rule::ConsentExpired`]: an expired consent
//!   covers nothing, so recipients and purposes are moot) → recipient
//!   ([`Rule::ConsentRecipient`]) → purpose ([`Rule::ConsentPurpose`]) → categories
//!   ([`Rule::ConsentCategory`]).
//! * [`check_filing`], basis `legal_exception_226_14`: every failure is
//!   [`Rule::LegalException`]; checked who files (health professional), then to whom
//!   (prosecutor) and why (`report_to_prosecutor`), then about whom (an adult on the filing
//!   date), then the record (both conditions, both texts), then that the consent fields
//!   describe exactly this report. No expiry check: the basis is the law, not a consent.
//! * [`check_forward`]: a 226-14 referral is never forwarded ([`Rule::LegalException`]) →
//!   withdrawal ([`Rule::ConsentWithdrawn`], which outranks expiry: it is what the victim
//!   did) → expiry → recipient → purpose → categories → urgency
//!   ([`Rule::UrgencyLowered`], the only rule about the forward itself rather than the
//!   consent).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime};

use crate::enums::*;
use crate::ids::OrgSlug;
use crate::model::*;

/// A consent or legal rule (the last segment of the `422` problem `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// `to_org` is not a consented recipient.
    ConsentRecipient,
    /// `purpose` is not a consented purpose.
    ConsentPurpose,
    /// A field or category sent is not consented.
    ConsentCategory,
    /// The consent has expired.
    ConsentExpired,
    /// The consent was withdrawn.
    ConsentWithdrawn,
    /// The 226-14 3° conditions are not met, or the action is not open to such a referral.
    LegalException,
    /// A forward asked for a lower urgency than its parent's.
    UrgencyLowered,
}

impl Rule {
    /// Every rule, in declaration order.
    pub const ALL: &'static [Rule] = &[
        Rule::ConsentRecipient,
        Rule::ConsentPurpose,
        Rule::ConsentCategory,
        Rule::ConsentExpired,
        Rule::ConsentWithdrawn,
        Rule::LegalException,
        Rule::UrgencyLowered,
    ];

    /// The kebab-case spelling used in the problem `type` and in audit outcomes.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::ConsentRecipient => "consent-recipient",
            Rule::ConsentPurpose => "consent-purpose",
            Rule::ConsentCategory => "consent-category",
            Rule::ConsentExpired => "consent-expired",
            Rule::ConsentWithdrawn => "consent-withdrawn",
            Rule::LegalException => "legal-exception",
            Rule::UrgencyLowered => "urgency-lowered",
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal by a consent or legal rule (HTTP `422`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rule}: {detail}")]
pub struct RuleViolation {
    /// Which rule.
    pub rule: Rule,
    /// An English sentence for the problem `detail`; never victim data.
    pub detail: &'static str,
}

const fn violation(rule: Rule, detail: &'static str) -> RuleViolation {
    RuleViolation { rule, detail }
}

/// Who files: what the rules need to know about the filing user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filer {
    /// The user's role.
    pub role: Role,
    /// Whether the user is a health professional (physician, midwife, nurse…).
    pub health_professional: bool,
}

/// The receiving organisation of a filing or forward: the one its `to_org` names (a
/// mismatched slug fails closed, as an unconsented recipient or a failed 226-14 check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// Its slug.
    pub slug: OrgSlug,
    /// Its kind.
    pub kind: OrgKind,
}

/// The data categories of the fields present: `identity` (name, birth date), `contact`
/// (phone), `narrative`, `risk` (risk notes or a danger grid), `medical`. A field that is
/// present counts even when empty.
pub fn categories_of(
    subject: &Subject,
    notes: &Notes,
    grid: Option<&DangerGrid>,
) -> BTreeSet<DataCategory> {
    let mut cats = BTreeSet::new();
    if subject.name.is_some() || subject.birth_date.is_some() {
        cats.insert(DataCategory::Identity);
    }
    if subject.phone.is_some() {
        cats.insert(DataCategory::Contact);
    }
    if notes.narrative.is_some() {
        cats.insert(DataCategory::Narrative);
    }
    if notes.risk.is_some() || grid.is_some() {
        cats.insert(DataCategory::Risk);
    }
    if notes.medical.is_some() {
        cats.insert(DataCategory::Medical);
    }
    cats
}

/// The danger grid's floor: `high` from 2 red or 12 yes answers, else `normal`.
pub fn urgency_floor(grid: Option<&DangerGrid>) -> Urgency {
    match grid {
        Some(g) if g.red_answers >= 2 || g.yes_answers >= 12 => Urgency::High,
        _ => Urgency::Normal,
    }
}

/// The urgency asked, raised to the danger grid's floor.
pub fn effective_urgency(asked: Urgency, grid: Option<&DangerGrid>) -> Urgency {
    asked.max(urgency_floor(grid))
}

/// Whether someone born on `birth_date` is 18 on `on`. Born on 29 February, the 18th
/// birthday of a common year is taken as 1 March (the later, safer reading: no one is
/// treated as an adult a day early).
pub fn is_adult(birth_date: Date, on: Date) -> bool {
    let year = birth_date.year() + 18;
    let birthday = Date::from_calendar_date(year, birth_date.month(), birth_date.day())
        .or_else(|_| Date::from_calendar_date(year, Month::March, 1));
    match birthday {
        Ok(d) => on >= d,
        // The 18th birthday is past the last representable date.
        Err(_) => false,
    }
}

fn not_blank(s: &str) -> bool {
    !s.trim().is_empty()
}

/// Checks a filing against its consent (or the 226-14 3° conditions) and returns its
/// effective urgency. See the module documentation for the check order.
pub fn check_filing(
    req: &FilingRequest,
    filer: &Filer,
    to: &Party,
    now: OffsetDateTime,
) -> Result<Urgency, RuleViolation> {
    let c = &req.consent;
    let present = categories_of(&req.subject, &req.notes, req.danger_grid.as_ref());
    let covered = |cats: &[DataCategory]| present.iter().all(|p| cats.contains(p));
    match c.basis {
        ConsentBasis::Consent => {
            if c.legal_exception.is_some() {
                return Err(violation(
                    Rule::LegalException,
                    "A 226-14 record is only allowed with the legal_exception_226_14 basis.",
                ));
            }
            if c.expires_at <= now {
                return Err(violation(Rule::ConsentExpired, "The consent has expired."));
            }
            if !c.recipients.contains(&req.to_org) {
                return Err(violation(
                    Rule::ConsentRecipient,
                    "The receiving organisation is not a consented recipient.",
                ));
            }
            if !c.purposes.contains(&req.purpose) {
                return Err(violation(
                    Rule::ConsentPurpose,
                    "The purpose is not covered by the consent.",
                ));
            }
            if !covered(&c.data_categories) {
                return Err(violation(
                    Rule::ConsentCategory,
                    "A field sent is in a data category the consent does not cover.",
                ));
            }
        }
        ConsentBasis::LegalException22614 => {
            let le = |detail| Err(violation(Rule::LegalException, detail));
            if !filer.health_professional {
                return le("Only a health professional may report under art. 226-14 3°.");
            }
            if to.kind != OrgKind::Prosecutor || to.slug != req.to_org {
                return le("A 226-14 3° report goes to a prosecutor's office only.");
            }
            if req.purpose != Purpose::ReportToProsecutor {
                return le("A 226-14 3° report has the purpose report_to_prosecutor.");
            }
            let Some(birth_date) = req.subject.birth_date else {
                return le("A 226-14 3° report needs the subject's birth date.");
            };
            if !is_adult(birth_date, now.date()) {
                return le("Art. 226-14 3° applies to adult victims only.");
            }
            let Some(record) = &c.legal_exception else {
                return le("A 226-14 3° report needs the legal_exception record.");
            };
            if !record.immediate_danger || !record.emprise {
                return le("Art. 226-14 3° requires both immediate danger and emprise.");
            }
            if !not_blank(&record.agreement_sought) || !not_blank(&record.justification) {
                return le("A 226-14 3° report needs agreement_sought and justification.");
            }
            if c.recipients.as_slice() != std::slice::from_ref(&req.to_org) {
                return le("A 226-14 3° report has the receiving prosecutor as only recipient.");
            }
            if c.purposes.as_slice() != [Purpose::ReportToProsecutor] {
                return le("A 226-14 3° report has report_to_prosecutor as only purpose.");
            }
            if !covered(&c.data_categories) {
                return le("A field sent is in a data category the report does not list.");
            }
        }
    }
    Ok(effective_urgency(req.urgency, req.danger_grid.as_ref()))
}

/// `POST /api/v1/referrals/{id}/forward`, after JSON parsing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardRequest {
    /// Receiving organisation.
    pub to_org: OrgSlug,
    /// Purpose of the forward.
    pub purpose: Purpose,
    /// The categories the forward carries.
    pub data_categories: Vec<DataCategory>,
    /// The forwarding organisation's note.
    pub note: String,
    /// The forward's urgency; the parent's when absent; never lower.
    #[serde(default)]
    pub urgency: Option<Urgency>,
}

/// Checks a forward against the case's consent and returns the forward's urgency (the
/// parent's unless raised). See the module documentation for the check order.
pub fn check_forward(
    terms: &ConsentTerms,
    withdrawn: bool,
    parent_urgency: Urgency,
    req: &ForwardRequest,
    to: &Party,
    now: OffsetDateTime,
) -> Result<Urgency, RuleViolation> {
    if terms.basis == ConsentBasis::LegalException22614 {
        return Err(violation(
            Rule::LegalException,
            "A 226-14 3° report cannot be forwarded.",
        ));
    }
    if withdrawn {
        return Err(violation(
            Rule::ConsentWithdrawn,
            "The consent was withdrawn.",
        ));
    }
    if terms.expires_at <= now {
        return Err(violation(Rule::ConsentExpired, "The consent has expired."));
    }
    if !terms.recipients.contains(&req.to_org) || to.slug != req.to_org {
        return Err(violation(
            Rule::ConsentRecipient,
            "The receiving organisation is not a consented recipient.",
        ));
    }
    if !terms.purposes.contains(&req.purpose) {
        return Err(violation(
            Rule::ConsentPurpose,
            "The purpose is not covered by the consent.",
        ));
    }
    if !req
        .data_categories
        .iter()
        .all(|c| terms.data_categories.contains(c))
    {
        return Err(violation(
            Rule::ConsentCategory,
            "A requested data category is not covered by the consent.",
        ));
    }
    let urgency = req.urgency.unwrap_or(parent_urgency);
    if urgency < parent_urgency {
        return Err(violation(
            Rule::UrgencyLowered,
            "A forward cannot lower the referral's urgency.",
        ));
    }
    Ok(urgency)
}

/// Checks that something may be added to a referral of the case (a message, or an
/// attachment of category `category`): a withdrawn consent refuses everything
/// ([`Rule::ConsentWithdrawn`]; 226-14 3° referrals are not affected), and an attachment's
/// category must be consented ([`Rule::ConsentCategory`]). Expiry blocks only forwards.
pub fn check_addition(
    terms: &ConsentTerms,
    withdrawn: bool,
    category: Option<DataCategory>,
) -> Result<(), RuleViolation> {
    if terms.basis == ConsentBasis::Consent && withdrawn {
        return Err(violation(
            Rule::ConsentWithdrawn,
            "The consent was withdrawn.",
        ));
    }
    match category {
        Some(c) if !terms.data_categories.contains(&c) => Err(violation(
            Rule::ConsentCategory,
            "The attachment's data category is not covered by the consent.",
        )),
        _ => Ok(()),
    }
}

/// Checks that the case's consent may be withdrawn: a 226-14 3° case has no consent to
/// withdraw ([`Rule::LegalException`]). Withdrawing twice is allowed (nothing changes).
pub fn check_withdrawal(terms: &ConsentTerms) -> Result<(), RuleViolation> {
    match terms.basis {
        ConsentBasis::Consent => Ok(()),
        ConsentBasis::LegalException22614 => Err(violation(
            Rule::LegalException,
            "A 226-14 3° report has no consent to withdraw.",
        )),
    }
}

/// The content restricted to the categories `cats`: each field is kept only if its
/// category is in `cats` (the danger grid with `risk`); `safety` is always kept;
/// `legal_exception` and `forward_note` are cleared (the caller sets `forward_note`).
pub fn restrict_content(
    content: &ReferralContent,
    cats: &BTreeSet<DataCategory>,
) -> ReferralContent {
    let has = |c| cats.contains(&c);
    let keep = |c, v: &Option<String>| if has(c) { v.clone() } else { None };
    ReferralContent {
        subject: Subject {
            name: keep(DataCategory::Identity, &content.subject.name),
            birth_date: content
                .subject
                .birth_date
                .filter(|_| has(DataCategory::Identity)),
            phone: keep(DataCategory::Contact, &content.subject.phone),
        },
        notes: Notes {
            narrative: keep(DataCategory::Narrative, &content.notes.narrative),
            risk: keep(DataCategory::Risk, &content.notes.risk),
            medical: keep(DataCategory::Medical, &content.notes.medical),
        },
        safety: content.safety.clone(),
        danger_grid: content.danger_grid.filter(|_| has(DataCategory::Risk)),
        legal_exception: None,
        forward_note: None,
    }
}

#[cfg(test)]
mod tests;
