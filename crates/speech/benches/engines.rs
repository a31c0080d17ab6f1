//! Criterion benchmarks of the speech engines and the synthesis pipeline, on one fixed
//! 256-character English sentence:
//!
//! - `engine/*`: `Engine::synthesize` alone (espeak-ng `en-us` at 22,050 Hz, flite `slt` at
//!   16,000 Hz), default native settings, samples collected into a `Vec<i16>`;
//! - `render_48k/*`: `Synthesizer::render` to 48 kHz floats (engine, conversion, resampling);
//! - `stream_wav_48k/*`: `Synthesizer::stream` to 48 kHz WAV bytes, what the HTTP route streams.
//!
//! Before the criterion runs, it prints a table of the real-time factor of each engine (synthesis
//! time / audio duration, alone and through the pipeline) and of the time to the first chunk of
//! `Synthesizer::stream` at 48 kHz (medians of `REPORT_RUNS` runs).
//!
//! ```sh
//! cargo bench -p speech                    # about 40 s on 2 cores, after the build
//! cargo bench -p speech -- flite           # criterion filter (the table is always printed)
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};
use speech::engine::Engine;
use speech::espeak::Espeak;
use speech::flite::Flite;
use speech::synth::{Container, Modifiers, SynthesisRequest, Synthesizer};

/// The sentence (256 ASCII characters, one sentence with four clauses); the same as in
/// `examples/synth_once.rs`.
const TEXT: &str = "When the morning train finally pulled into the little station beside the river, the weary travellers gathered their bags, thanked the kind conductor, and walked slowly up the hill towards the old stone inn, where a warm breakfast and a bright fire awaited.";
const _: () = assert!(TEXT.len() == 256);

/// Output rate of the pipeline benchmarks.
const RATE: u32 = 48000;

/// Runs per figure of the printed table (1 when criterion runs in test mode).
const REPORT_RUNS: usize = 10;

/// One engine voice under test.
struct Case {
    /// Voice id with the engine prefix, for the synthesizer.
    id: &'static str,
    /// Voice id without it, for the engine.
    voice: &'static str,
    /// The engine's own rate.
    native_rate: u32,
    engine: Box<dyn Engine>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "espeak:en-us",
            voice: "en-us",
            native_rate: speech::espeak::SAMPLE_RATE,
            engine: Box::new(Espeak::new().expect("espeak-ng starts")),
        },
        Case {
            id: "flite:slt",
            voice: "slt",
            native_rate: 16000,
            engine: Box::new(Flite::new().expect("flite starts")),
        },
    ]
}

fn request(id: &str) -> SynthesisRequest<'_> {
    SynthesisRequest {
        voice: id,
        text: TEXT,
        modifiers: Modifiers::default(),
        sample_rate: speech::SampleRate::new(RATE).expect("a supported rate"),
    }
}

/// The engine alone: native samples collected.
fn engine_samples(case: &Case) -> Vec<i16> {
    let settings = case
        .engine
        .native_ranges(case.voice)
        .expect("known voice")
        .defaults();
    let mut samples = Vec::new();
    case.engine
        .synthesize(case.voice, TEXT, settings, &mut |chunk| {
            samples.extend_from_slice(chunk);
            true
        })
        .expect("synthesis");
    samples
}

/// The whole pipeline to WAV bytes; also the time to the first chunk handed out.
fn stream_wav(synth: &Synthesizer, id: &str) -> (Vec<u8>, Duration) {
    let mut wav = Vec::new();
    let mut first = None;
    let start = Instant::now();
    synth
        .stream(&request(id), Container::Wav, &mut |bytes| {
            first.get_or_insert_with(|| start.elapsed());
            wav.extend_from_slice(bytes);
            true
        })
        .expect("synthesis");
    (wav, first.expect("some audio"))
}

/// Median time of `runs` calls of `f`, in seconds.
fn median_secs(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Prints the real-time factors and the time to the first chunk.
fn report(cases: &[Case], synth: &Synthesizer, runs: usize) {
    println!();
    let runs_text = if runs == 1 {
        "single runs (test mode)".to_string()
    } else {
        format!("medians of {runs} runs")
    };
    println!(
        "## speech: real-time factor and first chunk ({} characters, {runs_text}, {} cores)",
        TEXT.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!(
        "| voice | audio | engine alone | RTF engine | stream WAV 48 kHz | RTF pipeline | \
         first chunk | first chunk / total |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for case in cases {
        // Warm up both paths once (library state, page cache, allocations).
        let audio_secs = engine_samples(case).len() as f64 / f64::from(case.native_rate);
        stream_wav(synth, case.id);
        let engine_secs = median_secs(runs, || {
            black_box(engine_samples(case));
        });
        let mut firsts = Vec::new();
        let stream_secs = median_secs(runs, || {
            let (wav, first) = stream_wav(synth, case.id);
            firsts.push(first.as_secs_f64());
            black_box(wav);
        });
        firsts.sort_by(f64::total_cmp);
        let first_secs = firsts[firsts.len() / 2];
        println!(
            "| {} | {:.2} s | {:.1} ms | {:.4} | {:.1} ms | {:.4} | {:.1} ms | {:.0} % |",
            case.id,
            audio_secs,
            engine_secs * 1000.0,
            engine_secs / audio_secs,
            stream_secs * 1000.0,
            stream_secs / audio_secs,
            first_secs * 1000.0,
            first_secs / stream_secs * 100.0
        );
    }
    println!();
    println!(
        "RTF = synthesis time / audio duration (lower is faster; 0.01 = 100x real time). \
         First chunk: from the call to the first WAV bytes handed out by Synthesizer::stream."
    );
    println!();
}

fn benchmarks(criterion: &mut Criterion, cases: &[Case], synth: &Synthesizer) {
    let mut group = criterion.benchmark_group("engine");
    group.sampling_mode(SamplingMode::Flat);
    for case in cases {
        group.bench_function(case.id, |b| b.iter(|| black_box(engine_samples(case))));
    }
    group.finish();

    let mut group = criterion.benchmark_group("render_48k");
    group.sampling_mode(SamplingMode::Flat);
    for case in cases {
        group.bench_function(case.id, |b| {
            b.iter(|| black_box(synth.render(&request(case.id)).expect("synthesis")))
        });
    }
    group.finish();

    let mut group = criterion.benchmark_group("stream_wav_48k");
    group.sampling_mode(SamplingMode::Flat);
    for case in cases {
        group.bench_function(case.id, |b| {
            b.iter(|| black_box(stream_wav(synth, case.id).0))
        });
    }
    group.finish();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    // As criterion decides: `cargo bench` passes --bench; without it (cargo test --benches), or
    // with --test, every benchmark runs once as a test, and the table is made of single runs.
    let bench_mode = has("--bench") && !has("--test");
    let listing = has("--list");
    let cases = cases();
    let synth = Synthesizer::new().expect("the engines start");
    if !listing {
        report(&cases, &synth, if bench_mode { REPORT_RUNS } else { 1 });
    }
    // Each iteration takes tens to hundreds of milliseconds: 10 samples of a few iterations each.
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .without_plots()
        .configure_from_args();
    benchmarks(&mut criterion, &cases, &synth);
    criterion.final_summary();
}
