//! A request id on every request: the client's `X-Request-Id` when it is a sane token, a new one
//! otherwise; echoed on the answer and carried by the request's span, so that every log line of
//! the request names it.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The header that carries the id, both ways.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A request's id, for handlers that want to name it.
#[derive(Debug, Clone)]
pub struct RequestId(pub HeaderValue);

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

/// The middleware: takes or makes the id, runs the request in a span that carries it, logs the
/// answer's status at debug level, and sets the id on the answer.
pub async fn request_id(mut request: Request, next: Next) -> Response {
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
    request.extensions_mut().insert(RequestId(id.clone()));
    let answered = span.clone();
    let mut response = next.run(request).instrument(span).await;
    answered.in_scope(|| tracing::debug!(status = response.status().as_u16(), "answered"));
    response.headers_mut().insert(REQUEST_ID.clone(), id);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

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
