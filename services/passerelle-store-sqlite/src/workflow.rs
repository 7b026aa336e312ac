//! The workflow part of the port on SQLite: tasks, retention stages, the notification
//! outbox, notice addresses and archive reads (jobs elect their leader with
//! `OpsStore::try_leader`, `ops.rs`).
//!
//! Writes outside a [`passerelle_store::StoreTx`] (mail claims and marks) take this
//! process's write turn first, like every transaction, and run in `BEGIN IMMEDIATE`.

use std::sync::Arc;

use async_trait::async_trait;
use passerelle_domain::ids::*;
use passerelle_store::*;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::codec::*;
use crate::error::{conflict, db};
use crate::tx::SqliteTx;
use crate::{ACQUIRE_TIMEOUT, SqliteStore};

fn task_row(row: &SqliteRow) -> StoreResult<TaskRow> {
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

fn notification_row(row: &SqliteRow) -> StoreResult<NotificationRow> {
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

fn ids(rows: Vec<SqliteRow>) -> StoreResult<Vec<ReferralId>> {
    rows.iter().map(|r| Ok(ReferralId(get(r, "id")?))).collect()
}

impl SqliteStore {
    /// Waits for this process's write turn and opens a `BEGIN IMMEDIATE` transaction.
    async fn write(
        &self,
    ) -> StoreResult<(
        sqlx::Transaction<'static, sqlx::Sqlite>,
        tokio::sync::OwnedSemaphorePermit,
    )> {
        let turn = Arc::clone(&self.writer).acquire_owned();
        let permit = match tokio::time::timeout(ACQUIRE_TIMEOUT, turn).await {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => return Err(StoreError::Unavailable("store closed".into())),
            Err(_) => return Err(StoreError::Unavailable("timed out waiting to write".into())),
        };
        let tx = self.main.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        Ok((tx, permit))
    }
}

#[async_trait]
impl WorkflowStore for SqliteStore {
    async fn tasks_of(&self, referral: ReferralId) -> StoreResult<Vec<TaskRow>> {
        let sql = concat!(
            "SELECT id, referral_id, kind, created_at, done_at, channel, closed_by, closed_at ",
            "FROM referral_tasks WHERE referral_id = $1 ORDER BY created_at, id"
        );
        let rows = sqlx::query(sql)
            .bind(referral.0)
            .fetch_all(&self.main)
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
        .fetch_optional(&self.main)
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
        .fetch_optional(&self.main)
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
             ORDER BY COALESCE(last_contact_at, created_at), id LIMIT $2 + 0",
        )
        .bind(micros(before))
        .bind(i64::from(limit))
        .fetch_all(&self.main)
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
             AND shred_due_at <= $1 ORDER BY shred_due_at, id LIMIT $2 + 0",
        )
        .bind(micros(now))
        .bind(i64::from(limit))
        .fetch_all(&self.main)
        .await
        .map_err(db)?;
        ids(rows)
    }

    async fn notifications(&self, q: &NotificationQuery) -> StoreResult<Vec<NotificationRow>> {
        let (at, id) = match q.after {
            Some((at, id)) => (Some(micros(at)), Some(id)),
            None => (None, None),
        };
        let rows = sqlx::query(
            "SELECT id, org_id, kind, referral_id, case_id, created_at, mailed_at \
             FROM notifications WHERE org_id = $1 \
             AND ($2 IS NULL OR created_at < $2 OR (created_at = $2 AND id > $3)) \
             ORDER BY created_at DESC, id LIMIT $4 + 0",
        )
        .bind(q.org.0)
        .bind(at)
        .bind(id)
        .bind(i64::from(q.limit))
        .fetch_all(&self.main)
        .await
        .map_err(db)?;
        rows.iter().map(notification_row).collect()
    }

    async fn org_email(&self, org: OrgId) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT email FROM org_notify WHERE org_id = $1")
            .bind(org.0)
            .fetch_optional(&self.main)
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
        let (mut tx, _permit) = self.write().await?;
        let rows = sqlx::query(
            "SELECT n.id, n.kind, o.email, n.mail_attempts FROM notifications n \
             JOIN org_notify o ON o.org_id = n.org_id \
             WHERE n.mailed_at IS NULL AND n.mail_given_up_at IS NULL AND n.created_at >= $1 \
             AND (n.mail_claimed_until IS NULL OR n.mail_claimed_until <= $2) \
             ORDER BY n.created_at, n.id LIMIT $3 + 0",
        )
        .bind(micros(since))
        .bind(micros(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut jobs = Vec::with_capacity(rows.len());
        for r in rows {
            let id: Uuid = get(&r, "id")?;
            let attempts: i64 = r.try_get("mail_attempts").map_err(db)?;
            sqlx::query(
                "UPDATE notifications SET mail_claimed_until = $1, \
                 mail_attempts = mail_attempts + 1 WHERE id = $2",
            )
            .bind(micros(until))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            jobs.push(MailJob {
                id,
                kind: get(&r, "kind")?,
                to: get(&r, "email")?,
                attempts: u32::try_from(attempts + 1).unwrap_or(u32::MAX),
            });
        }
        tx.commit().await.map_err(db)?;
        Ok(jobs)
    }

    async fn mark_mailed(&self, id: Uuid, at: OffsetDateTime) -> StoreResult<()> {
        let (mut tx, _permit) = self.write().await?;
        sqlx::query(
            "UPDATE notifications SET mailed_at = $1, mail_claimed_until = NULL WHERE id = $2",
        )
        .bind(micros(at))
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
        let (mut tx, _permit) = self.write().await?;
        sqlx::query(
            "UPDATE notifications SET mail_given_up_at = CASE WHEN $1 THEN $2 ELSE NULL END \
             WHERE id = $3",
        )
        .bind(give_up)
        .bind(micros(at))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }
}

#[async_trait]
impl WorkflowTx for SqliteTx {
    async fn insert_task(&mut self, t: &TaskRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO referral_tasks (id, referral_id, kind, created_at, done_at, channel, \
             closed_by, closed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(t.id.0)
        .bind(t.referral_id.0)
        .bind(t.kind.as_str())
        .bind(micros(t.created_at))
        .bind(micros_opt(t.done_at))
        .bind(t.channel.map(|c| c.as_str()))
        .bind(t.closed_by.map(|u| u.0))
        .bind(micros_opt(t.closed_at))
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
        .bind(micros(c.done_at))
        .bind(c.channel.as_str())
        .bind(c.closed_by.0)
        .bind(micros(c.closed_at))
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
        .bind(micros(at))
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
        .bind(micros(at))
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
        .bind(micros(at))
        .bind(micros(shred_due_at))
        .bind(referral.0)
        .bind(micros(before))
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
        .bind(micros(at))
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
        .bind(micros(n.created_at))
        .bind(micros_opt(n.mailed_at))
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
        .bind(micros(r.at))
        .bind(r.sealed_reason.as_slice())
        .execute(&mut *self.tx)
        .await
        .map_err(conflict("archive read"))?;
        Ok(())
    }
}
