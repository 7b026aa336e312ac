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
use passerelle_domain::ids::AttachmentId;
use passerelle_domain::ids::ReferralId;
use passerelle_domain::model::ReferralMeta;
use passerelle_domain::policy::Route;
use passerelle_domain::rules::{self, ForwardRequest, Party, RuleViolation};
use passerelle_store::{AttachmentRow, ReferralRow};
use passerelle_vault::{Binding, Part, ReferralKey};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::attachments::{AttachmentUpload, StagedUpload};
use crate::auth::Principal;
use crate::integrity::{Recorded, tamper};
use crate::journal::Entry;
use crate::referrals::{DeclineRequest, NewPacket, PacketSpec, micros, new_id};
use crate::{Core, CoreError, CoreResult, RequestCtx, fault};

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
        let case = self.case_of(row.case_id).await?;
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
        // The forward's id and key first: the parent's attachments of the chosen
        // categories are re-sealed to it and staged (incomplete, so invisible) under the
        // parent; then one transaction inserts the forward, completes and moves the copies
        // to it and appends every leaf. Killed or failing anywhere before that commit, no
        // forward exists; staged copies left by a crash are swept with the other stale
        // uploads (`discard_stale_attachments`).
        let mut packet = NewPacket {
            id: ReferralId(new_id()),
            key: ReferralKey::generate(),
            staged: Vec::new(),
        };
        let recipient = packet.key.recipient();
        let staged = self
            .stage_copies(p, &row, packet.id, &recipient, &cats, &mut packet.staged)
            .await;
        let stored = match staged {
            Ok(()) => {
                self.store_packet(
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
                    &packet,
                    ctx,
                )
                .await
            }
            Err(e) => Err(e),
        };
        if stored.is_err() {
            for s in &packet.staged {
                let _ = self.store().discard_attachment(s.aid).await;
            }
        }
        stored
    }

    /// Stages copies of the complete attachments of `parent` whose category is in `cats`
    /// for the forward `child` (not stored yet): each is checked against its leaf, opened
    /// as a stream with the forwarder's organisation identity, sealed again to `child`'s
    /// key and bound to `child`, into an incomplete attachment under `parent` (invisible);
    /// the copy's plaintext digest must equal the original's. Pushes each to `out` as soon
    /// as it exists, so that the caller can discard them all on failure.
    async fn stage_copies(
        &self,
        p: &Principal,
        parent: &ReferralRow,
        child: ReferralId,
        recipient: &str,
        cats: &BTreeSet<DataCategory>,
        out: &mut Vec<StagedUpload>,
    ) -> CoreResult<()> {
        let attachments: Vec<_> = self
            .store()
            .attachments(parent.id)
            .await?
            .into_iter()
            .filter(|a| a.done.is_some() && cats.contains(&a.category))
            .collect();
        for a in attachments {
            let Some(done) = a.done.clone() else { continue };
            let key = self.referral_key(p, parent).await?;
            let info = self.open_record(&key, &a, &done).await?;
            let binding = Binding::new(parent.id, Part::Attachment, Some(a.id.0));
            let mut hasher = Sha256::new();
            for seq in 0..done.chunks {
                let chunk = self
                    .store()
                    .attachment_chunk(a.id, seq)
                    .await?
                    .ok_or_else(|| tamper(&binding, "a chunk of the stored file is missing"))?;
                hasher.update(&chunk);
            }
            let sha: [u8; 32] = hasher.finalize().into();
            self.check_recorded_digest(
                &sha,
                Some(&done.ciphertext_sha256),
                Recorded::By(&[Action::AttachmentUploaded], a.id.0),
                &binding,
            )
            .await?;
            let mut plain = self.stream_out(a.id, done.chunks, key, binding, sha);
            let aid = AttachmentId(Uuid::new_v4());
            self.store()
                .begin_attachment(&AttachmentRow {
                    id: aid,
                    referral_id: parent.id,
                    uploaded_by: p.user_id,
                    org_id: p.org_id,
                    category: a.category,
                    created_at: micros(self.now()),
                    done: None,
                })
                .await?;
            let req = AttachmentUpload {
                filename: info.filename.clone(),
                category: a.category,
                declared_len: Some(done.size),
            };
            let copy = self
                .stage_upload(child, aid, recipient, &req, u64::MAX, &mut plain)
                .await;
            match copy {
                Ok(c) if c.info.sha256 == info.sha256 && c.info.size == info.size => out.push(c),
                other => {
                    let _ = self.store().discard_attachment(aid).await;
                    return match other {
                        Err(e) => Err(e),
                        Ok(_) => Err(tamper(
                            &binding,
                            "the copied file differs from its original",
                        )),
                    };
                }
            }
            fault::point("forward-copy");
        }
        Ok(())
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
                let case = self.case_of(meta.case_id).await?;
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
