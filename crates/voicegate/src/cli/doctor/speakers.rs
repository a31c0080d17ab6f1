//! The speakers' peer: this machine's output for the local backend; for Snapcast, snapserver's
//! control port (`Server.GetStatus`: version, clients, streams) and whether the configured
//! stream sources are snapserver's; with a managed snapserver, its program.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::cli::doctor::report::{Finding, bounded};
use crate::config::{Config, LocalOutput, SpeakerBackendKind, SpeakersConfig};
use crate::speakers::snapcast::control::MAX_LINE;

/// How long snapserver has to answer.
const LIMIT: Duration = Duration::from_secs(3);

/// The speakers' findings.
pub async fn check(config: &Config) -> Vec<Finding> {
    let speakers = &config.speakers;
    if speakers.manage_snapserver {
        return managed(speakers).await;
    }
    match speakers.backend {
        SpeakerBackendKind::Local => vec![local(speakers)],
        SpeakerBackendKind::Snapcast => {
            let fix = format!(
                "start snapserver (its [tcp] control port at {}), correct \
                 speakers.snapcast_control, or set speakers.backend = \"local\"",
                speakers.snapcast_control
            );
            let what = format!("Snapcast at {}", speakers.snapcast_control);
            bounded(LIMIT, &what, &fix, async {
                match status(&speakers.snapcast_control).await {
                    Ok(status) => described(speakers, &status),
                    Err(e) => vec![Finding::fail(format!("{what}: {e}"), fix.clone())],
                }
            })
            .await
        }
    }
}

/// The local backend's output.
fn local(speakers: &SpeakersConfig) -> Finding {
    let fix = "install alsa-utils (aplay), or set speakers.local_output = \"null\" or \"wav:PATH\"";
    match speakers.local_output() {
        Some(LocalOutput::Aplay) => match program_path("aplay") {
            Some(path) => Finding::ok(format!(
                "speakers: local backend, played by {}",
                path.display()
            )),
            None => Finding::warn(
                "speakers: local backend, but aplay is not in PATH: nothing can play",
                fix,
            ),
        },
        Some(LocalOutput::Wav(path)) => {
            let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
            if folder.is_none_or(Path::is_dir) {
                Finding::ok(format!(
                    "speakers: local backend, written to {}",
                    path.display()
                ))
            } else {
                Finding::fail(
                    format!(
                        "speakers: local backend writes {}, whose folder does not exist",
                        path.display()
                    ),
                    "create the folder, or correct speakers.local_output",
                )
            }
        }
        Some(LocalOutput::Null) => Finding::ok("speakers: local backend, output null (silent)"),
        None => Finding::fail("speakers: local_output is not understood", fix),
    }
}

/// The snapserver voicegate runs: its program, and its state when a server runs it.
async fn managed(speakers: &SpeakersConfig) -> Vec<Finding> {
    let program = &speakers.snapserver_program;
    let mut findings = vec![match program_path(program) {
        Some(path) => Finding::ok(format!("managed snapserver: program {}", path.display())),
        None => Finding::fail(
            format!("managed snapserver: {program} is not found"),
            "install snapserver (Debian: snapserver), set speakers.snapserver_program, or \
             set speakers.manage_snapserver = false",
        ),
    }];
    let resolved = speakers.resolved();
    let address = resolved.snapcast_control.clone();
    let fix = "voicegate serve runs it: look at the server's log";
    let what = format!("managed snapserver at {address}");
    findings.extend(
        bounded(LIMIT, &what, fix, async {
            if TcpStream::connect(&address).await.is_err() {
                return vec![Finding::ok(format!(
                    "managed snapserver not running at {address} (voicegate serve starts it)"
                ))];
            }
            match status(&address).await {
                Ok(status) => described(&resolved, &status),
                Err(e) => vec![Finding::fail(format!("{what}: {e}"), fix)],
            }
        })
        .await,
    );
    findings
}

/// The status's version, clients and streams, and the configured streams checked against it.
fn described(speakers: &SpeakersConfig, status: &Value) -> Vec<Finding> {
    let server = &status["server"];
    let version = server["server"]["snapserver"]["version"]
        .as_str()
        .unwrap_or("of unknown version");
    let clients: Vec<&Value> = server["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|group| group["clients"].as_array().into_iter().flatten())
        .collect();
    let connected = clients
        .iter()
        .filter(|client| client["connected"].as_bool() == Some(true))
        .count();
    let streams: Vec<&Value> = server["streams"].as_array().into_iter().flatten().collect();
    let listed: Vec<String> = streams
        .iter()
        .map(|s| {
            format!(
                "{} ({})",
                s["id"].as_str().unwrap_or("?"),
                s["status"].as_str().unwrap_or("?")
            )
        })
        .collect();
    let mut findings = vec![Finding::ok(format!(
        "Snapcast: snapserver {version} at {}, {} client(s) ({connected} connected), {} \
         stream(s): {}",
        speakers.snapcast_control,
        clients.len(),
        streams.len(),
        listed.join(", ")
    ))];
    let configured = speakers.streams().unwrap_or_default();
    if configured.is_empty() {
        findings.push(Finding::warn(
            "speakers.snapcast_streams is empty: no session can play",
            "list snapserver's TCP sources as NAME=tcp://HOST:PORT in speakers.snapcast_streams",
        ));
    }
    let ids: Vec<&str> = streams.iter().filter_map(|s| s["id"].as_str()).collect();
    let mut matched = Vec::new();
    for (name, address) in &configured {
        let Some(stream) = streams.iter().find(|s| s["id"].as_str() == Some(name)) else {
            findings.push(Finding::fail(
                format!(
                    "stream {name} is not one of snapserver's ({})",
                    ids.join(", ")
                ),
                format!(
                    "add `source = tcp://{address}?name={name}&mode=server` to snapserver.conf, \
                     or correct speakers.snapcast_streams"
                ),
            ));
            continue;
        };
        let uri = &stream["uri"];
        let (scheme, host) = (uri["scheme"].as_str(), uri["host"].as_str());
        if scheme == Some("tcp") && host == Some(address.as_str()) {
            matched.push(name.as_str());
        } else {
            findings.push(Finding::warn(
                format!(
                    "stream {name} is {} at snapserver, configured as tcp://{address}",
                    uri["raw"].as_str().unwrap_or("?")
                ),
                "make speakers.snapcast_streams match snapserver.conf's sources \
                 (tcp, mode=server)",
            ));
        }
    }
    if !matched.is_empty() {
        findings.push(Finding::ok(format!(
            "stream sources {} are snapserver's",
            matched.join(", ")
        )));
    }
    findings
}

/// snapserver's answer to `Server.GetStatus` on a connection of its own.
async fn status(address: &str) -> Result<Value, String> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("connecting: {e}"))?;
    let (read, mut write) = stream.into_split();
    write
        .write_all(b"{\"id\":1,\"jsonrpc\":\"2.0\",\"method\":\"Server.GetStatus\"}\r\n")
        .await
        .map_err(|e| format!("sending: {e}"))?;
    let mut lines = BufReader::new(read.take(MAX_LINE as u64 * 4)).lines();
    // Notifications may come first; the answer carries the request's id.
    for _ in 0..64 {
        let line = lines
            .next_line()
            .await
            .map_err(|e| format!("reading: {e}"))?
            .ok_or("the connection closed before the answer")?;
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            return Err("the answer is not JSON: is this snapserver's control port?".into());
        };
        if message["id"] == 1 {
            if let Some(error) = message.get("error") {
                return Err(format!("Server.GetStatus refused: {error}"));
            }
            return Ok(message["result"].clone());
        }
    }
    Err("no answer to Server.GetStatus".into())
}

/// Where `program` is: itself when it names a path, else the first match in `PATH`.
fn program_path(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let path = PathBuf::from(program);
        return path.is_file().then_some(path);
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_is_described_and_configured_streams_are_checked_against_it() {
        let status = serde_json::json!({"server": {
            "server": {"snapserver": {"version": "0.26.0"}},
            "groups": [{"clients": [{"connected": true}, {"connected": false}]}],
            "streams": [
                {"id": "S1", "status": "idle",
                 "uri": {"scheme": "tcp", "host": "127.0.0.1:4953", "raw": "tcp://127.0.0.1:4953"}},
                {"id": "S2", "status": "playing",
                 "uri": {"scheme": "pipe", "host": "", "raw": "pipe:///tmp/fifo"}},
            ],
        }});
        let speakers = SpeakersConfig {
            backend: SpeakerBackendKind::Snapcast,
            snapcast_streams: vec![
                "S1=tcp://127.0.0.1:4953".into(),
                "S2=tcp://127.0.0.1:4954".into(),
                "S3=tcp://127.0.0.1:4955".into(),
            ],
            ..SpeakersConfig::default()
        };
        let findings = described(&speakers, &status);
        let text: Vec<String> = findings.iter().map(Finding::lines).collect();
        let text = text.join("\n");
        assert!(
            text.contains("ok    Snapcast: snapserver 0.26.0 at 127.0.0.1:1705, 2 client(s) (1 connected), 2 stream(s): S1 (idle), S2 (playing)"),
            "{text}"
        );
        assert!(
            text.contains("warn  stream S2 is pipe:///tmp/fifo at snapserver"),
            "{text}"
        );
        assert!(
            text.contains("fail  stream S3 is not one of snapserver's (S1, S2)"),
            "{text}"
        );
        assert!(
            text.contains("source = tcp://127.0.0.1:4955?name=S3&mode=server"),
            "{text}"
        );
        assert!(
            text.contains("ok    stream sources S1 are snapserver's"),
            "{text}"
        );
    }
}
