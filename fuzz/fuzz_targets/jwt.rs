//! Access tokens (compact HS256 JWTs with one pinned header).
//!
//! Mode 0: the input is a token. It verifies only if its header segment is the pinned one, its
//! signature is the key's HMAC of the signing input and its claims are valid now; the claims then
//! sign and verify back to themselves.
//! Mode 1: the input is a payload, signed with the key: it verifies exactly when it is valid
//! claims for this issuer and audience, now; a changed signature never verifies.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use voicegate::identity::jwt::{AccessClaims, JwtCodec, TokenError};

const KEY: &[u8] = b"fuzz-key";
const ISSUER: &str = "http://issuer";
const AUDIENCE: &str = "voicegate";
const LEEWAY: i64 = 30;
const NOW: i64 = 1_800_000_000;
const HEADER: &str = r#"{"alg":"HS256","typ":"at+jwt"}"#;

fn codec() -> JwtCodec {
    JwtCodec::new(KEY, ISSUER.into(), AUDIENCE.into(), LEEWAY)
}

fn mac(input: &[u8]) -> Vec<u8> {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(KEY).unwrap();
    mac.update(input);
    mac.finalize().into_bytes().to_vec()
}

/// What `verify` must answer for claims read from a correctly signed token.
fn expected(claims: &AccessClaims) -> Result<(), TokenError> {
    if claims.iss != ISSUER || claims.aud != AUDIENCE {
        Err(TokenError::WrongIssuer)
    } else if NOW > claims.exp.saturating_add(LEEWAY) {
        Err(TokenError::Expired)
    } else if claims.iat > NOW + LEEWAY {
        Err(TokenError::NotYetValid)
    } else {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let codec = codec();
    if mode % 2 == 0 {
        let Ok(claims) = codec.verify(text, NOW) else {
            return;
        };
        let (signing_input, signature) = text.rsplit_once('.').unwrap();
        let (header, _) = signing_input.split_once('.').unwrap();
        assert_eq!(B64.decode(header).unwrap(), HEADER.as_bytes());
        assert_eq!(
            B64.decode(signature).unwrap(),
            mac(signing_input.as_bytes())
        );
        assert_eq!(expected(&claims), Ok(()));
        assert_eq!(codec.verify(&codec.sign(&claims), NOW), Ok(claims));
    } else {
        let token = codec.sign_raw(HEADER, text);
        let verified = codec.verify(&token, NOW);
        match serde_json::from_str::<AccessClaims>(text) {
            Ok(claims) => {
                let want = expected(&claims).map(|()| claims);
                assert_eq!(verified, want, "{text}");
            }
            Err(_) => assert_eq!(verified, Err(TokenError::BadClaims), "{text}"),
        }
        // Any other signature is refused before the claims are read.
        let (signing_input, signature) = token.rsplit_once('.').unwrap();
        let mut forged = B64.decode(signature).unwrap();
        forged[usize::from(mode) % 32] ^= 1 << (mode % 8);
        let forged = format!("{signing_input}.{}", B64.encode(forged));
        assert_eq!(codec.verify(&forged, NOW), Err(TokenError::BadSignature));
    }
});
