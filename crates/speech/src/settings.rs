//! What a client may ask of a synthesis, as types that hold acceptable values only: prosody
//! factors in (0, 10] and the supported output rates. Requests are checked once, where they are
//! parsed; the synthesizer never sees a value out of range.

use std::fmt;

use crate::SpeechError;
use crate::resample::SUPPORTED_RATES;

/// A prosody factor relative to the voice's own: 1 leaves it unchanged, 1.5 raises the pitch by
/// half or speaks half again as fast. Always finite, above 0 and at most [`Factor::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Factor(f32);

impl Factor {
    /// No change.
    pub const ONE: Factor = Factor(1.0);
    /// The largest factor accepted.
    pub const MAX: f32 = 10.0;
    /// The smallest factor a product of factors is clamped to.
    const MIN_PRODUCT: f32 = 0.01;

    /// The factor, if `value` is in (0, 10].
    pub fn new(value: f32) -> Option<Self> {
        (value.is_finite() && value > 0.0 && value <= Self::MAX).then_some(Self(value))
    }

    /// A client's text for the parameter `name`: a number in (0, 10]; an empty text is 1.
    pub fn parse(name: &'static str, text: &str) -> Result<Self, SpeechError> {
        if text.is_empty() {
            return Ok(Self::ONE);
        }
        let value: f32 = text.parse().map_err(|_| SpeechError::InvalidParameter {
            name,
            detail: format!("{text:?} is not a number"),
        })?;
        Self::new(value).ok_or_else(|| SpeechError::InvalidParameter {
            name,
            detail: format!("{value} is outside (0, {})", Self::MAX),
        })
    }

    /// The product of two factors (a client's modifier on a voice's profile), kept within
    /// [0.01, 10].
    pub fn times(self, other: Factor) -> Factor {
        Factor((self.0 * other.0).clamp(Self::MIN_PRODUCT, Self::MAX))
    }

    /// A measured ratio (a voice profile's), kept within [0.01, 10]; 1 for one that is not a
    /// number.
    pub fn clamped(value: f32) -> Factor {
        if value.is_finite() {
            Factor(value.clamp(Self::MIN_PRODUCT, Self::MAX))
        } else {
            Self::ONE
        }
    }

    /// The value.
    pub fn get(self) -> f32 {
        self.0
    }

    /// Whether the factor leaves the voice as it is.
    pub fn is_neutral(self) -> bool {
        (self.0 - 1.0).abs() < 1e-3
    }
}

impl Default for Factor {
    fn default() -> Self {
        Self::ONE
    }
}

impl fmt::Display for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An output sample rate the resampler supports (8000 to 48000 Hz).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SampleRate(u32);

impl SampleRate {
    /// 48 kHz.
    pub const HZ_48000: SampleRate = SampleRate(48000);

    /// The rate, if it is supported.
    pub fn new(hz: u32) -> Option<Self> {
        SUPPORTED_RATES.contains(&hz).then_some(Self(hz))
    }

    /// A client's text for the parameter `name`: one of the supported rates.
    pub fn parse(name: &'static str, text: &str) -> Result<Self, SpeechError> {
        text.parse()
            .ok()
            .and_then(Self::new)
            .ok_or_else(|| SpeechError::InvalidParameter {
                name,
                detail: format!(
                    "{text:?} must be {}",
                    SUPPORTED_RATES.map(|r| r.to_string()).join(", ")
                ),
            })
    }

    /// Hertz.
    pub fn hz(self) -> u32 {
        self.0
    }
}

impl fmt::Display for SampleRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Prosody modifiers, each relative to the voice's own.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Modifiers {
    /// Pitch: 1.5 raises the median F0 by half.
    pub pitch: Factor,
    /// Rate: 2 speaks twice as fast.
    pub rate: Factor,
    /// Pitch range: 0.5 flattens intonation by half.
    pub range: Factor,
}

impl Modifiers {
    /// Whether nothing changes the voice.
    pub fn is_neutral(&self) -> bool {
        self.pitch.is_neutral() && self.rate.is_neutral() && self.range.is_neutral()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_and_rates_hold_acceptable_values_only() {
        assert_eq!(Factor::parse("pitch", "1.5").unwrap().get(), 1.5);
        assert_eq!(Factor::parse("pitch", "").unwrap(), Factor::ONE);
        for bad in ["0", "-1", "10.5", "NaN", "inf", "x"] {
            let err = Factor::parse("rate", bad).unwrap_err().to_string();
            assert!(err.starts_with("rate: "), "{bad}: {err}");
        }
        assert_eq!(Factor::new(10.0).map(Factor::get), Some(10.0));
        assert_eq!(
            Factor::new(8.0)
                .unwrap()
                .times(Factor::new(4.0).unwrap())
                .get(),
            10.0
        );
        assert_eq!(Factor::clamped(f32::NAN), Factor::ONE);
        assert_eq!(Factor::clamped(0.0).get(), 0.01);
        assert_eq!(
            SampleRate::parse("sample_rate", "16000").unwrap().hz(),
            16000
        );
        let err = SampleRate::parse("sample_rate", "12345")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("sample_rate: \"12345\" must be 8000"),
            "{err}"
        );
        assert!(Modifiers::default().is_neutral());
    }
}
