//! Requests the server makes to a URL a client gave (`put_url` uploads, web media): the checks
//! that keep it from becoming a proxy into its own network, shared by every such feature.
//!
//! Only http and https URLs with a host are accepted ([`Destination`]). The host is resolved
//! once ([`resolve`]) and every address it resolves to must be public (see
//! [`crate::address_policy`]) unless the feature's allowlist names the host or a block holding
//! the address; its denylist refuses a host or block even when it is public or allowed
//! ([`Gate`]). The connection then goes to exactly the checked addresses (no second DNS
//! lookup), through no proxy, and follows no redirect by itself ([`Gate::client`]): a feature
//! that follows redirects checks each hop as a new destination.
//!
//! What went wrong is a [`Failure`], for the log: features answer the client one error naming
//! no address, so that the server cannot be used as an oracle for its network.

pub mod resolve;

use std::error::Error as _;
use std::net::{IpAddr, SocketAddr};

use reqwest::Url;
use reqwest::redirect::Policy;
use tokio::time::Instant;

use crate::address_policy::{AllowEntryError, Allowlist, refused_range};
use crate::outbound::resolve::{ResolveError, Resolver};

/// Why a URL is not a destination at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not an absolute URL with a host (the text says why).
    #[error("{0}")]
    BadUrl(String),
    /// A scheme other than http or https.
    #[error("scheme {0:?}")]
    Scheme(String),
}

/// A syntactically acceptable destination, not yet resolved or checked.
#[derive(Debug, Clone)]
pub struct Destination {
    /// The URL.
    pub url: Url,
    /// The URL's host (IPv6 addresses in brackets), for matching and logs.
    pub host: String,
    /// The URL's port, or the scheme's.
    pub port: u16,
    /// The host, when it is an address rather than a name.
    pub literal: Option<IpAddr>,
}

impl Destination {
    /// Parses `url`: an absolute http or https URL with a host.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        Self::from_url(Url::parse(url).map_err(|e| UrlError::BadUrl(e.to_string()))?)
    }

    /// The destination of a parsed URL (a redirect's target): http or https with a host.
    pub fn from_url(url: Url) -> Result<Self, UrlError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlError::Scheme(url.scheme().to_string()));
        }
        let port = url
            .port_or_known_default()
            .ok_or_else(|| UrlError::BadUrl("no port".into()))?;
        // The URL parser has normalized the host: IPv4 in dotted quads, IPv6 in brackets.
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| UrlError::BadUrl("no host".into()))?
            .to_string();
        let literal = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&host)
            .parse::<IpAddr>()
            .ok();
        Ok(Self {
            url,
            host,
            port,
            literal,
        })
    }
}

/// What went wrong with a destination: logged, never answered.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The host is or resolves to an address that is not public and not allowed.
    #[error("{addr} is {range}; list the host or address in {allow_key} to permit it")]
    Refused {
        /// The refused address.
        addr: IpAddr,
        /// The kind of address it is.
        range: &'static str,
        /// The configuration key of the allowlist.
        allow_key: &'static str,
    },
    /// The host, or an address it resolves to, is on the denylist.
    #[error("{what} is listed in {deny_key}")]
    Denied {
        /// The host or address.
        what: String,
        /// The configuration key of the denylist.
        deny_key: &'static str,
    },
    /// The name gave no address.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// No connection could be made (TLS included).
    #[error("no connection: {0}")]
    Connect(String),
    /// No answer within the time limit.
    #[error("no answer within {0} ms")]
    TimedOut(u64),
    /// The connection was made but the exchange failed.
    #[error("the exchange failed: {0}")]
    Exchange(String),
}

impl Failure {
    /// The failure of a request that got no answer; `timeout_ms` is the limit it had.
    pub fn of_send(e: &reqwest::Error, timeout_ms: u64) -> Self {
        if e.is_timeout() {
            Self::TimedOut(timeout_ms)
        } else if e.is_connect() {
            Self::Connect(error_chain(e))
        } else {
            Self::Exchange(error_chain(e))
        }
    }
}

/// Which destinations a feature may reach, and how names are resolved for it.
#[derive(Debug, Clone)]
pub struct Gate {
    allow: Allowlist,
    deny: Allowlist,
    resolver: Resolver,
    allow_key: &'static str,
    deny_key: &'static str,
}

/// The lists of a [`Gate`], as configured.
#[derive(Debug, Clone, Copy)]
pub struct Lists<'a> {
    /// Destinations allowed although not public (host names, addresses, blocks, each with an
    /// optional port; see [`Allowlist::parse`]).
    pub allow: &'a [String],
    /// The configuration key of `allow`, for the log.
    pub allow_key: &'static str,
    /// Destinations always refused (the same forms).
    pub deny: &'a [String],
    /// The configuration key of `deny`, for the log.
    pub deny_key: &'static str,
}

impl Gate {
    /// A gate with `lists`, resolving names with `resolver`.
    pub fn new(lists: Lists<'_>, resolver: Resolver) -> Result<Self, AllowEntryError> {
        Ok(Self {
            allow: Allowlist::parse(lists.allow)?,
            deny: Allowlist::parse(lists.deny)?,
            resolver,
            allow_key: lists.allow_key,
            deny_key: lists.deny_key,
        })
    }

    /// The destination's addresses, resolved by `deadline` and every one acceptable, with the
    /// URL's port.
    pub async fn addresses(
        &self,
        destination: &Destination,
        deadline: Instant,
    ) -> Result<Vec<SocketAddr>, Failure> {
        let Destination {
            host,
            port,
            literal,
            ..
        } = destination;
        if literal.is_none() && self.deny.allows_host(host, *port) {
            return Err(Failure::Denied {
                what: host.clone(),
                deny_key: self.deny_key,
            });
        }
        let ips = match literal {
            Some(ip) => vec![*ip],
            None => self.resolver.resolve(host, deadline).await?,
        };
        if let Some(ip) = ips.iter().find(|ip| self.deny.allows_addr(**ip, *port)) {
            return Err(Failure::Denied {
                what: ip.to_string(),
                deny_key: self.deny_key,
            });
        }
        if !(literal.is_none() && self.allow.allows_host(host, *port)) {
            for ip in &ips {
                if let Some(range) =
                    refused_range(*ip).filter(|_| !self.allow.allows_addr(*ip, *port))
                {
                    return Err(Failure::Refused {
                        addr: *ip,
                        range,
                        allow_key: self.allow_key,
                    });
                }
            }
        }
        Ok(ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, *port))
            .collect())
    }

    /// A client builder that connects only to `addrs` (the checked addresses of
    /// `destination`), through no proxy and following no redirect; the caller sets its time
    /// limits.
    pub fn client(destination: &Destination, addrs: &[SocketAddr]) -> reqwest::ClientBuilder {
        // reqwest's rustls needs a process-wide crypto provider; the first request installs ring.
        crate::install_tls_provider();
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .no_proxy()
            .user_agent(concat!("voicegate/", env!("CARGO_PKG_VERSION")));
        if destination.literal.is_none() {
            client.resolve_to_addrs(&destination.host, addrs)
        } else {
            client
        }
    }
}

/// An error and its sources, as one line, without the URL (a presigned URL carries its
/// signature in the query: never in logs or answers).
pub fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    text
}
