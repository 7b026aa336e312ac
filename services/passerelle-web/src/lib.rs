//! The HTTP edge of Passerelle: the JSON API under `/api/v1`, operations routes, problem+json
//! errors, authentication extractors, body limits and security headers.
//!
//! Architecture invariant: handlers call [`passerelle_core::Core`] only; they never reach
//! storage or keys. Every route is registered through [`Routes`], which records it, so
//! that a test keeps `proto/openapi.yaml` equal to the router.

pub mod client_addr;
pub mod extract;
mod handlers;
mod handlers_audit;
mod handlers_content;
mod handlers_identity;
mod handlers_ops;
mod handlers_workflow;
pub mod lang;
pub mod lang_admin;
pub mod lang_referral;
mod layers;
pub mod metrics;
pub mod mtls;
pub mod pages;
mod pages_admin;
mod pages_audit;
mod pages_referral;
pub mod problem;
pub mod ratelimit;
pub mod session;

use axum::Router;
use axum::http::Method;
use axum::routing::MethodRouter;
use passerelle_core::Core;

/// Largest JSON body accepted (attachments have their own limit).
pub const MAX_JSON_BYTES: usize = 1024 * 1024;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The use cases.
    pub core: Core,
}

/// Settings of the HTTP edge.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Send `Strict-Transport-Security` (served over TLS, or behind a TLS proxy).
    pub hsts: bool,
    /// Rate limits ([`ratelimit::Limits::default`] in service).
    pub limits: ratelimit::Limits,
    /// Reverse proxies whose `X-Forwarded-For` is believed (see [`client_addr`]).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Who may read `/metrics`.
    pub metrics: metrics::MetricsAccess,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            hsts: true,
            limits: ratelimit::Limits::default(),
            trusted_proxies: Vec::new(),
            metrics: metrics::MetricsAccess::default(),
        }
    }
}

/// A router that remembers every (method, path) it serves.
pub struct Routes {
    router: Router<AppState>,
    list: Vec<(Method, &'static str)>,
}

impl Routes {
    fn new() -> Self {
        Routes {
            router: Router::new(),
            list: Vec::new(),
        }
    }

    fn add(
        mut self,
        methods: &[Method],
        path: &'static str,
        handler: MethodRouter<AppState>,
    ) -> Self {
        for m in methods {
            self.list.push((m.clone(), path));
        }
        self.router = self.router.route(path, handler);
        self
    }

    /// Every (method, path) served, in registration order.
    pub fn list(&self) -> &[(Method, &'static str)] {
        &self.list
    }
}

/// Every route of the service.
pub fn routes() -> Routes {
    let r = handlers_content::register(handlers::register(Routes::new()));
    let r = handlers_workflow::register(r);
    let r = handlers_identity::register(r);
    let r = handlers_audit::register(r);
    let r = pages_audit::register(r);
    let r = pages_admin::register(r);
    let r = pages_referral::register(r);
    handlers_ops::register(r)
}

/// The whole application: routes, state and layers.
pub fn app(core: Core, config: &WebConfig) -> Router {
    let routes = routes();
    layers::wrap(routes.router, config).with_state(AppState { core })
}
