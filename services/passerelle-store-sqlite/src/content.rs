//! Messages, attachments and the recorded-ciphertext lookup on SQLite.
//!
//! Staged attachment writes (`begin_attachment`, `put_attachment_chunk`, discards) are
//! short statements of their own, each taken in turn with this process's write permit:
//! a 100 MiB upload never holds SQLite's write lock for longer than one chunk's insert.

use async_trait::async_trait;
use passerelle_domain::ids::*;
use passerelle_store::*;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::codec::*;
use crate::error::db;
use crate::tx::SqliteTx;
use crate::{ACQUIRE_TIMEOUT, SqliteStore};

const ATTACHMENT_COLUMNS: &str = "SELECT id, referral_id, uploaded_by, org_id, category, \
     created_at, size, chunks, ciphertext_sha256, record, record_sha256, completed_at \
     FROM attachments ";

fn message_row(row: &SqliteRow) -> StoreResult<MessageRow> {
    Ok(MessageRow {
        id: MessageId(get::<Uuid>(row, "id")?),
        referral_id: ReferralId(get::<Uuid>(row, "referral_id")?),
        author_id: UserId(get::<Uuid>(row, "author_id")?),
        author: get_enum(row, "author")?,
        org_id: OrgId(get::<Uuid>(row, "org_id")?),
        org: get_enum(row, "org")?,
        created_at: get_time(row, "created_at")?,
        body: get(row, "body")?,
        body_sha256: get_hash(row, "body_sha256")?,
    })
}

fn attachment_row(row: &SqliteRow) -> StoreResult<AttachmentRow> {
    let done = match get_time_opt(row, "completed_at")? {
        None => None,
        Some(completed_at) => Some(AttachmentDone {
            size: get_u64(row, "size")?,
            chunks: u32::try_from(get::<i64>(row, "chunks")?)
                .map_err(|_| StoreError::Corrupt("chunks: out of range".into()))?,
            ciphertext_sha256: get_hash(row, "ciphertext_sha256")?,
            record: get(row, "record")?,
            record_sha256: get_hash(row, "record_sha256")?,
            completed_at,
        }),
    };
    Ok(AttachmentRow {
        id: AttachmentId(get::<Uuid>(row, "id")?),
        referral_id: ReferralId(get::<Uuid>(row, "referral_id")?),
        uploaded_by: UserId(get::<Uuid>(row, "uploaded_by")?),
        org_id: OrgId(get::<Uuid>(row, "org_id")?),
        category: get_enum(row, "category")?,
        created_at: get_time(row, "created_at")?,
        done,
    })
}

impl SqliteStore {
    /// Waits for this process's turn to write (see the crate documentation).
    async fn write_turn(&self) -> StoreResult<tokio::sync::OwnedSemaphorePermit> {
        let turn = std::sync::Arc::clone(&self.writer).acquire_owned();
        match tokio::time::timeout(ACQUIRE_TIMEOUT, turn).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_closed)) => Err(StoreError::Unavailable("store closed".into())),
            Err(_elapsed) => Err(StoreError::Unavailable("timed out waiting to write".into())),
        }
    }
}

#[async_trait]
impl ContentStore for SqliteStore {
    async fn messages(&self, referral: ReferralId) -> StoreResult<Vec<MessageRow>> {
        let rows = sqlx::query(
            "SELECT m.id, m.referral_id, m.author_id, u.username AS author, m.org_id, \
             o.slug AS org, m.created_at, m.body, m.body_sha256 FROM messages m \
             JOIN users u ON u.id = m.author_id JOIN orgs o ON o.id = m.org_id \
             WHERE m.referral_id = $1 ORDER BY m.created_at, m.id",
        )
        .bind(referral.0)
        .fetch_all(&self.main)
        .await
        .map_err(db)?;
        rows.iter().map(message_row).collect()
    }

    async fn attachments(&self, referral: ReferralId) -> StoreResult<Vec<AttachmentRow>> {
        let sql = format!(
            "{ATTACHMENT_COLUMNS} WHERE referral_id = $1 AND completed_at IS NOT NULL \
             ORDER BY created_at, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(referral.0)
            .fetch_all(&self.main)
            .await
            .map_err(db)?;
        rows.iter().map(attachment_row).collect()
    }

    async fn attachment(&self, id: AttachmentId) -> StoreResult<Option<AttachmentRow>> {
        let sql = format!("{ATTACHMENT_COLUMNS} WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.0)
            .fetch_optional(&self.main)
            .await
            .map_err(db)?;
        row.as_ref().map(attachment_row).transpose()
    }

    async fn begin_attachment(&self, a: &AttachmentRow) -> StoreResult<()> {
        let _turn = self.write_turn().await?;
        sqlx::query(
            "INSERT INTO attachments (id, referral_id, uploaded_by, org_id, category, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(a.id.0)
        .bind(a.referral_id.0)
        .bind(a.uploaded_by.0)
        .bind(a.org_id.0)
        .bind(a.category.as_str())
        .bind(micros(a.created_at))
        .execute(&self.main)
        .await
        .map_err(crate::error::conflict("attachment"))?;
        Ok(())
    }

    async fn put_attachment_chunk(
        &self,
        id: AttachmentId,
        seq: u32,
        bytes: &[u8],
    ) -> StoreResult<()> {
        let _turn = self.write_turn().await?;
        let done = sqlx::query(
            "INSERT INTO attachment_chunks (attachment_id, seq, bytes) SELECT $1, $2, $3 \
             WHERE EXISTS (SELECT 1 FROM attachments WHERE id = $1 AND completed_at IS NULL)",
        )
        .bind(id.0)
        .bind(i64::from(seq))
        .bind(bytes)
        .execute(&self.main)
        .await
        .map_err(crate::error::conflict("attachment chunk"))?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Other(
                "the attachment is not open for upload".into(),
            ));
        }
        Ok(())
    }

    async fn attachment_chunk(&self, id: AttachmentId, seq: u32) -> StoreResult<Option<Vec<u8>>> {
        sqlx::query_scalar(
            "SELECT bytes FROM attachment_chunks WHERE attachment_id = $1 AND seq = $2",
        )
        .bind(id.0)
        .bind(i64::from(seq))
        .fetch_optional(&self.main)
        .await
        .map_err(db)
    }

    async fn discard_attachment(&self, id: AttachmentId) -> StoreResult<bool> {
        let _turn = self.write_turn().await?;
        let mut tx = self.main.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        sqlx::query(
            "DELETE FROM attachment_chunks WHERE attachment_id IN \
             (SELECT id FROM attachments WHERE id = $1 AND completed_at IS NULL)",
        )
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let done = sqlx::query("DELETE FROM attachments WHERE id = $1 AND completed_at IS NULL")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn discard_stale_attachments(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let _turn = self.write_turn().await?;
        let mut tx = self.main.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        sqlx::query(
            "DELETE FROM attachment_chunks WHERE attachment_id IN \
             (SELECT id FROM attachments WHERE completed_at IS NULL AND created_at < $1)",
        )
        .bind(micros(before))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let done =
            sqlx::query("DELETE FROM attachments WHERE completed_at IS NULL AND created_at < $1")
                .bind(micros(before))
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn leaves_recording(
        &self,
        target: &str,
        sha256: &[u8; 32],
    ) -> StoreResult<Vec<AuditLeafRow>> {
        let rows = sqlx::query(
            "SELECT seq, at, bytes, leaf_hash, actor, org, action, target, case_id \
             FROM audit_leaves WHERE target = $1 AND instr(bytes, $2) > 0 ORDER BY seq",
        )
        .bind(target)
        .bind(sha256.as_slice())
        .fetch_all(&self.main)
        .await
        .map_err(db)?;
        rows.iter().map(leaf_row).collect()
    }
}

#[async_trait]
impl ContentTx for SqliteTx {
    async fn insert_message(&mut self, m: &MessageRow) -> StoreResult<bool> {
        // BEGIN IMMEDIATE already holds the write lock: the check and the insert are atomic.
        let done = sqlx::query(
            "INSERT INTO messages (id, referral_id, author_id, org_id, created_at, body, \
             body_sha256) SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS \
             (SELECT 1 FROM referrals WHERE id = $2 AND shredded_at IS NULL)",
        )
        .bind(m.id.0)
        .bind(m.referral_id.0)
        .bind(m.author_id.0)
        .bind(m.org_id.0)
        .bind(micros(m.created_at))
        .bind(m.body.as_slice())
        .bind(m.body_sha256.as_slice())
        .execute(&mut *self.tx)
        .await
        .map_err(crate::error::conflict("message"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn complete_attachment(
        &mut self,
        id: AttachmentId,
        d: &AttachmentDone,
    ) -> StoreResult<bool> {
        finish_attachment(self, id, d, None).await
    }

    async fn adopt_attachment(
        &mut self,
        id: AttachmentId,
        to: ReferralId,
        d: &AttachmentDone,
    ) -> StoreResult<bool> {
        finish_attachment(self, id, d, Some(to)).await
    }
}

/// Completes a staged attachment (every chunk there, its referral not shredded), moving it
/// to the referral `adopt` when given (a forward's re-sealed copy).
async fn finish_attachment(
    tx: &mut SqliteTx,
    id: AttachmentId,
    d: &AttachmentDone,
    adopt: Option<ReferralId>,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE attachments SET size = $2, chunks = $3, ciphertext_sha256 = $4, \
         record = $5, record_sha256 = $6, completed_at = $7, \
         referral_id = COALESCE($8, referral_id) \
         WHERE id = $1 AND completed_at IS NULL \
         AND EXISTS (SELECT 1 FROM referrals r WHERE r.id = attachments.referral_id \
                     AND r.shredded_at IS NULL) \
         AND (SELECT count(*) FROM attachment_chunks WHERE attachment_id = $1) = $3",
    )
    .bind(id.0)
    .bind(to_i64(d.size, "size")?)
    .bind(i64::from(d.chunks))
    .bind(d.ciphertext_sha256.as_slice())
    .bind(d.record.as_slice())
    .bind(d.record_sha256.as_slice())
    .bind(micros(d.completed_at))
    .bind(adopt.map(|r| r.0))
    .execute(&mut *tx.tx)
    .await
    .map_err(db)?;
    Ok(done.rows_affected() == 1)
}
