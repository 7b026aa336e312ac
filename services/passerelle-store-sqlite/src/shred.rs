//! The shredding port on SQLite: the queue of unfinished shreds and the deletion of a
//! referral's ciphertexts in the main database (the keystore wraps are deleted before, by
//! `Store::delete_key_wraps`, with `secure_delete` on).

use async_trait::async_trait;
use passerelle_domain::ids::ReferralId;
use passerelle_store::{ShredCounts, ShredRequest, ShredStore, ShredTx, StoreResult};
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;

use crate::SqliteStore;
use crate::codec::{get, get_time, micros};
use crate::error::db;
use crate::tx::SqliteTx;

fn request(row: &SqliteRow) -> StoreResult<ShredRequest> {
    Ok(ShredRequest {
        referral_id: ReferralId(get(row, "referral_id")?),
        reason: get(row, "reason")?,
        requested_at: get_time(row, "requested_at")?,
        requested_by: get::<Option<uuid::Uuid>>(row, "requested_by")?.map(Into::into),
    })
}

#[async_trait]
impl ShredStore for SqliteStore {
    async fn pending_shreds(&self) -> StoreResult<Vec<ShredRequest>> {
        let rows = sqlx::query(
            "SELECT referral_id, reason, requested_at, requested_by FROM shred_queue \
             ORDER BY requested_at, referral_id",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.iter().map(request).collect()
    }
}

#[async_trait]
impl ShredTx for SqliteTx {
    async fn queue_shred(&mut self, req: &ShredRequest) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO shred_queue (referral_id, reason, requested_at, requested_by) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (referral_id) DO NOTHING",
        )
        .bind(req.referral_id.0)
        .bind(req.reason.as_str())
        .bind(micros(req.requested_at))
        .bind(req.requested_by.map(|u| u.0))
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn shred_content(
        &mut self,
        referral: ReferralId,
        at: OffsetDateTime,
        reason: &str,
    ) -> StoreResult<ShredCounts> {
        let id = referral.0;
        let content = sqlx::query(
            "UPDATE referrals SET content = X'', shredded_at = $2, shred_reason = $3 \
             WHERE id = $1 AND shredded_at IS NULL",
        )
        .bind(id)
        .bind(micros(at))
        .bind(reason)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?
        .rows_affected()
            == 1;
        let details = sqlx::query(
            "UPDATE referral_events SET sealed_detail = NULL \
             WHERE referral_id = $1 AND sealed_detail IS NOT NULL",
        )
        .bind(id)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?
        .rows_affected();
        let messages = sqlx::query("DELETE FROM messages WHERE referral_id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(db)?
            .rows_affected();
        let chunks = sqlx::query(
            "DELETE FROM attachment_chunks WHERE attachment_id IN \
             (SELECT id FROM attachments WHERE referral_id = $1)",
        )
        .bind(id)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?
        .rows_affected();
        let attachments = sqlx::query("DELETE FROM attachments WHERE referral_id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(db)?
            .rows_affected();
        sqlx::query("DELETE FROM shred_queue WHERE referral_id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(db)?;
        Ok(ShredCounts {
            content,
            details,
            messages,
            attachments,
            chunks,
        })
    }
}
