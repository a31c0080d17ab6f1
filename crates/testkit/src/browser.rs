//! Headless Chromium over WebDriver, and an OAuth client's redirect endpoint.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use crate::binary::free_port;

/// Headless Debian Chromium driven over WebDriver (Debian's chromedriver), for pages a person
/// uses (the OAuth consent page).
pub struct Browser {
    driver: Child,
    port: u16,
    endpoint: String,
    session: String,
    closed: bool,
    http: reqwest::Client,
    _profile: TempDir,
}

/// The W3C WebDriver key of an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How a browser starts: its window, and the WAV file its fake microphone plays (looped).
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    /// Window width and height in CSS pixels.
    pub window: (u32, u32),
    /// A WAV file that `getUserMedia` hears instead of a microphone (Chromium loops it).
    pub fake_audio_capture: Option<PathBuf>,
}

impl Default for BrowserOptions {
    fn default() -> Self {
        Self {
            window: (1280, 900),
            fake_audio_capture: None,
        }
    }
}

/// The directory screenshots go to: `TESTKIT_ARTIFACTS`, else `artifacts/` in the target
/// directory.
pub fn artifacts_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TESTKIT_ARTIFACTS") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("artifacts")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The axe-core script: `TESTKIT_AXE`, else the one the test command installs beside newman.
fn axe_script() -> String {
    let path = std::env::var_os("TESTKIT_AXE").map_or_else(
        || workspace_root().join("scripts/newman/node_modules/axe-core/axe.min.js"),
        PathBuf::from,
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core at {} ({e}): the test command installs it (scripts/newman), or set TESTKIT_AXE",
            path.display()
        )
    })
}

/// The violations of `axe()` whose impact is serious or critical, one line each: the rule, its
/// help and the elements it found.
pub fn serious_violations(violations: &[serde_json::Value]) -> Vec<String> {
    violations
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .map(|v| {
            let targets: Vec<String> = v["nodes"]
                .as_array()
                .map(|nodes| nodes.iter().map(|n| n["target"].to_string()).collect())
                .unwrap_or_default();
            format!("{}: {} ({})", v["id"], v["help"], targets.join(", "))
        })
        .collect()
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless session.
    pub async fn start() -> Self {
        Self::start_with(BrowserOptions::default()).await
    }

    /// Starts chromedriver and a headless session as `options` say.
    pub async fn start_with(options: BrowserOptions) -> Self {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts (the test command installs chromium-driver)");
        let endpoint = format!("http://127.0.0.1:{port}");
        voicegate::install_tls_provider();
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while http.get(format!("{endpoint}/status")).send().await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not answer within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("a temp dir");
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            format!("--user-data-dir={}", profile.path().display()),
            format!("--window-size={},{}", options.window.0, options.window.1),
            "--autoplay-policy=no-user-gesture-required".into(),
        ];
        if let Some(wav) = &options.fake_audio_capture {
            args.push("--use-fake-ui-for-media-stream".into());
            args.push("--use-fake-device-for-media-stream".into());
            args.push(format!(
                "--use-file-for-fake-audio-capture={}",
                wav.display()
            ));
        }
        // Element lookups wait (up to 10 s) for the element to appear: after a click that
        // submits a form, the next page may still be on its way.
        let capabilities = serde_json::json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
            "timeouts": {"implicit": 10000, "script": 30000},
        }}});
        let answer: serde_json::Value = http
            .post(format!("{endpoint}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session JSON");
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {answer}"))
            .to_string();
        Self {
            driver,
            port,
            endpoint,
            session,
            closed: false,
            http,
            _profile: profile,
        }
    }

    async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        let url = format!("{}/session/{}{path}", self.endpoint, self.session);
        let mut request = self.http.request(method.clone(), url);
        if method != reqwest::Method::GET {
            request = request.json(&body);
        }
        let answer: serde_json::Value = request
            .send()
            .await
            .expect("webdriver answers")
            .json()
            .await
            .expect("webdriver JSON");
        assert!(
            answer["value"].get("error").is_none(),
            "webdriver {path}: {answer}"
        );
        answer["value"].clone()
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.command(
            reqwest::Method::POST,
            "/url",
            serde_json::json!({"url": url}),
        )
        .await;
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .command(
                reqwest::Method::POST,
                "/element",
                serde_json::json!({"using": "css selector", "value": css}),
            )
            .await;
        found[ELEMENT_KEY].as_str().expect("an element").to_string()
    }

    /// Types `text` into the element matching `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            serde_json::json!({"text": text}),
        )
        .await;
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            serde_json::json!({}),
        )
        .await;
    }

    /// The text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let id = self.element(css).await;
        let value = self
            .command(
                reqwest::Method::GET,
                &format!("/element/{id}/text"),
                serde_json::Value::Null,
            )
            .await;
        value.as_str().unwrap_or_default().to_string()
    }

    /// The text of the element matching `css`, or `None` when there is none (at once).
    pub async fn try_text(&self, css: &str) -> Option<String> {
        let found = self
            .execute(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
                serde_json::json!([css]),
            )
            .await;
        found.as_str().map(str::to_string)
    }

    /// Waits (at most `limit`) for an element matching `css`.
    pub async fn wait_for(&self, css: &str, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let found = self
                .execute(
                    "return document.querySelector(arguments[0]) !== null;",
                    serde_json::json!([css]),
                )
                .await;
            if found == serde_json::json!(true) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {css} within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (at most `limit`) until the text of the element matching `css` contains
    /// `needle`, and answers it.
    pub async fn wait_for_text(&self, css: &str, needle: &str, limit: Duration) -> String {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let text = self.try_text(css).await;
            if let Some(text) = text.as_deref().filter(|t| t.contains(needle)) {
                return text.to_string();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{css} did not say {needle:?} within {limit:?}; it says {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `script` in the page with `args` (`arguments[0]`…) and answers what it returns.
    pub async fn execute(&self, script: &str, args: serde_json::Value) -> serde_json::Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            serde_json::json!({"script": script, "args": args}),
        )
        .await
    }

    /// Runs `script` in the page; it answers by calling its last argument (at most 30 s).
    pub async fn execute_async(&self, script: &str, args: serde_json::Value) -> serde_json::Value {
        self.command(
            reqwest::Method::POST,
            "/execute/async",
            serde_json::json!({"script": script, "args": args}),
        )
        .await
    }

    /// Moves the range input matching `css` to `value` as a person dragging it would: its
    /// `input` events, then `change` when let go.
    pub async fn set_range(&self, css: &str, value: &str) {
        self.element(css).await;
        self.execute(
            "const e = document.querySelector(arguments[0]); e.focus(); e.value = arguments[1];
             e.dispatchEvent(new Event('input', {bubbles: true}));
             e.dispatchEvent(new Event('change', {bubbles: true}));",
            serde_json::json!([css, value]),
        )
        .await;
    }

    /// Resizes the window (CSS pixels).
    pub async fn set_window_size(&self, width: u32, height: u32) {
        self.command(
            reqwest::Method::POST,
            "/window/rect",
            serde_json::json!({"width": width, "height": height}),
        )
        .await;
    }

    /// Saves a screenshot of the page as `<artifacts_dir>/<name>.png` and answers its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine;
        let encoded = self
            .command(reqwest::Method::GET, "/screenshot", serde_json::Value::Null)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("a base64 screenshot"))
            .expect("base64");
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir).expect("the artifacts directory");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("the screenshot written");
        path
    }

    /// The page's cookies as WebDriver sees them (name, value, httpOnly, sameSite…).
    pub async fn cookies(&self) -> Vec<serde_json::Value> {
        let all = self
            .command(reqwest::Method::GET, "/cookie", serde_json::Value::Null)
            .await;
        all.as_array().cloned().unwrap_or_default()
    }

    /// Runs axe-core on the page and answers its violations (each with `id`, `impact`, `help`
    /// and `nodes`).
    pub async fn axe(&self) -> Vec<serde_json::Value> {
        self.execute(&axe_script(), serde_json::json!([])).await;
        let found = self
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']})
                    .then(r => done(r.violations), e => done([{id: 'axe-failed', impact: 'critical', help: String(e), nodes: []}]));",
                serde_json::json!([]),
            )
            .await;
        found.as_array().cloned().unwrap_or_default()
    }

    /// Ends the session and the driver.
    pub async fn close(mut self) {
        self.closed = true;
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.endpoint, self.session))
            .send()
            .await;
        let _ = self.driver.kill().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that fails before `close` still ends its session, so that chromedriver quits
        // Chromium: killing chromedriver alone (kill_on_drop) would leave Chromium running.
        if !self.closed {
            let _ = end_session_now(self.port, &self.session);
        }
    }
}

/// Ends a WebDriver session without an async runtime (from `Drop`): one plain HTTP request.
fn end_session_now(port: u16, session: &str) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "DELETE /session/{session} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )?;
    // chromedriver answers once Chromium has quit.
    let mut answer = [0; 64];
    let _ = stream.read(&mut answer)?;
    Ok(())
}

/// A one-shot HTTP endpoint on 127.0.0.1 standing in for an OAuth client's redirect URI: it
/// answers 200 to the first request and hands over the request target (path and query).
pub async fn callback_listener() -> (String, oneshot::Receiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a callback port");
    let address = listener.local_addr().expect("an address");
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let mut tx = Some(tx);
        while let Ok((socket, _)) = listener.accept().await {
            let (read, mut write) = socket.into_split();
            let mut lines = BufReader::new(read).lines();
            let Ok(Some(request_line)) = lines.next_line().await else {
                continue;
            };
            let target = request_line
                .split(' ')
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let _ = write
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .await;
            if !target.starts_with("/favicon")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(target);
            }
        }
    });
    (format!("http://{address}/callback"), rx)
}
