//! Use cases of Passerelle: filing, listing, opening and moving referrals; organisations,
//! users and tokens. Every use case takes an authenticated [`Principal`], asks the domain
//! policy, touches storage and the vault, and appends its audit leaf in the same
//! transaction, last, before anything is returned (fail closed).
//!
//! Architecture invariant: handlers reach referrals only through [`Core`]; a [`Principal`]
//! can only be built here, from validated credentials.

mod admin;
mod attachments;
pub mod audit;
mod auth;
mod clock;
mod console;
mod error;
mod fault;
mod forward;
mod identity;
mod integrity;
mod journal;
mod maintenance;
mod messages;
mod notify;
mod ops;
mod referrals;
mod retention;
mod rotation;
mod session;
mod shred;
mod stats;
mod tasks;
mod view;
mod withdrawal;

pub use admin::{
    DEFAULT_TOKEN_TTL, MAX_TOKEN_TTL, NewUser, TokenIssued, hash_password, password_hasher,
};
pub use attachments::{
    AttachmentDownload, AttachmentInfo, AttachmentUpload, CHUNK_BYTES, DEFAULT_MAX_ATTACHMENT_BYTES,
};
pub use audit::{AccessReport, AuditLog, AuditPage, AuditQuery, VerifierKey, VerifyAnswer};
pub use auth::Principal;
pub use clock::{Clock, FixedClock, SystemClock};
pub use console::{Invitation, UserInfo};
pub use error::CoreError;
pub use forward::DeclineOutcome;
pub use identity::{
    ENROLMENT_TTL, EnrolmentForm, EnrolmentLink, EnrolmentPage, HASHING_PERMITS,
    MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS, TOTP_DIGITS, TOTP_SECRET_BYTES, TOTP_SKEW,
    TOTP_STEP_SECONDS, TokenInfo, new_secret,
};
pub use maintenance::{LogCheck, SampleCheck};
pub use messages::{MessageList, MessageView, NewMessage};
pub use notify::{MAIL_BODY, MAIL_MAX_ATTEMPTS, MAIL_SUBJECT, valid_email};
pub use notify::{MailJob, NotificationItem, NotificationPage, NotificationParams};
pub use ops::Gauges;
pub use referrals::{CloseRequest, DeclineRequest, ListParams, Page};
pub use retention::{ArchiveReadRequest, ContactRecorded, RetentionPolicy, RetentionReport};
pub use rotation::{KeyStatus, MasterRotation, OrgKeyState, OrgRotation};
pub use session::{
    Credentials, LOCKOUT, MAX_FAILED_LOGINS, NewSession, SESSION_ABSOLUTE, SESSION_IDLE,
    SESSION_TOUCH_EVERY, Session, csrf_matches, csrf_token,
};
pub use shred::{ShredReason, ShredReport};
pub use stats::{DelayStats, OrgStats, SideStats};
pub use tasks::{CloseTaskRequest, TaskView};
pub use view::{HistoryItem, ReferralView};
pub use withdrawal::{WithdrawRequest, Withdrawal, WithdrawnReferral};

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use passerelle_store::Store;
use passerelle_vault::Vault;

/// How long `/readyz` waits for the database to answer before reporting it unavailable.
pub const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Result of a use case.
pub type CoreResult<T> = Result<T, CoreError>;

/// Per-request context carried into audit leaves.
#[derive(Debug, Clone, Default)]
pub struct RequestCtx {
    /// The HTTP request id, when any.
    pub request_id: Option<String>,
}

/// The application: storage, keys, clock and where checkpoints are kept.
#[derive(Clone)]
pub struct Core {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    vault: Arc<Vault>,
    clock: Arc<dyn Clock>,
    checkpoint_dir: PathBuf,
    /// Woken when notifications were queued (the e-mail sender waits on it).
    outbox: Arc<tokio::sync::Notify>,
    max_attachment_bytes: AtomicU64,
}

impl Core {
    /// Wires a core. `checkpoint_dir` receives every signed checkpoint (append-only file).
    pub fn new(
        store: Arc<dyn Store>,
        vault: Arc<Vault>,
        clock: Arc<dyn Clock>,
        checkpoint_dir: PathBuf,
    ) -> Core {
        Core {
            inner: Arc::new(Inner {
                store,
                vault,
                clock,
                checkpoint_dir,
                outbox: Arc::new(tokio::sync::Notify::new()),
                max_attachment_bytes: AtomicU64::new(DEFAULT_MAX_ATTACHMENT_BYTES),
            }),
        }
    }

    fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    fn vault(&self) -> &Vault {
        &self.inner.vault
    }

    /// Now, by the service's clock (pages show states and times by it).
    pub fn now(&self) -> time::OffsetDateTime {
        self.inner.clock.now()
    }

    /// Whether the database answers (`/readyz`), within [`READY_TIMEOUT`]: during an outage
    /// the pool keeps retrying to connect until its acquire timeout, and a probe must not
    /// hang that long.
    pub async fn ready(&self) -> bool {
        matches!(
            tokio::time::timeout(READY_TIMEOUT, self.store().ping()).await,
            Ok(Ok(()))
        )
    }

    /// The storage backend's name, for logs.
    pub fn backend(&self) -> &'static str {
        self.store().backend()
    }
}
