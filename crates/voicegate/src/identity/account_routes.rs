//! `/v1/account/*`: a user's own named tokens and API keys (list, make, revoke; from a password
//! sign-in only), and for the
//! `admin` scope `/v1/admin/users` and `/v1/admin/clients`. The web console's Account page
//! calls these; so can any client.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::auth::{Authenticated, Authorized};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::ApiJson;
use crate::identity::scopes::{AdminScope, ScopeSet};
use crate::secret::Secret;
use crate::state::AppState;

/// Longest lifetime a named token may be given here, in days.
const MAX_TOKEN_DAYS: i64 = 3650;

/// A named token as its user lists it (never the token).
#[derive(Debug, Serialize, ToSchema)]
pub struct OwnToken {
    /// Its name.
    pub alias: String,
    /// What it may do.
    #[schema(value_type = Vec<String>)]
    pub scopes: ScopeSet,
    /// Made, Unix seconds.
    pub created_at: i64,
    /// Expires, Unix seconds; null: until revoked.
    pub expires_at: Option<i64>,
}

/// Answer of `GET /v1/account/tokens`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OwnTokens {
    /// The caller's named tokens, by name.
    pub tokens: Vec<OwnToken>,
}

/// Body of `POST /v1/account/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewOwnToken {
    /// Its name: 1 to 64 letters, digits, `-`, `_` or `.`.
    pub alias: String,
    /// Scopes separated by spaces; default: all the caller holds.
    pub scopes: Option<String>,
    /// Lifetime in days (1 to 3650); default: until revoked.
    pub expires_in_days: Option<i64>,
}

/// Answer of `POST /v1/account/tokens`: the token, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct OwnTokenMade {
    /// Its name.
    pub alias: String,
    /// The token, for `Authorization: Bearer`.
    #[schema(value_type = String)]
    pub token: Secret,
    /// What it may do.
    #[schema(value_type = Vec<String>)]
    pub scopes: ScopeSet,
}

/// An API key as its user lists it (never the secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct OwnApiKey {
    /// Its public id.
    pub api_key: String,
    /// What it may do.
    #[schema(value_type = Vec<String>)]
    pub scopes: ScopeSet,
    /// Made, Unix seconds.
    pub created_at: i64,
}

/// Answer of `GET /v1/account/apikeys`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OwnApiKeys {
    /// The caller's API keys.
    pub api_keys: Vec<OwnApiKey>,
}

/// Body of `POST /v1/account/apikeys`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewOwnApiKey {
    /// Scopes separated by spaces; default: all the caller holds.
    pub scopes: Option<String>,
}

/// Answer of `POST /v1/account/apikeys`: the secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct OwnApiKeyMade {
    /// The public id (the `api_key` parameter of signed requests).
    pub api_key: String,
    /// The secret that signs requests.
    #[schema(value_type = String)]
    pub secret: Secret,
    /// What it may do.
    #[schema(value_type = Vec<String>)]
    pub scopes: ScopeSet,
}

fn created_no_store(body: impl Serialize) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The caller's named tokens.
#[utoipa::path(get, path = "/v1/account/tokens", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = OwnTokens), (status = 401, body = ErrorBody),
        (status = 403, description = "Not a password sign-in's credential", body = ErrorBody)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<OwnTokens>, ApiError> {
    let tokens = state.identity.own_named_tokens(&principal).await?;
    Ok(Json(OwnTokens {
        tokens: tokens
            .into_iter()
            .map(|t| OwnToken {
                alias: t.alias,
                scopes: t.scopes,
                created_at: t.created_at,
                expires_at: t.expires_at,
            })
            .collect(),
    }))
}

/// Makes a named token for the caller, from a password sign-in only (an access token of
/// `/v1/auth/tokens` or a console session), never with more scopes than it holds.
#[utoipa::path(post, path = "/v1/account/tokens", tag = "account", security(("bearer" = [])),
    request_body = NewOwnToken,
    responses((status = 201, body = OwnTokenMade),
        (status = 403, description = "Not a password sign-in's credential", body = ErrorBody),
        (status = 409, description = "A token of that name exists", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "A bad alias, scope or lifetime", body = ErrorBody),
        (status = 429, description = "quotas.named_tokens_per_user reached", body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<NewOwnToken>,
) -> Result<Response, ApiError> {
    let expires_in = match body.expires_in_days {
        None => None,
        Some(days) if (1..=MAX_TOKEN_DAYS).contains(&days) => Some(days * 86_400),
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                format!("expires_in_days must be from 1 to {MAX_TOKEN_DAYS}"),
            ));
        }
    };
    let (token, scopes) = state
        .identity
        .create_own_named_token(&principal, &body.alias, body.scopes.as_deref(), expires_in)
        .await?;
    Ok(created_no_store(OwnTokenMade {
        alias: body.alias,
        token,
        scopes,
    }))
}

/// Revokes one of the caller's named tokens.
#[utoipa::path(delete, path = "/v1/account/tokens/{alias}", tag = "account", security(("bearer" = [])),
    params(("alias" = String, Path, description = "The token's name")),
    responses((status = 204), (status = 403, description = "Not a password sign-in's credential", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(alias): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .identity
        .revoke_own_named_token(&principal, &alias)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's API keys.
#[utoipa::path(get, path = "/v1/account/apikeys", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = OwnApiKeys), (status = 401, body = ErrorBody),
        (status = 403, description = "Not a password sign-in's credential", body = ErrorBody)))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<OwnApiKeys>, ApiError> {
    let keys = state.identity.own_api_keys(&principal).await?;
    Ok(Json(OwnApiKeys {
        api_keys: keys
            .into_iter()
            .map(|k| OwnApiKey {
                api_key: k.api_key,
                scopes: k.scopes,
                created_at: k.created_at,
            })
            .collect(),
    }))
}

/// Makes an API key for the caller, from a password sign-in only, never with more scopes than
/// it holds.
#[utoipa::path(post, path = "/v1/account/apikeys", tag = "account", security(("bearer" = [])),
    request_body = NewOwnApiKey,
    responses((status = 201, body = OwnApiKeyMade),
        (status = 403, description = "Not a password sign-in's credential", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "A bad scope", body = ErrorBody),
        (status = 429, description = "quotas.api_keys_per_user reached", body = ErrorBody)))]
pub async fn create_api_key(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<NewOwnApiKey>,
) -> Result<Response, ApiError> {
    let (key, scopes) = state
        .identity
        .create_own_api_key(&principal, body.scopes.as_deref())
        .await?;
    Ok(created_no_store(OwnApiKeyMade {
        api_key: key.api_key,
        secret: key.secret,
        scopes,
    }))
}

/// Removes one of the caller's API keys.
#[utoipa::path(delete, path = "/v1/account/apikeys/{api_key}", tag = "account", security(("bearer" = [])),
    params(("api_key" = String, Path, description = "The key's public id")),
    responses((status = 204), (status = 403, description = "Not a password sign-in's credential", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_api_key(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(api_key): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .identity
        .remove_own_api_key(&principal, &api_key)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user as an administrator lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserEntry {
    /// Its name.
    pub name: String,
    /// `user` or `admin`.
    pub role: String,
    /// Whether it may sign in.
    pub active: bool,
    /// `local` or `users_db`.
    pub source: String,
    /// Made, Unix seconds.
    pub created_at: i64,
}

/// Answer of `GET /v1/admin/users`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    /// Every user, by name.
    pub users: Vec<UserEntry>,
}

/// Every user (the `admin` scope).
#[utoipa::path(get, path = "/v1/admin/users", tag = "account", security(("bearer" = ["admin"])),
    responses((status = 200, body = UserList), (status = 403, body = ErrorBody)))]
pub async fn list_users(
    State(state): State<AppState>,
    _: Authorized<AdminScope>,
) -> Result<Json<UserList>, ApiError> {
    let users = state.identity.list_users().await?;
    Ok(Json(UserList {
        users: users
            .into_iter()
            .map(|u| UserEntry {
                role: u.role.as_str().to_string(),
                source: u.source.as_str().to_string(),
                name: u.name,
                active: u.active,
                created_at: u.created_at,
            })
            .collect(),
    }))
}

/// An OAuth client as an administrator lists it (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientEntry {
    /// Its public id.
    pub client_id: String,
    /// Its name.
    pub name: String,
    /// The user it acts for.
    pub owner: String,
    /// Its grant types.
    pub grants: Vec<String>,
    /// Its redirect URIs.
    pub redirect_uris: Vec<String>,
    /// What it may be granted.
    #[schema(value_type = Vec<String>)]
    pub scopes: ScopeSet,
    /// `required` or `optional`.
    pub pkce: String,
}

/// Answer of `GET /v1/admin/clients`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientList {
    /// Every OAuth client.
    pub clients: Vec<ClientEntry>,
}

/// Every OAuth client (the `admin` scope).
#[utoipa::path(get, path = "/v1/admin/clients", tag = "account", security(("bearer" = ["admin"])),
    responses((status = 200, body = ClientList), (status = 403, body = ErrorBody)))]
pub async fn list_clients(
    State(state): State<AppState>,
    _: Authorized<AdminScope>,
) -> Result<Json<ClientList>, ApiError> {
    let clients = state.identity.list_clients().await?;
    Ok(Json(ClientList {
        clients: clients
            .into_iter()
            .map(|c| ClientEntry {
                client_id: c.client_id,
                name: c.name,
                owner: c.owner,
                grants: c.grants,
                redirect_uris: c.redirect_uris,
                scopes: c.scopes,
                pkce: c.pkce.as_str().to_string(),
            })
            .collect(),
    }))
}
