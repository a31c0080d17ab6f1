//! The real Open Voice OS stack (ovos-messagebus, ovos-core, ovos-audio, ovos-dinkum-listener),
//! started once per test process by `python/ovos_stack.py` and shared by the tests that use it.
//!
//! The stack runs in an isolated HOME and XDG folders under a temp directory, everything on
//! 127.0.0.1. Its supervisor stops every service, and removes the directory, when its standard
//! input closes: when the test process exits, however it exits. A start that fails, or takes
//! longer than [`START_DEADLINE`], fails the tests with the services' logs.
//!
//! When the venv lacks the stack's packages, the tests fail under `CI=true` and are skipped
//! elsewhere, with one line saying how to install them (as [`crate::shared_file`] does).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::Duration;

use crate::binary::free_port;
use crate::python::python;

/// How long the services have to say they are ready.
pub const START_DEADLINE: Duration = Duration::from_secs(60);

/// The Python modules the stack needs (installed by the test command from
/// `scripts/test-requirements.txt`).
pub const STACK_MODULES: [&str; 8] = [
    "ovos_messagebus",
    "ovos_core",
    "ovos_audio",
    "ovos_dinkum_listener",
    "ovos_microphone_plugin_files",
    "ovos_vad_plugin_silero",
    "ovos_tts_plugin_beepspeak",
    "ovos_stt_plugin_server",
];

/// The running stack.
pub struct OvosStack {
    /// The bus port on 127.0.0.1.
    pub port: u16,
    root: PathBuf,
    /// The supervisor and the pipe whose closing stops it: kept open for the process's life.
    _supervisor: Mutex<(Child, ChildStdin)>,
    turn: tokio::sync::Mutex<()>,
}

enum State {
    Running(OvosStack),
    Missing(String),
    Failed(String),
}

static STACK: OnceLock<State> = OnceLock::new();

impl OvosStack {
    /// The shared stack, started by the first caller. `None` (after one line on standard error)
    /// when its packages are missing outside CI, so the test returns early and passes; a panic
    /// when they are missing under `CI=true`, or when the stack did not start.
    pub async fn shared() -> Option<&'static OvosStack> {
        // Starting blocks for seconds: off the test's runtime.
        tokio::task::spawn_blocking(|| STACK.get_or_init(start))
            .await
            .expect("the stack start does not panic");
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        match STACK.get().expect("initialised above") {
            State::Running(stack) => Some(stack),
            State::Missing(what) if !ci => {
                // Straight to standard error: the harness captures `eprintln!`.
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "skipped: {what}");
                None
            }
            State::Missing(what) => panic!("{what}"),
            State::Failed(why) => panic!("{why}"),
        }
    }

    /// Waits for this test's turn on the stack: the services' state (microphone, sleep, speech)
    /// is shared, so the tests that change it run one at a time.
    pub async fn turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.turn.lock().await
    }

    /// Every service's output so far, each under a `== name ==` line.
    pub fn logs(&self) -> String {
        read_logs(&self.root.join("logs"), usize::MAX)
    }

    /// The sounds ovos-audio played so far (copies kept by the player), in order.
    pub fn played(&self) -> Vec<PathBuf> {
        let mut played: Vec<PathBuf> = std::fs::read_dir(self.root.join("played"))
            .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        played.sort();
        played
    }
}

/// What is missing for the stack, if anything.
fn missing() -> Option<String> {
    let check = format!(
        "import importlib.util, sys; missing = [m for m in {:?} if importlib.util.find_spec(m) is None]; print(' '.join(missing))",
        STACK_MODULES
    );
    let how = "run scripts/test, which installs them in .venv, or point TESTKIT_PYTHON at a \
               venv made from scripts/test-requirements.txt";
    let output = Command::new(python()).arg("-c").arg(&check).output();
    let modules = match output {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
        Err(e) => format!("{} ({e})", python().display()),
    };
    if !modules.is_empty() {
        return Some(format!(
            "the Open Voice OS stack's Python packages are missing ({modules}); {how}"
        ));
    }
    // The beepspeak TTS joins its sounds with sox.
    let sox = Command::new("sox").arg("--version").output();
    if !sox.is_ok_and(|out| out.status.success()) {
        return Some(
            "the sox program is missing (the stack's TTS needs it); run scripts/test, which \
             installs it"
                .into(),
        );
    }
    None
}

fn start() -> State {
    if let Some(what) = missing() {
        return State::Missing(what);
    }
    let root = match tempfile::Builder::new().prefix("voicegate-ovos-").tempdir() {
        // The supervisor removes it when it stops.
        Ok(dir) => dir.keep(),
        Err(e) => return State::Failed(format!("no temp dir for the stack: {e}")),
    };
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/ovos_stack.py");
    let spawned = Command::new(python())
        .arg(script)
        .arg("--root")
        .arg(&root)
        .args(["--port", &port.to_string()])
        .args(["--deadline", &START_DEADLINE.as_secs().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return State::Failed(format!("the stack's supervisor did not start: {e}")),
    };
    let stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    // The first line says how the start went; read on a thread, to bound the wait.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let first = rx.recv_timeout(START_DEADLINE + Duration::from_secs(15));
    match first {
        Ok(line) if line.trim() == "ready" => State::Running(OvosStack {
            port,
            root,
            _supervisor: Mutex::new((child, stdin)),
            turn: tokio::sync::Mutex::new(()),
        }),
        outcome => {
            let why = match outcome {
                Ok(line) if !line.trim().is_empty() => line.trim().to_string(),
                Ok(_) => "the supervisor exited".to_string(),
                Err(_) => format!("no answer within {START_DEADLINE:?}"),
            };
            let logs = read_logs(&root.join("logs"), 60);
            drop(stdin);
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&root);
            State::Failed(format!(
                "the Open Voice OS stack did not start: {why}\n{logs}"
            ))
        }
    }
}

/// The logs in `dir`, each under a `== name ==` line, the last `tail` lines of each.
fn read_logs(dir: &Path, tail: usize) -> String {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    names.sort();
    let mut out = String::new();
    for path in names {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(tail)..];
        out.push_str(&format!(
            "== {} ==\n{}\n",
            path.file_stem().unwrap_or_default().to_string_lossy(),
            tail.join("\n")
        ));
    }
    out
}
