//! `describe` → `info`: one text-to-speech program listing the offered voices, and one
//! speech-to-text program with a model per offered assistant, with the fields Home Assistant's
//! Wyoming integration reads (`name`, `attribution`, `installed`, `description`, `version`,
//! `languages`; `supports_synthesize_streaming`).

use serde_json::{Value, json};

use crate::assistants::asr_repo::RecognizerRow;
use crate::voices::offered::OfferedVoice;
use crate::wyoming::event::Event;

/// The name of the one program of each kind (what `select-program` may name).
pub const PROGRAM: &str = "voicegate";

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn attribution(name: &str, url: &str) -> Value {
    json!({"name": name, "url": url})
}

/// Who made an engine's voices.
fn engine_attribution(engine: &str, voicegate: &Value) -> Value {
    match engine {
        "espeak" => attribution("eSpeak NG", "https://github.com/espeak-ng/espeak-ng"),
        "flite" => attribution("Flite", "http://www.festvox.org/flite/"),
        _ => voicegate.clone(),
    }
}

/// The `info` event for these voices and recognisers; `public_url` is where this server is
/// (the attribution of its programs, built voices and assistants).
pub fn info(voices: &[OfferedVoice], recognizers: &[RecognizerRow], public_url: &str) -> Event {
    let voicegate = attribution("voicegate", public_url);
    let voices: Vec<Value> = voices
        .iter()
        .map(|voice| {
            json!({
                "name": voice.name,
                "description": voice.description,
                "attribution": if voice.built { voicegate.clone() } else { engine_attribution(&voice.engine, &voicegate) },
                "installed": true,
                "version": VERSION,
                "languages": [voice.language],
                "speakers": null,
            })
        })
        .collect();
    let models: Vec<Value> = recognizers
        .iter()
        .map(|row| {
            json!({
                "name": row.id.as_str(),
                "description": row.title,
                "attribution": voicegate,
                "installed": true,
                "version": VERSION,
                "languages": [row.language],
            })
        })
        .collect();
    let tts = json!({
        "name": PROGRAM,
        "description": "voicegate text to speech (eSpeak NG, Flite and built voices)",
        "attribution": voicegate,
        "installed": !voices.is_empty(),
        "version": VERSION,
        "voices": voices,
        "supports_synthesize_streaming": true,
    });
    let asr = json!({
        "name": PROGRAM,
        "description": "voicegate speech to text: the assistants' constrained recognisers (PocketSphinx)",
        "attribution": voicegate,
        "installed": !models.is_empty(),
        "version": VERSION,
        "models": models,
        "supports_transcript_streaming": false,
        "requires_external_vad": true,
    });
    Event::new(
        "info",
        json!({
            "asr": [asr],
            "tts": [tts],
            "handle": [],
            "intent": [],
            "wake": [],
            "mic": [],
            "snd": [],
        }),
    )
}
