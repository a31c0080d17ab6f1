//! flite through its C libraries (Debian's flite1-dev) with the US English voices slt, rms, awb
//! and kal16. Each voice is one object inside the library whose features carry the prosody
//! settings, so a voice serves one synthesis at a time (a lock per voice); different voices run
//! in parallel. Text is spoken sentence by sentence, and each sentence's audio is handed out
//! while flite synthesizes it (its streaming callback), so the first audio leaves early.
#![allow(unsafe_code)]

use std::cell::Cell;
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

    /// Receives audio while a voice synthesizes (flite's `cst_audio_stream_callback`).
    pub type StreamCallback =
        unsafe extern "C" fn(*const Wave, c_int, c_int, c_int, *mut StreamingInfo) -> c_int;

    /// flite's `cst_audio_streaming_info`.
    #[repr(C)]
    pub struct StreamingInfo {
        pub min_buffsize: c_int,
        pub asc: Option<StreamCallback>,
        pub utt: *const c_void,
        pub item: *const c_void,
        pub userdata: *mut c_void,
    }

    pub const STREAM_CONTINUE: c_int = 0;
    pub const STREAM_STOP: c_int = -1;

    #[link(name = "flite")]
    unsafe extern "C" {
        pub fn new_audio_streaming_info() -> *mut StreamingInfo;
        pub fn audio_streaming_info_val(info: *const StreamingInfo) -> *const c_void;
        pub fn flite_feat_set(features: *mut c_void, name: *const c_char, value: *const c_void);
        pub fn flite_init() -> c_int;
        pub fn flite_text_to_wave(text: *const c_char, voice: *mut Voice) -> *mut Wave;
        pub fn delete_wave(wave: *mut Wave);
        pub fn flite_feat_set_float(features: *mut c_void, name: *const c_char, value: c_float);
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

thread_local! {
    /// The sink of the synthesis running on this thread (flite calls back on the synthesizing
    /// thread), and whether it asked to stop or the audio was not at the expected rate.
    static SINK: Cell<Option<*mut PcmSink<'static>>> = const { Cell::new(None) };
    static STOPPED: Cell<bool> = const { Cell::new(false) };
    static WRONG_RATE: Cell<Option<c_int>> = const { Cell::new(None) };
}

/// Hands each new block of samples to the thread's sink; stops flite when the sink says so.
unsafe extern "C" fn on_audio(
    wave: *const ffi::Wave,
    start: c_int,
    size: c_int,
    _last: c_int,
    _info: *mut ffi::StreamingInfo,
) -> c_int {
    let Some(sink) = SINK.with(Cell::get) else {
        return ffi::STREAM_CONTINUE;
    };
    if wave.is_null() || start < 0 || size <= 0 {
        return ffi::STREAM_CONTINUE;
    }
    // SAFETY: flite passes the wave being built; `samples` holds at least start + size values
    // (mono) for the duration of the call.
    let (rate, samples) = unsafe {
        let w = &*wave;
        if w.samples.is_null() || w.num_channels != 1 || start + size > w.num_samples {
            return ffi::STREAM_CONTINUE;
        }
        (
            w.sample_rate,
            std::slice::from_raw_parts(w.samples.add(start as usize), size as usize),
        )
    };
    if rate != SAMPLE_RATE as c_int {
        WRONG_RATE.with(|r| r.set(Some(rate)));
        return ffi::STREAM_STOP;
    }
    // SAFETY: the pointer was set by `synthesize` on this thread from a live `&mut` that outlives
    // the `flite_text_to_wave` call during which this callback runs, and is cleared right after.
    if unsafe { (*sink)(samples) } {
        ffi::STREAM_CONTINUE
    } else {
        STOPPED.with(|s| s.set(true));
        ffi::STREAM_STOP
    }
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
        // Audio is handed out while the voice synthesizes (in blocks of about 23 ms), not when
        // a whole sentence is done. The streaming info lives as long as the voice.
        // SAFETY: a new streaming-info struct owned by the voice's features from here on; its
        // callback has the C signature flite calls.
        unsafe {
            let info = ffi::new_audio_streaming_info();
            if info.is_null() {
                return Err(format!("could not set up streaming for the {name} voice"));
            }
            (*info).asc = Some(on_audio);
            (*info).min_buffsize = 256;
            ffi::flite_feat_set(
                features,
                c"streaming_info".as_ptr(),
                ffi::audio_streaming_info_val(info),
            );
        }
        // The voice's own pitch: its models keep it internally (flite's int_f0_target_* features
        // are unset until we set them), so it is measured once from a sentence spoken untouched.
        let (f0_mean, f0_stddev) = natural_pitch(voice)?;
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

/// Median and spread (Hz) of a freshly registered voice's F0, from a sentence spoken with no
/// prosody feature set.
fn natural_pitch(voice: *mut ffi::Voice) -> Result<(f32, f32), String> {
    let text = c"Hello, this is a sentence spoken to measure the natural pitch of this voice.";
    // SAFETY: a registered voice not yet shared (it is being loaded under the registration
    // lock); no sink is set on this thread, so the streaming callback passes; we own the wave.
    let (rate, samples) = unsafe {
        let wave = ffi::flite_text_to_wave(text.as_ptr(), voice);
        if wave.is_null() {
            return Err("the voice produced nothing".into());
        }
        let w = &*wave;
        let samples: Vec<f32> = if w.samples.is_null() || w.num_samples <= 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts(w.samples, w.num_samples as usize)
                .iter()
                .map(|&s| f32::from(s) / 32768.0)
                .collect()
        };
        let rate = w.sample_rate;
        ffi::delete_wave(wave);
        (rate, samples)
    };
    let audio = crate::Audio {
        sample_rate: rate.max(1) as u32,
        samples,
    };
    let voiced = crate::pitch::track(&audio)
        .map_err(|e| e.to_string())?
        .voiced();
    let stats = crate::pitch::stats_of(voiced.clone(), 20).ok_or("no voiced speech to measure")?;
    let mean = voiced.iter().sum::<f32>() / voiced.len() as f32;
    let spread =
        (voiced.iter().map(|f| (f - mean) * (f - mean)).sum::<f32>() / voiced.len() as f32).sqrt();
    Ok((stats.median_hz, spread.max(1.0)))
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
                min: 65.0,
                max: 450.0,
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
        // flite keeps the name pointer of a feature it has not seen before: the names must live
        // for the whole program (C string literals), never a temporary.
        for (feature, value) in [
            (c"duration_stretch", 1.0 / settings.rate.clamp(0.25, 4.0)),
            (c"int_f0_target_mean", settings.pitch.clamp(65.0, 450.0)),
            (c"int_f0_target_stddev", settings.range.max(0.0)),
        ] {
            // SAFETY: sets a float feature on the locked voice's feature list.
            unsafe { ffi::flite_feat_set_float(features, feature.as_ptr(), value) };
        }
        // SAFETY: erases the sink's lifetime to park it in the thread-local; it is only used by
        // `on_audio` during `flite_text_to_wave` below, while `sink` is borrowed, and cleared
        // after.
        let sink: *mut PcmSink<'static> = unsafe {
            std::mem::transmute::<*mut PcmSink<'_>, *mut PcmSink<'static>>(sink as *mut _)
        };
        SINK.with(|s| s.set(Some(sink)));
        STOPPED.with(|s| s.set(false));
        WRONG_RATE.with(|r| r.set(None));
        let result = speak_sentences(loaded.voice, text);
        SINK.with(|s| s.set(None));
        drop(loaded);
        if let Some(rate) = WRONG_RATE.with(Cell::get) {
            return Err(SpeechError::Synthesis {
                engine: ENGINE,
                detail: format!("{name} produced {rate} Hz, expected {SAMPLE_RATE} Hz"),
            });
        }
        if STOPPED.with(Cell::get) {
            return Err(SpeechError::Cancelled);
        }
        result
    }
}

/// Speaks each sentence with a locked voice whose streaming callback feeds the thread's sink.
fn speak_sentences(voice: *mut ffi::Voice, text: &str) -> Result<(), SpeechError> {
    for sentence in sentences(text) {
        let sentence: String = sentence
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let sentence = CString::new(sentence).expect("control characters replaced");
        // SAFETY: a valid C string and a registered voice locked by the caller; flite returns
        // the whole wave (or null), which we own and free; its audio already went out through
        // the streaming callback.
        let wave = unsafe { ffi::flite_text_to_wave(sentence.as_ptr(), voice) };
        if wave.is_null() {
            return Err(SpeechError::Synthesis {
                engine: ENGINE,
                detail: "flite_text_to_wave returned nothing".into(),
            });
        }
        // SAFETY: a wave we own, freed once.
        unsafe { ffi::delete_wave(wave) };
        if STOPPED.with(Cell::get) || WRONG_RATE.with(Cell::get).is_some() {
            break;
        }
    }
    Ok(())
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
