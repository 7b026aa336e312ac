//! Shared helpers of the vault's integration tests.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use passerelle_domain::ids::{OrgId, ReferralId};
use passerelle_vault::{Vault, init_keys};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use uuid::Uuid;

/// A fresh keys folder, initialised, and its vault.
pub fn vault() -> (tempfile::TempDir, Vault) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    init_keys(&dir).unwrap();
    let vault = Vault::load(&dir).unwrap();
    (tmp, vault)
}

pub fn referral() -> ReferralId {
    ReferralId(Uuid::new_v4())
}

pub fn org() -> OrgId {
    OrgId(Uuid::new_v4())
}

/// A minimal subscriber recording every event as `LEVEL message field=value …`.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Vec<String>>>);

struct Line<'a>(&'a mut String);

impl Visit for Line<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl Subscriber for Recorder {
    /// Never let a callsite's cached interest skip this subscriber: tests on other
    /// threads register callsites while no recorder is installed.
    fn register_callsite(&self, _: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = format!("{}", event.metadata().level());
        event.record(&mut Line(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Recorder {
    /// Runs `f` with this recorder as the thread's subscriber.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        tracing::subscriber::with_default(self.clone(), || {
            // Another test thread may have cached "never" for these callsites while no
            // recorder was installed; recompute with this one in place.
            tracing::callsite::rebuild_interest_cache();
            f()
        })
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    pub fn warnings(&self) -> Vec<String> {
        let warn = Level::WARN.to_string();
        self.lines()
            .into_iter()
            .filter(|l| l.starts_with(&warn))
            .collect()
    }
}
