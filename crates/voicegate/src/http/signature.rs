//! HMAC-signed requests at the edge: when `Authorization` is a signature header, the caller's
//! failure budget, the header, its timestamp and a key named in the query are checked first; then
//! the body is read once (within the route group's limit), its parameters parsed (the key id, `api_key`, may be in
//! the query or the body), the signature verified over the raw bytes, and the verified principal
//! and the parsed parameters handed to the extractors, so that nothing reads the body again.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::error::ApiError;
use crate::http::extract::ClientIp;
use crate::http::params::{Params, ParsedParams};
use crate::identity::IdentityService;
use crate::identity::signatures::is_signature_header;
use crate::identity::{Principal, SignedRequest};

/// A principal proven by a request signature, for [`crate::http::auth::Authenticated`].
#[derive(Debug, Clone)]
pub struct SignedPrincipal(pub Principal);

/// What the signature layer of a route group needs: identity, and the group's body limit.
#[derive(Clone)]
pub struct SignatureCheck {
    /// Identity, which verifies.
    pub identity: Arc<IdentityService>,
    /// The route group's body limit, in bytes.
    pub body_limit: usize,
}

/// Verifies signed requests; passes every other request through untouched.
pub async fn verify_signed_requests(
    State(check): State<SignatureCheck>,
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
    match verify(&check, request).await {
        Ok(request) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

/// The `api_key` of a query string.
fn query_api_key(query: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct ApiKey {
        api_key: Option<String>,
    }
    serde_urlencoded::from_str::<ApiKey>(query).ok()?.api_key
}

async fn verify(check: &SignatureCheck, request: Request) -> Result<Request, ApiError> {
    let (mut parts, body) = request.into_parts();
    let Some(ClientIp(client)) = ClientIp::of(&parts.extensions) else {
        return Err(ApiError::internal());
    };
    let query = parts.uri.query().unwrap_or("");
    let authorization = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let query_key = query_api_key(query);
    let admission = check
        .identity
        .admit_signed(client, authorization, query_key.as_deref())
        .await?;
    let body = to_bytes(body, check.body_limit)
        .await
        .map_err(|_| ApiError::payload_too_large())?;
    // A body is parsed here, once, and handed on parsed; a request without one (most signed
    // GETs) only needs its query's `api_key`, and its handler reads the query itself.
    let params = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(Params::read(&parts, body.clone()).await?)
    };
    let api_key = match &params {
        Some(params) => params.text("api_key").ok().flatten().map(str::to_string),
        None => query_key,
    };
    let signed_request = SignedRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query,
        body: &body,
        authorization,
        api_key: api_key.as_deref(),
    };
    let principal = check
        .identity
        .authenticate_signed(admission, &signed_request)
        .await?;
    parts.extensions.insert(SignedPrincipal(principal));
    if let Some(params) = params {
        parts.extensions.insert(ParsedParams(Arc::new(params)));
    }
    Ok(Request::from_parts(parts, Body::from(body)))
}
