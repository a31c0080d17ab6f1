//! The OAuth2 endpoints: token (`/oauth/token`, and `/api/v1/oauth/token` as the VocaliD
//! contract has it), revoke (RFC 7009), introspect (RFC 7662) and metadata (RFC 8414).

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HeaderValue, PRAGMA};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::ClientIp;
use crate::identity::oauth::presented_client;
use crate::identity::oauth_error::OAuthError;
use crate::identity::scopes::Scope;
use crate::identity::token_request::TokenRequest;
use crate::state::AppState;

/// An `application/x-www-form-urlencoded` body; a parameter given twice is `invalid_request`.
pub struct OAuthForm(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequest<S> for OAuthForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(OAuthError::InvalidRequest(
                "send the parameters as application/x-www-form-urlencoded".into(),
            )
            .into());
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(ApiError::from)?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).map_err(|_| {
            ApiError::from(OAuthError::InvalidRequest(
                "the form body is malformed".into(),
            ))
        })?;
        let mut form = HashMap::new();
        for (name, value) in pairs {
            if form.insert(name.clone(), value).is_some() {
                return Err(OAuthError::InvalidRequest(format!(
                    "the parameter {name} is given more than once"
                ))
                .into());
            }
        }
        Ok(Self(form))
    }
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok())
}

async fn token(
    state: AppState,
    ip: std::net::IpAddr,
    headers: HeaderMap,
    form: HashMap<String, String>,
) -> Result<Response, ApiError> {
    let client = presented_client(authorization(&headers), &form)?;
    let request = TokenRequest::from_form(&form)?;
    let answer = state.identity.token(ip, &client, request).await?;
    Ok(no_store(Json(answer).into_response()))
}

/// The token endpoint: `grant_type` = `client_credentials`, `authorization_code` (with
/// `code_verifier` when the code was issued with a challenge), `password` (clients allowed it
/// only) or `refresh_token`. Client authentication by HTTP Basic or `client_id`/`client_secret`
/// in the body, not both.
#[utoipa::path(post, path = "/oauth/token", tag = "oauth", security(("client" = [])),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "grant_type, scope, username, password, refresh_token, code, redirect_uri, code_verifier"),
    responses(
        (status = 200, description = "`{access_token, token_type, expires_in, refresh_token?, scope}`"),
        (status = 400, description = "RFC 6749 error: invalid_request, invalid_grant, unauthorized_client, unsupported_grant_type, invalid_scope", body = ErrorBody),
        (status = 401, description = "invalid_client", body = ErrorBody)))]
pub async fn oauth_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm,
) -> Result<Response, ApiError> {
    token(state, ip, headers, form).await
}

/// The token endpoint at the VocaliD contract's path.
#[utoipa::path(post, path = "/api/v1/oauth/token", tag = "oauth", security(("client" = [])),
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "As /oauth/token"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn vocalid_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm,
) -> Result<Response, ApiError> {
    token(state, ip, headers, form).await
}

async fn revoke(
    state: AppState,
    ip: std::net::IpAddr,
    headers: HeaderMap,
    form: HashMap<String, String>,
) -> Result<Response, ApiError> {
    let client = presented_client(authorization(&headers), &form)?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::InvalidRequest("token is required".into()))?;
    state.identity.revoke(ip, &client, token).await?;
    Ok(no_store(StatusCode::OK.into_response()))
}

/// RFC 7009 revocation: a refresh token (with its whole family) or an access token. 200 for
/// unknown tokens too; `token_type_hint` is optional and not needed.
#[utoipa::path(post, path = "/oauth/revoke", tag = "oauth", security(("client" = [])),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "token, token_type_hint"),
    responses((status = 200, description = "Revoked (or unknown)"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn oauth_revoke(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm,
) -> Result<Response, ApiError> {
    revoke(state, ip, headers, form).await
}

/// Revocation at the VocaliD contract's path.
#[utoipa::path(post, path = "/api/v1/oauth/revoke", tag = "oauth", security(("client" = [])),
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Revoked (or unknown)"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn vocalid_revoke(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm,
) -> Result<Response, ApiError> {
    revoke(state, ip, headers, form).await
}

async fn introspect(
    state: AppState,
    ip: std::net::IpAddr,
    headers: HeaderMap,
    form: HashMap<String, String>,
) -> Result<Response, ApiError> {
    let client = presented_client(authorization(&headers), &form)?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::InvalidRequest("token is required".into()))?;
    let answer = state.identity.introspect(ip, &client, token).await?;
    Ok(no_store(Json(answer).into_response()))
}

/// RFC 7662 introspection: `{"active": false}` and nothing else for expired, revoked, unknown or
/// other clients' tokens; the standard fields for active ones.
#[utoipa::path(post, path = "/oauth/introspect", tag = "oauth", security(("client" = [])),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "token, token_type_hint"),
    responses((status = 200, description = "`{active, …}`"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn oauth_introspect(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm,
) -> Result<Response, ApiError> {
    introspect(state, ip, headers, form).await
}

/// Introspection at the VocaliD contract's path.
#[utoipa::path(post, path = "/api/v1/oauth/introspect", tag = "oauth", security(("client" = [])),
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "`{active, …}`"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn vocalid_introspect(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm,
) -> Result<Response, ApiError> {
    introspect(state, ip, headers, form).await
}

/// RFC 8414 authorization-server metadata.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth",
    responses((status = 200, description = "The metadata")))]
pub async fn metadata(State(state): State<AppState>) -> Json<Value> {
    let issuer = state.config.public_url();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "code_challenge_methods_supported": ["S256"],
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "grant_types_supported": ["authorization_code", "client_credentials", "password", "refresh_token"],
        "response_types_supported": ["code"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": Scope::ALL,
    }))
}
