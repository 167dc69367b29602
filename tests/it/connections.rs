//! Slow and idle clients over real sockets: connection caps (in total and per address), the
//! header-read, idle and body-read timeouts, and a normal client served through a slowloris.
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::{KEY, builder, init_logs};

fn addr(app: &crate::support::TestApp) -> SocketAddr {
    app.url
        .trim_start_matches("http://")
        .parse()
        .expect("the test app listens on an address")
}

/// A connection from a chosen loopback source address (all of 127/8 is local on Linux).
async fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(format!("{source}:0").parse().unwrap()).unwrap();
    sock.connect(to).await.unwrap()
}

/// Starts a request and never finishes its headers.
async fn slowloris(source: &str, to: SocketAddr) -> TcpStream {
    let mut s = connect_from(source, to).await;
    // Ignore a write error: an over-cap socket may already be closed.
    let _ = s
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: 1\r\n")
        .await;
    s
}

/// Whether the server closes the socket within `within` (end of stream or a reset).
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// A whole `GET /healthz` on a fresh connection from `source`.
async fn healthz_from(source: &str, to: SocketAddr) -> String {
    let mut s = connect_from(source, to).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("a normal client is answered at once")
        .unwrap();
    String::from_utf8_lossy(&out).to_string()
}

#[tokio::test]
async fn a_slowloris_over_the_caps_does_not_keep_a_normal_client_out() {
    init_logs();
    let app = builder()
        .env("MAX_CONNECTIONS", "16")
        .env("MAX_CONNECTIONS_PER_ADDRESS", "8")
        .env("HEADER_READ_TIMEOUT", "2")
        .spawn()
        .await;
    let to = addr(&app);

    // One address holds more sockets than its cap: the ones over it are closed at once.
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(slowloris("127.0.0.5", to).await);
    }
    let mut over = Vec::new();
    for _ in 0..4 {
        over.push(slowloris("127.0.0.5", to).await);
    }
    for s in &mut over {
        assert!(
            closed_within(s, Duration::from_secs(1)).await,
            "over the per-address cap"
        );
    }
    // The first eight are held open (their headers are not late yet)...
    for s in &mut held {
        assert!(!closed_within(s, Duration::from_millis(20)).await);
    }
    // ...and a normal client from elsewhere is served meanwhile.
    let r = healthz_from("127.0.0.6", to).await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");

    // Other addresses fill the total cap: sockets over it are closed at once too.
    for _ in 0..8 {
        held.push(slowloris("127.0.0.7", to).await);
    }
    let mut over_total = slowloris("127.0.0.8", to).await;
    assert!(
        closed_within(&mut over_total, Duration::from_secs(1)).await,
        "over the total cap"
    );

    // The header-read timeout frees every slowloris socket...
    let started = Instant::now();
    for s in &mut held {
        assert!(
            closed_within(s, Duration::from_secs(4)).await,
            "a late head is closed"
        );
    }
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(4), "{waited:?}");
    // ...and the slowloris's own address is served again.
    let r = healthz_from("127.0.0.5", to).await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_and_slow_bodies_fail() {
    init_logs();
    let app = builder()
        .env("IDLE_TIMEOUT", "1")
        .env("HEADER_READ_TIMEOUT", "30")
        .spawn()
        .await;
    app.state
        .settings
        .update(vec![("body_read_timeout".into(), serde_json::json!(1))])
        .await
        .unwrap();
    let to = addr(&app);

    // A kept-alive connection answers a request, then is closed once idle for a second.
    let mut s = connect_from("127.0.0.1", to).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let started = Instant::now();
    assert!(
        closed_within(&mut s, Duration::from_secs(3)).await,
        "idle connection closed"
    );
    assert!(started.elapsed() >= Duration::from_millis(900));

    // A body that stops halfway fails after BODY_READ_TIMEOUT, and its connection is closed.
    let mut s = connect_from("127.0.0.1", to).await;
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {KEY}\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{{\"model\":"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("a stalled body does not hold the connection")
        .ok();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 4"),
        "a client error or a closed socket: {text}"
    );

    // A request that takes longer than IDLE_TIMEOUT is not cut: a body sent slowly but in
    // time (2 s, twice the idle timeout; BODY_READ_TIMEOUT raised for it).
    app.state
        .settings
        .update(vec![("body_read_timeout".into(), serde_json::json!(10))])
        .await
        .unwrap();
    let body = br#"{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}"#;
    let mut s = connect_from("127.0.0.1", to).await;
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {KEY}\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    for part in body.chunks(body.len() / 4 + 1) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        s.write_all(part).await.unwrap();
    }
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("answered")
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}
