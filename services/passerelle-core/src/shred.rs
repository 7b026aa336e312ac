//! Destroying a referral's content: its key wraps leave the keystore first (nothing the
//! service holds can open its ciphertexts afterwards), then its ciphertexts leave the
//! database, in one transaction with the `content.shredded` leaf. Metadata stays.
//!
//! Used by the withdrawal of a never-opened referral and by the retention's second stage.

use passerelle_domain::audit::{Action, Targets};
use passerelle_domain::ids::ReferralId;

use crate::journal::Entry;
use crate::referrals::micros;
use crate::{Core, CoreResult, RequestCtx};

impl Core {
    /// Destroys the content of referral `id` (system action); false when there was nothing
    /// left to destroy.
    pub(crate) async fn shred_due(&self, id: ReferralId, ctx: &RequestCtx) -> CoreResult<bool> {
        let Some(row) = self.store().referral(id).await? else {
            return Ok(false);
        };
        if row.shredded_at.is_some() {
            return Ok(false);
        }
        self.store().delete_key_wraps(id).await?;
        let mut tx = self.store().begin().await?;
        if !tx.mark_shredded(id, micros(self.now())).await? {
            return Ok(false);
        }
        let entry = Entry::system(
            Action::ContentShredded,
            Targets {
                referral: Some(id),
                case: Some(row.case_id),
                ..Targets::default()
            },
        )
        .basis(row.basis);
        self.commit_with(tx, entry, ctx).await?;
        Ok(true)
    }
}
