//! Speech to intent: audio (a WAV file of any rate and channel count, or raw 16 kHz mono 16-bit
//! PCM) decoded by PocketSphinx with the assistant's language model, the text then parsed by its
//! NLU model, with a decoder of the pool (`decoders.rs`).

use std::path::PathBuf;

use serde_json::{Value, json};
use speech::pocketsphinx::{DecoderConfig, Hypothesis, LanguageModelFile, SAMPLE_RATE};

use crate::assistants::asr_files::{ARPA, DICTIONARY, GRAMMAR};
use crate::assistants::asr_repo::RecognizerRow;
use crate::assistants::error::AssistantsError;
use crate::assistants::model::AssistantId;
use crate::assistants::service::AssistantsService;
use crate::config::Exposure;
use crate::ids::UserId;

/// The most recognisers offered at once.
const MAX_RECOGNIZERS: i64 = 1000;

/// How the audio of a request comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioFormat {
    /// A WAV file (recognised by its `RIFF` header).
    Wav,
    /// Raw 16 kHz mono signed 16-bit little-endian PCM.
    RawPcm,
}

/// The audio as 16 kHz mono samples; a bad request naming what is wrong otherwise.
pub fn read_audio(
    bytes: &[u8],
    format: AudioFormat,
    max_seconds: f64,
) -> Result<Vec<i16>, AssistantsError> {
    let bad = |what: String| AssistantsError::BadRequest(format!("audio: {what}"));
    if bytes.is_empty() {
        return Err(bad("the body is empty".into()));
    }
    let samples = match format {
        AudioFormat::Wav => {
            let limits = speech::wav::ReadLimits { max_seconds };
            let audio = speech::wav::read_wav(bytes, limits).map_err(|e| bad(e.to_string()))?;
            at_recognizer_rate(&audio.samples, audio.sample_rate)?
        }
        AudioFormat::RawPcm => {
            if !bytes.len().is_multiple_of(2) {
                return Err(bad(format!(
                    "raw PCM must be 16-bit samples: {} bytes is an odd count",
                    bytes.len()
                )));
            }
            let seconds = bytes.len() as f64 / 2.0 / f64::from(SAMPLE_RATE);
            if seconds > max_seconds {
                return Err(bad(format!(
                    "{seconds:.1} s is longer than {max_seconds} s (assistants.asr_max_audio_secs)"
                )));
            }
            bytes
                .chunks_exact(2)
                .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
                .collect::<Vec<i16>>()
        }
    };
    if samples.len() < (SAMPLE_RATE / 10) as usize {
        return Err(bad("shorter than 0.1 s".into()));
    }
    Ok(samples)
}

/// Samples at `rate` resampled to the recogniser's 16 kHz, as 16-bit samples.
pub fn at_recognizer_rate(samples: &[f32], rate: u32) -> Result<Vec<i16>, AssistantsError> {
    let resampled = speech::resample::resample(samples, rate, SAMPLE_RATE)
        .map_err(|e| AssistantsError::BadRequest(format!("audio: {e}")))?;
    Ok(resampled
        .into_iter()
        .map(speech::audio::f32_to_i16)
        .collect())
}

impl AssistantsService {
    /// `POST /v3/assistant/{id}/recognize`: the text heard, its confidence, and the NLU parse of
    /// it. A conflict when no language model (or no NLU model) was built.
    pub async fn recognize(
        &self,
        owner: UserId,
        id: &AssistantId,
        audio: &[u8],
        format: AudioFormat,
    ) -> Result<Value, AssistantsError> {
        let row = self.owned(owner, id).await?;
        let Some(sha256) = self.parts.repo.asr_row(id).await?.sha256 else {
            return Err(AssistantsError::Conflict(format!(
                "assistantId: assistant {:?} has no language model: POST /v1/languagemodel first",
                id.as_str()
            )));
        };
        let nlu = self.model(&row).await?;
        let samples = read_audio(audio, format, self.parts.config.asr_max_audio_secs)?;
        let heard = self.decode(id, sha256, samples).await?;
        let intent = serde_json::to_value(nlu.model.parse(&heard.text))
            .map_err(|e| AssistantsError::Model(e.to_string()))?;
        Ok(json!({
            "text": heard.text,
            "confidence": heard.confidence,
            "intent": intent,
        }))
    }

    /// The assistants offered as recognisers to clients without a user (the Wyoming server):
    /// those with a built language model that `exposed` names, by title.
    pub async fn recognizers(
        &self,
        exposed: &Exposure,
    ) -> Result<Vec<RecognizerRow>, AssistantsError> {
        if exposed.is_none() {
            return Ok(Vec::new());
        }
        let rows = self.parts.repo.with_language_model(MAX_RECOGNIZERS).await?;
        Ok(rows
            .into_iter()
            .filter(|row| exposed.exposes(row.id.as_str()))
            .collect())
    }

    /// What the recogniser of assistant `id` hears in 16 kHz samples, for a client without a
    /// user (the Wyoming server, which offers the assistants its configuration exposes). Not
    /// found when the assistant is gone or has no language model.
    pub async fn transcribe(
        &self,
        id: &AssistantId,
        samples: Vec<i16>,
    ) -> Result<Hypothesis, AssistantsError> {
        let Some(sha256) = self.parts.repo.asr_row(id).await?.sha256 else {
            return Err(AssistantsError::NotFound(format!(
                "assistant {:?} has no language model",
                id.as_str()
            )));
        };
        self.decode(id, sha256, samples).await
    }

    /// The samples decoded by the assistant's recogniser (its model `sha256`), with a decoder of
    /// the pool, on the blocking pool.
    async fn decode(
        &self,
        id: &AssistantId,
        sha256: String,
        samples: Vec<i16>,
    ) -> Result<Hypothesis, AssistantsError> {
        let config = &self.parts.config;
        let dir: PathBuf = self.parts.asr.model_dir(id, &sha256);
        let decoder_config = DecoderConfig {
            acoustic_model: config.asr_acoustic_model.clone(),
            language_model: if config.asr_search == "grammar" {
                LanguageModelFile::Grammar(dir.join(GRAMMAR))
            } else {
                LanguageModelFile::NGram(dir.join(ARPA))
            },
            dictionary: dir.join(DICTIONARY),
            beam: 10f64.powi(config.asr_beam_log10),
            word_beam: 10f64.powi(config.asr_word_beam_log10),
        };
        let (decoders, max, assistant) =
            (self.decoders.clone(), config.asr_max_decoders, id.clone());
        tokio::task::spawn_blocking(move || {
            let decoder = decoders.get(&assistant, &sha256, max, &decoder_config)?;
            let mut decoder = decoder.lock().unwrap_or_else(|e| e.into_inner());
            decoder
                .decode(&samples)
                .map_err(|e| AssistantsError::Model(e.to_string()))
        })
        .await
        .map_err(|e| AssistantsError::Store(e.to_string()))?
    }
}
