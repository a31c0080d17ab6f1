//! Opaque bearer secrets (refresh tokens, later API keys and client secrets): 256 random bits,
//! shown to the client once and stored only as their SHA-256.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sha2::{Digest, Sha256};

/// Prefix of refresh tokens, so that secret scanners and people can tell what one is.
pub const REFRESH_PREFIX: &str = "vgr_";

/// `n` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    bytes
}

/// A new random token: `prefix` + base64url of 32 random bytes.
pub fn new_token(prefix: &str) -> String {
    format!("{prefix}{}", B64.encode(random_bytes::<32>()))
}

/// A random identifier (token ids, families): 16 random bytes in base64url.
pub fn new_id() -> String {
    B64.encode(random_bytes::<16>())
}

/// The stored form of a token: its SHA-256.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let a = new_token(REFRESH_PREFIX);
        let b = new_token(REFRESH_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with(REFRESH_PREFIX));
        assert_eq!(a.len(), REFRESH_PREFIX.len() + 43);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
