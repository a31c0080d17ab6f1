//! The store's log of spent nonces: a starting server loads the live ones into its memory, so a
//! captured request does not replay after a restart.
//!
//! Uniqueness is decided in memory ([`crate::identity::nonce_store`]); the log is append-only
//! and written behind the answers: one writer task appends every nonce waiting at that moment in
//! one statement, at once, and a stopping server flushes it. What a crash can lose is the
//! nonces of the last write (milliseconds of requests). Measured on the user-info route: a
//! unique index over random nonce hashes made every insert dirty a random page (60 to 80 µs of
//! server time per signed request, 10,000 signed requests per second instead of 58,000); an
//! append that each request waited for still cost 19 µs (34,000 per second). Rows expire with
//! their timestamp's window and are purged by the same task.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

use crate::clock::{SharedClock, UnixTime};
use crate::identity::error::IdentityError;
use crate::store::Db;

/// Nonces appended in one statement at most (three bound values each).
const BATCH: usize = 256;
/// Requests waiting for the writer at most; more wait for room.
const QUEUE: usize = 4096;
/// How often expired rows are deleted, in seconds.
const PURGE_EVERY_SECS: i64 = 60;

/// The stored form of a nonce: the first 16 bytes of its SHA-256, so rows have a fixed size
/// whatever the client sends.
pub type NonceHash = [u8; 16];

/// The stored form of `nonce`.
pub fn nonce_hash(nonce: &str) -> NonceHash {
    let digest = Sha256::digest(nonce.as_bytes());
    let mut hash = [0u8; 16];
    hash.copy_from_slice(&digest[..16]);
    hash
}

/// What the writer is asked to do.
enum Pending {
    /// Append one spent nonce.
    Nonce {
        key_id: String,
        nonce_hash: NonceHash,
        expires_at: UnixTime,
    },
    /// Answer once everything sent before is stored.
    Flush(oneshot::Sender<()>),
}

/// Appends spent nonces to the store. The writer starts at the first signed request.
pub struct NonceLog {
    db: Db,
    clock: SharedClock,
    writer: OnceLock<mpsc::Sender<Pending>>,
}

impl NonceLog {
    /// A log over `db`.
    pub fn new(db: Db, clock: SharedClock) -> Self {
        Self {
            db,
            clock,
            writer: OnceLock::new(),
        }
    }

    /// The nonces still live at `now`, as (key id, nonce hash).
    pub async fn live(&self, now: UnixTime) -> Result<Vec<(String, NonceHash)>, IdentityError> {
        let rows = sqlx::query(
            "SELECT key_id, nonce_hash FROM signature_nonces WHERE expires_at >= ? ORDER BY id",
        )
        .bind(now)
        .fetch_all(self.db.sqlite())
        .await?;
        let mut live = Vec::with_capacity(rows.len());
        for row in &rows {
            let hash: Vec<u8> = row.try_get(1)?;
            if let Ok(hash) = NonceHash::try_from(hash.as_slice()) {
                live.push((row.try_get(0)?, hash));
            }
        }
        Ok(live)
    }

    /// Hands a spent nonce, kept until `expires_at`, to the writer (waiting only when the
    /// writer is a whole queue behind).
    pub async fn append(
        &self,
        key_id: &str,
        nonce_hash: NonceHash,
        expires_at: UnixTime,
    ) -> Result<(), IdentityError> {
        let pending = Pending::Nonce {
            key_id: key_id.to_string(),
            nonce_hash,
            expires_at,
        };
        let writer = self.writer.get_or_init(|| self.start_writer());
        writer
            .send(pending)
            .await
            .map_err(|_| IdentityError::Unavailable("the nonce store stopped".into()))
    }

    /// Returns once every nonce handed over before is stored (or could not be).
    pub async fn flush(&self) {
        if let Some(writer) = self.writer.get() {
            let (done, stored) = oneshot::channel();
            if writer.send(Pending::Flush(done)).await.is_ok() {
                let _ = stored.await;
            }
        }
    }

    fn start_writer(&self) -> mpsc::Sender<Pending> {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(self.db.clone(), self.clock.clone(), rx));
        tx
    }
}

/// The writer: waits for a nonce, takes every other one already waiting, appends them in one
/// statement and answers each. Ends when the log is dropped.
async fn write_batches(db: Db, clock: SharedClock, mut rx: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut next_purge = 0;
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let mut flushed = Vec::new();
        let mut nonces = Vec::with_capacity(batch.len());
        for pending in batch.drain(..) {
            match pending {
                Pending::Nonce {
                    key_id,
                    nonce_hash,
                    expires_at,
                } => nonces.push((key_id, nonce_hash, expires_at)),
                Pending::Flush(done) => flushed.push(done),
            }
        }
        if !nonces.is_empty()
            && let Err(e) = append(&db, &nonces).await
        {
            tracing::warn!(error = %e, count = nonces.len(), "could not store signed-request nonces");
        }
        for done in flushed {
            let _ = done.send(());
        }
        let now = clock.now();
        if now >= next_purge {
            next_purge = now + PURGE_EVERY_SECS;
            let purged = sqlx::query("DELETE FROM signature_nonces WHERE expires_at < ?")
                .bind(now)
                .execute(db.sqlite())
                .await;
            if let Err(e) = purged {
                tracing::warn!(error = %e, "could not purge expired nonces");
            }
        }
    }
}

/// Appends a batch in one statement.
async fn append(db: &Db, batch: &[(String, NonceHash, UnixTime)]) -> Result<(), sqlx::Error> {
    let rows = vec!["(?, ?, ?)"; batch.len()].join(", ");
    let sql =
        format!("INSERT INTO signature_nonces (key_id, nonce_hash, expires_at) VALUES {rows}");
    // Only placeholders are formatted in: the values are bound.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (key_id, nonce_hash, expires_at) in batch {
        query = query.bind(key_id).bind(&nonce_hash[..]).bind(*expires_at);
    }
    query.execute(db.sqlite()).await?;
    Ok(())
}
