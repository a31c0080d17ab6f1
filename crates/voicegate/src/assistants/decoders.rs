//! The speech decoders kept loaded: one per assistant and language model, loaded on demand, at
//! most `assistants.asr_max_decoders` kept (the least recently used goes). A decoder serves one
//! request at a time.

use std::sync::{Arc, Mutex};

use speech::pocketsphinx::{Decoder, DecoderConfig};

use crate::assistants::error::AssistantsError;
use crate::assistants::model::AssistantId;

/// A loaded decoder and what it was loaded from.
type PoolEntry = (AssistantId, String, Arc<Mutex<Decoder>>);

/// The decoders kept loaded, most recently used last.
#[derive(Debug, Default)]
pub struct DecoderPool {
    entries: Mutex<Vec<PoolEntry>>,
}

impl DecoderPool {
    /// The decoder of this assistant's model `sha256`, loaded with `config` when not kept;
    /// at most `max` are kept. Blocking (a load reads the models).
    pub fn get(
        &self,
        id: &AssistantId,
        sha256: &str,
        max: usize,
        config: &DecoderConfig,
    ) -> Result<Arc<Mutex<Decoder>>, AssistantsError> {
        let lock = || self.entries.lock().unwrap_or_else(|e| e.into_inner());
        {
            let mut entries = lock();
            if let Some(at) = entries.iter().position(|(i, s, _)| i == id && s == sha256) {
                let entry = entries.remove(at);
                let decoder = entry.2.clone();
                entries.push(entry);
                return Ok(decoder);
            }
        }
        let decoder = Decoder::new(config).map_err(|e| AssistantsError::Model(e.to_string()))?;
        let decoder = Arc::new(Mutex::new(decoder));
        let mut entries = lock();
        entries.retain(|(i, _, _)| i != id);
        while entries.len() >= max.max(1) {
            entries.remove(0);
        }
        entries.push((id.clone(), sha256.to_owned(), decoder.clone()));
        Ok(decoder)
    }

    /// Forgets the assistant's decoders.
    pub fn remove(&self, id: &AssistantId) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(i, _, _)| i != id);
    }
}
