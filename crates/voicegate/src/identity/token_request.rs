//! A token-endpoint request, parsed once at the edge into one variant per grant, so that the
//! grants themselves never look at raw form fields.

use std::collections::HashMap;

use crate::identity::oauth_error::OAuthError;
use crate::identity::scopes::ScopeSet;
use crate::secret::Secret;

/// A grant type a client may be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    /// The client acts for its owner.
    ClientCredentials,
    /// A code from the consent page, with PKCE.
    AuthorizationCode,
    /// A refresh token for its successor.
    RefreshToken,
    /// A user's name and password (only for clients given it).
    Password,
}

impl GrantType {
    /// Every grant type.
    pub const ALL: [GrantType; 4] = [
        GrantType::ClientCredentials,
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::Password,
    ];

    /// The name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::Password => "password",
        }
    }

    /// The grant type of a name, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == name)
    }
}

/// What a client asks the token endpoint for.
#[derive(Debug)]
pub enum TokenRequest {
    /// `grant_type=client_credentials`.
    ClientCredentials {
        /// Narrower scopes than the client's, if asked.
        scope: Option<ScopeSet>,
    },
    /// `grant_type=password`.
    Password {
        /// User name or e-mail address.
        username: String,
        /// The password.
        password: Secret,
        /// Narrower scopes, if asked.
        scope: Option<ScopeSet>,
    },
    /// `grant_type=refresh_token`.
    RefreshToken {
        /// The refresh token to spend.
        refresh_token: Secret,
        /// Narrower scopes, if asked.
        scope: Option<ScopeSet>,
    },
    /// `grant_type=authorization_code`.
    AuthorizationCode {
        /// The code from the redirect.
        code: Secret,
        /// The redirect URI of the authorization request.
        redirect_uri: Option<String>,
        /// The PKCE verifier.
        code_verifier: Option<Secret>,
    },
}

impl TokenRequest {
    /// The request's grant type.
    pub fn grant_type(&self) -> GrantType {
        match self {
            TokenRequest::ClientCredentials { .. } => GrantType::ClientCredentials,
            TokenRequest::Password { .. } => GrantType::Password,
            TokenRequest::RefreshToken { .. } => GrantType::RefreshToken,
            TokenRequest::AuthorizationCode { .. } => GrantType::AuthorizationCode,
        }
    }

    /// Reads the form's fields (each given at most once; the edge checks that): RFC 6749's
    /// `invalid_request`, `unsupported_grant_type` and `invalid_scope` for what is wrong.
    pub fn from_form(form: &HashMap<String, String>) -> Result<Self, OAuthError> {
        let name = form
            .get("grant_type")
            .ok_or_else(|| OAuthError::InvalidRequest("grant_type is required".into()))?;
        let grant = GrantType::parse(name).ok_or_else(|| {
            OAuthError::UnsupportedGrantType(format!("grant_type {name:?} is not supported"))
        })?;
        let secret = |field: &str| form.get(field).map(|v| Secret::new(v.as_str()));
        let required = |field: &str| {
            secret(field).ok_or_else(|| OAuthError::InvalidRequest(format!("{field} is required")))
        };
        let scope = || {
            form.get("scope")
                .map(|text| {
                    ScopeSet::parse(text).map_err(|e| OAuthError::InvalidScope(e.to_string()))
                })
                .transpose()
        };
        Ok(match grant {
            GrantType::ClientCredentials => TokenRequest::ClientCredentials { scope: scope()? },
            GrantType::Password => {
                let (Some(username), Some(password)) = (form.get("username"), secret("password"))
                else {
                    return Err(OAuthError::InvalidRequest(
                        "username and password are required".into(),
                    ));
                };
                TokenRequest::Password {
                    username: username.clone(),
                    password,
                    scope: scope()?,
                }
            }
            GrantType::RefreshToken => TokenRequest::RefreshToken {
                refresh_token: required("refresh_token")?,
                scope: scope()?,
            },
            GrantType::AuthorizationCode => TokenRequest::AuthorizationCode {
                code: required("code")?,
                redirect_uri: form.get("redirect_uri").cloned(),
                code_verifier: secret("code_verifier"),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_grant_is_read_with_its_own_fields() {
        let request = TokenRequest::from_form(&form(&[
            ("grant_type", "password"),
            ("username", "ann"),
            ("password", "pw"),
            ("scope", "ovos"),
        ]))
        .unwrap();
        assert!(matches!(
            &request,
            TokenRequest::Password { username, password, scope: Some(scope) }
                if username == "ann" && password.expose() == "pw" && scope.to_string() == "ovos"
        ));
        assert!(!format!("{request:?}").contains("pw\""), "{request:?}");
        let code = TokenRequest::from_form(&form(&[
            ("grant_type", "authorization_code"),
            ("code", "c"),
        ]))
        .unwrap();
        assert_eq!(code.grant_type(), GrantType::AuthorizationCode);
    }

    #[test]
    fn missing_and_unknown_fields_are_rfc_6749_errors() {
        let code =
            |pairs: &[(&str, &str)]| TokenRequest::from_form(&form(pairs)).unwrap_err().code();
        assert_eq!(code(&[]), "invalid_request");
        assert_eq!(
            code(&[("grant_type", "implicit")]),
            "unsupported_grant_type"
        );
        assert_eq!(code(&[("grant_type", "refresh_token")]), "invalid_request");
        assert_eq!(
            code(&[("grant_type", "password"), ("username", "a")]),
            "invalid_request"
        );
        assert_eq!(
            code(&[
                ("grant_type", "client_credentials"),
                ("scope", "everything")
            ]),
            "invalid_scope"
        );
    }
}
