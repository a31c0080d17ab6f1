//! The store's record of spent nonces: a signed request is accepted only once its nonce is
//! written, so a captured request replays neither after a restart nor against another server on
//! the same store.
//!
//! One writer task takes the nonces of every request waiting at that moment and writes them in
//! one transaction (group commit), so that a burst of signed requests costs a few commits rather
//! than one each. Rows expire with their timestamp's acceptance window and are purged by the
//! same task.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use crate::clock::{SharedClock, UnixTime};
use crate::identity::error::IdentityError;
use crate::store::Db;

/// Nonces written in one transaction at most.
const BATCH: usize = 512;
/// Requests waiting for the writer at most; more wait for room.
const QUEUE: usize = 4096;
/// How often expired rows are deleted, in seconds.
const PURGE_EVERY_SECS: i64 = 60;

/// One nonce to record, and where its outcome goes.
struct Pending {
    key_id: String,
    nonce_hash: [u8; 16],
    expires_at: UnixTime,
    reply: oneshot::Sender<Result<bool, String>>,
}

/// Records nonces in the store. The writer starts at the first signed request.
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

    /// Records `nonce` for `key_id` until `expires_at`: `true` the first time, `false` when the
    /// store already has it (a replay, here or on another server).
    pub async fn record(
        &self,
        key_id: &str,
        nonce: &str,
        expires_at: UnixTime,
    ) -> Result<bool, IdentityError> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            key_id: key_id.to_string(),
            nonce_hash: nonce_hash(nonce),
            expires_at,
            reply,
        };
        let writer = self.writer.get_or_init(|| self.start_writer());
        let unavailable = || IdentityError::Unavailable("the nonce store stopped".into());
        writer.send(pending).await.map_err(|_| unavailable())?;
        answer
            .await
            .map_err(|_| unavailable())?
            .map_err(IdentityError::Unavailable)
    }

    fn start_writer(&self) -> mpsc::Sender<Pending> {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(self.db.clone(), self.clock.clone(), rx));
        tx
    }
}

/// The first 16 bytes of the nonce's SHA-256: fixed-size rows whatever the client sends.
fn nonce_hash(nonce: &str) -> [u8; 16] {
    let digest = Sha256::digest(nonce.as_bytes());
    let mut hash = [0u8; 16];
    hash.copy_from_slice(&digest[..16]);
    hash
}

/// The writer: waits for a nonce, takes every other one already waiting, writes them in one
/// transaction and answers each. Ends when the log is dropped.
async fn write_batches(db: Db, clock: SharedClock, mut rx: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut next_purge = 0;
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        match write(&db, &batch).await {
            Ok(fresh) => {
                for (pending, fresh) in batch.drain(..).zip(fresh) {
                    let _ = pending.reply.send(Ok(fresh));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not record signed-request nonces");
                for pending in batch.drain(..) {
                    let _ = pending.reply.send(Err("the nonce store failed".into()));
                }
            }
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

/// Inserts a batch in one transaction; for each nonce, whether it was new. A nonce twice in
/// the batch is new only the first time.
async fn write(db: &Db, batch: &[Pending]) -> Result<Vec<bool>, sqlx::Error> {
    let mut tx = db.sqlite().begin().await?;
    let mut fresh = Vec::with_capacity(batch.len());
    for pending in batch {
        let done = sqlx::query(
            "INSERT INTO signature_nonces (key_id, nonce_hash, expires_at) VALUES (?, ?, ?)
             ON CONFLICT DO NOTHING",
        )
        .bind(&pending.key_id)
        .bind(&pending.nonce_hash[..])
        .bind(pending.expires_at)
        .execute(&mut *tx)
        .await?;
        fresh.push(done.rows_affected() == 1);
    }
    tx.commit().await?;
    Ok(fresh)
}
