//! Accounts: one-time enrolment links (set a password, enrol TOTP), resets by an operator,
//! an admin or a coordinator (only ever by issuing a new link), disabling (never deleting),
//! and the list of a user's API tokens.
//!
//! Secrets: an enrolment link is 32 random bytes shown once and stored as SHA-256; the TOTP
//! seed (20 random bytes, SHA-1, 6 digits, 30 s, as every authenticator app expects) is
//! sealed to the user's organisation identity before it reaches storage
//! (`passerelle_vault::seal_totp_secret`); passwords are hashed with argon2id, the hashing
//! bounded by [`HASHING_PERMITS`] concurrent computations per process.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use tokio::sync::Semaphore;
use uuid::Uuid;
use zeroize::Zeroizing;

use passerelle_domain::audit::{Action, Outcome, Targets};
use passerelle_domain::enums::Role;
use passerelle_domain::ids::{TokenId, Username};
use passerelle_domain::policy::{self, Route};
use passerelle_store::{EnrolmentRow, UserRow};

use crate::auth::Principal;
use crate::journal::Entry;
use crate::referrals::micros;
use crate::{Core, CoreError, CoreResult, RequestCtx};

/// How long an enrolment link works.
pub const ENROLMENT_TTL: Duration = Duration::hours(72);
/// Fewest characters of a password.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Most bytes of a password (argon2 hashes whatever it is given: bound the work).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Concurrent argon2id computations per process (each takes 19 MiB and one core).
pub const HASHING_PERMITS: usize = 2;
/// TOTP: time step, in seconds.
pub const TOTP_STEP_SECONDS: u64 = 30;
/// TOTP: digits of a code.
pub const TOTP_DIGITS: u8 = 6;
/// TOTP: steps accepted before and after the current one (clock drift).
pub const TOTP_SKEW: u16 = 1;
/// TOTP: bytes of a seed (160 bits, RFC 4226's recommendation).
pub const TOTP_SECRET_BYTES: usize = 20;

/// The argon2id computations of this process wait here.
static HASHING: Semaphore = Semaphore::const_new(HASHING_PERMITS);

/// Runs `f` (an argon2 computation) on the blocking pool once one of the
/// [`HASHING_PERMITS`] is free: a burst of logins queues instead of exhausting memory.
pub(crate) async fn bounded_hashing<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> CoreResult<T> {
    let _permit = HASHING
        .acquire()
        .await
        .map_err(|_| CoreError::Internal("hashing semaphore closed".into()))?;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CoreError::Internal(e.to_string()))
}

/// 32 random bytes, base64url without padding (43 characters): session, link and form
/// secrets.
pub fn new_secret() -> CoreResult<Zeroizing<String>> {
    random_secret()
}

/// 32 random bytes, base64url without padding (43 characters).
pub(crate) fn random_secret() -> CoreResult<Zeroizing<String>> {
    let mut raw = Zeroizing::new([0u8; 32]);
    getrandom::fill(raw.as_mut()).map_err(|e| CoreError::Internal(e.to_string()))?;
    Ok(Zeroizing::new(URL_SAFE_NO_PAD.encode(*raw)))
}

/// Whether `s` looks like [`random_secret`]'s output (checked before any lookup).
pub(crate) fn is_secret_shaped(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// SHA-256 of a secret's text, as stored.
pub(crate) fn secret_hash(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// The TOTP of a seed.
pub(crate) fn totp(seed: &[u8]) -> CoreResult<totp_rs::Totp> {
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(TOTP_DIGITS)
        .with_skew(TOTP_SKEW)
        .with_step_duration(TOTP_STEP_SECONDS)
        .with_secret(seed.to_vec())
        .build()
        .map_err(|_| CoreError::Internal("invalid TOTP seed".into()))
}

/// The time step `code` matches at `now` (within the skew), if any.
pub(crate) fn totp_step(seed: &[u8], code: &str, now: OffsetDateTime) -> CoreResult<Option<i64>> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != usize::from(TOTP_DIGITS) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let Ok(time) = u64::try_from(now.unix_timestamp()) else {
        return Ok(None);
    };
    Ok(totp(seed)?
        .check(&code, time)
        .and_then(|step| i64::try_from(step).ok()))
}

/// A one-time enrolment link just issued: the secret goes into
/// `https://<host>/enrol/<token>`, shown once.
#[derive(Clone)]
pub struct EnrolmentLink {
    /// The secret part of the link.
    pub token: Zeroizing<String>,
    /// After this, the link no longer works.
    pub expires_at: OffsetDateTime,
}

impl EnrolmentLink {
    /// The link's path, `/enrol/<token>`.
    pub fn path(&self) -> String {
        format!("/enrol/{}", self.token.as_str())
    }
}

impl std::fmt::Debug for EnrolmentLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrolmentLink")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// What the enrolment page shows: whose account, and the TOTP seed to enrol.
pub struct EnrolmentPage {
    /// The account.
    pub username: Username,
    /// Its organisation's slug.
    pub org_slug: String,
    /// The seed in base32 (what authenticator apps take by hand).
    pub secret_base32: Zeroizing<String>,
    /// The `otpauth://` URI (what the QR code holds).
    pub otpauth_uri: Zeroizing<String>,
}

impl std::fmt::Debug for EnrolmentPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrolmentPage")
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// An enrolment form as submitted.
pub struct EnrolmentForm<'a> {
    /// The new password.
    pub password: &'a str,
    /// The same, typed again.
    pub confirm: &'a str,
    /// A current code of the authenticator app.
    pub code: &'a str,
}

/// One API token as `passerelle token list` shows it: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Id (for revocation).
    pub id: TokenId,
    /// Issue time.
    pub created_at: OffsetDateTime,
    /// Expiry.
    pub expires_at: OffsetDateTime,
    /// Revocation time.
    pub revoked_at: Option<OffsetDateTime>,
}

fn unprocessable(code: &'static str, detail: &'static str) -> CoreError {
    CoreError::Unprocessable { code, detail }
}

/// The `otpauth://` URI of a seed for `username` (no e-mail: the username is the account).
fn otpauth_uri(username: &str, secret_base32: &str) -> String {
    let label: String =
        percent_encoding::utf8_percent_encode(username, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    format!(
        "otpauth://totp/Passerelle:{label}?secret={secret_base32}&issuer=Passerelle&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP_SECONDS}"
    )
}

/// Whether `p` (an admin or a coordinator) may reset, disable or invite `target`: same
/// organisation; a coordinator only referrers and receivers; never oneself.
pub(crate) fn manages(p: &Principal, target: &UserRow) -> bool {
    target.org_id == p.org_id && target.id != p.user_id && role_manageable_by(p, target.role)
}

/// Whether `p` may manage (or invite) a user of `role`: an admin any role, a coordinator
/// referrers and receivers (resetting an admin would hand the coordinator its link).
pub(crate) fn role_manageable_by(p: &Principal, role: Role) -> bool {
    match p.role {
        Role::Admin => true,
        Role::Coordinator => matches!(role, Role::Referrer | Role::Receiver),
        _ => false,
    }
}

impl Core {
    pub(crate) async fn user_named(&self, username: &str) -> CoreResult<UserRow> {
        if Username::parse(username).is_err() {
            return Err(CoreError::NotFound);
        }
        self.store()
            .user_by_username(username)
            .await?
            .ok_or(CoreError::NotFound)
    }

    /// Checks that `p` may manage `target`: an admin or a coordinator of the same
    /// organisation (`403` for other roles, `404` for another organisation, as if the user
    /// did not exist). A coordinator manages only referrers and receivers (resetting an
    /// admin would hand the coordinator the admin's enrolment link); nobody manages their
    /// own account this way.
    async fn may_manage(
        &self,
        p: &Principal,
        username: &str,
        action: Action,
        ctx: &RequestCtx,
    ) -> CoreResult<UserRow> {
        if policy::authorize(Route::ManageUsers, &p.actor(), &[]).is_err() {
            let entry =
                Entry::by(p, action, Targets::default()).outcome(Outcome::Denied("role".into()));
            self.journal_only(entry, ctx).await?;
            return Err(CoreError::Forbidden("role"));
        }
        let target = match self.user_named(username).await {
            Ok(u) if u.org_id == p.org_id => u,
            Ok(_) | Err(CoreError::NotFound) => {
                let entry = Entry::by(p, action, Targets::default())
                    .outcome(Outcome::Denied("not-found".into()));
                self.journal_only(entry, ctx).await?;
                return Err(CoreError::NotFound);
            }
            Err(e) => return Err(e),
        };
        if !manages(p, &target) {
            let entry = Entry::by(
                p,
                action,
                Targets {
                    user: Some(target.id),
                    ..Targets::default()
                },
            )
            .outcome(Outcome::Denied("role".into()));
            self.journal_only(entry, ctx).await?;
            return Err(CoreError::Forbidden("role"));
        }
        Ok(target)
    }

    /// Issues a new one-time enrolment link for `username` (operator: `passerelle user add`
    /// and `passerelle user reset`): clears the password and the TOTP seed, ends every web
    /// session, voids earlier links. API tokens are left alone (disable the user to stop
    /// them).
    pub async fn reset_user(&self, username: &str, ctx: &RequestCtx) -> CoreResult<EnrolmentLink> {
        let user = self.user_named(username).await?;
        self.issue_enrolment(None, &user, ctx).await
    }

    /// Like [`Core::reset_user`], by an admin or a coordinator of the user's organisation.
    pub async fn reset_user_as(
        &self,
        p: &Principal,
        username: &str,
        ctx: &RequestCtx,
    ) -> CoreResult<EnrolmentLink> {
        let user = self
            .may_manage(p, username, Action::EnrolmentIssued, ctx)
            .await?;
        self.issue_enrolment(Some(p), &user, ctx).await
    }

    pub(crate) async fn issue_enrolment(
        &self,
        by: Option<&Principal>,
        user: &UserRow,
        ctx: &RequestCtx,
    ) -> CoreResult<EnrolmentLink> {
        if user.disabled {
            return Err(CoreError::Conflict("the user is disabled"));
        }
        let token = random_secret()?;
        let now = micros(self.now());
        let row = EnrolmentRow {
            id: Uuid::new_v4(),
            user_id: user.id,
            hash: secret_hash(&token),
            created_at: now,
            expires_at: now + ENROLMENT_TTL,
            used_at: None,
            pending_totp: None,
        };
        let mut tx = self.store().begin().await?;
        tx.set_credentials(user.id, None, None).await?;
        tx.end_sessions_of(user.id, now).await?;
        tx.void_enrolments(user.id, now).await?;
        tx.insert_enrolment(&row).await?;
        let targets = Targets {
            user: Some(user.id),
            ..Targets::default()
        };
        let entry = match by {
            Some(p) => Entry::by(p, Action::EnrolmentIssued, targets),
            None => Entry::system(Action::EnrolmentIssued, targets),
        };
        self.commit_with(tx, entry, ctx).await?;
        Ok(EnrolmentLink {
            token,
            expires_at: row.expires_at,
        })
    }

    /// Disables `username` (operator): never deleted; every web session ends, every API
    /// token is revoked, every enrolment link voided, all in one transaction with the
    /// `user.disabled` leaf. Disabling a disabled user changes nothing (`Ok(false)`).
    pub async fn disable_user(&self, username: &str, ctx: &RequestCtx) -> CoreResult<bool> {
        let user = self.user_named(username).await?;
        self.disable(None, &user, ctx).await
    }

    /// Like [`Core::disable_user`], by an admin or a coordinator of the user's organisation.
    pub async fn disable_user_as(
        &self,
        p: &Principal,
        username: &str,
        ctx: &RequestCtx,
    ) -> CoreResult<bool> {
        let user = self
            .may_manage(p, username, Action::UserDisabled, ctx)
            .await?;
        self.disable(Some(p), &user, ctx).await
    }

    async fn disable(
        &self,
        by: Option<&Principal>,
        user: &UserRow,
        ctx: &RequestCtx,
    ) -> CoreResult<bool> {
        let now = micros(self.now());
        let mut tx = self.store().begin().await?;
        if !tx.disable_user(user.id).await? {
            return Ok(false);
        }
        tx.end_sessions_of(user.id, now).await?;
        tx.revoke_tokens_of(user.id, now).await?;
        tx.void_enrolments(user.id, now).await?;
        let targets = Targets {
            user: Some(user.id),
            ..Targets::default()
        };
        let entry = match by {
            Some(p) => Entry::by(p, Action::UserDisabled, targets),
            None => Entry::system(Action::UserDisabled, targets),
        };
        self.commit_with(tx, entry, ctx).await?;
        Ok(true)
    }

    /// Every API token of `username`, newest first (operator: `passerelle token list`).
    pub async fn tokens_of(&self, username: &str) -> CoreResult<Vec<TokenInfo>> {
        let user = self.user_named(username).await?;
        Ok(self
            .store()
            .tokens_of_user(user.id)
            .await?
            .into_iter()
            .map(|t| TokenInfo {
                id: t.id,
                created_at: t.created_at,
                expires_at: t.expires_at,
                revoked_at: t.revoked_at,
            })
            .collect())
    }

    /// A usable enrolment link and its user; `NotFound` for an unknown, used, voided or
    /// expired link, or a disabled user (all alike).
    async fn live_enrolment(&self, token: &str) -> CoreResult<(EnrolmentRow, UserRow)> {
        if !is_secret_shaped(token) {
            return Err(CoreError::NotFound);
        }
        let Some(link) = self.store().enrolment_by_hash(&secret_hash(token)).await? else {
            return Err(CoreError::NotFound);
        };
        if link.used_at.is_some() || link.expires_at <= self.now() {
            return Err(CoreError::NotFound);
        }
        match self.store().user_by_id(link.user_id).await? {
            Some(user) if !user.disabled => Ok((link, user)),
            _ => Err(CoreError::NotFound),
        }
    }

    /// Seals a fresh TOTP seed for `user` to their organisation's current identity.
    fn seal_seed(
        &self,
        user: &UserRow,
        key: &passerelle_store::OrgKeyRow,
    ) -> CoreResult<(Zeroizing<Vec<u8>>, Vec<u8>)> {
        let mut seed = Zeroizing::new(vec![0u8; TOTP_SECRET_BYTES]);
        getrandom::fill(seed.as_mut_slice()).map_err(|e| CoreError::Internal(e.to_string()))?;
        let sealed =
            passerelle_vault::seal_totp_secret(&key.recipient, key.version, user.id, &seed)?;
        Ok((seed, sealed))
    }

    /// Opens a sealed TOTP seed of `user`.
    pub(crate) async fn open_seed(
        &self,
        user: &UserRow,
        sealed: &[u8],
    ) -> CoreResult<Zeroizing<Vec<u8>>> {
        let version = passerelle_vault::sealed_secret_key_version(sealed)
            .ok_or_else(|| CoreError::Internal("sealed TOTP seed too short".into()))?;
        let key = self
            .store()
            .org_key(user.org_id, version)
            .await?
            .ok_or_else(|| CoreError::Internal("organisation key version missing".into()))?;
        let identity = self.vault().org_identity(
            user.org_id,
            key.version,
            &key.wrapped_identity,
            &key.kek_version,
        )?;
        Ok(passerelle_vault::open_totp_secret(
            &identity, user.id, sealed,
        )?)
    }

    /// The enrolment page of a link: the TOTP seed to enrol, created and sealed on the first
    /// visit and the same on every later visit until the link is used.
    pub async fn enrolment(&self, token: &str) -> CoreResult<EnrolmentPage> {
        let (link, user) = self.live_enrolment(token).await?;
        let seed = match &link.pending_totp {
            Some(sealed) => self.open_seed(&user, sealed).await?,
            None => {
                let key = self
                    .store()
                    .current_org_key(user.org_id)
                    .await?
                    .ok_or_else(|| CoreError::Internal("organisation has no key".into()))?;
                let (seed, sealed) = self.seal_seed(&user, &key)?;
                let mut tx = self.store().begin().await?;
                if !tx.set_enrolment_totp(link.id, &sealed).await? {
                    return Err(CoreError::NotFound);
                }
                tx.commit().await?;
                seed
            }
        };
        let org = self
            .store()
            .org_by_id(user.org_id)
            .await?
            .ok_or_else(|| CoreError::Internal("user without organisation".into()))?;
        let secret_base32 = Zeroizing::new(totp(&seed)?.secret().to_base32());
        let otpauth_uri = Zeroizing::new(otpauth_uri(user.username.as_str(), &secret_base32));
        Ok(EnrolmentPage {
            username: user.username,
            org_slug: org.slug.as_str().to_owned(),
            secret_base32,
            otpauth_uri,
        })
    }

    /// Completes an enrolment: checks the password (at least [`MIN_PASSWORD_CHARS`]
    /// characters, typed twice alike) and a current code of the seed shown, then in one
    /// transaction uses the link, stores the password hash and the sealed seed, marks the
    /// code's time step used (it cannot log in afterwards), ends any older session, and
    /// appends `user.enrolled`.
    ///
    /// Refusals: `NotFound` (link unusable), `Unprocessable` with code
    /// `password-too-short`, `password-too-long`, `passwords-differ` or `bad-code`.
    pub async fn complete_enrolment(
        &self,
        token: &str,
        form: EnrolmentForm<'_>,
        ctx: &RequestCtx,
    ) -> CoreResult<Username> {
        let (link, user) = self.live_enrolment(token).await?;
        if form.password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(unprocessable(
                "password-too-short",
                "The password must have at least 12 characters.",
            ));
        }
        if form.password.len() > MAX_PASSWORD_BYTES {
            return Err(unprocessable(
                "password-too-long",
                "The password must have at most 1024 bytes.",
            ));
        }
        if form.password != form.confirm {
            return Err(unprocessable(
                "passwords-differ",
                "The two passwords differ.",
            ));
        }
        let Some(sealed) = link.pending_totp.clone() else {
            return Err(unprocessable("bad-code", "The code is not valid."));
        };
        let seed = self.open_seed(&user, &sealed).await?;
        let Some(step) = totp_step(&seed, form.code, self.now())? else {
            return Err(unprocessable("bad-code", "The code is not valid."));
        };
        let password = Zeroizing::new(form.password.to_owned());
        let hash = bounded_hashing(move || crate::hash_password(&password)).await??;
        let now = micros(self.now());
        let mut tx = self.store().begin().await?;
        if !tx.use_enrolment(link.id, now).await? {
            return Err(CoreError::NotFound);
        }
        tx.set_credentials(user.id, Some(&hash), Some(&sealed))
            .await?;
        if !tx.claim_totp_step(user.id, step).await? {
            return Err(unprocessable("bad-code", "The code is not valid."));
        }
        tx.clear_login_failures(user.id).await?;
        tx.end_sessions_of(user.id, now).await?;
        let entry = Entry::system(
            Action::UserEnrolled,
            Targets {
                user: Some(user.id),
                ..Targets::default()
            },
        );
        self.commit_with(tx, entry, ctx).await?;
        Ok(user.username)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_32_random_bytes_in_base64url() {
        let a = random_secret().unwrap();
        let b = random_secret().unwrap();
        assert_ne!(a.as_str(), b.as_str());
        assert!(is_secret_shaped(&a));
        assert_eq!(URL_SAFE_NO_PAD.decode(a.as_bytes()).unwrap().len(), 32);
        assert!(!is_secret_shaped("short"));
        assert!(!is_secret_shaped(&format!("{}!", &a[..42])));
    }

    #[test]
    fn totp_codes_match_their_step_within_the_skew_only() {
        let seed = [7u8; TOTP_SECRET_BYTES];
        let t = OffsetDateTime::from_unix_timestamp(1_800_000_015).unwrap();
        let step = 1_800_000_015 / 30;
        let code = totp(&seed).unwrap().generate(1_800_000_015).to_string();
        assert_eq!(totp_step(&seed, &code, t).unwrap(), Some(step));
        // One step of drift either way is accepted, and reports the code's own step.
        let later = t + Duration::seconds(30);
        assert_eq!(totp_step(&seed, &code, later).unwrap(), Some(step));
        let much_later = t + Duration::seconds(90);
        assert_eq!(totp_step(&seed, &code, much_later).unwrap(), None);
        // Another seed's code, garbage, wrong length.
        let other = totp(&[8u8; TOTP_SECRET_BYTES])
            .unwrap()
            .generate(1_800_000_015)
            .to_string();
        if other != code {
            assert_eq!(totp_step(&seed, &other, t).unwrap(), None);
        }
        assert_eq!(totp_step(&seed, "12345", t).unwrap(), None);
        assert_eq!(totp_step(&seed, "abcdef", t).unwrap(), None);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(totp_step(&seed, &spaced, t).unwrap(), Some(step));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn hashing_runs_at_most_two_at_a_time() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        assert_eq!(HASHING_PERMITS, 2);
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (now, peak) = (Arc::clone(&now), Arc::clone(&peak));
                tokio::spawn(bounded_hashing(move || {
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    let h = crate::hash_password("a burst of logins at 2 a.m.");
                    now.fetch_sub(1, Ordering::SeqCst);
                    h.is_ok()
                }))
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().unwrap());
        }
        assert_eq!(peak.load(Ordering::SeqCst), HASHING_PERMITS);
    }

    #[test]
    fn otpauth_uri_names_the_account_and_parameters() {
        let uri = otpauth_uri("psy.bernard", "ABCDEF");
        assert_eq!(
            uri,
            "otpauth://totp/Passerelle:psy%2Ebernard?secret=ABCDEF&issuer=Passerelle&algorithm=SHA1&digits=6&period=30"
        );
    }
}
