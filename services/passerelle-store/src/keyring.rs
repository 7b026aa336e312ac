//! The key rotation port: compare-and-set re-wraps of organisation identities (master key
//! rotation) and of referral key wraps (an organisation's new identity), retirement and
//! destruction of old organisation identity versions, and the counts `keys status` shows.
//!
//! Every write is a compare-and-set on the version it replaces, so a rotation interrupted
//! at any point (even `kill -9`) is resumed by running it again, and two rotators never
//! overwrite each other's work.

use async_trait::async_trait;
use passerelle_domain::ids::{OrgId, ReferralId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{KeyWrapRow, StoreResult};

/// Where a user secret sealed to an organisation identity is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretHolder {
    /// `users.totp_secret` of the user (`id` is the user's).
    User,
    /// `enrolments.pending_totp` of an unused enrolment link (`id` is the link's).
    Enrolment,
}

/// A user secret (TOTP seed) sealed to an organisation identity version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedUserSecret {
    /// Which column holds it.
    pub holder: SecretHolder,
    /// The row's id (user or enrolment link).
    pub id: Uuid,
    /// The user it belongs to.
    pub user: UserId,
    /// The sealed bytes (the identity version first, see the vault's `user_secret`).
    pub sealed: Vec<u8>,
}

/// Keystore reads and compare-and-set writes of the rotation.
#[async_trait]
pub trait KeyringStore: Send + Sync {
    /// Wraps for `org` made to an identity version below `below`, ordered by referral id,
    /// after `after`, at most `limit`.
    async fn key_wraps_below(
        &self,
        org: OrgId,
        below: i32,
        after: Option<ReferralId>,
        limit: u32,
    ) -> StoreResult<Vec<KeyWrapRow>>;

    /// Replaces the wrap of `(wrap.referral_id, wrap.org_id)` with `wrap` if it is still
    /// made to identity version `from_version` (compare-and-set); false otherwise.
    async fn replace_key_wrap(&self, from_version: i32, wrap: &KeyWrapRow) -> StoreResult<bool>;

    /// How many wraps each (organisation, identity version) has.
    async fn key_wrap_counts(&self) -> StoreResult<Vec<(OrgId, i32, u64)>>;

    /// Every user secret sealed to one of `org`'s identities: its users' TOTP seeds and
    /// the pending seeds of their unused enrolment links.
    async fn sealed_user_secrets(&self, org: OrgId) -> StoreResult<Vec<SealedUserSecret>>;
}

/// Main-database writes of the rotation, in the transaction of their `key.rotated` leaf.
#[async_trait]
pub trait KeyringTx: Send {
    /// Replaces an organisation identity's wrap (master key rotation) if it is still
    /// wrapped to `from_kek` (compare-and-set); false otherwise.
    async fn rewrap_org_key(
        &mut self,
        org: OrgId,
        version: i32,
        from_kek: &str,
        wrapped_identity: &[u8],
        to_kek: &str,
    ) -> StoreResult<bool>;

    /// Marks every identity version of `org` below `below` retired (no new wraps are made
    /// to them) at `at`; returns how many were not retired yet.
    async fn retire_org_keys(
        &mut self,
        org: OrgId,
        below: i32,
        at: OffsetDateTime,
    ) -> StoreResult<u64>;

    /// Destroys the retired identity versions of `org` below `below`: their wrapped
    /// identity is emptied (nothing can unwrap them again); returns how many.
    async fn destroy_retired_org_keys(&mut self, org: OrgId, below: i32) -> StoreResult<u64>;

    /// Replaces a sealed user secret if it is still `old` (compare-and-set); false
    /// otherwise (changed meanwhile, or the link used).
    async fn reseal_user_secret(
        &mut self,
        holder: SecretHolder,
        id: Uuid,
        old: &[u8],
        new: &[u8],
    ) -> StoreResult<bool>;

    /// Whether every `(organisation, identity version)` is still usable for new wraps
    /// (exists, not retired), checked under a lock that orders it with
    /// [`KeyringTx::retire_org_keys`]: a filing that wrapped its key to a version retired
    /// meanwhile must not commit.
    async fn org_keys_usable(&mut self, keys: &[(OrgId, i32)]) -> StoreResult<bool>;
}
