//! The server in the test's own runtime: a temp data directory, 127.0.0.1 on a free port, and a
//! clock the test moves.

use std::path::Path;
use std::sync::Arc;

use tempfile::TempDir;
use tokio::sync::oneshot;
use voicegate::app::App;
use voicegate::clock::ManualClock;
use voicegate::config::Config;
use voicegate::identity::Role;
use voicegate::state::AppState;

/// A configuration for tests: loopback on a free port, a fresh data directory, fast polling.
pub fn test_config(data_dir: &Path) -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().expect("a socket address"),
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    config.auth.state_poll_ms = 100;
    config.auth.hash_concurrency = Some(2);
    // Many test servers share one PostgreSQL cluster when the suite runs on it.
    config.store.max_connections = 4;
    config
}

/// The variable that puts the suite on PostgreSQL: `TESTKIT_BACKEND=postgres` gives each test
/// server a fresh database of the throwaway cluster ([`crate::Cluster`]); unset (or `sqlite`),
/// each has SQLite in its data directory.
pub const BACKEND_VAR: &str = "TESTKIT_BACKEND";

/// Whether this run puts test servers on PostgreSQL ([`BACKEND_VAR`]). Tests of what only
/// SQLite has (its file, its online backup) skip with one line when it does.
pub fn on_postgres() -> bool {
    match std::env::var(BACKEND_VAR).as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Ok("") | Err(_) => false,
        Ok(other) => panic!("{BACKEND_VAR}={other}: postgres or sqlite"),
    }
}

/// A fresh PostgreSQL database for a test server when the run is on PostgreSQL.
pub async fn backend_database() -> Option<String> {
    if !on_postgres() {
        return None;
    }
    let cluster = crate::Cluster::shared()
        .await
        .expect("TESTKIT_BACKEND=postgres needs PostgreSQL's server programs");
    Some(cluster.database().await)
}

/// The server running in this test's runtime.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The server's clock: move it to test expiry.
    pub clock: ManualClock,
    /// The server's services.
    pub state: AppState,
    /// The data directory (removed on drop). An instance started beside another uses that one's
    /// and leaves this one empty.
    pub data_dir: TempDir,
    config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    serving: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Starts a server with the test configuration.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server with the test configuration changed by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let data_dir = tempfile::tempdir().expect("a temp dir");
        let mut config = test_config(data_dir.path());
        if let Some(url) = backend_database().await {
            config.database_url = Some(voicegate::secret::Secret::new(url));
        }
        adjust(&mut config);
        Self::launched(data_dir, config).await
    }

    /// Starts a second instance beside `other`: the same database and the same data directory
    /// (blobs, signing and sealing keys), as instances behind a balancer share them, with the
    /// test configuration changed by `adjust`. Its own clock starts at the real time.
    pub async fn start_beside(other: &TestServer, adjust: impl FnOnce(&mut Config)) -> Self {
        let data_dir = tempfile::tempdir().expect("a temp dir");
        let mut config = other.config.clone();
        config.listen = "127.0.0.1:0".parse().expect("a socket address");
        adjust(&mut config);
        Self::launched(data_dir, config).await
    }

    /// A server on `config` with a fresh clock, keeping `data_dir` for as long as it lives.
    async fn launched(data_dir: TempDir, config: Config) -> Self {
        let clock = ManualClock::new();
        let (base, state, shutdown, serving) = launch(&config, &clock).await;
        Self {
            base,
            clock,
            state,
            data_dir,
            config,
            shutdown: Some(shutdown),
            serving: Some(serving),
        }
    }

    /// Stops the server (and waits, at most 10 s, until it has stopped) and starts a new one on
    /// the same data directory, configuration and clock (on a new port): what survives a restart
    /// is what the store kept.
    pub async fn restart(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(serving) = self.serving.take() {
            let stopped = tokio::time::timeout(std::time::Duration::from_secs(10), serving).await;
            assert!(stopped.is_ok(), "the server stops within 10 s");
        }
        let (base, state, shutdown, serving) = launch(&self.config, &self.clock).await;
        self.base = base;
        self.state = state;
        self.shutdown = Some(shutdown);
        self.serving = Some(serving);
    }

    /// Everything the database holds, as bytes to search for a value that must not be stored:
    /// SQLite's file and its write-ahead log, or PostgreSQL's `pg_dump` of the server's database
    /// (where bytes appear as hex: search for both forms).
    pub async fn stored_bytes(&self) -> Vec<u8> {
        match &self.config.database_url {
            None => {
                let mut bytes = Vec::new();
                for file in ["voicegate.db", "voicegate.db-wal"] {
                    bytes
                        .extend(std::fs::read(self.data_dir.path().join(file)).unwrap_or_default());
                }
                bytes
            }
            Some(url) => {
                let cluster = crate::Cluster::shared().await.expect("the cluster runs");
                let output = tokio::process::Command::new(cluster.bin_dir().join("pg_dump"))
                    .args(["--no-owner", "-d", url.expose()])
                    .output()
                    .await
                    .expect("pg_dump runs");
                assert!(output.status.success(), "pg_dump: {:?}", output);
                output.stdout
            }
        }
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The server's current time, Unix seconds.
    pub fn clock_now(&self) -> i64 {
        use voicegate::clock::Clock;
        self.clock.now()
    }

    /// Creates an active user.
    pub async fn add_user(&self, name: &str, password: &str) {
        self.state
            .identity
            .add_user(name, password, Role::User)
            .await
            .expect("the user is created");
    }
}

/// A running app: its base URL, its state, the sender that stops it and its serving task.
type Launched = (
    String,
    AppState,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
);

/// Builds and serves an app.
async fn launch(config: &Config, clock: &ManualClock) -> Launched {
    let app = App::build(config.clone(), Arc::new(clock.clone()))
        .await
        .expect("the server builds");
    let base = format!("http://{}", app.local_addr());
    let state = app.state().clone();
    let (tx, rx) = oneshot::channel::<()>();
    let serving = tokio::spawn(app.serve(async {
        let _ = rx.await;
    }));
    (base, state, tx, serving)
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
