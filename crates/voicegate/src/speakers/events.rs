//! What the speakers publish on the events hub, so that clients need not poll as the contract
//! advises: `speakers.playback` (a session's playback started, paused, resumed, an
//! announcement began or ended, it stopped: only its owner sees it) and `speakers.device`
//! (a speaker connected, went away, changed volume or name, from Snapcast's notifications or
//! this server's own changes).

use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;
use tokio::sync::watch;

use crate::events::{Event, EventHub};
use crate::identity::scopes::Scope;
use crate::ids::UserId;
use crate::speakers::device::{DEVICE_ID_DIGITS, decimal_id, percent_to_wire};
use crate::speakers::feeder::{FeedState, FeedStatus};
use crate::speakers::snapcast::control::Notification;

/// `speakers.playback`'s data.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct PlaybackEvent<'a> {
    playback_state: &'static str,
    time_elapsed: String,
    announcing: bool,
    #[serde(rename = "DeviceIDList")]
    device_id_list: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// `speakers.device`'s data.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeviceEvent {
    #[serde(rename = "DeviceID")]
    device_id: String,
    change: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    volume: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_name: Option<String>,
}

/// The contract's name of a state.
pub fn state_name(state: FeedState) -> &'static str {
    match state {
        FeedState::Playing => "PlayerStatePlaying",
        FeedState::Paused => "PlayerStatePaused",
        FeedState::Stopped => "PlayerStateStopped",
    }
}

/// Publishes each change of a playback's state (not of its position) to `owner`, until it
/// stops or `current` says a later playback took the stream over. Its first event is the
/// state once the feeder has been given more than `plays` tracks and announcements (the one
/// just sent has begun).
pub fn follow_playback(
    hub: EventHub,
    owner: UserId,
    devices: Vec<String>,
    mut status: watch::Receiver<FeedStatus>,
    plays: u64,
    current: impl Fn() -> bool + Send + 'static,
) {
    tokio::spawn(async move {
        let mut last: Option<(FeedState, bool)> = None;
        loop {
            if !current() {
                return;
            }
            let now = status.borrow_and_update().clone();
            if now.plays >= plays && last != Some((now.state, now.announcing)) {
                last = Some((now.state, now.announcing));
                let elapsed = if now.state == FeedState::Stopped {
                    "-1".to_string()
                } else {
                    (now.seconds() as u64).to_string()
                };
                let data = PlaybackEvent {
                    playback_state: state_name(now.state),
                    time_elapsed: elapsed,
                    announcing: now.announcing,
                    device_id_list: &devices,
                    error: now.error.as_deref(),
                };
                hub.publish(Event::new(
                    "speakers.playback",
                    Scope::Speakers,
                    Some(owner),
                    &data,
                ));
                if now.state == FeedState::Stopped {
                    return;
                }
            }
            if status.changed().await.is_err() {
                return;
            }
        }
    });
}

/// Publishes a change of a device made through this server (the local backend has nobody
/// else to announce it).
pub fn device_volume(hub: &EventHub, backend_id: &str, percent: u8) {
    let data = DeviceEvent {
        device_id: decimal_id(backend_id, DEVICE_ID_DIGITS),
        change: "volume",
        volume: Some(percent_to_wire(percent)),
        active: None,
        device_name: None,
    };
    hub.publish(Event::new("speakers.device", Scope::Speakers, None, &data));
}

/// Publishes Snapcast's notifications about its clients as `speakers.device` events, for as
/// long as the control client lives.
pub fn follow_snapcast(hub: EventHub, mut notifications: broadcast::Receiver<Notification>) {
    tokio::spawn(async move {
        loop {
            match notifications.recv().await {
                Ok(Notification::Event { method, params }) => {
                    if let Some(data) = device_event(&method, &params) {
                        hub.publish(Event::new("speakers.device", Scope::Speakers, None, &data));
                    }
                }
                Ok(Notification::Connected) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

/// The event a Snapcast client notification makes, if it is about a client.
fn device_event(method: &str, params: &Value) -> Option<DeviceEvent> {
    let id = params.get("id")?.as_str()?;
    let mut event = DeviceEvent {
        device_id: decimal_id(id, DEVICE_ID_DIGITS),
        change: "",
        volume: None,
        active: None,
        device_name: None,
    };
    match method {
        "Client.OnVolumeChanged" => {
            let volume = params.get("volume")?;
            let muted = volume
                .get("muted")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let percent = volume.get("percent").and_then(Value::as_u64).unwrap_or(0);
            event.change = "volume";
            event.volume = Some(if muted {
                0
            } else {
                percent_to_wire(u8::try_from(percent.min(100)).unwrap_or(100))
            });
        }
        "Client.OnConnect" => {
            event.change = "connected";
            event.active = Some(true);
        }
        "Client.OnDisconnect" => {
            event.change = "disconnected";
            event.active = Some(false);
        }
        "Client.OnNameChanged" => {
            event.change = "name";
            event.device_name = params.get("name")?.as_str().map(str::to_string);
        }
        _ => return None,
    }
    Some(event)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn snapcast_client_notifications_become_device_events() {
        let event = device_event(
            "Client.OnVolumeChanged",
            &json!({"id": "kitchen", "volume": {"muted": false, "percent": 50}}),
        )
        .expect("an event");
        assert_eq!(
            serde_json::to_value(&event).expect("json"),
            json!({"DeviceID": decimal_id("kitchen", DEVICE_ID_DIGITS), "Change": "volume", "Volume": 25})
        );
        let gone = device_event(
            "Client.OnDisconnect",
            &json!({"id": "kitchen", "client": {}}),
        )
        .expect("an event");
        assert_eq!((gone.change, gone.active), ("disconnected", Some(false)));
        assert!(device_event("Stream.OnUpdate", &json!({"id": "S1"})).is_none());
    }
}
