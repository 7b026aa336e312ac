//! Referral use cases: file, list, open, accept, decline, close. Forwards, withdrawal,
//! tasks and retention live in their own modules and hook in here (`after_packet_inserted`,
//! `retention_gate`, `touch_contact`).

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use zeroize::Zeroizing;

use passerelle_domain::audit::{Action, Outcome, Targets};
use passerelle_domain::enums::*;
use passerelle_domain::ids::*;
use passerelle_domain::lifecycle::{self, Transition};
use passerelle_domain::model::*;
use passerelle_domain::policy::{self, Parties, Refusal, Route};
use passerelle_domain::rules::{self, Filer, Party};
use passerelle_store::{BoxKind, CaseRow, KeyWrapRow, ListQuery, ReferralEventRow, ReferralRow};
use passerelle_vault::{Binding, Part, ReferralKey};

use crate::auth::Principal;
use crate::integrity::Recorded;
use crate::journal::Entry;
use crate::view::{HistoryItem, ReferralView};
use crate::{Core, CoreError, CoreResult, RequestCtx};

/// Default page size of a box.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size of a box.
pub const MAX_LIMIT: u32 = 200;

/// A request for one page of a box.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListParams {
    /// `inbox` or `sent`.
    #[serde(rename = "box")]
    pub box_kind: Option<String>,
    /// Only this state.
    pub status: Option<ReferralStatus>,
    /// Only overdue referrals.
    pub overdue: Option<bool>,
    /// Page size.
    pub limit: Option<u32>,
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
}

/// One page of metadata.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Page {
    /// Items.
    pub items: Vec<ReferralMeta>,
    /// Cursor of the next page, `None` on the last.
    pub next_cursor: Option<String>,
}

/// `POST …/decline`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclineRequest {
    /// Why (sealed; visible to both parties).
    pub reason: String,
    /// Another organisation that could help.
    #[serde(default)]
    pub suggested_org: Option<OrgSlug>,
}

/// `POST …/close`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// Outcome code.
    pub outcome: CloseOutcome,
}

/// An opaque page cursor: a row's sort time and id, base64url (boxes and notices).
pub(crate) fn encode_cursor(at: OffsetDateTime, id: Uuid) -> String {
    let mut raw = Vec::with_capacity(32);
    raw.extend_from_slice(&at.unix_timestamp_nanos().to_be_bytes());
    raw.extend_from_slice(id.as_bytes());
    URL_SAFE_NO_PAD.encode(raw)
}

/// The time and id of a cursor from [`encode_cursor`]; `None` for anything else.
pub(crate) fn decode_cursor(s: &str) -> Option<(OffsetDateTime, Uuid)> {
    let raw = URL_SAFE_NO_PAD.decode(s).ok()?;
    if raw.len() != 32 {
        return None;
    }
    let nanos = i128::from_be_bytes(raw[..16].try_into().ok()?);
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?;
    Some((at, Uuid::from_slice(&raw[16..]).ok()?))
}

pub(crate) fn meta_of(r: &ReferralRow) -> ReferralMeta {
    ReferralMeta {
        id: r.id,
        case_id: r.case_id,
        reference: r.reference.clone(),
        parent_id: r.parent_id,
        from_org: r.from_slug.clone(),
        to_org: r.to_slug.clone(),
        purpose: r.purpose,
        urgency: r.urgency,
        status: r.status,
        created_at: r.created_at,
        due_at: r.due_at,
    }
}

pub(crate) fn refusal_error(r: Refusal) -> CoreError {
    match r {
        Refusal::Forbidden => CoreError::Forbidden("role"),
        Refusal::NotParty => CoreError::NotFound,
        Refusal::WrongSide => CoreError::Forbidden("side"),
    }
}

pub(crate) fn refusal_code(r: Refusal) -> &'static str {
    match r {
        Refusal::Forbidden => "role",
        Refusal::NotParty => "not-party",
        Refusal::WrongSide => "side",
    }
}

pub(crate) fn new_id() -> Uuid {
    Uuid::new_v4()
}

/// A packet about to be stored: its id and key are chosen first so that a forward's
/// attachments can be sealed to it before it exists.
pub(crate) struct NewPacket {
    /// The referral id.
    pub(crate) id: ReferralId,
    /// Its key.
    pub(crate) key: ReferralKey,
    /// Attachments streamed and sealed to `key`, bound to `id`, staged (incomplete,
    /// invisible) under another referral.
    pub(crate) staged: Vec<crate::attachments::StagedUpload>,
}

/// Truncates to microseconds, the precision both databases keep.
pub(crate) fn micros(t: OffsetDateTime) -> OffsetDateTime {
    let n = t.unix_timestamp_nanos();
    OffsetDateTime::from_unix_timestamp_nanos(n - n.rem_euclid(1000)).unwrap_or(t)
}

impl Core {
    /// The case of a referral (every referral has one: a missing case is an internal
    /// error, never a "not found").
    pub(crate) async fn case_of(&self, id: CaseId) -> CoreResult<CaseRow> {
        self.store()
            .case(id)
            .await?
            .ok_or_else(|| CoreError::Internal("referral without case".into()))
    }

    /// Refuses a route to a role that may never call it (403), before anything is read,
    /// leaving a `referral.denied` leaf with reason `role` (every denial is recorded,
    /// DESIGN.md §4); `targets` are the ids the request named.
    pub(crate) async fn check_role(
        &self,
        p: &Principal,
        route: Route,
        targets: Targets,
        ctx: &RequestCtx,
    ) -> CoreResult<()> {
        match policy::authorize(route, &p.actor(), &[]) {
            Err(Refusal::Forbidden) => {
                let entry = Entry::by(p, Action::ReferralDenied, targets)
                    .outcome(Outcome::Denied(refusal_code(Refusal::Forbidden).into()));
                self.journal_only(entry, ctx).await?;
                Err(CoreError::Forbidden("role"))
            }
            _ => Ok(()),
        }
    }

    /// Loads a referral and checks that `p` may use `route` on it; every refusal, a
    /// missing referral included, leaves a `referral.denied` leaf and answers exactly like
    /// the contract's check order says.
    pub(crate) async fn load_for(
        &self,
        p: &Principal,
        id: ReferralId,
        route: Route,
        ctx: &RequestCtx,
    ) -> CoreResult<ReferralRow> {
        let named = Targets {
            referral: Some(id),
            ..Targets::default()
        };
        self.check_role(p, route, named, ctx).await?;
        let row = self.store().referral(id).await?;
        let decision = match &row {
            None => Err(Refusal::NotParty),
            Some(r) => policy::authorize(
                route,
                &p.actor(),
                &[Parties {
                    from: r.from_org,
                    to: r.to_org,
                }],
            ),
        };
        match decision {
            Ok(()) => {
                let row = row.expect("authorised on an existing referral");
                if route != Route::ReadArchived {
                    self.retention_gate(&row).await?;
                }
                Ok(row)
            }
            Err(refusal) => {
                let entry = Entry::by(
                    p,
                    Action::ReferralDenied,
                    Targets {
                        referral: Some(id),
                        case: row.as_ref().map(|r| r.case_id),
                        ..Targets::default()
                    },
                )
                .outcome(Outcome::Denied(refusal_code(refusal).into()));
                self.journal_only(entry, ctx).await?;
                Err(refusal_error(refusal))
            }
        }
    }

    /// Files a referral: checks the role, the consent or the 226-14 3° rule, seals the
    /// content to a fresh referral key wrapped to both organisations (public keys only),
    /// opens a case, records the filing.
    pub async fn file_referral(
        &self,
        p: &Principal,
        req: FilingRequest,
        ctx: &RequestCtx,
    ) -> CoreResult<ReferralMeta> {
        self.check_role(p, Route::FileReferral, Targets::default(), ctx)
            .await?;
        let now = micros(self.now());
        let Some(to) = self.store().org_by_slug(req.to_org.as_str()).await? else {
            return Err(CoreError::Unprocessable {
                code: "unknown-organisation",
                detail: "The receiving organisation does not exist.",
            });
        };
        let filer = Filer {
            role: p.role,
            health_professional: p.health_professional,
        };
        let party = Party {
            slug: to.slug.clone(),
            kind: to.kind,
        };
        let urgency = match rules::check_filing(&req, &filer, &party, now) {
            Ok(u) => u,
            Err(v) => {
                let entry = Entry::by(
                    p,
                    Action::ReferralRefused,
                    Targets {
                        org: Some(to.id),
                        ..Targets::default()
                    },
                )
                .basis(req.consent.basis)
                .outcome(Outcome::Denied(v.rule.as_str().into()));
                self.journal_only(entry, ctx).await?;
                return Err(v.into());
            }
        };
        let categories: BTreeSet<DataCategory> =
            rules::categories_of(&req.subject, &req.notes, req.danger_grid.as_ref());
        let content = ReferralContent {
            subject: req.subject,
            notes: req.notes,
            safety: req.safety,
            danger_grid: req.danger_grid,
            legal_exception: req.consent.legal_exception.clone(),
            forward_note: None,
        };
        let case = CaseRow {
            id: CaseId(new_id()),
            created_at: now,
            terms: ConsentTerms::from(&req.consent),
            withdrawn_at: None,
        };
        let meta = self
            .store_new_packet(
                p,
                PacketSpec {
                    case_id: case.id,
                    parent: None,
                    to_org: to.id,
                    to_slug: to.slug,
                    purpose: req.purpose,
                    urgency,
                    basis: req.consent.basis,
                    categories: categories.into_iter().collect(),
                    now,
                },
                &content,
                Some(case),
                ctx,
            )
            .await?;
        Ok(meta)
    }

    /// Seals and stores one packet (a filing or a forward), then records it.
    pub(crate) async fn store_new_packet(
        &self,
        p: &Principal,
        spec: PacketSpec,
        content: &ReferralContent,
        new_case: Option<CaseRow>,
        ctx: &RequestCtx,
    ) -> CoreResult<ReferralMeta> {
        let packet = NewPacket {
            id: ReferralId(new_id()),
            key: ReferralKey::generate(),
            staged: Vec::new(),
        };
        self.store_packet(p, spec, content, new_case, &packet, ctx)
            .await
    }

    /// Stores the packet `packet` (its id and key chosen, its attachments staged under
    /// another referral) in one transaction: the referral, the staged attachments completed
    /// and moved to it, and every leaf.
    pub(crate) async fn store_packet(
        &self,
        p: &Principal,
        spec: PacketSpec,
        content: &ReferralContent,
        new_case: Option<CaseRow>,
        packet: &NewPacket,
        ctx: &RequestCtx,
    ) -> CoreResult<ReferralMeta> {
        // An organisation identity retired (`keys rotate-org`) between reading the current
        // keys and committing: wrap again with the new ones.
        for _ in 0..3 {
            if let Some(meta) = self
                .store_packet_once(p, &spec, content, new_case.as_ref(), packet, ctx)
                .await?
            {
                return Ok(meta);
            }
        }
        Err(CoreError::Unavailable)
    }

    /// One attempt of [`Core::store_new_packet`]; `None` when a key it wrapped to was
    /// retired meanwhile (nothing committed but harmless orphan wraps).
    async fn store_packet_once(
        &self,
        p: &Principal,
        spec: &PacketSpec,
        content: &ReferralContent,
        new_case: Option<&CaseRow>,
        packet: &NewPacket,
        ctx: &RequestCtx,
    ) -> CoreResult<Option<ReferralMeta>> {
        let id = packet.id;
        let key = &packet.key;
        let from_key = self
            .store()
            .current_org_key(p.org_id)
            .await?
            .ok_or_else(|| CoreError::Internal("sending organisation has no key".into()))?;
        let to_key = self
            .store()
            .current_org_key(spec.to_org)
            .await?
            .ok_or_else(|| CoreError::Internal("receiving organisation has no key".into()))?;
        let plaintext = Zeroizing::new(
            serde_json::to_vec(content).map_err(|e| CoreError::Internal(e.to_string()))?,
        );
        let binding = Binding {
            referral: id,
            part: Part::Content,
            item: None,
        };
        let sealed = passerelle_vault::seal(&key.recipient(), &binding, &plaintext)?;
        let sha = passerelle_vault::sha256(&sealed);
        let mut wraps = vec![KeyWrapRow {
            referral_id: id,
            org_id: p.org_id,
            org_key_version: from_key.version,
            wrapped: key.wrap_to(&from_key.recipient)?,
        }];
        if spec.to_org != p.org_id {
            wraps.push(KeyWrapRow {
                referral_id: id,
                org_id: spec.to_org,
                org_key_version: to_key.version,
                wrapped: key.wrap_to(&to_key.recipient)?,
            });
        }
        // The keystore commits first: a wrap without its referral is harmless, a referral
        // without its wraps would be unreadable.
        self.store().put_key_wraps(&wraps).await?;
        let row = ReferralRow {
            id,
            case_id: spec.case_id,
            reference: reference_for(id),
            parent_id: spec.parent,
            from_org: p.org_id,
            from_slug: p.org_slug.clone(),
            to_org: spec.to_org,
            to_slug: spec.to_slug.clone(),
            purpose: spec.purpose,
            urgency: spec.urgency,
            status: ReferralStatus::Sent,
            basis: spec.basis,
            categories: spec.categories.clone(),
            created_by: p.user_id,
            created_at: spec.now,
            due_at: spec.now + Duration::seconds(spec.urgency.due_after_seconds()),
            updated_at: spec.now,
            recipient: key.recipient(),
            content: sealed,
            content_sha256: sha,
            shredded_at: None,
        };
        let mut tx = self.store().begin().await?;
        let used: Vec<_> = wraps
            .iter()
            .map(|w| (w.org_id, w.org_key_version))
            .collect();
        if !tx.org_keys_usable(&used).await? {
            drop(tx);
            // The wraps just put name a retired identity and their referral will never
            // exist: take them back, so that no wrap lingers under a version `rotate-org`
            // is about to destroy (a crash here leaves them to the rotation's next pass).
            self.store().delete_key_wraps(id).await?;
            return Ok(None);
        }
        if let Some(case) = new_case {
            tx.insert_case(case).await?;
        }
        tx.insert_referral(&row).await?;
        self.after_packet_inserted(tx.as_mut(), &row).await?;
        // A forward's copied attachments: completed and moved to it here, or the whole
        // forward is not (dropping the transaction rolls everything back).
        for staged in &packet.staged {
            if !tx.adopt_attachment(staged.aid, id, &staged.done).await? {
                return Err(CoreError::Gone);
            }
            self.append(tx.as_mut(), staged.entry(p, &row), ctx).await?;
        }
        let action = if spec.parent.is_some() {
            Action::ReferralForwarded
        } else {
            Action::ReferralFiled
        };
        let entry = Entry::by(
            p,
            action,
            Targets {
                referral: Some(id),
                case: Some(spec.case_id),
                org: Some(spec.to_org),
                ..Targets::default()
            },
        )
        .basis(spec.basis)
        .ciphertext(sha);
        self.commit_with(tx, entry, ctx).await?;
        self.wake_outbox();
        Ok(Some(meta_of(&row)))
    }

    /// One page of the caller's organisation's inbox or sent box; metadata only.
    pub async fn list_referrals(
        &self,
        p: &Principal,
        params: &ListParams,
        ctx: &RequestCtx,
    ) -> CoreResult<Page> {
        self.check_role(p, Route::ListReferrals, Targets::default(), ctx)
            .await?;
        let kind = match params.box_kind.as_deref() {
            Some("inbox") => BoxKind::Inbox,
            Some("sent") => BoxKind::Sent,
            _ => return Err(CoreError::BadRequest("box must be inbox or sent")),
        };
        let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(CoreError::BadRequest("limit must be between 1 and 200"));
        }
        let after = match &params.cursor {
            None => None,
            Some(c) => {
                let (at, id) = decode_cursor(c).ok_or(CoreError::BadRequest("invalid cursor"))?;
                Some((at, ReferralId(id)))
            }
        };
        let q = ListQuery {
            org: p.org_id,
            kind,
            status: params.status,
            overdue_before: params.overdue.unwrap_or(false).then(|| self.now()),
            after,
            limit: limit + 1,
        };
        let mut rows = self.store().list_referrals(&q).await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| match kind {
                BoxKind::Inbox => encode_cursor(r.due_at, r.id.0),
                BoxKind::Sent => encode_cursor(r.created_at, r.id.0),
            })
        } else {
            None
        };
        Ok(Page {
            items: rows.iter().map(meta_of).collect(),
            next_cursor,
        })
    }

    /// Opens the referral key of `row` with the caller's organisation identity.
    pub(crate) async fn referral_key(
        &self,
        p: &Principal,
        row: &ReferralRow,
    ) -> CoreResult<ReferralKey> {
        // A wrap read just before `keys rotate-org` re-wrapped it and destroyed the old
        // identity names a destroyed version: read the wrap again.
        for _ in 0..3 {
            let wrap = self
                .store()
                .key_wrap(row.id, p.org_id)
                .await?
                .ok_or(CoreError::Gone)?;
            let org_key = self
                .store()
                .org_key(p.org_id, wrap.org_key_version)
                .await?
                .ok_or_else(|| CoreError::Internal("organisation key version missing".into()))?;
            if org_key.wrapped_identity.is_empty() {
                self.vault().forget_org_identity(p.org_id, org_key.version);
                continue;
            }
            let identity = self.vault().org_identity(
                p.org_id,
                org_key.version,
                &org_key.wrapped_identity,
                &org_key.kek_version,
            )?;
            return Ok(ReferralKey::unwrap(&identity, &wrap.wrapped)?);
        }
        Err(CoreError::Unavailable)
    }

    /// Opens a referral for its sender or receiver. The receiving organisation's first
    /// read moves it to `acknowledged`. The read is journaled and committed before any
    /// content is returned.
    pub async fn open_referral(
        &self,
        p: &Principal,
        id: ReferralId,
        ctx: &RequestCtx,
    ) -> CoreResult<ReferralView> {
        let row = self.load_for(p, id, Route::ReadReferral, ctx).await?;
        if row.shredded_at.is_some() {
            return Err(CoreError::Gone);
        }
        let case = self.case_of(row.case_id).await?;
        // Everything is opened and checked before the read is journaled and returned.
        let (key, content) = self.open_content(p, &row).await?;
        let mut view = self.view_of(&key, &row, case, content).await?;
        let mut tx = self.store().begin().await?;
        if row.to_org == p.org_id
            && let Ok(Some(next)) = lifecycle::next(row.status, Transition::FirstRead)
        {
            let event = ReferralEventRow {
                referral_id: row.id,
                at: micros(self.now()),
                status: next,
                actor: Some(p.user_id),
                outcome: None,
                sealed_detail: None,
                suggested_org: None,
            };
            if tx.transition(row.id, row.status, &event).await? {
                view.meta.status = next;
                view.history.push(HistoryItem {
                    at: event.at,
                    status: next,
                    outcome: None,
                    reason: None,
                    suggested_org: None,
                });
            }
        }
        let entry = Entry::by(
            p,
            Action::ReferralRead,
            Targets {
                referral: Some(row.id),
                case: Some(row.case_id),
                ..Targets::default()
            },
        )
        .basis(row.basis);
        self.commit_with(tx, entry, ctx).await?;
        Ok(view)
    }

    pub(crate) async fn history(
        &self,
        key: &ReferralKey,
        row: &ReferralRow,
    ) -> CoreResult<Vec<HistoryItem>> {
        let events = self.store().referral_events(row.id).await?;
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            let reason = match &e.sealed_detail {
                None => None,
                Some(sealed) => {
                    let b = Binding {
                        referral: row.id,
                        part: Part::Detail,
                        item: None,
                    };
                    self.check_recorded(
                        sealed,
                        None,
                        Recorded::AnyOf(&[row.id.0, row.case_id.0]),
                        &b,
                    )
                    .await?;
                    let plain = key.open(&b, sealed)?;
                    Some(String::from_utf8_lossy(&plain).into_owned())
                }
            };
            out.push(HistoryItem {
                at: e.at,
                status: e.status,
                outcome: e.outcome,
                reason,
                suggested_org: e.suggested_org,
            });
        }
        Ok(out)
    }

    /// Accepts a referral (receiving organisation, `sent` or `acknowledged`).
    pub async fn accept(
        &self,
        p: &Principal,
        id: ReferralId,
        ctx: &RequestCtx,
    ) -> CoreResult<ReferralMeta> {
        self.transition(
            p,
            id,
            Route::Accept,
            Transition::Accept,
            Detail::default(),
            ctx,
        )
        .await
    }

    /// Declines a referral with a reason (sealed) and an optional suggestion.
    pub async fn decline(
        &self,
        p: &Principal,
        id: ReferralId,
        req: DeclineRequest,
        ctx: &RequestCtx,
    ) -> CoreResult<ReferralMeta> {
        if req.reason.trim().is_empty() {
            return Err(CoreError::BadRequest("a reason is required"));
        }
        let detail = Detail {
            reason: Some(Zeroizing::new(req.reason)),
            suggested_org: req.suggested_org,
            outcome: None,
        };
        self.transition(p, id, Route::Decline, Transition::Decline, detail, ctx)
            .await
    }

    /// Closes an accepted referral with an outcome.
    pub async fn close(
        &self,
        p: &Principal,
        id: ReferralId,
        req: CloseRequest,
        ctx: &RequestCtx,
    ) -> CoreResult<ReferralMeta> {
        let detail = Detail {
            outcome: Some(req.outcome),
            ..Detail::default()
        };
        self.transition(p, id, Route::Close, Transition::Close, detail, ctx)
            .await
    }

    async fn transition(
        &self,
        p: &Principal,
        id: ReferralId,
        route: Route,
        t: Transition,
        detail: Detail,
        ctx: &RequestCtx,
    ) -> CoreResult<ReferralMeta> {
        let row = self.load_for(p, id, route, ctx).await?;
        if row.shredded_at.is_some() {
            return Err(CoreError::Gone);
        }
        let next = match lifecycle::next(row.status, t) {
            Ok(Some(next)) => next,
            Ok(None) | Err(_) => {
                return Err(CoreError::Conflict(
                    "the referral's state does not allow this action",
                ));
            }
        };
        let sealed_detail = match &detail.reason {
            None => None,
            Some(reason) => Some(passerelle_vault::seal(
                &row.recipient,
                &Binding {
                    referral: row.id,
                    part: Part::Detail,
                    item: None,
                },
                reason.as_bytes(),
            )?),
        };
        let event = ReferralEventRow {
            referral_id: row.id,
            at: micros(self.now()),
            status: next,
            actor: Some(p.user_id),
            outcome: detail.outcome,
            sealed_detail: sealed_detail.clone(),
            suggested_org: detail.suggested_org,
        };
        let mut tx = self.store().begin().await?;
        if !tx.transition(row.id, row.status, &event).await? {
            return Err(CoreError::Conflict(
                "the referral changed meanwhile; reload it",
            ));
        }
        if matches!(t, Transition::Accept | Transition::Close) {
            // A contact with the person, for the retention clock.
            tx.touch_contact(row.id, event.at).await?;
        }
        let action = match t {
            Transition::Accept => Action::ReferralAccepted,
            Transition::Decline => Action::ReferralDeclined,
            _ => Action::ReferralClosed,
        };
        let mut entry = Entry::by(
            p,
            action,
            Targets {
                referral: Some(row.id),
                case: Some(row.case_id),
                ..Targets::default()
            },
        )
        .basis(row.basis);
        if let Some(s) = &sealed_detail {
            entry = entry.ciphertext(passerelle_vault::sha256(s));
        }
        self.commit_with(tx, entry, ctx).await?;
        let mut meta = meta_of(&row);
        meta.status = next;
        Ok(meta)
    }
}

/// What a new packet is, apart from its content.
pub(crate) struct PacketSpec {
    pub(crate) case_id: CaseId,
    pub(crate) parent: Option<ReferralId>,
    pub(crate) to_org: OrgId,
    pub(crate) to_slug: OrgSlug,
    pub(crate) purpose: Purpose,
    pub(crate) urgency: Urgency,
    pub(crate) basis: ConsentBasis,
    pub(crate) categories: Vec<DataCategory>,
    pub(crate) now: OffsetDateTime,
}

/// Extra data of a transition.
#[derive(Default)]
struct Detail {
    reason: Option<Zeroizing<String>>,
    suggested_org: Option<OrgSlug>,
    outcome: Option<CloseOutcome>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip() {
        let at = micros(OffsetDateTime::now_utc());
        let id = Uuid::new_v4();
        assert_eq!(decode_cursor(&encode_cursor(at, id)), Some((at, id)));
        assert_eq!(decode_cursor("nope"), None);
    }
}
