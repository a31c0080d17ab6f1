//! What the HK routes share: the contract's success answer and its list and volume
//! parameters.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::http::error::ApiError;
use crate::http::params::Params;
use crate::speakers::device::MAX_WIRE_VOLUME;
use crate::speakers::error::SpeakerError;

/// The contract's success: `{"Result":"true"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Done {
    /// Always `"true"` (failures are errors).
    #[serde(rename = "Result")]
    pub result: &'static str,
}

pub(crate) const DONE: Done = Done { result: "true" };

/// The `Volume` parameter: a whole number from 0 to 50, as text (a query, a form) or a JSON
/// number.
pub fn volume(params: &Params) -> Result<u8, ApiError> {
    let bad = || SpeakerError::BadRequest("Volume must be a whole number from 0 to 50".into());
    let volume = match params.get("Volume") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        None | Some(Value::Null) => {
            return Err(SpeakerError::BadRequest("Volume is required".into()).into());
        }
        Some(_) => None,
    };
    let volume = volume
        .filter(|v| *v <= u64::from(MAX_WIRE_VOLUME))
        .ok_or_else(bad)?;
    Ok(u8::try_from(volume).map_err(|_| bad())?)
}

/// The `DeviceIDList` parameter: DeviceIDs separated by commas.
pub fn device_id_list(params: &Params) -> Result<Vec<String>, ApiError> {
    let ids: Vec<String> = params
        .required_text("DeviceIDList")?
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        return Err(SpeakerError::BadRequest("DeviceIDList names no device".into()).into());
    }
    Ok(ids)
}

/// The `PersistentID` parameter: text, or a JSON number.
pub fn persistent_id(params: &Params) -> Result<String, ApiError> {
    optional_persistent_id(params)?
        .ok_or_else(|| SpeakerError::BadRequest("PersistentID is required".into()).into())
}

/// The `PersistentID` parameter if there is one.
pub fn optional_persistent_id(params: &Params) -> Result<Option<String>, ApiError> {
    match params.get("PersistentID") {
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        _ => Ok(params.text("PersistentID")?.map(|id| id.trim().to_string())),
    }
}
