//! The ovos-api users.json format: `[{"user": NAME, "password": BCRYPT_HASH, "active": BOOL}]`.

use std::path::Path;

use serde::Deserialize;

use crate::identity::error::IdentityError;
use crate::identity::model::UserName;
use crate::identity::password;

/// One entry of a users.json file. `Debug` leaves the hash out.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// User name.
    pub user: String,
    /// Password hash (bcrypt as genpass.py makes it, or Argon2id).
    pub password: String,
    /// Whether the user may log in (default true).
    #[serde(default = "default_active")]
    pub active: bool,
}

impl std::fmt::Debug for UserEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserEntry")
            .field("user", &self.user)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

fn default_active() -> bool {
    true
}

/// Reads and validates a users.json file: every name valid and unique, every hash a known format.
pub fn read(path: &Path) -> Result<Vec<UserEntry>, IdentityError> {
    let fail = |reason: String| IdentityError::UsersFile {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let entries: Vec<UserEntry> = serde_json::from_str(&text)
        .map_err(|e| fail(format!("not an ovos-api users file: {e}")))?;
    let mut seen = std::collections::HashSet::new();
    for entry in &entries {
        UserName::parse(&entry.user).map_err(|e| fail(e.to_string()))?;
        if !seen.insert(entry.user.as_str()) {
            return Err(fail(format!("user {:?} appears twice", entry.user)));
        }
        if !password::is_supported_hash(&entry.password) {
            return Err(fail(format!(
                "user {:?}: the password is not a bcrypt or Argon2 hash (make one with `voicegate genpass`)",
                entry.user
            )));
        }
    }
    Ok(entries)
}
