//! Who each bus message voicegate sends is for, and the context that says so.
//!
//! Open Voice OS services read a message's context before they act on it. ovos-dinkum-listener
//! starts listening on `mycroft.mic.listen` only when `destination` names one of its native
//! sources (`Audio.native_sources`: `audio`, `debug_cli`, `mycroft-gui`) or when there is no
//! destination; ovos-audio speaks only for the device's own session (`session_id` `default`),
//! and every service logs a warning for a message without a `session`. So each message carries
//! the destination of the service it is meant for, and the configured session.

use serde_json::{Map, Value, json};

/// The `source` voicegate's messages carry (replies made with `message.reply()` are addressed
/// back to it).
pub const SOURCE: &str = "voicegate";

/// The services a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The device's own audio input and output (the listener, ovos-audio):
    /// `destination: ["audio"]`, a native source of the listener, which the listener uses itself
    /// when it asks to listen again after a question.
    Device,
    /// ovos-core and its skills: `destination: ["skills"]`, as the listener addresses the
    /// utterances it hears.
    Skills,
    /// Every service: no destination, which each service reads as a broadcast (stop, sleep and
    /// wake-up concern the listener, ovos-audio and the skills alike; volume belongs to whichever
    /// plugin drives the mixer).
    Everyone,
}

impl Audience {
    /// The `destination` for this audience, if any.
    pub fn destination(self) -> Option<Value> {
        match self {
            Self::Device => Some(json!(["audio"])),
            Self::Skills => Some(json!(["skills"])),
            Self::Everyone => None,
        }
    }
}

/// The audience of a message type voicegate sends. Types not listed (`ovos.api.*` of the
/// skill-rest-api companion skill, `skillmanager.*`, `recognizer_loop:utterance`) are for the
/// skills.
pub fn audience(msg_type: &str) -> Audience {
    match msg_type {
        "speak"
        | "mycroft.mic.listen"
        | "mycroft.mic.mute"
        | "mycroft.mic.unmute"
        | "mycroft.mic.get_status"
        | "recognizer_loop:state.get" => Audience::Device,
        "mycroft.stop"
        | "recognizer_loop:sleep"
        | "recognizer_loop:wake_up"
        | "mycroft.volume.get"
        | "mycroft.volume.set" => Audience::Everyone,
        _ => Audience::Skills,
    }
}

/// The context of a message of `msg_type`: voicegate as its source, the destination of its
/// audience, and the session `session_id`.
pub fn context(msg_type: &str, session_id: &str) -> Value {
    let mut context = Map::new();
    context.insert("source".into(), json!(SOURCE));
    if let Some(destination) = audience(msg_type).destination() {
        context.insert("destination".into(), destination);
    }
    context.insert("session".into(), json!({"session_id": session_id}));
    Value::Object(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_message_goes_to_its_service_with_the_session() {
        let device = [
            "speak",
            "mycroft.mic.listen",
            "mycroft.mic.mute",
            "mycroft.mic.unmute",
            "mycroft.mic.get_status",
        ];
        for msg_type in device {
            assert_eq!(
                context(msg_type, "default"),
                json!({"source": "voicegate", "destination": ["audio"], "session": {"session_id": "default"}}),
                "{msg_type}"
            );
        }
        let everyone = [
            "mycroft.stop",
            "recognizer_loop:sleep",
            "recognizer_loop:wake_up",
            "mycroft.volume.get",
            "mycroft.volume.set",
        ];
        for msg_type in everyone {
            assert_eq!(
                context(msg_type, "kitchen"),
                json!({"source": "voicegate", "session": {"session_id": "kitchen"}}),
                "{msg_type}"
            );
        }
        let skills = [
            "recognizer_loop:utterance",
            "skillmanager.list",
            "skillmanager.activate",
            "skillmanager.deactivate",
            "ovos.api.info",
            "ovos.api.skill_settings",
        ];
        for msg_type in skills {
            assert_eq!(
                context(msg_type, "default"),
                json!({"source": "voicegate", "destination": ["skills"], "session": {"session_id": "default"}}),
                "{msg_type}"
            );
        }
    }
}
