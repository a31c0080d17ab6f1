//! Text to speech: the voice a request names (by name, by language, or the default) resolved
//! by the voices service, then one text spoken with the shared engines' streamed synthesis as
//! `audio-start`, `audio-chunk`s and `audio-stop`.

use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use speech::SpeechError;
use speech::synth::{Container, SampleRate};
use tokio::sync::mpsc;

use crate::engines::EnginesError;
use crate::engines::stream::{self, OwnedSynthesis};
use crate::voices::VoicesError;
use crate::voices::catalog::ResolvedVoice;
use crate::wyoming::context::WyomingContext;
use crate::wyoming::event::{ErrorCode, Event, Refusal};

/// Audio bytes per `audio-chunk` at most (whole 16-bit samples).
const CHUNK_BYTES: usize = 16 * 1024;

/// The client is gone: nothing more can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone;

/// A voice chosen for a synthesis: what the engines speak with, and the rate they speak at.
#[derive(Debug, Clone)]
pub struct ChosenVoice {
    /// The voice, resolved.
    pub voice: ResolvedVoice,
    /// Its engine voice's own rate (no resampling).
    pub rate: SampleRate,
}

fn voices_refusal(e: VoicesError) -> Refusal {
    match e {
        VoicesError::NotFound(why) => Refusal::new(ErrorCode::UnknownVoice, why),
        VoicesError::Busy => {
            Refusal::new(ErrorCode::SpeechUnavailable, VoicesError::Busy.to_string())
        }
        VoicesError::Speech(why) => Refusal::new(ErrorCode::SpeechUnavailable, why),
        other => {
            tracing::error!(error = %other, "a Wyoming voice could not be read");
            Refusal::new(ErrorCode::Failed, "the voice could not be read")
        }
    }
}

fn engines_refusal(e: &EnginesError) -> Refusal {
    Refusal::new(ErrorCode::SpeechUnavailable, e.to_string())
}

/// Whether a voice of `voice_language` speaks what a client asked for as `wanted`: the same
/// tag (case and `_` aside), or, failing any such voice, the same primary language.
pub fn same_language(voice_language: &str, wanted: &str, primary_only: bool) -> bool {
    let norm = |tag: &str| tag.to_ascii_lowercase().replace('_', "-");
    let (voice_language, wanted) = (norm(voice_language), norm(wanted));
    if primary_only {
        voice_language.split('-').next() == wanted.split('-').next()
    } else {
        voice_language == wanted
    }
}

/// The voice `voice` (a `synthesize`'s `voice` object) asks for: by `name`, else the first
/// offered voice of its `language` (the default voice when it speaks it), else the default
/// voice (`wyoming.default_voice`).
pub async fn choose_voice(
    ctx: &WyomingContext,
    voice: Option<&Map<String, Value>>,
) -> Result<ChosenVoice, Refusal> {
    let field = |key: &str| {
        voice
            .and_then(|v| v.get(key))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let exposed = &ctx.config.expose_built_voices;
    let default = ctx.config.default_voice.as_str();
    let name = match (field("name"), field("language")) {
        (Some(name), _) => name.to_string(),
        (None, Some(language)) => {
            let offered = ctx
                .voices
                .offered_voices(exposed)
                .await
                .map_err(voices_refusal)?;
            let pick = |primary_only: bool| {
                let speaking: Vec<&str> = offered
                    .iter()
                    .filter(|v| same_language(&v.language, language, primary_only))
                    .map(|v| v.name.as_str())
                    .collect();
                speaking
                    .iter()
                    .find(|name| **name == default)
                    .or(speaking.first())
                    .map(|name| (*name).to_string())
            };
            pick(false).or_else(|| pick(true)).ok_or_else(|| {
                Refusal::new(
                    ErrorCode::UnknownVoice,
                    format!("no voice speaks the language {language:?}"),
                )
            })?
        }
        (None, None) => default.to_string(),
    };
    let voice = ctx
        .voices
        .offered_voice(exposed, &name)
        .await
        .map_err(voices_refusal)?;
    let synth = ctx
        .engines
        .synthesizer()
        .await
        .map_err(|e| engines_refusal(&e))?;
    let native = synth.voice(&voice.engine_voice).map(|v| v.sample_rate);
    let rate = native
        .and_then(SampleRate::new)
        .or_else(|| SampleRate::new(22050))
        .unwrap_or(SampleRate::HZ_48000);
    Ok(ChosenVoice { voice, rate })
}

/// The `audio-start`, `audio-chunk` or `audio-stop` of 16-bit mono audio at `rate`.
fn audio_event(kind: &str, rate: SampleRate) -> Event {
    Event::new(kind, json!({"rate": rate.hz(), "width": 2, "channels": 1}))
}

async fn send(out: &mpsc::Sender<Event>, event: Event) -> Result<(), Gone> {
    out.send(event).await.map_err(|_| Gone)
}

/// Speaks `text` with `chosen` to `out`. A refusal before any audio (busy engines, nothing to
/// speak) is an `error` event, unless `quiet_if_empty` and there was nothing to speak (a
/// sentence of a streamed text that is only punctuation).
pub async fn speak(
    ctx: &WyomingContext,
    chosen: &ChosenVoice,
    text: String,
    out: &mpsc::Sender<Event>,
    quiet_if_empty: bool,
) -> Result<(), Gone> {
    let refuse = |refusal: Refusal| Event::error(&refusal);
    let started = async {
        let synth = ctx
            .engines
            .synthesizer()
            .await
            .map_err(|e| engines_refusal(&e))?;
        let slot = ctx.engines.slot().await.map_err(|e| engines_refusal(&e))?;
        let job = OwnedSynthesis {
            voice: chosen.voice.engine_voice.clone(),
            text,
            modifiers: chosen.voice.profile,
            sample_rate: chosen.rate,
        };
        stream::start(synth, job, Container::Pcm, slot, ctx.drain_timeout)
            .await
            .map_err(|e| match e {
                SpeechError::InvalidParameter { name: "script", .. } => Refusal::new(
                    ErrorCode::NothingToSpeak,
                    "there is nothing to speak in the text",
                ),
                other => Refusal::new(ErrorCode::Failed, format!("synthesis failed: {other}")),
            })
    };
    let mut audio = match started.await {
        Ok(audio) => Box::pin(audio),
        Err(refusal) if quiet_if_empty && refusal.code == ErrorCode::NothingToSpeak => {
            return Ok(());
        }
        Err(refusal) => return send(out, refuse(refusal)).await,
    };
    send(out, audio_event("audio-start", chosen.rate)).await?;
    while let Some(bytes) = audio.next().await {
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(e) => {
                let refusal = Refusal::new(ErrorCode::Failed, format!("synthesis failed: {e}"));
                return send(out, refuse(refusal)).await;
            }
        };
        let mut offset = 0;
        while offset < bytes.len() {
            let end = (offset + CHUNK_BYTES).min(bytes.len());
            let chunk =
                audio_event("audio-chunk", chosen.rate).with_payload(bytes.slice(offset..end));
            send(out, chunk).await?;
            offset = end;
        }
    }
    send(out, audio_event("audio-stop", chosen.rate)).await?;
    if let Err(e) = ctx.voices.count_offered_synthesis(&chosen.voice).await {
        tracing::warn!(error = %e, "a Wyoming synthesis could not be counted");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_match_by_tag_then_by_primary_language() {
        assert!(same_language("en-us", "en-US", false));
        assert!(same_language("en-us", "en_US", false));
        assert!(!same_language("en-gb", "en-US", false));
        assert!(same_language("en-gb", "en-US", true));
        assert!(same_language("en", "en", false));
        assert!(!same_language("de", "en", true));
    }
}
