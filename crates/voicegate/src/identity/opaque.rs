//! Opaque bearer secrets (refresh tokens, named tokens, client secrets): 256 random bits from
//! [`crate::ids::new_token`], shown to the client once and stored only as their SHA-256.

use sha2::{Digest, Sha256};

/// Prefix of refresh tokens, so that secret scanners and people can tell what one is.
pub const REFRESH_PREFIX: &str = "vgr_";

/// Prefix of named long-lived tokens.
pub const NAMED_PREFIX: &str = "vgt_";

/// The stored form of a token: its SHA-256.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::new_token;

    #[test]
    fn tokens_are_stored_as_their_sha_256() {
        // FIPS 180-2's example for "abc".
        let abc: String = token_hash("abc")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            abc,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let (a, b) = (new_token(REFRESH_PREFIX), new_token(REFRESH_PREFIX));
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
