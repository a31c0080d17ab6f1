//! A throwaway PostgreSQL cluster for the tests: Debian's server programs, `initdb` into a temp
//! directory, `postgres` on 127.0.0.1 and a free port (its unix socket inside that directory),
//! started once per test process by the first test that asks for it and shared by all.
//!
//! Each test server takes a database of its own ([`Cluster::database`]). The cluster trusts
//! loopback connections for the superuser [`SUPERUSER`], runs with `fsync` and synchronous
//! commit off (test data need not survive a crash), preloads `pg_stat_statements` when the
//! contrib module is there, and, when the tests run as root, runs as `nobody`.
//!
//! The server dies with the test process however that ends (a panic, SIGKILL): the kernel kills
//! it (see [`crate::tied`]), and a small shell script, whose standard input closes then, removes
//! the directory and the server's shared-memory segment.
//!
//! Without PostgreSQL's server programs the tests that need it fail under `CI=true` and are
//! skipped elsewhere with one line ([`available`] says why).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::binary::free_port;
use crate::tied::{self, TiedChild};

/// The cluster's superuser, trusted on loopback without a password.
pub const SUPERUSER: &str = "voicegate";

/// How long the server has to accept queries once started.
pub const START_DEADLINE: Duration = Duration::from_secs(30);

/// The server programs the cluster needs.
const PROGRAMS: [&str; 3] = ["initdb", "postgres", "psql"];

/// A running throwaway cluster (see the module's notes).
pub struct Cluster {
    bin_dir: PathBuf,
    dir: PathBuf,
    port: u16,
    stat_statements: bool,
    server: TiedChild,
    next_database: AtomicU32,
    /// The clean-up script and the pipe whose closing (at the process's end) starts it.
    _cleanup: Mutex<(Child, ChildStdin)>,
}

enum State {
    Running(Cluster),
    Missing(String),
    Failed(String),
}

static CLUSTER: OnceLock<State> = OnceLock::new();

/// The folder of PostgreSQL's server programs (`initdb`, `postgres`, `psql`), or why the tests
/// cannot start a cluster here. Looked for in `pg_config --bindir`, then the newest
/// `/usr/lib/postgresql/*/bin` (Debian), then `PATH`; `setpriv` (util-linux) is needed too.
pub fn available() -> Result<PathBuf, String> {
    if !tied::on_path("setpriv") {
        return Err("setpriv (util-linux) is missing; it starts the PostgreSQL server".into());
    }
    let mut candidates = Vec::new();
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        candidates.push(PathBuf::from(
            String::from_utf8_lossy(&output.stdout).trim(),
        ));
    }
    if let Some(newest) = newest_version(Path::new("/usr/lib/postgresql")) {
        candidates.push(newest.join("bin"));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates
        .into_iter()
        .find(|dir| PROGRAMS.iter().all(|p| dir.join(p).is_file()))
        .ok_or_else(|| {
            "PostgreSQL's server programs (initdb, postgres, psql) are missing: not in \
             `pg_config --bindir`, /usr/lib/postgresql/*/bin nor PATH; scripts/test installs \
             Debian's postgresql"
                .to_string()
        })
}

/// The subfolder of `root` named for the highest version (`15` above `9.6`), if any.
fn newest_version(root: &Path) -> Option<PathBuf> {
    let version = |name: &str| -> Option<Vec<u32>> {
        name.split('.').map(|part| part.parse().ok()).collect()
    };
    std::fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            version(&name).map(|v| (v, entry.path()))
        })
        .max()
        .map(|(_, path)| path)
}

impl Cluster {
    /// The shared cluster, started by the first caller (about a second). `None` (after one
    /// `skipped:` line on standard error) when PostgreSQL is missing outside CI, so the test
    /// returns early and passes; a panic when it is missing under `CI=true`, or when the cluster
    /// did not start (with the server's log).
    pub async fn shared() -> Option<&'static Cluster> {
        // Starting blocks for a while: off the test's runtime.
        tokio::task::spawn_blocking(|| CLUSTER.get_or_init(start))
            .await
            .expect("the cluster start does not panic");
        match CLUSTER.get().expect("initialised above") {
            State::Running(cluster) => Some(cluster),
            State::Missing(what) => {
                crate::shared::skip_or_fail(what);
                None
            }
            State::Failed(why) => panic!("{why}"),
        }
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of `database` as the superuser: `postgres://voicegate@127.0.0.1:PORT/DATABASE`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a fresh, empty database (`vg_1`, `vg_2`, … in the order asked) and returns its
    /// URL ([`Cluster::url`]). A test server takes one each; they are dropped with the cluster.
    pub async fn database(&self) -> String {
        let name = format!(
            "vg_{}",
            self.next_database.fetch_add(1, Ordering::Relaxed) + 1
        );
        // PostgreSQL refuses to copy the template while another session uses it, and a
        // CREATE DATABASE is such a session: one at a time, and a retry for anything else.
        static CREATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _one = CREATING.lock().await;
        let mut tries = 0;
        loop {
            match self
                .psql("postgres", &format!("CREATE DATABASE {name}"))
                .await
            {
                Ok(_) => return self.url(&name),
                Err(error) if tries < 20 && error.contains("being accessed by other users") => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("CREATE DATABASE {name} failed: {error}"),
            }
        }
    }

    /// Runs `sql` with `psql` in `database` as the superuser (stopping at the first error) and
    /// returns its output, unaligned and without headers (`|` between fields, a line a row), or
    /// psql's error.
    pub async fn psql(&self, database: &str, sql: &str) -> Result<String, String> {
        let output = tokio::process::Command::from(self.psql_command(database, sql))
            .output()
            .await
            .map_err(|e| format!("psql could not run: {e}"))?;
        psql_result(&output)
    }

    /// The folder of the server programs (`pg_dump`, `pg_restore`, `psql` are there too).
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// Whether `pg_stat_statements` is preloaded and its extension created in every new
    /// database (it is unless the contrib module is missing).
    pub fn has_pg_stat_statements(&self) -> bool {
        self.stat_statements
    }

    /// The server's (postmaster's) process id.
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    /// The cluster's temp directory (data in `data/`, the socket in `socket/`, the server's log
    /// in `postgres.log`), removed when the test process ends.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
    }

    fn psql_command(&self, database: &str, sql: &str) -> Command {
        psql_command(&self.bin_dir, self.port, database, sql)
    }
}

/// `psql` connecting to `database` on 127.0.0.1:`port` as [`SUPERUSER`], ignoring the `PG…`
/// variables and `~/.psqlrc` of the environment.
fn psql_command(bin_dir: &Path, port: u16, database: &str, sql: &str) -> Command {
    let mut command = Command::new(bin_dir.join("psql"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            command.env_remove(&key);
        }
    }
    command
        .args([
            "-X",
            "-A",
            "-t",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
        ])
        .arg("-p")
        .arg(port.to_string())
        .args(["-U", SUPERUSER, "-d", database, "-c", sql])
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(Stdio::null());
    command
}

fn psql_result(output: &std::process::Output) -> Result<String, String> {
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

/// Removes the cluster's directory once its standard input closes (when the test process
/// ends): waits (at most 5 s) for the server, whose id is the first line, to be gone, removes
/// its shared-memory segment (the second number of `postmaster.pid`'s seventh line, left behind
/// by a killed server), then the directory. Interrupts are ignored: it outlives the tests.
const CLEANUP: &str = r#"trap '' INT TERM HUP
dir=$1
read -r pid || pid=
while read -r _; do :; done
if [ -n "$pid" ]; then
  i=0
  while [ "$i" -lt 50 ] && [ -r "/proc/$pid/stat" ] \
    && [ "$(sed 's/.*) \(.\).*/\1/' "/proc/$pid/stat" 2>/dev/null)" != Z ]; do
    sleep 0.1
    i=$((i + 1))
  done
fi
shmid=$(sed -n 7p "$dir/data/postmaster.pid" 2>/dev/null | awk '{print $2}')
if [ -n "$shmid" ]; then ipcrm -m "$shmid" 2>/dev/null; fi
rm -rf "$dir"
sleep 1
rm -rf "$dir"
"#;

fn start() -> State {
    let bin_dir = match available() {
        Ok(dir) => dir,
        Err(why) => return State::Missing(why),
    };
    let dir = match tempfile::Builder::new().prefix("testkit-pg").tempdir() {
        Ok(dir) => dir.keep(),
        Err(e) => return State::Failed(format!("no temp dir for PostgreSQL: {e}")),
    };
    let cleanup = Command::new("sh")
        .args(["-c", CLEANUP, "sh"])
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut cleanup = match cleanup {
        Ok(child) => child,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return State::Failed(format!("the clean-up script did not start: {e}"));
        }
    };
    let Some(mut pipe) = cleanup.stdin.take() else {
        return State::Failed("the clean-up script has no standard input".into());
    };
    // From here on, returning drops the pipe: the script removes the directory.
    match launch(&bin_dir, &dir) {
        Ok((server, port, stat_statements)) => {
            // The script waits for this server to be gone before removing its files.
            if let Err(e) = writeln!(pipe, "{}", server.pid()) {
                return State::Failed(format!("the clean-up script's pipe: {e}"));
            }
            State::Running(Cluster {
                bin_dir,
                dir,
                port,
                stat_statements,
                server,
                next_database: AtomicU32::new(0),
                _cleanup: Mutex::new((cleanup, pipe)),
            })
        }
        Err(why) => State::Failed(why),
    }
}

/// `initdb`, then the server (on another port if the first was taken meanwhile), then the
/// extension: the server, its port and whether `pg_stat_statements` is on.
fn launch(bin_dir: &Path, dir: &Path) -> Result<(TiedChild, u16, bool), String> {
    tied::hand_over(dir)?;
    let data = dir.join("data");
    let output = tied::command(&bin_dir.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args(["-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C"])
        .arg("--no-sync")
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("initdb could not run: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "initdb failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let socket = dir.join("socket");
    std::fs::create_dir_all(&socket).map_err(|e| format!("socket dir: {e}"))?;
    tied::hand_over(&socket)?;
    let preload = stat_statements_library(bin_dir);
    if let Err(missing) = &preload {
        // Straight to standard error: the harness captures `eprintln!`.
        let _ = writeln!(std::io::stderr(), "postgres: {missing}");
    }
    let mut last_log = String::new();
    for _attempt in 0..3 {
        let port = free_port();
        let log_path = dir.join("postgres.log");
        let log = std::fs::File::create(&log_path).map_err(|e| format!("log: {e}"))?;
        let stderr = log.try_clone().map_err(|e| format!("log: {e}"))?;
        let mut command = tied::command(&bin_dir.join("postgres"));
        command.arg("-D").arg(&data).arg("-k").arg(&socket);
        command.arg("-p").arg(port.to_string());
        for setting in [
            "listen_addresses=127.0.0.1",
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
            "max_connections=300",
            // A test's runtime ends without closing its server's pool, whose connections then
            // stay open, idle, until the test process ends: the server ends them instead (a
            // live pool checks a connection before use and opens a new one).
            "idle_session_timeout=10s",
        ] {
            command.args(["-c", setting]);
        }
        if preload.is_ok() {
            command.args(["-c", "shared_preload_libraries=pg_stat_statements"]);
            command.args(["-c", "pg_stat_statements.track=all"]);
        }
        command
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr);
        let server = TiedChild::spawn(command, "postgres")
            .map_err(|e| format!("postgres could not run: {e}"))?;
        match wait_ready(bin_dir, port, &server) {
            Ready::Yes => {
                let stat_statements = preload.is_ok() && create_extension(bin_dir, port);
                return Ok((server, port, stat_statements));
            }
            Ready::Exited => {
                last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
                if last_log.contains("could not bind") || last_log.contains("already in use") {
                    continue;
                }
                return Err(format!("postgres exited at start: {last_log}"));
            }
            Ready::Late => {
                return Err(format!(
                    "postgres did not accept queries within {} s: {}",
                    START_DEADLINE.as_secs(),
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                ));
            }
        }
    }
    Err(format!(
        "postgres found no free port in 3 tries: {last_log}"
    ))
}

/// Whether `pg_stat_statements` can be preloaded: `Err` says what is missing.
fn stat_statements_library(bin_dir: &Path) -> Result<(), String> {
    let lib_dir = Command::new(bin_dir.join("pg_config"))
        .arg("--pkglibdir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .unwrap_or_else(|| bin_dir.join("../lib"));
    let library = lib_dir.join("pg_stat_statements.so");
    if library.is_file() {
        Ok(())
    } else {
        Err(format!(
            "pg_stat_statements is missing ({} is not there; Debian's postgresql-contrib has it): \
             the cluster runs without it",
            library.display()
        ))
    }
}

/// Creates the `pg_stat_statements` extension in `template1` (so every new database has it)
/// and in `postgres`; false (after a line on standard error) when that fails.
fn create_extension(bin_dir: &Path, port: u16) -> bool {
    for database in ["template1", "postgres"] {
        let sql = "CREATE EXTENSION IF NOT EXISTS pg_stat_statements";
        let result = psql_command(bin_dir, port, database, sql)
            .output()
            .map_err(|e| e.to_string())
            .and_then(|o| psql_result(&o));
        if let Err(error) = result {
            let _ = writeln!(
                std::io::stderr(),
                "postgres: CREATE EXTENSION pg_stat_statements failed in {database}: {error}"
            );
            return false;
        }
    }
    true
}

enum Ready {
    Yes,
    Exited,
    Late,
}

/// Waits until the server answers `SELECT 1`, it exits, or [`START_DEADLINE`] passes.
fn wait_ready(bin_dir: &Path, port: u16, server: &TiedChild) -> Ready {
    let deadline = Instant::now() + START_DEADLINE;
    while Instant::now() < deadline {
        if server.exited().is_some() {
            return Ready::Exited;
        }
        let answered = psql_command(bin_dir, port, "postgres", "SELECT 1")
            .stderr(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success());
        if answered {
            return Ready::Yes;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ready::Late
}

#[cfg(test)]
#[path = "postgres_tests.rs"]
mod tests;
