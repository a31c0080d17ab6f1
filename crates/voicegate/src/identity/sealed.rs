//! Secrets sealed at rest: API keys' HMAC keys are stored encrypted (ChaCha20-Poly1305) under a
//! key kept in its own file beside the signing key (`data_dir/secrets.key`, mode 0600), never in
//! the database. A copy of the database alone cannot sign requests.

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::ids::random_bytes;

/// The key file's name in the data directory.
pub const SEALING_KEY_FILE: &str = "secrets.key";

/// Seals and opens stored secrets with one key.
pub struct Sealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    /// A sealer over a 32-byte key; `None` for a key of another length.
    pub fn new(key: &[u8]) -> Option<Self> {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, key).ok()?;
        Some(Self {
            key: LessSafeKey::new(unbound),
        })
    }

    /// Encrypts `secret`, bound to `context` (the row it belongs to, so a sealed value moved to
    /// another row does not open): a random nonce, then the ciphertext and its tag.
    pub fn seal(&self, context: &[u8], secret: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = random_bytes();
        let mut sealed = secret.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut sealed,
            )
            .expect("a secret far below the cipher's length limit");
        [&nonce[..], &sealed].concat()
    }

    /// Decrypts a value [`Sealer::seal`] made for `context`; `None` when it was sealed under
    /// another key or context, or altered.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context), &mut buffer)
            .ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_context() {
        let sealer = Sealer::new(&[1u8; 32]).unwrap();
        let sealed = sealer.seal(b"vgk_a", b"the hmac key");
        assert!(!sealed.windows(12).any(|w| w == b"the hmac key"));
        assert_eq!(
            sealer.open(b"vgk_a", &sealed).as_deref(),
            Some(&b"the hmac key"[..])
        );
        assert_eq!(sealer.open(b"vgk_b", &sealed), None, "another row");
        let other = Sealer::new(&[2u8; 32]).unwrap();
        assert_eq!(other.open(b"vgk_a", &sealed), None, "another key");
        let mut altered = sealed.clone();
        altered[20] ^= 1;
        assert_eq!(sealer.open(b"vgk_a", &altered), None, "altered");
        assert_eq!(sealer.open(b"vgk_a", b"short"), None);
        assert!(Sealer::new(&[0u8; 16]).is_none());
    }
}
