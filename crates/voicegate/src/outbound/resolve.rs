//! Host names of outbound destinations (`put_url` uploads, web media) to addresses,
//! asynchronously: a lookup is a task on the async runtime (hickory), never a thread of the
//! blocking pool, so a slow or silent DNS server holds no thread that password hashing or
//! synthesis need, and dropping a lookup at its deadline ends it. `localhost` names are loopback
//! without asking DNS (RFC 6761).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use tokio::time::Instant;

/// The DNS port, for nameservers given without one.
const DNS_PORT: u16 = 53;

/// Why a name gave no address.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// No resolver could be set up (no readable `/etc/resolv.conf` and no configured servers).
    #[error("no DNS resolver: {0}")]
    NoResolver(String),
    /// The lookup failed (no such name, the servers refused or failed).
    #[error("DNS lookup failed: {0}")]
    Lookup(String),
    /// The name has no A or AAAA record.
    #[error("the name has no address")]
    NoAddress,
    /// No answer before the deadline.
    #[error("no DNS answer in time")]
    TimedOut,
}

/// A nameserver entry, `ip` or `ip:port` (`[v6]:port`); without a port it is 53.
pub fn parse_nameserver(entry: &str) -> Result<SocketAddr, String> {
    let text = entry.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    bare.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, DNS_PORT))
        .map_err(|_| format!("{entry:?} is not an IP address with an optional :port"))
}

/// Whether `name` is `localhost` or a name under it, which are loopback by definition.
pub fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// The name resolver of outbound requests.
#[derive(Clone)]
pub struct Resolver {
    /// The resolver, or why there is none.
    inner: Result<TokioResolver, String>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("ready", &self.inner.is_ok())
            .finish()
    }
}

impl Resolver {
    /// A resolver asking `nameservers`, or with none the system's (`/etc/resolv.conf`, and
    /// `/etc/hosts` first). One query waits at most `timeout` (the caller's deadline bounds the
    /// whole lookup). A system configuration that cannot be read leaves a resolver that fails
    /// every lookup; addresses and `localhost` still work.
    pub fn new(nameservers: &[SocketAddr], timeout: Duration) -> Self {
        let builder = if nameservers.is_empty() {
            TokioResolver::builder_tokio()
        } else {
            let servers = nameservers
                .iter()
                .map(|server| {
                    let connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
                        .into_iter()
                        .map(|mut connection| {
                            connection.port = server.port();
                            connection
                        })
                        .collect();
                    NameServerConfig::new(server.ip(), true, connections)
                })
                .collect();
            Ok(TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(servers),
                TokioRuntimeProvider::default(),
            ))
        };
        let inner = builder
            .and_then(|mut builder| {
                let options: &mut ResolverOpts = builder.options_mut();
                options.timeout = options.timeout.min(timeout);
                // Both families, so that every address the name has is checked.
                options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
                builder.build()
            })
            .map_err(|e| e.to_string());
        if let Err(reason) = &inner {
            tracing::warn!(%reason, "no DNS resolver for outbound requests; host names will not resolve");
        }
        Self { inner }
    }

    /// The addresses of the host name `name` (each once, in the order found), by `deadline`.
    pub async fn resolve(
        &self,
        name: &str,
        deadline: Instant,
    ) -> Result<Vec<IpAddr>, ResolveError> {
        if is_localhost(name) {
            return Ok(vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ]);
        }
        let resolver = self
            .inner
            .as_ref()
            .map_err(|reason| ResolveError::NoResolver(reason.clone()))?;
        let found = tokio::time::timeout_at(deadline, resolver.lookup_ip(name))
            .await
            .map_err(|_| ResolveError::TimedOut)?
            .map_err(|e| {
                if e.is_no_records_found() {
                    ResolveError::NoAddress
                } else {
                    ResolveError::Lookup(e.to_string())
                }
            })?;
        let mut addrs: Vec<IpAddr> = Vec::new();
        for addr in found.iter() {
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
        if addrs.is_empty() {
            return Err(ResolveError::NoAddress);
        }
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameservers_are_addresses_with_an_optional_port() {
        let parsed = |s: &str| parse_nameserver(s).unwrap().to_string();
        assert_eq!(parsed("10.0.0.53"), "10.0.0.53:53");
        assert_eq!(parsed("127.0.0.1:5353"), "127.0.0.1:5353");
        assert_eq!(parsed("::1"), "[::1]:53");
        assert_eq!(parsed("[::1]"), "[::1]:53");
        assert_eq!(parsed("[fd00::53]:5300"), "[fd00::53]:5300");
        for bad in [
            "",
            "dns.lan",
            "10.0.0.53:",
            "10.0.0.53:99999",
            "udp://1.1.1.1",
        ] {
            assert!(parse_nameserver(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn localhost_names_are_loopback() {
        for name in ["localhost", "LocalHost.", "minio.localhost"] {
            assert!(is_localhost(name), "{name}");
        }
        for name in ["localhost.example", "notlocalhost", "localhostx"] {
            assert!(!is_localhost(name), "{name}");
        }
    }
}
