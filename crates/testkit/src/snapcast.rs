//! The real Snapcast: `snapserver` and `snapclient` from Debian, on 127.0.0.1 and free ports,
//! the clients writing what they play to files (raw 48000 Hz, 16-bit, stereo PCM).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

use crate::binary::{free_port, wait_listening};

/// Bytes per second of the streams' format (48000 Hz, 16-bit, 2 channels).
pub const PCM_BYTES_PER_SECOND: usize = 48_000 * 2 * 2;

/// A real `snapserver` with a pool of TCP stream sources, each listening on 127.0.0.1.
pub struct Snapserver {
    /// The JSON-RPC control port (`[tcp]`).
    pub control_port: u16,
    /// The port snapclients connect to (`[stream]`).
    pub stream_port: u16,
    /// The stream sources: (name, port to write PCM into).
    pub sources: Vec<(String, u16)>,
    /// The buffer (end-to-end latency) in milliseconds.
    pub buffer_ms: u32,
    dir: TempDir,
    child: Option<Child>,
}

impl Snapserver {
    /// Starts snapserver with `sources` TCP sources named `S1`, `S2`, … and a `buffer_ms`
    /// buffer, and waits (at most 10 s) until its control port accepts connections.
    pub async fn start(sources: usize, buffer_ms: u32) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut server = Self {
            control_port: free_port(),
            stream_port: free_port(),
            sources: (1..=sources)
                .map(|n| (format!("S{n}"), free_port()))
                .collect(),
            buffer_ms,
            dir,
            child: None,
        };
        server.write_config();
        server.spawn().await;
        server
    }

    /// `127.0.0.1:PORT` of the control port.
    pub fn control_address(&self) -> String {
        format!("127.0.0.1:{}", self.control_port)
    }

    /// A folder for the test's files, removed with the server.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn write_config(&self) {
        let data = self.dir.path().join("data");
        std::fs::create_dir_all(&data).expect("snapserver data dir");
        let mut config = format!(
            "[server]\nthreads = 2\ndatadir = {}\n\n\
             [http]\nenabled = false\n\n\
             [tcp]\nenabled = true\nbind_to_address = 127.0.0.1\nport = {}\n\n\
             [stream]\nbind_to_address = 127.0.0.1\nport = {}\n",
            data.display(),
            self.control_port,
            self.stream_port
        );
        for (name, port) in &self.sources {
            config.push_str(&format!(
                "source = tcp://127.0.0.1:{port}?name={name}&mode=server&sampleformat=48000:16:2\n"
            ));
        }
        config.push_str(&format!(
            "sampleformat = 48000:16:2\ncodec = pcm\nchunk_ms = 20\nbuffer = {}\n\
             send_to_muted = true\n\n[logging]\nfilter = *:warning\n",
            self.buffer_ms
        ));
        std::fs::write(self.config_path(), config).expect("snapserver.conf");
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("snapserver.conf")
    }

    async fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("snapserver.log")).expect("log");
        let child = Command::new("snapserver")
            .arg("-c")
            .arg(self.config_path())
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .expect("snapserver starts (the test command installs Debian's snapserver)");
        self.child = Some(child);
        let log = self.dir.path().join("snapserver.log");
        wait_listening(self.control_port, Duration::from_secs(10), || {
            format!(
                "snapserver did not listen within 10 s: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        })
        .await;
    }

    /// Kills snapserver (its clients and control connections lose it).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts snapserver again on the same ports and data.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.spawn().await;
    }

    /// Writes `pcm` (48000:16:2) into the source named `source`, at once (snapserver buffers
    /// it), and keeps the connection open for `hold` so the source stays playing.
    pub async fn write_pcm(&self, source: &str, pcm: &[u8], hold: Duration) {
        let port = self
            .sources
            .iter()
            .find(|(name, _)| name == source)
            .map(|(_, port)| *port)
            .expect("a configured source");
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("the source accepts a writer");
        stream.write_all(pcm).await.expect("PCM written");
        tokio::time::sleep(hold).await;
    }
}

/// A real `snapclient` writing what it plays to a file.
pub struct Snapclient {
    /// Its client id (the `--hostID` it was started with).
    pub id: String,
    /// The file its player writes (raw 48000:16:2; silence while idle, in real time).
    pub output: PathBuf,
    child: Child,
}

impl Snapclient {
    /// Starts a client of `server` named `id`, writing to a file in the server's folder.
    pub async fn start(server: &Snapserver, id: &str) -> Self {
        Self::start_at(server.dir(), server.stream_port, id).await
    }

    /// Starts a client named `id` of the snapserver whose stream port is 127.0.0.1:`port` (one
    /// the test did not start), writing its audio (`ID.pcm`) and log in `dir`.
    pub async fn start_at(dir: &Path, port: u16, id: &str) -> Self {
        let output = dir.join(format!("{id}.pcm"));
        let log = std::fs::File::create(dir.join(format!("{id}.log"))).expect("log");
        let child = Command::new("snapclient")
            .args(["-h", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .args(["--hostID", id, "--logsink", "stdout", "--player"])
            // Appending: a player restart (a stream switch, a reconnect) must not truncate.
            .arg(format!("file:filename={},mode=a", output.display()))
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .expect("snapclient starts (the test command installs Debian's snapclient)");
        Self {
            id: id.to_string(),
            output,
            child,
        }
    }

    /// The samples written so far (both channels, interleaved).
    pub fn samples(&self) -> Vec<i16> {
        let bytes = std::fs::read(&self.output).unwrap_or_default();
        bytes
            .chunks_exact(2)
            .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
            .collect()
    }

    /// The loudest sample written after the first `skip` samples.
    pub fn peak_after(&self, skip: usize) -> i32 {
        self.samples()
            .iter()
            .skip(skip)
            .map(|s| i32::from(*s).abs())
            .max()
            .unwrap_or(0)
    }

    /// Stops the client.
    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// `seconds` of a `hz` sine at `amplitude` (of 32767), as 48000:16:2 PCM bytes.
pub fn sine_pcm(hz: f64, seconds: f64, amplitude: f64) -> Vec<u8> {
    let frames = (48_000.0 * seconds) as usize;
    let mut pcm = Vec::with_capacity(frames * 4);
    for n in 0..frames {
        let value = (amplitude * (2.0 * std::f64::consts::PI * hz * n as f64 / 48_000.0).sin())
            .round() as i16;
        pcm.extend_from_slice(&value.to_le_bytes());
        pcm.extend_from_slice(&value.to_le_bytes());
    }
    pcm
}
