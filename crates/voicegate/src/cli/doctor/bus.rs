//! The Open Voice OS message bus: a probe message sent and relayed back, and skill-rest-api's key.

use std::time::Duration;

use crate::cli::doctor::report::Finding;
use crate::config::OvosConfig;

/// How long the bus has to relay the probe.
const LIMIT: Duration = Duration::from_secs(3);

/// Connects to the bus, sends a probe and waits for the bus to relay it back.
pub async fn check(config: &OvosConfig) -> Vec<Finding> {
    let url = format!("ws://{}:{}/core", config.ws_host, config.ws_port);
    let fix = "start ovos-messagebus (or the Open Voice OS stack), or point ovos.ws_host and \
               ovos.ws_port (WS_HOST, WS_PORT) at it";
    let mut findings = vec![match tokio::time::timeout(LIMIT, round_trip(&url)).await {
        Ok(Ok(())) => Finding::ok(format!("OVOS message bus answers at {url}")),
        Ok(Err(e)) => Finding::fail(format!("OVOS message bus at {url}: {e}"), fix),
        Err(_) => Finding::fail(
            format!(
                "OVOS message bus at {url}: no answer within {} s",
                LIMIT.as_secs()
            ),
            fix,
        ),
    }];
    if config.api_key.as_ref().is_none_or(|k| k.is_empty()) {
        findings.push(Finding::warn(
            "API_KEY is not set: the routes served by skill-rest-api answer 503",
            "set API_KEY (or ovos.api_key) to skill-rest-api's key",
        ));
    }
    findings
}

/// Connects to the bus, sends a message and waits for the bus to relay it back.
async fn round_trip(url: &str) -> Result<(), String> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| e.to_string())?;
    let probe = format!("voicegate.doctor.{}", crate::ids::new_id());
    let frame = serde_json::json!({"type": probe, "data": {}, "context": {"source": "voicegate"}});
    socket
        .send(Message::text(frame.to_string()))
        .await
        .map_err(|e| e.to_string())?;
    while let Some(message) = socket.next().await {
        if let Message::Text(text) = message.map_err(|e| e.to_string())?
            && text.contains(&probe)
        {
            let _ = socket.close(None).await;
            return Ok(());
        }
    }
    Err("the connection closed before the bus relayed the probe".into())
}
