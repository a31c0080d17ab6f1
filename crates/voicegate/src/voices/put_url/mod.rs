//! `put_url` uploads: a finished voice is PUT (`Content-Type: audio/wav`) to a URL the client
//! gave, such as a presigned object-store URL, and the answer's status and first bytes are kept.
//!
//! A client-given URL must not turn the server into a proxy into its own network, so it passes
//! the checks of [`crate::outbound`]: only http and https, the host resolved once and every
//! address it resolves to public unless `voices.put_url_allow` names the host or a block holding
//! the address (on the URL's port, when the entry has one); the connection goes to exactly the
//! checked addresses, through no proxy, and redirects are not followed.
//!
//! Names are resolved asynchronously within the upload's time limit, and at most
//! `voices.put_url_max_concurrent` uploads (or checks) run at once. Nor may the server become an
//! oracle for its network: a refused address, a name that does not resolve, a refused
//! connection, a failed TLS handshake and a timeout are all the one
//! [`PutUrlError::Unreachable`], which names no address; the cause is logged.

#[cfg(test)]
mod test_peers;
#[cfg(test)]
mod tests;

#[cfg(test)]
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::address_policy::AllowEntryError;
use crate::config::VoicesConfig;
use crate::outbound::resolve::{Resolver, parse_nameserver};
use crate::outbound::{Destination, Failure, Gate, Lists, UrlError, error_chain};

/// The content type of uploads.
pub const CONTENT_TYPE: &str = "audio/wav";

/// Why an upload was not made or got no answer, as the client may learn it.
#[derive(Debug, thiserror::Error)]
pub enum PutUrlError {
    /// Not an absolute URL with a host.
    #[error("put_url is not a valid URL: {0}")]
    BadUrl(String),
    /// A scheme other than http or https.
    #[error("put_url scheme {0:?} is not allowed: use http or https")]
    Scheme(String),
    /// The destination is refused, does not resolve, refuses the connection, fails the exchange
    /// or does not answer in time: one error for all of these, naming no address, so that a
    /// client cannot probe the server's network with it. The cause is logged.
    #[error("put_url destination could not be reached or is not allowed")]
    Unreachable,
    /// Every upload slot (`voices.put_url_max_concurrent`) stayed taken for
    /// `voices.put_url_timeout_ms`.
    #[error("too many put_url uploads at once; retry shortly")]
    Busy,
}

/// A `[voices]` setting of the uploader that is not valid.
#[derive(Debug, thiserror::Error)]
pub enum PutUrlConfigError {
    /// An entry of `voices.put_url_allow` is neither a host name, an address nor a CIDR block.
    #[error(transparent)]
    AllowEntry(#[from] AllowEntryError),
    /// An entry of `voices.put_url_nameservers` is not an address.
    #[error("voices.put_url_nameservers: {0}")]
    Nameserver(String),
}

/// The answer to an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutUrlResponse {
    /// The HTTP status of the PUT's answer.
    pub status: u16,
    /// The start of the answer's body (at most `voices.put_url_max_response_bytes`), as text
    /// (invalid UTF-8 replaced), as far as it could be read.
    pub body: String,
}

impl From<UrlError> for PutUrlError {
    fn from(e: UrlError) -> Self {
        match e {
            UrlError::BadUrl(reason) => Self::BadUrl(reason),
            UrlError::Scheme(scheme) => Self::Scheme(scheme),
        }
    }
}

/// The uploader, configured from `[voices]`.
#[derive(Debug, Clone)]
pub struct PutUrl {
    gate: Gate,
    /// One permit per upload (or check) in progress.
    slots: Arc<Semaphore>,
    timeout: Duration,
    max_response_bytes: usize,
}

impl PutUrl {
    /// An uploader with the allowlist, nameservers, time limit, concurrency limit and response
    /// limit of `config`.
    pub fn new(config: &VoicesConfig) -> Result<Self, PutUrlConfigError> {
        let nameservers = config
            .put_url_nameservers
            .iter()
            .map(|entry| parse_nameserver(entry))
            .collect::<Result<Vec<_>, _>>()
            .map_err(PutUrlConfigError::Nameserver)?;
        let timeout = Duration::from_millis(config.put_url_timeout_ms.max(1));
        let lists = Lists {
            allow: &config.put_url_allow,
            allow_key: "voices.put_url_allow",
            deny: &[],
            deny_key: "",
        };
        Ok(Self {
            gate: Gate::new(lists, Resolver::new(&nameservers, timeout))?,
            slots: Arc::new(Semaphore::new(config.put_url_max_concurrent.max(1))),
            timeout,
            max_response_bytes: config.put_url_max_response_bytes,
        })
    }

    /// Checks `url` as [`PutUrl::put`] would, without uploading: a valid http or https URL whose
    /// host is or resolves to acceptable addresses. Lets a request be refused before the work
    /// whose result would be uploaded; `put` checks again.
    pub async fn check(&self, url: &str) -> Result<(), PutUrlError> {
        let destination = Destination::parse(url)?;
        let _slot = self.slot().await?;
        let deadline = Instant::now() + self.timeout;
        match self.gate.addresses(&destination, deadline).await {
            Ok(_) => Ok(()),
            Err(failure) => Err(unreachable(&destination, &failure)),
        }
    }

    /// PUTs `body` to `url` and answers the status and the start of the answer's body. The
    /// caller bounds the body's size. Every answer, 4xx and 5xx included, is a response; errors
    /// are for uploads that were refused or got no answer. The upload waits at most the time
    /// limit for a free slot, then has the time limit to resolve, connect and be answered.
    pub async fn put(&self, url: &str, body: Vec<u8>) -> Result<PutUrlResponse, PutUrlError> {
        let destination = Destination::parse(url)?;
        let _slot = self.slot().await?;
        self.deliver(&destination, body)
            .await
            .map_err(|failure| unreachable(&destination, &failure))
    }

    /// A free upload slot, waiting at most the time limit for one.
    async fn slot(&self) -> Result<OwnedSemaphorePermit, PutUrlError> {
        match tokio::time::timeout(self.timeout, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                tracing::debug!("put_url: every upload slot stayed taken");
                Err(PutUrlError::Busy)
            }
        }
    }

    /// Resolves and checks the destination, uploads and reads the start of the answer.
    async fn deliver(
        &self,
        destination: &Destination,
        body: Vec<u8>,
    ) -> Result<PutUrlResponse, Failure> {
        let deadline = Instant::now() + self.timeout;
        let addrs = self.gate.addresses(destination, deadline).await?;
        let remaining = deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| self.timed_out())?;
        let client = Gate::client(destination, &addrs)
            .connect_timeout(remaining)
            .timeout(remaining)
            .build()
            .map_err(|e| Failure::Exchange(error_chain(&e)))?;
        let mut response = client
            .put(destination.url.clone())
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .map_err(|e| self.send_error(&e))?;
        let status = response.status().as_u16();
        let mut kept = Vec::new();
        while kept.len() < self.max_response_bytes {
            match response.chunk().await {
                Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %error_chain(&e), "put_url answer cut short");
                    break;
                }
            }
        }
        kept.truncate(self.max_response_bytes);
        Ok(PutUrlResponse {
            status,
            body: text_prefix(&kept),
        })
    }

    /// The destination's checked addresses, as an upload would connect to them.
    #[cfg(test)]
    async fn addresses(
        &self,
        destination: &Destination,
        deadline: Instant,
    ) -> Result<Vec<SocketAddr>, Failure> {
        self.gate.addresses(destination, deadline).await
    }

    fn timed_out(&self) -> Failure {
        Failure::TimedOut(self.timeout.as_millis() as u64)
    }

    fn send_error(&self, e: &reqwest::Error) -> Failure {
        Failure::of_send(e, self.timeout.as_millis() as u64)
    }
}

/// Logs why `destination` failed and answers the one error a client sees. The URL's path and
/// query (a presigned URL's signature) are not logged.
fn unreachable(destination: &Destination, failure: &Failure) -> PutUrlError {
    let (host, port) = (&destination.host, destination.port);
    if let Failure::Refused { .. } | Failure::Denied { .. } = failure {
        tracing::info!(%host, port, cause = %failure, "put_url destination refused");
    } else {
        tracing::debug!(%host, port, cause = %failure, "put_url destination unreachable");
    }
    PutUrlError::Unreachable
}

/// Bytes as text, dropping a character cut in half at the end.
fn text_prefix(bytes: &[u8]) -> String {
    let whole = match std::str::from_utf8(bytes) {
        Err(e) if e.error_len().is_none() => &bytes[..e.valid_up_to()],
        _ => bytes,
    };
    String::from_utf8_lossy(whole).into_owned()
}
