//! Error dialects: the shape an error answer takes on a route group. One [`ApiError`] is written
//! plain (`{"error","detail"}`), as OAuth 2.0 wants it (RFC 6749 §5.2), as the HK Omni speakers
//! API answers (`{"Result":"false",…}`) or as the Snips console does. The dialect is chosen where
//! the routes are declared ([`rewrite`] on the group in the router), never by the handler.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::http::error::{ApiError, RenderedError};

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
    /// The error's body in this dialect.
    pub fn body(self, error: &ApiError) -> Value {
        let (code, detail) = (error.code(), error.detail());
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

/// Writes a route group's error answers in its dialect: a response layer,
/// `middleware::map_response_with_state(dialect, rewrite)`, that the router puts on the group.
/// Answers that are not errors pass untouched.
pub async fn rewrite(State(dialect): State<Dialect>, response: Response) -> Response {
    match response.extensions().get::<RenderedError>() {
        Some(RenderedError(error)) if dialect != Dialect::Plain => {
            let error = error.clone();
            let mut rewritten = error.render(dialect);
            rewritten.extensions_mut().insert(RenderedError(error));
            rewritten
        }
        _ => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn one_error_in_every_dialect() {
        let error = ApiError::new(StatusCode::BAD_REQUEST, "bad_request", "volume: 0 to 50");
        assert_eq!(
            Dialect::Plain.body(&error),
            json!({"error": "bad_request", "detail": "volume: 0 to 50"})
        );
        assert_eq!(
            Dialect::OAuth.body(&error)["error_description"],
            "volume: 0 to 50"
        );
        assert_eq!(
            Dialect::HkOmni.body(&error),
            json!({"Result": "false", "error": "bad_request", "detail": "volume: 0 to 50"})
        );
        assert_eq!(
            Dialect::SnipsConsole.body(&error)["message"],
            "volume: 0 to 50"
        );
        let oauth = error.render(Dialect::OAuth);
        assert_eq!(oauth.status(), StatusCode::BAD_REQUEST);
        assert_eq!(oauth.headers()[header::CACHE_CONTROL], "no-store");
        assert!(
            !error
                .render(Dialect::Plain)
                .headers()
                .contains_key(header::CACHE_CONTROL)
        );
    }
}
