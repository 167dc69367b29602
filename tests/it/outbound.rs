//! How generation calls leave the gateway: directly (the gateway's own HTTP/1.1 client) or,
//! with `PROXY` set, through that proxy.
use std::sync::Arc;

use gcli2api::google::kind::CredentialKind;
use gcli2api::simulator::{ApiKeySpec, Simulator};
use parking_lot::Mutex;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use crate::support::{builder, stream_text, user_text};

/// A stand-in HTTP proxy: every connection is passed on to `target` byte for byte. A
/// request meant for a proxy names its full URL (`POST http://host/path`), which the
/// simulator, like any HTTP/1.1 server, accepts; the first line of each connection is kept.
async fn relay(target: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen = lines.clone();
    tokio::spawn(async move {
        loop {
            let (mut client, _) = listener.accept().await.unwrap();
            let (target, seen) = (target.clone(), seen.clone());
            tokio::spawn(async move {
                let mut first = vec![0u8; 4096];
                let n = client.read(&mut first).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&first[..n]);
                seen.lock()
                    .push(head.lines().next().unwrap_or("").to_owned());
                let mut upstream = TcpStream::connect(&target).await.unwrap();
                tokio::io::AsyncWriteExt::write_all(&mut upstream, &first[..n])
                    .await
                    .unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (url, lines)
}

#[tokio::test]
async fn with_a_proxy_set_generation_goes_through_it() {
    let sim = Simulator::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let target = sim.base_url().trim_start_matches("http://").to_owned();
    let (proxy, lines) = relay(target).await;
    let app = builder().reuse_sim(sim).env("PROXY", &proxy).spawn().await;

    let (status, body) = app
        .chat(json!({"model": "gemini-2.5-flash", "messages": [user_text("via proxy")]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "Echo: via proxy");
    let (status, chunks, _) = app
        .chat_stream(json!({"model": "gemini-2.5-flash", "stream": true,
            "messages": [user_text("streamed via proxy")]}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(stream_text(&chunks), "Echo: streamed via proxy");

    // Both generation calls went to the proxy, in the form only a proxy is sent.
    let lines = lines.lock().clone();
    let generation: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("enerateContent"))
        .collect();
    assert!(!generation.is_empty(), "{lines:?}");
    assert!(
        lines.iter().all(|l| l.starts_with("POST http://")),
        "{lines:?}"
    );
    // Keep-alive may carry both calls on one connection: the stream's request is then not a
    // first line. The simulator saw both either way.
    assert_eq!(app.generation_requests().len(), 2);
}

#[tokio::test]
async fn without_a_proxy_generation_calls_reuse_one_connection() {
    let app = builder().spawn().await;
    for i in 0..3 {
        let (status, body) = app
            .chat(json!({"model": "gemini-2.5-flash", "messages": [user_text(&format!("n{i}"))]}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let direct = app
        .state
        .upstream
        .direct()
        .expect("no PROXY: the direct client");
    assert_eq!(
        direct.idle_count(),
        1,
        "one kept-alive connection, back in the pool"
    );
}

#[tokio::test]
async fn a_base_url_with_a_user_and_password_sends_them_as_basic_auth() {
    // A relay behind basic auth, named in the URL: those calls keep going through the client
    // that turns the URL's user and password into an Authorization header.
    let sim = Simulator::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let base = sim
        .base_url()
        .replacen("http://", "http://relay:s3cret@", 1);
    let app = builder()
        .reuse_sim(sim)
        .no_users()
        .env("GEMINI_API_URL", &base)
        .spawn()
        .await;
    app.add_key(CredentialKind::GeminiApiKey, ApiKeySpec::gemini())
        .await;
    let (status, body) = app
        .chat(json!({"model": "gemini-2.5-flash", "messages": [user_text("hi")]}))
        .await;
    assert_eq!(status, 200, "{body}");
    let sent = app.official_requests();
    let auth = sent
        .last()
        .and_then(|r| r.headers.iter().find(|(k, _)| k == "authorization"))
        .map(|(_, v)| v.clone());
    assert_eq!(auth.as_deref(), Some("Basic cmVsYXk6czNjcmV0"));
}
