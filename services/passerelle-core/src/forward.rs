//! Forwards (CONTRACT.md `POST /referrals/{id}/forward`) and the re-consent advice of a
//! decline that suggests another organisation.
//!
//! A forward is a new packet of the same case: the parent's fields that fall in the
//! forward's `data_categories` (`rules::restrict_content`), the parent's safety profile,
//! the forwarding organisation's note, never the parent's messages; sealed to a fresh
//! referral key wrapped to the forwarding and the receiving organisations. It is checked
//! against the case's consent like a filing (`rules::check_forward`).
//!
//! Check order: 401, 403 role, 404 not party, 403 wrong side, 410; then the rules that no
//! state can change — a 226-14 3° report is never forwarded, a withdrawn consent forwards
//! nothing (`422`, not `409`, as the contract says); then `409` unless the referral is
//! `accepted`; then the other rules (`422`).

use std::collections::BTreeSet;

use serde::Serialize;

use passerelle_domain::audit::{Action, Outcome, Targets};
use passerelle_domain::enums::{ConsentBasis, DataCategory, ReferralStatus};
use passerelle_domain::ids::ReferralId;
use passerelle_domain::model::ReferralMeta;
use passerelle_domain::policy::Route;
use passerelle_domain::rules::{self, ForwardRequest, Party, RuleViolation};
use passerelle_store::{CaseRow, ReferralRow};

use crate::auth::Principal;
use crate::journal::Entry;
use crate::referrals::{DeclineRequest, PacketSpec, micros};
use crate::{Core, CoreError, CoreResult, RequestCtx};

/// A decline's answer: the referral's metadata, and whether the suggested organisation
/// needs a new consent from the person (it is not a consented recipient, or the consent
/// expired or was withdrawn).
#[derive(Debug, Clone, Serialize)]
pub struct DeclineOutcome {
    /// Metadata.
    #[serde(flatten)]
    pub meta: ReferralMeta,
    /// `true` when the suggested organisation is outside the consent; `null` without a
    /// suggestion.
    pub reconsent_needed: Option<bool>,
}

impl Core {
    async fn refuse_forward(
        &self,
        p: &Principal,
        row: &ReferralRow,
        v: RuleViolation,
        ctx: &RequestCtx,
    ) -> CoreError {
        let entry = Entry::by(
            p,
            Action::ReferralRefused,
            Targets {
                referral: Some(row.id),
                case: Some(row.case_id),
                ..Targets::default()
            },
        )
        .basis(row.basis)
        .outcome(Outcome::Denied(v.rule.as_str().into()));
        match self.journal_only(entry, ctx).await {
            Ok(()) => v.into(),
            Err(e) => e,
        }
    }

    async fn case_of(&self, row: &ReferralRow) -> CoreResult<CaseRow> {
        self.store()
            .case(row.case_id)
            .await?
            .ok_or_else(|| CoreError::Internal("referral without case".into()))
    }

    /// Forwards an accepted referral (receiving organisation) to another organisation the
    /// case's consent covers, carrying only the chosen categories.
    pub async fn forward(
        &self,
        p: &Principal,
        id: ReferralId,
        req: ForwardRequest,
        ctx: &RequestCtx,
    ) -> CoreResult<ReferralMeta> {
        let row = self.load_for(p, id, Route::Forward, ctx).await?;
        if row.shredded_at.is_some() {
            return Err(CoreError::Gone);
        }
        let case = self.case_of(&row).await?;
        let withdrawn = case.withdrawn_at.is_some();
        let now = micros(self.now());
        if case.terms.basis == ConsentBasis::LegalException22614 || withdrawn {
            // `check_forward` refuses these first, whatever the rest of the request.
            let me = Party {
                slug: p.org_slug.clone(),
                kind: p.org_kind,
            };
            if let Err(v) =
                rules::check_forward(&case.terms, withdrawn, row.urgency, &req, &me, now)
            {
                return Err(self.refuse_forward(p, &row, v, ctx).await);
            }
        }
        if row.status != ReferralStatus::Accepted {
            return Err(CoreError::Conflict(
                "only an accepted referral can be forwarded",
            ));
        }
        let Some(to) = self.store().org_by_slug(req.to_org.as_str()).await? else {
            return Err(CoreError::Unprocessable {
                code: "unknown-organisation",
                detail: "The receiving organisation does not exist.",
            });
        };
        if to.id == p.org_id {
            return Err(CoreError::Unprocessable {
                code: "same-organisation",
                detail: "A referral is forwarded to another organisation.",
            });
        }
        let party = Party {
            slug: to.slug.clone(),
            kind: to.kind,
        };
        let urgency =
            match rules::check_forward(&case.terms, withdrawn, row.urgency, &req, &party, now) {
                Ok(u) => u,
                Err(v) => return Err(self.refuse_forward(p, &row, v, ctx).await),
            };
        let (_key, parent) = self.open_content(p, &row).await?;
        let cats: BTreeSet<DataCategory> = req.data_categories.iter().copied().collect();
        let mut content = rules::restrict_content(&parent, &cats);
        let note = req.note.trim();
        content.forward_note = (!note.is_empty()).then(|| req.note.clone());
        let carried = rules::categories_of(
            &content.subject,
            &content.notes,
            content.danger_grid.as_ref(),
        );
        self.store_new_packet(
            p,
            PacketSpec {
                case_id: row.case_id,
                parent: Some(row.id),
                to_org: to.id,
                to_slug: to.slug,
                purpose: req.purpose,
                urgency,
                basis: ConsentBasis::Consent,
                categories: carried.into_iter().collect(),
                now,
            },
            &content,
            None,
            ctx,
        )
        .await
    }

    /// Declines a referral, and says whether the suggested organisation (if any) would
    /// need a new consent from the person.
    pub async fn decline_with_advice(
        &self,
        p: &Principal,
        id: ReferralId,
        req: DeclineRequest,
        ctx: &RequestCtx,
    ) -> CoreResult<DeclineOutcome> {
        let suggested = req.suggested_org.clone();
        let meta = self.decline(p, id, req, ctx).await?;
        let reconsent_needed = match suggested {
            None => None,
            Some(slug) => {
                let case = self
                    .store()
                    .case(meta.case_id)
                    .await?
                    .ok_or_else(|| CoreError::Internal("referral without case".into()))?;
                let t = &case.terms;
                Some(
                    t.basis != ConsentBasis::Consent
                        || case.withdrawn_at.is_some()
                        || t.expires_at <= self.now()
                        || !t.recipients.contains(&slug),
                )
            }
        };
        Ok(DeclineOutcome {
            meta,
            reconsent_needed,
        })
    }
}
