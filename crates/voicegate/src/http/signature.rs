//! HMAC-signed requests at the edge: when `Authorization` is a signature header, the body is read
//! (within the JSON body limit), the signature verified, and the verified principal handed to the
//! extractors; the handler then reads the same body as usual.

use std::net::SocketAddr;

use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::app::AppState;
use crate::http::error::ApiError;
use crate::identity::signatures::is_signature_header;
use crate::identity::{Principal, SignedRequest};

/// A principal proven by a request signature, for [`crate::http::auth::Authenticated`].
#[derive(Debug, Clone)]
pub struct SignedPrincipal(pub Principal);

#[derive(Deserialize)]
struct ApiKeyParam {
    api_key: Option<String>,
}

/// The `api_key` parameter: from the query, else a JSON body's `api_key`, else a form's `data`
/// field holding JSON with `api_key`.
fn api_key_of(query: &str, body: &[u8]) -> Option<String> {
    if let Ok(ApiKeyParam { api_key: Some(key) }) = serde_urlencoded::from_str::<ApiKeyParam>(query)
    {
        return Some(key);
    }
    if let Ok(ApiKeyParam { api_key: Some(key) }) = serde_json::from_slice::<ApiKeyParam>(body) {
        return Some(key);
    }
    #[derive(Deserialize)]
    struct DataField {
        data: String,
    }
    let form: DataField = serde_urlencoded::from_bytes(body).ok()?;
    serde_json::from_str::<ApiKeyParam>(&form.data)
        .ok()?
        .api_key
}

/// The `api_key` inside the `data` field of a multipart form (the contract's recording upload).
async fn multipart_api_key(content_type: &str, body: &axum::body::Bytes) -> Option<String> {
    // multer directly: the body is already within the route's limit, and axum's extractor would
    // apply its own 2 MB default to this rebuilt request.
    let boundary = multer::parse_boundary(content_type).ok()?;
    let body = body.clone();
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some("data") {
            let text = field.text().await.ok()?;
            return serde_json::from_str::<ApiKeyParam>(&text).ok()?.api_key;
        }
    }
    None
}

/// Verifies signed requests; passes every other request through untouched.
pub async fn verify_signed_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let signed = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_signature_header);
    if !signed {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let limit = if parts.uri.path() == crate::voices::routes::RECORDING_PATH {
        state.config.voices.max_upload_bytes
    } else {
        state.config.http.json_body_limit
    };
    let body = match to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::from_status(axum::http::StatusCode::PAYLOAD_TOO_LARGE)
                .into_response();
        }
    };
    let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>().copied() else {
        return ApiError::internal().into_response();
    };
    let query = parts.uri.query().unwrap_or("");
    let content_type = parts
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let api_key = match api_key_of(query, &body) {
        Some(key) => Some(key),
        None => multipart_api_key(content_type, &body).await,
    };
    let authorization = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let signed_request = SignedRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query,
        body: &body,
        authorization,
        api_key: api_key.as_deref(),
    };
    match state
        .identity
        .authenticate_signed(peer.ip(), &signed_request)
        .await
    {
        Ok(principal) => {
            parts.extensions.insert(SignedPrincipal(principal));
            next.run(Request::from_parts(parts, Body::from(body))).await
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}
