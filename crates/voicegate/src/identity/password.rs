//! Password hashing: Argon2id for every new hash; bcrypt (`$2a$`, `$2b$`, `$2y$`) verified for users
//! imported from an ovos-api users.json, and made by `genpass` for the original ovos-api.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;

/// bcrypt reads at most this many bytes of a password; longer ones are refused, never truncated.
pub const BCRYPT_MAX_BYTES: usize = 72;

/// The most Argon2 memory a stored hash may ask for, in KiB blocks (256 MiB): a users file with an
/// absurd `m=` must not exhaust the machine.
const MAX_ARGON2_BLOCKS: usize = 256 * 1024;

/// Argon2 working memory, reused from one verification to the next and released when logins stop
/// (see [`release_idle_memory`]). Allocating it afresh for each login (19 MiB with the library's
/// default parameters) left the allocator holding over 200 MB after a burst of 20 logins; pooled,
/// it stays at one buffer per concurrent verification.
static ARGON2_MEMORY: Mutex<Vec<(Vec<Block>, Instant)>> = Mutex::new(Vec::new());

/// Drops pooled Argon2 memory unused for `max_idle`, so an idle server gives it back.
pub fn release_idle_memory(max_idle: Duration) {
    let mut pool = ARGON2_MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    pool.retain(|(_, used)| used.elapsed() < max_idle);
}

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

/// Argon2id parameters for new hashes: 7 MiB, 5 passes, 1 lane, one of OWASP's equivalent
/// minimum settings. Less memory than the 19 MiB / 2-pass setting for the same work suits a
/// Raspberry Pi; stored hashes keep whatever parameters they were made with.
const ARGON2_M_COST_KIB: u32 = 7 * 1024;
const ARGON2_T_COST: u32 = 5;

/// Hashes a new password with Argon2id.
pub fn hash_argon2(password: &str) -> Result<String, PasswordError> {
    let params = Params::new(ARGON2_M_COST_KIB, ARGON2_T_COST, 1, None)
        .map_err(|e| PasswordError::Hashing(e.to_string()))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
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

/// Whether a stored hash is a bcrypt hash.
pub fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
}

/// Checks `password` against a stored hash. A password longer than bcrypt's 72 bytes never
/// matches a bcrypt hash (it would only match by silent truncation).
pub fn verify(password: &str, hash: &str) -> Result<bool, PasswordError> {
    if is_bcrypt(hash) {
        if password.len() > BCRYPT_MAX_BYTES {
            // Same work as a real check, so the length does not show in the timing.
            verify_dummy(password);
            return Ok(false);
        }
        return bcrypt::verify(password, hash).map_err(|_| PasswordError::UnknownHashFormat);
    }
    let parsed = PasswordHash::new(hash).map_err(|_| PasswordError::UnknownHashFormat)?;
    verify_argon2(password.as_bytes(), &parsed)
}

/// Recomputes an Argon2 hash with the stored parameters in pooled memory and compares the
/// outputs in constant time.
fn verify_argon2(password: &[u8], parsed: &PasswordHash) -> Result<bool, PasswordError> {
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Err(PasswordError::UnknownHashFormat);
    };
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str())
        .map_err(|_| PasswordError::UnknownHashFormat)?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(|_| PasswordError::UnknownHashFormat)?,
        None => Version::default(),
    };
    let params = Params::try_from(parsed).map_err(|_| PasswordError::UnknownHashFormat)?;
    let blocks = params.block_count();
    if blocks > MAX_ARGON2_BLOCKS {
        return Err(PasswordError::UnknownHashFormat);
    }
    let mut memory = ARGON2_MEMORY
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pop()
        .map(|(memory, _)| memory)
        .unwrap_or_default();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut output = vec![0u8; expected.as_bytes().len()];
    let result = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password,
        salt,
        &mut output,
        &mut memory[..blocks],
    );
    ARGON2_MEMORY
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((memory, Instant::now()));
    result.map_err(|e| PasswordError::Hashing(e.to_string()))?;
    Ok(output.ct_eq(expected.as_bytes()).into())
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
        // A stored hash asking for 4 GiB of memory is refused, not computed.
        let greedy = "$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert_eq!(verify("x", greedy), Err(PasswordError::UnknownHashFormat));
    }
}
