//! Notifications between instances sharing a PostgreSQL database: one `LISTEN` connection per
//! process, its notifications handed to every subscriber in the process.
//!
//! PostgreSQL delivers a `NOTIFY` at commit to every listening session. A notification sent
//! while the listening connection was down is lost, so after every reconnection subscribers get
//! [`Notice::Resync`] and read again what they follow (a poll stays behind it as a fallback). On
//! SQLite (one instance) nothing is listened to and subscribers never hear anything.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::broadcast;

use super::{Backend, Db};

/// The channel identity changes are announced on (users, keys, revocations): the identity
/// epoch's triggers notify it.
pub const INVALIDATE: &str = "voicegate_invalidate";

/// The channel new relayed events are announced on (the payload is the event row's id).
pub const EVENTS: &str = "voicegate_events";

/// Every channel this process listens to.
const CHANNELS: [&str; 2] = [INVALIDATE, EVENTS];

/// Notices a subscriber may miss before it is told to resync (it lagged).
const BUFFER: usize = 256;

/// Longest wait between two attempts to listen again after a failure.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What a subscriber hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A notification on `channel` with its payload.
    Message {
        /// The channel.
        channel: String,
        /// The payload (at most 8000 bytes).
        payload: String,
    },
    /// The listening connection was (re)established or the subscriber fell behind: what was
    /// sent meanwhile is lost, read the state again.
    Resync,
}

/// The process's listener, started on first use.
#[derive(Debug, Default)]
pub(super) struct Listener {
    sender: OnceLock<broadcast::Sender<Notice>>,
}

impl Db {
    /// A subscription to the notifications of other instances (and this one). Starts the
    /// listening connection on first use; on SQLite it never yields.
    pub fn notifications(&self) -> broadcast::Receiver<Notice> {
        let sender = self.listener.sender.get_or_init(|| {
            let (sender, _) = broadcast::channel(BUFFER);
            if self.backend() == Backend::Postgres
                && let Some(url) = self.postgres_url()
            {
                let url = url.expose().to_string();
                tokio::spawn(listen(url, sender.clone()));
            }
            sender
        });
        sender.subscribe()
    }

    /// Sends `payload` on `channel` to every listening instance when the surrounding work
    /// commits (at once outside a transaction). Nothing on SQLite.
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), sqlx::Error> {
        if self.backend() == Backend::Postgres {
            // pg_notify returns void, which the Any driver cannot read: count the one row.
            sqlx::query("SELECT COUNT(*) FROM (SELECT pg_notify($1, $2)) AS sent")
                .bind(channel)
                .bind(payload)
                .execute(self.pool())
                .await?;
        }
        Ok(())
    }
}

/// Shared listener state for [`Db`]'s clones.
pub(super) fn listener() -> Arc<Listener> {
    Arc::new(Listener::default())
}

/// Listens for as long as the runtime runs, reconnecting with a growing pause after failures.
async fn listen(url: String, sender: broadcast::Sender<Notice>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match PgListener::connect(&url).await {
            Ok(mut listener) => match listener.listen_all(CHANNELS).await {
                Ok(()) => {
                    backoff = Duration::from_millis(100);
                    let _ = sender.send(Notice::Resync);
                    relay(&mut listener, &sender).await;
                }
                Err(e) => tracing::warn!(error = %e, "could not listen for other instances"),
            },
            Err(e) => tracing::warn!(error = %e, "could not connect to listen for other instances"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Hands notifications on (to nobody when nobody subscribes) until the connection fails.
async fn relay(listener: &mut PgListener, sender: &broadcast::Sender<Notice>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                let notice = Notice::Message {
                    channel: notification.channel().to_string(),
                    payload: notification.payload().to_string(),
                };
                let _ = sender.send(notice);
            }
            // The connection was lost and made again: notifications may be missing.
            Ok(None) => {
                let _ = sender.send(Notice::Resync);
            }
            Err(e) => {
                tracing::warn!(error = %e, "lost the connection that listens for other instances");
                return;
            }
        }
    }
}
