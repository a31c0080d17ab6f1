//! Password hashing: Argon2id for every new hash; bcrypt (`$2a$`, `$2b$`, `$2y$`) verified for users
//! imported from an ovos-api users.json, and made by `genpass` for the original ovos-api.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// bcrypt reads at most this many bytes of a password; longer ones are refused, never truncated.
pub const BCRYPT_MAX_BYTES: usize = 72;

/// The bcrypt cost `genpass` uses, as the original ovos-api's genpass.py does.
pub const BCRYPT_COST: u32 = 12;

/// Why a password or hash was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    /// The password is longer than bcrypt can take.
    #[error("bcrypt accepts passwords of at most {BCRYPT_MAX_BYTES} bytes")]
    TooLongForBcrypt,
    /// The stored hash is of no format voicegate knows.
    #[error("unsupported password hash format")]
    UnknownHashFormat,
    /// The hashing library failed.
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// Hashes a new password with Argon2id (library defaults: 19 MiB, 2 passes, 1 lane).
pub fn hash_argon2(password: &str) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hashing(e.to_string()))
}

/// Hashes a password with bcrypt at `cost`, refusing passwords bcrypt would truncate.
pub fn hash_bcrypt(password: &str, cost: u32) -> Result<String, PasswordError> {
    if password.len() > BCRYPT_MAX_BYTES {
        return Err(PasswordError::TooLongForBcrypt);
    }
    // At most 72 bytes is checked above; only the C-style terminator can be cut, which changes
    // nothing (the crate's non-truncating variant would refuse exactly 72 bytes for that).
    bcrypt::hash(password, cost).map_err(|e| PasswordError::Hashing(e.to_string()))
}

/// Whether a stored hash is one voicegate can verify.
pub fn is_supported_hash(hash: &str) -> bool {
    is_bcrypt(hash) || PasswordHash::new(hash).is_ok()
}

fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
}

/// Checks `password` against a stored hash. A password longer than bcrypt's 72 bytes never
/// matches a bcrypt hash (it would only match by silent truncation).
pub fn verify(password: &str, hash: &str) -> Result<bool, PasswordError> {
    if is_bcrypt(hash) {
        if password.len() > BCRYPT_MAX_BYTES {
            return Ok(false);
        }
        return bcrypt::verify(password, hash).map_err(|_| PasswordError::UnknownHashFormat);
    }
    let parsed = PasswordHash::new(hash).map_err(|_| PasswordError::UnknownHashFormat)?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

/// Spends the same effort as checking a real user's password, for unknown user names, so that
/// response time does not tell which names exist.
pub fn verify_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_argon2("voicegate-dummy-password").unwrap_or_default());
    let _ = verify(password, hash);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2_round_trip() {
        let hash = hash_argon2("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify("correct horse", &hash).unwrap());
        assert!(!verify("wrong horse", &hash).unwrap());
    }

    #[test]
    fn bcrypt_round_trip_and_no_truncation() {
        let hash = hash_bcrypt("change-me", 4).unwrap();
        assert!(hash.starts_with("$2b$04$"));
        assert!(verify("change-me", &hash).unwrap());
        let long = "x".repeat(73);
        assert_eq!(hash_bcrypt(&long, 4), Err(PasswordError::TooLongForBcrypt));
        let hash72 = hash_bcrypt(&long[..72], 4).unwrap();
        assert!(verify(&long[..72], &hash72).unwrap());
        assert!(
            !verify(&long, &hash72).unwrap(),
            "73 bytes must not match by truncation"
        );
    }

    #[test]
    fn garbage_hash_is_an_error() {
        assert_eq!(
            verify("x", "plaintext"),
            Err(PasswordError::UnknownHashFormat)
        );
        assert!(!is_supported_hash("plaintext"));
    }
}
