//! Streamed synthesis (`synthesize-start`, `synthesize-chunk`s, `synthesize-stop`): the text
//! cut into sentences as it arrives, so that each is spoken as soon as it ends, and the whole
//! text bounded by `wyoming.max_text_chars`.

use crate::wyoming::event::{ErrorCode, Refusal};
use crate::wyoming::tts::ChosenVoice;

/// Punctuation that ends a sentence when whitespace follows it.
const ENDS: [char; 4] = ['.', '!', '?', '…'];

/// Closing marks that may stand between a sentence's end and the whitespace after it.
const CLOSERS: [char; 7] = ['"', '\'', ')', ']', '»', '”', '’'];

/// Text arriving in pieces, cut into sentences as soon as each ends.
#[derive(Debug, Default)]
pub struct Sentences {
    pending: String,
}

impl Sentences {
    /// Adds `text`; answers the sentences it completed (trimmed, never empty). A sentence ends
    /// at `.`, `!`, `?` or `…` (closing quotes or brackets allowed) followed by whitespace, or at
    /// a line break.
    pub fn push(&mut self, text: &str) -> Vec<String> {
        self.pending.push_str(text);
        let mut done = Vec::new();
        let mut start = 0;
        for (at, c) in self.pending.char_indices() {
            if !c.is_whitespace() {
                continue;
            }
            let before = self.pending[start..at].trim_end_matches(CLOSERS);
            if c == '\n' || before.ends_with(ENDS) {
                let sentence = self.pending[start..at].trim();
                if !sentence.is_empty() {
                    done.push(sentence.to_string());
                }
                start = at + c.len_utf8();
            }
        }
        self.pending.drain(..start);
        done
    }

    /// What is left once the text has ended: its last sentence, when it has one.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.pending);
        let rest = rest.trim();
        (!rest.is_empty()).then(|| rest.to_string())
    }
}

/// One streamed synthesis in progress.
#[derive(Debug)]
pub struct Streaming {
    /// The voice, or `None` when it was refused at the start (the text is then dropped, and
    /// the stream still ends with `synthesize-stopped`).
    pub voice: Option<ChosenVoice>,
    sentences: Sentences,
    chars: usize,
}

impl Streaming {
    /// A stream speaking with `voice` (`None`: refused).
    pub fn new(voice: Option<ChosenVoice>) -> Self {
        Self {
            voice,
            sentences: Sentences::default(),
            chars: 0,
        }
    }

    /// Adds a chunk of text; answers the sentences to speak now. Past `max_chars` in all the
    /// stream is refused, once, and its text dropped from then on.
    pub fn push(&mut self, text: &str, max_chars: usize) -> Result<Vec<String>, Refusal> {
        if self.voice.is_none() {
            return Ok(Vec::new());
        }
        self.chars += text.chars().count();
        if self.chars > max_chars {
            self.voice = None;
            return Err(Refusal::new(
                ErrorCode::TextTooLong,
                format!(
                    "the streamed text is longer than {max_chars} characters (wyoming.max_text_chars)"
                ),
            ));
        }
        Ok(self.sentences.push(text))
    }

    /// The text has ended: its last sentence to speak, if any.
    pub fn finish(&mut self) -> Option<String> {
        self.voice.as_ref()?;
        self.sentences.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_are_cut_as_soon_as_they_end() {
        let mut s = Sentences::default();
        assert!(s.push("Hello the").is_empty());
        assert_eq!(s.push("re. How are"), vec!["Hello there."]);
        assert_eq!(
            s.push(" you? \"Fine!\" Good\nnext"),
            vec!["How are you?", "\"Fine!\"", "Good"]
        );
        assert!(s.push(" 3.5 percent").is_empty());
        assert_eq!(s.finish().as_deref(), Some("next 3.5 percent"));
        assert_eq!(s.finish(), None);
        assert!(s.push("  \n ").is_empty());
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn a_stream_is_bounded_and_then_drops_its_text() {
        let voice = ChosenVoice {
            voice: crate::voices::catalog::ResolvedVoice {
                voice_id: crate::voices::model::VoiceId::new("espeak:en-us"),
                engine_voice: "espeak:en-us".into(),
                profile: speech::Modifiers::default(),
                stored: None,
                prosody: None,
            },
            rate: speech::SampleRate::HZ_48000,
        };
        let mut stream = Streaming::new(Some(voice));
        assert_eq!(stream.push("One. Two", 12), Ok(vec!["One.".to_string()]));
        let refused = stream.push(" three.", 12).unwrap_err();
        assert_eq!(refused.code, ErrorCode::TextTooLong);
        assert_eq!(stream.push("Four. ", 12), Ok(vec![]));
        assert_eq!(stream.finish(), None);
        let mut refused_at_start = Streaming::new(None);
        assert_eq!(refused_at_start.push("One. Two. ", 100), Ok(vec![]));
        assert_eq!(refused_at_start.finish(), None);
    }
}
