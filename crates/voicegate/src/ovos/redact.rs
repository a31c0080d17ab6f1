//! Removes secrets from JSON before it leaves the server: configuration, skill settings and bus
//! events may hold passwords, API keys and tokens at any depth.

use serde_json::Value;

/// Key names that are secret however they are spelled in case.
const SECRET_NAMES: &[&str] = &[
    "password",
    "passwd",
    "key",
    "secret",
    "token",
    "api_key",
    "apikey",
    "app_key",
    "access_key_id",
    "secret_access_key",
    "code",
    "username",
    "credentials",
];

/// Parts of key names that mark a secret (`client_secret`, `refresh_token`, `private_key`, …).
const SECRET_PARTS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "private_key",
    "credential",
];

/// Whether a key names a secret.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_NAMES.contains(&key.as_str())
        || SECRET_PARTS.iter().any(|part| key.contains(part))
        || key.ends_with("_key")
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
    fn secrets_go_at_every_depth_and_the_rest_stays() {
        let mut config = json!({
            "lang": "en-us",
            "Password": "x",
            "stt": {"module": "server", "api_key": "k", "fallback": {"deep": {"token": "t", "url": "u"}}},
            "tts": [{"secret_access_key": "s", "voice": "v"}],
            "hotwords": {"hey": {"model": "m", "client_secret": "c"}},
            "keyboard": "stays",
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
            })
        );
    }
}
