//! Remote image and document URLs: fetched through the address check and sent to Google
//! inline. A small HTTP server on loopback plays the remote host and records what it was asked.
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{KEY, TestApp, builder};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR remote image bytes";
const PDF: &[u8] = b"%PDF-1.4 remote document bytes";

/// A one-purpose HTTP/1.1 server: each path answers one fixed way; every path asked for is
/// recorded. `redirect_to` is where `/redirect` points.
struct Origin {
    base: String,
    hits: Arc<Mutex<Vec<String>>>,
}

impl Origin {
    async fn start(ip: &str, redirect_to: Option<String>) -> Option<Self> {
        let listener = TcpListener::bind((ip, 0)).await.ok()?;
        let addr: SocketAddr = listener.local_addr().unwrap();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&hits);
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let seen = Arc::clone(&seen);
                let redirect_to = redirect_to.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let path = head.split(' ').nth(1).unwrap_or("").to_string();
                    seen.lock().unwrap().push(path.clone());
                    let _ = sock
                        .write_all(&answer(&path, redirect_to.as_deref()).await)
                        .await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Some(Self {
            base: format!("http://{addr}"),
            hits,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

fn response(status: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nconnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

async fn answer(path: &str, redirect_to: Option<&str>) -> Vec<u8> {
    let typed = |mime: &str, body: &[u8]| {
        response(
            "200 OK",
            &[
                ("content-type", mime.to_string()),
                ("content-length", body.len().to_string()),
            ],
            body,
        )
    };
    match path {
        "/img.png" => typed("image/png", PNG),
        // Object stores often say nothing useful: the bytes tell.
        "/blob" => typed("application/octet-stream", PNG),
        "/doc.pdf" => typed("application/pdf", PDF),
        "/page.html" => typed("text/html; charset=utf-8", b"<html>not an image</html>"),
        "/big.png" => typed("image/png", &vec![7u8; 64 * 1024]),
        // No Content-Length: only the streamed count can stop it.
        "/big-stream.png" => response(
            "200 OK",
            &[("content-type", "image/png".into())],
            &vec![7u8; 64 * 1024],
        ),
        "/slow.png" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            typed("image/png", PNG)
        }
        "/redirect" => response(
            "302 Found",
            &[
                ("location", redirect_to.unwrap_or("/img.png").to_string()),
                ("content-length", "0".into()),
            ],
            b"",
        ),
        _ => response("404 Not Found", &[("content-length", "0".into())], b""),
    }
}

fn image_chat(url: &str) -> Value {
    json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is in the picture"},
        {"type": "image_url", "image_url": {"url": url}}
    ]}]})
}

async fn anthropic(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let r = app
        .http
        .post(format!("{}{path}", app.url))
        .header("x-api-key", KEY)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The `parts` of the last generation request the simulator received.
fn sent_parts(app: &TestApp) -> Vec<Value> {
    let sent = app
        .generation_requests()
        .pop()
        .expect("a generation request");
    let env = sent.json().unwrap();
    env["request"]["contents"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["parts"].as_array().unwrap().clone())
        .collect()
}

fn inline(mime: &str, bytes: &[u8]) -> Value {
    json!({"inlineData": {"mimeType": mime,
        "data": base64::engine::general_purpose::STANDARD.encode(bytes)}})
}

fn message(b: &Value) -> &str {
    b["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn an_allowed_image_reaches_google_inline_and_is_cached() {
    let origin = Origin::start("127.0.0.1", None).await.unwrap();
    let app = builder()
        .env("REMOTE_FETCH_ALLOWLIST", "127.0.0.1")
        .spawn()
        .await;
    let (status, b) = app.chat(image_chat(&origin.url("/img.png"))).await;
    assert_eq!(status, 200, "{b}");
    assert!(sent_parts(&app).contains(&inline("image/png", PNG)));
    assert_eq!(origin.hits(), vec!["/img.png"]);

    // The next turn resends the same URL: served from the cache, the origin is not asked.
    let (status, b) = app.chat(image_chat(&origin.url("/img.png"))).await;
    assert_eq!(status, 200, "{b}");
    assert!(sent_parts(&app).contains(&inline("image/png", PNG)));
    assert_eq!(origin.hits(), vec!["/img.png"]);

    // A generic content type is resolved from the bytes.
    let (status, b) = app.chat(image_chat(&origin.url("/blob"))).await;
    assert_eq!(status, 200, "{b}");
    assert!(sent_parts(&app).contains(&inline("image/png", PNG)));
}

#[tokio::test]
async fn responses_image_and_file_urls_are_fetched_also_in_tool_outputs() {
    let origin = Origin::start("127.0.0.1", None).await.unwrap();
    let app = builder()
        .env("REMOTE_FETCH_ALLOWLIST", "127.0.0.1")
        .spawn()
        .await;
    let body = json!({"model": "gemini-2.5-flash", "input": [
        {"role": "user", "content": [
            {"type": "input_text", "text": "look"},
            {"type": "input_image", "image_url": origin.url("/img.png")},
            {"type": "input_file", "file_url": origin.url("/doc.pdf")},
        ]},
        {"type": "function_call", "call_id": "c1", "name": "shot", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": [
            {"type": "input_text", "text": "screenshot"},
            {"type": "input_image", "image_url": origin.url("/blob")},
        ]},
    ]});
    let r = app.post("/v1/responses", &body).send().await.unwrap();
    let status = r.status().as_u16();
    let b: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{b}");
    let parts = sent_parts(&app);
    assert!(parts.contains(&inline("image/png", PNG)), "{parts:?}");
    assert!(parts.contains(&inline("application/pdf", PDF)), "{parts:?}");
    let media = parts
        .iter()
        .filter(|p| **p == inline("image/png", PNG))
        .count();
    assert_eq!(media, 2, "the tool output's image too");

    // A refused fetch names the Responses field.
    let body = json!({"model": "gemini-2.5-flash", "input": [{"role": "user", "content": [
        {"type": "input_image", "image_url": origin.url("/page.html")}]}]});
    let r = app.post("/v1/responses", &body).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let b: Value = r.json().await.unwrap();
    assert!(message(&b).contains("input[0].content[0].image_url"), "{b}");
    assert_eq!(b["error"]["param"], "input[0].content[0].image_url");
}

#[tokio::test]
async fn anthropic_url_sources_are_fetched_also_in_tool_results_and_for_counting() {
    let origin = Origin::start("127.0.0.1", None).await.unwrap();
    let app = builder()
        .env("REMOTE_FETCH_ALLOWLIST", "127.0.0.0/8")
        .spawn()
        .await;
    let body = json!({"model": "gemini-2.5-flash", "max_tokens": 100, "messages": [
        {"role": "user", "content": [
            {"type": "document", "source": {"type": "url", "url": origin.url("/doc.pdf")}},
            {"type": "text", "text": "read it, then call the tool"}
        ]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "screenshot", "input": {}}
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [
                {"type": "image", "source": {"type": "url", "url": origin.url("/img.png")}}
            ]}
        ]}
    ]});
    let (status, b) = anthropic(&app, "/v1/messages", body.clone()).await;
    assert_eq!(status, 200, "{b}");
    let parts = sent_parts(&app);
    assert!(parts.contains(&inline("application/pdf", PDF)), "{parts:?}");
    assert!(parts.contains(&inline("image/png", PNG)), "{parts:?}");

    let (status, b) = anthropic(&app, "/v1/messages/count_tokens", body).await;
    assert_eq!(status, 200, "{b}");
    assert!(b["input_tokens"].as_u64().unwrap() > 0);
    // Both requests were served with one fetch per URL.
    let mut hits = origin.hits();
    hits.sort();
    assert_eq!(hits, vec!["/doc.pdf", "/img.png"]);
}

#[tokio::test]
async fn loopback_is_refused_without_the_allow_list_and_never_contacted() {
    let origin = Origin::start("127.0.0.1", None).await.unwrap();
    let app = TestApp::spawn().await;
    let port = origin.base.rsplit(':').next().unwrap().to_string();
    for url in [
        origin.url("/img.png"),
        format!("http://localhost:{port}/img.png"),
        format!("http://[::ffff:127.0.0.1]:{port}/img.png"),
    ] {
        let (status, b) = app.chat(image_chat(&url)).await;
        assert_eq!(status, 400, "{url}: {b}");
        let msg = message(&b);
        assert!(
            msg.starts_with("'messages[0].content[1].image_url': cannot fetch the image from"),
            "{msg}"
        );
        assert!(msg.contains("loopback address"), "{msg}");
        assert_eq!(b["error"]["type"], "invalid_request_error");
    }
    let (status, b) = anthropic(
        &app,
        "/v1/messages",
        json!({"model": "gemini-2.5-flash", "max_tokens": 10, "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "url", "url": format!("http://localhost:{port}/img.png")}}
        ]}]}),
    )
    .await;
    assert_eq!(status, 400, "{b}");
    assert_eq!(b["type"], "error");
    assert!(message(&b).contains("loopback address"), "{b}");
    assert!(origin.hits().is_empty(), "{:?}", origin.hits());
    assert!(app.generation_requests().is_empty());
}

#[tokio::test]
async fn a_redirect_to_an_address_not_allowed_is_refused() {
    // The target listens on 127.0.0.2, so a followed redirect would be seen there.
    let Some(target) = Origin::start("127.0.0.2", None).await else {
        eprintln!("skipped: cannot bind 127.0.0.2 here");
        return;
    };
    let origin = Origin::start("127.0.0.1", Some(target.url("/img.png")))
        .await
        .unwrap();
    let app = builder()
        .env("REMOTE_FETCH_ALLOWLIST", "127.0.0.1")
        .spawn()
        .await;
    let (status, b) = app.chat(image_chat(&origin.url("/redirect"))).await;
    assert_eq!(status, 400, "{b}");
    assert!(message(&b).contains("loopback address"), "{b}");
    assert_eq!(origin.hits(), vec!["/redirect"]);
    assert!(target.hits().is_empty());

    // A redirect that stays on the allowed host is followed.
    let same = Origin::start("127.0.0.1", Some("/img.png".into()))
        .await
        .unwrap();
    let (status, b) = app.chat(image_chat(&same.url("/redirect"))).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(same.hits(), vec!["/redirect", "/img.png"]);
}

#[tokio::test]
async fn size_type_status_and_time_are_checked() {
    let origin = Origin::start("127.0.0.1", None).await.unwrap();
    let app = builder()
        .env("REMOTE_FETCH_ALLOWLIST", "127.0.0.1")
        .env("REMOTE_FETCH_MAX_BYTES", "4096")
        .env("REMOTE_FETCH_TIMEOUT", "1")
        .spawn()
        .await;
    let cases = [
        ("/big.png", "larger than the 4096-byte limit"),
        ("/big-stream.png", "larger than the 4096-byte limit"),
        (
            "/page.html",
            "the server sent text/html, not an image (image/*)",
        ),
        ("/missing.png", "the server answered HTTP 404"),
        ("/slow.png", "no complete answer within 1 s"),
    ];
    for (path, want) in cases {
        let (status, b) = app.chat(image_chat(&origin.url(path))).await;
        assert_eq!(status, 400, "{path}: {b}");
        assert!(message(&b).contains(want), "{path}: {b}");
    }
    assert!(app.generation_requests().is_empty());
}

#[tokio::test]
async fn turned_off_the_old_rejection_stays_and_nothing_is_fetched() {
    let origin = Origin::start("127.0.0.1", None).await.unwrap();
    let app = builder()
        .env("REMOTE_FETCH_ENABLED", "false")
        .env("REMOTE_FETCH_ALLOWLIST", "127.0.0.1")
        .spawn()
        .await;
    let (status, b) = app.chat(image_chat(&origin.url("/img.png"))).await;
    assert_eq!(status, 400, "{b}");
    assert!(
        message(&b).contains("remote image URLs are not fetched; send a data: URL"),
        "{b}"
    );
    assert!(origin.hits().is_empty());
}

#[tokio::test]
async fn allow_list_changes_apply_without_a_restart() {
    let origin = Origin::start("127.0.0.1", None).await.unwrap();
    let app = TestApp::spawn().await;
    let (status, _) = app.chat(image_chat(&origin.url("/img.png"))).await;
    assert_eq!(status, 400);
    app.state
        .settings
        .update(vec![("remote_fetch_allowlist".into(), json!("127.0.0.1"))])
        .await
        .unwrap();
    // The change reaches the fetcher through the settings watcher.
    let mut status = 0;
    for _ in 0..50 {
        (status, _) = app.chat(image_chat(&origin.url("/img.png"))).await;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 200);
    assert_eq!(origin.hits(), vec!["/img.png"]);
}
