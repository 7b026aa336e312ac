//! The thread of a referral: messages between its sender and its receiver, each sealed to
//! the referral's identity (part `Message`, item = the message id), author and
//! organisation in clear. Writing leaves a `message.written` leaf with the ciphertext's
//! digest; reading checks every message against its leaf and leaves `message.read`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

use passerelle_domain::audit::{Action, Outcome, Targets};
use passerelle_domain::ids::{MessageId, OrgSlug, ReferralId, Username};
use passerelle_domain::policy::Route;
use passerelle_domain::rules;
use passerelle_store::{MessageRow, ReferralRow};
use passerelle_vault::{Binding, Part};

use crate::auth::Principal;
use crate::integrity::Recorded;
use crate::journal::Entry;
use crate::referrals::micros;
use crate::{Core, CoreError, CoreResult, RequestCtx};

/// Longest message body, in characters.
pub const MAX_MESSAGE_CHARS: usize = 20_000;

/// `POST …/messages`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// The text (sealed at once; never logged).
    pub body: String,
}

impl std::fmt::Debug for NewMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewMessage(<redacted>)")
    }
}

/// A message as the parties see it.
#[derive(Clone, Serialize)]
pub struct MessageView {
    /// Id.
    pub id: MessageId,
    /// Author's username.
    pub author: Username,
    /// Author's organisation.
    pub org: OrgSlug,
    /// The text, opened.
    pub body: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for MessageView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageView")
            .field("id", &self.id)
            .field("author", &self.author)
            .field("org", &self.org)
            .field("body", &"<redacted>")
            .finish()
    }
}

/// `GET …/messages`.
#[derive(Debug, Clone, Serialize)]
pub struct MessageList {
    /// Oldest first.
    pub items: Vec<MessageView>,
}

fn targets(row: &ReferralRow, message: Option<MessageId>) -> Targets {
    Targets {
        referral: Some(row.id),
        case: Some(row.case_id),
        message,
        ..Targets::default()
    }
}

impl Core {
    /// Refuses an addition (message, attachment) to a referral whose content was destroyed
    /// (410) or whose case's consent was withdrawn or does not cover `category` (422,
    /// leaving a denial leaf of `action`).
    pub(crate) async fn check_addition(
        &self,
        p: &Principal,
        row: &ReferralRow,
        category: Option<passerelle_domain::enums::DataCategory>,
        action: Action,
        ctx: &RequestCtx,
    ) -> CoreResult<()> {
        if row.shredded_at.is_some() {
            return Err(CoreError::Gone);
        }
        let case = self.case_of(row.case_id).await?;
        // A withdrawn referral's case had its consent withdrawn, whatever the case row says.
        let withdrawn = case.withdrawn_at.is_some()
            || row.status == passerelle_domain::enums::ReferralStatus::Withdrawn;
        if let Err(v) = rules::check_addition(&case.terms, withdrawn, category) {
            let entry = Entry::by(p, action, targets(row, None))
                .basis(row.basis)
                .outcome(Outcome::Denied(v.rule.as_str().into()));
            self.journal_only(entry, ctx).await?;
            return Err(v.into());
        }
        Ok(())
    }

    /// Writes a message on a referral (its sender or receiver): sealed to the referral's
    /// identity, recorded with its digest.
    pub async fn write_message(
        &self,
        p: &Principal,
        id: ReferralId,
        req: NewMessage,
        ctx: &RequestCtx,
    ) -> CoreResult<MessageView> {
        let body = Zeroizing::new(req.body);
        if body.trim().is_empty() {
            return Err(CoreError::BadRequest("the message is empty"));
        }
        if body.chars().count() > MAX_MESSAGE_CHARS {
            return Err(CoreError::BadRequest(
                "the message is longer than 20000 characters",
            ));
        }
        let row = self.load_for(p, id, Route::WriteMessage, ctx).await?;
        self.check_addition(p, &row, None, Action::MessageWritten, ctx)
            .await?;
        // Sealed to the recipient of the key the writer's organisation holds, not to the
        // column an attacker could rewrite.
        let key = self.referral_key(p, &row).await?;
        let recipient = self.checked_recipient(&key, &row)?;
        let mid = MessageId(Uuid::new_v4());
        let binding = Binding::new(row.id, Part::Message, Some(mid.0));
        let sealed = passerelle_vault::seal(&recipient, &binding, body.as_bytes())?;
        let sha = passerelle_vault::sha256(&sealed);
        let now = micros(self.now());
        let message = MessageRow {
            id: mid,
            referral_id: row.id,
            author_id: p.user_id,
            author: p.username.clone(),
            org_id: p.org_id,
            org: p.org_slug.clone(),
            created_at: now,
            body: sealed,
            body_sha256: sha,
        };
        let mut tx = self.store().begin().await?;
        if !tx.insert_message(&message).await? {
            return Err(CoreError::Gone);
        }
        // A message is a contact, for the retention clock.
        tx.touch_contact(row.id, now).await?;
        let entry = Entry::by(p, Action::MessageWritten, targets(&row, Some(mid)))
            .basis(row.basis)
            .ciphertext(sha);
        self.commit_with(tx, entry, ctx).await?;
        Ok(MessageView {
            id: mid,
            author: p.username.clone(),
            org: p.org_slug.clone(),
            body: body.to_string(),
            created_at: now,
        })
    }

    /// The thread of a referral (its sender or receiver), oldest first. Every message is
    /// checked against its `message.written` leaf and its binding; one that fails stops
    /// the whole read (nothing is returned). The read is journaled before returning.
    pub async fn read_messages(
        &self,
        p: &Principal,
        id: ReferralId,
        ctx: &RequestCtx,
    ) -> CoreResult<MessageList> {
        let row = self.load_for(p, id, Route::ReadMessages, ctx).await?;
        if row.shredded_at.is_some() {
            return Err(CoreError::Gone);
        }
        let key = self.referral_key(p, &row).await?;
        let mut items = Vec::new();
        for m in self.store().messages(row.id).await? {
            let binding = Binding::new(row.id, Part::Message, Some(m.id.0));
            self.check_recorded(
                &m.body,
                Some(&m.body_sha256),
                Recorded::By(&[Action::MessageWritten], m.id.0),
                &binding,
            )
            .await?;
            let plain = key.open(&binding, &m.body)?;
            let body = String::from_utf8(plain.to_vec())
                .map_err(|_| CoreError::Internal("a message is not UTF-8".into()))?;
            items.push(MessageView {
                id: m.id,
                author: m.author,
                org: m.org,
                body,
                created_at: m.created_at,
            });
        }
        let tx = self.store().begin().await?;
        let entry = Entry::by(p, Action::MessageRead, targets(&row, None)).basis(row.basis);
        self.commit_with(tx, entry, ctx).await?;
        Ok(MessageList { items })
    }
}
