//! A 3-gram language model in ARPA format, estimated with Witten-Bell smoothing and written in
//! backoff form: a seen n-gram has its interpolated probability, an unseen one the history's
//! backoff weight times the lower order's probability, so that every history's probabilities sum
//! to one. Sentences start with `<s>` and end with `</s>`; `<s>` is never predicted.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The model's order.
pub const NGRAM_ORDER: usize = 3;

/// The start and end of a sentence.
const START: &str = "<s>";
const END: &str = "</s>";

/// An n-gram: its words.
type Gram = Vec<String>;

/// The estimated model: for each order, every seen n-gram with its probability and, when it is
/// a history, its backoff weight.
#[derive(Debug, Clone, PartialEq)]
pub struct Arpa {
    /// By order (index 0: unigrams): n-gram → (probability, backoff weight).
    orders: Vec<BTreeMap<Gram, (f64, Option<f64>)>>,
}

impl Arpa {
    /// Estimates the model from sentences (words separated by spaces).
    pub fn estimate(sentences: &[String]) -> Arpa {
        // counts[n][gram] for n-grams of order n + 1.
        let mut counts: Vec<BTreeMap<Gram, u64>> = vec![BTreeMap::new(); NGRAM_ORDER];
        for sentence in sentences {
            let mut tokens = vec![START.to_owned()];
            tokens.extend(sentence.split_whitespace().map(str::to_owned));
            tokens.push(END.to_owned());
            for n in 1..=NGRAM_ORDER {
                for window in tokens.windows(n) {
                    // `<s>` is a history, never a prediction, except as the unigram kept for it.
                    if n == 1 && window[0] == START {
                        continue;
                    }
                    *counts[n - 1].entry(window.to_vec()).or_default() += 1;
                }
            }
        }
        let total: u64 = counts[0].values().sum();
        let mut orders: Vec<BTreeMap<Gram, (f64, Option<f64>)>> = Vec::new();
        let unigrams: BTreeMap<Gram, (f64, Option<f64>)> = counts[0]
            .iter()
            .map(|(gram, &count)| (gram.clone(), (count as f64 / total as f64, None)))
            .collect();
        orders.push(unigrams);
        for n in 2..=NGRAM_ORDER {
            // Per history: the count of what followed it and how many different words did.
            let mut histories: BTreeMap<Gram, (u64, u64)> = BTreeMap::new();
            for (gram, &count) in &counts[n - 1] {
                let entry = histories.entry(gram[..n - 1].to_vec()).or_default();
                entry.0 += count;
                entry.1 += 1;
            }
            let mut grams = BTreeMap::new();
            for (gram, &count) in &counts[n - 1] {
                let (seen, distinct) = histories[&gram[..n - 1]];
                let lower = backoff_probability(&orders, &gram[1..]);
                let probability =
                    (count as f64 + distinct as f64 * lower) / (seen + distinct) as f64;
                grams.insert(gram.clone(), (probability, None));
            }
            // Backoff weights of the histories: what the seen words leave, spread over the
            // others in proportion to the lower order.
            let mut left: BTreeMap<Gram, (f64, f64)> = BTreeMap::new();
            for (gram, (probability, _)) in &grams {
                let entry = left.entry(gram[..n - 1].to_vec()).or_insert((1.0, 1.0));
                entry.0 -= probability;
                entry.1 -= backoff_probability(&orders, &gram[1..]);
            }
            let lower_order = orders.last_mut().expect("unigrams are made first");
            if n == 2 {
                // `<s>` is a history with no probability of its own.
                lower_order
                    .entry(vec![START.to_owned()])
                    .or_insert((0.0, None));
            }
            for (history, (numerator, denominator)) in left {
                let weight = if denominator > 1e-12 && numerator > 0.0 {
                    numerator / denominator
                } else {
                    1.0
                };
                if let Some(entry) = lower_order.get_mut(&history) {
                    entry.1 = Some(weight);
                }
            }
            orders.push(grams);
        }
        Arpa { orders }
    }

    /// How many n-grams of each order (index 0: unigrams) the model lists.
    pub fn counts(&self) -> Vec<usize> {
        self.orders.iter().map(BTreeMap::len).collect()
    }

    /// The words a sentence may contain, with `</s>`: what the model predicts.
    pub fn vocabulary(&self) -> Vec<String> {
        self.orders[0]
            .keys()
            .filter(|gram| gram[0] != START)
            .map(|gram| gram[0].clone())
            .collect()
    }

    /// P(word | history), with the history's last `NGRAM_ORDER - 1` words used, backing off as
    /// the ARPA file says.
    pub fn probability(&self, history: &[&str], word: &str) -> f64 {
        let start = history.len().saturating_sub(NGRAM_ORDER - 1);
        let mut gram: Gram = history[start..].iter().map(|w| (*w).to_owned()).collect();
        gram.push(word.to_owned());
        backoff_probability(&self.orders, &gram)
    }

    /// The model in ARPA text format (log10 probabilities and weights).
    pub fn to_text(&self) -> String {
        let mut out = String::from("\\data\\\n");
        for (index, grams) in self.orders.iter().enumerate() {
            let _ = writeln!(out, "ngram {}={}", index + 1, grams.len());
        }
        for (index, grams) in self.orders.iter().enumerate() {
            let _ = write!(out, "\n\\{}-grams:\n", index + 1);
            for (gram, (probability, weight)) in grams {
                let _ = write!(out, "{:.6}\t{}", log10(*probability), gram.join(" "));
                if let Some(weight) = weight {
                    let _ = write!(out, "\t{:.6}", log10(*weight));
                }
                out.push('\n');
            }
        }
        out.push_str("\n\\end\\\n");
        out
    }
}

/// log10, with the ARPA convention of -99 for zero.
fn log10(value: f64) -> f64 {
    if value > 0.0 { value.log10() } else { -99.0 }
}

/// The probability of the gram's last word after its others, from the orders made so far:
/// the gram itself if seen, else the backoff weight of its history times the shorter gram's.
fn backoff_probability(orders: &[BTreeMap<Gram, (f64, Option<f64>)>], gram: &[String]) -> f64 {
    if gram.is_empty() {
        return 0.0;
    }
    if let Some((probability, _)) = orders.get(gram.len() - 1).and_then(|o| o.get(gram)) {
        return *probability;
    }
    if gram.len() == 1 {
        return 0.0;
    }
    let history = &gram[..gram.len() - 1];
    let weight = orders
        .get(history.len() - 1)
        .and_then(|o| o.get(history))
        .and_then(|(_, weight)| *weight)
        .unwrap_or(1.0);
    weight * backoff_probability(orders, &gram[1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Arpa {
        let sentences: Vec<String> = [
            "turn on the kitchen lights",
            "turn off the kitchen lights",
            "turn on the bedroom lights",
            "what is the weather",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        Arpa::estimate(&sentences)
    }

    #[test]
    fn the_data_section_counts_what_is_listed() {
        let arpa = model();
        // 10 words, </s> and <s>.
        assert_eq!(arpa.counts()[0], 12);
        let text = arpa.to_text();
        for (index, count) in arpa.counts().iter().enumerate() {
            assert!(
                text.contains(&format!("ngram {}={count}\n", index + 1)),
                "{text}"
            );
            let section = text
                .split(&format!("\\{}-grams:\n", index + 1))
                .nth(1)
                .and_then(|rest| rest.split("\n\n").next())
                .unwrap_or_default();
            assert_eq!(section.lines().count(), *count, "{section}");
        }
        assert!(text.ends_with("\\end\\\n"));
    }

    #[test]
    fn every_history_sums_to_one() {
        let arpa = model();
        let vocabulary = arpa.vocabulary();
        let histories: [&[&str]; 6] = [
            &["<s>"],
            &["<s>", "turn"],
            &["turn", "on"],
            &["the"],
            &["kitchen", "weather"],
            &["lights", "lights"],
        ];
        for history in histories {
            let sum: f64 = vocabulary
                .iter()
                .map(|w| arpa.probability(history, w))
                .sum();
            assert!((sum - 1.0).abs() < 1e-9, "{history:?}: {sum}");
        }
    }

    #[test]
    fn unseen_words_back_off_to_the_lower_order() {
        let arpa = model();
        // "the" was followed by kitchen, bedroom and weather: "lights" comes from the unigrams.
        let seen = arpa.probability(&["the"], "kitchen");
        let unseen = arpa.probability(&["the"], "lights");
        assert!(seen > unseen && unseen > 0.0, "{seen} {unseen}");
        let weight = arpa.orders[0][&vec!["the".to_owned()]].1.unwrap_or(0.0);
        let unigram = arpa.orders[0][&vec!["lights".to_owned()]].0;
        assert!((unseen - weight * unigram).abs() < 1e-12);
        // Witten-Bell: the history's backoff is distinct / (count + distinct) = 3 / 7.
        assert!((weight - 3.0 / 7.0).abs() < 1e-12, "{weight}");
        assert_eq!(arpa.probability(&["turn"], "<s>"), 0.0);
    }
}
