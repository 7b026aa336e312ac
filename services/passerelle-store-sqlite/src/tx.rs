//! The write transaction of the SQLite adapter.
//!
//! Every transaction starts with `BEGIN IMMEDIATE`: it takes SQLite's single write lock at
//! once (waiting up to the busy timeout), so two transactions never both read and then
//! fight to upgrade, and the audit append that ends each transaction already runs under the
//! lock that orders the log: index order is commit order.

use async_trait::async_trait;
use passerelle_domain::audit::HeadSigner;
use passerelle_domain::enums::ReferralStatus;
use passerelle_domain::ids::*;
use passerelle_domain::merkle::{CompactRange, leaf_hash};
use passerelle_store::*;
use sqlx::{Sqlite, Transaction};
use time::OffsetDateTime;
use tokio::sync::OwnedSemaphorePermit;

use crate::codec::*;
use crate::error::{conflict, db};

/// A write transaction, begun with `BEGIN IMMEDIATE`; rolled back when dropped.
pub(crate) struct SqliteTx {
    /// Dropped first: the rollback, if any, is queued before the turn is passed on.
    pub(crate) tx: Transaction<'static, Sqlite>,
    /// This process's turn to write, held until commit or drop.
    pub(crate) _permit: OwnedSemaphorePermit,
}

#[async_trait]
impl StoreTx for SqliteTx {
    async fn insert_org(&mut self, org: &OrgRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO orgs (id, slug, name, kind, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(org.id.0)
        .bind(org.slug.as_str())
        .bind(org.name.as_str())
        .bind(org.kind.as_str())
        .bind(micros(org.created_at))
        .execute(&mut *self.tx)
        .await
        .map_err(conflict("organisation"))?;
        Ok(())
    }

    async fn insert_org_key(&mut self, key: &OrgKeyRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO org_keys (org_id, version, recipient, wrapped_identity, kek_version, \
             created_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(key.org_id.0)
        .bind(key.version)
        .bind(key.recipient.as_str())
        .bind(key.wrapped_identity.as_slice())
        .bind(key.kek_version.as_str())
        .bind(micros(key.created_at))
        .bind(micros_opt(key.retired_at))
        .execute(&mut *self.tx)
        .await
        .map_err(conflict("organisation key version"))?;
        Ok(())
    }

    async fn insert_user(&mut self, user: &UserRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO users (id, username, org_id, role, health_professional, password_hash, \
             totp_secret, disabled, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(user.id.0)
        .bind(user.username.as_str())
        .bind(user.org_id.0)
        .bind(user.role.as_str())
        .bind(user.health_professional)
        .bind(user.password_hash.as_deref())
        .bind(user.totp_secret.as_deref())
        .bind(user.disabled)
        .bind(micros(user.created_at))
        .execute(&mut *self.tx)
        .await
        .map_err(conflict("user"))?;
        Ok(())
    }

    async fn insert_token(&mut self, token: &TokenRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, hash, created_at, expires_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token.id.0)
        .bind(token.user_id.0)
        .bind(token.hash.as_slice())
        .bind(micros(token.created_at))
        .bind(micros(token.expires_at))
        .bind(micros_opt(token.revoked_at))
        .execute(&mut *self.tx)
        .await
        .map_err(conflict("token"))?;
        Ok(())
    }

    async fn revoke_token(&mut self, id: TokenId, at: OffsetDateTime) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(micros(at))
        .bind(id.0)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_case(&mut self, case: &CaseRow) -> StoreResult<()> {
        let terms = serde_json::to_string(&case.terms)
            .map_err(|e| StoreError::Other(format!("terms: {e}")))?;
        sqlx::query(
            "INSERT INTO cases (id, created_at, terms, withdrawn_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(case.id.0)
        .bind(micros(case.created_at))
        .bind(terms)
        .bind(micros_opt(case.withdrawn_at))
        .execute(&mut *self.tx)
        .await
        .map_err(conflict("case"))?;
        Ok(())
    }

    async fn insert_referral(&mut self, r: &ReferralRow) -> StoreResult<()> {
        let categories = serde_json::to_string(&r.categories)
            .map_err(|e| StoreError::Other(format!("categories: {e}")))?;
        sqlx::query(
            "INSERT INTO referrals (id, case_id, reference, parent_id, from_org, to_org, purpose, \
             urgency, status, basis, categories, created_by, created_at, due_at, updated_at, \
             recipient, content, content_sha256, shredded_at) VALUES ($1, $2, $3, $4, $5, $6, \
             $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        )
        .bind(r.id.0)
        .bind(r.case_id.0)
        .bind(r.reference.as_str())
        .bind(r.parent_id.map(|p| p.0))
        .bind(r.from_org.0)
        .bind(r.to_org.0)
        .bind(r.purpose.as_str())
        .bind(r.urgency.as_str())
        .bind(r.status.as_str())
        .bind(r.basis.as_str())
        .bind(categories)
        .bind(r.created_by.0)
        .bind(micros(r.created_at))
        .bind(micros(r.due_at))
        .bind(micros(r.updated_at))
        .bind(r.recipient.as_str())
        .bind(r.content.as_slice())
        .bind(r.content_sha256.as_slice())
        .bind(micros_opt(r.shredded_at))
        .execute(&mut *self.tx)
        .await
        .map_err(conflict("referral"))?;
        // The history starts with the filing itself.
        let first = ReferralEventRow {
            referral_id: r.id,
            at: r.created_at,
            status: r.status,
            actor: Some(r.created_by),
            outcome: None,
            sealed_detail: None,
            suggested_org: None,
        };
        self.insert_event(&first).await
    }

    async fn transition(
        &mut self,
        id: ReferralId,
        expected: ReferralStatus,
        event: &ReferralEventRow,
    ) -> StoreResult<bool> {
        if event.referral_id != id {
            return Err(StoreError::Other("event of another referral".into()));
        }
        let done = sqlx::query(
            "UPDATE referrals SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
        )
        .bind(event.status.as_str())
        .bind(micros(event.at))
        .bind(id.0)
        .bind(expected.as_str())
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        self.insert_event(event).await?;
        Ok(true)
    }

    async fn append_audit(
        &mut self,
        leaf: &NewAuditLeaf,
        signer: &dyn HeadSigner,
    ) -> StoreResult<AuditHeadRow> {
        // The write lock is already held (BEGIN IMMEDIATE): nobody else appends meanwhile.
        let head = sqlx::query("SELECT size, compact FROM audit_head WHERE id = 1")
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db)?
            .ok_or_else(|| StoreError::Corrupt("audit head row missing".into()))?;
        let size = get_u64(&head, "size")?;
        let compact: Vec<u8> = get(&head, "compact")?;
        let mut range = CompactRange::from_parts(size, split_hashes(&compact)?)
            .map_err(|_| StoreError::Corrupt("audit head: compact range".into()))?;
        let hash = leaf_hash(&leaf.bytes);
        range.append(hash);
        let root = range.root();

        sqlx::query(
            "INSERT INTO audit_leaves (seq, at, bytes, leaf_hash, actor, org, action, target, \
             case_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(to_i64(size, "audit size")?)
        .bind(micros(leaf.at))
        .bind(leaf.bytes.as_slice())
        .bind(hash.as_slice())
        .bind(leaf.actor.as_deref())
        .bind(leaf.org.as_deref())
        .bind(leaf.action.as_str())
        .bind(leaf.target.as_deref())
        .bind(leaf.case_id.map(|c| c.0))
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;

        let checkpoint = signer.sign_head(range.size(), &root);
        let done = sqlx::query(
            "UPDATE audit_head SET size = $1, root = $2, compact = $3, checkpoint = $4 \
             WHERE id = 1 AND size = $5",
        )
        .bind(to_i64(range.size(), "audit size")?)
        .bind(root.as_slice())
        .bind(join_hashes(range.hashes()))
        .bind(checkpoint.as_str())
        .bind(to_i64(size, "audit size")?)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Corrupt(
                "audit head changed under its lock".into(),
            ));
        }
        Ok(AuditHeadRow {
            size: range.size(),
            root,
            compact: range.hashes().to_vec(),
            checkpoint,
        })
    }

    async fn commit(self: Box<Self>) -> StoreResult<()> {
        let SqliteTx { tx, _permit } = *self;
        tx.commit().await.map_err(db)
    }
}

impl SqliteTx {
    async fn insert_event(&mut self, e: &ReferralEventRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO referral_events (referral_id, at, status, actor, outcome, sealed_detail, \
             suggested_org) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(e.referral_id.0)
        .bind(micros(e.at))
        .bind(e.status.as_str())
        .bind(e.actor.map(|a| a.0))
        .bind(e.outcome.map(|o| o.as_str()))
        .bind(e.sealed_detail.as_deref())
        .bind(e.suggested_org.as_ref().map(|s| s.as_str()))
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(())
    }
}
