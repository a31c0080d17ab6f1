//! The `[web]` section: the web console served at `/` (sign-in sessions kept in a cookie).

use serde::{Deserialize, Serialize};

/// When the session cookie carries the `Secure` attribute (sent over HTTPS only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecureCookie {
    /// When `public_url` is an `https://` address (a TLS proxy in front).
    Auto,
    /// Always.
    Always,
    /// Never (plain HTTP on a home network).
    Never,
}

/// The web console.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Whether the console's pages are served (the API works either way).
    pub enabled: bool,
    /// A session unused this long ends, in seconds.
    pub session_idle_secs: i64,
    /// A session ends this long after sign-in whatever its use, in seconds.
    pub session_max_secs: i64,
    /// Sessions one user may hold at once; signing in once more ends the oldest.
    pub max_sessions_per_user: u64,
    /// When the session cookie is marked `Secure`.
    pub secure_cookie: SecureCookie,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            session_idle_secs: 12 * 3600,
            session_max_secs: 7 * 24 * 3600,
            max_sessions_per_user: 20,
            secure_cookie: SecureCookie::Auto,
        }
    }
}

impl WebConfig {
    /// The first key out of range and why, or `None` when every value is usable.
    pub fn invalid(&self) -> Option<(&'static str, String)> {
        if !(60..=31 * 24 * 3600).contains(&self.session_idle_secs) {
            return Some(("web.session_idle_secs", "must be from 60 to 2678400".into()));
        }
        if !(self.session_idle_secs..=366 * 24 * 3600).contains(&self.session_max_secs) {
            return Some((
                "web.session_max_secs",
                "must be from web.session_idle_secs to 31622400".into(),
            ));
        }
        if !(1..=1000).contains(&self.max_sessions_per_user) {
            return Some(("web.max_sessions_per_user", "must be from 1 to 1000".into()));
        }
        None
    }
}
