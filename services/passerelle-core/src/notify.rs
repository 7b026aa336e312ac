//! Content-free notifications: an outbox of notices ("a new referral is waiting", "consent
//! withdrawn on a case you hold") queued in the same transaction as what they announce,
//! listed for the organisation's users, and handed to the e-mail sender of the binary.
//!
//! A notice holds a kind and ids, never content. The e-mail for every kind is one fixed
//! text that says only that something awaits in Passerelle (see [`MAIL_SUBJECT`]).

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use passerelle_domain::audit::{Action, Targets};
use passerelle_domain::ids::{CaseId, OrgId, OrgSlug, ReferralId};
use passerelle_domain::policy::Route;
use passerelle_store::{NotificationQuery, NotificationRow, ReferralRow, StoreTx};

use crate::auth::Principal;
use crate::journal::Entry;
use crate::referrals::{decode_cursor, encode_cursor, micros, new_id};
use crate::{Core, CoreError, CoreResult, RequestCtx};

/// A referral waits in the organisation's inbox.
pub const REFERRAL_WAITING: &str = "referral.waiting";
/// The victim withdrew her consent on a case the organisation is party to.
pub const CONSENT_WITHDRAWN: &str = "consent.withdrawn";

/// Subject of every notice e-mail: nothing about the case, the person or the sender.
pub const MAIL_SUBJECT: &str = "Passerelle : un dossier vous attend";
/// Body of every notice e-mail (French, then English).
pub const MAIL_BODY: &str = "Bonjour,\r\n\r\nUn dossier vous attend dans Passerelle. \
Connectez-vous pour le consulter.\r\n\r\nCe message automatique ne contient aucune information \
sur les personnes ni sur les dossiers.\r\n\r\n--\r\n\r\nA referral awaits you in Passerelle. \
Sign in to see it. This automatic message carries no information about people or cases.\r\n";

/// Default page size of the notifications list.
const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
const MAX_LIMIT: u32 = 200;
/// Notices older than this are listed but never mailed (an address set later does not
/// bring a flood of old notices).
const MAIL_WINDOW: Duration = Duration::days(7);
/// How long one sender holds a claimed notice before another may retry it.
const MAIL_CLAIM: Duration = Duration::minutes(5);
/// Attempts before a notice is no longer mailed.
pub const MAIL_MAX_ATTEMPTS: u32 = 5;

/// `GET /api/v1/notifications` parameters.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationParams {
    /// Page size (1..=200, default 50).
    pub limit: Option<u32>,
    /// Opaque cursor of the previous page.
    pub cursor: Option<String>,
}

/// One notice, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotificationItem {
    /// Id.
    pub id: Uuid,
    /// `referral.waiting` or `consent.withdrawn`.
    pub kind: String,
    /// The referral concerned.
    pub referral_id: Option<ReferralId>,
    /// The case concerned.
    pub case_id: Option<CaseId>,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// One page of notices, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct NotificationPage {
    /// Items.
    pub items: Vec<NotificationItem>,
    /// Cursor of the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// A notice to e-mail, claimed for this sender.
#[derive(Debug, Clone)]
pub struct MailJob {
    /// The notification's id.
    pub id: Uuid,
    /// The organisation's address.
    pub to: String,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

/// Whether `s` is a plain e-mail address fit for an SMTP envelope and a `To:` header:
/// one `@`, no spaces, no control characters, no header or address-list punctuation.
pub fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && s.len() <= 254
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '-' | '_' | '+' | '\''))
        && !domain.contains('@')
}

impl Core {
    pub(crate) fn wake_outbox(&self) {
        self.inner.outbox.notify_one();
    }

    /// The signal the e-mail sender waits on (woken when notices are queued here).
    pub fn outbox_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.inner.outbox.clone()
    }

    /// Queues a notice for `org` in `tx`.
    pub(crate) async fn notify(
        &self,
        tx: &mut dyn StoreTx,
        org: OrgId,
        kind: &str,
        referral: Option<ReferralId>,
        case: Option<CaseId>,
    ) -> CoreResult<()> {
        let row = NotificationRow {
            id: new_id(),
            org_id: org,
            kind: kind.to_owned(),
            referral_id: referral,
            case_id: case,
            created_at: micros(self.now()),
            mailed_at: None,
        };
        tx.insert_notification(&row).await?;
        Ok(())
    }

    /// What every new packet (a filing or a forward) brings along, in its transaction: its
    /// retention clock starts, its tasks open, the receiving organisation is notified.
    pub(crate) async fn after_packet_inserted(
        &self,
        tx: &mut dyn StoreTx,
        row: &ReferralRow,
    ) -> CoreResult<()> {
        tx.touch_contact(row.id, row.created_at).await?;
        self.open_tasks(tx, row).await?;
        if row.to_org != row.from_org {
            self.notify(
                tx,
                row.to_org,
                REFERRAL_WAITING,
                Some(row.id),
                Some(row.case_id),
            )
            .await?;
        }
        Ok(())
    }

    /// One page of the caller's organisation's notices, newest first (metadata only).
    pub async fn list_notifications(
        &self,
        p: &Principal,
        params: &NotificationParams,
        ctx: &RequestCtx,
    ) -> CoreResult<NotificationPage> {
        self.check_role(p, Route::ListNotifications, Targets::default(), ctx)
            .await?;
        let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(CoreError::BadRequest("limit must be between 1 and 200"));
        }
        let after = match &params.cursor {
            None => None,
            Some(c) => Some(decode_cursor(c).ok_or(CoreError::BadRequest("invalid cursor"))?),
        };
        let mut rows = self
            .store()
            .notifications(&NotificationQuery {
                org: p.org_id,
                after,
                limit: limit + 1,
            })
            .await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| encode_cursor(r.created_at, r.id))
        } else {
            None
        };
        Ok(NotificationPage {
            items: rows
                .into_iter()
                .map(|r| NotificationItem {
                    id: r.id,
                    kind: r.kind,
                    referral_id: r.referral_id,
                    case_id: r.case_id,
                    created_at: r.created_at,
                })
                .collect(),
            next_cursor,
        })
    }

    /// Sets (or removes, with `None`) the address where an organisation receives its
    /// notices (`passerelle org set-email`). Audited as an organisation change.
    pub async fn set_org_email(
        &self,
        slug: &OrgSlug,
        email: Option<&str>,
        ctx: &RequestCtx,
    ) -> CoreResult<()> {
        if let Some(e) = email
            && !valid_email(e)
        {
            return Err(CoreError::BadRequest(
                "not a plain e-mail address (name@domain.tld)",
            ));
        }
        let org = self
            .store()
            .org_by_slug(slug.as_str())
            .await?
            .ok_or(CoreError::NotFound)?;
        let mut tx = self.store().begin().await?;
        tx.set_org_email(org.id, email).await?;
        let entry = Entry::system(
            Action::OrgUpdated,
            Targets {
                org: Some(org.id),
                ..Targets::default()
            },
        );
        self.commit_with(tx, entry, ctx).await
    }

    /// Claims notices to e-mail now (at most `limit`), for the binary's sender.
    pub async fn claim_mail(&self, limit: u32) -> CoreResult<Vec<MailJob>> {
        let now = micros(self.now());
        let jobs = self
            .store()
            .claim_mail(now, now - MAIL_WINDOW, now + MAIL_CLAIM, limit)
            .await?;
        Ok(jobs
            .into_iter()
            .map(|j| MailJob {
                id: j.id,
                to: j.to,
                attempts: j.attempts,
            })
            .collect())
    }

    /// Records a notice as mailed.
    pub async fn mail_sent(&self, id: Uuid) -> CoreResult<()> {
        Ok(self.store().mark_mailed(id, micros(self.now())).await?)
    }

    /// Records a failed attempt; after [`MAIL_MAX_ATTEMPTS`] the notice is no longer
    /// mailed (it stays listed in Passerelle).
    pub async fn mail_failed(&self, job: &MailJob) -> CoreResult<()> {
        let give_up = job.attempts >= MAIL_MAX_ATTEMPTS;
        Ok(self
            .store()
            .mark_mail_failed(job.id, micros(self.now()), give_up)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(valid_email("accueil@avec63.fr"));
        assert!(valid_email("greffe.vif+passerelle@justice.fr"));
        for bad in [
            "",
            "no-at",
            "@x.fr",
            "a@b",
            "a@.fr",
            "a b@x.fr",
            "a@x.fr\r\nBcc: x@y.fr",
            "a@b@x.fr",
            "\"a\"@x.fr",
            "a@x.fr>",
        ] {
            assert!(!valid_email(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_mail_says_nothing() {
        for text in [MAIL_SUBJECT, MAIL_BODY] {
            assert!(!text.contains('{'));
        }
    }
}
