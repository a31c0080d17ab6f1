//! The speech engines: espeak-ng and flite each speak a word; PocketSphinx loads the acoustic
//! model and dictionary speech recognition reads.

use std::path::Path;
use std::time::Duration;

use speech::pocketsphinx::{Decoder, DecoderConfig, LanguageModelFile};

use crate::cli::doctor::report::{Finding, bounded};
use crate::config::AssistantsConfig;

/// How long the engines may take to start and speak (or load the models).
const LIMIT: Duration = Duration::from_secs(30);

/// What to install when the engines do not start.
const INSTALL_TTS: &str = "install the engines' libraries (Debian: libespeak-ng1, libflite1, \
                           espeak-ng-data; scripts/system-deps installs them)";

/// Synthesis with both engines, then the speech recogniser's models.
pub async fn check(config: &AssistantsConfig) -> Vec<Finding> {
    let mut findings = bounded(LIMIT, "speech engines", INSTALL_TTS, async {
        vec![match tokio::task::spawn_blocking(speak).await {
            Ok(Ok(summary)) => Finding::ok(format!("speech engines: {summary}")),
            Ok(Err(e)) => Finding::fail(format!("speech engines: {e}"), INSTALL_TTS),
            Err(e) => Finding::fail(format!("speech engines: {e}"), INSTALL_TTS),
        }]
    })
    .await;
    let config = config.clone();
    let fix = "install pocketsphinx-en-us, or set assistants.asr_acoustic_model and \
               assistants.asr_dictionary";
    findings.extend(
        bounded(LIMIT, "speech recognition", fix, async move {
            match tokio::task::spawn_blocking(move || recogniser(&config)).await {
                Ok(findings) => findings,
                Err(e) => vec![Finding::warn(format!("speech recognition: {e}"), fix)],
            }
        })
        .await,
    );
    findings
}

/// Starts the engines and speaks a word with each, at 48 kHz.
fn speak() -> Result<String, String> {
    use speech::synth::{Modifiers, SynthesisRequest};
    let synth = speech::Synthesizer::new().map_err(|e| e.to_string())?;
    for voice in ["espeak:en-us", "flite:slt"] {
        let request = SynthesisRequest {
            voice,
            text: "ready",
            modifiers: Modifiers::default(),
            sample_rate: speech::SampleRate::HZ_48000,
        };
        let audio = synth
            .render(&request)
            .map_err(|e| format!("{voice}: {e}"))?;
        if audio.samples.is_empty() {
            return Err(format!("{voice} produced no audio"));
        }
    }
    Ok(format!(
        "{} voices (espeak-ng and flite speak)",
        synth.voices().len()
    ))
}

/// Whether PocketSphinx loads the configured acoustic model and dictionary, with a grammar of
/// the dictionary's first word. Recognition is one route of the assistants: its absence is a
/// warning.
fn recogniser(config: &AssistantsConfig) -> Vec<Finding> {
    let model = &config.asr_acoustic_model;
    let dictionary = &config.asr_dictionary;
    let consequence = "speech recognition (the assistants' recognize route) fails";
    if !model.is_dir() {
        return vec![Finding::warn(
            format!("no acoustic model at {}: {consequence}", model.display()),
            "install pocketsphinx-en-us, or set assistants.asr_acoustic_model",
        )];
    }
    let Some(word) = first_word(dictionary) else {
        return vec![Finding::warn(
            format!(
                "no readable dictionary at {}: {consequence}",
                dictionary.display()
            ),
            "install pocketsphinx-en-us, or set assistants.asr_dictionary",
        )];
    };
    let grammar =
        std::env::temp_dir().join(format!("voicegate-doctor-{}.gram", std::process::id()));
    if let Err(e) = std::fs::write(
        &grammar,
        format!("#JSGF V1.0;\ngrammar doctor;\npublic <word> = {word};\n"),
    ) {
        return vec![Finding::warn(
            format!("speech recognition: writing a test grammar: {e}"),
            "make the temporary directory (TMPDIR) writable",
        )];
    }
    let loaded = Decoder::new(&DecoderConfig {
        acoustic_model: model.clone(),
        language_model: LanguageModelFile::Grammar(grammar.clone()),
        dictionary: dictionary.clone(),
        beam: 10f64.powi(config.asr_beam_log10),
        word_beam: 10f64.powi(config.asr_word_beam_log10),
    });
    let _ = std::fs::remove_file(&grammar);
    vec![match loaded {
        Ok(_) => Finding::ok(format!(
            "speech recognition: PocketSphinx loads {} and {}",
            model.display(),
            dictionary.display()
        )),
        Err(e) => Finding::warn(
            format!("speech recognition: {e}: {consequence}"),
            "reinstall pocketsphinx-en-us, or point assistants.asr_acoustic_model and \
             assistants.asr_dictionary at a matching model and dictionary",
        ),
    }]
}

/// The first word of a pronunciation dictionary (`WORD PH O N E S` lines).
fn first_word(dictionary: &Path) -> Option<String> {
    use std::io::BufRead;
    let file = std::fs::File::open(dictionary).ok()?;
    std::io::BufReader::new(file)
        .lines()
        .take(100)
        .map_while(Result::ok)
        .find_map(|line| {
            let word = line.split_whitespace().next()?;
            // JSGF tokens: a plain word, not `word(2)` nor punctuation.
            word.chars()
                .all(|c| c.is_alphanumeric() || c == '\'' || c == '-')
                .then(|| word.to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_model_or_dictionary_is_a_warning_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let config = AssistantsConfig {
            asr_acoustic_model: dir.path().join("none"),
            ..AssistantsConfig::default()
        };
        let findings = recogniser(&config);
        assert_eq!(findings[0].status, crate::cli::doctor::report::Status::Warn);
        assert!(
            findings[0]
                .fix
                .as_deref()
                .is_some_and(|fix| fix.contains("assistants.asr_acoustic_model")),
            "{findings:?}"
        );
        let dictionary = dir.path().join("words.dict");
        std::fs::write(&dictionary, ";; comment\nhello(2) HH AH\nready R EH D IY\n").unwrap();
        assert_eq!(first_word(&dictionary).as_deref(), Some("ready"));
        let config = AssistantsConfig {
            asr_acoustic_model: dir.path().to_path_buf(),
            asr_dictionary: std::path::PathBuf::from("/nonexistent/words.dict"),
            ..AssistantsConfig::default()
        };
        let findings = recogniser(&config);
        assert!(
            findings[0].text.contains("no readable dictionary"),
            "{findings:?}"
        );
    }
}
