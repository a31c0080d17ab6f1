//! Random identifiers and secrets, and the id types that more than one domain uses.
//!
//! Every random value of the server comes from the operating system's source through this module:
//! token and family ids, secrets, public ids of accounts, builds and voices, temporary file names.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

/// `N` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    bytes
}

/// A new random secret token: `prefix` + base64url of 32 random bytes (256 bits).
pub fn new_token(prefix: &str) -> String {
    format!("{prefix}{}", B64.encode(random_bytes::<32>()))
}

/// A random identifier (token ids, families, job ids): 16 random bytes in base64url.
pub fn new_id() -> String {
    B64.encode(random_bytes::<16>())
}

/// A random 128-bit id as 32 lowercase hex digits (the VocaliD contract's ids look like this).
pub fn new_hex_id() -> String {
    let mut text = String::with_capacity(32);
    for byte in random_bytes::<16>() {
        text.push(char::from(HEX[usize::from(byte >> 4)]));
        text.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    text
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A user's row id: who owns accounts, voices, jobs and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(i64);

impl UserId {
    /// The id of a stored user row.
    pub const fn new(id: i64) -> Self {
        Self(id)
    }

    /// The row id, for SQL.
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Declares a text id type: a newtype over `String` that displays, serializes and binds as its
/// text, so that a build id cannot be passed where an account id is meant.
macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id as received (a path, a parameter, a stored row); whether it names
            /// something is for the store to say.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
pub(crate) use text_id;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_tokens_are_random_and_well_formed() {
        let (a, b) = (new_token("vgr_"), new_token("vgr_"));
        assert_ne!(a, b);
        assert!(a.starts_with("vgr_"));
        assert_eq!(a.len(), 4 + 43);
        let hex = new_hex_id();
        assert_eq!(hex.len(), 32);
        assert!(hex.bytes().all(|b| HEX.contains(&b)), "{hex}");
        assert_ne!(hex, new_hex_id());
        assert_eq!(new_id().len(), 22);
    }
}
