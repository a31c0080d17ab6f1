//! What can go wrong in the crate: a dataset that cannot be learned from, and model bytes that
//! cannot be read.

use std::fmt;

/// Why training failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrainError {
    /// The dataset has no intent with an utterance.
    NoUtterances,
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::NoUtterances => write!(f, "the dataset has no utterances to learn from"),
        }
    }
}

impl std::error::Error for TrainError {}

/// Why model bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelError {
    /// What is wrong.
    pub message: String,
}

impl ModelError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ModelError {
            message: message.into(),
        }
    }
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a valid NLU model: {}", self.message)
    }
}

impl std::error::Error for ModelError {}
