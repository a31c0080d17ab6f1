//! Feature names: strings interned to dense ids at training time. At parse time an unknown name is
//! simply no feature.

use std::collections::HashMap;

use crate::codec::{Reader, Writer};
use crate::error::ModelError;

/// Feature names and their ids.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct FeatureIndex {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl FeatureIndex {
    /// The id of `name`, adding it when new.
    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(name.to_owned(), id);
        self.names.push(name.to_owned());
        id
    }

    /// The id of `name`, if known.
    pub(crate) fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// Keeps only the features `keep` says yes to; returns the old id → new id map.
    pub(crate) fn retain(&mut self, keep: &[bool]) -> Vec<Option<u32>> {
        let mut mapping = vec![None; self.names.len()];
        let mut names = Vec::new();
        for (id, name) in self.names.drain(..).enumerate() {
            if keep.get(id).copied().unwrap_or(false) {
                mapping[id] = Some(names.len() as u32);
                names.push(name);
            }
        }
        self.ids = names
            .iter()
            .enumerate()
            .map(|(id, name)| (name.clone(), id as u32))
            .collect();
        self.names = names;
        mapping
    }

    pub(crate) fn write(&self, writer: &mut Writer) {
        writer.usize(self.names.len());
        for name in &self.names {
            writer.str(name);
        }
    }

    pub(crate) fn read(reader: &mut Reader) -> Result<FeatureIndex, ModelError> {
        let mut index = FeatureIndex::default();
        for _ in 0..reader.count(4)? {
            let name = reader.str()?;
            index.intern(&name);
        }
        Ok(index)
    }
}

/// A word's shape: `Xxxx`, `xxxx`, `XXXX`, `dd`, `Xd`…; letters and digits collapsed into runs.
pub(crate) fn shape(word: &str) -> String {
    let mut out = String::new();
    let mut last = ' ';
    let mut run = 0;
    for character in word.chars() {
        let class = if character.is_uppercase() {
            'X'
        } else if character.is_lowercase() {
            'x'
        } else if character.is_numeric() {
            'd'
        } else {
            character
        };
        if class == last {
            run += 1;
            if run > 2 {
                continue;
            }
        } else {
            run = 1;
            last = class;
        }
        out.push(class);
    }
    out
}
