//! Authentication extractors: a verified access token ([`Authenticated`]) and a raw bearer token
//! ([`BearerToken`], for the refresh route).

use axum::extract::FromRequestParts;
use axum::http::HeaderValue;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::http::cookies::cookie_value;
use crate::http::error::ApiError;
use crate::http::signature::SignedPrincipal;
use crate::identity::scopes::RequiredScope;
use crate::identity::web_sessions::csrf_matches;
use crate::identity::{IdentityError, Principal};
use crate::state::AppState;

/// The token of an `Authorization: Bearer <token>` (or `JWT <token>`) header. Tokens are accepted only there (never
/// in the query string or body). `Debug` hides the token.
#[derive(Clone)]
pub struct BearerToken(pub String);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken([redacted])")
    }
}

impl<S: Send + Sync> FromRequestParts<S> for BearerToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            return Err(IdentityError::MissingCredentials.into());
        };
        Ok(Self(bearer_token(value)?.to_string()))
    }
}

/// The token of an `Authorization` value `Bearer <token>` or `JWT <token>` (the scheme in any
/// case; the Snips console's scheme for the same tokens is `JWT`), without the white space around
/// it. Anything else, or no token, is [`IdentityError::InvalidToken`].
pub fn bearer_token(value: &HeaderValue) -> Result<&str, IdentityError> {
    let value = value.to_str().map_err(|_| IdentityError::InvalidToken)?;
    let (scheme, token) = value.split_once(' ').ok_or(IdentityError::InvalidToken)?;
    let token = token.trim();
    let known_scheme = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("jwt");
    if !known_scheme || token.is_empty() {
        return Err(IdentityError::InvalidToken);
    }
    Ok(token)
}

/// The principal of a request that carried a valid access token, named token or signature.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(SignedPrincipal(principal)) = parts.extensions.get::<SignedPrincipal>() {
            return Ok(Self(principal.clone()));
        }
        if !parts.headers.contains_key(AUTHORIZATION)
            && let Some(session) = cookie_value(&parts.headers, SESSION_COOKIE)
        {
            return Ok(Self(web_session(parts, state, session).await?));
        }
        let BearerToken(token) = BearerToken::from_request_parts(parts, state).await?;
        Ok(Self(state.identity.authenticate(&token).await?))
    }
}

/// The web console's session cookie.
pub const SESSION_COOKIE: &str = "vg_session";

/// The header in which every request made with the session cookie carries the session's CSRF
/// token (the console's pages read it from their `csrf-token` meta element).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The principal of a web console session: the cookie must come with the session's CSRF token
/// in [`CSRF_HEADER`], on every method (a cross-site page can make the browser send the cookie,
/// never the header).
async fn web_session(
    parts: &Parts,
    state: &AppState,
    session: &str,
) -> Result<Principal, ApiError> {
    let presented = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !csrf_matches(session, presented) {
        return Err(IdentityError::CsrfMismatch.into());
    }
    Ok(state
        .identity
        .authenticate_web(session, &state.config.web)
        .await?)
}

/// The principal of a request whose token grants scope `S`: checked before the body is read, so
/// a token without the scope gets 403 whatever it sends.
pub struct Authorized<S>(pub Principal, pub std::marker::PhantomData<S>);

impl<S: RequiredScope> FromRequestParts<AppState> for Authorized<S> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Authenticated(principal) = Authenticated::from_request_parts(parts, state).await?;
        principal.require_scope(S::SCOPE)?;
        Ok(Self(principal, std::marker::PhantomData))
    }
}
