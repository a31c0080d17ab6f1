//! `GET /v1/events`: bus messages on the allowlist as server-sent events, secrets removed.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::app::AppState;
use crate::http::auth::Authorized;
use crate::http::error::{ApiError, ErrorBody};
use crate::identity::scopes::OvosScope;
use crate::ovos::OvosService;
use crate::ovos::bus::BusMessage;
use crate::ovos::redact::redact;

/// The SSE stream of one client. It ends when the client falls more than the events buffer
/// behind: a slow client is dropped, never buffered without bound.
fn event_stream(
    ovos: Arc<OvosService>,
    receiver: tokio::sync::broadcast::Receiver<Arc<BusMessage>>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold((ovos, receiver), |(ovos, mut receiver)| async move {
        loop {
            match receiver.recv().await {
                Ok(message) if ovos.event_allowed(&message.msg_type) => {
                    let mut data = message.data.clone();
                    redact(&mut data);
                    let payload = serde_json::json!({"type": message.msg_type, "data": data});
                    let event = Event::default()
                        .event(message.msg_type.as_str())
                        .data(payload.to_string());
                    return Some((Ok(event), (ovos, receiver)));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::info!(missed, "events client too slow: disconnected");
                    return None;
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

/// Streams allowlisted bus messages (`speak`, `recognizer_loop:utterance`, `mycroft.mic.*`,
/// `mycroft.volume.*`, `ovos.utterance.handled` by default) as server-sent events. Each event's
/// name is the message type; its data is `{"type", "data"}` with secrets removed.
#[utoipa::path(get, path = "/v1/events", tag = "events",
    security(("bearer" = ["ovos"])),
    responses(
        (status = 200, description = "An endless text/event-stream", content_type = "text/event-stream"),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "The token lacks the ovos scope", body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    _: Authorized<OvosScope>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let receiver = state.ovos.bus().subscribe();
    Ok(Sse::new(event_stream(Arc::clone(&state.ovos), receiver)).keep_alive(KeepAlive::default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OvosConfig;
    use futures_util::StreamExt;
    use serde_json::json;

    #[tokio::test]
    async fn allowlisted_events_flow_redacted_and_a_client_that_falls_behind_is_dropped() {
        let service = Arc::new(OvosService::new(&OvosConfig::default()));
        let (sender, receiver) = tokio::sync::broadcast::channel(4);
        let stream = event_stream(Arc::clone(&service), receiver);
        futures_util::pin_mut!(stream);

        let speak = BusMessage::new("speak", json!({"utterance": "hi", "token": "secret-value"}));
        sender
            .send(Arc::new(BusMessage::new("not.on.the.list", json!({}))))
            .unwrap();
        sender.send(Arc::new(speak)).unwrap();
        let first = stream.next().await.expect("an event").unwrap();
        let text = format!("{first:?}");
        assert!(
            text.contains("utterance") && !text.contains("secret-value"),
            "{text}"
        );

        // Ten messages into a buffer of four: the reader lagged, so its stream ends.
        for i in 0..10 {
            sender
                .send(Arc::new(BusMessage::new("speak", json!({"utterance": i}))))
                .unwrap();
        }
        assert!(
            stream.next().await.is_none(),
            "a client that fell behind is disconnected"
        );
    }
}
