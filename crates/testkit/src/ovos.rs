//! The real Open Voice OS message bus and the test responder on it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::binary::{free_port, wait_listening};
use crate::python::python;

/// The directory holding the venv's executables (`ovos-messagebus`, `python`).
fn venv_bin() -> PathBuf {
    python().parent().map(Path::to_path_buf).unwrap_or_default()
}

/// A real `ovos-messagebus` (from PyPI) on 127.0.0.1 and a free port.
pub struct OvosBus {
    /// The bus port.
    pub port: u16,
    config_home: TempDir,
    child: Option<Child>,
}

impl OvosBus {
    /// Starts the bus and waits (at most 20 s) until it accepts connections.
    pub async fn start() -> Self {
        let config_home = tempfile::tempdir().expect("a temp dir");
        let mut bus = Self {
            port: free_port(),
            config_home,
            child: None,
        };
        let mycroft = bus.config_home.path().join("mycroft");
        std::fs::create_dir_all(&mycroft).expect("config dir");
        std::fs::write(
            mycroft.join("mycroft.conf"),
            format!(
                r#"{{"websocket": {{"host": "127.0.0.1", "port": {}}}}}"#,
                bus.port
            ),
        )
        .expect("mycroft.conf");
        bus.spawn().await;
        bus
    }

    async fn spawn(&mut self) {
        let child = Command::new(venv_bin().join("ovos-messagebus"))
            .env("XDG_CONFIG_HOME", self.config_home.path())
            .env("XDG_STATE_HOME", self.config_home.path())
            .env("XDG_DATA_HOME", self.config_home.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("ovos-messagebus starts (the test command installs it in .venv)");
        self.child = Some(child);
        wait_listening(self.port, Duration::from_secs(20), || {
            "ovos-messagebus did not listen within 20 s".to_string()
        })
        .await;
    }

    /// Kills the bus (every client loses its connection).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts the bus again on the same port.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.spawn().await;
    }
}

/// Whether the responder's skill-rest-api is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkillState {
    /// Installed and active: it answers.
    Active,
    /// Listed but inactive, silent until `skillmanager.activate`.
    Inactive,
    /// Not installed: not listed, never answers.
    Absent,
}

/// How the test responder behaves.
#[derive(Debug, Clone)]
pub struct ResponderOptions {
    /// The key in the skill's settings.
    pub api_key: String,
    /// How many times the skill answers each request (the published skill: 3).
    pub answers: u32,
    /// Whether the skill is there.
    pub skill: SkillState,
    /// A JSON file served as the assistant's configuration (`ovos.api.config`).
    pub config: Option<PathBuf>,
}

impl ResponderOptions {
    /// The published skill's behaviour with `api_key`: installed, three answers per request.
    pub fn new(api_key: &str) -> Self {
        Self {
            api_key: api_key.to_string(),
            answers: 3,
            skill: SkillState::Active,
            config: None,
        }
    }
}

/// The test responder (`python/ovos_responder.py`): answers like ovos-core, its listener and the
/// skill-rest-api companion skill (several answers per request, refusals of a wrong `app_key`
/// first), checking `app_key` against `api_key`.
pub struct Responder {
    _child: Child,
}

impl Responder {
    /// Connects a responder to the bus and waits (at most 30 s) until it is subscribed.
    pub async fn start(bus: &OvosBus, api_key: &str) -> Self {
        Self::start_with(bus, ResponderOptions::new(api_key)).await
    }

    /// [`Responder::start`] with options.
    pub async fn start_with(bus: &OvosBus, options: ResponderOptions) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/ovos_responder.py");
        let skill = match options.skill {
            SkillState::Active => "active",
            SkillState::Inactive => "inactive",
            SkillState::Absent => "absent",
        };
        let mut command = Command::new(python());
        command
            .arg(script)
            .args(["--port", &bus.port.to_string()])
            .args(["--api-key", &options.api_key])
            .args(["--answers", &options.answers.to_string()])
            .args(["--skill", skill]);
        if let Some(config) = &options.config {
            command.arg("--config").arg(config);
        }
        let mut child = command
            .env("XDG_CONFIG_HOME", bus.config_home.path())
            .env("XDG_STATE_HOME", bus.config_home.path())
            .env("XDG_DATA_HOME", bus.config_home.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the responder starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.trim() == "ready" {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(ready, Ok(true), "the responder did not get ready");
        Self { _child: child }
    }
}
