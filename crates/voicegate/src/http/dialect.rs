//! Error dialects: the shape an error answer takes on a route group. One [`ApiError`] is written
//! plain (`{"error","detail"}`), as OAuth 2.0 wants it (RFC 6749 §5.2), as the HK Omni speakers
//! API answers (`{"Result":"false",…}`) or as the Snips console does. The dialect is chosen where
//! the routes are declared (`http::error::in_dialect` on the group in the router), never by
//! the handler.

use axum::http::{HeaderMap, HeaderValue, header};
use serde_json::{Value, json};

/// The shape of error answers on a route group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `{"error": code, "detail": text}`: every route unless its group says otherwise.
    Plain,
    /// RFC 6749 §5.2: `error` and `error_description` (and `detail`, as everywhere), never
    /// cached.
    OAuth,
    /// The HK Omni speakers API: `{"Result": "false", "error": code, "detail": text}`, its
    /// successes being `{"Result": "true"}`.
    HkOmni,
    /// The Snips console: `{"error": code, "detail": text, "message": text}` (its clients print
    /// `message`).
    SnipsConsole,
}

impl Dialect {
    /// An error's body in this dialect: its machine-readable `code` and human `detail`.
    pub fn body(self, code: &str, detail: &str) -> Value {
        match self {
            Dialect::Plain => json!({ "error": code, "detail": detail }),
            Dialect::OAuth => {
                json!({ "error": code, "error_description": detail, "detail": detail })
            }
            Dialect::HkOmni => json!({ "Result": "false", "error": code, "detail": detail }),
            Dialect::SnipsConsole => json!({ "error": code, "detail": detail, "message": detail }),
        }
    }

    /// Headers the dialect adds to every error answer.
    pub fn headers(self, headers: &mut HeaderMap) {
        if self == Dialect::OAuth {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_error_in_every_dialect() {
        let (code, detail) = ("bad_request", "volume: 0 to 50");
        assert_eq!(
            Dialect::Plain.body(code, detail),
            json!({"error": "bad_request", "detail": "volume: 0 to 50"})
        );
        assert_eq!(
            Dialect::OAuth.body(code, detail),
            json!({"error": "bad_request", "error_description": "volume: 0 to 50", "detail": "volume: 0 to 50"})
        );
        assert_eq!(
            Dialect::HkOmni.body(code, detail),
            json!({"Result": "false", "error": "bad_request", "detail": "volume: 0 to 50"})
        );
        assert_eq!(
            Dialect::SnipsConsole.body(code, detail),
            json!({"error": "bad_request", "detail": "volume: 0 to 50", "message": "volume: 0 to 50"})
        );
        let mut headers = HeaderMap::new();
        Dialect::Plain.headers(&mut headers);
        assert!(headers.is_empty());
        Dialect::OAuth.headers(&mut headers);
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(headers[header::PRAGMA], "no-cache");
    }
}
