//! Withdrawal of the victim's consent (`POST /cases/{case_id}/consent/withdraw`), exactly
//! CONTRACT.md's table, for every referral of the case:
//!
//! | state before | after | content |
//! |---|---|---|
//! | `sent` (never opened) | `withdrawn` | destroyed (`410` from now on) |
//! | `acknowledged`, `accepted` | `withdrawn` | kept until retention, both parties read it |
//! | `declined`, `closed` | unchanged | kept until retention |
//!
//! Afterwards a forward, message or attachment on any referral of the case is refused
//! (`422 consent-withdrawn`); every organisation party to the case is notified without
//! content. A 226-14 3° case has no consent to withdraw (`422 legal-exception`).
//!
//! One transaction moves the states, marks the never-opened content due for destruction
//! (unreadable at once), queues the notices and appends `consent.withdrawn`; the content
//! is then destroyed (`content.shredded` each). If that second step fails, the content is
//! still unreadable and the retention job finishes the destruction.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use passerelle_domain::audit::{Action, Outcome, Targets};
use passerelle_domain::enums::ReferralStatus;
use passerelle_domain::ids::{CaseId, OrgId, ReferralId};
use passerelle_domain::lifecycle::{self, Transition};
use passerelle_domain::policy::{self, Parties, Refusal, Route};
use passerelle_domain::rules;
use passerelle_store::ReferralEventRow;
use passerelle_vault::{Binding, Part};

use crate::auth::Principal;
use crate::journal::Entry;
use crate::notify::CONSENT_WITHDRAWN;
use crate::referrals::{micros, refusal_code, refusal_error};
use crate::shred::ShredReason;
use crate::{Core, CoreError, CoreResult, RequestCtx};

/// `POST /api/v1/cases/{case_id}/consent/withdraw`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawRequest {
    /// What the person said, how (sealed to each opened referral's key).
    pub note: String,
}

/// What became of one referral of the case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WithdrawnReferral {
    /// The referral.
    pub id: ReferralId,
    /// Its state before.
    pub previous_status: ReferralStatus,
    /// Its state now.
    pub status: ReferralStatus,
    /// `destroyed` or `kept`.
    pub content: &'static str,
}

/// The answer of a withdrawal.
#[derive(Debug, Clone, Serialize)]
pub struct Withdrawal {
    /// The case.
    pub case_id: CaseId,
    /// When the consent was withdrawn (the first time, for a repeated call).
    #[serde(with = "time::serde::rfc3339")]
    pub withdrawn_at: OffsetDateTime,
    /// Every referral of the case.
    pub referrals: Vec<WithdrawnReferral>,
}

impl Core {
    /// Withdraws the case's consent (a user of an organisation party to any referral of
    /// the case). Repeating it changes nothing.
    pub async fn withdraw_consent(
        &self,
        p: &Principal,
        case_id: CaseId,
        req: WithdrawRequest,
        ctx: &RequestCtx,
    ) -> CoreResult<Withdrawal> {
        let named = Targets {
            case: Some(case_id),
            ..Targets::default()
        };
        self.check_role(p, Route::WithdrawConsent, named, ctx)
            .await?;
        let case = self.store().case(case_id).await?;
        let referrals = match &case {
            Some(_) => self.store().referrals_of_case(case_id).await?,
            None => Vec::new(),
        };
        let parties: Vec<Parties> = referrals
            .iter()
            .map(|r| Parties {
                from: r.from_org,
                to: r.to_org,
            })
            .collect();
        if let Err(refusal) = policy::authorize(Route::WithdrawConsent, &p.actor(), &parties) {
            let entry = Entry::by(
                p,
                Action::ReferralDenied,
                Targets {
                    case: case.as_ref().map(|c| c.id),
                    ..Targets::default()
                },
            )
            .outcome(Outcome::Denied(refusal_code(refusal).into()));
            self.journal_only(entry, ctx).await?;
            return Err(refusal_error(refusal));
        }
        let Some(case) = case else {
            return Err(refusal_error(Refusal::NotParty));
        };
        if let Err(v) = rules::check_withdrawal(&case.terms) {
            let entry = Entry::by(
                p,
                Action::ConsentWithdrawn,
                Targets {
                    case: Some(case.id),
                    ..Targets::default()
                },
            )
            .basis(case.terms.basis)
            .outcome(Outcome::Denied(v.rule.as_str().into()));
            self.journal_only(entry, ctx).await?;
            return Err(v.into());
        }
        if req.note.trim().is_empty() {
            return Err(CoreError::BadRequest("a note is required"));
        }
        let now = micros(self.now());
        let mut tx = self.store().begin().await?;
        let newly = tx.set_case_withdrawn(case.id, now).await?;
        let mut out = Vec::with_capacity(referrals.len());
        let mut to_shred = Vec::new();
        let mut entry = Entry::by(
            p,
            Action::ConsentWithdrawn,
            Targets {
                case: Some(case.id),
                ..Targets::default()
            },
        )
        .basis(case.terms.basis);
        for r in &referrals {
            let destroys = lifecycle::withdraw_destroys_content(r.status);
            let next = lifecycle::next(r.status, Transition::Withdraw).unwrap_or(None);
            let Some(next) = next else {
                out.push(WithdrawnReferral {
                    id: r.id,
                    previous_status: r.status,
                    status: r.status,
                    content: if r.shredded_at.is_some() {
                        "destroyed"
                    } else {
                        "kept"
                    },
                });
                continue;
            };
            // The note is sealed to the referrals the caller's organisation holds, to the
            // recipient of the key it unwraps (never to a column rewritten in the
            // database); the others record the withdrawal without it.
            let holds = r.from_org == p.org_id || r.to_org == p.org_id;
            let key = if destroys || !holds || r.shredded_at.is_some() {
                None
            } else {
                match self.referral_key(p, r).await {
                    Ok(k) => Some(k),
                    Err(CoreError::Gone) => None,
                    Err(e) => return Err(e),
                }
            };
            let sealed_detail = if let Some(key) = key {
                let recipient = self.checked_recipient(&key, r)?;
                let sealed = passerelle_vault::seal(
                    &recipient,
                    &Binding {
                        referral: r.id,
                        part: Part::Detail,
                        item: None,
                    },
                    req.note.as_bytes(),
                )?;
                entry = entry.ciphertext(passerelle_vault::sha256(&sealed));
                Some(sealed)
            } else {
                None
            };
            let event = ReferralEventRow {
                referral_id: r.id,
                at: now,
                status: next,
                actor: Some(p.user_id),
                outcome: None,
                sealed_detail,
                suggested_org: None,
            };
            if !tx.transition(r.id, r.status, &event).await? {
                return Err(CoreError::Conflict(
                    "a referral of the case changed meanwhile; try again",
                ));
            }
            if destroys {
                tx.schedule_shred(r.id, now).await?;
                to_shred.push(r.id);
            }
            out.push(WithdrawnReferral {
                id: r.id,
                previous_status: r.status,
                status: next,
                content: if destroys { "destroyed" } else { "kept" },
            });
        }
        if newly {
            let orgs: BTreeSet<OrgId> = referrals
                .iter()
                .flat_map(|r| [r.from_org, r.to_org])
                .collect();
            for org in orgs {
                self.notify(tx.as_mut(), org, CONSENT_WITHDRAWN, None, Some(case.id))
                    .await?;
            }
        }
        self.commit_with(tx, entry, ctx).await?;
        self.wake_outbox();
        for id in to_shred {
            if let Err(e) = self
                .shred_referral(id, ShredReason::ConsentWithdrawn, Some(p), ctx)
                .await
            {
                tracing::error!(referral = %id, error = %e, "withdrawal: shredding failed; the content is unreadable and the retention job will destroy it");
            }
        }
        Ok(Withdrawal {
            case_id: case.id,
            withdrawn_at: case.withdrawn_at.unwrap_or(now),
            referrals: out,
        })
    }
}
