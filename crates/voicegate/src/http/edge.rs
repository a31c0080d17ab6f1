//! What every request goes through first, in one layer: a request id (the client's
//! `X-Request-Id` when it is a sane token, a new one otherwise) echoed on the answer and carried by
//! the request's span, so that every log line of the request names it; the request timeout; and
//! the JSON shape for error answers that no handler shaped (the router's 404 and 405); and, with
//! metrics on, the request's count and time under its route's template. It runs after routing
//! (it is a layer of every route and of the fallback), so the matched route is known.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::http::error::ApiError;
use crate::metrics::http::{HttpMeasures, MethodLabel};

/// The header that carries the id, both ways.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest id accepted from a client.
const MAX_LEN: usize = 128;

/// This process's prefix: new ids are `<prefix>-<counter>`, unique across restarts and instances
/// without a random draw per request.
static PREFIX: LazyLock<String> = LazyLock::new(|| crate::ids::new_hex_id()[..12].to_string());
static COUNTER: AtomicU64 = AtomicU64::new(1);

/// Whether a client's id can be logged and echoed as it is: 1 to 128 visible ASCII characters
/// of `A-Z a-z 0-9 - _ . : / + =` (no spaces, quotes or control characters to forge log lines).
fn acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=".contains(b))
}

fn new_id() -> HeaderValue {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    HeaderValue::try_from(format!("{}-{n:x}", *PREFIX)).expect("hex digits and a dash")
}

/// What the layer needs: the request timeout, and the request instruments while metrics are on.
#[derive(Debug, Clone)]
pub struct EdgeSettings {
    /// `http.request_timeout_secs`.
    pub timeout: Duration,
    /// Where requests are counted and timed.
    pub measures: Option<Arc<HttpMeasures>>,
}

/// The layer: takes or makes the request id and runs the request in a span that carries it,
/// answers 503 when the handler has not produced its response within `timeout` (a streaming
/// body, server-sent events or audio, is not cut: the limit covers the response head), gives a
/// bare error answer the JSON shape, counts and times the request, logs the status at debug
/// level and sets the id on the answer.
pub async fn edge(
    State(settings): State<Arc<EdgeSettings>>,
    request: Request,
    next: Next,
) -> Response {
    let measured = settings.measures.as_ref().map(|_| {
        let route = request.extensions().get::<MatchedPath>().cloned();
        (Instant::now(), MethodLabel::of(request.method()), route)
    });
    let response = answer(settings.timeout, request, next).await;
    if let (Some(measures), Some((started, method, route))) = (&settings.measures, measured) {
        measures.observe(method, route, response.status(), started.elapsed());
    }
    response
}

/// The request's answer, with its id.
async fn answer(timeout: Duration, request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .filter(|v| acceptable(v))
        .cloned()
        .unwrap_or_else(new_id);
    // The id and the path print as they are: the id is checked above, a path is percent-encoded.
    let span = tracing::info_span!(
        "request",
        id = %id.to_str().unwrap_or_default(),
        method = %request.method(),
        path = %request.uri().path(),
    );
    let answered = span.clone();
    if has_encoded_nul(request.uri()) {
        let refused = ApiError::bad_request("the URL holds a NUL character (%00)").into_response();
        return finish(refused, id, &answered);
    }
    let response = match tokio::time::timeout(timeout, next.run(request).instrument(span)).await {
        Ok(response) => json_errors(response).await,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took longer than the configured request timeout",
        )
        .into_response(),
    };
    finish(response, id, &answered)
}

/// Logs the status and sets the request id on the answer.
fn finish(mut response: Response, id: HeaderValue, span: &tracing::Span) -> Response {
    span.in_scope(|| tracing::debug!(status = response.status().as_u16(), "answered"));
    response.headers_mut().insert(REQUEST_ID.clone(), id);
    response
}

/// Whether the path or query holds `%00`: no name, id or value has a NUL character, and some
/// stores (PostgreSQL's text) cannot even hold one.
fn has_encoded_nul(uri: &axum::http::Uri) -> bool {
    let bytes = uri
        .path_and_query()
        .map_or(&b""[..], |pq| pq.as_str().as_bytes());
    bytes
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
}

/// Most of an extractor's plain-text rejection that is kept as the error's detail.
const MAX_REJECTION_TEXT: usize = 4096;

/// Gives an error answer that no handler shaped the JSON error shape, keeping its headers
/// (`Allow`, …): the router's empty 404 and 405, a body-limit 413, and the plain-text rejections
/// of axum's own extractors (a path segment that is not UTF-8), whose text becomes the detail.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let plain_text = match response.headers().get(CONTENT_TYPE) {
        None => false,
        Some(value) if value.as_bytes().starts_with(b"text/plain") => true,
        Some(_) => return response,
    };
    let (parts, body) = response.into_parts();
    let mut error = ApiError::from_status(status);
    if plain_text && let Ok(bytes) = axum::body::to_bytes(body, MAX_REJECTION_TEXT).await {
        let text = String::from_utf8_lossy(&bytes);
        if !text.trim().is_empty() {
            error = ApiError::new(status, error.code(), text.trim());
        }
    }
    let mut shaped = error.into_response();
    for (name, value) in &parts.headers {
        if name != CONTENT_TYPE && name != CONTENT_LENGTH {
            shaped.headers_mut().insert(name, value.clone());
        }
    }
    shaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoded_nul_anywhere_in_the_url_is_found() {
        for (uri, nul) in [
            ("/v3/assistant/a%00b/status", true),
            ("/x?name=%00", true),
            ("/x?name=a%2500", false),
            ("/x?name=100%25", false),
            ("/v1/skills", false),
        ] {
            let uri: axum::http::Uri = uri.parse().unwrap();
            assert_eq!(has_encoded_nul(&uri), nul, "{uri}");
        }
    }

    #[test]
    fn sane_ids_are_kept_and_others_replaced() {
        for good in [
            "abc-123",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            "req_1.2:3/4+5=",
        ] {
            assert!(acceptable(&HeaderValue::from_static(good)), "{good}");
        }
        let long = "a".repeat(MAX_LEN + 1);
        for bad in ["", "a b", "x\"y", "a\tb", "ü"] {
            let value = HeaderValue::from_bytes(bad.as_bytes()).unwrap();
            assert!(!acceptable(&value), "{bad:?}");
        }
        assert!(!acceptable(&HeaderValue::from_str(&long).unwrap()));
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert!(acceptable(&a));
    }
}
