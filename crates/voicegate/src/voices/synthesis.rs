//! Synthesis (VocaliD `synthesis`): the query parsed once into [`SynthesisParams`] (the speech
//! crate owns the ranges of the modifiers and rates), then one call that speaks: the whole file
//! (exact sizes, a `Content-Length`), the audio streamed as it is produced (`stream=true`), or
//! the whole WAV uploaded to a `put_url`.

use std::pin::Pin;

use axum::body::Bytes;
use futures_util::Stream;
use serde::Deserialize;
use speech::synth::{Container, Factor, Modifiers, SampleRate, SynthesisRequest};
use utoipa::IntoParams;

use crate::engines::stream::{self, OwnedSynthesis};
use crate::ids::UserId;
use crate::voices::error::VoicesError;
use crate::voices::service::VoicesService;

/// The synthesis query as sent: every field text, each checked by [`SynthesisQuery::parse`].
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SynthesisQuery {
    /// The voice's download token.
    pub download_token: Option<String>,
    /// The text, at most `voices.max_script_chars` (256) characters.
    pub script: Option<String>,
    /// Pitch modifier in (0, 10], default 1.
    pub pitch: Option<String>,
    /// Rate modifier in (0, 10], default 1.
    pub rate: Option<String>,
    /// `wav` (default) or empty for raw 16-bit little-endian PCM.
    pub container: Option<String>,
    /// 8000, 11025, 16000, 22050, 32000, 44100 or 48000 (default).
    pub sample_rate: Option<String>,
    /// Upload the WAV there (PUT) instead of answering with it.
    pub put_url: Option<String>,
    /// `true` streams the audio as it is produced (no `Content-Length`, a WAV header with
    /// open-ended sizes); by default (`false`) the answer is the whole file.
    pub stream: Option<String>,
}

/// A synthesis request whose every part is acceptable.
#[derive(Debug, Clone)]
pub struct SynthesisParams {
    /// The voice's download token.
    pub download_token: String,
    /// The text (not blank, within the configured length).
    pub script: String,
    /// The client's pitch modifier.
    pub pitch: Factor,
    /// The client's rate modifier.
    pub rate: Factor,
    /// WAV or raw PCM.
    pub container: Container,
    /// The output rate.
    pub sample_rate: SampleRate,
    /// Where to upload the WAV instead of answering with it.
    pub put_url: Option<String>,
    /// Stream the audio as it is produced instead of answering with the whole file.
    pub stream: bool,
}

impl SynthesisQuery {
    /// Checks every parameter; the first bad one is a 400 that names it.
    pub fn parse(self, max_script_chars: usize) -> Result<SynthesisParams, VoicesError> {
        let download_token = self
            .download_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| VoicesError::BadRequest("download_token is required".into()))?;
        let script = self
            .script
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| VoicesError::BadRequest("script is required".into()))?;
        if script.chars().count() > max_script_chars {
            return Err(VoicesError::BadRequest(format!(
                "script: longer than {max_script_chars} characters"
            )));
        }
        let pitch = Factor::parse("pitch", self.pitch.as_deref().unwrap_or(""))?;
        let rate = Factor::parse("rate", self.rate.as_deref().unwrap_or(""))?;
        let container = match self.container.as_deref() {
            None | Some("wav") => Container::Wav,
            Some("") => Container::Pcm,
            Some(other) => {
                return Err(VoicesError::BadRequest(format!(
                    "container: {other:?} is not supported; use wav or an empty value for raw PCM"
                )));
            }
        };
        let sample_rate = match self.sample_rate.as_deref().filter(|s| !s.is_empty()) {
            None => SampleRate::HZ_48000,
            Some(text) => SampleRate::parse("sample_rate", text)?,
        };
        let stream = match self
            .stream
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("" | "false" | "0" | "no" | "off") => false,
            Some("true" | "1" | "yes" | "on") => true,
            Some(other) => {
                return Err(VoicesError::BadRequest(format!(
                    "stream: {other:?} is not a boolean; use true or false"
                )));
            }
        };
        Ok(SynthesisParams {
            download_token,
            script,
            pitch,
            rate,
            container,
            sample_rate,
            put_url: self.put_url.filter(|u| !u.is_empty()),
            stream,
        })
    }
}

/// Streamed audio, as the HTTP body reads it.
pub type AudioStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// What a synthesis gives.
pub enum Synthesis {
    /// The whole file: a WAV with exact sizes, or raw PCM.
    Whole {
        /// The bytes.
        audio: Bytes,
        /// WAV or raw PCM.
        container: Container,
        /// Their rate.
        sample_rate: SampleRate,
    },
    /// The audio, streamed as it is produced.
    Streamed {
        /// The bytes.
        audio: AudioStream,
        /// WAV or raw PCM.
        container: Container,
        /// Their rate.
        sample_rate: SampleRate,
    },
    /// The WAV was uploaded to the `put_url`: its answer's status and first bytes.
    Uploaded {
        /// The HTTP status of the upload's answer.
        status_code: u16,
        /// The start of its body.
        response: String,
    },
}

impl VoicesService {
    /// Speaks `params.script` with the voice of `params.download_token` for `owner`.
    pub async fn synthesize(
        &self,
        owner: UserId,
        params: SynthesisParams,
    ) -> Result<Synthesis, VoicesError> {
        if let Some(url) = &params.put_url {
            self.parts.put_url.check(url).await?;
        }
        let voice = self.resolve(owner, &params.download_token).await?;
        if voice.stored.as_ref().is_some_and(|s| !s.can_stream) {
            return Err(VoicesError::Forbidden(
                "the voice cannot be used for synthesis".into(),
            ));
        }
        let synth = self.synthesizer().await?;
        let slot = self.parts.engines.slot().await?;
        self.count_synthesis(owner, &voice).await?;
        let modifiers = Modifiers {
            pitch: params.pitch.times(voice.profile.pitch),
            rate: params.rate.times(voice.profile.rate),
            range: voice.profile.range,
        };
        let sample_rate = params.sample_rate;
        if params.put_url.is_some() || !params.stream {
            let (engine_voice, script) = (voice.engine_voice, params.script);
            let audio = tokio::task::spawn_blocking(move || {
                slot.render(
                    &synth,
                    &SynthesisRequest {
                        voice: &engine_voice,
                        text: &script,
                        modifiers,
                        sample_rate,
                    },
                )
            })
            .await
            .map_err(|e| VoicesError::Speech(e.to_string()))??;
            if audio.samples.is_empty() {
                return Err(VoicesError::BadRequest(
                    "script: there is nothing to speak in it".into(),
                ));
            }
            let Some(url) = params.put_url else {
                let bytes = match params.container {
                    Container::Wav => speech::wav::encode_wav(&audio),
                    Container::Pcm => {
                        let mut pcm = Vec::with_capacity(audio.samples.len() * 2);
                        speech::wav::encode_pcm(&audio.samples, &mut pcm);
                        pcm
                    }
                };
                return Ok(Synthesis::Whole {
                    audio: Bytes::from(bytes),
                    container: params.container,
                    sample_rate,
                });
            };
            let answer = self
                .parts
                .put_url
                .put(&url, speech::wav::encode_wav(&audio))
                .await?;
            return Ok(Synthesis::Uploaded {
                status_code: answer.status,
                response: answer.body,
            });
        }
        let job = OwnedSynthesis {
            voice: voice.engine_voice,
            text: params.script,
            modifiers,
            sample_rate,
        };
        let audio =
            stream::start(synth, job, params.container, slot, self.parts.drain_timeout).await?;
        Ok(Synthesis::Streamed {
            audio: Box::pin(audio),
            container: params.container,
            sample_rate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> SynthesisQuery {
        let text = serde_urlencoded::to_string(pairs).unwrap();
        serde_urlencoded::from_str(&text).unwrap()
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let ok = [("download_token", "espeak:en-us"), ("script", "hi")];
        let params = query(&ok).parse(256).unwrap();
        assert_eq!(params.sample_rate, SampleRate::HZ_48000);
        assert_eq!((params.pitch, params.rate), (Factor::ONE, Factor::ONE));
        assert_eq!(params.container, Container::Wav);
        assert!(!params.stream);
        for (name, value) in [
            ("stream", "maybe"),
            ("pitch", "0"),
            ("rate", "11"),
            ("sample_rate", "12345"),
            ("container", "mp3"),
            ("script", "x".repeat(257).as_str()),
        ] {
            let mut pairs = ok.to_vec();
            pairs.retain(|(n, _)| *n != name);
            pairs.push((name, value));
            let err = query(&pairs).parse(256).unwrap_err().to_string();
            assert!(err.starts_with(name), "{name}={value}: {err}");
        }
        let err = query(&[("script", "hi")]).parse(256).unwrap_err();
        assert!(err.to_string().starts_with("download_token"), "{err}");
        let pcm = query(&[ok[0], ok[1], ("container", "")])
            .parse(256)
            .unwrap();
        assert_eq!(pcm.container, Container::Pcm);
    }
}
