//! Access tokens: compact JWTs signed with HS256, one pinned header.
//!
//! The header is always `{"alg":"HS256","typ":"at+jwt"}` (RFC 9068's type for access tokens), and a
//! token is accepted only if its header segment is exactly that: `alg: none`, other algorithms and
//! other token types fail before any signature work.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::clock::UnixTime;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The one header voicegate signs and accepts.
const HEADER_JSON: &str = r#"{"alg":"HS256","typ":"at+jwt"}"#;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer: the server's public URL.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Subject: the user name.
    pub sub: String,
    /// Issued at.
    pub iat: UnixTime,
    /// Issued at, in milliseconds: compared with the user's token cut-off, which a password
    /// change sets to the millisecond (tokens without it count from the start of `iat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat_ms: Option<i64>,
    /// Expires at (required).
    pub exp: UnixTime,
    /// Unique token id.
    pub jti: String,
    /// Space-separated scopes.
    pub scope: String,
    /// The OAuth client the token was issued to (none for the ovos-api login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The refresh-token family issued with the token, base64url: revoking the family ends the
    /// token too (RFC 7009 §2.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<String>,
}

/// Why a token was refused. The HTTP edge answers the same 401 for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url segments, or an unexpected header.
    #[error("malformed token")]
    Malformed,
    /// The signature does not match.
    #[error("bad signature")]
    BadSignature,
    /// Claims missing or of the wrong type (a token without `exp` lands here).
    #[error("bad claims")]
    BadClaims,
    /// Wrong issuer or audience.
    #[error("wrong issuer or audience")]
    WrongIssuer,
    /// `exp` has passed (beyond the leeway).
    #[error("expired")]
    Expired,
    /// `iat` lies in the future (beyond the leeway).
    #[error("issued in the future")]
    NotYetValid,
}

/// Signs and verifies access tokens with one HS256 key.
pub struct JwtCodec {
    key: HmacSha256,
    header_b64: String,
    issuer: String,
    audience: String,
    leeway: i64,
}

impl JwtCodec {
    /// A codec for `key`, issuing and accepting tokens for `issuer` and `audience`.
    pub fn new(key: &[u8], issuer: String, audience: String, leeway: i64) -> Self {
        Self {
            key: <HmacSha256 as KeyInit>::new_from_slice(key)
                .expect("HMAC takes keys of any length"),
            header_b64: B64.encode(HEADER_JSON),
            issuer,
            audience,
            leeway,
        }
    }

    /// The issuer this codec writes into tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience this codec writes into tokens.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Encodes and signs claims.
    pub fn sign(&self, claims: &AccessClaims) -> String {
        let payload = serde_json::to_vec(claims).expect("claims serialize");
        let mut token = String::with_capacity(64 + payload.len() * 2);
        token.push_str(&self.header_b64);
        token.push('.');
        B64.encode_string(&payload, &mut token);
        let signature = self.mac(token.as_bytes());
        token.push('.');
        B64.encode_string(signature, &mut token);
        token
    }

    /// Signs an arbitrary header and payload: for tests that forge tokens with this key.
    pub fn sign_raw(&self, header_json: &str, payload_json: &str) -> String {
        let signing_input = format!("{}.{}", B64.encode(header_json), B64.encode(payload_json));
        let signature = B64.encode(self.mac(signing_input.as_bytes()));
        format!("{signing_input}.{signature}")
    }

    fn mac(&self, input: &[u8]) -> Vec<u8> {
        let mut mac = self.key.clone();
        mac.update(input);
        mac.finalize().into_bytes().to_vec()
    }

    /// Verifies the header, the signature (constant time), the claims, issuer, audience and time.
    pub fn verify(&self, token: &str, now: UnixTime) -> Result<AccessClaims, TokenError> {
        let (signing_input, signature_b64) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (header_b64, payload_b64) =
            signing_input.split_once('.').ok_or(TokenError::Malformed)?;
        if header_b64 != self.header_b64 {
            return Err(TokenError::Malformed);
        }
        // An HS256 signature is 32 bytes: 43 characters, decoded on the stack.
        let mut signature = [0u8; 32];
        if signature_b64.len() != 43 || B64.decode_slice(signature_b64, &mut signature) != Ok(32) {
            return Err(TokenError::Malformed);
        }
        let mut mac = self.key.clone();
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;
        let payload = B64.decode(payload_b64).map_err(|_| TokenError::Malformed)?;
        let claims: AccessClaims =
            serde_json::from_slice(&payload).map_err(|_| TokenError::BadClaims)?;
        if claims.iss != self.issuer || claims.aud != self.audience {
            return Err(TokenError::WrongIssuer);
        }
        // Saturating: a claim near the ends of the range must not overflow.
        if now > claims.exp.saturating_add(self.leeway) {
            return Err(TokenError::Expired);
        }
        if claims.iat > now.saturating_add(self.leeway) {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> JwtCodec {
        JwtCodec::new(b"test-key", "http://issuer".into(), "voicegate".into(), 30)
    }

    fn claims(now: UnixTime) -> AccessClaims {
        AccessClaims {
            iss: "http://issuer".into(),
            aud: "voicegate".into(),
            sub: "ovos".into(),
            iat: now,
            iat_ms: Some(now * 1000),
            exp: now + 1800,
            jti: "abc".into(),
            scope: "ovos".into(),
            client_id: None,
            fam: None,
        }
    }

    #[test]
    fn round_trip_and_expiry_with_leeway() {
        let codec = codec();
        let token = codec.sign(&claims(1000));
        assert_eq!(codec.verify(&token, 1000).unwrap().sub, "ovos");
        assert!(codec.verify(&token, 2800 + 30).is_ok());
        assert_eq!(codec.verify(&token, 2800 + 31), Err(TokenError::Expired));
        assert_eq!(
            codec.verify(&token, 1000 - 31),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn tampering_is_detected() {
        let codec = codec();
        let token = codec.sign(&claims(1000));
        let mut forged = token.clone();
        // A character in the middle of the signature (the last one may only hold padding bits).
        let middle = token.len() - 20;
        let flipped = if &token[middle..=middle] == "A" {
            "B"
        } else {
            "A"
        };
        forged.replace_range(middle..=middle, flipped);
        assert_eq!(codec.verify(&forged, 1000), Err(TokenError::BadSignature));
        let other = JwtCodec::new(b"other-key", "http://issuer".into(), "voicegate".into(), 30);
        assert_eq!(
            codec.verify(&other.sign(&claims(1000)), 1000),
            Err(TokenError::BadSignature)
        );
    }

    /// Found with the `jwt` fuzz target's checks: a signed token whose `exp` is the largest
    /// integer overflowed the expiry check (a panic where overflow is checked).
    #[test]
    fn claims_at_the_ends_of_the_range_do_not_overflow() {
        let codec = codec();
        let mut far = claims(1000);
        far.exp = i64::MAX;
        far.iat = i64::MIN;
        let token = codec.sign(&far);
        assert_eq!(codec.verify(&token, 1000), Ok(far.clone()));
        far.iat = i64::MAX;
        let token = codec.sign(&far);
        assert_eq!(codec.verify(&token, 1000), Err(TokenError::NotYetValid));
        far.exp = i64::MIN;
        far.iat = 0;
        let token = codec.sign(&far);
        assert_eq!(codec.verify(&token, 1000), Err(TokenError::Expired));
    }

    #[test]
    fn alg_none_and_missing_exp_are_refused() {
        let codec = codec();
        let payload = serde_json::to_string(&claims(1000)).unwrap();
        let none = format!(
            "{}.{}.",
            B64.encode(r#"{"alg":"none","typ":"at+jwt"}"#),
            B64.encode(&payload)
        );
        assert_eq!(codec.verify(&none, 1000), Err(TokenError::Malformed));
        let no_exp = r#"{"iss":"http://issuer","aud":"voicegate","sub":"ovos","iat":1000,"jti":"x","scope":"ovos"}"#;
        let token = codec.sign_raw(HEADER_JSON, no_exp);
        assert_eq!(codec.verify(&token, 1000), Err(TokenError::BadClaims));
    }
}
