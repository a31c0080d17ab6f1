//! `voicegate doctor`: checks the configuration, the data directory, the store and the peers, and
//! says what to fix.

use std::process::ExitCode;
use std::time::Duration;

use crate::app;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::identity::signing_key::KeySource;
use crate::store::Db;
use crate::store::instances::Instances;
use crate::store::pg_tools;

/// Runs every check, prints one line per check, and fails if any check failed.
pub async fn run(config: &Config, clock: SharedClock) -> ExitCode {
    let mut failed = false;
    println!(
        "ok    configuration loaded (listen {}, data_dir {})",
        config.listen,
        config.data_dir.display()
    );
    match app::open_identity(config, clock).await {
        Ok((db, identity, key_source)) => {
            failed |= !store_checks(config, &db).await;
            let key = match key_source {
                KeySource::Configured => "from SECRET",
                KeySource::File => "from secret_file",
                KeySource::Generated => "generated, kept in the data directory",
            };
            println!("ok    signing key {key}");
            match identity.user_count().await {
                Ok(0) => println!(
                    "warn  no users: create one with `voicegate --data-dir {} user add NAME`",
                    config.data_dir.display()
                ),
                Ok(n) => println!("ok    {n} user(s)"),
                Err(e) => {
                    failed = true;
                    println!("fail  reading users: {e}");
                }
            }
            db.close().await;
        }
        Err(e) => {
            failed = true;
            println!("fail  {e}");
        }
    }
    let url = format!("ws://{}:{}/core", config.ovos.ws_host, config.ovos.ws_port);
    match tokio::time::timeout(Duration::from_secs(3), bus_round_trip(&url)).await {
        Ok(Ok(())) => println!("ok    OVOS message bus answers at {url}"),
        Ok(Err(e)) => println!("warn  OVOS message bus at {url}: {e}"),
        Err(_) => println!("warn  OVOS message bus at {url}: no answer within 3 s"),
    }
    if config.ovos.api_key.as_ref().is_none_or(|k| k.is_empty()) {
        println!("warn  API_KEY is not set: the routes served by skill-rest-api answer 503");
    }
    match tokio::task::spawn_blocking(speech_check).await {
        Ok(Ok(summary)) => println!("ok    speech engines: {summary}"),
        Ok(Err(e)) => {
            failed = true;
            println!("fail  speech engines: {e}");
        }
        Err(e) => {
            failed = true;
            println!("fail  speech engines: {e}");
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The store's lines: the backend and schema, the instances seen recently, and on PostgreSQL
/// the notification delay. Answers whether all passed.
async fn store_checks(config: &Config, db: &Db) -> bool {
    let mut passed = true;
    let where_ = crate::cli::migrate::describe(config);
    match db.schema_version().await {
        Ok(version) => println!(
            "ok    store: backend {}, {where_}, schema version {version}",
            db.backend().name()
        ),
        Err(e) => {
            passed = false;
            println!("fail  store: {where_}: reading the schema version: {e}");
        }
    }
    let within = Duration::from_millis(config.store.heartbeat_ms)
        .saturating_mul(crate::store::instances::STALE_BEATS);
    match Instances::alive(db, within).await {
        Ok(rows) if rows.is_empty() => println!(
            "ok    no instance seen within {} s (no server running)",
            within.as_secs()
        ),
        Ok(rows) => {
            println!(
                "ok    {} instance(s) seen within {} s:",
                rows.len(),
                within.as_secs()
            );
            for row in rows {
                println!(
                    "      instance {} host {} pid {} version {} seen {:.1} s ago",
                    row.id,
                    row.host,
                    row.pid,
                    row.version,
                    row.seen_ms_ago as f64 / 1000.0
                );
            }
        }
        Err(e) => {
            passed = false;
            println!("fail  reading the instances: {e}");
        }
    }
    if let Some(url) = db.postgres_url() {
        match pg_tools::notification_delay(url, Duration::from_secs(5)).await {
            Ok(delay) => println!(
                "ok    notification channel: LISTEN/NOTIFY delay {:.1} ms",
                delay.as_secs_f64() * 1000.0
            ),
            Err(e) => {
                passed = false;
                println!("fail  notification channel: {e}");
            }
        }
    }
    passed
}

/// Connects to the bus, sends a message and waits for the bus to relay it back.
async fn bus_round_trip(url: &str) -> Result<(), String> {
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

/// Starts the engines and speaks a word with each, at 48 kHz.
fn speech_check() -> Result<String, String> {
    use speech::synth::{Modifiers, SynthesisRequest};
    let synth = speech::Synthesizer::new().map_err(|e| e.to_string())?;
    for voice in ["espeak:en-us", "flite:slt"] {
        let request = SynthesisRequest {
            voice,
            text: "ready",
            modifiers: Modifiers::default(),
            sample_rate: speech::SampleRate::HZ_48000,
        };
        let audio = synth
            .render(&request)
            .map_err(|e| format!("{voice}: {e}"))?;
        if audio.samples.is_empty() {
            return Err(format!("{voice} produced no audio"));
        }
    }
    Ok(format!(
        "{} voices (espeak-ng and flite speak)",
        synth.voices().len()
    ))
}
