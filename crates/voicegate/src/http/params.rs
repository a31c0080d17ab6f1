//! The parameters of a contract request, read once: the query string and the body, whatever way
//! the contract lets a client send it (a JSON object, also on GET; an urlencoded or multipart
//! form; a form's `data` field holding a JSON object, as the VocaliD samples send it), with the
//! uploaded files of a multipart form beside them.
//!
//! The body is read within the limit the router declares for the route's group. When the
//! signature layer has already read and parsed a signed request's body, the handler takes those
//! parameters instead of reading anything again.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::http::error::ApiError;

/// How the body came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body (or only white space).
    Empty,
    /// A JSON object.
    Json,
    /// `application/x-www-form-urlencoded`.
    UrlencodedForm,
    /// `multipart/form-data`.
    MultipartForm,
}

/// A part of a multipart form other than `data`: an uploaded file, or any other field's bytes.
#[derive(Debug, Clone)]
pub struct FormPart {
    /// The file name the client gave, if any.
    pub file_name: Option<String>,
    /// The bytes.
    pub bytes: Bytes,
}

/// A request's parameters: named values (strings from the query and forms, any JSON value from a
/// JSON body or a `data` field) and multipart parts.
#[derive(Debug, Clone)]
pub struct Params {
    fields: Map<String, Value>,
    parts: HashMap<String, FormPart>,
    body: BodyKind,
}

/// Parameters already read from the body by an earlier layer (the signature check).
#[derive(Debug, Clone)]
pub struct ParsedParams(pub Arc<Params>);

fn bad(detail: impl Into<String>) -> ApiError {
    ApiError::bad_request(detail)
}

impl Params {
    /// Reads the query of `parts` and the `body` (already within the route's limit).
    pub async fn read(parts: &Parts, body: Bytes) -> Result<Self, ApiError> {
        let mut params = Self {
            fields: Map::new(),
            parts: HashMap::new(),
            body: BodyKind::Empty,
        };
        if let Some(query) = parts.uri.query() {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(|e| {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.to_string())
            })?;
            for (name, value) in pairs {
                if params.fields.contains_key(&name) {
                    return Err(bad(format!("{name}: given more than once")));
                }
                params.fields.insert(name, Value::String(value));
            }
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(params);
        }
        let content_type = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let media = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/json" | "" => {
                params.body = BodyKind::Json;
                let value: Value = serde_json::from_slice(&body).map_err(|e| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_json",
                        format!("malformed JSON: {e}"),
                    )
                })?;
                params.merge(object("the body", value)?)?;
            }
            "application/x-www-form-urlencoded" => {
                params.body = BodyKind::UrlencodedForm;
                let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
                    .map_err(|e| bad(format!("malformed form: {e}")))?;
                let data = pairs.iter().find(|(name, _)| name == "data");
                let fields = match data {
                    Some((_, data)) => object("data", json_of("data", data)?)?,
                    None => pairs
                        .into_iter()
                        .map(|(name, value)| (name, Value::String(value)))
                        .collect(),
                };
                params.merge(fields)?;
            }
            "multipart/form-data" => {
                params.body = BodyKind::MultipartForm;
                params.read_multipart(&content_type, body).await?;
            }
            _ => {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send JSON (application/json) or a form (urlencoded or multipart), whose data \
                     field may hold the JSON",
                ));
            }
        }
        Ok(params)
    }

    async fn read_multipart(&mut self, content_type: &str, body: Bytes) -> Result<(), ApiError> {
        let boundary = multer::parse_boundary(content_type)
            .map_err(|e| bad(format!("malformed form: {e}")))?;
        let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
        let mut form = multer::Multipart::new(stream, boundary);
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| bad(format!("malformed form: {e}")))?
        {
            let Some(name) = field.name().map(str::to_string) else {
                continue;
            };
            let file_name = field.file_name().map(str::to_string);
            let bytes = field
                .bytes()
                .await
                .map_err(|e| bad(format!("{name}: {e}")))?;
            if name == "data" && file_name.is_none() {
                let text = std::str::from_utf8(&bytes).map_err(|_| bad("data: not UTF-8 text"))?;
                self.merge(object("data", json_of("data", text)?)?)?;
            } else if self
                .parts
                .insert(name.clone(), FormPart { file_name, bytes })
                .is_some()
            {
                return Err(bad(format!("{name}: given more than once")));
            }
        }
        Ok(())
    }

    /// Adds body fields; a name the query also gave must carry the same value.
    fn merge(&mut self, fields: Map<String, Value>) -> Result<(), ApiError> {
        for (name, value) in fields {
            match self.fields.get(&name) {
                Some(Value::String(given)) if value.as_str() != Some(given) => {
                    return Err(bad(format!(
                        "{name}: given in the query and in the body with different values"
                    )));
                }
                _ => {
                    self.fields.insert(name, value);
                }
            }
        }
        Ok(())
    }

    /// How the body came.
    pub fn body_kind(&self) -> BodyKind {
        self.body
    }

    /// The named value, if given.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }

    /// Every named value.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    /// A text parameter: `None` when absent, null or blank; a 400 naming it when it is not text.
    pub fn text(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(bad(format!("{name} must be a string"))),
        }
    }

    /// A text parameter that must be there: a 400 naming it otherwise.
    pub fn required_text(&self, name: &str) -> Result<&str, ApiError> {
        self.text(name)?
            .ok_or_else(|| bad(format!("{name} is required")))
    }

    /// A multipart part other than `data`, taken out.
    pub fn take_part(&mut self, name: &str) -> Option<FormPart> {
        self.parts.remove(name)
    }

    /// 415 unless the body is a multipart form (routes that take files).
    pub fn require_multipart(&self, what: &str) -> Result<(), ApiError> {
        if self.body == BodyKind::MultipartForm {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("send multipart/form-data with {what}"),
            ))
        }
    }

    /// The named values as `T`: a 400 naming the field that does not fit.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_value(Value::Object(self.fields.clone())).map_err(|e| bad(e.to_string()))
    }
}

fn json_of(name: &str, text: &str) -> Result<Value, ApiError> {
    serde_json::from_str(text).map_err(|e| bad(format!("{name}: not JSON: {e}")))
}

fn object(what: &str, value: Value) -> Result<Map<String, Value>, ApiError> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(bad(format!("{what} must be a JSON object"))),
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ParsedParams(params)) = request.extensions().get::<ParsedParams>() {
            return Ok(Arc::unwrap_or_clone(params.clone()));
        }
        let (parts, body) = request.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(ApiError::from)?;
        Self::read(&parts, bytes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request as HttpRequest;

    async fn read(uri: &str, content_type: Option<&str>, body: &str) -> Result<Params, ApiError> {
        let mut builder = HttpRequest::builder().uri(uri);
        if let Some(ct) = content_type {
            builder = builder.header(CONTENT_TYPE, ct);
        }
        let (parts, ()) = builder.body(()).unwrap().into_parts();
        Params::read(&parts, Bytes::from(body.to_string())).await
    }

    #[tokio::test]
    async fn query_json_and_forms_give_the_same_parameters() {
        let want = |p: &Params| {
            assert_eq!(p.required_text("account_id").unwrap(), "a1");
            assert_eq!(p.required_text("api_key").unwrap(), "k");
        };
        want(&read("/x?account_id=a1&api_key=k", None, "").await.unwrap());
        want(
            &read(
                "/x?api_key=k",
                Some("application/json"),
                r#"{"account_id":"a1"}"#,
            )
            .await
            .unwrap(),
        );
        // JSON on a GET with no content type, as the Snips console's clients send it.
        want(
            &read("/x", None, r#"{"account_id":"a1","api_key":"k"}"#)
                .await
                .unwrap(),
        );
        let form = "data=%7B%22account_id%22%3A%22a1%22%2C%22api_key%22%3A%22k%22%7D";
        let p = read("/x", Some("application/x-www-form-urlencoded"), form)
            .await
            .unwrap();
        want(&p);
        assert_eq!(p.body_kind(), BodyKind::UrlencodedForm);
        want(
            &read(
                "/x",
                Some("application/x-www-form-urlencoded"),
                "account_id=a1&api_key=k",
            )
            .await
            .unwrap(),
        );
        let multipart = "--b\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n\
             {\"account_id\":\"a1\",\"api_key\":\"k\"}\r\n--b\r\nContent-Disposition: form-data; \
             name=\"file\"; filename=\"r.wav\"\r\n\r\nRIFF\r\n--b--\r\n";
        let mut p = read("/x", Some("multipart/form-data; boundary=b"), multipart)
            .await
            .unwrap();
        want(&p);
        let file = p.take_part("file").unwrap();
        assert_eq!(file.file_name.as_deref(), Some("r.wav"));
        assert_eq!(&file.bytes[..], b"RIFF");
        p.require_multipart("a file").unwrap();
    }

    #[tokio::test]
    async fn bad_parameters_are_400s_naming_what_is_wrong() {
        let detail = |e: ApiError| (e.status(), e.detail().to_string());
        let (status, text) = detail(
            read("/x", Some("application/json"), "{not")
                .await
                .unwrap_err(),
        );
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text.starts_with("malformed JSON"), "{text}");
        let (_, text) = detail(
            read("/x", Some("application/json"), "[1]")
                .await
                .unwrap_err(),
        );
        assert!(text.contains("JSON object"), "{text}");
        let (_, text) = detail(
            read(
                "/x",
                Some("application/x-www-form-urlencoded"),
                "data=%7Bno",
            )
            .await
            .unwrap_err(),
        );
        assert!(text.starts_with("data: not JSON"), "{text}");
        let (_, text) = detail(read("/x?a=1&a=2", None, "").await.unwrap_err());
        assert!(text.starts_with("a: given more than once"), "{text}");
        let (_, text) = detail(read("/x?a=1", None, r#"{"a":"2"}"#).await.unwrap_err());
        assert!(
            text.starts_with("a: given in the query and in the body"),
            "{text}"
        );
        let (status, _) = detail(read("/x", Some("text/plain"), "hi").await.unwrap_err());
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let p = read("/x", None, r#"{"n": 3, "blank": " "}"#).await.unwrap();
        assert!(
            p.required_text("n")
                .unwrap_err()
                .detail()
                .starts_with("n must be a string")
        );
        assert!(
            p.required_text("blank")
                .unwrap_err()
                .detail()
                .starts_with("blank is required")
        );
        let json = read("/x", None, r#"{"a":"1"}"#).await.unwrap();
        assert_eq!(
            json.require_multipart("a file").unwrap_err().status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }
}
