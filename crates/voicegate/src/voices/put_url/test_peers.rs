//! The peers the uploader's tests talk to, all on 127.0.0.1: an HTTP server that records what
//! it is sent, one that accepts and never answers, a closed port, a DNS server that never
//! answers and one that answers every name with one IPv4 address.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::routing::any;
use tokio::net::{TcpListener, UdpSocket};

/// What the recording server saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// The request's method.
    pub method: Method,
    /// The route that answered.
    pub path: String,
    /// The request's `Content-Type`.
    pub content_type: Option<String>,
    /// The request's body.
    pub body: Vec<u8>,
}

/// The requests the recording server saw, in order.
pub type Log = Arc<Mutex<Vec<Seen>>>;

/// Records a request and answers it: `/upload` 201, `/big` a 10 000-byte body, `/moved` a
/// redirect to `/upload`.
async fn record(
    path: &'static str,
    log: Log,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, String) {
    log.lock().unwrap().push(Seen {
        method,
        path: path.into(),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string()),
        body: body.to_vec(),
    });
    match path {
        "/upload" => (StatusCode::CREATED, HeaderMap::new(), "stored".to_string()),
        "/big" => (StatusCode::OK, HeaderMap::new(), "é".repeat(5000)),
        _ => {
            let mut headers = HeaderMap::new();
            headers.insert(header::LOCATION, "/upload".parse().unwrap());
            (StatusCode::FOUND, headers, String::new())
        }
    }
}

/// An HTTP server that records requests ([`record`]).
pub async fn recording_server() -> (SocketAddr, Log) {
    let log = Log::default();
    let route = |path: &'static str| {
        any(
            move |State(log): State<Log>, m: Method, h: HeaderMap, b: Bytes| {
                record(path, log, m, h, b)
            },
        )
    };
    let app = Router::new()
        .route("/upload", route("/upload"))
        .route("/big", route("/big"))
        .route("/moved", route("/moved"))
        .with_state(log.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, log)
}

/// A server that accepts connections and holds them without a word, and how many it accepted.
pub async fn silent_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    (addr, accepted)
}

/// A port on 127.0.0.1 that nothing listens on.
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// A DNS server that never answers: the socket, to keep open and to see whether it was asked.
pub async fn silent_dns() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.unwrap()
}

/// A DNS server that answers the A query of every name with `v4`, AAAA queries with no record
/// and names whose first label starts with `missing` with NXDOMAIN.
pub async fn answering_dns(v4: Ipv4Addr) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buffer = [0u8; 1500];
        while let Ok((n, from)) = socket.recv_from(&mut buffer).await {
            if let Some(answer) = dns_answer(&buffer[..n], v4) {
                let _ = socket.send_to(&answer, from).await;
            }
        }
    });
    addr
}

/// The answer to one DNS query (RFC 1035 4.1): the header, the question repeated and, for an A
/// query, one record.
fn dns_answer(query: &[u8], v4: Ipv4Addr) -> Option<Vec<u8>> {
    let mut end = 12;
    let mut first_label = None;
    loop {
        let len = usize::from(*query.get(end)?);
        end += 1;
        if len == 0 {
            break;
        }
        first_label.get_or_insert(query.get(end..end + len)?);
        end += len;
    }
    let record_type = u16::from_be_bytes([*query.get(end)?, *query.get(end + 1)?]);
    end += 4;
    let missing = first_label.is_some_and(|l| l.starts_with(b"missing"));
    let answers = u8::from(!missing && record_type == 1);
    let mut out = query.get(..2)?.to_vec();
    // QR, the query's RD; RA, then NOERROR or NXDOMAIN.
    out.push(0x80 | (query[2] & 0x01));
    out.push(0x80 | if missing { 3 } else { 0 });
    out.extend_from_slice(&[0, 1, 0, answers, 0, 0, 0, 0]);
    out.extend_from_slice(query.get(12..end)?);
    if answers == 1 {
        // The name (a pointer to the question's), A, IN, a TTL of 60 s, four bytes.
        out.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        out.extend_from_slice(&v4.octets());
    }
    Some(out)
}
