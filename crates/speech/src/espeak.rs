//! espeak-ng through its C library (Debian's libespeak-ng). The library keeps global state, so
//! every call goes through one lock; it produces 22050 Hz audio, handed to the sink in chunks of
//! about 50 ms as it is synthesized.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::ffi::{CStr, CString, c_char, c_int, c_short, c_uint, c_void};
use std::ptr;
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::SpeechError;
use crate::engine::{
    Engine, Gender, NativeRange, NativeRanges, NativeSettings, PcmSink, VoiceInfo,
};

const ENGINE: &str = "espeak";
/// espeak-ng's output rate.
pub const SAMPLE_RATE: u32 = 22050;

mod ffi {
    use super::*;

    pub const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
    pub const INITIALIZE_DONT_EXIT: c_int = 0x8000;
    pub const EE_OK: c_int = 0;
    pub const CHARS_UTF8: c_uint = 1;
    pub const ENDPAUSE: c_uint = 0x1000;
    pub const POS_CHARACTER: c_int = 1;
    pub const RATE: c_int = 1;
    pub const PITCH: c_int = 3;
    pub const RANGE: c_int = 4;

    #[repr(C)]
    pub struct Voice {
        pub name: *const c_char,
        pub languages: *const c_char,
        pub identifier: *const c_char,
        pub gender: u8,
        pub age: u8,
        pub variant: u8,
        pub xx1: u8,
        pub score: c_int,
        pub spare: *mut c_void,
    }

    /// Opaque here: the callback never reads events.
    #[repr(C)]
    pub struct Event {
        _private: [u8; 0],
    }

    pub type SynthCallback = unsafe extern "C" fn(*mut c_short, c_int, *mut Event) -> c_int;

    #[link(name = "espeak-ng")]
    unsafe extern "C" {
        pub fn espeak_Initialize(
            output: c_int,
            buflength: c_int,
            path: *const c_char,
            options: c_int,
        ) -> c_int;
        pub fn espeak_SetSynthCallback(callback: SynthCallback);
        pub fn espeak_SetParameter(parameter: c_int, value: c_int, relative: c_int) -> c_int;
        pub fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
        pub fn espeak_Synth(
            text: *const c_void,
            size: usize,
            position: c_uint,
            position_type: c_int,
            end_position: c_uint,
            flags: c_uint,
            unique_identifier: *mut c_uint,
            user_data: *mut c_void,
        ) -> c_int;
        pub fn espeak_ListVoices(voice_spec: *mut Voice) -> *mut *const Voice;
        pub fn espeak_TextToPhonemes(
            textptr: *mut *const c_void,
            textmode: c_int,
            phonememode: c_int,
        ) -> *const c_char;
    }
}

/// The library's state behind the one lock: voices read at start, the voice last selected.
struct State {
    voices: Vec<VoiceInfo>,
    selected: Option<String>,
}

static STATE: OnceLock<Result<Mutex<State>, String>> = OnceLock::new();

thread_local! {
    /// The sink of the synthesis running on this thread (espeak-ng calls back on the caller's
    /// thread in synchronous mode), and whether it asked to stop.
    static SINK: Cell<Option<*mut PcmSink<'static>>> = const { Cell::new(None) };
    static STOPPED: Cell<bool> = const { Cell::new(false) };
}

/// Hands each chunk to the thread's sink; returns 1 (abort) when the sink says stop.
unsafe extern "C" fn on_audio(
    wav: *mut c_short,
    samples: c_int,
    _events: *mut ffi::Event,
) -> c_int {
    if wav.is_null() || samples <= 0 {
        return 0;
    }
    let Some(sink) = SINK.with(Cell::get) else {
        return 1;
    };
    // SAFETY: espeak-ng passes `samples` valid samples at `wav` for the duration of the call.
    let chunk = unsafe { std::slice::from_raw_parts(wav, samples as usize) };
    // SAFETY: the pointer was set by `synthesize` on this thread from a live `&mut` that outlives
    // the `espeak_Synth` call during which this callback runs, and is cleared right after it.
    let keep_going = unsafe { (*sink)(chunk) };
    if keep_going {
        0
    } else {
        STOPPED.with(|s| s.set(true));
        1
    }
}

fn state() -> Result<MutexGuard<'static, State>, SpeechError> {
    let state = STATE.get_or_init(|| {
        // SAFETY: called once (OnceLock); a null path means espeak-ng's installed data directory.
        let rate = unsafe {
            ffi::espeak_Initialize(
                ffi::AUDIO_OUTPUT_SYNCHRONOUS,
                50,
                ptr::null(),
                ffi::INITIALIZE_DONT_EXIT,
            )
        };
        if rate <= 0 {
            return Err("espeak_Initialize failed (is espeak-ng-data installed?)".to_string());
        }
        // SAFETY: `on_audio` has the callback's C signature and lives for the whole program.
        unsafe { ffi::espeak_SetSynthCallback(on_audio) };
        Ok(Mutex::new(State {
            // SAFETY: the library is initialized.
            voices: unsafe { list_voices() },
            selected: None,
        }))
    });
    match state {
        Ok(mutex) => Ok(mutex
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())),
        Err(detail) => Err(SpeechError::EngineInit {
            engine: ENGINE,
            detail: detail.clone(),
        }),
    }
}

/// Reads espeak-ng's voice list.
///
/// # Safety
/// The library must be initialized.
unsafe fn list_voices() -> Vec<VoiceInfo> {
    let mut voices = Vec::new();
    // SAFETY: null asks for every voice; the result is a null-terminated array owned by the library.
    let mut cursor = unsafe { ffi::espeak_ListVoices(ptr::null_mut()) };
    if cursor.is_null() {
        return voices;
    }
    loop {
        // SAFETY: `cursor` points into the null-terminated array.
        let voice = unsafe { *cursor };
        if voice.is_null() {
            break;
        }
        // SAFETY: entries are valid voice structs with C strings owned by the library.
        let voice = unsafe { &*voice };
        // SAFETY: as above: C strings owned by the library, or null.
        let text = |p: *const c_char| unsafe {
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        let identifier = text(voice.identifier);
        // `languages` is a priority byte then a C string; the first language is the voice's own.
        let language = if voice.languages.is_null() {
            String::new()
        } else {
            // SAFETY: skips the priority byte of the first pair.
            text(unsafe { voice.languages.add(1) })
        };
        // Variants live under "variants/" and are not voices of their own.
        if !identifier.is_empty() && !identifier.starts_with("variants/") && !language.is_empty() {
            let file = identifier
                .rsplit('/')
                .next()
                .unwrap_or(&identifier)
                .to_lowercase();
            voices.push(VoiceInfo {
                id: format!("{ENGINE}:{file}"),
                engine: ENGINE,
                name: text(voice.name),
                language: language.to_lowercase(),
                gender: match voice.gender {
                    1 => Gender::Male,
                    2 => Gender::Female,
                    _ => Gender::Unknown,
                },
                sample_rate: SAMPLE_RATE,
            });
        }
        // SAFETY: the array continues until its null terminator, checked at the loop's top.
        cursor = unsafe { cursor.add(1) };
    }
    voices.sort_by(|a, b| a.id.cmp(&b.id));
    voices.dedup_by(|a, b| a.id == b.id);
    voices
}

fn select(state: &mut State, voice: &str) -> Result<(), SpeechError> {
    if state.selected.as_deref() == Some(voice) {
        return Ok(());
    }
    if !state
        .voices
        .iter()
        .any(|v| v.id.strip_prefix("espeak:") == Some(voice))
    {
        return Err(SpeechError::UnknownVoice(format!("{ENGINE}:{voice}")));
    }
    let name = CString::new(voice).map_err(|_| SpeechError::UnknownVoice(voice.into()))?;
    // SAFETY: a valid C string; the library is initialized and we hold its lock.
    let code = unsafe { ffi::espeak_SetVoiceByName(name.as_ptr()) };
    if code != ffi::EE_OK {
        return Err(SpeechError::UnknownVoice(format!("{ENGINE}:{voice}")));
    }
    state.selected = Some(voice.to_string());
    Ok(())
}

/// Text as handed to the library: control characters (NUL among them) become spaces.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The espeak-ng engine. Cheap: all instances share the library.
#[derive(Debug, Default, Clone, Copy)]
pub struct Espeak;

impl Espeak {
    /// Starts the library (once per process) and checks it works.
    pub fn new() -> Result<Self, SpeechError> {
        drop(state()?);
        Ok(Self)
    }

    /// The phonemes of `text` in espeak-ng's ASCII mnemonics, clause by clause separated by
    /// spaces, as `voice` (an id without the prefix) pronounces it.
    pub fn phonemes(&self, voice: &str, text: &str) -> Result<String, SpeechError> {
        let mut state = state()?;
        select(&mut state, voice)?;
        let text = CString::new(clean(text)).expect("control characters replaced");
        let mut cursor: *const c_void = text.as_ptr().cast();
        let mut out = String::new();
        // One clause per call: never more calls than characters (a guard against a library
        // that stops advancing the cursor).
        let mut budget = text.as_bytes().len() + 1;
        while !cursor.is_null() && budget > 0 {
            budget -= 1;
            // SAFETY: `cursor` points into `text` (NUL-terminated, alive), the library advances
            // it clause by clause and sets it to null at the end; we hold the lock.
            let clause =
                unsafe { ffi::espeak_TextToPhonemes(&mut cursor, ffi::CHARS_UTF8 as c_int, 0) };
            if clause.is_null() {
                break;
            }
            // SAFETY: a C string owned by the library, valid until the next call.
            let clause = unsafe { CStr::from_ptr(clause) }.to_string_lossy();
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(clause.trim());
        }
        Ok(out)
    }
}

impl Engine for Espeak {
    fn name(&self) -> &'static str {
        ENGINE
    }

    fn voices(&self) -> Vec<VoiceInfo> {
        state().map(|s| s.voices.clone()).unwrap_or_default()
    }

    fn native_ranges(&self, voice: &str) -> Result<NativeRanges, SpeechError> {
        let state = state()?;
        if !state
            .voices
            .iter()
            .any(|v| v.id.strip_prefix("espeak:") == Some(voice))
        {
            return Err(SpeechError::UnknownVoice(format!("{ENGINE}:{voice}")));
        }
        Ok(NativeRanges {
            rate: NativeRange {
                min: 80.0,
                max: 450.0,
                default: 175.0,
            },
            pitch: NativeRange {
                min: 0.0,
                max: 100.0,
                default: 50.0,
            },
            range: NativeRange {
                min: 0.0,
                max: 100.0,
                default: 50.0,
            },
        })
    }

    fn synthesize(
        &self,
        voice: &str,
        text: &str,
        settings: NativeSettings,
        sink: &mut PcmSink<'_>,
    ) -> Result<(), SpeechError> {
        let mut state = state()?;
        select(&mut state, voice)?;
        let failed = |what: &str| SpeechError::Synthesis {
            engine: ENGINE,
            detail: what.to_string(),
        };
        for (parameter, value) in [
            (ffi::RATE, settings.rate.clamp(80.0, 450.0)),
            (ffi::PITCH, settings.pitch.clamp(0.0, 100.0)),
            (ffi::RANGE, settings.range.clamp(0.0, 100.0)),
        ] {
            // SAFETY: plain integers; we hold the lock.
            if unsafe { ffi::espeak_SetParameter(parameter, value.round() as c_int, 0) }
                != ffi::EE_OK
            {
                return Err(failed("espeak_SetParameter refused a value"));
            }
        }
        let text = CString::new(clean(text)).expect("control characters replaced");
        let bytes = text.as_bytes_with_nul();
        // SAFETY: erases the sink's lifetime to park it in the thread-local; it is only used by
        // `on_audio` during `espeak_Synth` below, while `sink` is borrowed, and cleared after.
        let sink: *mut PcmSink<'static> = unsafe {
            std::mem::transmute::<*mut PcmSink<'_>, *mut PcmSink<'static>>(sink as *mut _)
        };
        SINK.with(|s| s.set(Some(sink)));
        STOPPED.with(|s| s.set(false));
        // SAFETY: `bytes` is NUL-terminated UTF-8 and alive for the call; synchronous mode
        // returns when synthesis ends; we hold the lock, so no other thread is in the library.
        let code = unsafe {
            ffi::espeak_Synth(
                bytes.as_ptr().cast(),
                bytes.len(),
                0,
                ffi::POS_CHARACTER,
                0,
                ffi::CHARS_UTF8 | ffi::ENDPAUSE,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        SINK.with(|s| s.set(None));
        drop(state);
        if STOPPED.with(Cell::get) {
            return Err(SpeechError::Cancelled);
        }
        if code != ffi::EE_OK {
            return Err(failed("espeak_Synth failed"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speaks_english_and_lists_voices() {
        let engine = Espeak::new().unwrap();
        let voices = engine.voices();
        assert!(voices.iter().any(|v| v.id == "espeak:en-us"), "{voices:?}");
        let ranges = engine.native_ranges("en-us").unwrap();
        let mut samples = Vec::new();
        engine
            .synthesize("en-us", "Hello world.", ranges.defaults(), &mut |chunk| {
                samples.extend_from_slice(chunk);
                true
            })
            .unwrap();
        let seconds = samples.len() as f64 / f64::from(SAMPLE_RATE);
        assert!((0.5..3.0).contains(&seconds), "{seconds} s");
        assert!(samples.iter().any(|&s| s.unsigned_abs() > 1000));
        let phonemes = engine.phonemes("en-us", "Hello world.").unwrap();
        assert!(phonemes.contains('l'), "{phonemes}");
        assert!(matches!(
            engine.synthesize("no-such-voice", "x", ranges.defaults(), &mut |_| true),
            Err(SpeechError::UnknownVoice(_))
        ));
    }

    #[test]
    fn a_sink_can_stop_synthesis() {
        let engine = Espeak::new().unwrap();
        let ranges = engine.native_ranges("en-us").unwrap();
        let mut chunks = 0;
        let result = engine.synthesize(
            "en-us",
            "This is a long sentence that would take several seconds to speak in full.",
            ranges.defaults(),
            &mut |_| {
                chunks += 1;
                false
            },
        );
        assert!(matches!(result, Err(SpeechError::Cancelled)));
        assert_eq!(chunks, 1);
    }
}
