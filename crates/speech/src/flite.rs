//! flite through its C libraries (Debian's flite1-dev) with the US English voices slt, rms, awb
//! and kal16. Each voice is one object inside the library whose features carry the prosody
//! settings, so a voice serves one synthesis at a time (a lock per voice); different voices run
//! in parallel. Text is spoken sentence by sentence so that the first audio leaves early.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_float, c_int, c_short, c_void};
use std::sync::{Mutex, OnceLock};

use crate::SpeechError;
use crate::engine::{
    Engine, Gender, NativeRange, NativeRanges, NativeSettings, PcmSink, VoiceInfo,
};

const ENGINE: &str = "flite";
/// The rate of every flite voice offered here.
pub const SAMPLE_RATE: u32 = 16000;

mod ffi {
    use super::*;

    #[repr(C)]
    pub struct Voice {
        pub name: *const c_char,
        pub features: *mut c_void,
        pub ffunctions: *mut c_void,
        pub utt_init: *mut c_void,
    }

    #[repr(C)]
    pub struct Wave {
        pub kind: *const c_char,
        pub sample_rate: c_int,
        pub num_samples: c_int,
        pub num_channels: c_int,
        pub samples: *mut c_short,
    }

    #[link(name = "flite")]
    unsafe extern "C" {
        pub fn flite_init() -> c_int;
        pub fn flite_text_to_wave(text: *const c_char, voice: *mut Voice) -> *mut Wave;
        pub fn delete_wave(wave: *mut Wave);
        pub fn flite_feat_set_float(features: *mut c_void, name: *const c_char, value: c_float);
        pub fn flite_get_param_float(
            features: *const c_void,
            name: *const c_char,
            default: c_float,
        ) -> c_float;
    }
    /// The voice libraries are opened at first use rather than linked: each one costs about
    /// 1.5 MB of memory as soon as it is loaded, and a server that never speaks with flite (or
    /// with that voice) should not pay it.
    pub const RTLD_NOW: c_int = 2;
    unsafe extern "C" {
        pub fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
        pub fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
        pub fn dlerror() -> *const c_char;
    }

    /// The C signature of a voice's `register_<voice>` function.
    pub type Register = unsafe extern "C" fn(voxdir: *const c_char) -> *mut Voice;
}

/// A registered voice: the library's object and the defaults read from it.
struct Loaded {
    voice: *mut ffi::Voice,
    f0_mean: f32,
    f0_stddev: f32,
}

// SAFETY: a flite voice is plain heap data with no thread affinity; every use goes through the
// voice's own mutex, so it is used by one thread at a time.
unsafe impl Send for Loaded {}

struct Catalogue {
    name: &'static str,
    title: &'static str,
    gender: Gender,
    /// The voice's shared library (Debian's libflite1) and its register function.
    library: &'static CStr,
    register: &'static CStr,
    slot: OnceLock<Result<Mutex<Loaded>, String>>,
}

static VOICES: [Catalogue; 4] = [
    Catalogue {
        name: "slt",
        title: "CMU US SLT (flite)",
        gender: Gender::Female,
        library: c"libflite_cmu_us_slt.so.1",
        register: c"register_cmu_us_slt",
        slot: OnceLock::new(),
    },
    Catalogue {
        name: "rms",
        title: "CMU US RMS (flite)",
        gender: Gender::Male,
        library: c"libflite_cmu_us_rms.so.1",
        register: c"register_cmu_us_rms",
        slot: OnceLock::new(),
    },
    Catalogue {
        name: "awb",
        title: "CMU US AWB (flite)",
        gender: Gender::Male,
        library: c"libflite_cmu_us_awb.so.1",
        register: c"register_cmu_us_awb",
        slot: OnceLock::new(),
    },
    Catalogue {
        name: "kal16",
        title: "CMU US KAL 16 kHz (flite)",
        gender: Gender::Male,
        library: c"libflite_cmu_us_kal16.so.1",
        register: c"register_cmu_us_kal16",
        slot: OnceLock::new(),
    },
];

static INIT: OnceLock<()> = OnceLock::new();

fn feature_name(name: &str) -> CString {
    CString::new(name).expect("feature names have no NUL")
}

fn voice(name: &str) -> Result<&'static Mutex<Loaded>, SpeechError> {
    let entry = VOICES
        .iter()
        .find(|v| v.name == name)
        .ok_or_else(|| SpeechError::UnknownVoice(format!("{ENGINE}:{name}")))?;
    INIT.get_or_init(|| {
        // SAFETY: initializes the library's globals once, before any voice is registered.
        unsafe { ffi::flite_init() };
    });
    // Registering a voice initializes flite's shared lexicon and front end without locking:
    // one registration at a time.
    static REGISTERING: Mutex<()> = Mutex::new(());
    let loaded = entry.slot.get_or_init(|| {
        let _registering = REGISTERING.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: the voice's register function, loaded from its library (kept loaded for the
        // life of the process); a null voxdir is the voice's default.
        let voice = unsafe { (load_register(entry)?)(std::ptr::null()) };
        if voice.is_null() {
            return Err(format!("could not register the {name} voice"));
        }
        // SAFETY: a registered voice has a valid features list.
        let features = unsafe { (*voice).features };
        // SAFETY: reads two float features (with defaults) from that list.
        let (f0_mean, f0_stddev) = unsafe {
            (
                ffi::flite_get_param_float(
                    features,
                    feature_name("int_f0_target_mean").as_ptr(),
                    100.0,
                ),
                ffi::flite_get_param_float(
                    features,
                    feature_name("int_f0_target_stddev").as_ptr(),
                    12.0,
                ),
            )
        };
        Ok(Mutex::new(Loaded {
            voice,
            f0_mean,
            f0_stddev,
        }))
    });
    loaded.as_ref().map_err(|detail| SpeechError::EngineInit {
        engine: ENGINE,
        detail: detail.clone(),
    })
}

/// Opens a voice's library (never closed) and finds its register function.
fn load_register(entry: &Catalogue) -> Result<ffi::Register, String> {
    let failure = || {
        // SAFETY: dlerror returns null or a C string valid until the next dl* call on this thread.
        let detail = unsafe { ffi::dlerror() };
        if detail.is_null() {
            "unknown error".to_string()
        } else {
            // SAFETY: non-null: a C string from the dynamic loader.
            unsafe { CStr::from_ptr(detail) }
                .to_string_lossy()
                .into_owned()
        }
    };
    // SAFETY: a NUL-terminated library name; the handle is kept for the life of the process.
    let handle = unsafe { ffi::dlopen(entry.library.as_ptr(), ffi::RTLD_NOW) };
    if handle.is_null() {
        return Err(format!(
            "the {} voice is not installed (Debian package libflite1): {}",
            entry.name,
            failure()
        ));
    }
    // SAFETY: a valid handle and a NUL-terminated symbol name.
    let symbol = unsafe { ffi::dlsym(handle, entry.register.as_ptr()) };
    if symbol.is_null() {
        return Err(format!(
            "{}: {}",
            entry.register.to_string_lossy(),
            failure()
        ));
    }
    // SAFETY: the symbol is the voice's register function, whose C signature is `Register`.
    Ok(unsafe { std::mem::transmute::<*mut c_void, ffi::Register>(symbol) })
}

/// Splits text after sentence ends so that each piece can be spoken and sent on its own.
fn sentences(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let at_end = matches!(b, b'.' | b'!' | b'?' | b';')
            && bytes
                .get(i + 1)
                .is_none_or(|next| next.is_ascii_whitespace());
        if at_end {
            pieces.push(&text[start..=i]);
            start = i + 1;
        }
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces.retain(|p| p.chars().any(char::is_alphanumeric));
    pieces
}

/// The flite engine.
#[derive(Debug, Default, Clone, Copy)]
pub struct Flite;

impl Flite {
    /// Registers the default voice to check the library works.
    pub fn new() -> Result<Self, SpeechError> {
        voice("slt")?;
        Ok(Self)
    }
}

impl Engine for Flite {
    fn name(&self) -> &'static str {
        ENGINE
    }

    fn voices(&self) -> Vec<VoiceInfo> {
        VOICES
            .iter()
            .map(|v| VoiceInfo {
                id: format!("{ENGINE}:{}", v.name),
                engine: ENGINE,
                name: v.title.to_string(),
                language: "en-us".to_string(),
                gender: v.gender,
                sample_rate: SAMPLE_RATE,
            })
            .collect()
    }

    fn native_ranges(&self, name: &str) -> Result<NativeRanges, SpeechError> {
        let loaded = voice(name)?.lock().unwrap_or_else(|p| p.into_inner());
        Ok(NativeRanges {
            rate: NativeRange {
                min: 0.25,
                max: 4.0,
                default: 1.0,
            },
            pitch: NativeRange {
                min: 40.0,
                max: 500.0,
                default: loaded.f0_mean,
            },
            range: NativeRange {
                min: 0.0,
                max: loaded.f0_stddev * 4.0,
                default: loaded.f0_stddev,
            },
        })
    }

    fn synthesize(
        &self,
        name: &str,
        text: &str,
        settings: NativeSettings,
        sink: &mut PcmSink<'_>,
    ) -> Result<(), SpeechError> {
        let loaded = voice(name)?.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: the voice is registered and locked by us.
        let features = unsafe { (*loaded.voice).features };
        for (feature, value) in [
            ("duration_stretch", 1.0 / settings.rate.clamp(0.25, 4.0)),
            ("int_f0_target_mean", settings.pitch.clamp(40.0, 500.0)),
            ("int_f0_target_stddev", settings.range.max(0.0)),
        ] {
            // SAFETY: sets a float feature on the locked voice's feature list.
            unsafe { ffi::flite_feat_set_float(features, feature_name(feature).as_ptr(), value) };
        }
        for sentence in sentences(text) {
            let sentence: String = sentence
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let sentence = CString::new(sentence).expect("control characters replaced");
            // SAFETY: a valid C string and a registered, locked voice; flite returns a new wave
            // (or null) that we own.
            let wave = unsafe { ffi::flite_text_to_wave(sentence.as_ptr(), loaded.voice) };
            if wave.is_null() {
                return Err(SpeechError::Synthesis {
                    engine: ENGINE,
                    detail: "flite_text_to_wave returned nothing".into(),
                });
            }
            // SAFETY: `wave` is a valid wave we own (freed below).
            let rate = unsafe { (*wave).sample_rate };
            if rate != SAMPLE_RATE as c_int {
                // SAFETY: as above; freed once, not used after.
                unsafe { ffi::delete_wave(wave) };
                return Err(SpeechError::Synthesis {
                    engine: ENGINE,
                    detail: format!("{name} produced {rate} Hz, expected {SAMPLE_RATE} Hz"),
                });
            }
            // SAFETY: `wave` is a valid wave we own; its samples array holds num_samples ×
            // num_channels values; it is freed once, after the sink is done with the slice.
            let keep_going = unsafe {
                let w = &*wave;
                let count = (w.num_samples.max(0) * w.num_channels.max(1)) as usize;
                let keep = if w.samples.is_null() || count == 0 {
                    true
                } else {
                    sink(std::slice::from_raw_parts(w.samples, count))
                };
                ffi::delete_wave(wave);
                keep
            };
            if !keep_going {
                return Err(SpeechError::Cancelled);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_sentences() {
        assert_eq!(
            sentences("One. Two? 3.5 is a number! end"),
            vec!["One.", " Two?", " 3.5 is a number!", " end"]
        );
        assert!(sentences(" ... ").is_empty());
    }

    #[test]
    fn speaks_with_each_voice() {
        let engine = Flite::new().unwrap();
        for info in engine.voices() {
            let name = info.id.strip_prefix("flite:").unwrap();
            let ranges = engine.native_ranges(name).unwrap();
            let mut samples = Vec::new();
            engine
                .synthesize(name, "Hello world.", ranges.defaults(), &mut |c| {
                    samples.extend_from_slice(c);
                    true
                })
                .unwrap();
            let seconds = samples.len() as f64 / 16000.0;
            assert!((0.4..3.0).contains(&seconds), "{name}: {seconds} s");
        }
    }
}
