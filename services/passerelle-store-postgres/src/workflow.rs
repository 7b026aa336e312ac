//! The workflow part of the port on PostgreSQL: tasks, retention stages, the notification
//! outbox, notice addresses and archive reads (jobs elect their leader with
//! `OpsStore::try_leader`, `ops.rs`).
//!
//! - Mail claims lock the rows they take (`FOR UPDATE OF n SKIP LOCKED`), so instances
//!   sending at once never claim the same notification.

use async_trait::async_trait;
use passerelle_domain::ids::*;
use passerelle_store::*;
use sqlx::Row;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::PgStore;
use crate::codec::*;
use crate::error::{conflict, db};
use crate::tx::PgTx;

fn task_row(row: &PgRow) -> StoreResult<TaskRow> {
    Ok(TaskRow {
        id: TaskId(get(row, "id")?),
        referral_id: ReferralId(get(row, "referral_id")?),
        kind: get(row, "kind")?,
        created_at: get_time(row, "created_at")?,
        done_at: get_time_opt(row, "done_at")?,
        channel: get_enum_opt(row, "channel")?,
        closed_by: get::<Option<Uuid>>(row, "closed_by")?.map(UserId),
        closed_at: get_time_opt(row, "closed_at")?,
    })
}

fn notification_row(row: &PgRow) -> StoreResult<NotificationRow> {
    Ok(NotificationRow {
        id: get(row, "id")?,
        org_id: OrgId(get(row, "org_id")?),
        kind: get(row, "kind")?,
        referral_id: get::<Option<Uuid>>(row, "referral_id")?.map(ReferralId),
        case_id: get::<Option<Uuid>>(row, "case_id")?.map(CaseId),
        created_at: get_time(row, "created_at")?,
        mailed_at: get_time_opt(row, "mailed_at")?,
    })
}

fn ids(rows: Vec<PgRow>) -> StoreResult<Vec<ReferralId>> {
    rows.iter().map(|r| Ok(ReferralId(get(r, "id")?))).collect()
}

#[async_trait]
impl WorkflowStore for PgStore {
    async fn tasks_of(&self, referral: ReferralId) -> StoreResult<Vec<TaskRow>> {
        let sql = concat!(
            "SELECT id, referral_id, kind, created_at, done_at, channel, closed_by, closed_at ",
            "FROM referral_tasks WHERE referral_id = $1 ORDER BY created_at, id"
        );
        let rows = sqlx::query(sql)
            .bind(referral.0)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(task_row).collect()
    }

    async fn task(&self, id: TaskId) -> StoreResult<Option<TaskRow>> {
        let row = sqlx::query(
            "SELECT id, referral_id, kind, created_at, done_at, channel, closed_by, closed_at \
             FROM referral_tasks WHERE id = $1",
        )
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(task_row).transpose()
    }

    async fn retention(&self, referral: ReferralId) -> StoreResult<Option<RetentionRow>> {
        let row = sqlx::query(
            "SELECT COALESCE(last_contact_at, created_at) AS last_contact_at, archived_at, \
             shred_due_at, shredded_at FROM referrals WHERE id = $1",
        )
        .bind(referral.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| {
            Ok(RetentionRow {
                last_contact_at: get_time(&r, "last_contact_at")?,
                archived_at: get_time_opt(&r, "archived_at")?,
                shred_due_at: get_time_opt(&r, "shred_due_at")?,
                shredded_at: get_time_opt(&r, "shredded_at")?,
            })
        })
        .transpose()
    }

    async fn archive_candidates(
        &self,
        before: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<ReferralId>> {
        let rows = sqlx::query(
            "SELECT id FROM referrals WHERE archived_at IS NULL AND shredded_at IS NULL \
             AND COALESCE(last_contact_at, created_at) < $1 \
             ORDER BY COALESCE(last_contact_at, created_at), id LIMIT $2",
        )
        .bind(ts(before))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        ids(rows)
    }

    async fn shred_candidates(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<ReferralId>> {
        let rows = sqlx::query(
            "SELECT id FROM referrals WHERE shred_due_at IS NOT NULL AND shredded_at IS NULL \
             AND shred_due_at <= $1 ORDER BY shred_due_at, id LIMIT $2",
        )
        .bind(ts(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        ids(rows)
    }

    async fn notifications(&self, q: &NotificationQuery) -> StoreResult<Vec<NotificationRow>> {
        let (at, id) = match q.after {
            Some((at, id)) => (Some(ts(at)), Some(id)),
            None => (None, None),
        };
        let rows = sqlx::query(
            "SELECT id, org_id, kind, referral_id, case_id, created_at, mailed_at \
             FROM notifications WHERE org_id = $1 \
             AND ($2::timestamptz IS NULL OR created_at < $2 OR (created_at = $2 AND id > $3)) \
             ORDER BY created_at DESC, id LIMIT $4",
        )
        .bind(q.org.0)
        .bind(at)
        .bind(id)
        .bind(i64::from(q.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(notification_row).collect()
    }

    async fn org_email(&self, org: OrgId) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT email FROM org_notify WHERE org_id = $1")
            .bind(org.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| get(&r, "email")).transpose()
    }

    async fn claim_mail(
        &self,
        now: OffsetDateTime,
        since: OffsetDateTime,
        until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<MailJob>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let rows = sqlx::query(
            "SELECT n.id, n.kind, o.email, n.mail_attempts FROM notifications n \
             JOIN org_notify o ON o.org_id = n.org_id \
             WHERE n.mailed_at IS NULL AND n.mail_given_up_at IS NULL AND n.created_at >= $1 \
             AND (n.mail_claimed_until IS NULL OR n.mail_claimed_until <= $2) \
             ORDER BY n.created_at, n.id LIMIT $3 FOR UPDATE OF n SKIP LOCKED",
        )
        .bind(ts(since))
        .bind(ts(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut jobs = Vec::with_capacity(rows.len());
        for r in rows {
            let id: Uuid = get(&r, "id")?;
            let attempts: i32 = r.try_get("mail_attempts").map_err(db)?;
            sqlx::query(
                "UPDATE notifications SET mail_claimed_until = $1, \
                 mail_attempts = mail_attempts + 1 WHERE id = $2",
            )
            .bind(ts(until))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            jobs.push(MailJob {
                id,
                kind: get(&r, "kind")?,
                to: get(&r, "email")?,
                attempts: u32::try_from(attempts).unwrap_or(0).saturating_add(1),
            });
        }
        tx.commit().await.map_err(db)?;
        Ok(jobs)
    }

    async fn mark_mailed(&self, id: Uuid, at: OffsetDateTime) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(
            "UPDATE notifications SET mailed_at = $1, mail_claimed_until = NULL WHERE id = $2",
        )
        .bind(ts(at))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn mark_mail_failed(
        &self,
        id: Uuid,
        at: OffsetDateTime,
        give_up: bool,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(
            "UPDATE notifications SET mail_given_up_at = CASE WHEN $1 THEN $2::timestamptz ELSE NULL END \
             WHERE id = $3",
        )
        .bind(give_up)
        .bind(ts(at))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }
}

#[async_trait]
impl WorkflowTx for PgTx {
    async fn insert_task(&mut self, t: &TaskRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO referral_tasks (id, referral_id, kind, created_at, done_at, channel, \
             closed_by, closed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(t.id.0)
        .bind(t.referral_id.0)
        .bind(t.kind.as_str())
        .bind(ts(t.created_at))
        .bind(ts_opt(t.done_at))
        .bind(t.channel.map(|c| c.as_str()))
        .bind(t.closed_by.map(|u| u.0))
        .bind(ts_opt(t.closed_at))
        .execute(&mut *self.tx)
        .await
        .map_err(conflict("task"))?;
        Ok(())
    }

    async fn close_task(&mut self, id: TaskId, c: &TaskClosing) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE referral_tasks SET done_at = $1, channel = $2, closed_by = $3, \
             closed_at = $4 WHERE id = $5 AND closed_at IS NULL",
        )
        .bind(ts(c.done_at))
        .bind(c.channel.as_str())
        .bind(c.closed_by.0)
        .bind(ts(c.closed_at))
        .bind(id.0)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn touch_contact(&mut self, referral: ReferralId, at: OffsetDateTime) -> StoreResult<()> {
        sqlx::query(
            "UPDATE referrals SET last_contact_at = $1 WHERE id = $2 \
             AND (last_contact_at IS NULL OR last_contact_at < $1)",
        )
        .bind(ts(at))
        .bind(referral.0)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn set_case_withdrawn(&mut self, case: CaseId, at: OffsetDateTime) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE cases SET withdrawn_at = $1 WHERE id = $2 AND withdrawn_at IS NULL",
        )
        .bind(ts(at))
        .bind(case.0)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn archive(
        &mut self,
        referral: ReferralId,
        before: OffsetDateTime,
        at: OffsetDateTime,
        shred_due_at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE referrals SET archived_at = $1, \
             shred_due_at = CASE WHEN shred_due_at IS NULL OR shred_due_at > $2 THEN $2 \
                                 ELSE shred_due_at END \
             WHERE id = $3 AND archived_at IS NULL AND shredded_at IS NULL \
             AND COALESCE(last_contact_at, created_at) < $4",
        )
        .bind(ts(at))
        .bind(ts(shred_due_at))
        .bind(referral.0)
        .bind(ts(before))
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn schedule_shred(
        &mut self,
        referral: ReferralId,
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE referrals SET shred_due_at = $1 WHERE id = $2 \
             AND (shred_due_at IS NULL OR shred_due_at > $1)",
        )
        .bind(ts(at))
        .bind(referral.0)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn insert_notification(&mut self, n: &NotificationRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO notifications (id, org_id, kind, referral_id, case_id, created_at, \
             mailed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(n.id)
        .bind(n.org_id.0)
        .bind(n.kind.as_str())
        .bind(n.referral_id.map(|r| r.0))
        .bind(n.case_id.map(|c| c.0))
        .bind(ts(n.created_at))
        .bind(ts_opt(n.mailed_at))
        .execute(&mut *self.tx)
        .await
        .map_err(conflict("notification"))?;
        Ok(())
    }

    async fn set_org_email(&mut self, org: OrgId, email: Option<&str>) -> StoreResult<()> {
        match email {
            Some(e) => sqlx::query(
                "INSERT INTO org_notify (org_id, email) VALUES ($1, $2) \
                 ON CONFLICT (org_id) DO UPDATE SET email = excluded.email",
            )
            .bind(org.0)
            .bind(e),
            None => sqlx::query("DELETE FROM org_notify WHERE org_id = $1").bind(org.0),
        }
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn insert_archive_read(&mut self, r: &ArchiveReadRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO archive_reads (id, referral_id, actor, at, sealed_reason) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(r.id)
        .bind(r.referral_id.0)
        .bind(r.actor.0)
        .bind(ts(r.at))
        .bind(r.sealed_reason.as_slice())
        .execute(&mut *self.tx)
        .await
        .map_err(conflict("archive read"))?;
        Ok(())
    }
}
