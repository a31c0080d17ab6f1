//! The authorization-code grant: validating `/oauth/authorize` requests, issuing single-use codes
//! after the user approves, and redeeming them at the token endpoint with PKCE S256 (or, for a
//! code issued without a challenge to a client allowed that, with the client's secret alone).

use std::collections::HashMap;
use std::net::IpAddr;

use crate::clock::UnixTime;
use crate::identity::error::IdentityError;
use crate::identity::oauth::TokenAnswer;
use crate::identity::oauth_error::OAuthError;
use crate::identity::oauth_repo::{ClientRow, CodeRow};
use crate::identity::opaque::token_hash;
use crate::identity::pkce::{PkcePolicy, s256_matches};
use crate::identity::scopes::{Scope, ScopeSet};
use crate::identity::service::IdentityService;
use crate::ids::new_token;
use crate::secret::Secret;

/// Why an authorization request is refused.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: an error page, never a redirect.
    Page(String),
    /// Anything else, told to the client at its redirect URI.
    Redirect {
        /// The client's registered redirect URI.
        redirect_uri: String,
        /// RFC 6749 error code.
        error: &'static str,
        /// Explanation.
        description: String,
        /// The request's state, returned unchanged.
        state: Option<String>,
    },
}

/// A checked authorization request, ready for the consent page.
#[derive(Debug, Clone)]
pub struct Authorization {
    /// The client's id.
    pub client_id: String,
    /// The client's display name.
    pub client_name: String,
    /// The exact redirect URI.
    pub redirect_uri: String,
    /// The scopes asked for.
    pub scopes: ScopeSet,
    /// The client's state, returned unchanged.
    pub state: Option<String>,
    /// PKCE S256 challenge; `None` only for a client whose PKCE is optional.
    pub code_challenge: Option<String>,
}

/// The redirect URI with `params` appended to its query.
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let query = serde_urlencoded::to_string(params).unwrap_or_default();
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    format!("{redirect_uri}{separator}{query}")
}

impl IdentityService {
    /// Checks an authorization request: the client and its exact redirect URI first (an error
    /// page when they fail), then the rest (errors redirected with the state).
    pub async fn check_authorization(
        &self,
        params: &HashMap<String, String>,
    ) -> Result<Authorization, AuthorizeError> {
        let page = |text: &str| AuthorizeError::Page(text.to_string());
        let client_id = params
            .get("client_id")
            .ok_or_else(|| page("client_id is missing"))?;
        let client = self
            .repo
            .find_client(client_id)
            .await
            .map_err(|_| page("the server cannot check the client now"))?
            .ok_or_else(|| page("unknown client"))?;
        let registered: Vec<&str> = client.redirect_uris.lines().collect();
        let redirect_uri = match params.get("redirect_uri") {
            // Exact string comparison: no normalisation of case, trailing slash, port or query.
            Some(uri) if registered.contains(&uri.as_str()) => uri.clone(),
            Some(_) => return Err(page("the redirect_uri is not registered for this client")),
            None if registered.len() == 1 => registered[0].to_string(),
            None => return Err(page("redirect_uri is required")),
        };
        let state = params.get("state").cloned();
        let redirect = |error: &'static str, description: &str| AuthorizeError::Redirect {
            redirect_uri: redirect_uri.clone(),
            error,
            description: description.to_string(),
            state: state.clone(),
        };
        if !client.grants.split(' ').any(|g| g == "authorization_code") {
            return Err(redirect(
                "unauthorized_client",
                "this client may not use the authorization code grant",
            ));
        }
        if params.get("response_type").map(String::as_str) != Some("code") {
            return Err(redirect(
                "unsupported_response_type",
                "response_type must be code",
            ));
        }
        let challenge = params.get("code_challenge");
        let method = params.get("code_challenge_method").map(String::as_str);
        let code_challenge = match (challenge, method) {
            // Only a client registered with optional PKCE may leave it out altogether.
            (None, None) if client.pkce == PkcePolicy::Optional => None,
            (Some(c), Some("S256")) if (43..=128).contains(&c.len()) => Some(c.clone()),
            _ => {
                return Err(redirect(
                    "invalid_request",
                    "PKCE is required: code_challenge with code_challenge_method=S256",
                ));
            }
        };
        let allowed = ScopeSet::from_stored(&client.scope);
        let scopes = match params.get("scope") {
            Some(text) => {
                ScopeSet::parse(text).map_err(|e| redirect("invalid_scope", &e.to_string()))?
            }
            None => allowed,
        };
        if let Some(beyond) = scopes.first_beyond(allowed) {
            return Err(redirect(
                "invalid_scope",
                &format!(
                    "the scope {:?} is not allowed for this client",
                    beyond.as_str()
                ),
            ));
        }
        Ok(Authorization {
            client_id: client.client_id,
            client_name: client.name,
            redirect_uri,
            scopes,
            state,
            code_challenge,
        })
    }

    /// The user approved: checks their credentials and issues a single-use code.
    pub async fn approve_authorization(
        &self,
        ip: IpAddr,
        authorization: &Authorization,
        username: &str,
        password: &str,
    ) -> Result<String, IdentityError> {
        let user = self
            .verify_credentials(ip, username, password, true)
            .await?;
        let scopes = authorization.scopes.intersection(user.role.scopes());
        if scopes.is_empty() {
            return Err(IdentityError::InsufficientScope(Scope::Ovos));
        }
        let code = new_token("vga_");
        let row = CodeRow {
            client_id: authorization.client_id.clone(),
            user_id: user.id,
            redirect_uri: authorization.redirect_uri.clone(),
            scope: scopes.to_string(),
            code_challenge: authorization.code_challenge.clone(),
            expires_at: self.clock.now() + self.auth.oauth_code_ttl_secs,
            used_at: None,
            issued_family: None,
            issued_jti: None,
        };
        self.repo.insert_code(&token_hash(&code), &row).await?;
        Ok(code)
    }

    /// Redeems a code at the token endpoint. A code works once, within its lifetime, for the
    /// (authenticated) client and redirect URI it was issued for, with the PKCE verifier when it
    /// was issued with a challenge and without one when it was not; a second redemption revokes
    /// what the first one issued.
    pub(super) async fn redeem_code(
        &self,
        client: &ClientRow,
        code: &Secret,
        redirect_uri: Option<&str>,
        verifier: Option<&Secret>,
        now: UnixTime,
    ) -> Result<TokenAnswer, OAuthError> {
        let invalid = |text: &str| OAuthError::InvalidGrant(text.to_string());
        let hash = token_hash(code.expose());
        let row = self
            .repo
            .find_code(&hash)
            .await?
            .ok_or_else(|| invalid("unknown code"))?;
        if row.client_id != client.client_id {
            return Err(invalid("the code was issued to another client"));
        }
        if redirect_uri != Some(row.redirect_uri.as_str()) {
            return Err(invalid(
                "redirect_uri does not match the authorization request",
            ));
        }
        if row.code_challenge.is_some() && verifier.is_none() {
            return Err(OAuthError::InvalidRequest(
                "code_verifier is required (PKCE)".into(),
            ));
        }
        if row.used_at.is_some() || !self.repo.spend_code(&hash, now).await? {
            self.revoke_code_issue(&row, now).await?;
            return Err(invalid(
                "the code was already used; what it issued is revoked",
            ));
        }
        if now >= row.expires_at {
            return Err(invalid("the code has expired"));
        }
        match (&row.code_challenge, verifier) {
            (Some(challenge), Some(verifier)) if s256_matches(verifier.expose(), challenge) => {}
            (Some(_), _) => {
                return Err(invalid(
                    "the code_verifier does not match the code_challenge",
                ));
            }
            // A verifier for a code issued without a challenge is a PKCE downgrade attempt
            // (RFC 9700 §2.1.1): the code may have been injected into this client's session.
            (None, Some(_)) => {
                return Err(invalid(
                    "the code was issued without a code_challenge: a code_verifier cannot redeem it",
                ));
            }
            (None, None) if client.pkce == PkcePolicy::Optional => {}
            (None, None) => {
                return Err(invalid(
                    "this client must use PKCE: the code has no code_challenge",
                ));
            }
        }
        let user = self
            .repo
            .list_users()
            .await?
            .into_iter()
            .find(|u| u.id == row.user_id && u.active)
            .ok_or_else(|| invalid("the user is no longer active"))?;
        let (refresh_token, family) = self
            .issue_client_refresh(&user, &client.client_id, &row.scope, now)
            .await?;
        let (access_token, claims) = self.oauth_access_claims(
            &user.name,
            &client.client_id,
            ScopeSet::from_stored(&row.scope),
            Some(&family),
        );
        self.repo
            .record_code_issue(&hash, &family, &claims.jti, claims.exp)
            .await?;
        Ok(TokenAnswer {
            access_token: Secret::new(access_token),
            token_type: "Bearer",
            expires_in: self.auth.oauth_access_ttl_secs,
            refresh_token: Some(Secret::new(refresh_token)),
            scope: row.scope,
        })
    }

    async fn revoke_code_issue(&self, row: &CodeRow, now: UnixTime) -> Result<(), IdentityError> {
        if let Some(family) = &row.issued_family {
            self.revoke_family(family, now).await?;
        }
        if let Some((jti, exp)) = &row.issued_jti {
            self.revoke_access_token(jti.clone(), *exp).await?;
        }
        tracing::warn!(client = %row.client_id, "authorization code redeemed twice: its tokens are revoked");
        Ok(())
    }
}
