//! Web media: an http or https URL a client gave, downloaded while it plays.
//!
//! The URL passes the checks of [`crate::outbound`] with `speakers.web_media_allow` and
//! `speakers.web_media_deny`: by default only public addresses, never loopback, private or
//! link-local ones. Redirects are followed up to `speakers.web_media_max_redirects`, each
//! target checked like the first. Resolving, connecting and the answer's head share
//! `speakers.web_media_timeout_ms`; while the body plays, each wait for more of it has that
//! long too, and a download ends past `speakers.web_media_max_bytes`.
//!
//! The body is read a chunk at a time into a small channel that the decoder reads from
//! ([`BodyReader`]), so that the download runs only a little ahead of decoding and is never held
//! whole. A destination that is refused, does not resolve, refuses the connection or does not
//! answer in time is one error naming no address; the cause is logged.

use std::io::Read;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::address_policy::AllowEntryError;
use crate::config::SpeakersConfig;
use crate::outbound::resolve::Resolver;
use crate::outbound::{Destination, Failure, Gate, Lists, UrlError, error_chain};
use crate::speakers::error::SpeakerError;
use crate::speakers::media::decode::Format;

/// Chunks of the body held between the download and the decoder at most.
const CHUNKS_AHEAD: usize = 8;

/// The one answer to a destination that cannot be used.
pub const UNREACHABLE: &str = "MediaUrl could not be reached or is not allowed";

/// Opens web media, configured from `[speakers]`.
#[derive(Debug, Clone)]
pub struct WebMedia {
    gate: Gate,
    timeout: Duration,
    max_bytes: u64,
    max_redirects: usize,
}

/// A web media answer whose body is ready to be read.
pub struct Download {
    /// The format its URL and `Content-Type` suggest.
    pub format: Format,
    /// Its body.
    pub body: BodyReader,
}

impl WebMedia {
    /// Web media with the lists and limits of `config`.
    pub fn new(config: &SpeakersConfig) -> Result<Self, AllowEntryError> {
        let timeout = Duration::from_millis(config.web_media_timeout_ms.max(1));
        let lists = Lists {
            allow: &config.web_media_allow,
            allow_key: "speakers.web_media_allow",
            deny: &config.web_media_deny,
            deny_key: "speakers.web_media_deny",
        };
        Ok(Self {
            gate: Gate::new(lists, Resolver::new(&[], timeout))?,
            timeout,
            max_bytes: config.web_media_max_bytes,
            max_redirects: config.web_media_max_redirects,
        })
    }

    /// Requests `url` (following redirects) and answers its body to read; errors are for URLs
    /// that are not http or https (400), destinations that cannot be used, answers that are
    /// not a success, and bodies longer than allowed.
    pub async fn open(&self, url: &str) -> Result<Download, SpeakerError> {
        let mut destination = parse(url)?;
        let deadline = Instant::now() + self.timeout;
        let mut redirects = 0;
        loop {
            let response = self
                .request(&destination, deadline)
                .await
                .map_err(|failure| unreachable(&destination, &failure))?;
            let status = response.status();
            if status.is_redirection()
                && let Some(location) = response.headers().get(LOCATION)
            {
                if redirects == self.max_redirects {
                    return Err(SpeakerError::MediaUnavailable(format!(
                        "MediaUrl redirects more than {} times (speakers.web_media_max_redirects)",
                        self.max_redirects
                    )));
                }
                redirects += 1;
                destination = redirected(&destination, location.to_str().unwrap_or(""))?;
                continue;
            }
            if !status.is_success() {
                return Err(SpeakerError::MediaUnavailable(format!(
                    "MediaUrl: the server answered {}",
                    describe(status)
                )));
            }
            if response
                .content_length()
                .is_some_and(|length| length > self.max_bytes)
            {
                return Err(SpeakerError::BadMedia(format!(
                    "it is longer than {} bytes (speakers.web_media_max_bytes)",
                    self.max_bytes
                )));
            }
            let format = Format {
                extension: extension(&destination),
                mime: response
                    .headers()
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
                    .filter(|v| !v.is_empty()),
            };
            let body = BodyReader::start(response, self.max_bytes, self.timeout);
            return Ok(Download { format, body });
        }
    }

    /// One GET of `destination`, its addresses checked, answered by `deadline`.
    async fn request(
        &self,
        destination: &Destination,
        deadline: Instant,
    ) -> Result<reqwest::Response, Failure> {
        let timed_out = || Failure::TimedOut(self.timeout.as_millis() as u64);
        let addrs = self.gate.addresses(destination, deadline).await?;
        let remaining = deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or_else(timed_out)?;
        let client = Gate::client(destination, &addrs)
            .connect_timeout(remaining)
            .build()
            .map_err(|e| Failure::Exchange(error_chain(&e)))?;
        tokio::time::timeout_at(deadline, client.get(destination.url.clone()).send())
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| Failure::of_send(&e, self.timeout.as_millis() as u64))
    }
}

/// Parses a `MediaUrl`: only http and https are played.
pub fn parse(url: &str) -> Result<Destination, SpeakerError> {
    Destination::parse(url.trim()).map_err(|e| match e {
        UrlError::Scheme(scheme) => SpeakerError::BadRequest(format!(
            "MediaUrl scheme {scheme:?} is not supported: only http and https media are played"
        )),
        UrlError::BadUrl(reason) => {
            SpeakerError::BadRequest(format!("MediaUrl is not a valid URL: {reason}"))
        }
    })
}

/// The destination a redirect's `location` names, relative to `from`.
fn redirected(from: &Destination, location: &str) -> Result<Destination, SpeakerError> {
    let target = from.url.join(location).map_err(|_| {
        SpeakerError::MediaUnavailable("MediaUrl redirects to an invalid URL".into())
    })?;
    Destination::from_url(target).map_err(|_| {
        SpeakerError::MediaUnavailable(
            "MediaUrl redirects to a URL that is not http or https".into(),
        )
    })
}

/// Logs why `destination` failed and answers the one error a client sees. The URL's path and
/// query are not logged.
fn unreachable(destination: &Destination, failure: &Failure) -> SpeakerError {
    let (host, port) = (&destination.host, destination.port);
    if let Failure::Refused { .. } | Failure::Denied { .. } = failure {
        tracing::info!(%host, port, cause = %failure, "web media destination refused");
    } else {
        tracing::debug!(%host, port, cause = %failure, "web media destination unreachable");
    }
    SpeakerError::MediaUnavailable(UNREACHABLE.into())
}

/// `404 Not Found`.
fn describe(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// The extension of the URL's last path segment (`mp3`), if it has one.
fn extension(destination: &Destination) -> Option<String> {
    let segment = destination.url.path_segments()?.next_back()?;
    let (_, extension) = segment.rsplit_once('.')?;
    (!extension.is_empty() && extension.len() <= 5).then(|| extension.to_ascii_lowercase())
}

/// A download's body as a blocking [`Read`] for the decoder: chunks arrive through a small
/// channel from a task that reads the answer. Dropping the reader ends the download.
pub struct BodyReader {
    chunks: mpsc::Receiver<Result<Vec<u8>, String>>,
    current: Vec<u8>,
    at: usize,
}

impl BodyReader {
    /// Starts reading `response`'s body: at most `max_bytes`, each chunk within `stall`.
    fn start(mut response: reqwest::Response, max_bytes: u64, stall: Duration) -> Self {
        let (sender, chunks) = mpsc::channel(CHUNKS_AHEAD);
        tokio::spawn(async move {
            let mut total: u64 = 0;
            loop {
                let next = tokio::select! {
                    next = tokio::time::timeout(stall, response.chunk()) => next,
                    () = sender.closed() => return,
                };
                let piece = match next {
                    Ok(Ok(Some(bytes))) => bytes,
                    Ok(Ok(None)) => return,
                    Ok(Err(e)) => {
                        let reason = format!("the download failed: {}", error_chain(&e));
                        let _ = sender.send(Err(reason)).await;
                        return;
                    }
                    Err(_) => {
                        let reason =
                            format!("the download stalled: no data for {} ms", stall.as_millis());
                        let _ = sender.send(Err(reason)).await;
                        return;
                    }
                };
                let room = max_bytes.saturating_sub(total);
                let over = piece.len() as u64 > room;
                let piece = &piece[..piece.len().min(room as usize)];
                total += piece.len() as u64;
                if !piece.is_empty() && sender.send(Ok(piece.to_vec())).await.is_err() {
                    return;
                }
                if over {
                    let reason = format!(
                        "the download is longer than {max_bytes} bytes (speakers.web_media_max_bytes)"
                    );
                    let _ = sender.send(Err(reason)).await;
                    return;
                }
            }
        });
        Self {
            chunks,
            current: Vec::new(),
            at: 0,
        }
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.current.len() {
            match self.chunks.blocking_recv() {
                Some(Ok(chunk)) => {
                    self.current = chunk;
                    self.at = 0;
                }
                Some(Err(reason)) => return Err(std::io::Error::other(reason)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::Router;
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::routing::get;
    use tokio::net::TcpListener;

    use super::*;

    const SONG: &[u8] = b"RIFF....WAVE pretend audio bytes";

    /// A server on 127.0.0.1 with a song, a missing page, redirects and a large answer.
    async fn server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let redirect = |to: String| {
            let mut headers = HeaderMap::new();
            headers.insert(header::LOCATION, to.parse().unwrap());
            (StatusCode::FOUND, headers)
        };
        let app = Router::new()
            .route(
                "/music/song.WAV",
                get(|| async { ([(header::CONTENT_TYPE, "audio/wav; x=1")], SONG) }),
            )
            .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
            .route(
                "/moved",
                get(move || async move { redirect("/music/song.WAV".into()) }),
            )
            .route(
                "/loop",
                get(move || async move { redirect("/loop".into()) }),
            )
            .route(
                "/away",
                get(move || async move {
                    redirect(format!("http://localhost:{}/music/song.WAV", addr.port()))
                }),
            )
            .route(
                "/rtsp",
                get(move || async move { redirect("rtsp://media.example/x".into()) }),
            )
            .route("/big", get(|| async { vec![0u8; 5000] }))
            .route(
                "/chunked",
                get(|| async {
                    let chunks = (0..100).map(|_| Ok::<_, std::io::Error>(vec![1u8; 1000]));
                    axum::body::Body::from_stream(futures_util::stream::iter(chunks))
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    fn media_with(change: impl FnOnce(&mut SpeakersConfig)) -> WebMedia {
        let mut config = SpeakersConfig::default();
        change(&mut config);
        WebMedia::new(&config).unwrap()
    }

    fn local() -> WebMedia {
        media_with(|c| c.web_media_allow = vec!["127.0.0.1".into()])
    }

    /// The body, read as the decoder reads it.
    async fn body(download: Download) -> std::io::Result<Vec<u8>> {
        let mut reader = download.body;
        tokio::task::spawn_blocking(move || {
            let mut all = Vec::new();
            reader.read_to_end(&mut all).map(|_| all)
        })
        .await
        .unwrap()
    }

    fn unavailable(result: Result<Download, SpeakerError>) -> String {
        match result {
            Err(SpeakerError::MediaUnavailable(text)) => text,
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("opened"),
        }
    }

    #[tokio::test]
    async fn only_http_and_https_urls_are_played() {
        let web = local();
        for url in [
            "rtsp://media.example/live",
            "mms://media.example/song.wma",
            "ftp://media.example/song.mp3",
            "file:///etc/passwd",
        ] {
            match web.open(url).await {
                Err(SpeakerError::BadRequest(text)) => {
                    assert!(text.contains("only http and https"), "{url}: {text}");
                }
                other => panic!("{url}: {:?}", other.err()),
            }
        }
        for url in ["not a url", "http://", "/song.mp3"] {
            match web.open(url).await {
                Err(SpeakerError::BadRequest(text)) => {
                    assert!(text.starts_with("MediaUrl is not a valid URL"), "{text}");
                }
                other => panic!("{url}: {:?}", other.err()),
            }
        }
    }

    #[tokio::test]
    async fn local_and_denied_destinations_are_refused_with_one_error() {
        let addr = server().await;
        let song = format!("http://127.0.0.1:{}/music/song.WAV", addr.port());
        let by_name = format!("http://localhost:{}/music/song.WAV", addr.port());
        let default = media_with(|_| {});
        for url in [
            song.as_str(),
            by_name.as_str(),
            "http://10.0.0.1/song.mp3",
            "http://169.254.169.254/latest",
            "http://[::1]/song.mp3",
        ] {
            assert_eq!(unavailable(default.open(url).await), UNREACHABLE, "{url}");
        }
        // The denylist wins over the allowlist, for addresses and names.
        let denied = media_with(|c| {
            c.web_media_allow = vec!["127.0.0.0/8".into(), "localhost".into()];
            c.web_media_deny = vec!["127.0.0.1".into()];
        });
        assert_eq!(unavailable(denied.open(&song).await), UNREACHABLE);
        assert_eq!(unavailable(denied.open(&by_name).await), UNREACHABLE);
        let denied = media_with(|c| {
            c.web_media_allow = vec!["127.0.0.1".into()];
            c.web_media_deny = vec!["localhost".into()];
        });
        assert!(denied.open(&song).await.is_ok());
        assert_eq!(unavailable(denied.open(&by_name).await), UNREACHABLE);
        // A closed port is the same error.
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let url = format!("http://127.0.0.1:{port}/song.mp3");
        assert_eq!(unavailable(local().open(&url).await), UNREACHABLE);
    }

    #[tokio::test]
    async fn an_allowed_song_is_read_as_it_downloads() {
        let addr = server().await;
        let download = local()
            .open(&format!("http://{addr}/music/song.WAV?x=1"))
            .await
            .unwrap();
        assert_eq!(download.format.extension.as_deref(), Some("wav"));
        assert_eq!(download.format.mime.as_deref(), Some("audio/wav"));
        assert_eq!(body(download).await.unwrap(), SONG);
    }

    #[tokio::test]
    async fn redirects_are_followed_and_each_target_is_checked() {
        let addr = server().await;
        let web = local();
        let download = web.open(&format!("http://{addr}/moved")).await.unwrap();
        assert_eq!(download.format.extension.as_deref(), Some("wav"));
        assert_eq!(body(download).await.unwrap(), SONG);
        let text = unavailable(web.open(&format!("http://{addr}/loop")).await);
        assert!(text.contains("more than 5 times"), "{text}");
        let text = unavailable(web.open(&format!("http://{addr}/away")).await);
        assert_eq!(text, UNREACHABLE, "localhost's ::1 is not allowed");
        let text = unavailable(web.open(&format!("http://{addr}/rtsp")).await);
        assert!(text.contains("not http or https"), "{text}");
        let none = media_with(|c| {
            c.web_media_allow = vec!["127.0.0.1".into()];
            c.web_media_max_redirects = 0;
        });
        let text = unavailable(none.open(&format!("http://{addr}/moved")).await);
        assert!(text.contains("more than 0 times"), "{text}");
    }

    #[tokio::test]
    async fn answers_other_than_the_media_and_long_bodies_are_errors() {
        let addr = server().await;
        let text = unavailable(local().open(&format!("http://{addr}/missing")).await);
        assert_eq!(text, "MediaUrl: the server answered 404 Not Found");
        let small = media_with(|c| {
            c.web_media_allow = vec!["127.0.0.1".into()];
            c.web_media_max_bytes = 4999;
        });
        match small.open(&format!("http://{addr}/big")).await {
            Err(SpeakerError::BadMedia(text)) => {
                assert!(text.contains("speakers.web_media_max_bytes"), "{text}");
            }
            other => panic!("{:?}", other.err()),
        }
        let exact = media_with(|c| {
            c.web_media_allow = vec!["127.0.0.1".into()];
            c.web_media_max_bytes = 5000;
        });
        let download = exact.open(&format!("http://{addr}/big")).await.unwrap();
        assert_eq!(body(download).await.unwrap().len(), 5000);
        // Without a length, the download ends with an error past the limit.
        let download = small.open(&format!("http://{addr}/chunked")).await.unwrap();
        let err = body(download).await.unwrap_err();
        assert!(
            err.to_string().contains("speakers.web_media_max_bytes"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_server_that_never_answers_is_unreachable_in_time() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let web = media_with(|c| {
            c.web_media_allow = vec!["127.0.0.1".into()];
            c.web_media_timeout_ms = 300;
        });
        let started = Instant::now();
        let text = unavailable(web.open(&format!("http://{addr}/song.mp3")).await);
        assert_eq!(text, UNREACHABLE);
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
