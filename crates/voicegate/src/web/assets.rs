//! The console's scripts and style sheet, embedded in the binary and served under names that
//! carry a hash of their content, so that browsers may keep them for good.

use std::sync::OnceLock;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// Where the assets are served.
pub const ASSETS_PATH: &str = "/console/assets";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// An embedded file of `assets/` by name, with its content type.
macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            bytes: include_bytes!(concat!("assets/", $name)),
        }
    };
}

const ASSETS: &[Asset] = &[
    asset!("console.css", CSS),
    asset!("common.js", JS),
    asset!("speakers.js", JS),
    asset!("voices.js", JS),
    asset!("capture-worklet.js", JS),
    asset!("ovos.js", JS),
    asset!("account.js", JS),
    asset!("assistants.js", JS),
];

/// An asset with its served name (`common.1a2b3c4d5e.js`).
struct Hashed {
    served: String,
    asset: &'static Asset,
}

fn table() -> &'static [Hashed] {
    static TABLE: OnceLock<Vec<Hashed>> = OnceLock::new();
    TABLE.get_or_init(|| {
        ASSETS
            .iter()
            .map(|asset| {
                let digest = Sha256::digest(asset.bytes);
                let hash: String = digest[..5].iter().map(|b| format!("{b:02x}")).collect();
                let (stem, ext) = asset.name.rsplit_once('.').unwrap_or((asset.name, ""));
                Hashed {
                    served: format!("{stem}.{hash}.{ext}"),
                    asset,
                }
            })
            .collect()
    })
}

/// The URL of the asset named `name` (`common.js`), with its content hash.
pub fn url(name: &str) -> String {
    let served = table()
        .iter()
        .find(|hashed| hashed.asset.name == name)
        .map_or(name, |hashed| hashed.served.as_str());
    format!("{ASSETS_PATH}/{served}")
}

/// The bytes of the assets named, summed (a page's weight in the docs and tests).
pub fn size_of(names: &[&str]) -> usize {
    ASSETS
        .iter()
        .filter(|asset| names.contains(&asset.name))
        .map(|asset| asset.bytes.len())
        .sum()
}

/// The answer for a served name: the file, kept by browsers for a year; `None` for a name
/// (or an old hash) that is not served.
pub fn serve(served: &str) -> Option<Response> {
    let hashed = table().iter().find(|hashed| hashed.served == served)?;
    let mut response = hashed.asset.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(hashed.asset.content_type),
    );
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_served_under_its_hashed_name_only() {
        for asset in ASSETS {
            let url = url(asset.name);
            let served = url.strip_prefix(&format!("{ASSETS_PATH}/")).unwrap();
            assert_ne!(served, asset.name, "{url} carries no hash");
            assert!(serve(served).is_some(), "{url} is not served");
            assert!(
                serve(asset.name).is_none(),
                "{} is served unhashed",
                asset.name
            );
        }
        assert!(serve("common.0000000000.js").is_none());
    }
}
