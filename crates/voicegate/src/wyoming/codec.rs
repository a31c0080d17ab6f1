//! Wyoming framing: a JSON header line ending in `\n` (`type`, optional `data`, `data_length`,
//! `payload_length`, `version`), then `data_length` bytes of JSON merged over the header's
//! `data`, then `payload_length` bytes of payload. Every part is bounded before it is read.

use axum::body::Bytes;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

use crate::wyoming::event::{ErrorCode, Event, PROTOCOL_VERSION, Refusal};

/// The sizes an event may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// The header line, its `\n` included, in bytes.
    pub header: usize,
    /// The data block, in bytes.
    pub data: usize,
    /// The payload, in bytes.
    pub payload: usize,
}

/// Why no event could be read. After any of these the stream cannot be trusted to be at an
/// event's start, so the connection ends (after the client is told, when it can be).
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// What the client is told.
    #[error("{}", .0.text)]
    Refused(Refusal),
    /// The connection failed or ended inside an event.
    #[error("reading an event: {0}")]
    Io(#[from] std::io::Error),
}

fn refused(code: ErrorCode, text: String) -> FrameError {
    FrameError::Refused(Refusal::new(code, text))
}

/// A length field of the header: absent, `null` or a whole number.
fn length(header: &Map<String, Value>, key: &str) -> Result<usize, FrameError> {
    match header.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(value) => value
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                refused(
                    ErrorCode::BadHeader,
                    format!("{key} must be a whole number of bytes, not {value}"),
                )
            }),
    }
}

/// The next event, or `None` when the connection ended between events.
pub async fn read_event<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    limits: FrameLimits,
) -> Result<Option<Event>, FrameError> {
    let mut line = Vec::with_capacity(256);
    (&mut *reader)
        .take(limits.header as u64)
        .read_until(b'\n', &mut line)
        .await?;
    if line.last() != Some(&b'\n') {
        if line.is_empty() {
            return Ok(None);
        }
        if line.len() >= limits.header {
            return Err(refused(
                ErrorCode::HeaderTooLong,
                format!(
                    "the header line is longer than {} bytes (wyoming.max_header_bytes)",
                    limits.header
                ),
            ));
        }
        return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
    }
    let header: Map<String, Value> = serde_json::from_slice(&line).map_err(|e| {
        refused(
            ErrorCode::BadJson,
            format!("the header line is not a JSON object: {e}"),
        )
    })?;
    let kind = match header.get("type") {
        Some(Value::String(kind)) if !kind.is_empty() => kind.clone(),
        _ => {
            return Err(refused(
                ErrorCode::BadHeader,
                "the header has no \"type\" (a non-empty string)".into(),
            ));
        }
    };
    let mut data = match header.get("data") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(data)) => data.clone(),
        Some(other) => {
            return Err(refused(
                ErrorCode::BadHeader,
                format!("the header's data must be an object, not {other}"),
            ));
        }
    };
    let data_length = length(&header, "data_length")?;
    let payload_length = length(&header, "payload_length")?;
    if data_length > limits.data {
        return Err(refused(
            ErrorCode::DataTooLarge,
            format!(
                "data_length {data_length} is over {} bytes (wyoming.max_data_bytes)",
                limits.data
            ),
        ));
    }
    if payload_length > limits.payload {
        return Err(refused(
            ErrorCode::PayloadTooLarge,
            format!(
                "payload_length {payload_length} is over {} bytes (wyoming.max_payload_bytes)",
                limits.payload
            ),
        ));
    }
    if data_length > 0 {
        let mut block = vec![0; data_length];
        reader.read_exact(&mut block).await?;
        let merged: Map<String, Value> = serde_json::from_slice(&block).map_err(|e| {
            refused(
                ErrorCode::BadJson,
                format!("the data block is not a JSON object: {e}"),
            )
        })?;
        data.extend(merged);
    }
    let mut payload = vec![0; payload_length];
    reader.read_exact(&mut payload).await?;
    Ok(Some(Event {
        kind,
        data,
        payload: Bytes::from(payload),
    }))
}

/// The event as sent: its header line, its data as a data block (as the Python package writes
/// it) and its payload.
pub fn encode(event: &Event) -> Vec<u8> {
    let data = (!event.data.is_empty()).then(|| Value::Object(event.data.clone()).to_string());
    let mut header = json!({"type": event.kind, "version": PROTOCOL_VERSION});
    if let Some(data) = &data {
        header["data_length"] = json!(data.len());
    }
    if !event.payload.is_empty() {
        header["payload_length"] = json!(event.payload.len());
    }
    let header = header.to_string();
    let data = data.unwrap_or_default();
    let mut bytes = Vec::with_capacity(header.len() + 1 + data.len() + event.payload.len());
    bytes.extend_from_slice(header.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(data.as_bytes());
    bytes.extend_from_slice(&event.payload);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: FrameLimits = FrameLimits {
        header: 256,
        data: 1024,
        payload: 4096,
    };

    async fn read(bytes: &[u8]) -> Result<Option<Event>, FrameError> {
        let mut reader = tokio::io::BufReader::new(bytes);
        read_event(&mut reader, LIMITS).await
    }

    fn code(result: Result<Option<Event>, FrameError>) -> Option<ErrorCode> {
        match result {
            Err(FrameError::Refused(refusal)) => Some(refusal.code),
            _ => None,
        }
    }

    #[tokio::test]
    async fn an_event_round_trips_and_data_is_merged_from_either_place() {
        let event = Event::new("audio-chunk", json!({"rate": 16000, "width": 2}))
            .with_payload(Bytes::from_static(&[1, 2, 3, 4]));
        assert_eq!(read(&encode(&event)).await.unwrap(), Some(event));
        let inline = b"{\"type\":\"synthesize\",\"data\":{\"text\":\"hi\",\"voice\":{\"name\":\"a\"}},\"data_length\":16}\n{\"text\":\"hello\"}";
        let got = read(inline).await.unwrap().unwrap();
        assert_eq!(got.text("text"), Some("hello"));
        assert_eq!(got.object("voice").unwrap()["name"], "a");
        assert_eq!(read(b"").await.unwrap(), None);
        let ping = read(b"{\"type\":\"ping\",\"payload_length\":null}\n")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((ping.kind.as_str(), ping.data.len()), ("ping", 0));
    }

    #[tokio::test]
    async fn bad_frames_are_refused_with_their_code() {
        let long = format!("{{\"type\":\"{}\"}}\n", "x".repeat(300));
        assert_eq!(
            code(read(long.as_bytes()).await),
            Some(ErrorCode::HeaderTooLong)
        );
        assert_eq!(code(read(b"{\"type\":\n").await), Some(ErrorCode::BadJson));
        assert_eq!(code(read(b"[1]\n").await), Some(ErrorCode::BadJson));
        assert_eq!(
            code(read(b"{\"data\":{}}\n").await),
            Some(ErrorCode::BadHeader)
        );
        assert_eq!(
            code(read(b"{\"type\":\"x\",\"data_length\":-1}\n").await),
            Some(ErrorCode::BadHeader)
        );
        assert_eq!(
            code(read(b"{\"type\":\"x\",\"data_length\":1025}\n").await),
            Some(ErrorCode::DataTooLarge)
        );
        assert_eq!(
            code(read(b"{\"type\":\"x\",\"payload_length\":4097}\n").await),
            Some(ErrorCode::PayloadTooLarge)
        );
        assert_eq!(
            code(read(b"{\"type\":\"x\",\"data_length\":3}\n[1]").await),
            Some(ErrorCode::BadJson)
        );
        assert!(matches!(
            read(b"{\"type\":\"x\",\"payload_length\":10}\nabc").await,
            Err(FrameError::Io(_))
        ));
    }
}
