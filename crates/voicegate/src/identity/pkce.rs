//! PKCE (RFC 7636): each client's policy, and the S256 check of a verifier against the challenge
//! stored with a code.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Whether a client must send a PKCE challenge with its authorization requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PkcePolicy {
    /// Every authorization request carries an S256 challenge (the default).
    #[default]
    Required,
    /// The client may leave the challenge out; its code is then redeemed with the client's
    /// secret alone. Only for confidential clients an administrator registered so (the HK
    /// contract's clients never send PKCE).
    Optional,
}

impl PkcePolicy {
    /// The name stored and shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            PkcePolicy::Required => "required",
            PkcePolicy::Optional => "optional",
        }
    }

    /// The policy of a name, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        [PkcePolicy::Required, PkcePolicy::Optional]
            .into_iter()
            .find(|p| p.as_str() == text)
    }

    /// The policy of a stored name; anything unknown is the strict one.
    pub fn from_stored(text: &str) -> Self {
        Self::parse(text).unwrap_or(PkcePolicy::Required)
    }
}

/// Whether `verifier` hashes (SHA-256, base64url without padding) to `challenge`, compared in
/// constant time.
pub fn s256_matches(verifier: &str, challenge: &str) -> bool {
    let computed = B64.encode(Sha256::digest(verifier.as_bytes()));
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(s256_matches(verifier, challenge));
        assert!(!s256_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"
        ));
        assert!(!s256_matches(verifier, ""));
    }

    #[test]
    fn stored_names_round_trip_and_unknown_ones_are_strict() {
        for policy in [PkcePolicy::Required, PkcePolicy::Optional] {
            assert_eq!(PkcePolicy::from_stored(policy.as_str()), policy);
        }
        assert_eq!(PkcePolicy::from_stored("OPTIONAL"), PkcePolicy::Required);
        assert_eq!(PkcePolicy::default(), PkcePolicy::Required);
    }
}
