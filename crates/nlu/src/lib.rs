//! Natural-language understanding for voicegate, in the manner of snips-nlu: Snips NLU datasets
//! read and written, training a model from one (an exact-match lookup of the training utterances,
//! an intent classifier with a "no intent" answer, a slot filler per intent), parsing texts into
//! Snips' output shape, and evaluation by the snips-nlu-metrics rules.
//!
//! No async runtime and no downloaded resources: everything a model knows comes from its dataset,
//! and the same dataset and seed always give the same model bytes.

mod classifier;
mod codec;
mod error;
mod features;
mod gazetteer;
mod labels;
#[cfg(test)]
mod model_tests;
mod rng;
mod tagger;
mod text;
mod training;

pub mod bench;
pub mod benchmark;
pub mod builtin;
pub mod dataset;
pub mod language_model;
pub mod metrics;
pub mod model;
pub mod parse;

pub use benchmark::import_benchmark;
pub use dataset::{Dataset, DatasetError};
pub use error::{ModelError, TrainError};
pub use model::Model;
pub use parse::{IntentMatch, Parse, Range, Slot, SlotValue};
pub use training::{TrainOptions, train};
