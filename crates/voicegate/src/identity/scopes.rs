//! Scopes: what a token may do. Every protected route names the one it needs as a type
//! ([`RequiredScope`], checked by the `Authorized<S>` extractor before the body is read); a token
//! carries a [`ScopeSet`], and each role grants one.

use std::fmt;

use serde::{Serialize, Serializer};

/// A scope list that cannot be granted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// A name that is no scope.
    #[error("unknown scope {0:?}; known scopes: {known}", known = ScopeSet::of(&Scope::ALL))]
    Unknown(String),
    /// A scope beyond what the user's role grants.
    #[error("the user's role does not grant {:?}", .0.as_str())]
    BeyondRole(Scope),
    /// No scope at all.
    #[error("at least one scope is needed")]
    Empty,
}

/// One scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Control Open Voice OS (the ovos-api surface).
    Ovos,
    /// Multi-room speakers (the hk-omni-api surface).
    Speakers,
    /// Voice assistants (the snips-console surface).
    Assistant,
    /// Read the user's own profile (vocalid-api).
    UserInfo,
    /// List voices (vocalid-api).
    VoiceList,
    /// Synthesize speech (vocalid-api).
    VoiceSynthesis,
    /// Download voices and licences (vocalid-api).
    VoiceDownload,
    /// Build voices (vocalid-api).
    VoiceBuild,
    /// Manage voice accounts and recordings (vocalid-api).
    ExternalAccount,
    /// Administer voicegate.
    Admin,
}

impl Scope {
    /// Every scope, in the order tokens list them.
    pub const ALL: [Scope; 10] = [
        Scope::Ovos,
        Scope::Speakers,
        Scope::Assistant,
        Scope::UserInfo,
        Scope::VoiceList,
        Scope::VoiceSynthesis,
        Scope::VoiceDownload,
        Scope::VoiceBuild,
        Scope::ExternalAccount,
        Scope::Admin,
    ];

    /// The scope's name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Ovos => "ovos",
            Scope::Speakers => "speakers",
            Scope::Assistant => "assistant",
            Scope::UserInfo => "user:info",
            Scope::VoiceList => "voice:list",
            Scope::VoiceSynthesis => "voice:synthesis",
            Scope::VoiceDownload => "voice:download",
            Scope::VoiceBuild => "voice_build",
            Scope::ExternalAccount => "external_account",
            Scope::Admin => "admin",
        }
    }

    /// The scope of a name, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == name)
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A set of scopes. Copy, compared and checked without allocating; written as the names
/// separated by spaces, in [`Scope::ALL`] order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ScopeSet(u16);

impl ScopeSet {
    /// No scope.
    pub const EMPTY: ScopeSet = ScopeSet(0);

    /// The set of these scopes.
    pub const fn of(scopes: &[Scope]) -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < scopes.len() {
            bits |= scopes[i].bit();
            i += 1;
        }
        Self(bits)
    }

    /// The set without `scope`.
    pub const fn without(self, scope: Scope) -> ScopeSet {
        ScopeSet(self.0 & !scope.bit())
    }

    /// Whether the set holds `scope`.
    pub const fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// Whether every scope of `self` is in `other`.
    pub const fn is_subset(self, other: ScopeSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// The scopes in both sets.
    pub const fn intersection(self, other: ScopeSet) -> ScopeSet {
        ScopeSet(self.0 & other.0)
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes, in [`Scope::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// The first scope of `self` that `allowed` lacks, if any.
    pub fn first_beyond(self, allowed: ScopeSet) -> Option<Scope> {
        ScopeSet(self.0 & !allowed.0).iter().next()
    }

    /// Parses a space- or comma-separated list typed by a person or a client; an unknown scope is
    /// an error, never dropped.
    pub fn parse(text: &str) -> Result<Self, ScopeError> {
        let mut set = Self::EMPTY;
        for name in text.split([' ', ',']).filter(|s| !s.is_empty()) {
            let scope = Scope::parse(name).ok_or_else(|| ScopeError::Unknown(name.to_string()))?;
            set.0 |= scope.bit();
        }
        Ok(set)
    }

    /// Reads a list this server stored or signed itself (a token's claim, a database column).
    /// A name it does not know (written by a newer version) grants nothing here.
    pub fn from_stored(text: &str) -> Self {
        let mut set = Self::EMPTY;
        for scope in text.split(' ').filter_map(Scope::parse) {
            set.0 |= scope.bit();
        }
        set
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScopeSet({self})")
    }
}

impl Serialize for ScopeSet {
    /// A list of names: `["ovos", "user:info"]`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        ScopeSet(iter.into_iter().fold(0, |bits, s| bits | s.bit()))
    }
}

/// The scopes to grant: `requested` (default: all of `allowed`), which must be non-empty and
/// within `allowed` (a role's scopes): a grant never exceeds its role.
pub fn grant_within(
    requested: Option<ScopeSet>,
    allowed: ScopeSet,
) -> Result<ScopeSet, ScopeError> {
    let granted = requested.unwrap_or(allowed);
    if let Some(beyond) = granted.first_beyond(allowed) {
        return Err(ScopeError::BeyondRole(beyond));
    }
    if granted.is_empty() {
        return Err(ScopeError::Empty);
    }
    Ok(granted)
}

/// A scope as a type, for extractors that check it before the request body is read.
pub trait RequiredScope: Send + Sync + 'static {
    /// The scope.
    const SCOPE: Scope;
}

macro_rules! scope_type {
    ($(#[$doc:meta] $name:ident = $scope:expr;)*) => {$(
        #[$doc]
        pub struct $name;

        impl RequiredScope for $name {
            const SCOPE: Scope = $scope;
        }
    )*};
}

scope_type! {
    /// The `ovos` scope as a type.
    OvosScope = Scope::Ovos;
    /// The `user:info` scope as a type.
    UserInfoScope = Scope::UserInfo;
    /// The `external_account` scope as a type.
    ExternalAccountScope = Scope::ExternalAccount;
    /// The `voice_build` scope as a type.
    VoiceBuildScope = Scope::VoiceBuild;
    /// The `voice:list` scope as a type.
    VoiceListScope = Scope::VoiceList;
    /// The `voice:synthesis` scope as a type.
    VoiceSynthesisScope = Scope::VoiceSynthesis;
    /// The `voice:download` scope as a type.
    VoiceDownloadScope = Scope::VoiceDownload;
    /// The `speakers` scope as a type.
    SpeakersScope = Scope::Speakers;
    /// The `assistant` scope as a type.
    AssistantScope = Scope::Assistant;
    /// The `admin` scope as a type.
    AdminScope = Scope::Admin;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_scopes_are_refused_and_duplicates_folded() {
        let set = ScopeSet::parse("user:info ovos,ovos").unwrap();
        assert_eq!(set.to_string(), "ovos user:info");
        assert_eq!(
            serde_json::to_value(set).unwrap(),
            serde_json::json!(["ovos", "user:info"])
        );
        assert!(ScopeSet::parse("ovos everything").is_err());
        assert!(ScopeSet::parse("").unwrap().is_empty());
        assert_eq!(
            ScopeSet::from_stored("ovos from-the-future admin"),
            ScopeSet::of(&[Scope::Ovos, Scope::Admin])
        );
    }

    #[test]
    fn every_scope_round_trips_and_sets_compare() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        let all = ScopeSet::of(&Scope::ALL);
        assert_eq!(ScopeSet::from_stored(&all.to_string()), all);
        let some = ScopeSet::of(&[Scope::Ovos, Scope::VoiceBuild]);
        assert!(some.is_subset(all) && !all.is_subset(some));
        assert_eq!(all.first_beyond(some), Some(Scope::Speakers));
        assert_eq!(some.first_beyond(all), None);
        assert_eq!(
            grant_within(None, some).unwrap(),
            some,
            "no request: the whole allowance"
        );
        assert!(grant_within(Some(all), some).is_err());
        assert!(grant_within(Some(ScopeSet::EMPTY), some).is_err());
    }
}
