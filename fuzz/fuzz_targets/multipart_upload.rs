//! Multipart recording uploads (`recording/save`): the form read by `Params`, then the upload's
//! fields by `RecordingUpload`.
//!
//! Mode 0: the input is a boundary line and a body. Whatever it holds, the answer is the upload
//! or a 400/415 (never a server error); an upload has an account, a trimmed sentence within the
//! limit and a file that is not empty.
//! Mode 1: the input describes a form (the `data` field, a file, other parts), written as
//! multipart: it reads back to exactly what was written, or to the 400 the form deserves.
#![no_main]

#[path = "common.rs"]
mod common;

use arbitrary::{Arbitrary, Unstructured};
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use voicegate::http::error::ApiError;
use voicegate::http::params::{BodyKind, Params};
use voicegate::voices::routes::RecordingUpload;

const MAX_SENTENCE: usize = 40;
const URI: &str = "/api/v1/external/recording/save/";

fn read(uri: &str, content_type: &str, body: Vec<u8>) -> Option<Result<Params, ApiError>> {
    let request = Request::builder()
        .method("POST")
        .uri(uri)
        .header(CONTENT_TYPE, content_type)
        .body(())
        .ok()?;
    let (parts, ()) = request.into_parts();
    Some(common::block_on(Params::read(&parts, Bytes::from(body))))
}

fn is_client_error(error: &ApiError) -> bool {
    [StatusCode::BAD_REQUEST, StatusCode::UNSUPPORTED_MEDIA_TYPE].contains(&error.status())
}

fn check_upload(params: &mut Params) -> Result<RecordingUpload, ApiError> {
    let upload = RecordingUpload::read(params, MAX_SENTENCE);
    match &upload {
        Ok(upload) => {
            assert!(!upload.account.as_str().trim().is_empty());
            assert_eq!(upload.sentence.trim(), upload.sentence);
            assert!(!upload.sentence.is_empty());
            assert!(upload.sentence.chars().count() <= MAX_SENTENCE);
            assert!(!upload.wav.is_empty());
            assert!(params.take_part("file").is_none(), "the file was taken out");
        }
        Err(error) => assert!(is_client_error(error), "{error:?}"),
    }
    upload
}

#[derive(Debug, Arbitrary)]
struct Form {
    account_id: String,
    sentence: String,
    /// Sent as a JSON number instead of text.
    sentence_as_number: bool,
    file: Option<(String, Vec<u8>)>,
    others: Vec<(u8, Option<String>, Vec<u8>)>,
    query_account: Option<String>,
}

const OTHER_NAMES: [&str; 3] = ["extra", "file", "note"];

fn file_name(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect::<String>()
        + ".wav"
}

fn part(body: &mut Vec<u8>, boundary: &str, name: &str, file_name: Option<&str>, bytes: &[u8]) {
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes(),
    );
    if let Some(file_name) = file_name {
        body.extend_from_slice(
            format!("; filename=\"{file_name}\"\r\nContent-Type: audio/wav").as_bytes(),
        );
    }
    body.extend_from_slice(b"\r\n\r\n");
    body.extend_from_slice(bytes);
    body.extend_from_slice(b"\r\n");
}

fn structured(data: &[u8]) {
    let Ok(form) = Form::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let boundary = "fuzz-boundary-7Q";
    let sentence = if form.sentence_as_number {
        serde_json::json!(form.sentence.len())
    } else {
        serde_json::json!(form.sentence)
    };
    let data_json =
        serde_json::json!({"account_id": form.account_id, "sentence": sentence}).to_string();
    let mut body = Vec::new();
    part(&mut body, boundary, "data", None, data_json.as_bytes());
    let mut written: Vec<(String, Option<String>, Vec<u8>)> = Vec::new();
    if let Some((name, bytes)) = &form.file {
        written.push(("file".into(), Some(file_name(name)), bytes.clone()));
    }
    for (index, file, bytes) in &form.others {
        let name = OTHER_NAMES[usize::from(*index) % OTHER_NAMES.len()];
        written.push((name.into(), file.as_deref().map(file_name), bytes.clone()));
    }
    for (name, file_name, bytes) in &written {
        part(&mut body, boundary, name, file_name.as_deref(), bytes);
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let holds_boundary = |bytes: &[u8]| {
        bytes
            .windows(boundary.len())
            .any(|w| w == boundary.as_bytes())
    };
    if holds_boundary(data_json.as_bytes())
        || written.iter().any(|(_, _, bytes)| holds_boundary(bytes))
    {
        return;
    }
    let uri = match &form.query_account {
        Some(account) => {
            let query: String = account
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            format!("{URI}?account_id={query}")
        }
        None => URI.to_string(),
    };
    let Some(read) = read(
        &uri,
        &format!("multipart/form-data; boundary={boundary}"),
        body,
    ) else {
        return;
    };
    let duplicate =
        (1..written.len()).any(|i| written[..i].iter().any(|(name, ..)| *name == written[i].0));
    let query_conflict = form.query_account.as_ref().is_some_and(|account| {
        let query: String = account
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        query != form.account_id
    });
    let mut params = match read {
        Ok(params) => {
            assert!(!duplicate && !query_conflict, "{written:?}");
            params
        }
        Err(error) => {
            assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{error:?}");
            assert!(duplicate || query_conflict, "{error:?} for {written:?}");
            return;
        }
    };
    assert_eq!(params.body_kind(), BodyKind::MultipartForm);
    let upload = check_upload(&mut params);
    let file = written.iter().find(|(name, ..)| name == "file");
    let sentence = form.sentence.trim();
    let want_ok = !form.account_id.trim().is_empty()
        && !form.sentence_as_number
        && !sentence.is_empty()
        && sentence.chars().count() <= MAX_SENTENCE
        && file.is_some_and(|(_, _, bytes)| !bytes.is_empty());
    match upload {
        Ok(upload) => {
            assert!(want_ok, "{form:?}");
            assert_eq!(upload.account.as_str(), form.account_id);
            assert_eq!(upload.sentence, sentence);
            assert_eq!(&upload.wav[..], &file.unwrap().2[..]);
        }
        Err(error) => assert!(!want_ok, "{error:?} for {form:?}"),
    }
    for (name, file_name, bytes) in written.iter().filter(|(name, ..)| name != "file") {
        let part = params.take_part(name).expect("every part is kept");
        assert_eq!(part.file_name.as_deref(), file_name.as_deref());
        assert_eq!(&part.bytes[..], &bytes[..]);
    }
}

fn raw(data: &[u8]) {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let Ok(boundary) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let body = data.get(split + 1..).unwrap_or_default().to_vec();
    let content_type = format!("multipart/form-data; boundary={boundary}");
    match read(URI, &content_type, body) {
        None => {}
        Some(Ok(mut params)) => {
            let _ = check_upload(&mut params);
        }
        Some(Err(error)) => assert!(is_client_error(&error), "{error:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((mode, rest)) if mode % 2 == 1 => structured(rest),
        Some((_, rest)) => raw(rest),
        None => {}
    }
});
