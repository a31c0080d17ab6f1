//! The model's binary encoding: little-endian integers and floats, length-prefixed strings.

use crate::error::ModelError;

/// Appends values to a byte buffer.
#[derive(Default)]
pub(crate) struct Writer {
    pub(crate) bytes: Vec<u8>,
}

impl Writer {
    pub(crate) fn u8(&mut self, value: u8) {
        self.bytes.push(value);
    }
    pub(crate) fn u32(&mut self, value: u32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }
    pub(crate) fn usize(&mut self, value: usize) {
        self.u32(u32::try_from(value).unwrap_or(u32::MAX));
    }
    pub(crate) fn f32(&mut self, value: f32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }
    pub(crate) fn str(&mut self, value: &str) {
        self.usize(value.len());
        self.bytes.extend_from_slice(value.as_bytes());
    }
}

/// Reads values back, failing cleanly on truncated or malformed input.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, position: 0 }
    }
    fn take(&mut self, count: usize) -> Result<&'a [u8], ModelError> {
        let end = self
            .position
            .checked_add(count)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| ModelError::new(format!("truncated at byte {}", self.position)))?;
        let slice = &self.bytes[self.position..end];
        self.position = end;
        Ok(slice)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], ModelError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, ModelError> {
        Ok(self.array::<1>()?[0])
    }
    pub(crate) fn u32(&mut self) -> Result<u32, ModelError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub(crate) fn usize(&mut self) -> Result<usize, ModelError> {
        Ok(self.u32()? as usize)
    }
    /// A count of items each at least `item_size` bytes long, checked against what is left.
    pub(crate) fn count(&mut self, item_size: usize) -> Result<usize, ModelError> {
        let count = self.usize()?;
        if count.saturating_mul(item_size.max(1)) > self.bytes.len() - self.position {
            return Err(ModelError::new(format!(
                "bad count {count} at byte {}",
                self.position
            )));
        }
        Ok(count)
    }
    pub(crate) fn f32(&mut self) -> Result<f32, ModelError> {
        Ok(f32::from_le_bytes(self.array()?))
    }
    pub(crate) fn str(&mut self) -> Result<String, ModelError> {
        let length = self.usize()?;
        let position = self.position;
        let bytes = self.take(length)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| ModelError::new(format!("invalid text at byte {position}")))
    }
    pub(crate) fn finish(&self) -> Result<(), ModelError> {
        if self.position == self.bytes.len() {
            Ok(())
        } else {
            Err(ModelError::new(format!(
                "trailing bytes at {}",
                self.position
            )))
        }
    }
}
