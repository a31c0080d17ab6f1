//! Removes secrets from JSON before it leaves the server: configuration, skill settings and bus
//! events may hold passwords, API keys and tokens at any depth.
//!
//! A key is secret when one of its words is a secret-bearing name. Keys are split into words on
//! `_`, `-`, `.`, spaces and camelCase boundaries, so `api_key`, `clientSecret`, `APIKey` and
//! `refresh-token` are secret while `tokenization`, `keyboard` and `location.city.code` are not:
//! matching whole words instead of substrings keeps configuration that merely resembles a secret.

use serde_json::Value;

/// Words that make a key secret (`client_secret`, `refresh_token`, `private_key`, `api_key`, …).
const SECRET_WORDS: &[&str] = &[
    "key",
    "keys",
    "secret",
    "secrets",
    "password",
    "passwords",
    "passwd",
    "passphrase",
    "token",
    "tokens",
    "credential",
    "credentials",
];

/// Secret compounds written as one word (`apikey`, `accesstoken`): no boundary splits them.
const SECRET_COMPOUNDS: &[&str] = &[
    "apikey",
    "apikeys",
    "appkey",
    "authkey",
    "accesskey",
    "secretkey",
    "privatekey",
    "clientsecret",
    "authtoken",
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "bearertoken",
];

/// The lowercase words of a key: split on `_`, `-`, `.`, spaces and camelCase boundaries
/// (`APIKey` → `api`, `key`; `clientSecret` → `client`, `secret`).
fn words(key: &str) -> Vec<String> {
    let chars: Vec<char> = key.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if matches!(c, '_' | '-' | '.' | ' ') {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            continue;
        }
        if c.is_uppercase() && !word.is_empty() {
            let previous = chars[i - 1];
            let next_is_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            // `apiKey`: lower then upper; `APIKey`: the last capital of a run before lowercase.
            if previous.is_lowercase()
                || previous.is_ascii_digit()
                || (previous.is_uppercase() && next_is_lower)
            {
                words.push(std::mem::take(&mut word));
            }
        }
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Whether a key names a secret: one of its words is a secret-bearing name.
pub fn is_secret_key(key: &str) -> bool {
    words(key).iter().any(|word| {
        SECRET_WORDS.contains(&word.as_str()) || SECRET_COMPOUNDS.contains(&word.as_str())
    })
}

/// Removes every secret key, at every depth, inside objects and arrays.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| !is_secret_key(key));
            map.values_mut().for_each(redact);
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_split_into_words_at_separators_and_camel_case() {
        assert_eq!(words("api_key"), ["api", "key"]);
        assert_eq!(words("clientSecret"), ["client", "secret"]);
        assert_eq!(words("APIKey"), ["api", "key"]);
        assert_eq!(words("refresh-token.v2"), ["refresh", "token", "v2"]);
        assert_eq!(words("OAuth2Token"), ["o", "auth2", "token"]);
        assert_eq!(words("tokenization"), ["tokenization"]);
    }

    #[test]
    fn secret_names_are_whole_words_not_substrings() {
        for secret in [
            "key",
            "Password",
            "api_key",
            "apiKey",
            "APIKey",
            "apikey",
            "app_key",
            "access_key_id",
            "secret_access_key",
            "client_secret",
            "refresh_token",
            "auth-token",
            "credentials",
            "google_credential_file",
            "private_key",
            "passwd",
        ] {
            assert!(is_secret_key(secret), "{secret} is a secret");
        }
        for plain in [
            "code",
            "tokenization",
            "keyboard",
            "hotkeys_enabled",
            "monkey",
            "secretary",
            "username",
            "wake_word",
        ] {
            assert!(!is_secret_key(plain), "{plain} is not a secret");
        }
    }

    #[test]
    fn secrets_go_at_every_depth_and_the_rest_stays() {
        let mut config = json!({
            "lang": "en-us",
            "Password": "x",
            "stt": {"module": "server", "api_key": "k", "fallback": {"deep": {"token": "t", "url": "u"}}},
            "tts": [{"secret_access_key": "s", "voice": "v"}],
            "hotwords": {"hey": {"model": "m", "client_secret": "c"}},
            "keyboard": "stays",
            "location": {"city": {"code": "Lawrence"}, "timezone": {"code": "America/Chicago"}},
        });
        redact(&mut config);
        assert_eq!(
            config,
            json!({
                "lang": "en-us",
                "stt": {"module": "server", "fallback": {"deep": {"url": "u"}}},
                "tts": [{"voice": "v"}],
                "hotwords": {"hey": {"model": "m"}},
                "keyboard": "stays",
                "location": {"city": {"code": "Lawrence"}, "timezone": {"code": "America/Chicago"}},
            })
        );
    }
}
