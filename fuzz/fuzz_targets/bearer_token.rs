//! The `Authorization: Bearer <token>` value and the opaque tokens in it.
//!
//! A token is read exactly when the value is `Bearer` or `JWT` (any case), one space, and a
//! token (white space around it dropped); the token is then a part of the value. Opaque tokens
//! are known by their prefix and stored as their SHA-256. A token's scope list, as stored,
//! reads back to the same set once written.
#![no_main]

use axum::http::HeaderValue;
use libfuzzer_sys::fuzz_target;
use sha2::Digest;
use voicegate::http::auth::bearer_token;
use voicegate::identity::IdentityError;
use voicegate::identity::opaque::{NAMED_PREFIX, REFRESH_PREFIX, token_hash};
use voicegate::identity::scopes::ScopeSet;

fuzz_target!(|data: &[u8]| {
    // The scope list a token carries (a claim, a stored row).
    if let Ok(text) = std::str::from_utf8(data) {
        let stored = ScopeSet::from_stored(text);
        assert_eq!(ScopeSet::from_stored(&stored.to_string()), stored);
        if let Ok(parsed) = ScopeSet::parse(text) {
            assert_eq!(ScopeSet::from_stored(&parsed.to_string()), parsed);
            assert_eq!(ScopeSet::parse(&parsed.to_string()), Ok(parsed));
        }
    }
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let read = bearer_token(&value);
    let text = value.to_str().ok();
    let want = text.and_then(|text| {
        let (scheme, token) = text.split_once(' ')?;
        let known = ["bearer", "jwt"].contains(&scheme.to_ascii_lowercase().as_str());
        let token = token.trim();
        (known && !token.is_empty()).then_some(token)
    });
    match (read, want) {
        (Ok(token), Some(want)) => {
            assert_eq!(token, want);
            assert!(
                !token.starts_with(char::is_whitespace) && !token.ends_with(char::is_whitespace)
            );
            let text = text.unwrap();
            assert!(text.ends_with(token) || text.trim_end().ends_with(token));
            if token.starts_with(NAMED_PREFIX) || token.starts_with(REFRESH_PREFIX) {
                let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
                assert_eq!(token_hash(token), digest);
            }
        }
        (Err(error), None) => assert!(matches!(error, IdentityError::InvalidToken), "{error:?}"),
        (read, want) => panic!("{value:?}: read {read:?}, expected {want:?}"),
    }
});
