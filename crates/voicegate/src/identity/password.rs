//! Password hashing: Argon2id for every new hash; bcrypt (`$2a$`, `$2b$`, `$2y$`) verified for users
//! imported from an ovos-api users.json, and made by `genpass` for the original ovos-api.

use std::sync::OnceLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use subtle::ConstantTimeEq;

/// bcrypt reads at most this many bytes of a password; longer ones are refused, never truncated.
pub const BCRYPT_MAX_BYTES: usize = 72;

/// The most Argon2 memory a stored hash may ask for, in KiB blocks (256 MiB): a users file with an
/// absurd `m=` must not exhaust the machine.
const MAX_ARGON2_BLOCKS: usize = 256 * 1024;

/// Argon2 working memory is reserved with at least this many blocks (33 MiB of address space),
/// of which only the blocks a hash needs are touched (7 MiB for new hashes). glibc serves an
/// allocation this large from its own mapping and unmaps it when it is freed, whatever its
/// dynamic mmap threshold (at most 32 MiB) has grown to; a 7 MiB buffer would instead be served
/// from, and freed into, a per-thread arena that keeps it: 7 to 9 MB more resident memory for as
/// long as the server idles after a few logins.
const RESERVED_BLOCKS: usize = 33 * 1024;

/// Working memory for one Argon2 computation of `blocks` blocks, given back to the system when
/// it is dropped (see [`RESERVED_BLOCKS`]).
fn working_memory(blocks: usize) -> Vec<Block> {
    let mut memory = Vec::with_capacity(blocks.max(RESERVED_BLOCKS));
    memory.resize(blocks, Block::default());
    memory
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

/// Salt length of new Argon2 hashes, in bytes.
const ARGON2_SALT_BYTES: usize = 16;
/// Output length of new Argon2 hashes, in bytes.
const ARGON2_OUTPUT_BYTES: usize = 32;

/// Hashes a new password with Argon2id, as a PHC string (`$argon2id$v=19$m=…,t=…,p=1$salt$hash`).
pub fn hash_argon2(password: &str) -> Result<String, PasswordError> {
    let params = Params::new(
        ARGON2_M_COST_KIB,
        ARGON2_T_COST,
        1,
        Some(ARGON2_OUTPUT_BYTES),
    )
    .map_err(|e| PasswordError::Hashing(e.to_string()))?;
    let salt: [u8; ARGON2_SALT_BYTES] = crate::ids::random_bytes();
    let mut output = [0u8; ARGON2_OUTPUT_BYTES];
    let mut memory = working_memory(params.block_count());
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut output, &mut memory[..])
        .map_err(|e| PasswordError::Hashing(e.to_string()))?;
    Ok(format!(
        "${}$v={}$m={ARGON2_M_COST_KIB},t={ARGON2_T_COST},p=1${}${}",
        Algorithm::Argon2id.as_str(),
        Version::V0x13 as u32,
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(output),
    ))
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

/// Recomputes an Argon2 hash with the stored parameters in fresh working memory and compares the
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
    let mut memory = working_memory(blocks);
    let mut output = vec![0u8; expected.as_bytes().len()];
    let result = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password,
        salt,
        &mut output,
        &mut memory[..],
    );
    drop(memory);
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
        // The PHC string is one the reference implementation reads and checks.
        use argon2::password_hash::PasswordVerifier;
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong horse", &parsed)
                .is_err()
        );
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
