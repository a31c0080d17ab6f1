//! The voices surface's types: ids that cannot be mixed up, a build's status, an account's
//! gender, and the entries of the voice list.

use serde::{Serialize, Serializer};

use crate::ids::text_id;

text_id! {
    /// A voice account's id (32 hex digits).
    AccountId
}
text_id! {
    /// A voice build's id (32 hex digits).
    BuildId
}
text_id! {
    /// A voice's id: 32 hex digits for a built voice, the engine voice id (`espeak:en-us`) for a
    /// built-in one.
    VoiceId
}
text_id! {
    /// A registered device's id (32 hex digits).
    DeviceId
}

/// Where a build is: the contract's three states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildStatus {
    /// Queued or running.
    Pending,
    /// Done; the voice exists.
    Complete,
    /// Ended without a voice; the build says why.
    Error,
}

impl BuildStatus {
    /// The contract's (and the database's) name.
    pub const fn as_str(self) -> &'static str {
        match self {
            BuildStatus::Pending => "PENDING",
            BuildStatus::Complete => "COMPLETE",
            BuildStatus::Error => "ERROR",
        }
    }

    /// The status of a name, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        [
            BuildStatus::Pending,
            BuildStatus::Complete,
            BuildStatus::Error,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

impl Serialize for BuildStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// An account's gender, which picks the base voice of its builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    /// `male`.
    Male,
    /// `female`.
    Female,
    /// `other`.
    Other,
}

impl Gender {
    /// The contract's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Gender::Male => "male",
            Gender::Female => "female",
            Gender::Other => "other",
        }
    }

    /// The gender of a name, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        [Gender::Male, Gender::Female, Gender::Other]
            .into_iter()
            .find(|g| g.as_str() == text)
    }
}

/// One entry of `voices/list`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VoiceEntry {
    /// The account the voice was built for; null for the engines' own voices.
    #[schema(value_type = Option<String>)]
    pub account_id: Option<AccountId>,
    /// Whether the voice file can be downloaded.
    pub can_download: bool,
    /// Whether the voice can be used for synthesis.
    pub can_stream: bool,
    /// Token for synthesis and downloads.
    pub download_token: String,
    /// When the voice stops being available (Unix seconds), or null.
    pub expiration: Option<i64>,
    /// Syntheses made with the voice (by this user, for built-in voices).
    pub synthesis_count: i64,
    /// The voice's id.
    #[schema(value_type = String)]
    pub voice_id: VoiceId,
    /// Suggested file name of the downloaded voice.
    pub filename: String,
    /// "Hi Res" (22.05 kHz and up) or "Low Res".
    pub model_name: String,
    /// The voice's name.
    pub name: String,
    /// Language tag.
    pub language: String,
    /// The engine voice it speaks with.
    pub base_voice: String,
}

/// Outcome of `build/new`.
#[derive(Debug)]
pub enum BuildRequest {
    /// Queued with this build id.
    Created(BuildId),
    /// The account already has a pending build.
    AlreadyPending,
}

/// The quality name of a voice of `sample_rate`, as the contract lists it.
pub fn model_name(sample_rate: u32) -> &'static str {
    if sample_rate >= 22050 {
        "Hi Res"
    } else {
        "Low Res"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_genders_round_trip() {
        for status in [
            BuildStatus::Pending,
            BuildStatus::Complete,
            BuildStatus::Error,
        ] {
            assert_eq!(BuildStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(BuildStatus::parse("pending"), None);
        assert_eq!(
            serde_json::to_value(BuildStatus::Complete).unwrap(),
            "COMPLETE"
        );
        assert_eq!(Gender::parse("other"), Some(Gender::Other));
        assert_eq!(Gender::parse("robot"), None);
    }
}
