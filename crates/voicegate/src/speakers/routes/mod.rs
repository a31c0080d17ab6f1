//! The HK Omni speakers routes (`/api/v1/<verb>`): GET with query parameters as the contract
//! has them, or POST with the same parameters in a JSON or form body. Answers keep the
//! contract's shapes and types (`"DeviceCount":"2"` a string, `"Volume":47` a number in a
//! device); errors are in the HK dialect (`{"Result":"false",…}`, set on the route group).

mod common;
mod devices;
pub mod media;
mod playback;

pub use common::Done;
/// The readers of the HK parameters every route shares (public for the fuzz targets).
#[doc(hidden)]
pub use common::{device_id_list, optional_persistent_id, persistent_id, volume};
pub use devices::*;
pub use playback::*;
