//! The use cases of the admin and coordinator pages, each checked against the caller's
//! role (policy [`Route::Administer`] for admins, [`Route::ManageUsers`] for the users of
//! an organisation): organisations, users and invitations, API tokens, key status. They
//! wrap the operator's use cases ([`Core::add_org`], [`Core::add_user`],
//! [`Core::issue_token`], [`Core::revoke_token`], [`Core::key_status`]) so that the rules
//! stay in one place, and their audit leaves name the admin or coordinator who acted.
//! Nothing here returns content or a stored secret: a new token and an enrolment link are
//! returned once, to be shown once.

use time::{Duration, OffsetDateTime};

use passerelle_domain::audit::{Action, Outcome, Targets};
use passerelle_domain::enums::{OrgKind, Role};
use passerelle_domain::ids::{OrgSlug, TokenId, Username};
use passerelle_domain::policy::{self, Route};
use passerelle_store::OrgRow;

use crate::admin::{NewUser, TokenIssued};
use crate::auth::Principal;
use crate::identity::{EnrolmentLink, TokenInfo, manages, role_manageable_by};
use crate::journal::Entry;
use crate::rotation::KeyStatus;
use crate::{Core, CoreError, CoreResult, RequestCtx};

/// A user as the admin and coordinator pages list them: never a password, seed or token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// Username.
    pub username: Username,
    /// Organisation slug.
    pub org: String,
    /// Role.
    pub role: Role,
    /// A physician, midwife, nurse… (226-14 3°).
    pub health_professional: bool,
    /// Whether the account has a password and a TOTP seed (enrolment done).
    pub enrolled: bool,
    /// Disabled accounts cannot log in.
    pub disabled: bool,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Whether the caller may reset, disable it ([`Core::reset_user_as`],
    /// [`Core::disable_user_as`] would allow it).
    pub manageable: bool,
}

/// An invitation: a new user without credentials, and their one-time enrolment link.
#[derive(Debug, Clone)]
pub struct Invitation {
    /// The new account.
    pub username: Username,
    /// The link to hand over (shown once).
    pub link: EnrolmentLink,
}

impl Core {
    /// Refuses every role but admins (`403`), leaving an `access.denied` leaf.
    async fn admin_only(&self, p: &Principal, ctx: &RequestCtx) -> CoreResult<()> {
        self.require_route(p, Route::Administer, Action::AccessDenied, ctx)
            .await
    }

    /// Refuses `route` to a role that may never use it (`403`), before anything is read,
    /// leaving a leaf of `action` with reason `role`: every denial is recorded (DESIGN.md
    /// §4), a page's as well as an API route's.
    pub async fn require_route(
        &self,
        p: &Principal,
        route: Route,
        action: Action,
        ctx: &RequestCtx,
    ) -> CoreResult<()> {
        if policy::authorize(route, &p.actor(), &[]).is_ok() {
            return Ok(());
        }
        let entry =
            Entry::by(p, action, Targets::default()).outcome(Outcome::Denied("role".into()));
        self.journal_only(entry, ctx).await?;
        Err(CoreError::Forbidden("role"))
    }

    /// Refuses a page to `p` for a reason the policy of routes does not express (the
    /// 226-14 3° report of a user who is not a health professional): `403`, with a
    /// `referral.denied` leaf of reason `role`.
    pub async fn refuse_page(&self, p: &Principal, ctx: &RequestCtx) -> CoreError {
        let entry = Entry::by(p, Action::ReferralDenied, Targets::default())
            .outcome(Outcome::Denied("role".into()));
        match self.journal_only(entry, ctx).await {
            Ok(_) => CoreError::Forbidden("role"),
            Err(e) => e,
        }
    }

    /// Every organisation (admins only).
    pub async fn orgs_as(&self, p: &Principal, ctx: &RequestCtx) -> CoreResult<Vec<OrgRow>> {
        self.admin_only(p, ctx).await?;
        self.orgs().await
    }

    /// Adds an organisation and its first identity (admins only): `400` for a bad slug,
    /// kind or name, `409` for a slug already taken.
    pub async fn add_org_as(
        &self,
        p: &Principal,
        slug: &str,
        name: &str,
        kind: &str,
        ctx: &RequestCtx,
    ) -> CoreResult<OrgRow> {
        self.admin_only(p, ctx).await?;
        let slug = OrgSlug::parse(slug.trim())
            .map_err(|_| CoreError::BadRequest("the slug is not a valid organisation slug"))?;
        let kind = kind
            .parse::<OrgKind>()
            .map_err(|_| CoreError::BadRequest("unknown organisation kind"))?;
        if self.store().org_by_slug(slug.as_str()).await?.is_some() {
            return Err(CoreError::Conflict("the slug is taken"));
        }
        self.add_org_by(Some(p), slug, name, kind, ctx).await
    }

    /// The users an admin (every organisation) or a coordinator (their own) sees, by
    /// organisation then username; `403` for other roles.
    pub async fn users_as(&self, p: &Principal, ctx: &RequestCtx) -> CoreResult<Vec<UserInfo>> {
        self.require_route(p, Route::ManageUsers, Action::AccessDenied, ctx)
            .await?;
        let orgs = if p.role == Role::Admin {
            self.orgs().await?
        } else {
            self.store()
                .org_by_id(p.org_id)
                .await?
                .into_iter()
                .collect()
        };
        let mut out = Vec::new();
        for org in orgs {
            let mut users = self.store().users_of_org(org.id).await?;
            users.sort_by(|a, b| a.username.as_str().cmp(b.username.as_str()));
            for u in users {
                out.push(UserInfo {
                    manageable: manages(p, &u),
                    username: u.username,
                    org: org.slug.as_str().to_owned(),
                    role: u.role,
                    health_professional: u.health_professional,
                    enrolled: u.password_hash.is_some() && u.totp_secret.is_some(),
                    disabled: u.disabled,
                    created_at: u.created_at,
                });
            }
        }
        Ok(out)
    }

    /// Adds a user without credentials and issues their one-time enrolment link: an admin
    /// in any organisation with any role, a coordinator in their own organisation as a
    /// referrer or a receiver (`403` otherwise: `role` for a role that manages nobody,
    /// `role-not-grantable`, `other-organisation`); `404` for an unknown organisation,
    /// `409` for a username taken, `400` for a malformed username or role. Two leaves: `user.added` and `enrolment.issued`, by `p`.
    pub async fn invite_user_as(
        &self,
        p: &Principal,
        username: &str,
        org: &str,
        role: &str,
        health_professional: bool,
        ctx: &RequestCtx,
    ) -> CoreResult<Invitation> {
        self.require_route(p, Route::ManageUsers, Action::AccessDenied, ctx)
            .await?;
        let username = Username::parse(username.trim())
            .map_err(|_| CoreError::BadRequest("the username is not valid"))?;
        let org = OrgSlug::parse(org.trim()).map_err(|_| CoreError::NotFound)?;
        let role = role
            .parse::<Role>()
            .map_err(|_| CoreError::BadRequest("unknown role"))?;
        if !role_manageable_by(p, role) {
            return Err(CoreError::Forbidden("role-not-grantable"));
        }
        if p.role != Role::Admin && org != p.org_slug {
            return Err(CoreError::Forbidden("other-organisation"));
        }
        if self.store().org_by_slug(org.as_str()).await?.is_none() {
            return Err(CoreError::NotFound);
        }
        if self
            .store()
            .user_by_username(username.as_str())
            .await?
            .is_some()
        {
            return Err(CoreError::Conflict("the username is taken"));
        }
        let user = self
            .add_user_by(
                Some(p),
                NewUser {
                    username: username.clone(),
                    org,
                    role,
                    health_professional,
                    password: None,
                },
                ctx,
            )
            .await?;
        let link = self.issue_enrolment(Some(p), &user, ctx).await?;
        Ok(Invitation { username, link })
    }

    /// The API tokens of `username`, newest first (admins only; `404` for nobody).
    pub async fn tokens_as(
        &self,
        p: &Principal,
        username: &str,
        ctx: &RequestCtx,
    ) -> CoreResult<Vec<TokenInfo>> {
        self.admin_only(p, ctx).await?;
        self.tokens_of(username).await
    }

    /// Issues an API token for `username` (admins only), `ttl_days` days (1..=90).
    pub async fn issue_token_as(
        &self,
        p: &Principal,
        username: &str,
        ttl_days: i64,
        ctx: &RequestCtx,
    ) -> CoreResult<TokenIssued> {
        self.admin_only(p, ctx).await?;
        self.user_named(username).await?;
        self.issue_token_by(Some(p), username, Some(Duration::days(ttl_days)), ctx)
            .await
    }

    /// Revokes the token `id` (admins only; `404` for an unknown or malformed id, or a
    /// token already revoked).
    pub async fn revoke_token_as(
        &self,
        p: &Principal,
        id: &str,
        ctx: &RequestCtx,
    ) -> CoreResult<()> {
        self.admin_only(p, ctx).await?;
        let id = id
            .trim()
            .parse::<uuid::Uuid>()
            .map_err(|_| CoreError::NotFound)?;
        self.revoke_token_by(Some(p), TokenId(id), ctx).await
    }

    /// Where every key stands (admins only): versions and counts, never a key.
    pub async fn key_status_as(&self, p: &Principal, ctx: &RequestCtx) -> CoreResult<KeyStatus> {
        self.admin_only(p, ctx).await?;
        self.key_status().await
    }
}
