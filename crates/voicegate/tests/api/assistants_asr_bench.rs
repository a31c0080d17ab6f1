//! The ASR benchmark (run on demand: `cargo test --release -p voicegate --test api
//! asr_benchmark -- --ignored --nocapture`): the test assistant's 20 commands spoken by the three
//! test voices, decoded with the assistant's grammar, its 3-gram model, and PocketSphinx's default
//! en-us model; decoding time per second of audio and word error rate for each.

use std::time::Instant;

use speech::engine::Engine;
use speech::pocketsphinx::{
    Decoder, DecoderConfig, LIBRARY_BEAM, LIBRARY_WORD_BEAM, LanguageModelFile, SAMPLE_RATE,
};
use testkit::TestServer;

use crate::assistants_asr::{COMMANDS, assistant_with_models, commands_dataset, model_dir, speak};
use crate::support::tokens;

/// Word-level edit distance between a reference and a hypothesis.
fn word_errors(reference: &str, hypothesis: &str) -> usize {
    let (r, h): (Vec<&str>, Vec<&str>) = (
        reference.split_whitespace().collect(),
        hypothesis.split_whitespace().collect(),
    );
    let mut row: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, hw) in h.iter().enumerate() {
            let substitution = previous + usize::from(rw != hw);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[h.len()]
}

#[test]
fn word_errors_count_edits() {
    assert_eq!(word_errors("turn on the lights", "turn on the lights"), 0);
    assert_eq!(word_errors("turn on the lights", "turn off lights"), 2);
    assert_eq!(word_errors("a b", ""), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run it on demand"]
async fn asr_benchmark() {
    let server = TestServer::start().await;
    server.add_user("ann", "ann-password-1").await;
    let (token, _) = tokens(&server, "ann", "ann-password-1").await;
    let (id, _) = assistant_with_models(&server, &token, commands_dataset()).await;
    let dir = model_dir(&server, &id);
    let espeak = speech::espeak::Espeak::new().unwrap();
    let flite = speech::flite::Flite::new().unwrap();
    let voices: [(&dyn Engine, &str, Option<f32>, u32); 3] = [
        (&espeak, "en-us", Some(150.0), speech::espeak::SAMPLE_RATE),
        (
            &espeak,
            "en-gb-x-gbclan",
            Some(150.0),
            speech::espeak::SAMPLE_RATE,
        ),
        (&flite, "slt", None, speech::flite::SAMPLE_RATE),
    ];
    let mut clips = Vec::new();
    for (engine, voice, speed, rate) in voices {
        for (text, _, _) in COMMANDS {
            let samples = speak(engine, voice, speed, text);
            let floats: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
            let resampled = speech::resample::resample(&floats, rate, SAMPLE_RATE).unwrap();
            let pcm: Vec<i16> = resampled
                .into_iter()
                .map(speech::audio::f32_to_i16)
                .collect();
            clips.push((text, pcm));
        }
    }
    let audio_secs: f64 = clips
        .iter()
        .map(|(_, pcm)| pcm.len() as f64 / f64::from(SAMPLE_RATE))
        .sum();
    let model = voicegate::config::AssistantsConfig::default();
    let default_dir = model.asr_dictionary.parent().unwrap().to_path_buf();
    // The configured beams (wider than the library's), and PocketSphinx's own.
    let wide = (
        10f64.powi(model.asr_beam_log10),
        10f64.powi(model.asr_word_beam_log10),
    );
    let library = (LIBRARY_BEAM, LIBRARY_WORD_BEAM);
    let setups = [
        (
            "assistant grammar (JSGF), configured beams",
            LanguageModelFile::Grammar(dir.join("grammar.jsgf")),
            dir.join("words.dict"),
            wide,
        ),
        (
            "assistant grammar (JSGF), library beams",
            LanguageModelFile::Grammar(dir.join("grammar.jsgf")),
            dir.join("words.dict"),
            library,
        ),
        (
            "assistant 3-gram (ARPA), configured beams",
            LanguageModelFile::NGram(dir.join("model.arpa")),
            dir.join("words.dict"),
            wide,
        ),
        (
            "default en-us model, library beams",
            LanguageModelFile::NGram(default_dir.join("en-us.lm.bin")),
            model.asr_dictionary.clone(),
            library,
        ),
    ];
    for (name, language_model, dictionary, (beam, word_beam)) in setups {
        let loading = Instant::now();
        let mut decoder = Decoder::new(&DecoderConfig {
            acoustic_model: model.asr_acoustic_model.clone(),
            language_model,
            dictionary,
            beam,
            word_beam,
        })
        .unwrap();
        let load_secs = loading.elapsed().as_secs_f64();
        let (mut errors, mut words, mut exact) = (0, 0, 0);
        let decoding = Instant::now();
        for (text, pcm) in &clips {
            let heard = decoder.decode(pcm).unwrap();
            errors += word_errors(text, &heard.text);
            words += text.split_whitespace().count();
            exact += usize::from(heard.text == *text);
        }
        let decode_secs = decoding.elapsed().as_secs_f64();
        println!(
            "| {name} | {load_secs:.2} s | {:.3} | {:.1} % | {exact}/{} |",
            decode_secs / audio_secs,
            100.0 * errors as f64 / words as f64,
            clips.len()
        );
    }
    println!("audio: {} clips, {audio_secs:.1} s", clips.len());
}
