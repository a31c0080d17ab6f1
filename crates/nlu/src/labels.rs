//! Training utterances as tokens labeled with their slots, and the slots' token spans.

use crate::text::tokenize;

/// An utterance split into tokens with each token's slot (index in the intent's slots, and
/// whether the token begins the slot's value).
pub(crate) struct LabeledUtterance {
    pub(crate) text: String,
    pub(crate) labels: Vec<Option<(usize, bool)>>,
}

/// Tokenizes an annotated utterance and labels its tokens with the slots of `slot_index`.
pub(crate) fn label_utterance(
    utterance: &crate::dataset::Utterance,
    slot_index: &mut dyn FnMut(&str, &str) -> usize,
) -> LabeledUtterance {
    let text = utterance.text();
    let tokens = tokenize(&text);
    let mut labels = vec![None; tokens.len()];
    let mut offset = 0;
    for chunk in &utterance.data {
        let (start, end) = (offset, offset + chunk.text.len());
        offset = end;
        let Some(slot) = &chunk.slot else { continue };
        let index = slot_index(&slot.slot_name, &slot.entity);
        let mut first = true;
        for (token, label) in tokens.iter().zip(labels.iter_mut()) {
            if token.start >= start && token.end <= end {
                *label = Some((index, first));
                first = false;
            }
        }
    }
    LabeledUtterance { text, labels }
}

/// Token spans of the labeled slots: (first token, one past the last, slot index).
pub(crate) fn slot_spans(labels: &[Option<(usize, bool)>]) -> Vec<(usize, usize, usize)> {
    let mut spans: Vec<(usize, usize, usize)> = Vec::new();
    for (position, label) in labels.iter().enumerate() {
        if let Some((slot, begins)) = label {
            match spans.last_mut() {
                Some(last) if !begins && last.1 == position && last.2 == *slot => last.1 += 1,
                _ => spans.push((position, position + 1, *slot)),
            }
        }
    }
    spans
}
