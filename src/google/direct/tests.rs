//! The direct client against small servers on loopback: well-behaved ones (hyper, plain and
//! over TLS) and raw sockets that misbehave on purpose.
use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use std::time::Instant;

use super::*;

const SHORT: Duration = Duration::from_millis(300);

fn client(read_timeout: Duration) -> Arc<Direct> {
    Direct::new(
        crate::outbound::tls_config().unwrap(),
        Duration::from_secs(2),
        read_timeout,
    )
}

fn url(s: &str) -> reqwest::Url {
    reqwest::Url::parse(s).unwrap()
}

fn headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("x-test", HeaderValue::from_static("yes"));
    h
}

/// What a hyper test server saw of one request.
#[derive(Clone, Debug)]
struct Seen {
    target: String,
    host: String,
    test_header: String,
    length: String,
    body: Bytes,
}

/// A hyper HTTP/1.1 server answering `reply` to every request, counting its connections and
/// recording each request. Over TLS when `tls` is given.
async fn hyper_server(
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> (SocketAddr, Arc<AtomicUsize>, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (a, s) = (accepted.clone(), seen.clone());
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            a.fetch_add(1, Ordering::SeqCst);
            let (s, tls) = (s.clone(), tls.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let s = s.clone();
                    async move {
                        let h = |n: &str| {
                            req.headers()
                                .get(n)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_owned()
                        };
                        let mut seen = Seen {
                            target: req.uri().to_string(),
                            host: h("host"),
                            test_header: h("x-test"),
                            length: h("content-length"),
                            body: Bytes::new(),
                        };
                        seen.body = req.into_body().collect().await.unwrap().to_bytes();
                        let reply = format!("echo {}", String::from_utf8_lossy(&seen.body));
                        s.lock().push(seen);
                        Ok::<_, hyper::Error>(http::Response::new(Full::new(Bytes::from(reply))))
                    }
                });
                let http = hyper::server::conn::http1::Builder::new();
                let _ = match tls {
                    Some(acceptor) => {
                        let Ok(stream) = acceptor.accept(tcp).await else {
                            return;
                        };
                        http.serve_connection(TokioIo::new(stream), service).await
                    }
                    None => http.serve_connection(TokioIo::new(tcp), service).await,
                };
            });
        }
    });
    (addr, accepted, seen)
}

/// A raw server: each connection gets `script` (reads the request head first).
async fn raw_server<F, Fut>(script: F) -> (SocketAddr, Arc<AtomicUsize>)
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let a = accepted.clone();
    let script = Arc::new(script);
    tokio::spawn(async move {
        loop {
            let (mut tcp, _) = listener.accept().await.unwrap();
            a.fetch_add(1, Ordering::SeqCst);
            let script = script.clone();
            tokio::spawn(async move {
                read_request(&mut tcp).await;
                script(tcp).await;
            });
        }
    });
    (addr, accepted)
}

/// Reads one request: its head, then as many body bytes as its Content-Length says.
async fn read_request(tcp: &mut tokio::net::TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tcp.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + length {
            return;
        }
    }
}

async fn body_text(resp: http::Response<DirectBody>) -> Result<String, DirectError> {
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn sequential_calls_share_one_kept_alive_connection() {
    let (addr, accepted, seen) = hyper_server(None).await;
    let c = client(Duration::from_secs(5));
    for i in 0..3 {
        let u = url(&format!(
            "http://{addr}/v1/models/m:streamGenerateContent?alt=sse"
        ));
        let resp = c
            .post(&u, headers(), Bytes::from(format!("call {i}")))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(body_text(resp).await.unwrap(), format!("echo call {i}"));
        assert_eq!(c.idle_count(), 1, "back in the pool after its body ended");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    let seen = seen.lock().clone();
    assert_eq!(seen.len(), 3);
    let first = &seen[0];
    assert_eq!(first.target, "/v1/models/m:streamGenerateContent?alt=sse");
    assert_eq!(first.host, addr.to_string());
    assert_eq!(first.test_header, "yes");
    assert_eq!(first.length, "6");
    assert_eq!(first.body, "call 0");
}

#[tokio::test]
async fn a_connection_the_server_closed_is_replaced() {
    // Answers one request per connection, then closes it, without saying so in a header.
    let (addr, accepted) = raw_server(|mut tcp| async move {
        let _ = tcp
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .await;
        let _ = tcp.shutdown().await;
    })
    .await;
    let c = client(Duration::from_secs(5));
    let u = url(&format!("http://{addr}/x"));
    for _ in 0..3 {
        let resp = c.post(&u, headers(), Bytes::from_static(b"{}")).await;
        assert_eq!(body_text(resp.unwrap()).await.unwrap(), "ok");
        // Let the close arrive, as it would between two calls.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_request_the_server_took_is_not_sent_again_when_the_connection_drops() {
    // The connection answers once, then takes the next request and closes without an
    // answer. That request reached the server, which may have acted on it: it must not be
    // sent a second time (the dispatcher's retry moves to another credential instead).
    let (addr, accepted) = raw_server(|mut tcp| async move {
        let _ = tcp
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst")
            .await;
        read_request(&mut tcp).await;
    })
    .await;
    let c = client(Duration::from_secs(5));
    let u = url(&format!("http://{addr}/x"));
    let first = c
        .post(&u, headers(), Bytes::from_static(b"{}"))
        .await
        .unwrap();
    assert_eq!(body_text(first).await.unwrap(), "first");
    assert_eq!(c.idle_count(), 1);
    let err = c
        .post(&u, headers(), Bytes::from_static(b"{}"))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, DirectError::Http(e) if e.is_incomplete_message()),
        "{err}"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "sent once");
}

#[tokio::test]
async fn a_stream_slower_in_total_than_the_read_timeout_is_not_cut() {
    // Six chunks 100 ms apart with a 300 ms read timeout: each silence is short, the whole
    // body takes twice the timeout.
    let (addr, _) = raw_server(|mut tcp| async move {
        let _ = tcp
            .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            .await;
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = tcp.write_all(b"1\r\nx\r\n").await;
        }
        let _ = tcp.write_all(b"0\r\n\r\n").await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let c = client(SHORT);
    let started = Instant::now();
    let resp = c
        .post(&url(&format!("http://{addr}/x")), headers(), Bytes::new())
        .await
        .unwrap();
    assert_eq!(body_text(resp).await.unwrap(), "xxxxxx");
    assert!(started.elapsed() > SHORT, "the body outlasted one timeout");
}

#[tokio::test]
async fn an_answer_that_closes_its_connection_is_not_pooled() {
    let (addr, accepted) = raw_server(|mut tcp| async move {
        let _ = tcp
            .write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok")
            .await;
        // The socket stays open: only the header says the connection is done.
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let c = client(Duration::from_secs(5));
    let u = url(&format!("http://{addr}/x"));
    for _ in 0..2 {
        let resp = c.post(&u, headers(), Bytes::new()).await.unwrap();
        assert_eq!(body_text(resp).await.unwrap(), "ok");
        assert_eq!(c.idle_count(), 0);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn idle_connections_past_their_time_are_closed() {
    let (addr, accepted, _) = hyper_server(None).await;
    let c = client(Duration::from_secs(5)).with_idle_timeout(Duration::from_millis(150));
    let u = url(&format!("http://{addr}/x"));
    let resp = c
        .post(&u, headers(), Bytes::from_static(b"a"))
        .await
        .unwrap();
    body_text(resp).await.unwrap();
    assert_eq!(c.idle_count(), 1);
    // The sweeper (every third of the idle timeout) closes it without any further call.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(c.idle_count(), 0, "closed by the sweeper");
    let resp = c
        .post(&u, headers(), Bytes::from_static(b"b"))
        .await
        .unwrap();
    assert_eq!(body_text(resp).await.unwrap(), "echo b");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        2,
        "a new connection after expiry"
    );
}

#[tokio::test]
async fn an_upstream_that_never_answers_times_out() {
    let (addr, _) = raw_server(|tcp| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(tcp);
    })
    .await;
    let c = client(SHORT);
    let started = Instant::now();
    let err = c
        .post(&url(&format!("http://{addr}/x")), headers(), Bytes::new())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, DirectError::ReadTimeout(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn silence_in_the_middle_of_a_body_times_out_and_drops_the_connection() {
    let (addr, _) = raw_server(|mut tcp| async move {
        let _ = tcp
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nfirst bytes")
            .await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let c = client(SHORT);
    let resp = c
        .post(&url(&format!("http://{addr}/x")), headers(), Bytes::new())
        .await
        .unwrap();
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "first bytes");
    // The timer restarts with every frame: the full timeout passes after the first one.
    let err = body.frame().await.unwrap().err().unwrap();
    assert!(matches!(err, DirectError::ReadTimeout(_)), "{err}");
    assert_eq!(c.idle_count(), 0);
}

#[tokio::test]
async fn a_body_dropped_before_its_end_takes_its_connection_along() {
    let (addr, accepted) = raw_server(|mut tcp| async move {
        let _ = tcp
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npart")
            .await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let c = client(Duration::from_secs(5));
    let u = url(&format!("http://{addr}/x"));
    let mut body = c
        .post(&u, headers(), Bytes::new())
        .await
        .unwrap()
        .into_body();
    body.frame().await.unwrap().unwrap();
    drop(body);
    assert_eq!(c.idle_count(), 0, "a half-read connection is never reused");
    let _ = c.post(&u, headers(), Bytes::new()).await.unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn each_chunk_arrives_as_it_is_sent() {
    // The second chunk is sent only once the client has the first: a client that waited
    // for more would hang here.
    let (release, wait) = tokio::sync::mpsc::channel::<()>(1);
    let wait = Arc::new(tokio::sync::Mutex::new(wait));
    let (addr, _) = raw_server(move |mut tcp| {
        let wait = wait.clone();
        async move {
            let _ = tcp
                .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n")
                .await;
            wait.lock().await.recv().await;
            let _ = tcp.write_all(b"6\r\nsecond\r\n0\r\n\r\n").await;
            // Kept open, so the connection can go back to the pool.
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    })
    .await;
    let c = client(Duration::from_secs(5));
    let resp = c
        .post(&url(&format!("http://{addr}/x")), headers(), Bytes::new())
        .await
        .unwrap();
    let mut body = resp.into_body();
    let first = tokio::time::timeout(Duration::from_secs(2), body.frame())
        .await
        .expect("the first chunk came alone");
    assert_eq!(first.unwrap().unwrap().into_data().unwrap(), "first");
    release.send(()).await.unwrap();
    let second = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(second, "second");
    assert!(body.frame().await.is_none());
    assert_eq!(c.idle_count(), 1);
}

/// A TLS acceptor for `localhost` with a fresh self-signed certificate, and a client setup
/// that trusts exactly that certificate.
fn tls_pair() -> (tokio_rustls::TlsAcceptor, rustls::ClientConfig) {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = key.cert.der().clone();
    let private =
        rustls::pki_types::PrivateKeyDer::try_from(key.signing_key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], private)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (tokio_rustls::TlsAcceptor::from(Arc::new(server)), client)
}

#[tokio::test]
async fn https_to_a_trusted_server_and_not_to_an_untrusted_one() {
    let (acceptor, trusting) = tls_pair();
    let (addr, accepted, seen) = hyper_server(Some(acceptor)).await;
    let u = url(&format!("https://localhost:{}/v1/x", addr.port()));

    let c = Direct::new(trusting, Duration::from_secs(2), Duration::from_secs(5));
    for _ in 0..2 {
        let resp = c
            .post(&u, headers(), Bytes::from_static(b"hi"))
            .await
            .unwrap();
        assert_eq!(body_text(resp).await.unwrap(), "echo hi");
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "the TLS connection is reused"
    );
    assert_eq!(seen.lock()[0].host, format!("localhost:{}", addr.port()));

    // The public roots do not include a self-signed test certificate.
    let err = client(Duration::from_secs(5))
        .post(&u, headers(), Bytes::new())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, DirectError::Tls(_)), "{err}");
}

#[tokio::test]
async fn a_closed_port_and_a_bad_scheme_are_errors() {
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let c = client(SHORT);
    let err = c
        .post(&url(&format!("http://{addr}/x")), headers(), Bytes::new())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, DirectError::Connect(_)), "{err}");
    assert!(
        !err.to_string().contains(&addr.port().to_string()),
        "no address: {err}"
    );
    let err = c
        .post(&url("ftp://127.0.0.1/x"), headers(), Bytes::new())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, DirectError::Url(_)), "{err}");
}
