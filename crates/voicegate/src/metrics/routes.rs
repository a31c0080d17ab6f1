//! `GET /metrics`: the server's metrics for Prometheus. Open to a client on this machine that
//! came straight to the server; anybody else (a remote client, or any request a proxy forwarded)
//! needs a token with the `admin` scope.

use axum::extract::{FromRequestParts, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::http::auth::Authorized;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::ClientIp;
use crate::identity::scopes::AdminScope;
use crate::metrics::registry;
use crate::state::AppState;

/// Headers a proxy adds to say whom it forwards for. A request carrying one came through a proxy
/// (or says it did), so it is never taken for a local client.
const FORWARDING_HEADERS: [&str; 3] = ["x-forwarded-for", "forwarded", "x-real-ip"];

/// Whether the request comes from this machine, straight: its client address (behind a trusted
/// proxy, the forwarded client) is loopback and no proxy forwarded it.
fn from_this_machine(parts: &Parts) -> bool {
    let loopback =
        ClientIp::of(&parts.extensions).is_some_and(|ClientIp(ip)| ip.to_canonical().is_loopback());
    loopback && !forwarded(&parts.headers)
}

fn forwarded(headers: &HeaderMap) -> bool {
    FORWARDING_HEADERS
        .iter()
        .any(|name| headers.contains_key(*name))
}

/// The server's metrics in Prometheus's text exposition format (version 0.0.4): requests by
/// route template and status, request times, the bus and Snapcast connections, the job queue,
/// syntheses, event streams and the process's memory (the names are listed in
/// `docs/metrics.md`). No credential is needed from this machine (a loopback client that no
/// proxy forwarded); from anywhere else a token with the `admin` scope. 404 while
/// `metrics.enabled` is false.
#[utoipa::path(get, path = "/metrics", tag = "meta",
    security((), ("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The metrics, in the text exposition format",
         content_type = "text/plain; version=0.0.4; charset=utf-8", body = String),
        (status = 401, description = "Not from this machine, and no valid token", body = ErrorBody),
        (status = 403, description = "Not from this machine, and the token lacks `admin`", body = ErrorBody),
        (status = 404, description = "Metrics are turned off (`metrics.enabled = false`)", body = ErrorBody)))]
pub async fn metrics(
    State(state): State<AppState>,
    mut parts: Parts,
) -> Result<Response, ApiError> {
    let Some(metrics) = state.metrics.as_ref() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "metrics are turned off (metrics.enabled = false)",
        ));
    };
    if !from_this_machine(&parts) {
        Authorized::<AdminScope>::from_request_parts(&mut parts, &state).await?;
    }
    let text = metrics.render().await;
    Ok(([(CONTENT_TYPE, registry::CONTENT_TYPE)], text).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::client_addr::ClientAddr;

    fn parts(client: &str, headers: &[(&str, &str)]) -> Parts {
        let mut request = axum::http::Request::builder().uri("/metrics");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        parts.extensions.insert(ClientAddr(client.parse().unwrap()));
        parts
    }

    #[test]
    fn only_a_direct_loopback_client_is_local() {
        assert!(from_this_machine(&parts("127.0.0.1", &[])));
        assert!(from_this_machine(&parts("::1", &[])));
        assert!(from_this_machine(&parts("::ffff:127.0.0.1", &[])));
        assert!(!from_this_machine(&parts("192.0.2.7", &[])));
        for header in FORWARDING_HEADERS {
            let forwarded = parts("127.0.0.1", &[(header, "127.0.0.1")]);
            assert!(!from_this_machine(&forwarded), "{header}");
        }
        let (without_address, ()) = axum::http::Request::new(()).into_parts();
        assert!(!from_this_machine(&without_address));
    }
}
