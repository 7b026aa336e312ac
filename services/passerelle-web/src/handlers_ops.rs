//! Operations routes beyond health: `/metrics` (Prometheus text, access-controlled; see
//! [`crate::metrics`]).

use axum::http::Method;
use axum::routing::get;

use crate::Routes;

/// Registers the operations routes.
pub fn register(r: Routes) -> Routes {
    r.add(&[Method::GET], "/metrics", get(crate::metrics::serve))
}
