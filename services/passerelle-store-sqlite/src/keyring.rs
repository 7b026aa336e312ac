//! The key rotation port on SQLite: compare-and-set re-wraps in the keystore file and in
//! the main database's `org_keys`.

use async_trait::async_trait;
use passerelle_domain::ids::{OrgId, ReferralId, UserId};
use passerelle_store::*;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SqliteStore;
use crate::codec::*;
use crate::error::db;
use crate::tx::SqliteTx;

#[async_trait]
impl KeyringStore for SqliteStore {
    async fn key_wraps_below(
        &self,
        org: OrgId,
        below: i32,
        after: Option<ReferralId>,
        limit: u32,
    ) -> StoreResult<Vec<KeyWrapRow>> {
        let rows = sqlx::query(
            "SELECT referral_id, org_id, org_key_version, wrapped FROM key_wraps \
             WHERE org_id = $1 AND org_key_version < $2 AND ($3 IS NULL OR referral_id > $3) \
             ORDER BY referral_id LIMIT $4 + 0",
        )
        .bind(org.0)
        .bind(below)
        .bind(after.map(|a| a.0))
        .bind(i64::from(limit))
        .fetch_all(&self.keystore)
        .await
        .map_err(db)?;
        rows.iter().map(wrap_row).collect()
    }

    async fn replace_key_wrap(&self, from_version: i32, w: &KeyWrapRow) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE key_wraps SET org_key_version = $1, wrapped = $2 \
             WHERE referral_id = $3 AND org_id = $4 AND org_key_version = $5",
        )
        .bind(w.org_key_version)
        .bind(w.wrapped.as_slice())
        .bind(w.referral_id.0)
        .bind(w.org_id.0)
        .bind(from_version)
        .execute(&self.keystore)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn key_wrap_counts(&self) -> StoreResult<Vec<(OrgId, i32, u64)>> {
        let rows: Vec<(Uuid, i32, i64)> = sqlx::query_as(
            "SELECT org_id, org_key_version, count(*) FROM key_wraps \
             GROUP BY org_id, org_key_version ORDER BY org_id, org_key_version",
        )
        .fetch_all(&self.keystore)
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|(o, v, n)| (OrgId(o), v, n.max(0) as u64))
            .collect())
    }

    async fn sealed_user_secrets(&self, org: OrgId) -> StoreResult<Vec<SealedUserSecret>> {
        let users: Vec<(Uuid, Vec<u8>)> = sqlx::query_as(
            "SELECT id, totp_secret FROM users WHERE org_id = $1 AND totp_secret IS NOT NULL \
             ORDER BY id",
        )
        .bind(org.0)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        let links: Vec<(Uuid, Uuid, Vec<u8>)> = sqlx::query_as(
            "SELECT e.id, e.user_id, e.pending_totp FROM enrolments e \
             JOIN users u ON u.id = e.user_id \
             WHERE u.org_id = $1 AND e.used_at IS NULL AND e.pending_totp IS NOT NULL \
             ORDER BY e.id",
        )
        .bind(org.0)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        let mut out: Vec<SealedUserSecret> = users
            .into_iter()
            .map(|(id, sealed)| SealedUserSecret {
                holder: SecretHolder::User,
                id,
                user: UserId(id),
                sealed,
            })
            .collect();
        out.extend(
            links
                .into_iter()
                .map(|(id, user, sealed)| SealedUserSecret {
                    holder: SecretHolder::Enrolment,
                    id,
                    user: UserId(user),
                    sealed,
                }),
        );
        Ok(out)
    }
}

#[async_trait]
impl KeyringTx for SqliteTx {
    async fn rewrap_org_key(
        &mut self,
        org: OrgId,
        version: i32,
        from_kek: &str,
        wrapped_identity: &[u8],
        to_kek: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE org_keys SET wrapped_identity = $1, kek_version = $2 \
             WHERE org_id = $3 AND version = $4 AND kek_version = $5 \
             AND length(wrapped_identity) > 0",
        )
        .bind(wrapped_identity)
        .bind(to_kek)
        .bind(org.0)
        .bind(version)
        .bind(from_kek)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn retire_org_keys(
        &mut self,
        org: OrgId,
        below: i32,
        at: OffsetDateTime,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE org_keys SET retired_at = $1 \
             WHERE org_id = $2 AND version < $3 AND retired_at IS NULL",
        )
        .bind(micros(at))
        .bind(org.0)
        .bind(below)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn destroy_retired_org_keys(&mut self, org: OrgId, below: i32) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE org_keys SET wrapped_identity = X'' \
             WHERE org_id = $1 AND version < $2 AND retired_at IS NOT NULL \
             AND length(wrapped_identity) > 0",
        )
        .bind(org.0)
        .bind(below)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn reseal_user_secret(
        &mut self,
        holder: SecretHolder,
        id: Uuid,
        old: &[u8],
        new: &[u8],
    ) -> StoreResult<bool> {
        let sql = match holder {
            SecretHolder::User => {
                "UPDATE users SET totp_secret = $1 WHERE id = $2 AND totp_secret = $3"
            }
            SecretHolder::Enrolment => {
                "UPDATE enrolments SET pending_totp = $1 \
                 WHERE id = $2 AND used_at IS NULL AND pending_totp = $3"
            }
        };
        let done = sqlx::query(sql)
            .bind(new)
            .bind(id)
            .bind(old)
            .execute(&mut *self.tx)
            .await
            .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn org_keys_usable(&mut self, keys: &[(OrgId, i32)]) -> StoreResult<bool> {
        // BEGIN IMMEDIATE holds the write lock: no retirement can interleave.
        for (org, version) in keys {
            let usable: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM org_keys WHERE org_id = $1 AND version = $2 \
                 AND retired_at IS NULL",
            )
            .bind(org.0)
            .bind(*version)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db)?;
            if usable.is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
