//! The intent classifier: multinomial logistic regression over sparse features (words, word pairs,
//! character trigrams, entity matches), trained by stochastic gradient descent, with one more class
//! for "no intent" learned from noise utterances made of the dataset's own words.

use crate::codec::{Reader, Writer};
use crate::error::ModelError;
use crate::features::FeatureIndex;
use crate::rng::Rng;
use crate::text::Token;

/// What the classifier sees of an utterance: its tokens and the entities matched in it (as
/// (first token, one past the last, entity name)).
pub(crate) fn utterance_features(
    tokens: &[Token],
    matches: &[(usize, usize, &str)],
    out: &mut Vec<String>,
) {
    out.clear();
    let mut previous = "<s>";
    for token in tokens {
        let word = token.lower.as_str();
        if !word.chars().any(char::is_alphanumeric) {
            continue;
        }
        out.push(format!("w:{word}"));
        out.push(format!("b:{previous}|{word}"));
        let padded: Vec<char> = format!("#{word}#").chars().collect();
        for window in padded.windows(3) {
            out.push(format!("c:{}", window.iter().collect::<String>()));
        }
        previous = word;
    }
    out.push(format!("b:{previous}|</s>"));
    for &(_, _, entity) in matches {
        out.push(format!("e:{entity}"));
    }
    out.sort();
    out.dedup();
}

/// A trained classifier.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IntentClassifier {
    pub(crate) features: FeatureIndex,
    /// Classes: the intents, then "no intent".
    classes: usize,
    /// `features × classes`, row-major.
    weights: Vec<f32>,
    bias: Vec<f32>,
}

/// A training example: feature ids and class.
pub(crate) struct Example {
    pub(crate) features: Vec<u32>,
    pub(crate) class: usize,
}

impl IntentClassifier {
    /// Trains on examples; `classes` includes the "no intent" class.
    pub(crate) fn train(
        features: FeatureIndex,
        classes: usize,
        examples: &[Example],
        seed: u64,
    ) -> IntentClassifier {
        let feature_count = features.len();
        let mut weights = vec![0f32; feature_count * classes];
        let mut bias = vec![0f32; classes];
        // Balanced class weights, as snips-nlu does.
        let mut per_class = vec![0usize; classes];
        for example in examples {
            per_class[example.class] += 1;
        }
        let class_weight: Vec<f32> = per_class
            .iter()
            .map(|count| {
                if *count == 0 {
                    0.0
                } else {
                    examples.len() as f32 / (classes as f32 * *count as f32)
                }
            })
            .collect();
        let mut order: Vec<usize> = (0..examples.len()).collect();
        let mut rng = Rng::new(seed ^ 0xC1A5_51F1);
        let epochs = 12;
        let l2 = 1e-6f32;
        let mut scores = vec![0f32; classes];
        for epoch in 0..epochs {
            rng.shuffle(&mut order);
            let rate = 0.4 / (1.0 + epoch as f32 * 0.4);
            for &index in &order {
                let example = &examples[index];
                if example.features.is_empty() {
                    continue;
                }
                let scale = 1.0 / (example.features.len() as f32).sqrt();
                scores.copy_from_slice(&bias);
                for &feature in &example.features {
                    let row = &weights[feature as usize * classes..][..classes];
                    for (score, weight) in scores.iter_mut().zip(row) {
                        *score += weight * scale;
                    }
                }
                softmax(&mut scores);
                let importance = class_weight[example.class];
                for (class, probability) in scores.iter().enumerate() {
                    let target = if class == example.class { 1.0 } else { 0.0 };
                    let gradient = (probability - target) * importance;
                    bias[class] -= rate * gradient;
                    for &feature in &example.features {
                        let weight = &mut weights[feature as usize * classes + class];
                        *weight -= rate * (gradient * scale + l2 * *weight);
                    }
                }
            }
        }
        IntentClassifier {
            features,
            classes,
            weights,
            bias,
        }
    }

    /// The number of classes, "no intent" included.
    pub(crate) fn classes(&self) -> usize {
        self.classes
    }

    /// Class probabilities for the given feature names.
    pub(crate) fn probabilities(&self, names: &[String]) -> Vec<f32> {
        let ids: Vec<u32> = names
            .iter()
            .filter_map(|name| self.features.get(name))
            .collect();
        let mut scores = self.bias.clone();
        if !ids.is_empty() {
            let scale = 1.0 / (ids.len() as f32).sqrt();
            for id in ids {
                let row = &self.weights[id as usize * self.classes..][..self.classes];
                for (score, weight) in scores.iter_mut().zip(row) {
                    *score += weight * scale;
                }
            }
        }
        softmax(&mut scores);
        scores
    }

    pub(crate) fn write(&self, writer: &mut Writer) {
        writer.usize(self.classes);
        self.features.write(writer);
        for value in self.weights.iter().chain(&self.bias) {
            writer.f32(*value);
        }
    }

    pub(crate) fn read(reader: &mut Reader) -> Result<IntentClassifier, ModelError> {
        let classes = reader.count(4)?;
        let features = FeatureIndex::read(reader)?;
        let total = features.len() * classes + classes;
        let mut values = Vec::with_capacity(total);
        for _ in 0..total {
            values.push(reader.f32()?);
        }
        let bias = values.split_off(features.len() * classes);
        Ok(IntentClassifier {
            features,
            classes,
            weights: values,
            bias,
        })
    }
}

fn softmax(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for score in scores.iter_mut() {
        *score = (*score - max).exp();
        sum += *score;
    }
    for score in scores.iter_mut() {
        *score /= sum;
    }
}
