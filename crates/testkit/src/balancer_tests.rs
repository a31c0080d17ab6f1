use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::*;

/// A tiny HTTP/1.1 server named `name` on 127.0.0.1 (keep-alive, as nginx's upstream
/// connections are): `GET /who` answers `NAME host=HOST xff=X-FORWARDED-FOR`, `POST /upload`
/// `NAME bytes=N`, and `GET /stream` an event stream whose second event waits for `release`.
fn upstream(name: &'static str, release: Arc<AtomicBool>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64).map_while(Result::ok) {
            let release = Arc::clone(&release);
            std::thread::spawn(move || serve(name, stream, &release));
        }
    });
    address
}

fn serve(name: &str, stream: TcpStream, release: &AtomicBool) {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    for _request in 0..100 {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => head.push(line.trim_end().to_string()),
            }
        }
        let header = |wanted: &str| {
            head.iter()
                .filter_map(|h| h.split_once(": "))
                .find(|(k, _)| k.eq_ignore_ascii_case(wanted))
                .map(|(_, v)| v.to_string())
                .unwrap_or_default()
        };
        let length: usize = header("content-length").parse().unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request_line = head.first().cloned().unwrap_or_default();
        if request_line.starts_with("GET /stream ") {
            let _ = writer.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n\
                  data: one\n\n",
            );
            let _ = writer.flush();
            let deadline = Instant::now() + Duration::from_secs(5);
            while !release.load(Ordering::SeqCst) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = writer.write_all(b"data: two\n\n");
            return;
        }
        let answer = if request_line.starts_with("POST /upload ") {
            format!("{name} bytes={length}")
        } else {
            format!(
                "{name} host={} xff={}",
                header("host"),
                header("x-forwarded-for")
            )
        };
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn requests_reach_every_upstream_with_their_headers_bodies_and_streams() {
    let release = Arc::new(AtomicBool::new(false));
    let alpha = upstream("alpha", Arc::clone(&release));
    let beta = upstream("beta", Arc::clone(&release));
    // An instance that is down: its turns go to the others.
    let down = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let Some(nginx) = Nginx::start(&[alpha, down, beta]).await else {
        return;
    };
    voicegate::install_tls_provider();
    let client = reqwest::Client::new();
    let mut names = BTreeSet::new();
    for _ in 0..6 {
        let response = client.get(nginx.url("/who")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{}", nginx.error_log());
        let body = response.text().await.unwrap();
        let (name, headers) = body.split_once(' ').unwrap();
        assert_eq!(
            headers,
            format!("host={} xff=127.0.0.1", nginx.addr()),
            "{body}"
        );
        names.insert(name.to_string());
    }
    assert_eq!(names, BTreeSet::from(["alpha".into(), "beta".into()]));
    // As root, nginx runs as the unprivileged user.
    if tied::is_root() {
        assert_ne!(tied::uid_of(nginx.pid()), Some(0), "nginx runs as root");
    }
    let log = nginx.access_log();
    assert_eq!(log.lines().count(), 6, "{log}");
    for address in [alpha, beta] {
        assert!(log.contains(&address.to_string()), "{log}");
    }
    // A body well past nginx's default 1 MiB limit.
    let upload = vec![7u8; 3 << 20];
    let response = client
        .post(nginx.url("/upload"))
        .body(upload)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", nginx.error_log());
    assert!(
        response.text().await.unwrap().ends_with(" bytes=3145728"),
        "the upload arrived whole"
    );
    // An event reaches the client while the upstream holds the stream open.
    let mut stream = client.get(nginx.url("/stream")).send().await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(3), stream.chunk())
        .await
        .expect("the first event passes at once, unbuffered")
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"data: one\n\n");
    release.store(true, Ordering::SeqCst);
    let second = tokio::time::timeout(Duration::from_secs(3), stream.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(&second[..], b"data: two\n\n");
    // Dropped, it stops listening.
    let address = nginx.addr();
    drop(nginx);
    assert!(TcpStream::connect(address).is_err(), "nginx still listens");
}

#[test]
fn the_config_lists_every_upstream_and_keeps_files_in_its_directory() {
    let upstreams = [
        SocketAddr::from(([127, 0, 0, 1], 8001)),
        SocketAddr::from(([127, 0, 0, 1], 8002)),
    ];
    let config = config(Path::new("/tmp/lb"), 9000, &upstreams);
    assert!(config.contains("listen 127.0.0.1:9000;"));
    assert!(config.contains("server 127.0.0.1:8001 ") && config.contains("server 127.0.0.1:8002 "));
    // Everything nginx writes stays in its directory (as `nobody` it may write nowhere else).
    for key in [
        "pid",
        "error_log",
        "access_log",
        "client_body_temp_path",
        "proxy_temp_path",
        "fastcgi_temp_path",
        "uwsgi_temp_path",
        "scgi_temp_path",
    ] {
        let line = config
            .lines()
            .map(str::trim)
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("{key} is set"));
        let path = line.split_whitespace().nth(1).unwrap();
        assert!(path.starts_with("/tmp/lb/"), "{line}");
    }
}
