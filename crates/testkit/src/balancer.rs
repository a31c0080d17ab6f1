//! A real load balancer for the tests: Debian's nginx on 127.0.0.1 and a free port, spreading
//! requests round robin over the voicegate instances it is given.
//!
//! It passes what the instances need: `Host` and `X-Forwarded-For`, bodies up to 64 MiB,
//! WebSocket upgrades, and server-sent event streams unbuffered and without a read timeout
//! shorter than an hour. An instance that refuses connections is skipped for a second
//! (`fail_timeout`), the request going to the next one.
//!
//! nginx runs as one process (no master), configured, logging and keeping its temp files in a
//! temp directory, as `nobody` when the tests run as root; it is killed when the handle drops and
//! when the test process dies (see [`crate::tied`]). Without nginx the tests that need it fail
//! under `CI=true` and are skipped elsewhere with one line ([`available`] says why).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tempfile::TempDir;

use crate::binary::free_port;
use crate::tied::{self, TiedChild};

/// How long nginx has to accept connections once started.
pub const START_DEADLINE: Duration = Duration::from_secs(10);

/// The largest request body nginx passes on (voice recordings, dataset uploads).
pub const BODY_LIMIT: &str = "64m";

/// The nginx program, or why the tests cannot start one here: `nginx` on `PATH` or in
/// `/usr/sbin` (Debian's, outside root's `PATH`), and `setpriv` (util-linux).
pub fn available() -> Result<PathBuf, String> {
    if !tied::on_path("setpriv") {
        return Err("setpriv (util-linux) is missing; it starts nginx".into());
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|program| program.is_file())
        .ok_or_else(|| {
            "nginx is missing (not on PATH nor in /usr/sbin); scripts/test installs Debian's \
             nginx"
                .to_string()
        })
}

/// A running nginx balancing over some upstreams.
pub struct Nginx {
    port: u16,
    dir: TempDir,
    child: TiedChild,
}

impl Nginx {
    /// Starts nginx in front of `upstreams` (at least one) and waits (at most
    /// [`START_DEADLINE`]) until it accepts connections. `None` (after one `skipped:` line)
    /// when nginx is missing outside CI; a panic when it is missing under `CI=true`, or when it
    /// did not start (with its error log).
    pub async fn start(upstreams: &[SocketAddr]) -> Option<Nginx> {
        assert!(!upstreams.is_empty(), "nginx needs at least one upstream");
        let program = match available() {
            Ok(program) => program,
            Err(why) => {
                crate::shared::skip_or_fail(&why);
                return None;
            }
        };
        let dir = tempfile::Builder::new()
            .prefix("testkit-nginx")
            .tempdir()
            .expect("a temp dir for nginx");
        let mut error_log = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            std::fs::write(
                dir.path().join("nginx.conf"),
                config(dir.path(), port, upstreams),
            )
            .expect("nginx.conf written");
            if let Err(why) = tied::hand_over(dir.path()) {
                panic!("nginx's directory: {why}");
            }
            let mut command = tied::command(&program);
            command
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(dir.path().join("nginx.conf"))
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let child = TiedChild::spawn(command, "nginx").expect("nginx starts");
            let deadline = tokio::time::Instant::now() + START_DEADLINE;
            loop {
                if tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
                {
                    return Some(Nginx { port, dir, child });
                }
                if child.exited().is_some() || tokio::time::Instant::now() > deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            error_log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
            if child.exited().is_none() || !error_log.contains("Address already in use") {
                break;
            }
        }
        panic!(
            "nginx did not accept connections within {} s: {error_log}",
            START_DEADLINE.as_secs()
        );
    }

    /// nginx's process id.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Where it listens: 127.0.0.1 and its port.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The absolute URL of `path` through the balancer.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    /// The access log so far: a line a request, `METHOD PATH STATUS UPSTREAM` (the instance that
    /// answered, `ADDRESS, ADDRESS` when the first one failed).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    /// nginx's error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

/// nginx.conf: one process, everything it writes under `dir`, `port` on 127.0.0.1, round robin
/// over `upstreams`.
fn config(dir: &Path, port: u16, upstreams: &[SocketAddr]) -> String {
    let dir = dir.display();
    let servers: String = upstreams
        .iter()
        .map(|a| format!("        server {a} max_fails=1 fail_timeout=1s;\n"))
        .collect();
    format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{
    worker_connections 1024;
}}
http {{
    log_format upstreams '$request_method $request_uri $status $upstream_addr';
    access_log {dir}/access.log upstreams;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    client_max_body_size {BODY_LIMIT};
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        '' '';
    }}
    upstream voicegate {{
{servers}        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://voicegate;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_connect_timeout 2s;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }}
    }}
}}
"#
    )
}

#[cfg(test)]
#[path = "balancer_tests.rs"]
mod tests;
