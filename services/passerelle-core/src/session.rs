//! Web sessions: login with username, password and a TOTP code (mandatory), the session
//! cookie's secret, its idle and absolute lifetimes, its CSRF token, logout.
//!
//! - A login that fails for any reason answers the same [`CoreError::Unauthenticated`]; the
//!   reason goes only into the `login.failed` leaf (never the typed username of an unknown
//!   account: it may be a password typed in the wrong field).
//! - Failed logins are counted per account in the database (shared by every instance, kept
//!   across restarts): [`MAX_FAILED_LOGINS`] in a row lock the account for [`LOCKOUT`].
//! - A TOTP time step is accepted once per account (`claim_totp_step`): a code seen over a
//!   shoulder or replayed from a log does not open a second session.
//! - The session secret (32 random bytes) lives only in the cookie; the database keeps its
//!   SHA-256. The CSRF token is derived from the secret (`SHA-256("passerelle-csrf-v1" ‖
//!   secret)`): one per session, unforgeable without the cookie, nothing more to store.

use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use zeroize::Zeroizing;

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use passerelle_domain::audit::{Action, Outcome, Targets};
use passerelle_domain::ids::Username;
use passerelle_store::{SessionRow, UserRow};

use crate::auth::Principal;
use crate::identity::{
    MAX_PASSWORD_BYTES, bounded_hashing, is_secret_shaped, random_secret, secret_hash, totp_step,
};
use crate::journal::Entry;
use crate::referrals::micros;
use crate::{Core, CoreError, CoreResult, RequestCtx};

/// A session ends after this long without a request.
pub const SESSION_IDLE: Duration = Duration::minutes(15);
/// A session ends this long after login, whatever happens.
pub const SESSION_ABSOLUTE: Duration = Duration::hours(12);
/// Activity is written at most this often (the idle timeout is exact to this much).
pub const SESSION_TOUCH_EVERY: Duration = Duration::seconds(30);
/// Failed logins in a row that lock an account.
pub const MAX_FAILED_LOGINS: u32 = 5;
/// How long a locked account refuses logins.
pub const LOCKOUT: Duration = Duration::minutes(15);

/// A session just opened: the cookie's secret (shown once, to the browser) and its CSRF
/// token.
pub struct NewSession {
    /// The cookie's value.
    pub secret: Zeroizing<String>,
    /// The CSRF token of the session's forms.
    pub csrf: String,
    /// Absolute end.
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("secret", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A live session, as a request sees it.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who.
    pub principal: Principal,
    /// The CSRF token every form of the session carries.
    pub csrf: String,
    /// Absolute end.
    pub expires_at: OffsetDateTime,
}

/// A login form as submitted.
pub struct Credentials<'a> {
    /// Username.
    pub username: &'a str,
    /// Password.
    pub password: &'a str,
    /// Current TOTP code.
    pub code: &'a str,
}

/// The CSRF token of a session secret.
pub fn csrf_token(secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"passerelle-csrf-v1\0");
    h.update(secret.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// Whether `given` is the CSRF token of `secret` (compared as digests, so the time taken
/// says nothing about how much of it matched).
pub fn csrf_matches(secret: &str, given: &str) -> bool {
    let expected = Sha256::digest(csrf_token(secret).as_bytes());
    let given = Sha256::digest(given.as_bytes());
    expected == given
}

/// A PHC hash of nothing anyone knows, verified for unknown accounts so that they take as
/// long to refuse as known ones.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        crate::hash_password("decoy password nobody has").unwrap_or_else(|_| {
            "$argon2id$v=19$m=19456,t=2,p=1$ZGVjb3lzYWx0ZGVjb3k$pyRdSBp6JFhqc+Ly3Ryb4jXytFc1d5z5Dv6l3mkO6fQ".into()
        })
    })
}

/// Verifies `password` against a PHC string with the parameters it names.
fn verify(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => crate::password_hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Why a login failed (the leaf's outcome code; the client never sees it).
#[derive(Debug, Clone, Copy)]
enum Failure {
    UnknownOrDisabled,
    NotEnrolled,
    Locked,
    BadPassword,
    BadCode,
    ReplayedCode,
}

impl Failure {
    fn code(self) -> &'static str {
        match self {
            Failure::UnknownOrDisabled => "unknown-or-disabled",
            Failure::NotEnrolled => "not-enrolled",
            Failure::Locked => "locked",
            Failure::BadPassword => "bad-password",
            Failure::BadCode => "bad-totp",
            Failure::ReplayedCode => "replayed-totp",
        }
    }
}

impl Core {
    /// Logs in with a password and a TOTP code; opens a session. Every refusal is the same
    /// `Unauthenticated` and leaves a `login.failed` leaf.
    pub async fn login(&self, c: Credentials<'_>, ctx: &RequestCtx) -> CoreResult<NewSession> {
        let password = Zeroizing::new(c.password.to_owned());
        let user = match Username::parse(c.username) {
            Ok(_) => self.store().user_by_username(c.username).await?,
            Err(_) => None,
        };
        let user = match user {
            Some(u) if !u.disabled => u,
            _ => {
                self.decoy_verify(password).await?;
                return self.refuse(None, Failure::UnknownOrDisabled, ctx).await;
            }
        };
        let (Some(phc), Some(sealed)) = (user.password_hash.clone(), user.totp_secret.clone())
        else {
            self.decoy_verify(password).await?;
            return self.refuse(Some(&user), Failure::NotEnrolled, ctx).await;
        };
        let state = self.store().auth_state(user.id).await?;
        if state.locked_until.is_some_and(|t| t > self.now()) {
            return self.refuse(Some(&user), Failure::Locked, ctx).await;
        }
        let ok = password.len() <= MAX_PASSWORD_BYTES
            && bounded_hashing(move || verify(&phc, &password)).await?;
        if !ok {
            return self.refuse(Some(&user), Failure::BadPassword, ctx).await;
        }
        let seed = self.open_seed(&user, &sealed).await?;
        let Some(step) = totp_step(&seed, c.code, self.now())? else {
            return self.refuse(Some(&user), Failure::BadCode, ctx).await;
        };
        let Some(principal) = self.principal_for_user(user.id).await? else {
            return self
                .refuse(Some(&user), Failure::UnknownOrDisabled, ctx)
                .await;
        };

        let secret = random_secret()?;
        let now = micros(self.now());
        let row = SessionRow {
            id: Uuid::new_v4(),
            user_id: user.id,
            hash: secret_hash(&secret),
            created_at: now,
            last_seen_at: now,
            expires_at: now + SESSION_ABSOLUTE,
            ended_at: None,
        };
        let mut tx = self.store().begin().await?;
        if !tx.claim_totp_step(user.id, step).await? {
            drop(tx);
            return self.refuse(Some(&user), Failure::ReplayedCode, ctx).await;
        }
        tx.clear_login_failures(user.id).await?;
        tx.insert_session(&row).await?;
        let entry = Entry::by(
            &principal,
            Action::LoginOk,
            Targets {
                user: Some(user.id),
                ..Targets::default()
            },
        );
        self.commit_with(tx, entry, ctx).await?;
        Ok(NewSession {
            csrf: csrf_token(&secret),
            secret,
            expires_at: row.expires_at,
        })
    }

    async fn decoy_verify(&self, password: Zeroizing<String>) -> CoreResult<()> {
        if password.len() <= MAX_PASSWORD_BYTES {
            bounded_hashing(move || verify(decoy_hash(), &password)).await?;
        }
        Ok(())
    }

    /// Records a failed login (counting it against a known account, locking it at the
    /// limit) and answers `Unauthenticated`.
    async fn refuse<T>(
        &self,
        user: Option<&UserRow>,
        why: Failure,
        ctx: &RequestCtx,
    ) -> CoreResult<T> {
        let mut tx = self.store().begin().await?;
        let mut outcome = why.code();
        if let Some(u) = user
            && matches!(
                why,
                Failure::BadPassword | Failure::BadCode | Failure::ReplayedCode
            )
        {
            let failures = tx.bump_login_failures(u.id).await?;
            if failures >= MAX_FAILED_LOGINS {
                tx.lock_account(u.id, micros(self.now()) + LOCKOUT).await?;
                tracing::warn!(user = %u.id, failures, "account locked after failed logins");
                outcome = match why {
                    Failure::BadPassword => "bad-password-locked",
                    Failure::BadCode => "bad-totp-locked",
                    _ => "replayed-totp-locked",
                };
            }
        }
        let entry = Entry::system(
            Action::LoginFailed,
            Targets {
                user: user.map(|u| u.id),
                ..Targets::default()
            },
        )
        .outcome(Outcome::Denied(outcome.into()));
        self.commit_with(tx, entry, ctx).await?;
        Err(CoreError::Unauthenticated)
    }

    /// The live session of a cookie's secret: known, not ended, not past its absolute end,
    /// used within [`SESSION_IDLE`], its user enabled. Anything else is `Unauthenticated`.
    pub async fn authenticate_session(&self, secret: &str) -> CoreResult<Session> {
        if !is_secret_shaped(secret) {
            return Err(CoreError::Unauthenticated);
        }
        let Some(row) = self.store().session_by_hash(&secret_hash(secret)).await? else {
            return Err(CoreError::Unauthenticated);
        };
        let now = self.now();
        if row.ended_at.is_some() || now >= row.expires_at || now - row.last_seen_at >= SESSION_IDLE
        {
            return Err(CoreError::Unauthenticated);
        }
        let Some(principal) = self.principal_for_user(row.user_id).await? else {
            return Err(CoreError::Unauthenticated);
        };
        if now - row.last_seen_at >= SESSION_TOUCH_EVERY {
            let mut tx = self.store().begin().await?;
            if !tx.touch_session(row.id, micros(now)).await? {
                return Err(CoreError::Unauthenticated);
            }
            tx.commit().await?;
        }
        Ok(Session {
            principal,
            csrf: csrf_token(secret),
            expires_at: row.expires_at,
        })
    }

    /// Ends the session of a cookie's secret, server-side, with a `logout` leaf. An unknown
    /// or already ended session changes nothing.
    pub async fn logout(&self, secret: &str, ctx: &RequestCtx) -> CoreResult<()> {
        if !is_secret_shaped(secret) {
            return Ok(());
        }
        let Some(row) = self.store().session_by_hash(&secret_hash(secret)).await? else {
            return Ok(());
        };
        let mut tx = self.store().begin().await?;
        if !tx.end_session(row.id, micros(self.now())).await? {
            return Ok(());
        }
        let targets = Targets {
            user: Some(row.user_id),
            ..Targets::default()
        };
        let entry = match self.principal_for_user(row.user_id).await? {
            Some(p) => Entry::by(&p, Action::Logout, targets),
            None => Entry::system(Action::Logout, targets),
        };
        self.commit_with(tx, entry, ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_and_lockout_are_those_of_the_design() {
        assert_eq!(SESSION_IDLE, Duration::minutes(15));
        assert_eq!(SESSION_ABSOLUTE, Duration::hours(12));
        assert!(SESSION_TOUCH_EVERY < Duration::minutes(1));
        assert_eq!(MAX_FAILED_LOGINS, 5);
        assert_eq!(LOCKOUT, Duration::minutes(15));
    }

    #[test]
    fn csrf_tokens_are_per_secret_and_checked() {
        let a = random_secret().unwrap();
        let b = random_secret().unwrap();
        let t = csrf_token(&a);
        assert!(csrf_matches(&a, &t));
        assert!(!csrf_matches(&b, &t));
        assert!(!csrf_matches(&a, ""));
        assert_ne!(t, a.as_str(), "the token is not the secret");
        assert_ne!(
            URL_SAFE_NO_PAD.decode(&t).unwrap(),
            secret_hash(&a).to_vec(),
            "nor the stored hash"
        );
    }

    #[test]
    fn decoy_and_real_hashes_verify_with_the_design_parameters() {
        let phc = crate::hash_password("correct horse battery staple").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify(&phc, "correct horse battery staple"));
        assert!(!verify(&phc, "correct horse battery stapl"));
        assert!(!verify(decoy_hash(), ""));
        assert!(!verify("not a phc string", "x"));
    }
}
