//! The slot filler of one intent: a linear-chain model over BIO tags (O, B-slot, I-slot), trained as
//! an averaged structured perceptron and decoded with Viterbi (an I tag only follows its own B or I).
//! Token features follow snips-nlu's CRF: words around the token, word pairs, shapes, affixes, digits,
//! sentence edges, and gazetteer and builtin-entity matches (as B/I tags) around the token.

use crate::codec::{Reader, Writer};
use crate::features::{FeatureIndex, shape};
use crate::model::ModelError;
use crate::rng::Rng;
use crate::text::Token;

/// Entity matches over a sentence, as (first token, one past the last, entity name).
pub(crate) type Matches<'a> = Vec<(usize, usize, &'a str)>;

/// The feature names of every token of a sentence.
pub(crate) fn token_features(tokens: &[Token], matches: &Matches) -> Vec<Vec<String>> {
    let count = tokens.len();
    // Per token, its match tags such as "B:artist".
    let mut match_tags: Vec<Vec<String>> = vec![Vec::new(); count];
    for &(first, end, entity) in matches {
        for (position, tags) in match_tags
            .iter_mut()
            .enumerate()
            .take(end.min(count))
            .skip(first)
        {
            let tag = if position == first { "B" } else { "I" };
            tags.push(format!("{tag}:{entity}"));
        }
    }
    let word = |position: isize| -> &str {
        if position < 0 {
            "<s>"
        } else if position as usize >= count {
            "</s>"
        } else {
            &tokens[position as usize].lower
        }
    };
    let shapes: Vec<String> = tokens.iter().map(|token| shape(&token.text)).collect();
    let shape_at = |position: isize| -> &str {
        if position < 0 || position as usize >= count {
            "_"
        } else {
            &shapes[position as usize]
        }
    };
    let mut all = Vec::with_capacity(count);
    for (index, token) in tokens.iter().enumerate() {
        let at = index as isize;
        let mut features = Vec::with_capacity(40);
        features.push("bias".to_owned());
        for offset in -2..=2 {
            features.push(format!("w[{offset}]={}", word(at + offset)));
        }
        features.push(format!("w[-1:0]={}|{}", word(at - 1), word(at)));
        features.push(format!("w[0:1]={}|{}", word(at), word(at + 1)));
        features.push(format!("w[-2:-1]={}|{}", word(at - 2), word(at - 1)));
        features.push(format!("s[0]={}", shape_at(at)));
        features.push(format!("s[-1:0]={}|{}", shape_at(at - 1), shape_at(at)));
        features.push(format!("s[0:1]={}|{}", shape_at(at), shape_at(at + 1)));
        let lower: Vec<char> = token.lower.chars().collect();
        for length in 1..=4.min(lower.len()) {
            features.push(format!(
                "p{length}={}",
                lower[..length].iter().collect::<String>()
            ));
            features.push(format!(
                "x{length}={}",
                lower[lower.len() - length..].iter().collect::<String>()
            ));
        }
        if token.lower.chars().all(|c| c.is_ascii_digit()) {
            features.push("digit".to_owned());
        }
        if index == 0 {
            features.push("first".to_owned());
        }
        if index + 1 == count {
            features.push("last".to_owned());
        }
        for offset in -1..=1isize {
            let position = at + offset;
            if position >= 0 && (position as usize) < count {
                for tag in &match_tags[position as usize] {
                    features.push(format!("m[{offset}]={tag}"));
                }
            }
        }
        all.push(features);
    }
    all
}

/// A trained slot filler.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SlotTagger {
    pub(crate) features: FeatureIndex,
    /// 1 + 2 × slots: O, then B and I of each slot.
    tags: usize,
    /// `features × tags`, row-major.
    weights: Vec<f32>,
    /// `(tags + 1) × tags`: from each tag (the last row: the sentence start) to each tag.
    transitions: Vec<f32>,
}

/// A training sentence: feature ids per token, and gold tags.
pub(crate) struct Sentence {
    pub(crate) features: Vec<Vec<u32>>,
    pub(crate) tags: Vec<usize>,
}

/// Whether `to` may follow `from` (`None`: the sentence start) under BIO.
fn allowed(from: Option<usize>, to: usize) -> bool {
    if to == 0 || to % 2 == 1 {
        return true;
    }
    // I-k (tag 2 + 2k) follows B-k (1 + 2k) or I-k.
    matches!(from, Some(from) if from == to || from + 1 == to)
}

impl SlotTagger {
    pub(crate) fn train(
        features: FeatureIndex,
        slots: usize,
        sentences: &[Sentence],
        seed: u64,
        epochs: usize,
    ) -> SlotTagger {
        let tags = 1 + 2 * slots;
        let feature_count = features.len();
        let mut tagger = SlotTagger {
            features,
            tags,
            weights: vec![0.0; feature_count * tags],
            transitions: vec![0.0; (tags + 1) * tags],
        };
        // Averaging: totals of (step × update), subtracted at the end.
        let mut weight_sums = vec![0f32; feature_count * tags];
        let mut transition_sums = vec![0f32; (tags + 1) * tags];
        let mut step = 1f32;
        let mut order: Vec<usize> = (0..sentences.len()).collect();
        let mut rng = Rng::new(seed ^ 0x7A66_E125);
        for _ in 0..epochs {
            rng.shuffle(&mut order);
            for &index in &order {
                let sentence = &sentences[index];
                let predicted = tagger.decode(&sentence.features);
                if predicted != sentence.tags {
                    for (position, (&gold, &guess)) in
                        sentence.tags.iter().zip(&predicted).enumerate()
                    {
                        let gold_from = if position == 0 {
                            tags
                        } else {
                            sentence.tags[position - 1]
                        };
                        let guess_from = if position == 0 {
                            tags
                        } else {
                            predicted[position - 1]
                        };
                        if gold != guess {
                            for &feature in &sentence.features[position] {
                                let base = feature as usize * tags;
                                tagger.weights[base + gold] += 1.0;
                                weight_sums[base + gold] += step;
                                tagger.weights[base + guess] -= 1.0;
                                weight_sums[base + guess] -= step;
                            }
                        }
                        if gold != guess || gold_from != guess_from {
                            tagger.transitions[gold_from * tags + gold] += 1.0;
                            transition_sums[gold_from * tags + gold] += step;
                            tagger.transitions[guess_from * tags + guess] -= 1.0;
                            transition_sums[guess_from * tags + guess] -= step;
                        }
                    }
                }
                step += 1.0;
            }
        }
        for (weight, sum) in tagger.weights.iter_mut().zip(&weight_sums) {
            *weight -= sum / step;
        }
        for (weight, sum) in tagger.transitions.iter_mut().zip(&transition_sums) {
            *weight -= sum / step;
        }
        tagger
    }

    /// The number of tags (1 + 2 × slots).
    pub(crate) fn tags(&self) -> usize {
        self.tags
    }

    /// Feature ids of known feature names.
    pub(crate) fn ids(&self, names: &[Vec<String>]) -> Vec<Vec<u32>> {
        names
            .iter()
            .map(|token| {
                token
                    .iter()
                    .filter_map(|name| self.features.get(name))
                    .collect()
            })
            .collect()
    }

    /// The best tag sequence (Viterbi).
    pub(crate) fn decode(&self, features: &[Vec<u32>]) -> Vec<usize> {
        let tags = self.tags;
        let count = features.len();
        if count == 0 {
            return Vec::new();
        }
        let emissions: Vec<Vec<f32>> = features
            .iter()
            .map(|ids| {
                let mut scores = vec![0f32; tags];
                for &id in ids {
                    let row = &self.weights[id as usize * tags..][..tags];
                    for (score, weight) in scores.iter_mut().zip(row) {
                        *score += weight;
                    }
                }
                scores
            })
            .collect();
        let mut best = vec![f32::NEG_INFINITY; count * tags];
        let mut back = vec![0usize; count * tags];
        for tag in 0..tags {
            if allowed(None, tag) {
                best[tag] = self.transitions[tags * tags + tag] + emissions[0][tag];
            }
        }
        for position in 1..count {
            for tag in 0..tags {
                let mut top = f32::NEG_INFINITY;
                let mut from_top = 0;
                for from in 0..tags {
                    if !allowed(Some(from), tag) {
                        continue;
                    }
                    let score =
                        best[(position - 1) * tags + from] + self.transitions[from * tags + tag];
                    if score > top {
                        top = score;
                        from_top = from;
                    }
                }
                best[position * tags + tag] = top + emissions[position][tag];
                back[position * tags + tag] = from_top;
            }
        }
        let last = &best[(count - 1) * tags..];
        let mut tag = (0..tags).fold(0, |top, tag| if last[tag] > last[top] { tag } else { top });
        let mut path = vec![0; count];
        for position in (0..count).rev() {
            path[position] = tag;
            tag = back[position * tags + tag];
        }
        path
    }

    /// Drops features whose weights are all zero (never updated), to keep the model small.
    pub(crate) fn prune(&mut self) {
        let tags = self.tags;
        let keep: Vec<bool> = self
            .weights
            .chunks(tags)
            .map(|row| row.iter().any(|w| *w != 0.0))
            .collect();
        let mapping = self.features.retain(&keep);
        let mut weights = vec![0f32; self.features.len() * tags];
        for (old, new) in mapping.iter().enumerate() {
            if let Some(new) = new {
                weights[*new as usize * tags..][..tags]
                    .copy_from_slice(&self.weights[old * tags..][..tags]);
            }
        }
        self.weights = weights;
    }

    pub(crate) fn write(&self, writer: &mut Writer) {
        writer.usize(self.tags);
        self.features.write(writer);
        for value in self.weights.iter().chain(&self.transitions) {
            writer.f32(*value);
        }
    }

    pub(crate) fn read(reader: &mut Reader) -> Result<SlotTagger, ModelError> {
        let tags = reader.count(4)?;
        if tags == 0 || tags % 2 == 0 {
            return Err(ModelError::new("bad tag count"));
        }
        let features = FeatureIndex::read(reader)?;
        let weight_count = features.len() * tags;
        let total = weight_count + (tags + 1) * tags;
        let mut values = Vec::with_capacity(total);
        for _ in 0..total {
            values.push(reader.f32()?);
        }
        let transitions = values.split_off(weight_count);
        Ok(SlotTagger {
            features,
            tags,
            weights: values,
            transitions,
        })
    }
}
