//! The storage port of Passerelle: the traits every database adapter implements, the row
//! types they exchange, and [`StoreError`]. This crate knows nothing of SQL or sqlx.
//!
//! Shape of the port:
//! - [`Store`] answers reads that need no lock and opens write transactions ([`StoreTx`]).
//! - Every change happens in a [`StoreTx`]; the audit leaf of that change is appended with
//!   [`StoreTx::append_audit`] **last**, inside the same transaction, under the lock of the
//!   audit head row, so the log's index order is commit order and no action commits without
//!   its leaf (fail closed).
//! - The keystore (referral key wraps) is a separate storage area (another SQLite file, or
//!   another PostgreSQL schema): [`Store::put_key_wraps`] commits wraps on their own, before
//!   the referral that needs them; orphan wraps (no referral) carry no content and are
//!   harmless; shredding deletes wraps first, then ciphertexts.

pub mod content;
pub mod identity;
pub mod keyring;
pub mod leaf_batch;
pub mod ops;
pub mod rows;
pub mod shred;
pub mod transfer;
pub mod workflow;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use content::{AttachmentDone, AttachmentRow, ContentStore, ContentTx, MessageRow};
pub use identity::*;
pub use keyring::{KeyringStore, KeyringTx, SealedUserSecret, SecretHolder};
pub use leaf_batch::{AuditLeafBatch, AuditLeafRef};
pub use ops::{LeaderGuard, LeaderHold, OpsStore};
pub use rows::*;
pub use shred::{ShredCounts, ShredRequest, ShredStore, ShredTx};
pub use workflow::*;

use async_trait::async_trait;
use passerelle_domain::audit::HeadSigner;
use passerelle_domain::enums::ReferralStatus;
use passerelle_domain::ids::*;
use time::OffsetDateTime;

/// What can go wrong in storage. Never carries victim data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint refused the write (e.g. slug or username taken).
    #[error("already exists: {0}")]
    Conflict(&'static str),
    /// The database cannot be reached or refused the connection: nothing was done.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The stored data is not what the schema promises (corruption or tampering).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Other(String),
}

/// Result of a storage call.
pub type StoreResult<T> = Result<T, StoreError>;

/// The storage port. Implemented by `passerelle-store-sqlite` and `passerelle-store-postgres`.
#[async_trait]
pub trait Store:
    ShredStore
    + ContentStore
    + WorkflowStore
    + KeyringStore
    + IdentityStore
    + StatsStore
    + OpsStore
    + Send
    + Sync
    + 'static
{
    /// Short backend name for logs: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Applies pending migrations (main database and keystore).
    async fn migrate(&self) -> StoreResult<()>;

    /// Checks that the database answers (`/readyz`).
    async fn ping(&self) -> StoreResult<()>;

    /// Opens a write transaction.
    async fn begin(&self) -> StoreResult<Box<dyn StoreTx>>;

    // ---- organisations and keys ----

    /// Organisation by slug.
    async fn org_by_slug(&self, slug: &str) -> StoreResult<Option<OrgRow>>;
    /// Organisation by id.
    async fn org_by_id(&self, id: OrgId) -> StoreResult<Option<OrgRow>>;
    /// Every organisation, by slug.
    async fn list_orgs(&self) -> StoreResult<Vec<OrgRow>>;
    /// The organisation's current (highest, not retired) identity.
    async fn current_org_key(&self, org: OrgId) -> StoreResult<Option<OrgKeyRow>>;
    /// One version of the organisation's identity.
    async fn org_key(&self, org: OrgId, version: i32) -> StoreResult<Option<OrgKeyRow>>;
    /// Every organisation identity version of every organisation.
    async fn all_org_keys(&self) -> StoreResult<Vec<OrgKeyRow>>;

    // ---- users and tokens ----

    /// User by username.
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRow>>;
    /// User by id.
    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRow>>;
    /// Users of an organisation, by username.
    async fn users_of_org(&self, org: OrgId) -> StoreResult<Vec<UserRow>>;
    /// A token by the SHA-256 of its secret.
    async fn token_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<TokenRow>>;
    /// A token by the SHA-256 of its secret with its user and organisation, in one
    /// statement (the API's authentication on every request); `None` when no token has
    /// that hash.
    async fn token_auth(&self, hash: &[u8; 32]) -> StoreResult<Option<TokenAuthRow>>;
    /// A token by id.
    async fn token_by_id(&self, id: TokenId) -> StoreResult<Option<TokenRow>>;

    // ---- referrals ----

    /// One page of a box, as [`ListQuery`] says; metadata only.
    async fn list_referrals(&self, q: &ListQuery) -> StoreResult<Vec<ReferralRow>>;
    /// A referral (with its sealed content).
    async fn referral(&self, id: ReferralId) -> StoreResult<Option<ReferralRow>>;
    /// Every referral of a case, oldest first.
    async fn referrals_of_case(&self, case: CaseId) -> StoreResult<Vec<ReferralRow>>;
    /// A case.
    async fn case(&self, id: CaseId) -> StoreResult<Option<CaseRow>>;
    /// The state history of a referral, oldest first.
    async fn referral_events(&self, id: ReferralId) -> StoreResult<Vec<ReferralEventRow>>;

    // ---- keystore (apart from the main database) ----

    /// Stores wraps of referral keys, committed on their own.
    async fn put_key_wraps(&self, wraps: &[KeyWrapRow]) -> StoreResult<()>;
    /// The wrap of a referral key for one organisation.
    async fn key_wrap(&self, referral: ReferralId, org: OrgId) -> StoreResult<Option<KeyWrapRow>>;
    /// Deletes every wrap of a referral key (shredding); returns how many were deleted.
    async fn delete_key_wraps(&self, referral: ReferralId) -> StoreResult<u64>;

    // ---- audit log ----

    /// The current signed head, `None` while the log is empty.
    async fn audit_head(&self) -> StoreResult<Option<AuditHeadRow>>;
    /// Leaves with `seq >= from`, ascending, at most `limit`.
    async fn audit_leaves(&self, from: u64, limit: u32) -> StoreResult<Vec<AuditLeafRow>>;
    /// The same leaves as [`Store::audit_leaves`], packed into one value by the database:
    /// what whole-log verification reads (no row and no allocations per leaf).
    async fn audit_leaf_batch(&self, from: u64, limit: u32) -> StoreResult<AuditLeafBatch>;
    /// Leaves matching a filter, ascending by seq, after the cursor.
    async fn audit_search(&self, f: &AuditFilter) -> StoreResult<Vec<AuditLeafRow>>;
}

/// A write transaction. Dropped without [`StoreTx::commit`], it rolls back.
///
/// Rule for callers: do every write first and call [`StoreTx::append_audit`] last, then
/// commit. The append takes the audit head lock; holding it while waiting for another row
/// lock could deadlock.
#[async_trait]
pub trait StoreTx: ShredTx + ContentTx + WorkflowTx + KeyringTx + IdentityTx + Send {
    /// Inserts an organisation.
    async fn insert_org(&mut self, org: &OrgRow) -> StoreResult<()>;
    /// Inserts an organisation identity version.
    async fn insert_org_key(&mut self, key: &OrgKeyRow) -> StoreResult<()>;
    /// Inserts a user.
    async fn insert_user(&mut self, user: &UserRow) -> StoreResult<()>;
    /// Inserts an API token (its hash).
    async fn insert_token(&mut self, token: &TokenRow) -> StoreResult<()>;
    /// Marks a token revoked; false when no such unrevoked token.
    async fn revoke_token(&mut self, id: TokenId, at: OffsetDateTime) -> StoreResult<bool>;
    /// Inserts a case.
    async fn insert_case(&mut self, case: &CaseRow) -> StoreResult<()>;
    /// Inserts a referral, and the first event of its history (its `status` at
    /// `created_at`, by `created_by`).
    async fn insert_referral(&mut self, r: &ReferralRow) -> StoreResult<()>;
    /// Changes a referral's state if it is still `expected` (compare-and-set); records the
    /// event. Returns false, changing nothing, when the state was not `expected`.
    async fn transition(
        &mut self,
        id: ReferralId,
        expected: ReferralStatus,
        event: &ReferralEventRow,
    ) -> StoreResult<bool>;
    /// Appends one audit leaf (its canonical bytes and index columns) under the head lock:
    /// computes the new Merkle head, has `signer` sign it, stores leaf and head. Returns
    /// the new head. Must be the last write of the transaction.
    async fn append_audit(
        &mut self,
        leaf: &NewAuditLeaf,
        signer: &dyn HeadSigner,
    ) -> StoreResult<AuditHeadRow>;
    /// Commits.
    async fn commit(self: Box<Self>) -> StoreResult<()>;
}
