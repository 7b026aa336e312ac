//! Rate limits (governor, GCRA, in memory per instance), on every route:
//!
//! - per client address: generous, for a whole police station behind one address;
//! - per credential (the bearer token or the session cookie, keyed by a digest, never the
//!   secret itself): generous for a person or a program;
//! - per client address on the login and enrolment forms: strict;
//! - per client address on failed authentication (a `401`, or a page refusing a stale or
//!   forged session cookie): strict; once exceeded, the address is refused every request
//!   until the bucket refills, before any credential is checked, so a stream of bad
//!   tokens costs neither database reads nor audit appends.
//!
//! Every refusal is `429` problem+json with `Retry-After` (whole seconds, at least 1).
//! Account lockout after failed logins is not here but in the database (shared by every
//! instance, kept across restarts): see `passerelle_core::MAX_FAILED_LOGINS`.
//!
//! The client address is [`crate::client_addr::ClientAddr`] (behind `--behind-proxy`, the
//! address `X-Forwarded-For` names when a trusted proxy sent it), else `ConnectInfo<SocketAddr>`
//! (the binary serves with `into_make_service_with_connect_info`); without either (in-process tests) every request
//! counts as one unspecified address. Old keys are forgotten by a task calling
//! `retain_recent()` every minute.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use sha2::{Digest, Sha256};

use crate::problem::Problem;
use crate::session::{AuthFailure, SESSION_COOKIE, cookie};

/// The quotas. [`Limits::default`] is what the service runs with.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Off entirely (tests that measure something else).
    pub enabled: bool,
    /// Every request, per client address.
    pub per_address: Quota,
    /// Every request carrying a credential, per credential.
    pub per_credential: Quota,
    /// `POST /login` and the enrolment forms, per client address.
    pub login_per_address: Quota,
    /// Failed authentications, per client address.
    pub failures_per_address: Quota,
}

const fn nz(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => NonZeroU32::MIN,
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            enabled: true,
            // 50 requests a second sustained, bursts of 1,000: a busy shared address.
            per_address: Quota::per_second(nz(50)).allow_burst(nz(1000)),
            // 20 a second sustained, bursts of 300: a person paging fast, a polling program.
            per_credential: Quota::per_second(nz(20)).allow_burst(nz(300)),
            // 30 login or enrolment forms a minute, bursts of 30: a shift change at one site.
            login_per_address: Quota::per_minute(nz(30)).allow_burst(nz(30)),
            // 30 failed authentications a minute, bursts of 30.
            failures_per_address: Quota::per_minute(nz(30)).allow_burst(nz(30)),
        }
    }
}

impl Limits {
    /// No limit at all.
    pub fn disabled() -> Limits {
        Limits {
            enabled: false,
            ..Limits::default()
        }
    }
}

type Keyed<K> = DefaultKeyedRateLimiter<K>;

/// The limiters of one instance.
pub struct Limiter {
    limits: Limits,
    per_address: Keyed<IpAddr>,
    per_credential: Keyed<[u8; 16]>,
    login: Keyed<IpAddr>,
    failures: Keyed<IpAddr>,
    blocked: Mutex<HashMap<IpAddr, Instant>>,
}

impl Limiter {
    /// Limiters with these quotas; starts the task forgetting old keys when a Tokio runtime
    /// runs (it ends when the limiter is dropped).
    pub fn new(limits: Limits) -> Arc<Limiter> {
        let limiter = Arc::new(Limiter {
            limits,
            per_address: Keyed::keyed(limits.per_address),
            per_credential: Keyed::keyed(limits.per_credential),
            login: Keyed::keyed(limits.login_per_address),
            failures: Keyed::keyed(limits.failures_per_address),
            blocked: Mutex::new(HashMap::new()),
        });
        if limits.enabled
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            let weak = Arc::downgrade(&limiter);
            handle.spawn(forget_old_keys(weak));
        }
        limiter
    }

    fn blocked(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Instant>> {
        self.blocked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets keys whose buckets are full again, and expired blocks.
    pub fn retain_recent(&self) {
        self.per_address.retain_recent();
        self.per_credential.retain_recent();
        self.login.retain_recent();
        self.failures.retain_recent();
        let now = Instant::now();
        self.blocked().retain(|_, until| *until > now);
    }
}

async fn forget_old_keys(limiter: Weak<Limiter>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(l) = limiter.upgrade() else { return };
        l.retain_recent();
    }
}

fn too_many(wait: Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut p = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate-limited",
        "Too many requests",
        "Too many requests from this address or with this credential; wait before trying again.",
    );
    p.retry_after = Some(secs.max(1));
    p.into_response()
}

fn check<K: std::hash::Hash + Eq + Clone>(l: &Keyed<K>, key: &K) -> Result<(), Duration> {
    l.check_key(key)
        .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
}

/// A digest of the request's credential, if any (the secret never becomes a map key).
fn credential_key(req: &Request) -> Option<[u8; 16]> {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let secret = bearer.or_else(|| cookie(req.headers(), SESSION_COOKIE))?;
    let d = Sha256::digest(secret.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&d[..16]);
    Some(key)
}

/// The key of a client address: an IPv4 address, or the /64 network of an IPv6 one (one
/// subscriber usually holds a whole /64; counting each address apart would let one client
/// rotate through billions of keys).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

fn is_login_form(req: &Request) -> bool {
    req.method() == Method::POST
        && (req.uri().path() == "/login" || req.uri().path().starts_with("/enrol/"))
}

/// The middleware.
pub async fn limit(State(limiter): State<Arc<Limiter>>, req: Request, next: Next) -> Response {
    if !limiter.limits.enabled {
        return next.run(req).await;
    }
    // The resolved client address (behind trusted proxies, the forwarded one), else the peer.
    let addr = req
        .extensions()
        .get::<crate::client_addr::ClientAddr>()
        .map(|c| client_key(c.0))
        .or_else(|| {
            req.extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| client_key(c.0.ip()))
        })
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let now = Instant::now();
    if let Some(until) = limiter.blocked().get(&addr).copied()
        && until > now
    {
        return too_many(until - now);
    }
    if let Err(wait) = check(&limiter.per_address, &addr) {
        return too_many(wait);
    }
    if let Some(key) = credential_key(&req)
        && let Err(wait) = check(&limiter.per_credential, &key)
    {
        return too_many(wait);
    }
    if is_login_form(&req)
        && let Err(wait) = check(&limiter.login, &addr)
    {
        return too_many(wait);
    }
    let res = next.run(req).await;
    let failed =
        res.status() == StatusCode::UNAUTHORIZED || res.extensions().get::<AuthFailure>().is_some();
    if failed && let Err(wait) = check(&limiter.failures, &addr) {
        limiter.blocked().insert(addr, Instant::now() + wait);
        return too_many(wait);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(client_key(v4), v4);
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), v4);
    }

    #[test]
    fn service_quotas_are_generous_for_use_and_strict_for_failures() {
        let l = Limits::default();
        assert!(l.enabled);
        assert_eq!(l.per_address.burst_size().get(), 1000);
        assert_eq!(l.per_credential.burst_size().get(), 300);
        assert_eq!(l.login_per_address.burst_size().get(), 30);
        assert_eq!(l.failures_per_address.burst_size().get(), 30);
        assert_eq!(
            l.failures_per_address.replenish_interval(),
            Duration::from_secs(2)
        );
    }
}
