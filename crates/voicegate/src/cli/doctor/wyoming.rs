//! The Wyoming server's port: free for `serve` to bind, or already served by voicegate.
//!
//! Run by `doctor::run` with `[wyoming]`'s `enabled` and `listen`.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::cli::doctor::report::Finding;

/// How long a server on the port has to answer `describe`.
const LIMIT: Duration = Duration::from_secs(2);
/// The longest header line or data read from it.
const MAX_READ: u64 = 1 << 20;

/// Whether the Wyoming server can listen at `listen`: off is fine; the port free (`serve`
/// binds it) or held by a running voicegate (its `describe` answer names voicegate) is fine;
/// held by anything else, or not bindable at all, fails.
pub async fn check(enabled: bool, listen: SocketAddr) -> Vec<Finding> {
    if !enabled {
        return vec![Finding::ok("Wyoming server off (wyoming.enabled = false)")];
    }
    let fix = "stop what listens there, or set wyoming.listen (VOICEGATE_WYOMING__LISTEN) to a \
               free port";
    let error = match TcpListener::bind(listen) {
        Ok(listener) => {
            drop(listener);
            return vec![Finding::ok(format!(
                "Wyoming port {listen} is free (serve listens there)"
            ))];
        }
        Err(e) => e,
    };
    vec![match error.kind() {
        ErrorKind::AddrInUse => match describe(listen).await {
            Ok(info) if info.to_ascii_lowercase().contains("voicegate") => Finding::ok(format!(
                "Wyoming port {listen} is served by voicegate (a running server answers \
                 describe)"
            )),
            Ok(_) => Finding::fail(
                format!("Wyoming port {listen} is held by another Wyoming server"),
                fix,
            ),
            Err(e) => Finding::fail(
                format!("Wyoming port {listen} is held by another program ({e})"),
                fix,
            ),
        },
        ErrorKind::AddrNotAvailable => Finding::fail(
            format!("Wyoming address {listen}: no interface of this machine has it"),
            "set wyoming.listen to an address of this machine (127.0.0.1:10200)",
        ),
        ErrorKind::PermissionDenied => Finding::fail(
            format!("Wyoming port {listen}: binding it needs privileges"),
            "set wyoming.listen to a port above 1023 (Home Assistant's default is 10200)",
        ),
        _ => Finding::fail(format!("Wyoming port {listen}: {error}"), fix),
    }]
}

/// Sends Wyoming's `describe` and answers the `info` event's header and data as text.
async fn describe(listen: SocketAddr) -> Result<String, String> {
    let target = connectable(listen);
    tokio::time::timeout(LIMIT, async move {
        let stream = TcpStream::connect(target)
            .await
            .map_err(|e| format!("connecting: {e}"))?;
        let (read, mut write) = stream.into_split();
        write
            .write_all(b"{\"type\":\"describe\"}\n")
            .await
            .map_err(|e| format!("sending describe: {e}"))?;
        let mut read = BufReader::new(read.take(MAX_READ));
        let mut line = String::new();
        read.read_line(&mut line)
            .await
            .map_err(|e| format!("reading: {e}"))?;
        let header: Value =
            serde_json::from_str(&line).map_err(|_| "it does not speak Wyoming".to_string())?;
        if header["type"] != "info" {
            return Err(format!("it answered {} to describe", header["type"]));
        }
        let length = header["data_length"].as_u64().unwrap_or(0).min(MAX_READ);
        let mut data = vec![0; usize::try_from(length).unwrap_or(0)];
        read.read_exact(&mut data)
            .await
            .map_err(|e| format!("reading info's data: {e}"))?;
        Ok(format!("{line}{}", String::from_utf8_lossy(&data)))
    })
    .await
    .map_err(|_| format!("no answer to describe within {} s", LIMIT.as_secs()))?
}

/// The address to connect to for a listening one (every interface: loopback).
fn connectable(listen: SocketAddr) -> SocketAddr {
    if listen.ip().is_unspecified() {
        let loopback = match listen {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        };
        SocketAddr::new(loopback, listen.port())
    } else {
        listen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::doctor::report::Status;

    /// A Wyoming server on a free port answering `describe` with `program`'s info.
    async fn wyoming_server(program: &'static str) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let data =
                    serde_json::json!({"tts": [{"name": program, "voices": []}]}).to_string();
                let header = format!(
                    "{{\"type\":\"info\",\"data_length\":{},\"version\":\"1.5.0\"}}\n",
                    data.len()
                );
                let _ = stream.write_all(format!("{header}{data}").as_bytes()).await;
            }
        });
        address
    }

    #[tokio::test]
    async fn the_port_is_free_served_by_voicegate_or_held_by_something_else() {
        let findings = check(false, "127.0.0.1:10200".parse().unwrap()).await;
        assert_eq!(findings[0].status, Status::Ok);
        assert!(findings[0].text.contains("off"), "{findings:?}");

        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = free.local_addr().unwrap();
        drop(free);
        let findings = check(true, address).await;
        assert_eq!(findings[0].status, Status::Ok, "{findings:?}");
        assert!(findings[0].text.contains("is free"), "{findings:?}");

        let ours = wyoming_server("voicegate").await;
        let findings = check(true, ours).await;
        assert_eq!(findings[0].status, Status::Ok, "{findings:?}");
        assert!(
            findings[0].text.contains("served by voicegate"),
            "{findings:?}"
        );

        let theirs = wyoming_server("piper").await;
        let findings = check(true, theirs).await;
        assert_eq!(findings[0].status, Status::Fail, "{findings:?}");
        assert!(
            findings[0].text.contains("another Wyoming server"),
            "{findings:?}"
        );
        assert!(
            findings[0]
                .fix
                .as_deref()
                .is_some_and(|fix| fix.contains("wyoming.listen")),
            "{findings:?}"
        );

        // A listener that never answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let findings = check(true, silent.local_addr().unwrap()).await;
        assert_eq!(findings[0].status, Status::Fail, "{findings:?}");
        assert!(findings[0].text.contains("another program"), "{findings:?}");
    }
}
