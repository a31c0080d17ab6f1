//! The HK speakers routes' parameters: a GET query (or the same in a POST JSON body) read by
//! `Params`, then `Volume`, `DeviceIDList`, `PersistentID` and the session token.
//!
//! Every refusal is a 400; a volume read is 0 to 50 and is the number given; a device list is
//! not empty, its ids trimmed, without commas, and reads back from its own text; a persistent id
//! is trimmed and not empty.
#![no_main]

#[path = "common.rs"]
mod common;

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use voicegate::http::error::ApiError;
use voicegate::http::params::Params;
use voicegate::speakers::routes::{device_id_list, optional_persistent_id, persistent_id, volume};

fn read(uri: &str, json_body: Option<&[u8]>) -> Option<Result<Params, ApiError>> {
    let mut request = Request::builder().uri(uri);
    if json_body.is_some() {
        request = request
            .method("POST")
            .header(CONTENT_TYPE, "application/json");
    }
    let (parts, ()) = request.body(()).ok()?.into_parts();
    let body = Bytes::from(json_body.unwrap_or_default().to_vec());
    Some(common::block_on(Params::read(&parts, body)))
}

fn bad_request<T: std::fmt::Debug>(result: &Result<T, ApiError>) {
    if let Err(error) = result {
        assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{error:?}");
    }
}

fn check(params: &Params) {
    let read = volume(params);
    bad_request(&read);
    if let Ok(level) = read {
        assert!(level <= 50);
        let given = match params.get("Volume") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            other => panic!("a volume from {other:?}"),
        };
        assert_eq!(given, Some(u64::from(level)));
    }
    let ids = device_id_list(params);
    bad_request(&ids);
    if let Ok(ids) = ids {
        assert!(!ids.is_empty());
        for id in &ids {
            assert!(
                !id.is_empty() && !id.contains(',') && id.trim() == id,
                "{id:?}"
            );
        }
        let mut again = serde_json::Map::new();
        again.insert("DeviceIDList".into(), Value::String(ids.join(",")));
        let again = common::block_on(Params::read(
            &Request::builder().body(()).unwrap().into_parts().0,
            Bytes::from(Value::Object(again).to_string()),
        ))
        .expect("a JSON object reads");
        assert_eq!(device_id_list(&again).ok().as_ref(), Some(&ids));
    }
    let id = persistent_id(params);
    bad_request(&id);
    let optional = optional_persistent_id(params);
    bad_request(&optional);
    if let Ok(id) = id {
        assert!(!id.is_empty() && id.trim() == id, "{id:?}");
        assert_eq!(optional.ok().flatten().as_ref(), Some(&id));
    }
    let token = params.required_text("SessionToken");
    bad_request(&token);
    if let Ok(token) = token {
        assert!(!token.trim().is_empty());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let read = if mode % 2 == 0 {
        let Ok(query) = std::str::from_utf8(rest) else {
            return;
        };
        read(&format!("/api/v1/set_volume?{query}"), None)
    } else {
        read("/api/v1/set_volume", Some(rest))
    };
    match read {
        None => {}
        Some(Ok(params)) => check(&params),
        Some(Err(error)) => assert!(
            [StatusCode::BAD_REQUEST, StatusCode::UNSUPPORTED_MEDIA_TYPE].contains(&error.status()),
            "{error:?}"
        ),
    }
});
