//! Administration use cases run by the `passerelle` command (the operator): organisations
//! with their key pair, users, API tokens. Each leaves its audit leaf.

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::Duration;
use uuid::Uuid;
use zeroize::Zeroizing;

use passerelle_domain::audit::{Action, Targets};
use passerelle_domain::enums::{OrgKind, Role};
use passerelle_domain::ids::*;
use passerelle_store::{OrgKeyRow, OrgRow, TokenRow, UserRow};

use crate::auth::{Principal, TOKEN_PREFIX, token_hash};
use crate::journal::Entry;
use crate::referrals::micros;
use crate::{Core, CoreError, CoreResult, RequestCtx};

/// Default lifetime of an API token.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::hours(24);
/// Longest lifetime of an API token.
pub const MAX_TOKEN_TTL: Duration = Duration::days(90);

/// argon2id with the parameters of DESIGN.md §5: m = 19 MiB, t = 2, p = 1.
pub fn password_hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string.
pub fn hash_password(password: &str) -> CoreResult<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| CoreError::Internal(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| CoreError::Internal(e.to_string()))?;
    password_hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CoreError::Internal(e.to_string()))
}

/// A user to add.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Username.
    pub username: Username,
    /// Organisation.
    pub org: OrgSlug,
    /// Role.
    pub role: Role,
    /// Physician, midwife, nurse…
    pub health_professional: bool,
    /// A password given on standard input, when any.
    pub password: Option<Zeroizing<String>>,
}

/// A token just issued: its id and the secret, shown once.
#[derive(Clone)]
pub struct TokenIssued {
    /// Public id (for revocation).
    pub id: TokenId,
    /// The secret token, to give to the program; never stored.
    pub token: Zeroizing<String>,
    /// Expiry.
    pub expires_at: time::OffsetDateTime,
}

impl std::fmt::Debug for TokenIssued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssued")
            .field("id", &self.id)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl Core {
    /// Adds an organisation and its first identity (wrapped under the current master key).
    pub async fn add_org(
        &self,
        slug: OrgSlug,
        name: &str,
        kind: OrgKind,
        ctx: &RequestCtx,
    ) -> CoreResult<OrgRow> {
        self.add_org_by(None, slug, name, kind, ctx).await
    }

    /// [`Core::add_org`], its leaf naming `by` (an admin) or the system.
    pub(crate) async fn add_org_by(
        &self,
        by: Option<&Principal>,
        slug: OrgSlug,
        name: &str,
        kind: OrgKind,
        ctx: &RequestCtx,
    ) -> CoreResult<OrgRow> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(CoreError::BadRequest(
                "the name must have 1 to 200 characters",
            ));
        }
        let now = micros(self.now());
        let org = OrgRow {
            id: OrgId(Uuid::new_v4()),
            slug,
            name: name.to_owned(),
            kind,
            created_at: now,
        };
        let key = self.vault().new_org_identity(org.id, 1)?;
        let mut tx = self.store().begin().await?;
        tx.insert_org(&org).await?;
        tx.insert_org_key(&OrgKeyRow {
            org_id: org.id,
            version: 1,
            recipient: key.recipient,
            wrapped_identity: key.wrapped_identity,
            kek_version: key.kek_version,
            created_at: now,
            retired_at: None,
        })
        .await?;
        let targets = Targets {
            org: Some(org.id),
            ..Targets::default()
        };
        let entry = match by {
            Some(p) => Entry::by(p, Action::OrgAdded, targets),
            None => Entry::system(Action::OrgAdded, targets),
        };
        self.commit_with(tx, entry, ctx).await?;
        Ok(org)
    }

    /// Adds a user to an organisation.
    pub async fn add_user(&self, new: NewUser, ctx: &RequestCtx) -> CoreResult<UserRow> {
        self.add_user_by(None, new, ctx).await
    }

    /// [`Core::add_user`], its leaf naming `by` (an admin or a coordinator) or the system.
    pub(crate) async fn add_user_by(
        &self,
        by: Option<&Principal>,
        new: NewUser,
        ctx: &RequestCtx,
    ) -> CoreResult<UserRow> {
        let Some(org) = self.store().org_by_slug(new.org.as_str()).await? else {
            return Err(CoreError::NotFound);
        };
        let password_hash = match &new.password {
            None => None,
            Some(pw) => {
                if pw.chars().count() < 12 {
                    return Err(CoreError::BadRequest(
                        "the password must have at least 12 characters",
                    ));
                }
                if pw.len() > crate::MAX_PASSWORD_BYTES {
                    return Err(CoreError::BadRequest(
                        "the password must have at most 1024 bytes",
                    ));
                }
                let pw = pw.clone();
                Some(crate::identity::bounded_hashing(move || hash_password(&pw)).await??)
            }
        };
        let user = UserRow {
            id: UserId(Uuid::new_v4()),
            username: new.username,
            org_id: org.id,
            role: new.role,
            health_professional: new.health_professional,
            password_hash,
            totp_secret: None,
            disabled: false,
            created_at: micros(self.now()),
        };
        let mut tx = self.store().begin().await?;
        tx.insert_user(&user).await?;
        let targets = Targets {
            user: Some(user.id),
            org: Some(org.id),
            ..Targets::default()
        };
        let entry = match by {
            Some(p) => Entry::by(p, Action::UserAdded, targets),
            None => Entry::system(Action::UserAdded, targets),
        };
        self.commit_with(tx, entry, ctx).await?;
        Ok(user)
    }

    /// Issues an API token for a user: 32 random bytes, shown once, stored as SHA-256.
    pub async fn issue_token(
        &self,
        username: &str,
        ttl: Option<Duration>,
        ctx: &RequestCtx,
    ) -> CoreResult<TokenIssued> {
        self.issue_token_by(None, username, ttl, ctx).await
    }

    /// [`Core::issue_token`], its leaf naming `by` (an admin) or the system.
    pub(crate) async fn issue_token_by(
        &self,
        by: Option<&Principal>,
        username: &str,
        ttl: Option<Duration>,
        ctx: &RequestCtx,
    ) -> CoreResult<TokenIssued> {
        let ttl = ttl.unwrap_or(DEFAULT_TOKEN_TTL);
        if ttl <= Duration::ZERO || ttl > MAX_TOKEN_TTL {
            return Err(CoreError::BadRequest("a token lives at most 90 days"));
        }
        let Some(user) = self.store().user_by_username(username).await? else {
            return Err(CoreError::NotFound);
        };
        if user.disabled {
            return Err(CoreError::Conflict("the user is disabled"));
        }
        let mut secret = Zeroizing::new([0u8; 32]);
        getrandom::fill(secret.as_mut()).map_err(|e| CoreError::Internal(e.to_string()))?;
        let token = Zeroizing::new(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(*secret)));
        let now = micros(self.now());
        let row = TokenRow {
            id: TokenId(Uuid::new_v4()),
            user_id: user.id,
            hash: token_hash(&token),
            created_at: now,
            expires_at: now + ttl,
            revoked_at: None,
        };
        let mut tx = self.store().begin().await?;
        tx.insert_token(&row).await?;
        let targets = Targets {
            token: Some(row.id),
            user: Some(user.id),
            ..Targets::default()
        };
        let entry = match by {
            Some(p) => Entry::by(p, Action::TokenIssued, targets),
            None => Entry::system(Action::TokenIssued, targets),
        };
        self.commit_with(tx, entry, ctx).await?;
        Ok(TokenIssued {
            id: row.id,
            token,
            expires_at: row.expires_at,
        })
    }

    /// Every organisation.
    pub async fn orgs(&self) -> CoreResult<Vec<OrgRow>> {
        Ok(self.store().list_orgs().await?)
    }
}
