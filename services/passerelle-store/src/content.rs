//! The port of a referral's sealed thread and files: messages, attachments (streamed in
//! chunks), and the lookup of the audit leaf that recorded a ciphertext.
//!
//! Every `Vec<u8>` here is a ciphertext sealed by the vault to the referral's identity,
//! except the attachment chunks, which are consecutive pieces of one such ciphertext.
//!
//! An attachment is written in three moves, so that a large upload never holds a database
//! transaction (on SQLite, the one write lock) while bytes arrive:
//! 1. [`ContentStore::begin_attachment`] inserts the row, incomplete;
//! 2. [`ContentStore::put_attachment_chunk`] appends the ciphertext chunk by chunk;
//! 3. [`ContentTx::complete_attachment`] completes it in the transaction of its
//!    `attachment.uploaded` leaf.
//!
//! An incomplete attachment is never listed nor read; a failed upload is removed by
//! [`ContentStore::discard_attachment`], and one interrupted by a crash by
//! [`ContentStore::discard_stale_attachments`].

use async_trait::async_trait;
use passerelle_domain::enums::DataCategory;
use passerelle_domain::ids::*;
use time::OffsetDateTime;

use crate::{AuditLeafRow, StoreResult};

/// A message of a referral's thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    /// Id (also the item of its binding).
    pub id: MessageId,
    /// Referral.
    pub referral_id: ReferralId,
    /// Author.
    pub author_id: UserId,
    /// Author's username (joined on read; ignored on insert).
    pub author: Username,
    /// Author's organisation.
    pub org_id: OrgId,
    /// Its slug (joined on read; ignored on insert).
    pub org: OrgSlug,
    /// When.
    pub created_at: OffsetDateTime,
    /// The body, sealed (part `Message`, item = id).
    pub body: Vec<u8>,
    /// SHA-256 of `body` (also in the `message.written` leaf).
    pub body_sha256: [u8; 32],
}

/// An attachment: metadata in clear, bytes in chunks, name and digest sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRow {
    /// Id (also the item of its bindings).
    pub id: AttachmentId,
    /// Referral.
    pub referral_id: ReferralId,
    /// Who uploaded it.
    pub uploaded_by: UserId,
    /// Their organisation.
    pub org_id: OrgId,
    /// Data category (consented).
    pub category: DataCategory,
    /// When the upload started.
    pub created_at: OffsetDateTime,
    /// Set when complete.
    pub done: Option<AttachmentDone>,
}

/// What completes an attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentDone {
    /// Plaintext size in bytes.
    pub size: u64,
    /// Number of ciphertext chunks (`0..chunks`).
    pub chunks: u32,
    /// SHA-256 of the whole ciphertext (the chunks in order); also in the leaf.
    pub ciphertext_sha256: [u8; 32],
    /// The sealed record (part `AttachmentName`): file name and plaintext SHA-256.
    pub record: Vec<u8>,
    /// SHA-256 of `record`; also in the leaf.
    pub record_sha256: [u8; 32],
    /// Completion time.
    pub completed_at: OffsetDateTime,
}

/// Reads and the staged writes of messages and attachments.
#[async_trait]
pub trait ContentStore: Send + Sync {
    /// The messages of a referral, oldest first (`created_at`, then id).
    async fn messages(&self, referral: ReferralId) -> StoreResult<Vec<MessageRow>>;

    /// The complete attachments of a referral, oldest first.
    async fn attachments(&self, referral: ReferralId) -> StoreResult<Vec<AttachmentRow>>;

    /// One attachment, complete or not.
    async fn attachment(&self, id: AttachmentId) -> StoreResult<Option<AttachmentRow>>;

    /// Inserts an attachment row, incomplete (`done` is ignored), committed on its own.
    async fn begin_attachment(&self, row: &AttachmentRow) -> StoreResult<()>;

    /// Stores chunk `seq` of an incomplete attachment's ciphertext, committed on its own.
    async fn put_attachment_chunk(
        &self,
        id: AttachmentId,
        seq: u32,
        bytes: &[u8],
    ) -> StoreResult<()>;

    /// Chunk `seq` of an attachment's ciphertext.
    async fn attachment_chunk(&self, id: AttachmentId, seq: u32) -> StoreResult<Option<Vec<u8>>>;

    /// Deletes an incomplete attachment and its chunks (a failed upload); a complete one
    /// is left alone. Returns whether a row was deleted.
    async fn discard_attachment(&self, id: AttachmentId) -> StoreResult<bool>;

    /// Deletes every attachment still incomplete that was started before `before` (an
    /// upload interrupted by a crash); returns how many.
    async fn discard_stale_attachments(&self, before: OffsetDateTime) -> StoreResult<u64>;

    /// The audit leaves whose main target is `target` and whose canonical bytes contain
    /// `sha256` (candidates for the leaf that recorded a ciphertext; the caller decodes
    /// and checks them), ascending by seq.
    async fn leaves_recording(
        &self,
        target: &str,
        sha256: &[u8; 32],
    ) -> StoreResult<Vec<AuditLeafRow>>;
}

/// Transactional writes of messages and attachments.
#[async_trait]
pub trait ContentTx: Send {
    /// Inserts a message if its referral exists and is not shredded (checked under a lock
    /// of the referral's row, so a concurrent shred either sees the message or refuses
    /// it). Returns false, inserting nothing, otherwise.
    async fn insert_message(&mut self, m: &MessageRow) -> StoreResult<bool>;

    /// Completes an incomplete attachment whose referral is not shredded (same lock as
    /// [`ContentTx::insert_message`]). Returns false, changing nothing, otherwise.
    async fn complete_attachment(
        &mut self,
        id: AttachmentId,
        done: &AttachmentDone,
    ) -> StoreResult<bool>;

    /// Completes an incomplete attachment staged under another referral (a forward's copy,
    /// staged under the parent while the forward does not exist yet) and moves it to
    /// `referral`, in the forward's own transaction. Same conditions as
    /// [`ContentTx::complete_attachment`] on the referral it was staged under; false,
    /// changing nothing, otherwise.
    async fn adopt_attachment(
        &mut self,
        id: AttachmentId,
        referral: ReferralId,
        done: &AttachmentDone,
    ) -> StoreResult<bool>;
}
