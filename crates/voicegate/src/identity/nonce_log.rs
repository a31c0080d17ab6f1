//! The store's log of spent nonces: a starting server loads the live ones into its memory, so a
//! captured request does not replay after a restart.
//!
//! This is SQLite's way: a SQLite store serves one machine (one instance), whose memory decides.
//! On PostgreSQL, where several instances share the database, each spent nonce is claimed in the
//! database before the answer instead ([`crate::identity::nonce_claims`]), and nothing is loaded.
//!
//! Uniqueness is decided in memory ([`crate::identity::nonce_store`]); the log is append-only
//! and written behind the answers: one writer task gathers the nonces of 10 ms and appends them
//! in one transaction, one row per key holding that key's nonces end to end, and a stopping
//! server flushes it. What a crash can lose is the nonces of the last 10 ms or so. Measured on
//! the user-info route: a unique index over random nonce hashes made every insert dirty a random
//! page (60 to 80 µs of server time per signed request, 10,000 signed requests per second
//! instead of 58,000); an append that each request waited for still cost 19 µs (34,000 per
//! second); written behind without gathering, 52,000; gathering, 63,500; a row per key rather
//! than per nonce leaves the store about one row per 10 ms. Rows are purged by id once their
//! timestamps' window has passed.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

use crate::clock::{SharedClock, UnixTime};
use crate::identity::error::IdentityError;
use crate::identity::nonce_claims::NonceClaims;
use crate::identity::signatures::WINDOW_SECS;
use crate::store::Db;

/// Nonces appended in one transaction at most.
const BATCH: usize = 2048;
/// How long the writer gathers nonces after the first one of a batch: what a crash can lose.
const GATHER: std::time::Duration = std::time::Duration::from_millis(10);
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

/// Records spent nonces in the store: appended behind the answers on SQLite (the writer starts
/// at the first signed request), claimed before them on PostgreSQL.
pub struct NonceLog {
    db: Db,
    clock: SharedClock,
    writer: OnceLock<mpsc::Sender<Pending>>,
    /// On PostgreSQL: the claims shared with the other instances.
    claims: Option<NonceClaims>,
}

impl NonceLog {
    /// A log over `db`.
    pub fn new(db: Db, clock: SharedClock) -> Self {
        Self {
            claims: NonceClaims::new(&db, clock.clone()),
            db,
            clock,
            writer: OnceLock::new(),
        }
    }

    /// The nonces still live at `now`, as (key id, nonce hash), in the order they were written;
    /// none on PostgreSQL, where the database decides each claim.
    pub async fn live(&self, now: UnixTime) -> Result<Vec<(String, NonceHash)>, IdentityError> {
        if self.claims.is_some() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT key_id, nonce_hashes FROM signature_nonces WHERE expires_at >= $1 ORDER BY id",
        )
        .bind(now)
        .fetch_all(self.db.pool())
        .await?;
        let mut live = Vec::with_capacity(rows.len());
        for row in &rows {
            let key_id: String = row.try_get(0)?;
            let hashes: Vec<u8> = row.try_get(1)?;
            for hash in hashes.chunks_exact(std::mem::size_of::<NonceHash>()) {
                let hash = NonceHash::try_from(hash).expect("chunks of a hash's size");
                live.push((key_id.clone(), hash));
            }
        }
        Ok(live)
    }

    /// Records a nonce this instance accepted, kept until `expires_at`. On SQLite it is handed
    /// to the writer (waiting only when the writer is a whole queue behind). On PostgreSQL it is
    /// claimed in the database first: [`IdentityError::InvalidSignature`] when another instance
    /// (or this one before a restart) spent it already.
    pub async fn spend(
        &self,
        key_id: &str,
        nonce_hash: NonceHash,
        expires_at: UnixTime,
    ) -> Result<(), IdentityError> {
        if let Some(claims) = &self.claims {
            return match claims.claim(key_id, nonce_hash, expires_at).await? {
                true => Ok(()),
                false => Err(IdentityError::InvalidSignature),
            };
        }
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
/// statement and answers each flush. Ends when the log is dropped.
async fn write_batches(db: Db, clock: SharedClock, mut rx: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut purge = Purge::default();
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        // Gather what arrives for a moment more: fewer, larger commits (a busy server wrote a
        // handful of nonces per commit and paid a commit for each handful). The writer sleeps
        // meanwhile rather than waiting on the queue, so that the requests handing nonces over
        // do not wake it one by one.
        if !batch.iter().any(|p| matches!(p, Pending::Flush(_))) {
            tokio::time::sleep(GATHER).await;
            while batch.len() < BATCH
                && let Ok(pending) = rx.try_recv()
            {
                let flush = matches!(pending, Pending::Flush(_));
                batch.push(pending);
                if flush {
                    break;
                }
            }
        }
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
        if !nonces.is_empty() {
            match append(&db, &nonces).await {
                Ok(last_id) => purge.last_id = last_id,
                Err(e) => {
                    tracing::warn!(error = %e, count = nonces.len(), "could not store signed-request nonces")
                }
            }
        }
        for done in flushed {
            let _ = done.send(());
        }
        if let Err(e) = purge.run(&db, clock.now()).await {
            tracing::warn!(error = %e, "could not purge expired nonces");
        }
    }
}

/// Purging by id: rows are appended in time order, and a row appended at time `t` carries a
/// timestamp of at most `t + WINDOW_SECS`, so it has expired by `t + 2 × WINDOW_SECS + 2`. Every
/// minute the writer notes its last id; an id noted that long ago bounds what can go. The first
/// purge after a start sweeps by expiry, for what an earlier run left.
#[derive(Default)]
struct Purge {
    last_id: i64,
    noted: std::collections::VecDeque<(UnixTime, i64)>,
    next: UnixTime,
    swept: bool,
}

impl Purge {
    async fn run(&mut self, db: &Db, now: UnixTime) -> Result<(), sqlx::Error> {
        if now < self.next {
            return Ok(());
        }
        self.next = now + PURGE_EVERY_SECS;
        if !self.swept {
            self.swept = true;
            sqlx::query("DELETE FROM signature_nonces WHERE expires_at < $1")
                .bind(now)
                .execute(db.pool())
                .await?;
        }
        self.noted.push_back((now, self.last_id));
        let mut bound = None;
        while let Some(&(at, id)) = self.noted.front()
            && at + 2 * WINDOW_SECS + 2 <= now
        {
            bound = Some(id);
            self.noted.pop_front();
        }
        if let Some(id) = bound {
            sqlx::query("DELETE FROM signature_nonces WHERE id <= $1")
                .bind(id)
                .execute(db.pool())
                .await?;
        }
        Ok(())
    }
}

/// Rows per multi-row `INSERT`: a write is stored as statements of these sizes, largest first
/// (each size's statement is prepared once), inside one transaction: one commit per write.
const ROWS_PER_INSERT: [usize; 3] = [64, 8, 1];

/// One row of the log: a key's nonces of one write, end to end, kept until the latest expiry.
struct Run {
    key_id: String,
    hashes: Vec<u8>,
    expires_at: UnixTime,
}

/// Appends a batch in one transaction, one row per key (in the order the keys first appear);
/// returns the last row id.
async fn append(db: &Db, batch: &[(String, NonceHash, UnixTime)]) -> Result<i64, sqlx::Error> {
    let mut runs: Vec<Run> = Vec::new();
    for (key_id, hash, expires_at) in batch {
        let run = match runs.iter().position(|run| &run.key_id == key_id) {
            Some(at) => &mut runs[at],
            None => {
                runs.push(Run {
                    key_id: key_id.clone(),
                    hashes: Vec::new(),
                    expires_at: *expires_at,
                });
                runs.last_mut().expect("just pushed")
            }
        };
        run.hashes.extend_from_slice(hash);
        run.expires_at = run.expires_at.max(*expires_at);
    }
    let mut tx = db.pool().begin().await?;
    let mut last_id = 0;
    let mut rest = runs.as_slice();
    for size in ROWS_PER_INSERT {
        let sql = insert_sql(size);
        while rest.len() >= size {
            let (rows, after) = rest.split_at(size);
            // Built from the row count only: no outside text reaches it.
            let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
            for run in rows {
                insert = insert
                    .bind(run.key_id.as_str())
                    .bind(run.hashes.as_slice())
                    .bind(run.expires_at);
            }
            let ids: Vec<i64> = insert
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|row| row.try_get(0))
                .collect::<Result<_, _>>()?;
            last_id = ids.into_iter().max().unwrap_or(last_id);
            rest = after;
        }
    }
    tx.commit().await?;
    Ok(last_id)
}

/// `INSERT … VALUES ($1, $2, $3), … RETURNING id` with `rows` rows.
fn insert_sql(rows: usize) -> String {
    let values = (0..rows)
        .map(|row| format!("(${}, ${}, ${})", 3 * row + 1, 3 * row + 2, 3 * row + 3))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO signature_nonces (key_id, nonce_hashes, expires_at) VALUES {values} RETURNING id"
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::{Clock, ManualClock};

    #[tokio::test]
    async fn a_write_stores_each_keys_nonces_in_one_row_and_loads_them_all() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_sqlite(dir.path()).await.unwrap();
        let clock = ManualClock::new();
        let now = clock.now();
        let log = NonceLog::new(db.clone(), Arc::new(clock));
        // 83 keys, two nonces each, interleaved: 83 rows, written as 64 + 8 + 8 + 1 + 1 + 1
        // (every statement size, and two of two of them).
        let keys = 83;
        let key = |k: usize| format!("vgk_{k}");
        let nonce = |k: usize, n: usize| nonce_hash(&format!("nonce-{k}-{n}"));
        let batch: Vec<_> = (0..2)
            .flat_map(|n| (0..keys).map(move |k| (k, n)))
            .map(|(k, n)| (key(k), nonce(k, n), now + 300 + n as i64))
            .collect();
        append(&db, &batch).await.unwrap();
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM signature_nonces")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(rows, keys as i64);
        let live = log.live(now).await.unwrap();
        let expected: Vec<_> = (0..keys)
            .flat_map(|k| (0..2).map(move |n| (k, n)))
            .map(|(k, n)| (key(k), nonce(k, n)))
            .collect();
        assert_eq!(live, expected);
        // A row lives until the latest expiry among its nonces.
        assert_eq!(log.live(now + 301).await.unwrap().len(), 2 * keys);
        assert!(log.live(now + 302).await.unwrap().is_empty());
        // Through the writer too: appended, flushed, loaded.
        log.spend("vgk_late", nonce_hash("late"), now + 301)
            .await
            .unwrap();
        log.flush().await;
        let live = log.live(now).await.unwrap();
        assert_eq!(
            live.last().unwrap(),
            &("vgk_late".to_string(), nonce_hash("late"))
        );
    }
}
