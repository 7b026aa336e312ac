//! The errors of the use cases, one per answer of the contract's check order
//! (401, 403, 404, 410, 409, 422, 400, 413, 503, 500). None carries victim data.

use passerelle_domain::rules::RuleViolation;
use passerelle_store::StoreError;
use passerelle_vault::VaultError;

/// Why a use case did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// No or bad credentials (401).
    #[error("authentication required")]
    Unauthenticated,
    /// The role may never do this, or a party on the wrong side (403).
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// Missing, or the caller's organisation is not party to it (404).
    #[error("not found")]
    NotFound,
    /// The content was destroyed (410).
    #[error("content destroyed")]
    Gone,
    /// The referral was archived by the retention policy (410 on the usual routes; its
    /// parties read it through the archive read, with a stated reason).
    #[error("archived")]
    Archived,
    /// The state does not allow this action (409).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// Not allowed by the consent or the law (422).
    #[error("rule: {0:?}")]
    Rule(RuleViolation),
    /// Well-formed but refers to something unusable (422, code given).
    #[error("unprocessable: {code}")]
    Unprocessable {
        /// Problem type suffix.
        code: &'static str,
        /// English detail, no victim data.
        detail: &'static str,
    },
    /// Malformed request (400).
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The body or attachment is larger than allowed; nothing was kept (413).
    #[error("too large")]
    TooLarge,
    /// Stored data failed its integrity check (a ciphertext moved, swapped, altered or
    /// forged, or its audit record missing); nothing was returned, an alert was logged
    /// (500).
    #[error("integrity check failed: {0}")]
    Tamper(&'static str),
    /// The database or the audit log cannot take the action now; nothing was done (503).
    #[error("unavailable")]
    Unavailable,
    /// Anything else (500); the detail goes to the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(msg) => {
                tracing::error!(error = %msg, "database unavailable");
                CoreError::Unavailable
            }
            StoreError::Conflict(what) => CoreError::Conflict(what),
            other => CoreError::Internal(other.to_string()),
        }
    }
}

impl From<VaultError> for CoreError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::Tamper(why) => CoreError::Tamper(why),
            other => CoreError::Internal(format!("vault: {other}")),
        }
    }
}

impl From<RuleViolation> for CoreError {
    fn from(v: RuleViolation) -> Self {
        CoreError::Rule(v)
    }
}
