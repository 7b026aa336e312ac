//! The reads of the SQLite adapter, the keystore, and the opening of transactions.

use std::sync::Arc;

use async_trait::async_trait;
use passerelle_domain::ids::*;
use passerelle_store::*;
use sqlx::sqlite::SqliteRow;

use crate::codec::*;
use crate::error::{conflict, db, migrate};
use crate::migrations::{KEYSTORE, MAIN, migrator};
use crate::tx::SqliteTx;
use crate::{ACQUIRE_TIMEOUT, SqliteStore};

/// `SELECT` of a referral with both slugs joined; `$content` is `"r.content, "` or `""`.
macro_rules! referral_select {
    ($content:literal) => {
        concat!(
            "SELECT r.id, r.case_id, r.reference, r.parent_id, r.from_org, f.slug AS from_slug, \
             r.to_org, t.slug AS to_slug, r.purpose, r.urgency, r.status, r.basis, r.categories, \
             r.created_by, r.created_at, r.due_at, r.updated_at, r.recipient, ",
            $content,
            "r.content_sha256, r.shredded_at FROM referrals r JOIN orgs f ON f.id = r.from_org \
             JOIN orgs t ON t.id = r.to_org "
        )
    };
}

/// Filters shared by both boxes: never archived referrals (retention), `$2` status, `$3`
/// overdue-before.
macro_rules! box_filters {
    () => {
        "AND r.archived_at IS NULL \
         AND ($2 IS NULL OR r.status = $2) \
         AND ($3 IS NULL OR (r.status IN ('sent', 'acknowledged') AND r.due_at < $3)) "
    };
}

// `LIMIT $4 + 0`, not `LIMIT $4`: see the crate documentation (bound limits).
const INBOX: &str = concat!(
    referral_select!(""),
    "WHERE r.to_org = $1 ",
    box_filters!(),
    "ORDER BY r.due_at, r.id LIMIT $4 + 0"
);
const INBOX_AFTER: &str = concat!(
    referral_select!(""),
    "WHERE r.to_org = $1 ",
    box_filters!(),
    "AND (r.due_at, r.id) > ($5, $6) ORDER BY r.due_at, r.id LIMIT $4 + 0"
);
const SENT: &str = concat!(
    referral_select!(""),
    "WHERE r.from_org = $1 ",
    box_filters!(),
    "ORDER BY r.created_at DESC, r.id LIMIT $4 + 0"
);
const SENT_AFTER: &str = concat!(
    referral_select!(""),
    "WHERE r.from_org = $1 ",
    box_filters!(),
    "AND (r.created_at < $5 OR (r.created_at = $5 AND r.id > $6)) \
     ORDER BY r.created_at DESC, r.id LIMIT $4 + 0"
);

macro_rules! org_select {
    () => {
        "SELECT id, slug, name, kind, created_at FROM orgs "
    };
}
macro_rules! org_key_select {
    () => {
        "SELECT org_id, version, recipient, wrapped_identity, kek_version, created_at, \
         retired_at FROM org_keys "
    };
}
macro_rules! user_select {
    () => {
        "SELECT id, username, org_id, role, health_professional, password_hash, totp_secret, \
         disabled, created_at FROM users "
    };
}
macro_rules! token_select {
    () => {
        "SELECT id, user_id, hash, created_at, expires_at, revoked_at FROM api_tokens "
    };
}
/// A token with its user and (left-joined, so a missing row reads as `NULL`, not as no
/// token) the user's organisation.
const TOKEN_AUTH: &str = "SELECT t.id AS token_id, t.expires_at, t.revoked_at, \
     u.id AS user_id, u.username, u.role, u.health_professional, u.disabled, u.org_id, \
     o.slug AS org_slug, o.kind AS org_kind \
     FROM api_tokens t JOIN users u ON u.id = t.user_id LEFT JOIN orgs o ON o.id = u.org_id \
     WHERE t.hash = $1";
macro_rules! leaf_select {
    () => {
        "SELECT seq, at, bytes, leaf_hash, actor, org, action, target, case_id \
         FROM audit_leaves "
    };
}

fn all<T>(rows: Vec<SqliteRow>, f: impl Fn(&SqliteRow) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    rows.iter().map(f).collect()
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> StoreResult<()> {
        migrator(MAIN).run(&self.main).await.map_err(migrate)?;
        migrator(KEYSTORE)
            .run(&self.keystore)
            .await
            .map_err(migrate)?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.main)
            .await
            .map_err(db)?;
        sqlx::query("SELECT 1")
            .execute(&self.keystore)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn begin(&self) -> StoreResult<Box<dyn StoreTx>> {
        let turn = Arc::clone(&self.writer).acquire_owned();
        let permit = match tokio::time::timeout(ACQUIRE_TIMEOUT, turn).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_closed)) => return Err(StoreError::Unavailable("store closed".into())),
            Err(_elapsed) => {
                return Err(StoreError::Unavailable("timed out waiting to write".into()));
            }
        };
        let tx = self.main.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        Ok(Box::new(SqliteTx {
            tx,
            _permit: permit,
        }))
    }

    async fn org_by_slug(&self, slug: &str) -> StoreResult<Option<OrgRow>> {
        let row = sqlx::query(concat!(org_select!(), "WHERE slug = $1"))
            .bind(slug)
            .fetch_optional(&self.main)
            .await
            .map_err(db)?;
        row.as_ref().map(org_row).transpose()
    }

    async fn org_by_id(&self, id: OrgId) -> StoreResult<Option<OrgRow>> {
        let row = sqlx::query(concat!(org_select!(), "WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.main)
            .await
            .map_err(db)?;
        row.as_ref().map(org_row).transpose()
    }

    async fn list_orgs(&self) -> StoreResult<Vec<OrgRow>> {
        let rows = sqlx::query(concat!(org_select!(), "ORDER BY slug"))
            .fetch_all(&self.main)
            .await
            .map_err(db)?;
        all(rows, org_row)
    }

    async fn current_org_key(&self, org: OrgId) -> StoreResult<Option<OrgKeyRow>> {
        let row = sqlx::query(concat!(
            org_key_select!(),
            "WHERE org_id = $1 AND retired_at IS NULL ORDER BY version DESC LIMIT 1"
        ))
        .bind(org.0)
        .fetch_optional(&self.main)
        .await
        .map_err(db)?;
        row.as_ref().map(org_key_row).transpose()
    }

    async fn org_key(&self, org: OrgId, version: i32) -> StoreResult<Option<OrgKeyRow>> {
        let row = sqlx::query(concat!(
            org_key_select!(),
            "WHERE org_id = $1 AND version = $2"
        ))
        .bind(org.0)
        .bind(version)
        .fetch_optional(&self.main)
        .await
        .map_err(db)?;
        row.as_ref().map(org_key_row).transpose()
    }

    async fn all_org_keys(&self) -> StoreResult<Vec<OrgKeyRow>> {
        let rows = sqlx::query(concat!(org_key_select!(), "ORDER BY org_id, version"))
            .fetch_all(&self.main)
            .await
            .map_err(db)?;
        all(rows, org_key_row)
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRow>> {
        let row = sqlx::query(concat!(user_select!(), "WHERE username = $1"))
            .bind(username)
            .fetch_optional(&self.main)
            .await
            .map_err(db)?;
        row.as_ref().map(user_row).transpose()
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRow>> {
        let row = sqlx::query(concat!(user_select!(), "WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.main)
            .await
            .map_err(db)?;
        row.as_ref().map(user_row).transpose()
    }

    async fn users_of_org(&self, org: OrgId) -> StoreResult<Vec<UserRow>> {
        let rows = sqlx::query(concat!(
            user_select!(),
            "WHERE org_id = $1 ORDER BY username"
        ))
        .bind(org.0)
        .fetch_all(&self.main)
        .await
        .map_err(db)?;
        all(rows, user_row)
    }

    async fn token_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<TokenRow>> {
        let row = sqlx::query(concat!(token_select!(), "WHERE hash = $1"))
            .bind(hash.as_slice())
            .fetch_optional(&self.main)
            .await
            .map_err(db)?;
        row.as_ref().map(token_row).transpose()
    }

    async fn token_auth(&self, hash: &[u8; 32]) -> StoreResult<Option<TokenAuthRow>> {
        let row = sqlx::query(TOKEN_AUTH)
            .bind(hash.as_slice())
            .fetch_optional(&self.main)
            .await
            .map_err(db)?;
        row.as_ref().map(token_auth_row).transpose()
    }

    async fn token_by_id(&self, id: TokenId) -> StoreResult<Option<TokenRow>> {
        let row = sqlx::query(concat!(token_select!(), "WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.main)
            .await
            .map_err(db)?;
        row.as_ref().map(token_row).transpose()
    }

    async fn list_referrals(&self, q: &ListQuery) -> StoreResult<Vec<ReferralRow>> {
        let sql = match (q.kind, q.after.is_some()) {
            (BoxKind::Inbox, false) => INBOX,
            (BoxKind::Inbox, true) => INBOX_AFTER,
            (BoxKind::Sent, false) => SENT,
            (BoxKind::Sent, true) => SENT_AFTER,
        };
        let mut query = sqlx::query(sql)
            .bind(q.org.0)
            .bind(q.status.map(|s| s.as_str()))
            .bind(micros_opt(q.overdue_before))
            .bind(i64::from(q.limit));
        if let Some((at, id)) = q.after {
            query = query.bind(micros(at)).bind(id.0);
        }
        let rows = query.fetch_all(&self.main).await.map_err(db)?;
        all(rows, |r| referral_row(r, false))
    }

    async fn referral(&self, id: ReferralId) -> StoreResult<Option<ReferralRow>> {
        let row = sqlx::query(concat!(referral_select!("r.content, "), "WHERE r.id = $1"))
            .bind(id.0)
            .fetch_optional(&self.main)
            .await
            .map_err(db)?;
        row.as_ref().map(|r| referral_row(r, true)).transpose()
    }

    async fn referrals_of_case(&self, case: CaseId) -> StoreResult<Vec<ReferralRow>> {
        let rows = sqlx::query(concat!(
            referral_select!("r.content, "),
            "WHERE r.case_id = $1 ORDER BY r.created_at, r.id"
        ))
        .bind(case.0)
        .fetch_all(&self.main)
        .await
        .map_err(db)?;
        all(rows, |r| referral_row(r, true))
    }

    async fn case(&self, id: CaseId) -> StoreResult<Option<CaseRow>> {
        let row =
            sqlx::query("SELECT id, created_at, terms, withdrawn_at FROM cases WHERE id = $1")
                .bind(id.0)
                .fetch_optional(&self.main)
                .await
                .map_err(db)?;
        row.as_ref().map(case_row).transpose()
    }

    async fn referral_events(&self, id: ReferralId) -> StoreResult<Vec<ReferralEventRow>> {
        let rows = sqlx::query(
            "SELECT referral_id, at, status, actor, outcome, sealed_detail, suggested_org \
             FROM referral_events WHERE referral_id = $1 ORDER BY at, id",
        )
        .bind(id.0)
        .fetch_all(&self.main)
        .await
        .map_err(db)?;
        all(rows, event_row)
    }

    async fn put_key_wraps(&self, wraps: &[KeyWrapRow]) -> StoreResult<()> {
        let mut tx = self
            .keystore
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db)?;
        for w in wraps {
            sqlx::query(
                "INSERT INTO key_wraps (referral_id, org_id, org_key_version, wrapped) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(w.referral_id.0)
            .bind(w.org_id.0)
            .bind(w.org_key_version)
            .bind(w.wrapped.as_slice())
            .execute(&mut *tx)
            .await
            .map_err(conflict("key wrap"))?;
        }
        tx.commit().await.map_err(db)
    }

    async fn key_wrap(&self, referral: ReferralId, org: OrgId) -> StoreResult<Option<KeyWrapRow>> {
        let row = sqlx::query(
            "SELECT referral_id, org_id, org_key_version, wrapped FROM key_wraps \
             WHERE referral_id = $1 AND org_id = $2",
        )
        .bind(referral.0)
        .bind(org.0)
        .fetch_optional(&self.keystore)
        .await
        .map_err(db)?;
        row.as_ref().map(wrap_row).transpose()
    }

    async fn delete_key_wraps(&self, referral: ReferralId) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM key_wraps WHERE referral_id = $1")
            .bind(referral.0)
            .execute(&self.keystore)
            .await
            .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn audit_head(&self) -> StoreResult<Option<AuditHeadRow>> {
        let row =
            sqlx::query("SELECT size, root, compact, checkpoint FROM audit_head WHERE id = 1")
                .fetch_optional(&self.main)
                .await
                .map_err(db)?
                .ok_or_else(|| StoreError::Corrupt("audit head row missing".into()))?;
        head_row(&row)
    }

    async fn audit_leaves(&self, from: u64, limit: u32) -> StoreResult<Vec<AuditLeafRow>> {
        let rows = sqlx::query(concat!(
            leaf_select!(),
            "WHERE seq >= $1 ORDER BY seq LIMIT $2 + 0"
        ))
        .bind(to_i64(from, "seq")?)
        .bind(i64::from(limit))
        .fetch_all(&self.main)
        .await
        .map_err(db)?;
        all(rows, leaf_row)
    }

    async fn audit_leaf_batch(&self, from: u64, limit: u32) -> StoreResult<AuditLeafBatch> {
        // One row for the whole page: each leaf packed by SQLite itself (fixed-width
        // integers through `printf` and `unhex`, then the values, NULLs as nothing),
        // concatenated; the format is `passerelle_store::leaf_batch`'s. `concat` and
        // `group_concat` copy bytes as they are (the database is UTF-8), NUL bytes
        // included. The records come in the subquery's seq order (an ORDER BY inside
        // `group_concat` builds a temporary b-tree per page); each carries its seq, which
        // the verifier checks, so another order could only fail a check, never pass one.
        let row = sqlx::query(
            "SELECT count(*) AS n, max(seq) AS last, CAST(group_concat(concat( \
                 unhex(printf('%016x%016x%08x%08x%08x%08x%08x%08x%08x', seq, at, \
                     octet_length(leaf_hash) + 1, octet_length(bytes) + 1, \
                     octet_length(actor) + 1, octet_length(org) + 1, \
                     octet_length(action) + 1, octet_length(target) + 1, \
                     octet_length(case_id) + 1)), \
                 leaf_hash, bytes, actor, org, action, target, case_id), '') AS BLOB) \
                 AS packed \
             FROM (SELECT * FROM audit_leaves WHERE seq >= $1 ORDER BY seq LIMIT $2 + 0)",
        )
        .bind(to_i64(from, "seq")?)
        .bind(i64::from(limit))
        .fetch_one(&self.main)
        .await
        .map_err(db)?;
        AuditLeafBatch::new(get(&row, "n")?, get(&row, "last")?, get(&row, "packed")?)
    }

    async fn audit_search(&self, f: &AuditFilter) -> StoreResult<Vec<AuditLeafRow>> {
        let after = match f.after {
            Some(a) => to_i64(a, "seq")?,
            None => -1,
        };
        let rows = sqlx::query(concat!(
            leaf_select!(),
            "WHERE seq > $1 AND ($2 IS NULL OR case_id = $2) AND ($3 IS NULL OR actor = $3) \
             AND ($4 IS NULL OR org = $4) AND ($5 IS NULL OR action = $5) \
             AND ($6 IS NULL OR at >= $6) AND ($7 IS NULL OR at < $7) ORDER BY seq LIMIT $8 + 0"
        ))
        .bind(after)
        .bind(f.case_id.map(|c| c.0))
        .bind(f.actor.as_deref())
        .bind(f.org.as_deref())
        .bind(f.action.as_deref())
        .bind(micros_opt(f.since))
        .bind(micros_opt(f.until))
        .bind(i64::from(f.limit))
        .fetch_all(&self.main)
        .await
        .map_err(db)?;
        all(rows, leaf_row)
    }
}
