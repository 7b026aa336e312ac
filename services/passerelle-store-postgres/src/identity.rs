//! The identity part of the port on PostgreSQL: enrolment links, web sessions, the login
//! guard, and the statistics reads. Counters change in single `INSERT … ON CONFLICT … DO
//! UPDATE` statements: the row lock they take serialises instances racing on one account
//! until commit, so no increment is lost and no TOTP step is accepted twice.

use async_trait::async_trait;
use passerelle_domain::ids::*;
use passerelle_store::*;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::PgStore;
use crate::codec::*;
use crate::error::{conflict, db};
use crate::tx::PgTx;

fn enrolment_row(row: &PgRow) -> StoreResult<EnrolmentRow> {
    Ok(EnrolmentRow {
        id: id(row, "id")?,
        user_id: id(row, "user_id")?,
        hash: get_hash(row, "hash")?,
        created_at: get_time(row, "created_at")?,
        expires_at: get_time(row, "expires_at")?,
        used_at: get_time_opt(row, "used_at")?,
        pending_totp: get(row, "pending_totp")?,
    })
}

fn session_row(row: &PgRow) -> StoreResult<SessionRow> {
    Ok(SessionRow {
        id: id(row, "id")?,
        user_id: id(row, "user_id")?,
        hash: get_hash(row, "hash")?,
        created_at: get_time(row, "created_at")?,
        last_seen_at: get_time(row, "last_seen_at")?,
        expires_at: get_time(row, "expires_at")?,
        ended_at: get_time_opt(row, "ended_at")?,
    })
}

fn timing_row(row: &PgRow) -> StoreResult<ReferralTimingRow> {
    Ok(ReferralTimingRow {
        sent: get(row, "sent")?,
        received: get(row, "received")?,
        status: get_enum(row, "status")?,
        created_at: get_time(row, "created_at")?,
        due_at: get_time(row, "due_at")?,
        first_response_at: get_time_opt(row, "first_response_at")?,
    })
}

fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[async_trait]
impl IdentityStore for PgStore {
    async fn enrolment_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<EnrolmentRow>> {
        let row = sqlx::query(
            "SELECT id, user_id, hash, created_at, expires_at, used_at, pending_totp \
             FROM enrolments WHERE hash = $1",
        )
        .bind(hash.as_slice())
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.as_ref().map(enrolment_row).transpose()
    }

    async fn session_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<SessionRow>> {
        let row = sqlx::query(
            "SELECT id, user_id, hash, created_at, last_seen_at, expires_at, ended_at \
             FROM web_sessions WHERE hash = $1",
        )
        .bind(hash.as_slice())
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.as_ref().map(session_row).transpose()
    }

    async fn auth_state(&self, user: UserId) -> StoreResult<AuthStateRow> {
        let row = sqlx::query(
            "SELECT failed_logins, locked_until, totp_last_step FROM auth_state \
             WHERE user_id = $1",
        )
        .bind(user.0)
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        match row {
            None => Ok(AuthStateRow::default()),
            Some(r) => Ok(AuthStateRow {
                failed_logins: count(get(&r, "failed_logins")?),
                locked_until: get_time_opt(&r, "locked_until")?,
                totp_last_step: get(&r, "totp_last_step")?,
            }),
        }
    }

    async fn tokens_of_user(&self, user: UserId) -> StoreResult<Vec<TokenRow>> {
        let rows = sqlx::query(
            "SELECT id, user_id, hash, created_at, expires_at, revoked_at FROM api_tokens \
             WHERE user_id = $1 ORDER BY created_at DESC, id",
        )
        .bind(user.0)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.iter().map(token_row).collect()
    }
}

#[async_trait]
impl StatsStore for PgStore {
    async fn referral_timings(&self, org: OrgId) -> StoreResult<Vec<ReferralTimingRow>> {
        let rows = sqlx::query(
            "SELECT r.from_org = $1 AS sent, r.to_org = $1 AS received, r.status, \
             r.created_at, r.due_at, \
             (SELECT MIN(e.at) FROM referral_events e WHERE e.referral_id = r.id \
              AND e.status IN ('acknowledged', 'accepted', 'declined')) AS first_response_at \
             FROM referrals r WHERE r.from_org = $1 OR r.to_org = $1",
        )
        .bind(org.0)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.iter().map(timing_row).collect()
    }
}

#[async_trait]
impl IdentityTx for PgTx {
    async fn insert_enrolment(&mut self, e: &EnrolmentRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO enrolments (id, user_id, hash, created_at, expires_at, used_at, \
             pending_totp) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(e.id)
        .bind(e.user_id.0)
        .bind(e.hash.as_slice())
        .bind(ts(e.created_at))
        .bind(ts(e.expires_at))
        .bind(ts_opt(e.used_at))
        .bind(e.pending_totp.as_deref())
        .execute(&mut *self.tx)
        .await
        .map_err(conflict("enrolment"))?;
        Ok(())
    }

    async fn set_enrolment_totp(&mut self, id: Uuid, sealed: &[u8]) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE enrolments SET pending_totp = $1 WHERE id = $2 AND used_at IS NULL",
        )
        .bind(sealed)
        .bind(id)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn use_enrolment(&mut self, id: Uuid, at: OffsetDateTime) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE enrolments SET used_at = $1, pending_totp = NULL \
             WHERE id = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(ts(at))
        .bind(id)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn void_enrolments(&mut self, user: UserId, at: OffsetDateTime) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE enrolments SET used_at = $1, pending_totp = NULL \
             WHERE user_id = $2 AND used_at IS NULL",
        )
        .bind(ts(at))
        .bind(user.0)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn set_credentials(
        &mut self,
        user: UserId,
        password_hash: Option<&str>,
        totp_secret: Option<&[u8]>,
    ) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE users SET password_hash = $1, totp_secret = $2 WHERE id = $3")
                .bind(password_hash)
                .bind(totp_secret)
                .bind(user.0)
                .execute(&mut *self.tx)
                .await
                .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn disable_user(&mut self, user: UserId) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE users SET disabled = true WHERE id = $1 AND NOT disabled")
            .bind(user.0)
            .execute(&mut *self.tx)
            .await
            .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_session(&mut self, s: &SessionRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO web_sessions (id, user_id, hash, created_at, last_seen_at, expires_at, \
             ended_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(s.id)
        .bind(s.user_id.0)
        .bind(s.hash.as_slice())
        .bind(ts(s.created_at))
        .bind(ts(s.last_seen_at))
        .bind(ts(s.expires_at))
        .bind(ts_opt(s.ended_at))
        .execute(&mut *self.tx)
        .await
        .map_err(conflict("session"))?;
        Ok(())
    }

    async fn touch_session(&mut self, id: Uuid, at: OffsetDateTime) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE web_sessions SET last_seen_at = $1 WHERE id = $2 AND ended_at IS NULL",
        )
        .bind(ts(at))
        .bind(id)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn end_session(&mut self, id: Uuid, at: OffsetDateTime) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE web_sessions SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
                .bind(ts(at))
                .bind(id)
                .execute(&mut *self.tx)
                .await
                .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn end_sessions_of(&mut self, user: UserId, at: OffsetDateTime) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE web_sessions SET ended_at = $1 WHERE user_id = $2 AND ended_at IS NULL",
        )
        .bind(ts(at))
        .bind(user.0)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn revoke_tokens_of(&mut self, user: UserId, at: OffsetDateTime) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(ts(at))
        .bind(user.0)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn bump_login_failures(&mut self, user: UserId) -> StoreResult<u32> {
        let row = sqlx::query(
            "INSERT INTO auth_state (user_id, failed_logins) VALUES ($1, 1) \
             ON CONFLICT (user_id) DO UPDATE SET failed_logins = auth_state.failed_logins + 1 \
             RETURNING failed_logins",
        )
        .bind(user.0)
        .fetch_one(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(count(get(&row, "failed_logins")?))
    }

    async fn lock_account(&mut self, user: UserId, until: OffsetDateTime) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO auth_state (user_id, failed_logins, locked_until) VALUES ($1, 0, $2) \
             ON CONFLICT (user_id) DO UPDATE SET failed_logins = 0, locked_until = $2",
        )
        .bind(user.0)
        .bind(ts(until))
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn clear_login_failures(&mut self, user: UserId) -> StoreResult<()> {
        sqlx::query(
            "UPDATE auth_state SET failed_logins = 0, locked_until = NULL WHERE user_id = $1",
        )
        .bind(user.0)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn claim_totp_step(&mut self, user: UserId, step: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO auth_state (user_id, totp_last_step) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO UPDATE SET totp_last_step = excluded.totp_last_step \
             WHERE auth_state.totp_last_step IS NULL \
             OR auth_state.totp_last_step < excluded.totp_last_step",
        )
        .bind(user.0)
        .bind(step)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }
}
