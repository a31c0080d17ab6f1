//! A thin binding of the system libpocketsphinx (Debian's 5prealpha API, hand-declared from
//! `/usr/include/pocketsphinx/pocketsphinx.h` and sphinxbase's `cmd_ln.h`, `logmath.h`,
//! `err.h`): a decoder made from an acoustic model, a language model (ARPA) or a JSGF grammar and
//! a dictionary, decoding one utterance of 16 kHz mono 16-bit samples at a time.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_void};
use std::path::{Path, PathBuf};
use std::ptr::{self, NonNull};
use std::sync::Once;

use crate::SpeechError;

/// The sample rate the decoder takes.
pub const SAMPLE_RATE: u32 = 16_000;

const ENGINE: &str = "pocketsphinx";

/// Samples handed to the decoder per call.
const CHUNK: usize = 2048;

/// Samples of silence put before and after the audio (0.25 s).
const PADDING: usize = 4000;

mod ffi {
    use std::ffi::{c_char, c_int, c_void};

    #[repr(C)]
    pub struct Decoder {
        _private: [u8; 0],
    }
    #[repr(C)]
    pub struct Config {
        _private: [u8; 0],
    }
    #[repr(C)]
    pub struct LogMath {
        _private: [u8; 0],
    }
    #[repr(C)]
    pub struct ArgDefinition {
        _private: [u8; 0],
    }

    #[link(name = "pocketsphinx")]
    #[link(name = "sphinxbase")]
    unsafe extern "C" {
        pub fn ps_args() -> *const ArgDefinition;
        pub fn cmd_ln_parse_r(
            inout: *mut Config,
            definitions: *const ArgDefinition,
            argc: i32,
            argv: *mut *mut c_char,
            strict: c_int,
        ) -> *mut Config;
        pub fn cmd_ln_free_r(config: *mut Config) -> c_int;
        pub fn ps_init(config: *mut Config) -> *mut Decoder;
        pub fn ps_free(decoder: *mut Decoder) -> c_int;
        pub fn ps_start_stream(decoder: *mut Decoder) -> c_int;
        pub fn ps_start_utt(decoder: *mut Decoder) -> c_int;
        pub fn ps_process_raw(
            decoder: *mut Decoder,
            data: *const i16,
            samples: usize,
            no_search: c_int,
            full_utt: c_int,
        ) -> c_int;
        pub fn ps_end_utt(decoder: *mut Decoder) -> c_int;
        pub fn ps_get_hyp(decoder: *mut Decoder, score: *mut i32) -> *const c_char;
        pub fn ps_get_prob(decoder: *mut Decoder) -> i32;
        pub fn ps_get_logmath(decoder: *mut Decoder) -> *mut LogMath;
        pub fn logmath_exp(logmath: *mut LogMath, value: c_int) -> f64;
        pub fn err_set_logfp(stream: *mut c_void);
    }
}

/// What a decoder is made from.
#[derive(Debug, Clone, PartialEq)]
pub struct DecoderConfig {
    /// The acoustic model's directory (`…/en-us/en-us`).
    pub acoustic_model: PathBuf,
    /// The language model: an ARPA (or binary) n-gram file, or a JSGF grammar.
    pub language_model: LanguageModelFile,
    /// The pronunciation dictionary.
    pub dictionary: PathBuf,
    /// How wide the search stays: hypotheses scoring below the best times this are dropped
    /// (PocketSphinx's `-beam`, and `-pbeam` for phone transitions). Smaller keeps more.
    pub beam: f64,
    /// The same for word exits (`-wbeam`).
    pub word_beam: f64,
}

/// PocketSphinx's own `-beam` (and `-pbeam`).
pub const LIBRARY_BEAM: f64 = 1e-48;
/// PocketSphinx's own `-wbeam`.
pub const LIBRARY_WORD_BEAM: f64 = 7e-29;

/// How the decoder constrains what it hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LanguageModelFile {
    /// An n-gram model (ARPA text or PocketSphinx's binary).
    NGram(PathBuf),
    /// A JSGF grammar.
    Grammar(PathBuf),
}

/// What the decoder heard.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// The words, separated by spaces (empty when nothing was recognised).
    pub text: String,
    /// The posterior probability of the hypothesis, 0 to 1.
    pub confidence: f64,
}

/// A PocketSphinx decoder. Used by one thread at a time (it is `Send`, not `Sync`).
#[derive(Debug)]
pub struct Decoder {
    decoder: NonNull<ffi::Decoder>,
}

// SAFETY: the decoder's state is its own (no thread-local or shared mutable state besides the
// logging, silenced once); `&mut self` on every call keeps it to one thread at a time.
unsafe impl Send for Decoder {}

fn path_arg(path: &Path, what: &str) -> Result<CString, SpeechError> {
    CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| SpeechError::EngineInit {
        engine: ENGINE,
        detail: format!("the {what} path has a NUL byte"),
    })
}

/// A beam as the library reads it; it must lie strictly between 0 and 1.
fn beam_arg(value: f64, what: &str) -> Result<CString, SpeechError> {
    if !(value > 0.0 && value < 1.0) {
        return Err(SpeechError::EngineInit {
            engine: ENGINE,
            detail: format!("the {what} {value} is not between 0 and 1"),
        });
    }
    Ok(CString::new(format!("{value:e}")).expect("no NUL"))
}

impl Decoder {
    /// Loads the models. A missing or unreadable file is an `EngineInit` error.
    pub fn new(config: &DecoderConfig) -> Result<Self, SpeechError> {
        static QUIET: Once = Once::new();
        // SAFETY: a null stream turns the library's logging off; done once, before any use.
        QUIET.call_once(|| unsafe { ffi::err_set_logfp(ptr::null_mut::<c_void>()) });
        for (path, what) in [
            (&config.acoustic_model, "acoustic model"),
            (&config.dictionary, "dictionary"),
        ] {
            if !path.exists() {
                return Err(SpeechError::EngineInit {
                    engine: ENGINE,
                    detail: format!("no {what} at {}", path.display()),
                });
            }
        }
        let (lm_flag, lm_path) = match &config.language_model {
            LanguageModelFile::NGram(path) => ("-lm", path),
            LanguageModelFile::Grammar(path) => ("-jsgf", path),
        };
        let args: Vec<CString> = vec![
            CString::new("-hmm").expect("no NUL"),
            path_arg(&config.acoustic_model, "acoustic model")?,
            CString::new(lm_flag).expect("no NUL"),
            path_arg(lm_path, "language model")?,
            CString::new("-dict").expect("no NUL"),
            path_arg(&config.dictionary, "dictionary")?,
            CString::new("-logfn").expect("no NUL"),
            CString::new("/dev/null").expect("no NUL"),
            CString::new("-beam").expect("no NUL"),
            beam_arg(config.beam, "beam")?,
            CString::new("-pbeam").expect("no NUL"),
            beam_arg(config.beam, "beam")?,
            CString::new("-wbeam").expect("no NUL"),
            beam_arg(config.word_beam, "word beam")?,
        ];
        let mut argv: Vec<*mut c_char> = args.iter().map(|a| a.as_ptr().cast_mut()).collect();
        let argc = i32::try_from(argv.len()).expect("a few arguments");
        // SAFETY: `argv` holds `argc` NUL-terminated strings alive for the call (the library
        // copies them); the definitions are the library's own static table.
        let parsed = unsafe {
            ffi::cmd_ln_parse_r(ptr::null_mut(), ffi::ps_args(), argc, argv.as_mut_ptr(), 1)
        };
        if parsed.is_null() {
            return Err(SpeechError::EngineInit {
                engine: ENGINE,
                detail: "the configuration was refused".into(),
            });
        }
        // SAFETY: `parsed` is a valid configuration; the decoder takes its own reference, so
        // ours is released whatever the outcome.
        let decoder = unsafe {
            let decoder = ffi::ps_init(parsed);
            ffi::cmd_ln_free_r(parsed);
            decoder
        };
        NonNull::new(decoder)
            .map(|decoder| Decoder { decoder })
            .ok_or_else(|| SpeechError::EngineInit {
                engine: ENGINE,
                detail: format!(
                    "the models did not load (language model {})",
                    lm_path.display()
                ),
            })
    }

    /// Decodes one utterance of 16 kHz mono samples.
    pub fn decode(&mut self, samples: &[i16]) -> Result<Hypothesis, SpeechError> {
        let failed = |step: &str| SpeechError::Synthesis {
            engine: ENGINE,
            detail: format!("{step} failed"),
        };
        let ps = self.decoder.as_ptr();
        // SAFETY: `ps` is a live decoder used by this thread alone (`&mut self`); `samples` is
        // valid for its length during the call.
        unsafe {
            // A new stream: the noise level and cepstral mean start afresh, so that one
            // request's audio does not colour the next.
            if ffi::ps_start_stream(ps) < 0 || ffi::ps_start_utt(ps) < 0 {
                return Err(failed("starting the utterance"));
            }
            // In pieces, as the library's own tools feed it: a whole utterance in one call
            // (`full_utt`) decodes worse with this version.
            // Silence around the speech: the voice-activity detection needs some to start and
            // end an utterance, and synthesized or trimmed audio may have none.
            let silence = [0i16; PADDING];
            let padded = silence.iter().chain(samples).chain(&silence).copied();
            let padded: Vec<i16> = padded.collect();
            for chunk in padded.chunks(CHUNK) {
                if ffi::ps_process_raw(ps, chunk.as_ptr(), chunk.len(), 0, 0) < 0 {
                    ffi::ps_end_utt(ps);
                    return Err(failed("processing the audio"));
                }
            }
            if ffi::ps_end_utt(ps) < 0 {
                return Err(failed("ending the utterance"));
            }
            let mut score = 0i32;
            let hyp = ffi::ps_get_hyp(ps, &mut score);
            let text = if hyp.is_null() {
                String::new()
            } else {
                CStr::from_ptr(hyp).to_string_lossy().trim().to_owned()
            };
            let confidence = if text.is_empty() {
                0.0
            } else {
                ffi::logmath_exp(ffi::ps_get_logmath(ps), ffi::ps_get_prob(ps)).clamp(0.0, 1.0)
            };
            Ok(Hypothesis { text, confidence })
        }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: the decoder is ours and not used after this.
        unsafe { ffi::ps_free(self.decoder.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;
    use crate::espeak::Espeak;

    const MODEL: &str = "/usr/share/pocketsphinx/model/en-us";

    #[test]
    fn a_grammar_hears_espeak_say_a_command() {
        let dir = std::env::temp_dir().join(format!("ps-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let grammar = dir.join("home.gram");
        std::fs::write(
            &grammar,
            "#JSGF V1.0;\ngrammar home;\npublic <command> = turn (on | off) the (kitchen | bedroom) lights;\n",
        )
        .unwrap();
        let dictionary = dir.join("home.dict");
        std::fs::write(
            &dictionary,
            "turn T ER N\non AA N\noff AO F\nthe DH AH\nkitchen K IH CH AH N\nbedroom B EH D R UW M\nlights L AY T S\n",
        )
        .unwrap();
        let espeak = Espeak::new().unwrap();
        let ranges = espeak.native_ranges("en-us").unwrap();
        let mut samples = Vec::new();
        espeak
            .synthesize(
                "en-us",
                "turn on the kitchen lights",
                ranges.defaults(),
                &mut |chunk| {
                    samples.extend(chunk.iter().map(|&s| f32::from(s) / 32768.0));
                    true
                },
            )
            .unwrap();
        let audio =
            crate::resample::resample(&samples, crate::espeak::SAMPLE_RATE, SAMPLE_RATE).unwrap();
        let pcm: Vec<i16> = audio.iter().map(|&s| crate::audio::f32_to_i16(s)).collect();
        let mut decoder = Decoder::new(&DecoderConfig {
            acoustic_model: Path::new(MODEL).join("en-us"),
            language_model: LanguageModelFile::Grammar(grammar.clone()),
            dictionary: dictionary.clone(),
            beam: LIBRARY_BEAM,
            word_beam: LIBRARY_WORD_BEAM,
        })
        .unwrap();
        let heard = decoder.decode(&pcm).unwrap();
        assert_eq!(heard.text, "turn on the kitchen lights");
        assert!((0.0..=1.0).contains(&heard.confidence));
        assert_eq!(decoder.decode(&[0; 1600]).unwrap().text, "");
        for (beam, word_beam) in [(0.0, LIBRARY_WORD_BEAM), (LIBRARY_BEAM, 1.5)] {
            let refused = Decoder::new(&DecoderConfig {
                acoustic_model: Path::new(MODEL).join("en-us"),
                language_model: LanguageModelFile::Grammar(grammar.clone()),
                dictionary: dictionary.clone(),
                beam,
                word_beam,
            });
            assert!(
                matches!(&refused, Err(SpeechError::EngineInit { detail, .. }) if detail.contains("not between 0 and 1")),
                "{refused:?}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
        let missing = Decoder::new(&DecoderConfig {
            acoustic_model: dir.join("none"),
            language_model: LanguageModelFile::NGram(dir.join("none.lm")),
            dictionary: dir.join("none.dict"),
            beam: LIBRARY_BEAM,
            word_beam: LIBRARY_WORD_BEAM,
        });
        assert!(matches!(missing, Err(SpeechError::EngineInit { .. })));
    }
}
