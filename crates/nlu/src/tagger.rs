//! The slot filler of one intent: a linear-chain CRF over BIO tags (O, B-slot, I-slot), trained by
//! stochastic gradient descent with an L2 penalty and decoded with Viterbi (an I tag only follows its
//! own B or I).
//! Token features follow snips-nlu's CRF: words around the token, word pairs, shapes, affixes, digits,
//! sentence edges, gazetteer and builtin-entity matches (as B/I tags) around the token, and the
//! entities with a value holding the words around it (so a value that is in no list but shares
//! words with listed ones, "Lake Placid" next to "Lake Tahoe", still leans to their entity).

use crate::codec::{Reader, Writer};
use crate::error::ModelError;
use crate::features::{FeatureIndex, shape};
use crate::rng::Rng;
use crate::text::Token;

/// Entity matches over a sentence, as (first token, one past the last, entity name).
pub(crate) type Matches<'a> = Vec<(usize, usize, &'a str)>;

/// The feature names of every token of a sentence.
/// `words` gives per token the entities with a value holding its word.
pub(crate) fn token_features(
    tokens: &[Token],
    matches: &Matches,
    words: &[Vec<&str>],
) -> Vec<Vec<String>> {
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
                for entity in words.get(position as usize).into_iter().flatten() {
                    features.push(format!("v[{offset}]={entity}"));
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

/// The CRF's first learning rate, and how much it decays over training (rate / (1 + decay × done)).
const CRF_RATE: f64 = 0.1;
const CRF_RATE_DECAY: f64 = 10.0;

/// log(Σ exp(value)), safely; minus infinity for no values.
fn log_sum(values: &[f32]) -> f32 {
    let top = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if top == f32::NEG_INFINITY {
        return top;
    }
    top + values
        .iter()
        .map(|value| (value - top).exp())
        .sum::<f32>()
        .ln()
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
    /// Trains a linear-chain CRF: the conditional log-likelihood of the gold tags with an L2
    /// penalty (`l2` per sentence), maximized by stochastic gradient descent over `epochs` passes
    /// with a decaying rate; marginals by scaled forward-backward over the BIO-allowed transitions.
    pub(crate) fn train_crf(
        features: FeatureIndex,
        slots: usize,
        sentences: &[Sentence],
        seed: u64,
        epochs: usize,
        l2: f64,
    ) -> SlotTagger {
        let tags = 1 + 2 * slots;
        let feature_count = features.len();
        let weight_count = feature_count * tags;
        // All parameters in one vector (emission weights, then transitions), stored divided by
        // `scale` so that the L2 decay of every parameter is one multiplication.
        let mut stored = vec![0f64; weight_count + (tags + 1) * tags];
        let mut scale = 1f64;
        let mut order: Vec<usize> = (0..sentences.len()).collect();
        let mut rng = Rng::new(seed ^ 0x0C2F_5EED);
        let mut emissions: Vec<f64> = Vec::new();
        let mut alpha: Vec<f64> = Vec::new();
        let mut beta: Vec<f64> = Vec::new();
        let mut norms: Vec<f64> = Vec::new();
        let mut transition = vec![0f64; (tags + 1) * tags];
        let mut step = 0usize;
        let total_steps = (epochs * sentences.len()).max(1) as f64;
        for _ in 0..epochs {
            rng.shuffle(&mut order);
            for &index in &order {
                let sentence = &sentences[index];
                let count = sentence.tags.len();
                if count == 0 {
                    continue;
                }
                let rate = CRF_RATE / (1.0 + CRF_RATE_DECAY * step as f64 / total_steps);
                step += 1;
                // exp(transition weights), zero where BIO forbids the move.
                for from in 0..=tags {
                    for to in 0..tags {
                        let previous = (from < tags).then_some(from);
                        let slot = from * tags + to;
                        transition[slot] = if allowed(previous, to) {
                            (stored[weight_count + slot] * scale).exp()
                        } else {
                            0.0
                        };
                    }
                }
                // exp(emission scores), each position shifted by its maximum.
                emissions.clear();
                emissions.resize(count * tags, 0.0);
                for (position, ids) in sentence.features.iter().enumerate() {
                    let row = &mut emissions[position * tags..][..tags];
                    for &id in ids {
                        let weights = &stored[id as usize * tags..][..tags];
                        for (score, weight) in row.iter_mut().zip(weights) {
                            *score += weight * scale;
                        }
                    }
                    let top = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    for score in row.iter_mut() {
                        *score = (*score - top).exp();
                    }
                }
                // Forward, normalized per position.
                alpha.clear();
                alpha.resize(count * tags, 0.0);
                norms.clear();
                for position in 0..count {
                    let mut sum = 0.0;
                    for to in 0..tags {
                        let incoming = if position == 0 {
                            transition[tags * tags + to]
                        } else {
                            let previous = &alpha[(position - 1) * tags..][..tags];
                            (0..tags)
                                .map(|from| previous[from] * transition[from * tags + to])
                                .sum()
                        };
                        let value = incoming * emissions[position * tags + to];
                        alpha[position * tags + to] = value;
                        sum += value;
                    }
                    let sum = if sum > 0.0 { sum } else { 1.0 };
                    for value in &mut alpha[position * tags..][..tags] {
                        *value /= sum;
                    }
                    norms.push(sum);
                }
                // Backward, with the same normalizers.
                beta.clear();
                beta.resize(count * tags, 0.0);
                for value in &mut beta[(count - 1) * tags..] {
                    *value = 1.0;
                }
                for position in (0..count - 1).rev() {
                    for from in 0..tags {
                        let mut sum = 0.0;
                        for to in 0..tags {
                            sum += transition[from * tags + to]
                                * emissions[(position + 1) * tags + to]
                                * beta[(position + 1) * tags + to];
                        }
                        beta[position * tags + from] = sum / norms[position + 1];
                    }
                }
                // L2 decay of every parameter at once.
                scale *= 1.0 - rate * l2;
                let update = rate / scale;
                // Gradient steps: gold counts minus expected counts.
                for position in 0..count {
                    let gold = sentence.tags[position];
                    for tag in 0..tags {
                        let marginal = alpha[position * tags + tag] * beta[position * tags + tag];
                        let gradient = f64::from(u8::from(tag == gold)) - marginal;
                        if gradient == 0.0 {
                            continue;
                        }
                        for &id in &sentence.features[position] {
                            stored[id as usize * tags + tag] += update * gradient;
                        }
                    }
                    let gold_from = if position == 0 {
                        tags
                    } else {
                        sentence.tags[position - 1]
                    };
                    stored[weight_count + gold_from * tags + gold] += update;
                    if position == 0 {
                        for to in 0..tags {
                            let marginal = alpha[to] * beta[to];
                            stored[weight_count + tags * tags + to] -= update * marginal;
                        }
                    } else {
                        let norm = norms[position];
                        for from in 0..tags {
                            let before = alpha[(position - 1) * tags + from];
                            if before == 0.0 {
                                continue;
                            }
                            for to in 0..tags {
                                let pair = before
                                    * transition[from * tags + to]
                                    * emissions[position * tags + to]
                                    * beta[position * tags + to]
                                    / norm;
                                stored[weight_count + from * tags + to] -= update * pair;
                            }
                        }
                    }
                }
                if scale < 1e-6 {
                    for value in &mut stored {
                        *value *= scale;
                    }
                    scale = 1.0;
                }
            }
        }
        let values: Vec<f32> = stored.iter().map(|value| (value * scale) as f32).collect();
        let mut weights = values;
        let transitions = weights.split_off(weight_count);
        SlotTagger {
            features,
            tags,
            weights,
            transitions,
        }
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

    /// The best tag sequence (Viterbi) and its probability under the CRF: its score against the
    /// log-sum of every allowed sequence's score (forward algorithm).
    pub(crate) fn decode(&self, features: &[Vec<u32>]) -> (Vec<usize>, f32) {
        let tags = self.tags;
        let count = features.len();
        if count == 0 {
            return (Vec::new(), 1.0);
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
        let best_score = last[tag];
        let mut path = vec![0; count];
        for position in (0..count).rev() {
            path[position] = tag;
            tag = back[position * tags + tag];
        }
        let mut alpha: Vec<f32> = (0..tags)
            .map(|tag| {
                if allowed(None, tag) {
                    self.transitions[tags * tags + tag] + emissions[0][tag]
                } else {
                    f32::NEG_INFINITY
                }
            })
            .collect();
        let mut incoming = Vec::with_capacity(tags);
        for row in emissions.iter().skip(1) {
            alpha = (0..tags)
                .map(|tag| {
                    incoming.clear();
                    incoming.extend(
                        (0..tags)
                            .filter(|&from| allowed(Some(from), tag))
                            .map(|from| alpha[from] + self.transitions[from * tags + tag]),
                    );
                    log_sum(&incoming) + row[tag]
                })
                .collect();
        }
        (path, (best_score - log_sum(&alpha)).exp())
    }

    /// Drops features whose weights are all below `least` in size, to keep the model small.
    pub(crate) fn prune(&mut self, least: f32) {
        let tags = self.tags;
        let keep: Vec<bool> = self
            .weights
            .chunks(tags)
            .map(|row| row.iter().any(|w| w.abs() > least))
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
