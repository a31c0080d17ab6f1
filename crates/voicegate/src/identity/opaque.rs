//! Opaque bearer secrets (refresh tokens, named tokens, client secrets): 256 random bits from
//! [`crate::ids::new_token`], shown to the client once and stored only as their SHA-256.

use sha2::{Digest, Sha256};

/// Prefix of refresh tokens, so that secret scanners and people can tell what one is.
pub const REFRESH_PREFIX: &str = "vgr_";

/// The stored form of a token: its SHA-256.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::new_token;

    #[test]
    fn tokens_are_hashed_one_to_one() {
        let a = new_token(REFRESH_PREFIX);
        let b = new_token(REFRESH_PREFIX);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
