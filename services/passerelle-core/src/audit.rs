//! The audit log's use cases.
//!
//! - For auditors (policy [`Route::ReadAudit`]; every other role gets `403` and leaves a
//!   refused `audit.read` leaf): search events, verify the whole log, the access report of
//!   one case. Each answer is recorded as an `audit.read` leaf, appended and committed
//!   before anything is returned. Answers hold what leaves hold — ids, usernames,
//!   organisation slugs, codes — never content.
//! - For the operator's command line: export (recorded as `audit.exported`) and inclusion
//!   proofs (also `audit.exported`: evidence leaving the system).
//! - With the public key alone ([`AuditLog`]): whole-log verification, the signed head,
//!   and the offline checks of exports and proofs ([`verify_export`], [`verify_proof`]).

mod export;
mod files;
mod folder;
mod log;
mod render;

pub use files::{
    EXPORT_FORMAT, ExportLine, ExportSummary, OfflineError, PROOF_FORMAT, ProofFile, ProvenEntry,
    checkpoint_text, parse_proof, verify_export, verify_proof,
};
pub use folder::{CHECKPOINTS_FILE, FolderState, Latest};
pub use log::{AuditLog, PAGE, VerifierKey, VerifyReport};
pub use render::{AccessItem, AuditEvent, stored_leaf};

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use passerelle_domain::audit::{Action, AuditLeaf, Outcome, Targets};
use passerelle_domain::ids::{CaseId, OrgSlug, Username};
use passerelle_domain::policy::{self, Refusal, Route};
use passerelle_store::AuditFilter;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::auth::Principal;
use crate::journal::Entry;
use crate::{Core, CoreError, CoreResult, RequestCtx};

/// Default page size of an events search.
pub const DEFAULT_EVENTS_LIMIT: u32 = 50;
/// Largest page size of an events search.
pub const MAX_EVENTS_LIMIT: u32 = 200;

/// `GET /api/v1/audit/events` query: every filter optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditQuery {
    /// Only this case (UUID).
    pub case_id: Option<String>,
    /// Only this actor (username).
    pub actor: Option<String>,
    /// Only this actor's organisation (slug).
    pub org: Option<String>,
    /// Only this action (e.g. `referral.read`).
    pub action: Option<String>,
    /// At or after (RFC 3339).
    pub since: Option<String>,
    /// Before (RFC 3339).
    pub until: Option<String>,
    /// Page size (1..=200, default 50; text, so that a bad value is refused after the
    /// role check).
    pub limit: Option<String>,
    /// Opaque cursor of the next page.
    pub cursor: Option<String>,
}

/// One page of events.
#[derive(Debug, Clone, Serialize)]
pub struct AuditPage {
    /// Events, by `seq`.
    pub items: Vec<AuditEvent>,
    /// Cursor of the next page, `None` on the last.
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/audit/verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyAnswer {
    /// Whether the log is intact.
    pub ok: bool,
    /// Entries in the log (the signed head's size).
    pub entries: u64,
    /// The head's root, hex.
    pub head: String,
    /// The head's signed checkpoint (null for an empty log).
    pub checkpoint: Option<String>,
    /// Size of the checkpoint folder's latest checkpoint, checked against.
    pub checkpoint_folder_size: Option<u64>,
    /// The first bad entry, when the log is not intact and one can be named.
    pub first_bad_entry: Option<u64>,
    /// What is wrong, when the log is not intact.
    pub problem: Option<String>,
}

/// `GET /api/v1/audit/cases/{case_id}/access-report`.
#[derive(Debug, Clone, Serialize)]
pub struct AccessReport {
    /// Every access to the case's content, by time of recording.
    pub items: Vec<AccessItem>,
}

fn bad(detail: &'static str) -> CoreError {
    CoreError::BadRequest(detail)
}

fn parse_time(s: &Option<String>, detail: &'static str) -> CoreResult<Option<OffsetDateTime>> {
    s.as_deref()
        .map(|t| OffsetDateTime::parse(t, &Rfc3339).map_err(|_| bad(detail)))
        .transpose()
}

fn encode_cursor(seq: u64) -> String {
    URL_SAFE_NO_PAD.encode(seq.to_be_bytes())
}

fn decode_cursor(s: &str) -> Option<u64> {
    let raw: [u8; 8] = URL_SAFE_NO_PAD.decode(s).ok()?.try_into().ok()?;
    Some(u64::from_be_bytes(raw))
}

impl AuditQuery {
    /// The store filter, or a 400 naming the bad parameter (never echoing it).
    fn filter(&self) -> CoreResult<AuditFilter> {
        let limit = match self.limit.as_deref() {
            None => DEFAULT_EVENTS_LIMIT,
            Some(l) => l.parse().unwrap_or(0),
        };
        if !(1..=MAX_EVENTS_LIMIT).contains(&limit) {
            return Err(bad("limit must be between 1 and 200"));
        }
        let case_id = self
            .case_id
            .as_deref()
            .map(|c| {
                c.parse::<CaseId>()
                    .map_err(|_| bad("case_id must be a UUID"))
            })
            .transpose()?;
        let actor = self
            .actor
            .as_deref()
            .map(|a| Username::parse(a).map_err(|_| bad("actor must be a username")))
            .transpose()?;
        let org = self
            .org
            .as_deref()
            .map(|o| OrgSlug::parse(o).map_err(|_| bad("org must be an organisation slug")))
            .transpose()?;
        let action = self
            .action
            .as_deref()
            .map(|a| {
                a.parse::<Action>()
                    .map_err(|_| bad("action is not a recorded action"))
            })
            .transpose()?;
        let since = parse_time(&self.since, "since must be an RFC 3339 time")?;
        let until = parse_time(&self.until, "until must be an RFC 3339 time")?;
        let after = self
            .cursor
            .as_deref()
            .map(|c| decode_cursor(c).ok_or(bad("invalid cursor")))
            .transpose()?;
        Ok(AuditFilter {
            case_id,
            actor: actor.map(|a| a.as_str().to_owned()),
            org: org.map(|o| o.as_str().to_owned()),
            action: action.map(|a| a.as_str().to_owned()),
            since,
            until,
            after,
            limit: limit + 1,
        })
    }
}

impl Core {
    /// The audit log as an auditor reads it: verification with the public key only.
    pub fn audit_log(&self) -> AuditLog {
        let signer = self.vault().signer();
        AuditLog::new(
            self.inner.store.clone(),
            VerifierKey {
                name: signer.name().to_owned(),
                public_key: signer.public_key(),
            },
            &self.inner.checkpoint_dir,
        )
    }

    /// Refuses every role but auditors (`403`), leaving a refused `audit.read` leaf.
    async fn auditor_only(&self, p: &Principal, ctx: &RequestCtx) -> CoreResult<()> {
        match policy::authorize(Route::ReadAudit, &p.actor(), &[]) {
            Ok(()) => Ok(()),
            Err(r) => {
                let code = match r {
                    Refusal::Forbidden => "role",
                    other => other.as_str(),
                };
                let entry = Entry::by(p, Action::AuditRead, Targets::default())
                    .outcome(Outcome::Denied(code.into()));
                self.journal_only(entry, ctx).await?;
                Err(CoreError::Forbidden("role"))
            }
        }
    }

    /// Records an auditor's read of the log (last, before anything is returned).
    async fn record_read(
        &self,
        p: &Principal,
        case: Option<CaseId>,
        ctx: &RequestCtx,
    ) -> CoreResult<()> {
        let targets = Targets {
            case,
            ..Targets::default()
        };
        self.journal_only(Entry::by(p, Action::AuditRead, targets), ctx)
            .await
    }

    /// One page of audit events matching the query (auditors only).
    pub async fn audit_events(
        &self,
        p: &Principal,
        q: &AuditQuery,
        ctx: &RequestCtx,
    ) -> CoreResult<AuditPage> {
        self.auditor_only(p, ctx).await?;
        let filter = q.filter()?;
        let limit = (filter.limit - 1) as usize;
        let mut rows = self.store().audit_search(&filter).await?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more {
            rows.last().map(|r| encode_cursor(r.seq))
        } else {
            None
        };
        let items = rows.iter().map(AuditEvent::of).collect();
        self.record_read(p, filter.case_id, ctx).await?;
        Ok(AuditPage { items, next_cursor })
    }

    /// Verifies the whole log (auditors only); see [`AuditLog::verify`].
    pub async fn audit_verify(&self, p: &Principal, ctx: &RequestCtx) -> CoreResult<VerifyAnswer> {
        self.auditor_only(p, ctx).await?;
        let report = self.audit_log().verify(None).await?;
        let (size, root, checkpoint) = match &report.head {
            Some(h) => (h.size, h.root, Some(h.checkpoint.clone())),
            None => (0, passerelle_domain::merkle::empty_root(), None),
        };
        let (first_bad_entry, problem) = match &report.outcome {
            Ok(_) => (None, None),
            Err(f) => {
                tracing::error!(first_bad_entry = ?f.seq, problem = %f.reason, "the audit log does not verify");
                (f.seq, Some(f.to_string()))
            }
        };
        let answer = VerifyAnswer {
            ok: report.outcome.is_ok(),
            entries: size,
            head: hex::encode(root),
            checkpoint,
            checkpoint_folder_size: report.folder.latest.as_ref().map(|l| l.size),
            first_bad_entry,
            problem,
        };
        self.record_read(p, None, ctx).await?;
        Ok(answer)
    }

    /// Who read what of one case, when, under which legal basis, and every refused access
    /// (auditors only; what a victim may ask for under RGPD art. 15). `404` for a case
    /// that neither exists nor appears in the log.
    pub async fn audit_access_report(
        &self,
        p: &Principal,
        case: &str,
        ctx: &RequestCtx,
    ) -> CoreResult<AccessReport> {
        self.auditor_only(p, ctx).await?;
        let Ok(case) = case.parse::<CaseId>() else {
            return Err(self.report_not_found(p, ctx).await);
        };
        let mut filter = AuditFilter {
            case_id: Some(case),
            limit: PAGE,
            ..AuditFilter::default()
        };
        let mut items = Vec::new();
        let mut seen_any = false;
        loop {
            let rows = self.store().audit_search(&filter).await?;
            seen_any |= !rows.is_empty();
            for row in &rows {
                let include = match AuditLeaf::decode(&row.leaf.bytes) {
                    Ok(leaf) => leaf.in_access_report(),
                    // Shown, not hidden, when the bytes are broken (verify names it).
                    Err(_) => Action::CASE_ACCESS
                        .iter()
                        .any(|a| a.as_str() == row.leaf.action),
                };
                if include {
                    items.push(AccessItem::from(AuditEvent::of(row)));
                }
            }
            match rows.last() {
                Some(last) if rows.len() == PAGE as usize => filter.after = Some(last.seq),
                _ => break,
            }
        }
        if !seen_any && self.store().case(case).await?.is_none() {
            return Err(self.report_not_found(p, ctx).await);
        }
        self.record_read(p, Some(case), ctx).await?;
        Ok(AccessReport { items })
    }

    /// Records a report asked for a case that does not exist (without the id: one that
    /// names nothing stays unknown) and answers `404`.
    async fn report_not_found(&self, p: &Principal, ctx: &RequestCtx) -> CoreError {
        let entry = Entry::by(p, Action::AuditRead, Targets::default())
            .outcome(Outcome::Denied("not-found".into()));
        match self.journal_only(entry, ctx).await {
            Ok(()) => CoreError::NotFound,
            Err(e) => e,
        }
    }

    /// Exports the whole log to `out` (the operator's command; no role): records
    /// `audit.exported` first (fail closed), then writes every entry under the head that
    /// includes that record, its signed checkpoint and the verifier key.
    pub async fn audit_export(
        &self,
        out: &mut (dyn Write + Send),
        ctx: &RequestCtx,
    ) -> CoreResult<ExportSummary> {
        self.journal_only(
            Entry::system(Action::AuditExported, Targets::default()),
            ctx,
        )
        .await?;
        self.audit_log().export(out).await
    }

    /// Exports the whole log to `out` for an auditor (the console's download): refuses
    /// every other role (`403`, a refused `audit.read` leaf), records `audit.exported` by
    /// the auditor first (fail closed), then writes what [`Core::audit_export`] writes.
    pub async fn audit_export_as(
        &self,
        p: &Principal,
        out: &mut (dyn Write + Send),
        ctx: &RequestCtx,
    ) -> CoreResult<ExportSummary> {
        self.auditor_only(p, ctx).await?;
        self.journal_only(Entry::by(p, Action::AuditExported, Targets::default()), ctx)
            .await?;
        self.audit_log().export(out).await
    }

    /// The inclusion proof of entry `seq` (the operator's command): records
    /// `audit.exported` first, then proves the entry against the head that includes it.
    pub async fn audit_prove(&self, seq: u64, ctx: &RequestCtx) -> CoreResult<ProofFile> {
        let size = self.store().audit_head().await?.map_or(0, |h| h.size);
        if seq >= size {
            return Err(CoreError::NotFound);
        }
        self.journal_only(
            Entry::system(Action::AuditExported, Targets::default()),
            ctx,
        )
        .await?;
        self.audit_log().prove(seq).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_filters() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("nope"), None);
        let q = AuditQuery {
            action: Some("referral.read".into()),
            since: Some("2026-01-01T00:00:00Z".into()),
            ..AuditQuery::default()
        };
        let f = q.filter().unwrap();
        assert_eq!(f.action.as_deref(), Some("referral.read"));
        assert_eq!(f.limit, DEFAULT_EVENTS_LIMIT + 1);
        for bad in [
            AuditQuery {
                action: Some("referral.teleported".into()),
                ..AuditQuery::default()
            },
            AuditQuery {
                case_id: Some("x".into()),
                ..AuditQuery::default()
            },
            AuditQuery {
                since: Some("yesterday".into()),
                ..AuditQuery::default()
            },
            AuditQuery {
                limit: Some("0".into()),
                ..AuditQuery::default()
            },
            AuditQuery {
                cursor: Some("!!".into()),
                ..AuditQuery::default()
            },
        ] {
            assert!(matches!(bad.filter(), Err(CoreError::BadRequest(_))));
        }
    }
}
