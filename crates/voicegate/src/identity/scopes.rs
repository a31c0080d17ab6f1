//! The scopes every protected route names, and which scopes each role grants.

use crate::identity::IdentityError;

/// Control Open Voice OS (the ovos-api surface).
pub const OVOS: &str = "ovos";
/// Administer voicegate.
pub const ADMIN: &str = "admin";
/// Multi-room speakers (the hk-omni-api surface).
pub const SPEAKERS: &str = "speakers";
/// Voice assistants (the snips-console surface).
pub const ASSISTANT: &str = "assistant";
/// Read the user's own profile (vocalid-api).
pub const USER_INFO: &str = "user:info";
/// List voices (vocalid-api).
pub const VOICE_LIST: &str = "voice:list";
/// Synthesize speech (vocalid-api).
pub const VOICE_SYNTHESIS: &str = "voice:synthesis";
/// Download voices and licences (vocalid-api).
pub const VOICE_DOWNLOAD: &str = "voice:download";
/// Build voices (vocalid-api).
pub const VOICE_BUILD: &str = "voice_build";
/// Manage voice accounts and recordings (vocalid-api).
pub const EXTERNAL_ACCOUNT: &str = "external_account";

/// A scope as a type, for extractors that check it before the request body is read.
pub trait Scope: Send + Sync + 'static {
    /// The scope's name.
    const NAME: &'static str;
}

/// The `ovos` scope as a type.
pub struct OvosScope;

impl Scope for OvosScope {
    const NAME: &'static str = OVOS;
}

/// The `user:info` scope as a type.
pub struct UserInfoScope;

impl Scope for UserInfoScope {
    const NAME: &'static str = USER_INFO;
}

macro_rules! scope_type {
    ($(#[$doc:meta] $name:ident = $scope:expr;)*) => {$(
        #[$doc]
        pub struct $name;

        impl Scope for $name {
            const NAME: &'static str = $scope;
        }
    )*};
}

scope_type! {
    /// The `external_account` scope as a type.
    ExternalAccountScope = EXTERNAL_ACCOUNT;
    /// The `voice_build` scope as a type.
    VoiceBuildScope = VOICE_BUILD;
    /// The `voice:list` scope as a type.
    VoiceListScope = VOICE_LIST;
    /// The `voice:synthesis` scope as a type.
    VoiceSynthesisScope = VOICE_SYNTHESIS;
    /// The `voice:download` scope as a type.
    VoiceDownloadScope = VOICE_DOWNLOAD;
}

/// Every scope voicegate knows, in the order tokens list them.
pub const ALL: &[&str] = &[
    OVOS,
    SPEAKERS,
    ASSISTANT,
    USER_INFO,
    VOICE_LIST,
    VOICE_SYNTHESIS,
    VOICE_DOWNLOAD,
    VOICE_BUILD,
    EXTERNAL_ACCOUNT,
    ADMIN,
];

/// Parses a space- or comma-separated scope list; an unknown scope is an error, never dropped.
pub fn parse_list(text: &str) -> Result<Vec<String>, IdentityError> {
    let mut scopes = Vec::new();
    for scope in text.split([' ', ',']).filter(|s| !s.is_empty()) {
        if !ALL.contains(&scope) {
            return Err(IdentityError::Validation(format!(
                "unknown scope {scope:?}; known scopes: {}",
                ALL.join(" ")
            )));
        }
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_string());
        }
    }
    Ok(scopes)
}

/// The scopes to grant: `requested` (default: all of `allowed`), which must be non-empty and
/// within `allowed` (a role's scopes): a grant never exceeds its role.
pub fn grant_within(
    requested: Option<Vec<String>>,
    allowed: &[String],
) -> Result<Vec<String>, IdentityError> {
    let granted = requested.unwrap_or_else(|| allowed.to_vec());
    if let Some(beyond) = granted.iter().find(|s| !allowed.contains(s)) {
        return Err(IdentityError::Validation(format!(
            "the user's role does not grant {beyond:?}"
        )));
    }
    if granted.is_empty() {
        return Err(IdentityError::Validation(
            "at least one scope is needed".into(),
        ));
    }
    Ok(granted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_scopes_are_refused_and_duplicates_folded() {
        assert_eq!(
            parse_list("ovos user:info,ovos").unwrap(),
            vec!["ovos", "user:info"]
        );
        assert!(parse_list("ovos everything").is_err());
        assert!(parse_list("").unwrap().is_empty());
    }
}
