//! A snapserver voicegate runs itself (`speakers.manage_snapserver`), so that a household points
//! its snapclients at voicegate and needs no other set-up.
//!
//! voicegate writes its configuration in `<data_dir>/snapserver/` (`server.conf`; snapserver's
//! own state in `state/`, never `/var/lib/snapserver` or `$HOME`), starts it as a child in its
//! own process group (a Ctrl-C meant for voicegate does not reach it; voicegate stops it), logs
//! what it prints at debug level, writes its process id to `snapserver.pid`, starts it again
//! when it dies (waiting longer after each quick death, up to a cap), and kills it when
//! voicegate stops or the handle is dropped.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::SpeakersConfig;

/// The folder in the data directory that holds the managed snapserver's files.
pub const DIR: &str = "snapserver";
/// Its configuration file (in [`DIR`]).
pub const CONFIG_FILE: &str = "server.conf";
/// The file holding its process id while it runs (in [`DIR`]).
pub const PID_FILE: &str = "snapserver.pid";
/// The stream where speakers outside a session wait: no session plays into it. It is the first
/// stream, so a speaker that connects for the first time joins it, not a session's.
pub const IDLE_STREAM: &str = "idle";

/// The first wait before starting snapserver again; it doubles after each quick death.
const RESTART_MIN: Duration = Duration::from_millis(200);
/// A snapserver that ran this long died for a new reason: the next wait is the first again.
const STABLE: Duration = Duration::from_secs(60);
/// How long stopping waits for snapserver to be gone.
const STOP_WAIT: Duration = Duration::from_secs(5);
/// Longest line of snapserver's output logged (longer ones are cut).
const MAX_LINE: usize = 4096;

/// Why the managed snapserver could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ManagedError {
    /// Its folder or files could not be written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The data directory's path cannot be written into snapserver's configuration.
    #[error(
        "the path {0:?} cannot be used in snapserver's configuration (it must be UTF-8, without \
         '?', '#' or line breaks): choose another data directory"
    )]
    Path(PathBuf),
    /// The program could not be started.
    #[error(
        "could not start {program:?} (speakers.snapserver_program; Debian's package is \
         snapserver): {source}"
    )]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// How the managed snapserver is set up (from `[speakers]`).
#[derive(Debug, Clone)]
pub struct ManagedSettings {
    /// The program to run.
    pub program: String,
    /// The folder of its files (`<data_dir>/snapserver`).
    pub dir: PathBuf,
    /// Where its JSON-RPC control port listens.
    pub control: SocketAddr,
    /// Where its stream port (for snapclients) listens.
    pub stream: SocketAddr,
    /// Its session stream sources' ports on 127.0.0.1 (`S1`, `S2`, …).
    pub source_ports: Vec<u16>,
    /// Its `buffer`, in milliseconds.
    pub buffer_ms: u64,
    /// The longest wait before starting it again.
    pub restart_max: Duration,
}

impl ManagedSettings {
    /// The settings `config` gives, with the files in `data_dir`.
    pub fn new(config: &SpeakersConfig, data_dir: &Path) -> Self {
        Self {
            program: config.snapserver_program.clone(),
            dir: data_dir.join(DIR),
            control: config.snapserver_control_address,
            stream: config.snapserver_stream_address,
            source_ports: config.snapserver_source_ports.clone(),
            buffer_ms: config.buffer_ms,
            restart_max: Duration::from_millis(config.snapserver_restart_max_ms),
        }
    }

    fn config_file(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join(PID_FILE)
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// snapserver's configuration (0.26's format).
    pub fn server_conf(&self) -> Result<String, ManagedError> {
        let dir = self
            .dir
            .to_str()
            .filter(|dir| !dir.contains(['?', '#', '\n', '\r']))
            .ok_or_else(|| ManagedError::Path(self.dir.clone()))?;
        let mut conf = format!(
            "# Written by voicegate (speakers.manage_snapserver) each time it starts snapserver.\n\
             [server]\ndatadir = {dir}/state\n\n\
             [http]\nenabled = false\n\n\
             [tcp]\nenabled = true\nbind_to_address = {}\nport = {}\n\n\
             [stream]\nbind_to_address = {}\nport = {}\n\
             source = pipe://{dir}/{IDLE_STREAM}.fifo?name={IDLE_STREAM}&mode=create\n",
            self.control.ip(),
            self.control.port(),
            self.stream.ip(),
            self.stream.port(),
        );
        for (at, port) in self.source_ports.iter().enumerate() {
            let _ = writeln!(
                conf,
                "source = tcp://127.0.0.1:{port}?name=S{}&mode=server",
                at + 1
            );
        }
        let _ = write!(
            conf,
            "sampleformat = 48000:16:2\ncodec = flac\nchunk_ms = 20\nbuffer = {}\n\
             send_to_muted = true\n\n[logging]\nsink = stderr\nfilter = *:info\n",
            self.buffer_ms
        );
        Ok(conf)
    }
}

/// The running managed snapserver. Dropping it (or [`ManagedSnapserver::stop`]) kills it.
pub struct ManagedSnapserver {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ManagedSnapserver {
    /// Writes the configuration and starts snapserver (in the background from then on: it is
    /// listening a moment later). Fails when its files cannot be written or the program cannot
    /// be started at all.
    pub fn start(settings: ManagedSettings) -> Result<Self, ManagedError> {
        let io = |what: String| move |source| ManagedError::Io { what, source };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(settings.state_dir())
            .map_err(io(format!("creating {}", settings.state_dir().display())))?;
        end_leftover(&settings);
        let conf = settings.server_conf()?;
        write_private(&settings.config_file(), conf.as_bytes())
            .map_err(io(format!("writing {}", settings.config_file().display())))?;
        let child = spawn(&settings).map_err(|source| ManagedError::Spawn {
            program: settings.program.clone(),
            source,
        })?;
        tracing::info!(
            control = %settings.control,
            stream = %settings.stream,
            sources = settings.source_ports.len(),
            config = %settings.config_file().display(),
            "snapserver started (speakers.manage_snapserver)"
        );
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(supervise(settings, child, stopped));
        Ok(Self {
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Kills snapserver and waits (a few seconds at most) until it is gone.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(STOP_WAIT, task).await;
        }
    }
}

/// Ends the snapserver an earlier run left behind (one killed before it could stop it, which would
/// hold the ports): the process the pid file names, if it is alive and runs this folder's
/// configuration (a process id reused by another program is left alone). Waits, a few seconds at
/// most, until it is gone.
fn end_leftover(settings: &ManagedSettings) {
    use std::os::unix::ffi::OsStrExt;
    let Some(pid) = std::fs::read_to_string(settings.pid_file())
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
    else {
        return;
    };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let config = settings.config_file();
    if !cmdline
        .split(|byte| *byte == 0)
        .any(|arg| arg == config.as_os_str().as_bytes())
    {
        return;
    }
    tracing::info!(pid, "ending the snapserver an earlier run left behind");
    let gone = || !Path::new(&format!("/proc/{pid}")).exists();
    for signal in ["-TERM", "-KILL"] {
        let _ = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        for _ in 0..60 {
            if gone() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    tracing::warn!(pid, "the snapserver an earlier run left behind did not end");
}

/// Writes `bytes` to `path`, readable by voicegate's user only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

/// The last line snapserver printed (said when it dies).
type LastLine = Arc<Mutex<String>>;

/// Starts snapserver once: its output logged, its process id written.
fn spawn(settings: &ManagedSettings) -> std::io::Result<(Child, LastLine)> {
    let mut child = Command::new(&settings.program)
        .arg("-c")
        .arg(settings.config_file())
        .current_dir(&settings.dir)
        .env("HOME", settings.state_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()?;
    let last = LastLine::default();
    if let Some(out) = child.stdout.take() {
        tokio::spawn(log_lines(out, last.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(log_lines(err, last.clone()));
    }
    if let Some(pid) = child.id()
        && let Err(e) = write_private(&settings.pid_file(), format!("{pid}\n").as_bytes())
    {
        tracing::warn!(error = %e, file = %settings.pid_file().display(), "could not write snapserver's process id");
    }
    Ok((child, last))
}

/// Logs each line of snapserver's output at debug level, keeping the last one.
async fn log_lines(output: impl AsyncRead + Unpin, last: LastLine) {
    let mut reader = BufReader::new(output);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .await;
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        if text.is_empty() {
            continue;
        }
        tracing::debug!("snapserver: {text}");
        *last.lock().unwrap_or_else(|e| e.into_inner()) = text.to_string();
    }
}

/// Watches snapserver: when it dies, starts it again after a wait that doubles after each quick
/// death (up to the cap); when told to stop (or the handle is dropped), kills it.
async fn supervise(
    settings: ManagedSettings,
    (mut child, mut last): (Child, LastLine),
    mut stop: oneshot::Receiver<()>,
) {
    let mut wait = RESTART_MIN;
    loop {
        let started = Instant::now();
        let status = tokio::select! {
            status = child.wait() => status,
            _ = &mut stop => {
                let _ = child.kill().await;
                let _ = std::fs::remove_file(settings.pid_file());
                tracing::info!("snapserver stopped");
                return;
            }
        };
        let _ = std::fs::remove_file(settings.pid_file());
        if started.elapsed() >= STABLE {
            wait = RESTART_MIN;
        }
        let said = last.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match status {
            Ok(status) => {
                tracing::warn!(%status, last_output = %said, restart_in = ?wait, "snapserver exited; starting it again");
            }
            Err(e) => {
                tracing::warn!(error = %e, restart_in = ?wait, "lost track of snapserver; starting it again");
            }
        }
        loop {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = &mut stop => return,
            }
            wait = (wait * 2).min(settings.restart_max);
            match spawn(&settings) {
                Ok(started) => {
                    (child, last) = started;
                    tracing::info!("snapserver started again");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, program = %settings.program, restart_in = ?wait, "could not start snapserver");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_declares_the_idle_stream_first_then_the_session_sources() {
        let config = SpeakersConfig {
            manage_snapserver: true,
            snapserver_stream_address: "0.0.0.0:1704".parse().unwrap(),
            snapserver_source_ports: vec![5001, 5002],
            buffer_ms: 300,
            ..SpeakersConfig::default()
        };
        let settings = ManagedSettings::new(&config, Path::new("/var/lib/voice gate"));
        assert_eq!(settings.dir, Path::new("/var/lib/voice gate/snapserver"));
        let conf = settings.server_conf().unwrap();
        let lines: Vec<&str> = conf.lines().collect();
        for expected in [
            "datadir = /var/lib/voice gate/snapserver/state",
            "enabled = false",
            "bind_to_address = 127.0.0.1",
            "port = 1705",
            "bind_to_address = 0.0.0.0",
            "port = 1704",
            "buffer = 300",
            "send_to_muted = true",
            "sampleformat = 48000:16:2",
        ] {
            assert!(lines.contains(&expected), "{expected:?} in\n{conf}");
        }
        let sources: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("source = "))
            .collect();
        assert_eq!(
            sources,
            [
                "pipe:///var/lib/voice gate/snapserver/idle.fifo?name=idle&mode=create",
                "tcp://127.0.0.1:5001?name=S1&mode=server",
                "tcp://127.0.0.1:5002?name=S2&mode=server",
            ]
        );
        // The HTTP control port is off; the session streams are what the speakers play into.
        let http = conf.find("[http]").unwrap();
        assert!(conf[http..].starts_with("[http]\nenabled = false\n"));
        let streams: Vec<String> = config
            .resolved()
            .streams()
            .unwrap()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(streams, ["S1", "S2"]);
        assert!(!streams.iter().any(|s| s == IDLE_STREAM));
    }

    #[test]
    fn a_path_snapserver_could_not_read_is_refused() {
        for dir in ["/data?x", "/data#x", "/data\nport = 1"] {
            let settings = ManagedSettings::new(&SpeakersConfig::default(), Path::new(dir));
            assert!(
                matches!(settings.server_conf(), Err(ManagedError::Path(_))),
                "{dir:?}"
            );
        }
    }
}
