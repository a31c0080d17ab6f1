//! ovos-api authentication routes: `POST /v1/auth/tokens`, `GET /v1/auth/refresh`, and
//! `GET /v1/auth/me`.

use axum::Json;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::UnixTime;
use crate::http::auth::{Authenticated, Authorized, BearerToken};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, ClientIp};
use crate::identity::model::TokenPair;
use crate::identity::scopes::{ScopeSet, UserInfoScope};
use crate::secret::Secret;
use crate::state::AppState;

/// ovos-api login body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// User name.
    pub user: String,
    /// Password.
    #[schema(value_type = String)]
    pub password: Secret,
}

/// An access and a refresh token. `Debug` hides both.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokensResponse {
    /// JWT access token (HS256), for `Authorization: Bearer`.
    #[schema(value_type = String)]
    pub access_token: Secret,
    /// Opaque refresh token, for `GET /v1/auth/refresh`; single use.
    #[schema(value_type = String)]
    pub refresh_token: Secret,
}

impl From<TokenPair> for TokensResponse {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
        }
    }
}

/// Who the access token belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    /// User name.
    pub user: String,
    /// `user` or `admin`.
    pub role: String,
    /// Scopes the token grants.
    #[schema(value_type = Vec<String>)]
    pub scopes: ScopeSet,
    /// Token issue time, Unix seconds.
    pub issued_at: UnixTime,
    /// Token expiry, Unix seconds (null for a named token without expiry).
    pub expires_at: Option<UnixTime>,
}

fn no_store(pair: TokenPair) -> Response {
    let mut response = Json(TokensResponse::from(pair)).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Exchanges a user name and password for an access token and a refresh token.
#[utoipa::path(extensions(("x-credential" = json!("password"))), post, path = "/v1/auth/tokens", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Tokens created", body = TokensResponse),
        (status = 401, description = "Invalid user or password", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Missing or invalid field", body = ErrorBody),
        (status = 429, description = "Too many attempts; see Retry-After", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(user = %body.user))]
pub async fn tokens(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let pair = state
        .identity
        .login(ip, &body.user, body.password.expose())
        .await?;
    Ok(no_store(pair))
}

/// Exchanges a refresh token (sent as the Bearer token) for a new access token and a new refresh
/// token. The presented refresh token is spent; presenting it again revokes the whole chain.
#[utoipa::path(get, path = "/v1/auth/refresh", tag = "auth",
    security(("refresh_token" = [])),
    responses(
        (status = 200, description = "Tokens refreshed", body = TokensResponse),
        (status = 401, description = "Invalid, spent or expired refresh token", body = ErrorBody),
        (status = 429, description = "Too many attempts; see Retry-After", body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn refresh(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    BearerToken(token): BearerToken,
) -> Result<Response, ApiError> {
    let pair = state.identity.refresh(ip, &token).await?;
    Ok(no_store(pair))
}

/// Who the access token belongs to, its scopes and its expiry.
#[utoipa::path(get, path = "/v1/auth/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The token's principal", body = MeResponse),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody)))]
pub async fn me(Authenticated(principal): Authenticated) -> Json<MeResponse> {
    Json(MeResponse {
        user: principal.user,
        role: principal.role.as_str().to_string(),
        scopes: principal.scopes,
        issued_at: principal.issued_at,
        expires_at: principal.expires_at,
    })
}

/// The VocaliD user-info answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserInfo {
    /// The user's nickname: voicegate's user name.
    pub nickname: Option<String>,
}

/// The user's profile (VocaliD `user/info`).
#[utoipa::path(get, path = "/api/v1/external/user/info/", tag = "auth",
    security(("bearer" = ["user:info"])),
    responses(
        (status = 200, body = UserInfo),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token lacks user:info", body = ErrorBody)))]
pub async fn user_info(Authorized(principal, _): Authorized<UserInfoScope>) -> Json<UserInfo> {
    Json(UserInfo {
        nickname: Some(principal.user),
    })
}
