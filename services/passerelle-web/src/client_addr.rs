//! The client's address, as the rest of the edge sees it (rate limits, `/metrics` access,
//! logs never include it).
//!
//! Served directly (TLS), it is the TCP peer. Behind a reverse proxy (`--behind-proxy`),
//! `X-Forwarded-For` is believed **only** when the TCP peer is one of the configured
//! trusted proxies (`PASSERELLE_TRUSTED_PROXIES`), and then only as far as the chain stays
//! within trusted proxies: the list is read from the right (the hop nearest to us) and the
//! first address that is not a trusted proxy is the client. A header sent by anyone else
//! is ignored, so a client cannot choose its own address.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

/// The resolved client address, in the request's extensions when the connection's peer is
/// known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// Whether `ip` is in one of `nets`.
pub fn in_nets(ip: IpAddr, nets: &[IpNet]) -> bool {
    let ip = canonical(ip);
    nets.iter().any(|n| n.contains(&ip))
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) compare as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Resolves the client address from the TCP peer and the `X-Forwarded-For` headers.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    if !in_nets(peer, trusted) {
        return peer;
    }
    // Every X-Forwarded-For header, in order, split on commas: the rightmost entry was
    // added by the nearest proxy.
    let mut chain: Vec<&str> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return peer;
        };
        chain.extend(text.split(',').map(str::trim).filter(|s| !s.is_empty()));
    }
    let mut current = peer;
    for entry in chain.iter().rev() {
        let Some(ip) = parse_entry(entry) else {
            // Garbage in the chain: trust nothing further left.
            return current;
        };
        let ip = canonical(ip);
        if !in_nets(ip, trusted) {
            return ip;
        }
        current = ip;
    }
    current
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or
/// `[2001:db8::1]:5678`.
fn parse_entry(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    s.parse::<SocketAddr>().ok().map(|a| a.ip())
}

/// The middleware: inserts [`ClientAddr`] when the peer is known.
pub async fn layer(trusted: Arc<Vec<IpNet>>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(peer) = peer {
        let client = resolve(peer, req.headers(), &trusted);
        req.extensions_mut().insert(ClientAddr(client));
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().expect("net")).collect()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_address() {
        let trusted = nets(&["10.0.0.0/8"]);
        let got = resolve(ip("203.0.113.9"), &xff(&["198.51.100.1"]), &trusted);
        assert_eq!(got, ip("203.0.113.9"));
        // Without any trusted proxy the header is never believed.
        assert_eq!(
            resolve(ip("127.0.0.1"), &xff(&["198.51.100.1"]), &[]),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        let trusted = nets(&["10.0.0.0/8", "127.0.0.1/32"]);
        assert_eq!(
            resolve(ip("10.1.2.3"), &xff(&["198.51.100.1"]), &trusted),
            ip("198.51.100.1")
        );
        // The client prepended a forged entry: the rightmost untrusted one wins.
        assert_eq!(
            resolve(
                ip("127.0.0.1"),
                &xff(&["6.6.6.6, 198.51.100.1", "10.0.0.2"]),
                &trusted
            ),
            ip("198.51.100.1")
        );
        // Ports and brackets as some proxies write them.
        assert_eq!(
            resolve(ip("10.1.2.3"), &xff(&["[2001:db8::7]:4711"]), &trusted),
            ip("2001:db8::7")
        );
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            resolve(ip("10.1.2.3"), &xff(&["not-an-ip"]), &trusted),
            ip("10.1.2.3")
        );
        // A chain of proxies only: the leftmost.
        assert_eq!(
            resolve(ip("10.1.2.3"), &xff(&["10.9.9.9"]), &trusted),
            ip("10.9.9.9")
        );
        // No header: the proxy itself.
        assert_eq!(
            resolve(ip("10.1.2.3"), &HeaderMap::new(), &trusted),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn mapped_addresses_compare_as_ipv4() {
        let trusted = nets(&["127.0.0.0/8"]);
        assert!(in_nets(ip("::ffff:127.0.0.1"), &trusted));
        assert!(!in_nets(ip("::1"), &trusted));
    }
}
