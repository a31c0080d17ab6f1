//! A Wyoming event as this server handles it: its type, its data (the header's `data` with the
//! data block merged over it) and its payload; the refusals it answers with `error` events.

use axum::body::Bytes;
use serde_json::{Map, Value, json};

/// The `wyoming` Python package release whose protocol this server speaks (each event's
/// `version`).
pub const PROTOCOL_VERSION: &str = "1.10.2";

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `type`: `describe`, `synthesize`, `audio-chunk`, …
    pub kind: String,
    /// `data`: an object, empty when the event has none.
    pub data: Map<String, Value>,
    /// The payload (audio), empty when the event has none.
    pub payload: Bytes,
}

impl Event {
    /// An event of `kind` with `data` (an object; anything else is no data).
    pub fn new(kind: &str, data: Value) -> Self {
        let data = match data {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Self {
            kind: kind.to_string(),
            data,
            payload: Bytes::new(),
        }
    }

    /// The same event carrying `payload`.
    pub fn with_payload(mut self, payload: Bytes) -> Self {
        self.payload = payload;
        self
    }

    /// The `error` event telling the client why.
    pub fn error(refusal: &Refusal) -> Self {
        Self::new(
            "error",
            json!({"text": refusal.text, "code": refusal.code.as_str()}),
        )
    }

    /// The text field `key` of the data, when it is text.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.data.get(key).and_then(Value::as_str)
    }

    /// The object field `key` of the data, when it is an object.
    pub fn object(&self, key: &str) -> Option<&Map<String, Value>> {
        self.data.get(key).and_then(Value::as_object)
    }

    /// The whole-number field `key` of the data, when it is one.
    pub fn number(&self, key: &str) -> Option<u64> {
        self.data.get(key).and_then(Value::as_u64)
    }
}

/// The `code` of an `error` event: what kind of refusal it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The client's address is not in `wyoming.allow`.
    NotAllowed,
    /// `wyoming.max_connections` are open.
    Busy,
    /// No complete event within `wyoming.idle_timeout_secs`.
    Idle,
    /// A header line longer than `wyoming.max_header_bytes`.
    HeaderTooLong,
    /// A header or data block that is not JSON.
    BadJson,
    /// A header without a `type`, or with lengths that are not whole numbers.
    BadHeader,
    /// A data block larger than `wyoming.max_data_bytes`.
    DataTooLarge,
    /// A payload larger than `wyoming.max_payload_bytes`.
    PayloadTooLarge,
    /// An event type this server does not handle.
    UnknownEvent,
    /// An event whose data is missing or wrong.
    BadEvent,
    /// An event that does not fit where it came (audio without `audio-start`).
    OutOfOrder,
    /// `select-program` naming a program this server does not have.
    UnknownProgram,
    /// A voice that is not offered.
    UnknownVoice,
    /// A speech-to-text model that is not offered, or none at all.
    UnknownModel,
    /// Text longer than `wyoming.max_text_chars`.
    TextTooLong,
    /// Text with nothing to speak in it.
    NothingToSpeak,
    /// Audio in a format the server does not take.
    BadAudio,
    /// Audio longer than `assistants.asr_max_audio_secs`.
    AudioTooLong,
    /// The speech engines are busy or cannot start.
    SpeechUnavailable,
    /// Synthesis or recognition failed.
    Failed,
}

impl ErrorCode {
    /// The code as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotAllowed => "not-allowed",
            Self::Busy => "busy",
            Self::Idle => "idle-timeout",
            Self::HeaderTooLong => "header-too-long",
            Self::BadJson => "bad-json",
            Self::BadHeader => "bad-header",
            Self::DataTooLarge => "data-too-large",
            Self::PayloadTooLarge => "payload-too-large",
            Self::UnknownEvent => "unknown-event",
            Self::BadEvent => "bad-event",
            Self::OutOfOrder => "out-of-order",
            Self::UnknownProgram => "unknown-program",
            Self::UnknownVoice => "unknown-voice",
            Self::UnknownModel => "unknown-model",
            Self::TextTooLong => "text-too-long",
            Self::NothingToSpeak => "nothing-to-speak",
            Self::BadAudio => "bad-audio",
            Self::AudioTooLong => "audio-too-long",
            Self::SpeechUnavailable => "speech-unavailable",
            Self::Failed => "failed",
        }
    }
}

/// Why a request is refused: sent to the client as an `error` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The kind.
    pub code: ErrorCode,
    /// What a person reads.
    pub text: String,
}

impl Refusal {
    /// A refusal of `code` saying `text`.
    pub fn new(code: ErrorCode, text: impl Into<String>) -> Self {
        Self {
            code,
            text: text.into(),
        }
    }
}
