//! Authentication: API bearer tokens (32 random bytes, stored as SHA-256) turned into a
//! [`Principal`], the only way into the use cases.

use passerelle_domain::audit::{Action, Outcome, Targets};
use passerelle_domain::enums::{OrgKind, Role};
use passerelle_domain::ids::{OrgId, OrgSlug, TokenId, UserId, Username};
use passerelle_domain::policy::Actor;
use sha2::{Digest, Sha256};

use crate::journal::Entry;
use crate::{Core, CoreError, CoreResult, RequestCtx};

/// Prefix of every API token, so that leaked tokens are recognisable by scanners.
pub(crate) const TOKEN_PREFIX: &str = "psl_";

/// An authenticated user. Fields are private: a `Principal` only comes from
/// [`Core::authenticate_token`] (or the web session layer through core), never from a
/// handler's own hands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub(crate) user_id: UserId,
    pub(crate) username: Username,
    pub(crate) org_id: OrgId,
    pub(crate) org_slug: OrgSlug,
    pub(crate) org_kind: OrgKind,
    pub(crate) role: Role,
    pub(crate) health_professional: bool,
}

impl Principal {
    /// The user's id.
    pub fn user_id(&self) -> UserId {
        self.user_id
    }
    /// The username.
    pub fn username(&self) -> &Username {
        &self.username
    }
    /// The organisation's slug.
    pub fn org_slug(&self) -> &OrgSlug {
        &self.org_slug
    }
    /// The organisation's kind.
    pub fn org_kind(&self) -> OrgKind {
        self.org_kind
    }
    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }
    /// Recorded as a health professional (226-14 3°).
    pub fn health_professional(&self) -> bool {
        self.health_professional
    }
    pub(crate) fn actor(&self) -> Actor {
        Actor {
            role: self.role,
            org: self.org_id,
        }
    }
}

/// SHA-256 of a token's secret text, as stored.
pub(crate) fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Core {
    /// Checks a bearer token: known, not expired, not revoked, its user enabled. Every
    /// failure answers the same `Unauthenticated` and leaves an `auth.failed` leaf.
    pub async fn authenticate_token(&self, token: &str, ctx: &RequestCtx) -> CoreResult<Principal> {
        match self.principal_for_token(token).await? {
            Some(p) => Ok(p),
            None => {
                let entry = Entry::system(Action::AuthFailed, Targets::default())
                    .outcome(Outcome::Denied("bad-token".into()));
                self.journal_only(entry, ctx).await?;
                Err(CoreError::Unauthenticated)
            }
        }
    }

    /// Records a request refused for want of an identity: an anonymous `auth.failed` leaf
    /// with `reason` (`no-credential`: an API request with neither token nor client
    /// certificate, `401`; `bad-session`: a page request with a session cookie that is
    /// unknown, ended or expired, sent to the login page). A flood of them is bounded by the
    /// per-address limit on failed authentications (`ratelimit.rs`), which answers `429`
    /// before the request reaches this; the leaf itself holds no content.
    pub async fn record_unauthenticated(
        &self,
        reason: &'static str,
        ctx: &RequestCtx,
    ) -> CoreResult<()> {
        let entry = Entry::system(Action::AuthFailed, Targets::default())
            .outcome(Outcome::Denied(reason.into()));
        self.journal_only(entry, ctx).await
    }

    /// One statement reads the token, its user and the organisation; every check is made
    /// on every request (nothing cached, so a revocation or a disabling holds from the next
    /// request on every instance).
    async fn principal_for_token(&self, token: &str) -> CoreResult<Option<Principal>> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
            return Ok(None);
        }
        let Some(row) = self.store().token_auth(&token_hash(token)).await? else {
            return Ok(None);
        };
        if row.revoked_at.is_some() || row.expires_at <= self.now() || row.disabled {
            return Ok(None);
        }
        let Some((org_slug, org_kind)) = row.org else {
            return Err(CoreError::Internal("user without organisation".into()));
        };
        Ok(Some(Principal {
            user_id: row.user_id,
            username: row.username,
            org_id: row.org_id,
            org_slug,
            org_kind,
            role: row.role,
            health_professional: row.health_professional,
        }))
    }

    pub(crate) async fn principal_for_user(&self, user: UserId) -> CoreResult<Option<Principal>> {
        let Some(user) = self.store().user_by_id(user).await? else {
            return Ok(None);
        };
        if user.disabled {
            return Ok(None);
        }
        let Some(org) = self.store().org_by_id(user.org_id).await? else {
            return Err(CoreError::Internal("user without organisation".into()));
        };
        Ok(Some(Principal {
            user_id: user.id,
            username: user.username,
            org_id: org.id,
            org_slug: org.slug,
            org_kind: org.kind,
            role: user.role,
            health_professional: user.health_professional,
        }))
    }

    /// Revokes a token by id; effective from the next request on every instance (tokens
    /// are checked against the database on every request).
    pub async fn revoke_token(&self, id: TokenId, ctx: &RequestCtx) -> CoreResult<()> {
        self.revoke_token_by(None, id, ctx).await
    }

    /// [`Core::revoke_token`], its leaf naming `by` (an admin) or the system.
    pub(crate) async fn revoke_token_by(
        &self,
        by: Option<&Principal>,
        id: TokenId,
        ctx: &RequestCtx,
    ) -> CoreResult<()> {
        let mut tx = self.store().begin().await?;
        if !tx.revoke_token(id, self.now()).await? {
            return Err(CoreError::NotFound);
        }
        let targets = Targets {
            token: Some(id),
            ..Targets::default()
        };
        let entry = match by {
            Some(p) => Entry::by(p, Action::TokenRevoked, targets),
            None => Entry::system(Action::TokenRevoked, targets),
        };
        self.commit_with(tx, entry, ctx).await
    }
}
