//! Speech to text: `transcribe` chooses an offered assistant's recogniser (by name, by
//! language, or the first), `audio-start`, `audio-chunk`s and `audio-stop` bring the audio
//! (16-bit, mono or stereo, at any rate from 8 to 48 kHz), which the assistants service
//! resamples to the recogniser's rate and decodes; the answer is one `transcript`.

use serde_json::json;

use crate::assistants::AssistantsError;
use crate::assistants::asr_repo::RecognizerRow;
use crate::assistants::recognize::at_recognizer_rate;
use crate::wyoming::context::WyomingContext;
use crate::wyoming::event::{ErrorCode, Event, Refusal};
use crate::wyoming::tts::same_language;

/// The rates accepted, in Hz.
const RATES: std::ops::RangeInclusive<u64> = 8000..=48000;

/// The audio of a transcription as it arrives.
#[derive(Debug)]
struct Collecting {
    rate: u32,
    channels: u16,
    /// Mono samples (stereo is mixed down).
    samples: Vec<i16>,
    max_samples: usize,
    too_long: bool,
}

/// One connection's transcription: the model chosen, the audio being received.
#[derive(Debug, Default)]
pub struct Transcription {
    model: Option<RecognizerRow>,
    audio: Option<Collecting>,
}

/// The format of an `audio-start` or `audio-chunk`: rate, channels (the width must be 2).
fn format(event: &Event) -> Result<(u32, u16), Refusal> {
    let bad = |why: String| Refusal::new(ErrorCode::BadAudio, why);
    let rate = event
        .number("rate")
        .filter(|r| RATES.contains(r))
        .ok_or_else(|| {
            bad(format!(
                "{}: rate must be from 8000 to 48000 Hz",
                event.kind
            ))
        })?;
    if event.number("width") != Some(2) {
        return Err(bad(format!(
            "{}: width must be 2 (16-bit samples)",
            event.kind
        )));
    }
    let channels = event
        .number("channels")
        .filter(|c| (1..=2).contains(c))
        .ok_or_else(|| bad(format!("{}: channels must be 1 or 2", event.kind)))?;
    Ok((rate as u32, channels as u16))
}

/// The offered recogniser `name` names, else the first of `language`, else the first.
async fn choose(
    ctx: &WyomingContext,
    name: Option<&str>,
    language: Option<&str>,
) -> Result<RecognizerRow, Refusal> {
    let rows = ctx
        .assistants
        .recognizers(&ctx.config.expose_assistants)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "the Wyoming recognisers could not be listed");
            Refusal::new(ErrorCode::Failed, "the recognisers could not be listed")
        })?;
    let unknown = |why: String| Refusal::new(ErrorCode::UnknownModel, why);
    match (name, language) {
        (Some(name), _) => rows
            .into_iter()
            .find(|row| row.id.as_str() == name)
            .ok_or_else(|| unknown(format!("no model {name:?} is offered"))),
        (None, Some(language)) => {
            let pick = |primary_only: bool| {
                rows.iter()
                    .find(|row| same_language(&row.language, language, primary_only))
                    .cloned()
            };
            pick(false)
                .or_else(|| pick(true))
                .ok_or_else(|| unknown(format!("no model is offered for {language:?}")))
        }
        (None, None) => rows
            .into_iter()
            .next()
            .ok_or_else(|| unknown("no assistant with a language model is offered".into())),
    }
}

impl Transcription {
    /// `transcribe {name, language}`: chooses the recogniser.
    pub async fn transcribe(&mut self, ctx: &WyomingContext, event: &Event) -> Result<(), Refusal> {
        let text = |key| event.text(key).filter(|s| !s.is_empty());
        self.audio = None;
        self.model = None;
        self.model = Some(choose(ctx, text("name"), text("language")).await?);
        Ok(())
    }

    /// `audio-start`: the audio's format; the first offered recogniser when no `transcribe`
    /// came.
    pub async fn start(&mut self, ctx: &WyomingContext, event: &Event) -> Result<(), Refusal> {
        self.audio = None;
        let (rate, channels) = format(event)?;
        if self.model.is_none() {
            self.model = Some(choose(ctx, None, None).await?);
        }
        let max_samples = (ctx.max_audio_secs * f64::from(rate)) as usize;
        self.audio = Some(Collecting {
            rate,
            channels,
            samples: Vec::with_capacity(max_samples.min(rate as usize * 10)),
            max_samples,
            too_long: false,
        });
        Ok(())
    }

    /// `audio-chunk`: more audio, in the format `audio-start` gave. Past the longest audio
    /// taken the rest is dropped (and `audio-stop` is refused).
    pub fn chunk(&mut self, event: &Event) -> Result<(), Refusal> {
        let Some(audio) = self.audio.as_mut() else {
            return Err(Refusal::new(
                ErrorCode::OutOfOrder,
                "audio-chunk without audio-start",
            ));
        };
        if format(event)? != (audio.rate, audio.channels) {
            return Err(Refusal::new(
                ErrorCode::BadAudio,
                "audio-chunk: its rate, width or channels differ from audio-start's",
            ));
        }
        let frame = 2 * usize::from(audio.channels);
        if !event.payload.len().is_multiple_of(frame) {
            return Err(Refusal::new(
                ErrorCode::BadAudio,
                format!(
                    "audio-chunk: {} bytes is not a whole number of {frame}-byte frames",
                    event.payload.len()
                ),
            ));
        }
        if audio.too_long {
            return Ok(());
        }
        for frame in event.payload.chunks_exact(frame) {
            let sample = |i: usize| i32::from(i16::from_le_bytes([frame[i], frame[i + 1]]));
            let mixed = match audio.channels {
                1 => sample(0),
                _ => (sample(0) + sample(2)) / 2,
            };
            audio.samples.push(mixed as i16);
        }
        if audio.samples.len() > audio.max_samples {
            audio.too_long = true;
            audio.samples = Vec::new();
        }
        Ok(())
    }

    /// `audio-stop`: the `transcript` of the audio.
    pub async fn stop(&mut self, ctx: &WyomingContext) -> Result<Event, Refusal> {
        let (Some(audio), Some(model)) = (self.audio.take(), self.model.take()) else {
            return Err(Refusal::new(
                ErrorCode::OutOfOrder,
                "audio-stop without audio-start",
            ));
        };
        if audio.too_long {
            return Err(Refusal::new(
                ErrorCode::AudioTooLong,
                format!(
                    "the audio is longer than {} s (assistants.asr_max_audio_secs)",
                    ctx.max_audio_secs
                ),
            ));
        }
        let transcript = |text: &str| {
            Event::new(
                "transcript",
                json!({"text": text, "language": model.language}),
            )
        };
        // Less than a tenth of a second holds no word.
        if audio.samples.len() < audio.rate as usize / 10 {
            return Ok(transcript(""));
        }
        let rate = audio.rate;
        let samples = tokio::task::spawn_blocking(move || {
            let floats: Vec<f32> = audio
                .samples
                .iter()
                .map(|s| f32::from(*s) / 32768.0)
                .collect();
            at_recognizer_rate(&floats, rate)
        })
        .await
        .map_err(|e| Refusal::new(ErrorCode::Failed, e.to_string()))?
        .map_err(|e| Refusal::new(ErrorCode::BadAudio, e.to_string()))?;
        match ctx.assistants.transcribe(&model.id, samples).await {
            Ok(heard) => Ok(transcript(&heard.text)),
            Err(AssistantsError::NotFound(why)) => Err(Refusal::new(ErrorCode::UnknownModel, why)),
            Err(e) => {
                tracing::error!(error = %e, assistant = model.id.as_str(), "a Wyoming transcription failed");
                Err(Refusal::new(ErrorCode::Failed, "recognition failed"))
            }
        }
    }
}
