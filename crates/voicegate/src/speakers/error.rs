//! What can go wrong with the speakers, each mapped to one HTTP answer at the edge.

use crate::speakers::snapcast::control::SnapcastError;

/// A speakers operation's failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum SpeakerError {
    /// A parameter is missing or out of range (the text says which).
    #[error("{0}")]
    BadRequest(String),
    /// No such device.
    #[error("unknown DeviceID {0:?}")]
    UnknownDevice(String),
    /// No such session for this user (another user's session is unknown too).
    #[error("unknown SessionToken (sessions end when closed or after they are idle)")]
    UnknownSession,
    /// The user has as many sessions open as allowed.
    #[error("too many open sessions ({0} at most; close one first)")]
    TooManySessions(usize),
    /// Every stream source is playing for another session.
    #[error("all {0} speaker streams are in use by other sessions; stop one first")]
    AllStreamsBusy(usize),
    /// The session has no speakers to play on.
    #[error("the session has no speakers: add_device_to_session or set_party_mode first")]
    NoSpeakers,
    /// A resume, with nothing paused.
    #[error("nothing is paused in this session (play something first)")]
    NothingPaused,
    /// No hub media file has this PersistentID.
    #[error("unknown PersistentID {0:?} (media_list lists the hub media)")]
    UnknownMedia(String),
    /// The media is not audio that can be played, or is too long (the text says why).
    #[error("the media cannot be played: {0}")]
    BadMedia(String),
    /// Web media that cannot be had: the URL cannot be reached or is not allowed (one answer
    /// for both, naming no address), or its server did not answer with the media.
    #[error("{0}")]
    MediaUnavailable(String),
    /// The speech engines could not speak.
    #[error("the announcement could not be spoken: {0}")]
    Speech(String),
    /// The speaker system cannot be reached now.
    #[error("the speakers are not reachable now ({0})")]
    Unavailable(String),
    /// The instance that was playing the session is gone (its lease lapsed): its playback
    /// stopped with it.
    #[error(
        "the voicegate instance that was playing this session ({0}) is gone, so its playback \
         stopped: play something again to continue on another instance"
    )]
    OwnerGone(String),
    /// The instance playing the session did not answer a forwarded command in time.
    #[error(
        "the voicegate instance playing this session ({0}) did not answer within {1} ms \
         (speakers.forward_timeout_ms)"
    )]
    OwnerSilent(String, u64),
    /// The speaker system refused or garbled an operation.
    #[error("the speaker system failed: {0}")]
    Backend(String),
}

impl From<SnapcastError> for SpeakerError {
    fn from(e: SnapcastError) -> Self {
        match e {
            SnapcastError::Unavailable | SnapcastError::Timeout => Self::Unavailable(e.to_string()),
            SnapcastError::Refused { .. } | SnapcastError::BadAnswer(_) => {
                Self::Backend(e.to_string())
            }
        }
    }
}
