use super::*;
use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;

use axum::http::Method;

use crate::voices::put_url::test_peers::{
    Seen, answering_dns, closed_port, recording_server, silent_dns, silent_server,
};

/// The one message of every destination failure.
const UNREACHABLE: &str = "put_url destination could not be reached or is not allowed";

fn uploader_with(adjust: impl FnOnce(&mut VoicesConfig)) -> PutUrl {
    let mut config = VoicesConfig::default();
    adjust(&mut config);
    PutUrl::new(&config).unwrap()
}

fn uploader(allow: &[&str], timeout_ms: u64) -> PutUrl {
    uploader_with(|c| {
        c.put_url_allow = allow.iter().map(|s| s.to_string()).collect();
        c.put_url_timeout_ms = timeout_ms;
    })
}

/// What [`PutUrl::addresses`] makes of `url`: the checked addresses or the logged cause.
async fn addresses(put: &PutUrl, url: &str) -> Result<Vec<SocketAddr>, Failure> {
    let destination = Destination::parse(url).unwrap();
    put.addresses(&destination, Instant::now() + put.timeout)
        .await
}

/// Whether a query reached the silent DNS server.
async fn asked(dns: &tokio::net::UdpSocket) -> bool {
    let mut query = [0u8; 512];
    tokio::time::timeout(Duration::from_millis(100), dns.recv_from(&mut query))
        .await
        .is_ok()
}

#[tokio::test]
async fn an_allowlisted_local_server_gets_the_wav_and_its_status_is_returned() {
    let (addr, log) = recording_server().await;
    let wav = b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0".to_vec();
    let put = uploader(&["127.0.0.1/32"], 10_000);
    let url = format!("http://{addr}/upload?sig=abc");
    put.check(&url).await.unwrap();
    assert!(log.lock().unwrap().is_empty(), "check does not upload");
    let response = put.put(&url, wav.clone()).await.unwrap();
    assert_eq!(
        response,
        PutUrlResponse {
            status: 201,
            body: "stored".into()
        }
    );
    let seen = log.lock().unwrap().clone();
    assert_eq!(
        seen,
        [Seen {
            method: Method::PUT,
            path: "/upload".into(),
            content_type: Some("audio/wav".into()),
            body: wav,
        }]
    );
}

#[tokio::test]
async fn a_local_server_is_refused_without_the_allowlist() {
    let (addr, log) = recording_server().await;
    let url = format!("http://{addr}/upload");
    for allow in [&[][..], &["127.0.0.2/32", "10.0.0.0/8", "minio.lan"][..]] {
        let put = uploader(allow, 10_000);
        let cause = addresses(&put, &url).await.unwrap_err();
        assert!(
            matches!(
                cause,
                Failure::Refused {
                    range: "loopback",
                    ..
                }
            ),
            "{cause}"
        );
        // The log says why; the client does not learn it.
        let logged = cause.to_string();
        assert!(logged.contains("127.0.0.1"), "{logged}");
        assert!(logged.contains("voices.put_url_allow"), "{logged}");
        let err = put.check(&url).await.unwrap_err();
        assert!(matches!(err, PutUrlError::Unreachable), "{err}");
        let err = put.put(&url, b"x".to_vec()).await.unwrap_err();
        assert!(matches!(err, PutUrlError::Unreachable), "{err}");
    }
    assert!(log.lock().unwrap().is_empty());
}

#[tokio::test]
async fn local_use_nat64_and_6to4_addresses_are_refused_before_connecting() {
    let put = uploader(&[], 10_000);
    for (url, range) in [
        ("http://[64:ff9b:1::a00:1]/upload", "local-use NAT64"),
        ("http://[2002:7f00:1::1]:8080/upload", "6to4"),
    ] {
        let cause = addresses(&put, url).await.unwrap_err();
        assert!(
            matches!(cause, Failure::Refused { range: r, .. } if r.contains(range)),
            "{url}: {cause}"
        );
    }
}

#[tokio::test]
async fn host_names_resolve_through_the_configured_dns_and_are_checked() {
    let (addr, log) = recording_server().await;
    let dns = answering_dns(Ipv4Addr::LOCALHOST).await;
    let with = |allow: &[&str]| {
        let allow: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
        uploader_with(|c| {
            c.put_url_nameservers = vec![dns.to_string()];
            c.put_url_allow = allow;
        })
    };
    let url = format!("http://bucket.test:{}/upload", addr.port());
    let cause = addresses(&with(&[]), &url).await.unwrap_err();
    assert!(
        matches!(
            cause,
            Failure::Refused {
                range: "loopback",
                ..
            }
        ),
        "{cause}"
    );
    let cause = addresses(&with(&[]), "http://missing.test/x")
        .await
        .unwrap_err();
    assert!(matches!(cause, Failure::Resolve(_)), "{cause}");
    assert!(log.lock().unwrap().is_empty());
    for allow in ["BUCKET.test", "127.0.0.1/32"] {
        let response = with(&[allow]).put(&url, b"named".to_vec()).await.unwrap();
        assert_eq!(response.status, 201, "{allow}");
    }
    assert_eq!(log.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn every_destination_failure_is_one_error_naming_no_address() {
    let (open, log) = recording_server().await;
    let (silent, _) = silent_server().await;
    let closed = closed_port().await;
    let dns = answering_dns(Ipv4Addr::new(10, 9, 8, 7)).await;
    let hung_dns = silent_dns().await;
    let config = |c: &mut VoicesConfig, dns: String| {
        c.put_url_allow = vec!["127.0.0.1/32".into()];
        c.put_url_timeout_ms = 500;
        c.put_url_nameservers = vec![dns];
    };
    let put = uploader_with(|c| config(c, dns.to_string()));
    let hung = uploader_with(|c| config(c, hung_dns.local_addr().unwrap().to_string()));
    let mut messages = Vec::new();
    for (put, url) in [
        // Refused addresses, given and resolved (to 10.9.8.7); none is connected to.
        (&put, format!("http://[::1]:{}/upload", open.port())),
        (&put, format!("http://0.0.0.0:{}/upload", open.port())),
        (&put, format!("http://internal.test:{}/upload", open.port())),
        // No such name, and no DNS answer at all.
        (&put, "http://missing.test/upload".into()),
        (&hung, "http://slow.test/upload".into()),
        // Allowed, but the connection is refused, the TLS handshake fails, or no answer comes.
        (&put, format!("http://{closed}/upload")),
        (&put, format!("https://{open}/upload")),
        (&put, format!("http://{silent}/upload")),
    ] {
        let err = put.put(&url, b"x".to_vec()).await.unwrap_err();
        messages.push((url, err.to_string()));
    }
    for (url, message) in &messages {
        assert_eq!(message, UNREACHABLE, "{url}");
        for detail in [
            "127.0.0.1",
            "::1",
            "0.0.0.0",
            "10.9.8.7",
            ".test",
            "refused",
        ] {
            assert!(!message.contains(detail), "{url}: {message}");
        }
    }
    for url in [
        format!("http://internal.test:{}/upload", open.port()),
        "http://missing.test/upload".into(),
    ] {
        let err = put.check(&url).await.unwrap_err();
        assert_eq!(err.to_string(), UNREACHABLE, "{url}");
    }
    assert!(log.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_silent_dns_server_fails_the_upload_within_its_time_limit() {
    let dns = silent_dns().await;
    let put = uploader_with(|c| {
        c.put_url_nameservers = vec![dns.local_addr().unwrap().to_string()];
        c.put_url_timeout_ms = 300;
    });
    for check in [false, true] {
        let started = Instant::now();
        let err = if check {
            put.check("http://slow.test/upload").await.unwrap_err()
        } else {
            put.put("http://slow.test/upload", b"x".to_vec())
                .await
                .unwrap_err()
        };
        let took = started.elapsed();
        assert_eq!(err.to_string(), UNREACHABLE);
        assert!(took >= Duration::from_millis(250), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
    assert!(asked(&dns).await, "the DNS server was asked");
}

#[tokio::test]
async fn addresses_and_localhost_are_not_looked_up() {
    let (addr, log) = recording_server().await;
    let dns = silent_dns().await;
    let put = uploader_with(|c| {
        c.put_url_nameservers = vec![dns.local_addr().unwrap().to_string()];
        c.put_url_allow = vec!["127.0.0.1".into(), "localhost".into()];
        c.put_url_timeout_ms = 5_000;
    });
    let started = Instant::now();
    for host in ["127.0.0.1", "localhost", "LOCALHOST."] {
        let url = format!("http://{host}:{}/upload", addr.port());
        assert_eq!(put.put(&url, b"x".to_vec()).await.unwrap().status, 201);
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(log.lock().unwrap().len(), 3);
    assert!(!asked(&dns).await, "the DNS server was not asked");
}

#[tokio::test]
async fn an_allowlist_entry_with_a_port_allows_only_that_port() {
    let (allowed, allowed_log) = recording_server().await;
    let (other, other_log) = recording_server().await;
    for entry in [
        format!("127.0.0.1:{}", allowed.port()),
        format!("localhost:{}", allowed.port()),
    ] {
        let put = uploader(&[&entry], 5_000);
        for host in ["127.0.0.1", "localhost"] {
            let url = format!("http://{host}:{}/upload", allowed.port());
            let answer = put.put(&url, b"x".to_vec()).await;
            // An address entry allows the address; a host entry the name (whose ::1 the
            // address entry does not cover).
            let expected = entry.starts_with(host);
            assert_eq!(answer.is_ok(), expected, "{entry}: {url}: {answer:?}");
            let url = format!("http://{host}:{}/upload", other.port());
            let err = put.put(&url, b"x".to_vec()).await.unwrap_err();
            assert_eq!(err.to_string(), UNREACHABLE, "{entry}: {url}");
        }
    }
    assert_eq!(allowed_log.lock().unwrap().len(), 2);
    assert!(other_log.lock().unwrap().is_empty());
}

#[tokio::test]
async fn uploads_past_the_limit_wait_for_a_slot_then_are_busy() {
    let (silent, accepted) = silent_server().await;
    let (open, log) = recording_server().await;
    let put = uploader_with(|c| {
        c.put_url_allow = vec!["127.0.0.1/32".into()];
        c.put_url_timeout_ms = 600;
        c.put_url_max_concurrent = 1;
    });
    let start = |url: String| {
        let put = put.clone();
        tokio::spawn(async move { put.put(&url, b"x".to_vec()).await })
    };
    let first = start(format!("http://{silent}/upload"));
    let waited = Instant::now();
    while accepted.load(Ordering::SeqCst) == 0 {
        assert!(waited.elapsed() < Duration::from_secs(5), "no connection");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The first holds the one slot until its time is up; the second waits for it.
    let second = start(format!("http://{silent}/upload"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "one upload at a time");
    // The third waits its time limit while the second has the slot, then is told busy.
    let started = Instant::now();
    let third = start(format!("http://{open}/upload")).await.unwrap();
    let took = started.elapsed();
    assert!(matches!(third, Err(PutUrlError::Busy)), "{third:?}");
    assert_eq!(
        third.unwrap_err().to_string(),
        "too many put_url uploads at once; retry shortly"
    );
    assert!(took >= Duration::from_millis(550), "{took:?}");
    for hung in [first, second] {
        let err = hung.await.unwrap().unwrap_err();
        assert_eq!(err.to_string(), UNREACHABLE);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    assert!(log.lock().unwrap().is_empty());
    // With the slot free again, an upload goes through.
    assert_eq!(
        put.put(&format!("http://{open}/upload"), b"x".to_vec())
            .await
            .unwrap()
            .status,
        201
    );
}

#[tokio::test]
async fn redirects_are_not_followed_and_long_answers_are_cut() {
    let (addr, log) = recording_server().await;
    let put = uploader(&["127.0.0.0/8"], 10_000);
    let moved = put
        .put(&format!("http://{addr}/moved"), b"x".to_vec())
        .await
        .unwrap();
    assert_eq!(moved.status, 302);
    let paths: Vec<_> = log.lock().unwrap().iter().map(|s| s.path.clone()).collect();
    assert_eq!(paths, ["/moved"]);
    let limited = uploader_with(|c| {
        c.put_url_allow = vec!["127.0.0.1".into()];
        c.put_url_max_response_bytes = 15;
    });
    let big = limited
        .put(&format!("http://{addr}/big"), b"x".to_vec())
        .await
        .unwrap();
    assert_eq!(big.status, 200);
    // 15 bytes hold seven two-byte characters and half of the eighth, which is dropped.
    assert_eq!(big.body, "é".repeat(7));
}

#[tokio::test]
async fn only_http_and_https_urls_are_accepted() {
    let put = uploader(&["0.0.0.0/0"], 10_000);
    for url in [
        "ftp://example.com/voice.wav",
        "file:///etc/passwd",
        "gopher://x/",
    ] {
        let err = put.put(url, b"x".to_vec()).await.unwrap_err();
        assert!(matches!(err, PutUrlError::Scheme(_)), "{url}: {err}");
    }
    for url in ["not a url", "/relative/path", "http://"] {
        let err = put.put(url, b"x".to_vec()).await.unwrap_err();
        assert!(matches!(err, PutUrlError::BadUrl(_)), "{url}: {err}");
    }
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let (addr, _) = silent_server().await;
    let put = uploader(&["127.0.0.1/32"], 300);
    let started = Instant::now();
    let destination = Destination::parse(&format!("http://{addr}/upload")).unwrap();
    let cause = put.deliver(&destination, b"x".to_vec()).await.unwrap_err();
    assert!(matches!(cause, Failure::TimedOut(300)), "{cause}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn nameserver_entries_are_checked() {
    let err = PutUrl::new(&VoicesConfig {
        put_url_nameservers: vec!["dns.lan".into()],
        ..VoicesConfig::default()
    })
    .unwrap_err();
    assert!(matches!(err, PutUrlConfigError::Nameserver(_)), "{err}");
}
