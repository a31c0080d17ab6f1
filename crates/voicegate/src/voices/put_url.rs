//! `put_url` uploads: a finished voice is PUT (`Content-Type: audio/wav`) to a URL the client
//! gave, such as a presigned object-store URL, and the answer's status and first bytes are kept.
//!
//! A client-given URL must not turn the server into a proxy into its own network, so only http
//! and https are accepted, the host is resolved once here and every address it resolves to must
//! be public (see [`crate::address_policy`]) unless `voices.put_url_allow` names the host or a block
//! holding the address (on the URL's port, when the entry has one). The connection then goes to exactly the checked addresses (no second DNS
//! lookup), through no proxy, and redirects are not followed.

use std::error::Error as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use reqwest::Url;
use reqwest::redirect::Policy;
use tokio::time::Instant;

use crate::address_policy::{AllowEntryError, Allowlist, refused_range};
use crate::config::VoicesConfig;

/// The content type of uploads.
pub const CONTENT_TYPE: &str = "audio/wav";

/// Why an upload did not happen or did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum PutUrlError {
    /// Not an absolute URL with a host.
    #[error("put_url is not a valid URL: {0}")]
    BadUrl(String),
    /// A scheme other than http or https.
    #[error("put_url scheme {0:?} is not allowed: use http or https")]
    Scheme(String),
    /// The host is or resolves to an address that is not public.
    #[error(
        "put_url host {host} is refused: {addr} is {range}; \
         list the host or address in voices.put_url_allow to permit it"
    )]
    Refused {
        /// The URL's host.
        host: String,
        /// The refused address.
        addr: IpAddr,
        /// The kind of address it is.
        range: &'static str,
    },
    /// The host does not resolve, or no connection could be made.
    #[error("put_url host {host} is unreachable: {reason}")]
    Unreachable {
        /// The URL's host.
        host: String,
        /// What failed.
        reason: String,
    },
    /// No answer within `voices.put_url_timeout_ms`.
    #[error("put_url did not answer within {0} ms")]
    Timeout(u64),
    /// The connection was made but the exchange failed (TLS, protocol).
    #[error("put_url upload failed: {0}")]
    Failed(String),
    /// An entry of `voices.put_url_allow` is neither a host name, an address nor a CIDR block.
    #[error(transparent)]
    AllowEntry(#[from] AllowEntryError),
}

impl PutUrlError {
    /// Whether the URL itself is unacceptable (not a URL, another scheme, a refused address):
    /// the client's mistake rather than the destination's failure.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::BadUrl(_) | Self::Scheme(_) | Self::Refused { .. } | Self::AllowEntry(_)
        )
    }
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

/// A checked destination: where the connection may go.
struct Target {
    url: Url,
    /// The URL's host, for messages.
    host: String,
    /// The host name to pin to `addrs`, when the host is not an address.
    domain: Option<String>,
    /// Every address the host resolved to, all checked.
    addrs: Vec<SocketAddr>,
}

/// The uploader, configured from `[voices]`.
#[derive(Debug, Clone)]
pub struct PutUrl {
    allow: Allowlist,
    timeout: Duration,
    max_response_bytes: usize,
}

impl PutUrl {
    /// An uploader with the allowlist, time limit and response limit of `config`.
    pub fn new(config: &VoicesConfig) -> Result<Self, PutUrlError> {
        Ok(Self {
            allow: Allowlist::parse(&config.put_url_allow)?,
            timeout: Duration::from_millis(config.put_url_timeout_ms.max(1)),
            max_response_bytes: config.put_url_max_response_bytes,
        })
    }

    /// Checks `url` as [`PutUrl::put`] would, without uploading: a valid http or https URL whose
    /// host is or resolves to acceptable addresses. Lets a request be refused before the work
    /// whose result would be uploaded; `put` checks again.
    pub async fn check(&self, url: &str) -> Result<(), PutUrlError> {
        self.target(url).await.map(|_| ())
    }

    /// PUTs `body` to `url` and answers the status and the start of the answer's body. The
    /// caller bounds the body's size. Every answer, 4xx and 5xx included, is a response; errors
    /// are for uploads that were refused or got no answer.
    pub async fn put(&self, url: &str, body: Vec<u8>) -> Result<PutUrlResponse, PutUrlError> {
        let started = Instant::now();
        let Target {
            url,
            host,
            domain,
            addrs,
        } = self.target(url).await?;
        let remaining = self
            .timeout
            .checked_sub(started.elapsed())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| self.timed_out())?;
        // reqwest's rustls needs a process-wide crypto provider; the first upload installs ring.
        crate::install_tls_provider();
        let mut client = reqwest::Client::builder()
            .redirect(Policy::none())
            .no_proxy()
            .connect_timeout(remaining)
            .timeout(remaining)
            .user_agent(concat!("voicegate/", env!("CARGO_PKG_VERSION")));
        if let Some(name) = &domain {
            client = client.resolve_to_addrs(name, &addrs);
        }
        let client = client
            .build()
            .map_err(|e| PutUrlError::Failed(error_chain(&e)))?;
        let mut response = client
            .put(url)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .map_err(|e| self.send_error(&host, &e))?;
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

    /// Parses `url` and resolves and checks its host.
    async fn target(&self, url: &str) -> Result<Target, PutUrlError> {
        let url = Url::parse(url).map_err(|e| PutUrlError::BadUrl(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(PutUrlError::Scheme(url.scheme().to_string()));
        }
        let port = url
            .port_or_known_default()
            .ok_or_else(|| PutUrlError::BadUrl("no port".into()))?;
        // The URL parser has normalized the host: IPv4 in dotted quads, IPv6 in brackets.
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| PutUrlError::BadUrl("no host".into()))?
            .to_string();
        let literal = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&host)
            .parse::<IpAddr>();
        let (domain, addrs) = match literal {
            Ok(ip) => (None, vec![ip]),
            Err(_) => (Some(host.clone()), self.resolve(&host, port).await?),
        };
        if !(domain.is_some() && self.allow.allows_host(&host, port)) {
            for addr in &addrs {
                if let Some(range) =
                    refused_range(*addr).filter(|_| !self.allow.allows_addr(*addr, port))
                {
                    return Err(PutUrlError::Refused {
                        host,
                        addr: *addr,
                        range,
                    });
                }
            }
        }
        Ok(Target {
            addrs: addrs.into_iter().map(|ip| (ip, port).into()).collect(),
            url,
            host,
            domain,
        })
    }

    /// The host's addresses, within the time limit.
    async fn resolve(&self, name: &str, port: u16) -> Result<Vec<IpAddr>, PutUrlError> {
        let unreachable = |reason: String| PutUrlError::Unreachable {
            host: name.to_string(),
            reason,
        };
        let found = tokio::time::timeout(self.timeout, tokio::net::lookup_host((name, port)))
            .await
            .map_err(|_| self.timed_out())?
            .map_err(|e| unreachable(format!("cannot resolve it: {e}")))?;
        let mut addrs: Vec<IpAddr> = Vec::new();
        for addr in found {
            if !addrs.contains(&addr.ip()) {
                addrs.push(addr.ip());
            }
        }
        if addrs.is_empty() {
            return Err(unreachable("it resolves to no address".into()));
        }
        Ok(addrs)
    }

    fn timed_out(&self) -> PutUrlError {
        PutUrlError::Timeout(self.timeout.as_millis() as u64)
    }

    fn send_error(&self, host: &str, e: &reqwest::Error) -> PutUrlError {
        if e.is_timeout() {
            self.timed_out()
        } else if e.is_connect() {
            PutUrlError::Unreachable {
                host: host.to_string(),
                reason: error_chain(e),
            }
        } else {
            PutUrlError::Failed(error_chain(e))
        }
    }
}

/// An error and its sources, as one line.
fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    // A presigned URL carries its signature in the query: never in logs or answers.
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<put_url>");
    }
    text
}

/// Bytes as text, dropping a character cut in half at the end.
fn text_prefix(bytes: &[u8]) -> String {
    let whole = match std::str::from_utf8(bytes) {
        Err(e) if e.error_len().is_none() => &bytes[..e.valid_up_to()],
        _ => bytes,
    };
    String::from_utf8_lossy(whole).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, Method, StatusCode, header};
    use axum::routing::any;

    /// What the test server saw.
    #[derive(Debug, Clone, PartialEq)]
    struct Seen {
        method: Method,
        path: String,
        content_type: Option<String>,
        body: Vec<u8>,
    }

    type Log = Arc<Mutex<Vec<Seen>>>;

    /// Records a request and answers it: `/upload` 201, `/big` a 10 000-byte body, `/moved` a
    /// redirect to `/upload`.
    async fn record(
        path: &'static str,
        log: Log,
        method: Method,
        headers: HeaderMap,
        body: Bytes,
    ) -> (StatusCode, HeaderMap, String) {
        log.lock().unwrap().push(Seen {
            method,
            path: path.into(),
            content_type: headers
                .get(header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap().to_string()),
            body: body.to_vec(),
        });
        match path {
            "/upload" => (StatusCode::CREATED, HeaderMap::new(), "stored".to_string()),
            "/big" => (StatusCode::OK, HeaderMap::new(), "é".repeat(5000)),
            _ => {
                let mut headers = HeaderMap::new();
                headers.insert(header::LOCATION, "/upload".parse().unwrap());
                (StatusCode::FOUND, headers, String::new())
            }
        }
    }

    /// An HTTP server on 127.0.0.1:0 that records requests ([`record`]).
    async fn server() -> (SocketAddr, Log) {
        let log = Log::default();
        let route = |path: &'static str| {
            any(
                move |State(log): State<Log>, m: Method, h: HeaderMap, b: Bytes| {
                    record(path, log, m, h, b)
                },
            )
        };
        let app = Router::new()
            .route("/upload", route("/upload"))
            .route("/big", route("/big"))
            .route("/moved", route("/moved"))
            .with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (addr, log)
    }

    fn uploader(allow: &[&str], timeout_ms: u64) -> PutUrl {
        PutUrl::new(&VoicesConfig {
            put_url_allow: allow.iter().map(|s| s.to_string()).collect(),
            put_url_timeout_ms: timeout_ms,
            ..VoicesConfig::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn an_allowlisted_local_server_gets_the_wav_and_its_status_is_returned() {
        let (addr, log) = server().await;
        let wav = b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0".to_vec();
        let put = uploader(&["127.0.0.1/32"], 10_000);
        let url = format!("http://{addr}/upload?sig=abc");
        put.check(&url).await.unwrap();
        assert!(log.lock().unwrap().is_empty(), "check does not upload");
        let response = put.put(&url, wav.clone()).await.unwrap();
        assert_eq!(
            response,
            PutUrlResponse {
                status: 201,
                body: "stored".into()
            }
        );
        let seen = log.lock().unwrap().clone();
        assert_eq!(
            seen,
            [Seen {
                method: Method::PUT,
                path: "/upload".into(),
                content_type: Some("audio/wav".into()),
                body: wav,
            }]
        );
    }

    #[tokio::test]
    async fn a_local_server_is_refused_without_the_allowlist() {
        let (addr, log) = server().await;
        let url = format!("http://{addr}/upload");
        for allow in [&[][..], &["127.0.0.2/32", "10.0.0.0/8", "minio.lan"][..]] {
            let put = uploader(allow, 10_000);
            let refused = put.check(&url).await.unwrap_err();
            assert!(refused.is_refusal(), "{refused}");
            let err = put.put(&url, b"x".to_vec()).await.unwrap_err();
            assert!(
                matches!(
                    err,
                    PutUrlError::Refused {
                        range: "loopback",
                        ..
                    }
                ),
                "{err}"
            );
            let message = err.to_string();
            assert!(message.contains("127.0.0.1"), "{message}");
            assert!(message.contains("voices.put_url_allow"), "{message}");
        }
        assert!(log.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn host_names_are_checked_after_resolving_and_can_be_allowlisted() {
        let (addr, log) = server().await;
        let url = format!("http://localhost:{}/upload", addr.port());
        let err = uploader(&[], 10_000)
            .put(&url, b"x".to_vec())
            .await
            .unwrap_err();
        assert!(matches!(err, PutUrlError::Refused { ref host, .. } if host == "localhost"));
        assert!(log.lock().unwrap().is_empty());
        let response = uploader(&["LOCALHOST"], 10_000)
            .put(&url, b"named".to_vec())
            .await
            .unwrap();
        assert_eq!(response.status, 201);
        assert_eq!(log.lock().unwrap()[0].body, b"named");
    }

    #[tokio::test]
    async fn redirects_are_not_followed_and_long_answers_are_cut() {
        let (addr, log) = server().await;
        let put = uploader(&["127.0.0.0/8"], 10_000);
        let moved = put
            .put(&format!("http://{addr}/moved"), b"x".to_vec())
            .await
            .unwrap();
        assert_eq!(moved.status, 302);
        let paths: Vec<_> = log.lock().unwrap().iter().map(|s| s.path.clone()).collect();
        assert_eq!(paths, ["/moved"]);
        let limited = PutUrl::new(&VoicesConfig {
            put_url_allow: vec!["127.0.0.1".into()],
            put_url_max_response_bytes: 15,
            ..VoicesConfig::default()
        })
        .unwrap();
        let big = limited
            .put(&format!("http://{addr}/big"), b"x".to_vec())
            .await
            .unwrap();
        assert_eq!(big.status, 200);
        // 15 bytes hold seven two-byte characters and half of the eighth, which is dropped.
        assert_eq!(big.body, "é".repeat(7));
    }

    #[tokio::test]
    async fn only_http_and_https_urls_are_accepted() {
        let put = uploader(&["0.0.0.0/0"], 10_000);
        for url in [
            "ftp://example.com/voice.wav",
            "file:///etc/passwd",
            "gopher://x/",
        ] {
            let err = put.put(url, b"x".to_vec()).await.unwrap_err();
            assert!(matches!(err, PutUrlError::Scheme(_)), "{url}: {err}");
            assert!(err.is_refusal());
        }
        for url in ["not a url", "/relative/path", "http://"] {
            let err = put.put(url, b"x".to_vec()).await.unwrap_err();
            assert!(matches!(err, PutUrlError::BadUrl(_)), "{url}: {err}");
        }
    }

    #[tokio::test]
    async fn https_is_spoken_and_checked_like_http() {
        let (addr, _log) = server().await;
        let err = uploader(&[], 10_000)
            .put(&format!("https://{addr}/upload"), b"x".to_vec())
            .await
            .unwrap_err();
        assert!(matches!(err, PutUrlError::Refused { .. }), "{err}");
        // The test server speaks plain HTTP: the TLS handshake fails, it does not panic.
        let err = uploader(&["127.0.0.1/32"], 10_000)
            .put(&format!("https://{addr}/upload"), b"x".to_vec())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                PutUrlError::Unreachable { .. } | PutUrlError::Failed(_)
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let mut connections = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.push(stream);
            }
        });
        let started = Instant::now();
        let err = uploader(&["127.0.0.1/32"], 300)
            .put(&format!("http://{addr}/upload"), b"x".to_vec())
            .await
            .unwrap_err();
        assert!(matches!(err, PutUrlError::Timeout(300)), "{err}");
        assert!(!err.is_refusal());
        assert!(started.elapsed() < Duration::from_secs(5));
        held.abort();
    }
}
