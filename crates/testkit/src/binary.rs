//! The real `voicegate` binary as a child process: CLI commands and `serve`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// The real `voicegate` binary, run as a child process on a data directory.
pub struct Binary {
    path: PathBuf,
    /// The working directory (where `.env` and `voicegate.toml` are looked up).
    pub work_dir: TempDir,
    /// The data directory passed as `--data-dir`.
    pub data_dir: PathBuf,
    /// Variables set for every command and server it runs (`VOICEGATE_DATABASE_URL`, …).
    pub env: Vec<(String, String)>,
}

/// The result of a CLI command.
#[derive(Debug)]
pub struct CliOutput {
    /// Exit success.
    pub success: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Binary {
    /// The binary at `path` with a fresh working directory and data directory inside it.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let work_dir = tempfile::tempdir().expect("a temp dir");
        let data_dir = work_dir.path().join("data");
        Self {
            path: path.into(),
            work_dir,
            data_dir,
            env: Vec::new(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.path);
        command
            .current_dir(self.work_dir.path())
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(args)
            .env_remove("SECRET")
            .env_remove("USERS_DB")
            .env_remove("API_KEY")
            .env_remove("DATABASE_URL")
            .kill_on_drop(true);
        // The server reads every `VOICEGATE_` variable as configuration (and refuses unknown
        // names, such as the test kit's own `VOICEGATE_SHARED`): a test sets what it needs, and
        // nothing from the environment it runs in leaks into the server it starts.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("VOICEGATE_") {
                command.env_remove(&key);
            }
        }
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    /// Runs a command to completion, feeding `stdin`.
    pub async fn run(&self, args: &[&str], stdin: &str) -> CliOutput {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let mut input = child.stdin.take().expect("stdin");
        input
            .write_all(stdin.as_bytes())
            .await
            .expect("stdin written");
        drop(input);
        let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("the command finishes within 60 s")
            .expect("the command runs");
        CliOutput {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Starts `serve` on 127.0.0.1:0 with extra environment variables, and waits until it says
    /// where it listens. The log lines read so far come with it.
    pub async fn serve(&self, env: &[(&str, &str)]) -> ServeProcess {
        let mut command = self.command(&["serve", "--listen", "127.0.0.1:0"]);
        command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("serve starts");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let mut log = Vec::new();
        let address = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("stderr readable") {
                log.push(line.clone());
                if let Some(rest) = line.split("address=").nth(1) {
                    return rest.split_whitespace().next().map(str::to_string);
                }
            }
            None
        })
        .await
        .expect("serve reports its address within 30 s")
        .unwrap_or_else(|| panic!("serve exited before listening: {}", log.join("\n")));
        // Keep draining stderr so the child never blocks on a full pipe.
        let (log_tx, log_rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if log_tx.send(line).is_err() {
                    break;
                }
            }
        });
        ServeProcess {
            base: format!("http://{address}"),
            child,
            startup_log: log,
            log: log_rx,
        }
    }
}

/// A running `voicegate serve` child process.
pub struct ServeProcess {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The child.
    pub child: Child,
    /// Log lines up to the "listening" line.
    pub startup_log: Vec<String>,
    log: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl ServeProcess {
    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM and waits (at most 10 s) for the exit; returns whether it exited cleanly, and
    /// every log line printed after start-up.
    pub async fn terminate(mut self) -> (bool, Vec<String>) {
        let pid = self.child.id().expect("a running child");
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("the server stops within 10 s of SIGTERM")
            .expect("wait works");
        let mut lines = Vec::new();
        while let Ok(Some(line)) =
            tokio::time::timeout(Duration::from_secs(1), self.log.recv()).await
        {
            lines.push(line);
        }
        (status.success(), lines)
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; the caller binds it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until something accepts connections on 127.0.0.1:`port`; after `limit`, panics with
/// what `failure` says (a peer's name, its log).
pub(crate) async fn wait_listening(
    port: u16,
    limit: std::time::Duration,
    failure: impl Fn() -> String,
) {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(tokio::time::Instant::now() < deadline, "{}", failure());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
