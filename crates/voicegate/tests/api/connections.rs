//! Connection limits, tried with raw sockets: clients dribbling headers are cut off after the
//! header-read timeout while other clients are answered, idle kept-alive connections close, and
//! connections beyond the cap wait instead of failing.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use testkit::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::client;

fn address(server: &TestServer) -> String {
    server.base.trim_start_matches("http://").to_string()
}

/// Waits (at most `limit`) until the server closes `socket`; how long that took, or `None`.
async fn closed_within(socket: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buffer = [0u8; 1024];
    loop {
        let left = limit.checked_sub(start.elapsed())?;
        match tokio::time::timeout(left, socket.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_dribbling_headers_are_cut_off_while_others_are_answered() {
    // The idle timeout is longer: only the header-read timeout can cut a client off (a client
    // task starved by a busy machine could otherwise see its connection idle before it writes).
    let server = TestServer::start_with(|config| {
        config.http.header_read_timeout_secs = 2;
        config.http.idle_timeout_secs = 20;
    })
    .await;
    let address = address(&server);
    // 300 clients send a request line, then a header line every 200 ms, for at most 10 s.
    let mut slow = Vec::new();
    for i in 0..300 {
        let address = address.clone();
        slow.push(tokio::spawn(async move {
            let mut socket = TcpStream::connect(&address).await.unwrap();
            let opened = Instant::now();
            let head = format!("GET /health HTTP/1.1\r\nHost: {address}\r\n");
            socket.write_all(head.as_bytes()).await.unwrap();
            for _ in 0..50 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let line = format!("X-Slow-{i}: still sending\r\n");
                if socket.write_all(line.as_bytes()).await.is_err() {
                    return Some(opened.elapsed());
                }
                let mut buffer = [0u8; 256];
                if let Ok(read) =
                    tokio::time::timeout(Duration::from_millis(1), socket.read(&mut buffer)).await
                {
                    // Closed (0 or an error), or an error answer: either way it was cut off.
                    let _ = read;
                    return Some(opened.elapsed());
                }
            }
            None
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Meanwhile other clients are answered at once.
    let mut answers = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let response = client().get(server.url("/health")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        answers.push(started.elapsed());
    }
    let fastest = answers.iter().min().unwrap();
    assert!(
        *fastest < Duration::from_millis(100),
        "answers with 300 slow clients took {answers:?}"
    );
    // Each slow client is cut off after the 2 s header-read timeout, long before its 5 s.
    for task in slow {
        let cut_off = task
            .await
            .unwrap()
            .expect("a slow client was never cut off");
        assert!(
            (Duration::from_millis(1800)..Duration::from_millis(3500)).contains(&cut_off),
            "cut off after {cut_off:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_closes_after_the_idle_timeout() {
    let server = TestServer::start_with(|config| {
        config.http.header_read_timeout_secs = 4;
        config.http.idle_timeout_secs = 1;
    })
    .await;
    let address = address(&server);
    let mut socket = TcpStream::connect(&address).await.unwrap();
    let request = format!("GET /health HTTP/1.1\r\nHost: {address}\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut buffer = [0u8; 1024];
    let read = socket.read(&mut buffer).await.unwrap();
    assert!(buffer[..read].starts_with(b"HTTP/1.1 200"));
    // Kept alive, then closed once silent for 1 s (not at the 4 s header-read timeout).
    let closed = closed_within(&mut socket, Duration::from_secs(3))
        .await
        .expect("the idle connection stayed open");
    assert!(
        closed >= Duration::from_millis(800),
        "closed after {closed:?}"
    );
    // A connection that never sends anything is closed the same way.
    let mut silent = TcpStream::connect(&address).await.unwrap();
    let closed = closed_within(&mut silent, Duration::from_secs(3)).await;
    assert!(closed.is_some(), "the silent connection stayed open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_for_a_free_one() {
    let server = TestServer::start_with(|config| {
        config.http.max_connections = 2;
        config.http.header_read_timeout_secs = 2;
        config.http.idle_timeout_secs = 1;
    })
    .await;
    let address = address(&server);
    let _first = TcpStream::connect(&address).await.unwrap();
    let _second = TcpStream::connect(&address).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Both slots are taken by silent clients: a third waits until the idle timeout frees one.
    let started = Instant::now();
    let response = client().get(server.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let waited = started.elapsed();
    assert!(
        (Duration::from_millis(700)..Duration::from_secs(3)).contains(&waited),
        "the third connection was answered after {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_clients_waits_in_the_backlog_and_is_answered() {
    // One slot, held by a silent client for the 1 s idle timeout: meanwhile 300 clients connect
    // and send their request, all waiting in the listen backlog.
    let server = TestServer::start_with(|config| {
        config.http.max_connections = 1;
        config.http.idle_timeout_secs = 1;
    })
    .await;
    let address = address(&server);
    let _holder = TcpStream::connect(&address).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut clients = Vec::new();
    for _ in 0..300 {
        let address = address.clone();
        clients.push(tokio::spawn(async move {
            let mut socket = TcpStream::connect(&address).await.unwrap();
            let request =
                format!("GET /health HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
            socket.write_all(request.as_bytes()).await.unwrap();
            let mut answer = Vec::new();
            let read =
                tokio::time::timeout(Duration::from_secs(20), socket.read_to_end(&mut answer))
                    .await;
            match read {
                Ok(Ok(_)) => String::from_utf8_lossy(&answer)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string(),
                Ok(Err(e)) => format!("error: {e}"),
                Err(_) => "no answer within 20 s".to_string(),
            }
        }));
    }
    let mut answers = std::collections::BTreeMap::<String, usize>::new();
    for client in clients {
        *answers.entry(client.await.unwrap()).or_default() += 1;
    }
    assert_eq!(
        answers,
        [("HTTP/1.1 200 OK".to_string(), 300)].into(),
        "{answers:?}"
    );
}
