//! Nonces claimed in PostgreSQL, where several instances share the database: every nonce this
//! instance accepts is inserted into `signature_nonce_claims` (unique per key and nonce hash)
//! before the request is answered, with `INSERT … ON CONFLICT DO NOTHING`; a row that was not
//! inserted is a nonce another instance (or this one before a restart) already accepted, and the
//! request gets the same 401 as any replay.
//!
//! The in-memory check ([`crate::identity::nonce_store`]) stays in front, so a replay to the same
//! instance costs no round trip, and only correctly signed requests reach the database.
//! [`CLAIMERS`] tasks per instance, each with a connection of its own, claim what the requests
//! hand them: a claimer takes whatever is waiting and inserts it in one statement (a multi-row
//! `INSERT` of up to [`BATCH`] rows, one round trip) while the other gathers what arrives
//! meanwhile, so a busy instance claims many nonces per round trip and an idle one adds one round
//! trip to a signed request. Those connections commit with `synchronous_commit = off`: a claim is visible to every other session as soon as it commits,
//! and what a crash of PostgreSQL itself can lose is the claims of its last few hundred
//! milliseconds (as SQLite's log can lose its last 10 ms).
//!
//! Expired rows are deleted every minute in batches of [`PURGE_BATCH`] rows (rows locked by
//! another instance's purge are skipped), a minute after their expiry so that instances whose
//! clocks differ by less than that do not delete rows another still needs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

use sqlx::{Connection, Row};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::clock::{SharedClock, UnixTime};
use crate::identity::error::IdentityError;
use crate::secret::Secret;
use crate::store::{Backend, Db};

/// A nonce's stored form (the first 16 bytes of its SHA-256, as the log stores it).
type NonceHash = [u8; 16];

/// Claimers per instance, each with its connection: while one waits for the database, the next
/// gathers the claims arriving meanwhile (a single claimer left a busy instance waiting on its
/// round trips).
const CLAIMERS: usize = 2;
/// Nonces claimed in one statement at most.
const BATCH: usize = 64;
/// Requests waiting for the claimer at most; more wait for room.
const QUEUE: usize = 4096;
/// How often expired claims are deleted, in seconds.
const PURGE_EVERY_SECS: i64 = 60;
/// How long after its expiry a claim is deleted: the clock difference tolerated between
/// instances.
const PURGE_SLACK_SECS: i64 = 60;
/// Rows deleted per statement when purging.
const PURGE_BATCH: i64 = 10_000;
/// Statements per purge at most (the rest waits for the next purge).
const PURGE_ROUNDS: usize = 100;

/// The answer to one claim: whether this was the nonce's first use, or why it is unknown.
type Answer = Result<bool, String>;

/// One nonce handed to the claimer.
struct Claim {
    key_id: String,
    nonce_hash: NonceHash,
    expires_at: UnixTime,
    answer: oneshot::Sender<Answer>,
}

/// The claims of this instance in the shared database.
pub struct NonceClaims {
    db: Db,
    url: Secret,
    clock: SharedClock,
    claimer: OnceLock<mpsc::Sender<Claim>>,
}

impl NonceClaims {
    /// Claims over `db` when it is PostgreSQL; `None` on SQLite (one machine: the in-memory
    /// check and the log behind the answers suffice).
    pub fn new(db: &Db, clock: SharedClock) -> Option<Self> {
        if db.backend() != Backend::Postgres {
            return None;
        }
        Some(Self {
            db: db.clone(),
            url: db.postgres_url()?.clone(),
            clock,
            claimer: OnceLock::new(),
        })
    }

    /// Claims a nonce for `key_id` until `expires_at`: `Ok(true)` the first time any instance
    /// claims it, `Ok(false)` when it was claimed before (a replay).
    pub async fn claim(
        &self,
        key_id: &str,
        nonce_hash: NonceHash,
        expires_at: UnixTime,
    ) -> Result<bool, IdentityError> {
        let (answer, answered) = oneshot::channel();
        let claim = Claim {
            key_id: key_id.to_string(),
            nonce_hash,
            expires_at,
            answer,
        };
        let claimer = self.claimer.get_or_init(|| self.start_claimer());
        let stopped = || IdentityError::Unavailable("the nonce store stopped".into());
        claimer.send(claim).await.map_err(|_| stopped())?;
        answered
            .await
            .map_err(|_| stopped())?
            .map_err(IdentityError::Unavailable)
    }

    fn start_claimer(&self) -> mpsc::Sender<Claim> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let purges = Arc::new(Purges::default());
        for _ in 0..CLAIMERS {
            tokio::spawn(claim_batches(
                self.db.clone(),
                self.url.clone(),
                self.clock.clone(),
                rx.clone(),
                purges.clone(),
            ));
        }
        tx
    }
}

/// When the claimers purge next, and whether a purge runs.
#[derive(Default)]
struct Purges {
    next: AtomicI64,
    running: AtomicBool,
}

impl Purges {
    /// Starts a purge in the background when one is due at `now` and none runs.
    fn start_if_due(self: &Arc<Self>, db: &Db, now: UnixTime) {
        if now < self.next.load(Ordering::Acquire) || self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        self.next.store(now + PURGE_EVERY_SECS, Ordering::Release);
        let (db, purges) = (db.clone(), Arc::clone(self));
        tokio::spawn(async move {
            if let Err(e) = purge(&db, now - PURGE_SLACK_SECS).await {
                tracing::warn!(error = %e, "could not purge expired nonces");
            }
            purges.running.store(false, Ordering::Release);
        });
    }
}

/// One claimer: takes every claim waiting (while it holds the queue), inserts them in one
/// statement, answers each, and starts a purge when one is due. Ends when the claims are
/// dropped.
async fn claim_batches(
    db: Db,
    url: Secret,
    clock: SharedClock,
    rx: Arc<Mutex<mpsc::Receiver<Claim>>>,
    purges: Arc<Purges>,
) {
    let mut conn: Option<sqlx::AnyConnection> = None;
    let mut batch = Vec::with_capacity(BATCH);
    while rx.lock().await.recv_many(&mut batch, BATCH).await > 0 {
        let mut result = claim_on(&mut conn, &url, &batch).await;
        if let Err(e) = &result
            && conn_lost(e)
        {
            // The server ended the connection (a restart, an idle-session timeout) before the
            // statement ran: once more on a new one.
            conn = None;
            result = claim_on(&mut conn, &url, &batch).await;
        }
        let answers = match result {
            Ok(firsts) => firsts.into_iter().map(Ok).collect(),
            Err(e) => {
                tracing::warn!(error = %e, count = batch.len(), "could not claim signed-request nonces");
                // A connection that failed is opened again for the next batch.
                conn = None;
                // The database's own words stay in the log.
                vec![Err("the nonce store is unavailable".to_string()); batch.len()]
            }
        };
        for (claim, answer) in batch.drain(..).zip(answers) {
            let _ = claim.answer.send(answer);
        }
        purges.start_if_due(&db, clock.now());
    }
}

/// Whether `e` says the connection was gone before the statement ran: an I/O failure, or
/// PostgreSQL's connection exceptions (SQLSTATE class 08) and operator interventions (57:
/// shutdown, idle-session timeout).
fn conn_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

/// Inserts `batch` on the claimer's connection (opening it if needed); returns, per claim,
/// whether it was inserted.
async fn claim_on(
    conn: &mut Option<sqlx::AnyConnection>,
    url: &Secret,
    batch: &[Claim],
) -> Result<Vec<bool>, sqlx::Error> {
    let conn = match conn {
        Some(conn) => conn,
        empty => empty.insert(connect(url).await?),
    };
    // Built from the row count only: no outside text reaches it. Each size is prepared once
    // on this connection (at most BATCH of them, within sqlx's statement cache).
    let sql = insert_sql(batch.len());
    let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
    for claim in batch {
        insert = insert
            .bind(claim.key_id.as_str())
            .bind(&claim.nonce_hash[..])
            .bind(claim.expires_at);
    }
    let mut inserted: HashMap<(String, Vec<u8>), usize> = HashMap::new();
    for row in insert.fetch_all(&mut *conn).await? {
        let key: (String, Vec<u8>) = (row.try_get(0)?, row.try_get(1)?);
        *inserted.entry(key).or_default() += 1;
    }
    Ok(batch
        .iter()
        .map(|claim| {
            let key = (claim.key_id.clone(), claim.nonce_hash.to_vec());
            // The same nonce twice in one batch is inserted once: only the first is new.
            match inserted.get_mut(&key) {
                Some(count) if *count > 0 => {
                    *count -= 1;
                    true
                }
                _ => false,
            }
        })
        .collect())
}

/// The claimer's own connection: its commits do not wait for the disk (see the module's doc).
async fn connect(url: &Secret) -> Result<sqlx::AnyConnection, sqlx::Error> {
    let mut conn = sqlx::AnyConnection::connect(url.expose()).await?;
    sqlx::raw_sql("SET synchronous_commit = off")
        .execute(&mut conn)
        .await?;
    Ok(conn)
}

/// `INSERT … VALUES ($1, $2, $3), … ON CONFLICT DO NOTHING RETURNING key_id, nonce_hash` with
/// `rows` rows.
fn insert_sql(rows: usize) -> String {
    let values = (0..rows)
        .map(|row| format!("(${}, ${}, ${})", 3 * row + 1, 3 * row + 2, 3 * row + 3))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO signature_nonce_claims (key_id, nonce_hash, expires_at) VALUES {values} \
         ON CONFLICT DO NOTHING RETURNING key_id, nonce_hash"
    )
}

/// Deletes claims that expired before `before`, [`PURGE_BATCH`] rows per statement; returns
/// the rows deleted.
async fn purge(db: &Db, before: UnixTime) -> Result<u64, sqlx::Error> {
    let mut deleted = 0;
    for _ in 0..PURGE_ROUNDS {
        let done = sqlx::query(
            "DELETE FROM signature_nonce_claims WHERE (key_id, nonce_hash) IN ( \
                 SELECT key_id, nonce_hash FROM signature_nonce_claims WHERE expires_at < $1 \
                 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(before)
        .bind(PURGE_BATCH)
        .execute(db.pool())
        .await?
        .rows_affected();
        deleted += done;
        if done < PURGE_BATCH as u64 {
            break;
        }
    }
    Ok(deleted)
}
