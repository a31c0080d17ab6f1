//! Synthesizes one fixed 256-character English sentence again and again through
//! `Synthesizer::stream` (streamed WAV, like the HTTP route `GET /api/v1/external/synthesis/`) and
//! prints the time of every iteration: the in-process baseline of `benches/speech-load.sh`.
//!
//! ```sh
//! cargo run --release -p speech --example synth_once -- --iterations 30
//! cargo run --release -p speech --example synth_once -- --print-text
//! ```
//!
//! Options: `--voice ID` (default `espeak:en-us`), `--sample-rate HZ` (48000), `--iterations N`
//! (30, measured), `--warmup N` (3, not printed), `--threads T` (1; T threads share the N
//! iterations, each with its own requests, all on one `Synthesizer` as in the server),
//! `--text TEXT` (another text), `--print-text` (print the default sentence and exit).
//!
//! Output: `#` comment lines, then one tab-separated line per measured iteration:
//! `thread iteration total_ms first_chunk_ms bytes audio_s`, where `first_chunk_ms` is the time
//! from the call to the first bytes handed out (the WAV header with the first samples), `bytes`
//! the whole WAV and `audio_s` its duration. The bytes are copied out chunk by chunk, as the
//! server copies them into its response body. Last, `# wall_s` is the wall time of the measured
//! iterations (all threads).

use std::process::ExitCode;
use std::sync::Barrier;
use std::time::Instant;

use speech::synth::{Container, Modifiers, SynthesisRequest, Synthesizer};

/// The sentence (256 ASCII characters, one sentence with four clauses); the same as in
/// `benches/engines.rs`.
const TEXT: &str = "When the morning train finally pulled into the little station beside the river, the weary travellers gathered their bags, thanked the kind conductor, and walked slowly up the hill towards the old stone inn, where a warm breakfast and a bright fire awaited.";
const _: () = assert!(TEXT.len() == 256);

/// WAV header bytes before the samples.
const WAV_HEADER: usize = 44;

struct Options {
    voice: String,
    sample_rate: u32,
    iterations: usize,
    warmup: usize,
    threads: usize,
    text: String,
    print_text: bool,
}

fn parse() -> Result<Options, String> {
    let mut options = Options {
        voice: "espeak:en-us".into(),
        sample_rate: 48000,
        iterations: 30,
        warmup: 3,
        threads: 1,
        text: TEXT.into(),
        print_text: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        let number = |text: String| {
            text.parse::<usize>()
                .map_err(|_| format!("{arg}: {text:?} is not a number"))
        };
        match arg.as_str() {
            "--voice" => options.voice = value()?,
            "--sample-rate" => {
                let text = value()?;
                options.sample_rate = text
                    .parse()
                    .map_err(|_| format!("--sample-rate: {text:?} is not a number"))?;
            }
            "--iterations" => options.iterations = number(value()?)?,
            "--warmup" => options.warmup = number(value()?)?,
            "--threads" => options.threads = number(value()?)?,
            "--text" => options.text = value()?,
            "--print-text" => options.print_text = true,
            "-h" | "--help" => {
                return Err(
                    "usage: synth_once [--voice ID] [--sample-rate HZ] [--iterations N] \
                            [--warmup N] [--threads T] [--text TEXT] [--print-text]"
                        .into(),
                );
            }
            other => return Err(format!("unknown option {other:?} (see --help)")),
        }
    }
    if options.iterations == 0 || options.threads == 0 {
        return Err("--iterations and --threads must be at least 1".into());
    }
    Ok(options)
}

/// One timed synthesis.
struct Sample {
    total_ms: f64,
    first_chunk_ms: f64,
    bytes: usize,
}

fn synthesize_once(synth: &Synthesizer, request: &SynthesisRequest<'_>) -> Result<Sample, String> {
    let mut wav = Vec::new();
    let mut first = None;
    let start = Instant::now();
    synth
        .stream(request, Container::Wav, &mut |bytes| {
            if first.is_none() {
                first = Some(start.elapsed());
            }
            wav.extend_from_slice(bytes);
            true
        })
        .map_err(|e| e.to_string())?;
    let total = start.elapsed();
    let first = first.ok_or("no audio")?;
    Ok(Sample {
        total_ms: total.as_secs_f64() * 1000.0,
        first_chunk_ms: first.as_secs_f64() * 1000.0,
        bytes: std::hint::black_box(wav).len(),
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
}

fn run(options: &Options) -> Result<(), String> {
    let synth = Synthesizer::new().map_err(|e| e.to_string())?;
    let request = SynthesisRequest {
        voice: &options.voice,
        text: &options.text,
        modifiers: Modifiers::default(),
        sample_rate: speech::SampleRate::new(options.sample_rate)
            .ok_or_else(|| format!("--sample-rate: {} is not supported", options.sample_rate))?,
    };
    synth.validate(&request).map_err(|e| e.to_string())?;
    for _ in 0..options.warmup {
        synthesize_once(&synth, &request)?;
    }
    println!(
        "# voice {} sample_rate {} text_chars {} iterations {} threads {} warmup {}",
        options.voice,
        options.sample_rate,
        options.text.chars().count(),
        options.iterations,
        options.threads,
        options.warmup
    );
    println!("# thread\titeration\ttotal_ms\tfirst_chunk_ms\tbytes\taudio_s");
    // The threads and this one start together.
    let barrier = Barrier::new(options.threads + 1);
    let mut wall_start = Instant::now();
    let results: Vec<Result<Vec<Sample>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..options.threads)
            .map(|t| {
                let (synth, request, barrier) = (&synth, &request, &barrier);
                let share = options.iterations / options.threads
                    + usize::from(t < options.iterations % options.threads);
                scope.spawn(move || {
                    barrier.wait();
                    (0..share)
                        .map(|_| synthesize_once(synth, request))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        barrier.wait();
        wall_start = Instant::now();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a thread panicked".into())))
            .collect()
    });
    let wall = wall_start.elapsed().as_secs_f64();
    let mut totals = Vec::new();
    let mut firsts = Vec::new();
    let mut audio_total = 0.0;
    for (t, samples) in results.into_iter().enumerate() {
        for (i, s) in samples?.iter().enumerate() {
            let audio_s =
                s.bytes.saturating_sub(WAV_HEADER) as f64 / 2.0 / f64::from(options.sample_rate);
            println!(
                "{t}\t{i}\t{:.3}\t{:.3}\t{}\t{audio_s:.3}",
                s.total_ms, s.first_chunk_ms, s.bytes
            );
            totals.push(s.total_ms);
            firsts.push(s.first_chunk_ms);
            audio_total += audio_s;
        }
    }
    totals.sort_by(f64::total_cmp);
    firsts.sort_by(f64::total_cmp);
    println!("# wall_s {wall:.3}");
    println!(
        "# total_ms median {:.2} p90 {:.2}; first_chunk_ms median {:.2} p90 {:.2}; \
         {:.2} syntheses/s, {:.1} audio-s/s",
        percentile(&totals, 50.0),
        percentile(&totals, 90.0),
        percentile(&firsts, 50.0),
        percentile(&firsts, 90.0),
        totals.len() as f64 / wall,
        audio_total / wall
    );
    Ok(())
}

fn main() -> ExitCode {
    let options = match parse() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if options.print_text {
        println!("{}", options.text);
        return ExitCode::SUCCESS;
    }
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("synth_once: {message}");
            ExitCode::FAILURE
        }
    }
}
