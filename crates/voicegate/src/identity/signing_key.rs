//! The HS256 key for access tokens: `SECRET` when configured, else a random 256-bit key generated
//! once and kept in `data_dir/signing.key` (mode 0600).

use std::fs;
use std::path::Path;

use crate::config::Config;
use crate::identity::error::IdentityError;
use crate::key_file;

/// File name of the generated key inside `data_dir`.
pub const KEY_FILE: &str = "signing.key";

/// Where the key came from, for `doctor` and the start-up log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// `SECRET` / `secret`.
    Configured,
    /// `secret_file`.
    File,
    /// Generated in `data_dir`.
    Generated,
}

/// The shortest key accepted: one issued token lets anybody try keys offline, so a short one is
/// refused rather than warned about.
pub const MIN_KEY_BYTES: usize = 32;

/// Refuses a configured key shorter than [`MIN_KEY_BYTES`], saying how to make one.
fn long_enough(key: Vec<u8>, what: &str) -> Result<Vec<u8>, IdentityError> {
    if key.len() < MIN_KEY_BYTES {
        return Err(IdentityError::SigningKey(format!(
            "{what} is {} bytes; a signing key needs at least {MIN_KEY_BYTES} bytes of random: \
             make one with `openssl rand -hex 32`",
            key.len()
        )));
    }
    Ok(key)
}

/// Loads (or creates) the signing key; a configured one shorter than 32 bytes is an error.
pub fn load(config: &Config) -> Result<(Vec<u8>, KeySource), IdentityError> {
    if let Some(secret) = config.secret.as_ref().filter(|s| !s.is_empty()) {
        let key = long_enough(secret.expose().as_bytes().to_vec(), "SECRET")?;
        return Ok((key, KeySource::Configured));
    }
    if let Some(path) = &config.secret_file {
        let text = fs::read_to_string(path)
            .map_err(|e| IdentityError::SigningKey(format!("{}: {e}", path.display())))?;
        let key = text.trim_end_matches(['\r', '\n']).as_bytes().to_vec();
        let key = long_enough(key, &format!("the key in {}", path.display()))?;
        return Ok((key, KeySource::File));
    }
    load_or_generate(&config.data_dir.join(KEY_FILE)).map(|key| (key, KeySource::Generated))
}

fn load_or_generate(path: &Path) -> Result<Vec<u8>, IdentityError> {
    let key = key_file::load_or_generate(path)
        .map_err(|e| IdentityError::SigningKey(format!("{}: {e}", path.display())))?;
    if key.len() < MIN_KEY_BYTES {
        return Err(IdentityError::SigningKey(format!(
            "{} holds {} bytes, 32 are needed",
            path.display(),
            key.len()
        )));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generated_once_private_and_reused() {
        let dir = std::env::temp_dir().join(format!("vg-key-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let config = Config {
            data_dir: dir.clone(),
            ..Config::default()
        };
        let (first, source) = load(&config).unwrap();
        assert_eq!(source, KeySource::Generated);
        assert_eq!(first.len(), 32);
        let (second, _) = load(&config).unwrap();
        assert_eq!(first, second);
        let mode = fs::metadata(dir.join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::remove_dir_all(dir).unwrap();
    }
}
