//! The synthesizer: picks the engine for a voice, turns pitch/rate/range modifiers into native
//! settings (calibrated per voice, once) plus DSP for the remainder, resamples to the requested
//! rate and encodes WAV or raw PCM, handing bytes out as they are produced.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::SpeechError;
use crate::audio::Audio;
use crate::calibration::{CALIBRATION_TEXT, Calibration};
use crate::engine::{Engine, NativeSettings, VoiceInfo};
use crate::espeak::Espeak;
use crate::flite::Flite;
use crate::resample::StreamResampler;
pub use crate::settings::{Factor, Modifiers, SampleRate};
use crate::speaking_rate::count_syllables;
use crate::stretch;
use crate::wav;

/// The container of synthesized audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// A WAV file (16-bit mono PCM).
    Wav,
    /// Raw 16-bit little-endian mono PCM.
    Pcm,
}

/// One synthesis.
#[derive(Debug, Clone, Copy)]
pub struct SynthesisRequest<'a> {
    /// Voice id with engine prefix, e.g. `espeak:en-us`.
    pub voice: &'a str,
    /// The text.
    pub text: &'a str,
    /// Prosody modifiers.
    pub modifiers: Modifiers,
    /// Output rate.
    pub sample_rate: SampleRate,
}

/// How a request will run.
struct Plan<'s> {
    engine: &'s dyn Engine,
    voice: String,
    native_rate: u32,
    settings: NativeSettings,
    dsp_rate: f32,
    dsp_pitch: f32,
}

/// Every engine of this build, and the calibration of each voice used with modifiers.
pub struct Synthesizer {
    engines: Vec<Box<dyn Engine>>,
    espeak: Option<Espeak>,
    voices: Vec<VoiceInfo>,
    calibrations: Mutex<HashMap<String, Arc<Calibration>>>,
}

impl std::fmt::Debug for Synthesizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Synthesizer")
            .field("voices", &self.voices.len())
            .finish()
    }
}

impl Synthesizer {
    /// Starts espeak-ng and flite.
    pub fn new() -> Result<Self, SpeechError> {
        let espeak = Espeak::new()?;
        let flite = Flite::new()?;
        Ok(Self::with_engines(
            vec![Box::new(espeak), Box::new(flite)],
            Some(espeak),
        ))
    }

    /// A synthesizer over the given engines (`espeak` for phonemes when present).
    pub fn with_engines(engines: Vec<Box<dyn Engine>>, espeak: Option<Espeak>) -> Self {
        let voices = engines.iter().flat_map(|e| e.voices()).collect();
        Self {
            engines,
            espeak,
            voices,
            calibrations: Mutex::new(HashMap::new()),
        }
    }

    /// Every voice, engine by engine.
    pub fn voices(&self) -> &[VoiceInfo] {
        &self.voices
    }

    /// One voice by id.
    pub fn voice(&self, id: &str) -> Option<&VoiceInfo> {
        self.voices.iter().find(|v| v.id == id)
    }

    /// Syllables in `text` as spoken in `language` (espeak-ng's phonemes; English when the
    /// language has no espeak-ng voice).
    pub fn syllables(&self, text: &str, language: &str) -> Result<usize, SpeechError> {
        let espeak = self.espeak.ok_or(SpeechError::EngineInit {
            engine: "espeak",
            detail: "needed for phonemes".into(),
        })?;
        let voice = if self.voice(&format!("espeak:{language}")).is_some() {
            language
        } else {
            "en-us"
        };
        Ok(count_syllables(&espeak.phonemes(voice, text)?))
    }

    fn engine_of(&self, id: &str) -> Result<(&dyn Engine, String, &VoiceInfo), SpeechError> {
        let info = self
            .voice(id)
            .ok_or_else(|| SpeechError::UnknownVoice(id.to_string()))?;
        let (prefix, name) = id
            .split_once(':')
            .ok_or_else(|| SpeechError::UnknownVoice(id.into()))?;
        let engine = self
            .engines
            .iter()
            .find(|e| e.name() == prefix)
            .ok_or_else(|| SpeechError::UnknownVoice(id.to_string()))?;
        Ok((engine.as_ref(), name.to_string(), info))
    }

    /// The calibration of a voice, measured at first use and kept.
    pub fn calibration(&self, id: &str) -> Result<Arc<Calibration>, SpeechError> {
        if let Some(found) = self
            .calibrations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
        {
            return Ok(found.clone());
        }
        let (engine, name, info) = self.engine_of(id)?;
        let syllables = self.syllables(CALIBRATION_TEXT, &info.language)?;
        let measured = Arc::new(Calibration::measure(
            engine,
            &name,
            info.sample_rate,
            syllables,
        )?);
        self.calibrations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), measured.clone());
        Ok(measured)
    }

    fn plan(&self, request: &SynthesisRequest<'_>) -> Result<Plan<'_>, SpeechError> {
        let m = request.modifiers;
        let (engine, voice, info) = self.engine_of(request.voice)?;
        let ranges = engine.native_ranges(&voice)?;
        let (settings, dsp_rate, dsp_pitch) = if m.is_neutral() {
            (ranges.defaults(), 1.0, 1.0)
        } else {
            let calibration = self.calibration(request.voice)?;
            let (pitch, dsp_pitch) = calibration.pitch_for(m.pitch.get());
            let (rate, dsp_rate) = calibration.rate_for(m.rate.get());
            // DSP takes the engine only so far: beyond these factors speech stops being
            // intelligible, and the stretched signal (pitch / rate times the engine's) must stay
            // bounded in memory and time whatever a client asks.
            let (dsp_pitch, dsp_rate) = (dsp_pitch.clamp(0.5, 2.0), dsp_rate.clamp(0.25, 8.0));
            let settings = NativeSettings {
                rate,
                pitch,
                range: calibration.range_for(m.range.get()),
            };
            (settings, dsp_rate, dsp_pitch)
        };
        Ok(Plan {
            engine,
            voice,
            native_rate: info.sample_rate,
            settings,
            dsp_rate,
            dsp_pitch,
        })
    }

    /// Checks a request without synthesizing (unknown voice, bad parameter).
    pub fn validate(&self, request: &SynthesisRequest<'_>) -> Result<(), SpeechError> {
        self.plan(request).map(|_| ())
    }

    /// Synthesizes into `sink` as float samples at the requested rate, chunk by chunk.
    pub fn produce(
        &self,
        request: &SynthesisRequest<'_>,
        sink: &mut dyn FnMut(&[f32]) -> bool,
    ) -> Result<(), SpeechError> {
        let plan = self.plan(request)?;
        let mut resampler = StreamResampler::new(plan.native_rate, request.sample_rate.hz())?;
        let mut out = Vec::new();
        let needs_dsp = (plan.dsp_rate - 1.0).abs() > 0.01 || (plan.dsp_pitch - 1.0).abs() > 0.01;
        if needs_dsp {
            // WSOLA needs the whole signal; engines are far faster than real time, so this costs
            // latency, not throughput.
            let mut native = Vec::new();
            plan.engine
                .synthesize(&plan.voice, request.text, plan.settings, &mut |chunk| {
                    native.extend(chunk.iter().map(|&s| f32::from(s) / 32768.0));
                    true
                })?;
            let modified = stretch::modify(
                &native,
                plan.native_rate,
                f64::from(plan.dsp_rate),
                f64::from(plan.dsp_pitch),
            )?;
            for chunk in modified.chunks(4096) {
                out.clear();
                resampler.push(chunk, &mut out)?;
                if !out.is_empty() && !sink(&out) {
                    return Err(SpeechError::Cancelled);
                }
            }
        } else {
            // The engine runs on its own thread and only synthesizes; resampling, encoding and
            // the sink run here. espeak-ng holds a process-wide lock while it speaks, so the
            // work done under that lock is the engine's alone.
            let (engine, voice, settings, text) = (
                plan.engine,
                plan.voice.as_str(),
                plan.settings,
                request.text,
            );
            std::thread::scope(|scope| -> Result<(), SpeechError> {
                let (sender, receiver) = std::sync::mpsc::channel::<Vec<i16>>();
                let producer = scope.spawn(move || {
                    engine.synthesize(voice, text, settings, &mut |chunk| {
                        sender.send(chunk.to_vec()).is_ok()
                    })
                });
                let mut outcome = Ok(());
                let mut floats = Vec::new();
                for chunk in receiver.iter() {
                    floats.clear();
                    floats.extend(chunk.iter().map(|&s| f32::from(s) / 32768.0));
                    out.clear();
                    if let Err(e) = resampler.push(&floats, &mut out) {
                        outcome = Err(e);
                        break;
                    }
                    if !out.is_empty() && !sink(&out) {
                        outcome = Err(SpeechError::Cancelled);
                        break;
                    }
                }
                // The engine's next send fails once the receiver is gone: it stops.
                drop(receiver);
                let produced = producer.join().map_err(|_| SpeechError::Synthesis {
                    engine: engine.name(),
                    detail: "the engine thread panicked".into(),
                })?;
                outcome?;
                produced
            })?;
        }
        out.clear();
        resampler.finish(&mut out)?;
        if !out.is_empty() && !sink(&out) {
            return Err(SpeechError::Cancelled);
        }
        Ok(())
    }

    /// The whole synthesis in memory, at the requested rate.
    pub fn render(&self, request: &SynthesisRequest<'_>) -> Result<Audio, SpeechError> {
        let mut samples = Vec::new();
        self.produce(request, &mut |chunk| {
            samples.extend_from_slice(chunk);
            true
        })?;
        Ok(Audio {
            sample_rate: request.sample_rate.hz(),
            samples,
        })
    }

    /// Synthesizes into `out` as encoded bytes: a streamed WAV (header with open-ended sizes,
    /// sent with the first audio) or raw PCM. Returns the bytes written (0 when the text has
    /// nothing to speak).
    pub fn stream(
        &self,
        request: &SynthesisRequest<'_>,
        container: Container,
        out: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<u64, SpeechError> {
        let mut header =
            (container == Container::Wav).then(|| wav::header(request.sample_rate.hz(), None));
        let mut bytes = Vec::new();
        let mut written = 0u64;
        self.produce(request, &mut |samples| {
            bytes.clear();
            if let Some(h) = header.take() {
                bytes.extend_from_slice(&h);
            }
            wav::encode_pcm(samples, &mut bytes);
            written += bytes.len() as u64;
            out(&bytes)
        })?;
        // No audio at all (nothing speakable in the text): nothing is written, not even a header.
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::levels::{LevelStatus, LevelThresholds, check};
    use crate::pitch;
    use crate::profile::{FitLimits, analyze, fit};
    use crate::speaking_rate::active_speech_secs;

    const TEXT: &str = "This is my vocal identity, and I am reading a sentence for the test.";

    fn request(voice: &str, modifiers: Modifiers, sample_rate: u32) -> SynthesisRequest<'_> {
        SynthesisRequest {
            voice,
            text: TEXT,
            modifiers,
            sample_rate: SampleRate::new(sample_rate).expect("a supported rate"),
        }
    }

    fn median_f0(audio: &Audio) -> f32 {
        pitch::track(audio).unwrap().stats(20).unwrap().median_hz
    }

    #[test]
    fn rate_and_pitch_modifiers_hold_for_both_engines() {
        let synth = Synthesizer::new().unwrap();
        for voice in ["espeak:en-us", "flite:slt"] {
            let plain = synth
                .render(&request(voice, Modifiers::default(), 22050))
                .unwrap();
            let fast = synth
                .render(&request(
                    voice,
                    Modifiers {
                        rate: Factor::new(2.0).unwrap(),
                        ..Modifiers::default()
                    },
                    22050,
                ))
                .unwrap();
            let ratio = active_speech_secs(&fast) / active_speech_secs(&plain);
            assert!(
                (ratio - 0.5).abs() <= 0.075,
                "{voice}: rate 2 gives {ratio}"
            );
            let high = synth
                .render(&request(
                    voice,
                    Modifiers {
                        pitch: Factor::new(1.5).unwrap(),
                        ..Modifiers::default()
                    },
                    22050,
                ))
                .unwrap();
            let ratio = median_f0(&high) / median_f0(&plain);
            assert!(
                (ratio - 1.5).abs() <= 0.225,
                "{voice}: pitch 1.5 gives {ratio}"
            );
            // Beyond the engines' own ranges: DSP takes the rest.
            let very_fast = synth
                .render(&request(
                    voice,
                    Modifiers {
                        rate: Factor::new(5.0).unwrap(),
                        ..Modifiers::default()
                    },
                    22050,
                ))
                .unwrap();
            let ratio = active_speech_secs(&very_fast) / active_speech_secs(&plain);
            assert!((ratio - 0.2).abs() <= 0.05, "{voice}: rate 5 gives {ratio}");
        }
    }

    #[test]
    fn every_rate_streams_a_wav_of_that_rate() {
        let synth = Synthesizer::new().unwrap();
        for rate in crate::resample::SUPPORTED_RATES {
            let mut bytes = Vec::new();
            let written = synth
                .stream(
                    &request("espeak:en-us", Modifiers::default(), rate),
                    Container::Wav,
                    &mut |b| {
                        bytes.extend_from_slice(b);
                        true
                    },
                )
                .unwrap();
            assert_eq!(written, bytes.len() as u64);
            let audio = wav::read_wav(&bytes, wav::ReadLimits { max_seconds: 60.0 }).unwrap();
            assert_eq!(audio.sample_rate, rate);
            assert!(
                audio.duration_secs() > 2.0,
                "{rate}: {} s",
                audio.duration_secs()
            );
        }
        let mut pcm = Vec::new();
        synth
            .stream(
                &request("flite:slt", Modifiers::default(), 8000),
                Container::Pcm,
                &mut |b| {
                    pcm.extend_from_slice(b);
                    true
                },
            )
            .unwrap();
        assert_ne!(&pcm[..4], b"RIFF");
        assert_eq!(pcm.len() % 2, 0);
        assert!(matches!(
            synth.validate(&request("espeak:nope", Modifiers::default(), 8000)),
            Err(SpeechError::UnknownVoice(_))
        ));
        // An unsupported rate cannot even be asked for.
        assert_eq!(SampleRate::new(12345), None);
    }

    #[test]
    fn a_sink_that_stops_cancels_the_engine() {
        let synth = Synthesizer::new().unwrap();
        for voice in ["espeak:en-us", "flite:slt"] {
            let mut calls = 0;
            let result = synth.produce(&request(voice, Modifiers::default(), 48000), &mut |_| {
                calls += 1;
                false
            });
            assert!(
                matches!(result, Err(SpeechError::Cancelled)),
                "{voice}: {result:?}"
            );
            assert_eq!(calls, 1);
        }
        // The engine is free again afterwards.
        assert!(
            synth
                .render(&request("espeak:en-us", Modifiers::default(), 8000))
                .is_ok()
        );
    }

    #[test]
    fn recordings_levels_and_builds() {
        let synth = Synthesizer::new().unwrap();
        let thresholds = LevelThresholds::default();
        let recording = synth
            .render(&request("espeak:en-us", Modifiers::default(), 16000))
            .unwrap();
        assert_eq!(
            check(&recording, &thresholds).status,
            LevelStatus::Ok,
            "{:?}",
            check(&recording, &thresholds)
        );
        assert_eq!(
            check(&recording.with_gain_db(12.0), &thresholds).status,
            LevelStatus::Overdriven
        );
        assert_eq!(
            check(&recording.with_gain_db(-36.0), &thresholds).status,
            LevelStatus::Underdriven
        );

        // Recordings of a higher voice (flite's slt) fitted onto espeak's en-us.
        let syllables = synth.syllables(TEXT, "en-us").unwrap();
        let recordings: Vec<_> = (0..3)
            .map(|_| {
                let audio = synth
                    .render(&request("flite:slt", Modifiers::default(), 16000))
                    .unwrap();
                analyze(&audio, syllables).unwrap()
            })
            .collect();
        let base = synth.calibration("espeak:en-us").unwrap();
        let limits = FitLimits {
            min_recordings: 3,
            min_voiced_frames: 50,
        };
        let profile = fit(&recordings, "espeak:en-us", &base.base, limits).unwrap();
        let built = synth
            .render(&request("espeak:en-us", profile.modifiers(), 16000))
            .unwrap();
        let (before, after, target) = (
            median_f0(&recording),
            median_f0(&built),
            profile.median_f0_hz,
        );
        assert!(
            target > before * 1.2,
            "slt {target} Hz vs en-us {before} Hz"
        );
        assert!(
            (after - target).abs() < (before - target).abs() * 0.5,
            "{before} -> {after}, target {target}"
        );
    }
}
