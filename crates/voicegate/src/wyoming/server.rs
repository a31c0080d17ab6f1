//! The Wyoming listener: accepts connections, refuses clients outside `wyoming.allow` and
//! those past `wyoming.max_connections` (each told why in an `error` event), and serves the
//! rest. Its task owns every connection: aborting it ends them all.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::address_policy::AddressBlocks;
use crate::wyoming::codec;
use crate::wyoming::connection;
use crate::wyoming::context::WyomingContext;
use crate::wyoming::event::{ErrorCode, Event, Refusal};

/// How long a refused client is given to take its `error` event.
const REFUSAL_WRITE: Duration = Duration::from_secs(2);

/// The bound Wyoming listener, not yet accepting.
pub struct WyomingServer {
    listener: TcpListener,
    allow: AddressBlocks,
    ctx: Arc<WyomingContext>,
}

impl WyomingServer {
    /// Binds `wyoming.listen`. A listener that lets every address in is logged as a warning.
    pub async fn bind(ctx: WyomingContext) -> std::io::Result<Self> {
        let listener = TcpListener::bind(ctx.config.listen).await?;
        let allow = ctx.config.allowlist();
        if allow.has_everything() {
            tracing::warn!(
                "wyoming.allow lets every address in: Wyoming has no authentication, so anyone \
                 who reaches {} can use the voices and recognisers it offers",
                ctx.config.listen
            );
        }
        Ok(Self {
            listener,
            allow,
            ctx: Arc::new(ctx),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts and serves connections until the returned task is aborted (which ends every
    /// connection with it).
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.accept_loop())
    }

    async fn accept_loop(self) {
        let mut connections = JoinSet::new();
        let max = self.ctx.config.max_connections;
        if let Ok(address) = self.local_addr() {
            tracing::info!(%address, "Wyoming server listening");
        }
        loop {
            let (stream, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, for instance: wait rather than spin.
                    tracing::warn!(error = %e, "the Wyoming server could not accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            while connections.try_join_next().is_some() {}
            if !self.allow.contains(peer.ip()) {
                tracing::warn!(%peer, "a Wyoming client outside wyoming.allow was refused");
                let refusal = Refusal::new(
                    ErrorCode::NotAllowed,
                    format!("{} is not in wyoming.allow", peer.ip()),
                );
                connections.spawn(refuse(stream, refusal));
                continue;
            }
            if connections.len() >= max {
                let refusal = Refusal::new(
                    ErrorCode::Busy,
                    format!("{max} connections are open (wyoming.max_connections); retry shortly"),
                );
                connections.spawn(refuse(stream, refusal));
                continue;
            }
            let _ = stream.set_nodelay(true);
            connections.spawn(connection::serve(stream, self.ctx.clone()));
        }
    }
}

/// Tells a refused client why, then closes.
async fn refuse(stream: TcpStream, refusal: Refusal) {
    let bytes = codec::encode(&Event::error(&refusal));
    let (read, mut write) = stream.into_split();
    let written = tokio::time::timeout(REFUSAL_WRITE, async {
        write.write_all(&bytes).await?;
        write.shutdown().await
    })
    .await;
    if matches!(written, Ok(Ok(()))) {
        connection::drain(read).await;
    }
}
