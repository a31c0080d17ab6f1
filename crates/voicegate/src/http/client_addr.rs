//! The client's address, as the rate limits count it: the peer of the connection, or behind a
//! trusted reverse proxy the address that proxy reports in `X-Forwarded-For`. Without
//! `http.trusted_proxies` the header is ignored (anyone can send it); with it, only the hops
//! the listed proxies added are believed.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

use crate::address_policy::AddressBlocks;

/// The address a request is attributed to, set on every request by the connection layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// Which peers' `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct ForwardedFor {
    proxies: AddressBlocks,
}

impl ForwardedFor {
    /// Believes the header from these proxies only (none: never).
    pub fn new(proxies: AddressBlocks) -> Self {
        Self { proxies }
    }

    /// The client of a request from `peer`: walking `X-Forwarded-For` from the right (the hop
    /// nearest to us), the first address that is not a trusted proxy. A hop that is not an
    /// address stops the walk at the last trusted one.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if self.proxies.is_empty() || !self.proxies.contains(peer) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(addr) = parse_hop(hop) else {
                return client;
            };
            client = addr.to_canonical();
            if !self.proxies.contains(client) {
                return client;
            }
        }
        client
    }
}

/// A hop of `X-Forwarded-For`: an address, or an address with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:5678`), as some proxies write it.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append("x-forwarded-for", value.parse().unwrap());
        }
        map
    }

    fn proxies(entries: &[&str]) -> ForwardedFor {
        let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        ForwardedFor::new(AddressBlocks::parse(&entries).unwrap())
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        let forged = headers(&["198.51.100.1"]);
        assert_eq!(ForwardedFor::default().client(peer, &forged), peer);
        assert_eq!(proxies(&["10.0.0.0/8"]).client(peer, &forged), peer);
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        let behind = proxies(&["10.0.0.0/8", "fd00::/8"]);
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        // The client put a forged hop first; our proxies appended the real ones.
        let chain = headers(&["1.1.1.1, 198.51.100.7", "10.0.0.3"]);
        assert_eq!(
            behind.client(proxy, &chain),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        let with_port = headers(&["[2001:db8::5]:4711"]);
        assert_eq!(
            behind.client(proxy, &with_port),
            "2001:db8::5".parse::<IpAddr>().unwrap()
        );
        assert_eq!(behind.client(proxy, &headers(&["garbage"])), proxy);
        assert_eq!(behind.client(proxy, &HeaderMap::new()), proxy);
        let mapped: IpAddr = "::ffff:10.0.0.2".parse().unwrap();
        assert_eq!(
            behind.client(mapped, &headers(&["192.0.2.4"])),
            "192.0.2.4".parse::<IpAddr>().unwrap()
        );
    }
}
