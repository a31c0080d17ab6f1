//! The Snips console login flow: `POST /v1/user/auth` answers a short-lived token in the
//! `authorization` response header; `POST /v1/user/{userId}/accesstoken` turns it into a named
//! (alias) token that later requests send as `Authorization: JWT <token>`; `GET` or `DELETE
//! /v1/user/{userId}/accesstoken/{alias}` logs out by deleting that token.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::auth::Authenticated;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, ClientIp};
use crate::identity::error::IdentityError;
use crate::identity::model::Principal;
use crate::ids::UserId;
use crate::secret::Secret;
use crate::state::AppState;

/// The console login body.
#[derive(Deserialize, ToSchema)]
pub struct ConsoleLogin {
    /// E-mail address (or user name).
    pub email: String,
    /// Password.
    #[schema(value_type = String)]
    pub password: Secret,
}

/// The logged-in user.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsoleUser {
    /// User id, used in the alias-token paths.
    pub id: String,
    /// E-mail address (the user name when none is set).
    pub email: String,
}

/// The console login answer; the token itself is in the `authorization` header.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsoleLoginResponse {
    /// The user.
    pub user: ConsoleUser,
}

/// An alias to create.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AliasRequest {
    /// Name of the token: 1 to 64 letters, digits, `-`, `_` or `.`.
    pub alias: String,
}

/// A named token, shown once. `Debug` hides it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AliasToken {
    /// The token, for `Authorization: JWT <token>`.
    #[schema(value_type = String)]
    pub token: Secret,
    /// Its name.
    pub alias: String,
}

/// The answer to an alias creation.
#[derive(Debug, Serialize, ToSchema)]
pub struct AliasTokenResponse {
    /// The token and its alias.
    pub token: AliasToken,
}

/// The path's user id.
fn user_id_of(path: &str) -> Result<UserId, ApiError> {
    path.parse()
        .map(UserId::new)
        .map_err(|_| ApiError::from(IdentityError::UserNotFound(path.to_string())))
}

/// Logs in with an e-mail address (or user name) and password. The answer's `authorization`
/// header holds `JWT <token>`, a short-lived token for creating an alias token.
#[utoipa::path(extensions(("x-credential" = json!("password"))), post, path = "/v1/user/auth", tag = "console", request_body = ConsoleLogin,
    responses(
        (status = 200, description = "Logged in; the token is in the authorization header", body = ConsoleLoginResponse,
         headers(("authorization" = String, description = "JWT <short-lived token>"))),
        (status = 401, description = "Invalid e-mail or password", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody), (status = 422, description = "Missing or invalid field", body = ErrorBody),
        (status = 429, description = "Too many attempts; see Retry-After", body = ErrorBody)))]
pub async fn console_login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<ConsoleLogin>,
) -> Result<Response, ApiError> {
    let (user, token) = state
        .identity
        .console_login(ip, &body.email, body.password.expose())
        .await?;
    let answer = ConsoleLoginResponse {
        user: ConsoleUser {
            id: user.id.to_string(),
            email: user.email.unwrap_or(user.name),
        },
    };
    let mut response = Json(answer).into_response();
    let header =
        HeaderValue::from_str(&format!("JWT {token}")).map_err(|_| ApiError::internal())?;
    response.headers_mut().insert(AUTHORIZATION, header);
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Creates a named (alias) token for the user, with the scopes of the presenting token.
#[utoipa::path(post, path = "/v1/user/{user_id}/accesstoken", tag = "console", request_body = AliasRequest,
    params(("user_id" = String, Path, description = "User id from the login answer")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; the token is shown once", body = AliasTokenResponse),
        (status = 401, body = ErrorBody), (status = 403, description = "Another user's id", body = ErrorBody),
        (status = 404, description = "An administrator names a user that does not exist", body = ErrorBody),
        (status = 409, description = "The alias exists", body = ErrorBody), (status = 415, description = "Not JSON", body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, description = "The user has quotas.named_tokens_per_user named tokens", body = ErrorBody)))]
pub async fn create_alias(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(user_id): Path<String>,
    ApiJson(body): ApiJson<AliasRequest>,
) -> Result<Response, ApiError> {
    let token = state
        .identity
        .mint_alias(&principal, user_id_of(&user_id)?, &body.alias)
        .await?;
    let answer = AliasTokenResponse {
        token: AliasToken {
            token,
            alias: body.alias,
        },
    };
    let mut response = (StatusCode::CREATED, Json(answer)).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

async fn delete_alias(
    state: &AppState,
    principal: &Principal,
    user_id: &str,
    alias: &str,
) -> Result<StatusCode, ApiError> {
    state
        .identity
        .revoke_alias(principal, user_id_of(user_id)?, alias)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Logs out: deletes the alias and its token (the console's own logout uses GET).
#[utoipa::path(get, path = "/v1/user/{user_id}/accesstoken/{alias}", tag = "console",
    params(("user_id" = String, Path, description = "User id"), ("alias" = String, Path, description = "Token alias")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((user_id, alias)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    delete_alias(&state, &principal, &user_id, &alias).await
}

/// Deletes the alias and its token.
#[utoipa::path(delete, path = "/v1/user/{user_id}/accesstoken/{alias}", tag = "console",
    params(("user_id" = String, Path, description = "User id"), ("alias" = String, Path, description = "Token alias")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_alias(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((user_id, alias)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    delete_alias(&state, &principal, &user_id, &alias).await
}
