//! The shredding port: destroying a referral's content for good.
//!
//! Order of a shred (driven by core, safe to kill at any point and to run again):
//! 1. [`ShredTx::queue_shred`] records the request in the main database (committed);
//! 2. [`crate::Store::delete_key_wraps`] deletes the referral key's wraps in the keystore
//!    (committed): from here on nothing can open the ciphertexts;
//! 3. [`ShredTx::shred_content`] deletes every ciphertext of the referral (content, sealed
//!    details, messages, attachments and their records) and the queue row, in the
//!    transaction that appends the `content.shredded` leaf.
//!
//! [`ShredStore::pending_shreds`] lists requests whose step 3 did not commit, so that they
//! are finished by whoever runs next.

use async_trait::async_trait;
use passerelle_domain::ids::{ReferralId, UserId};
use time::OffsetDateTime;

use crate::StoreResult;

/// A shred asked for and not finished yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShredRequest {
    /// The referral whose content is destroyed.
    pub referral_id: ReferralId,
    /// Why, as a short code (`consent-withdrawn`, `retention`, `admin`…); never free text.
    pub reason: String,
    /// When it was asked for.
    pub requested_at: OffsetDateTime,
    /// Who asked (none for the system or the operator's command line).
    pub requested_by: Option<UserId>,
}

/// What [`ShredTx::shred_content`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShredCounts {
    /// Whether this call destroyed the referral's content (false: it already was).
    pub content: bool,
    /// Sealed details (decline reasons…) cleared.
    pub details: u64,
    /// Messages deleted.
    pub messages: u64,
    /// Attachments deleted (complete or not).
    pub attachments: u64,
    /// Attachment chunks deleted.
    pub chunks: u64,
}

/// Reads of the shredding port.
#[async_trait]
pub trait ShredStore: Send + Sync {
    /// Shreds asked for and not finished, oldest first.
    async fn pending_shreds(&self) -> StoreResult<Vec<ShredRequest>>;
}

/// Writes of the shredding port.
#[async_trait]
pub trait ShredTx: Send {
    /// Records a shred request; a request already queued for the referral is kept as it
    /// is (idempotent).
    async fn queue_shred(&mut self, req: &ShredRequest) -> StoreResult<()>;

    /// Deletes every ciphertext of `referral`: its content (emptied, `shredded_at` and
    /// `shred_reason` set), the sealed details of its history, its messages, its
    /// attachments (with their chunks and sealed records), and its queue row. When the
    /// content was already destroyed, it still deletes any ciphertext left and reports
    /// `content: false`. An unknown referral changes nothing.
    async fn shred_content(
        &mut self,
        referral: ReferralId,
        at: OffsetDateTime,
        reason: &str,
    ) -> StoreResult<ShredCounts>;
}
