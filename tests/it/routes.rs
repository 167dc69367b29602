//! Every path under `/v1/` and `/v1beta/` answers JSON in its family's format: unknown paths
//! (404), wrong methods (405), unknown Gemini `:methods` (404, decided before the body is read),
//! and inputs that used to panic (400).
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::support::{KEY, TestApp};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    OpenAi,
    Google,
    Anthropic,
}

/// Sends, checks that the answer is JSON in `shape` with `status`, and returns its message.
async fn expect(req: RequestBuilder, status: u16, shape: Shape) -> String {
    let r = req.send().await.unwrap();
    let got = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = r.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    assert!(ctype.starts_with("application/json"), "{ctype}: {text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    match shape {
        Shape::OpenAi => {
            assert!(v["error"]["type"].is_string(), "OpenAI shape: {v}");
            assert!(v.get("type").is_none(), "{v}");
        }
        Shape::Google => {
            assert_eq!(v["error"]["code"], status, "Google shape: {v}");
            assert!(v["error"]["status"].is_string(), "{v}");
        }
        Shape::Anthropic => {
            assert_eq!(v["type"], "error", "Anthropic shape: {v}");
            assert!(v["error"]["type"].is_string(), "{v}");
        }
    }
    v["error"]["message"].as_str().unwrap().to_string()
}

fn req(app: &TestApp, method: Method, path: &str, key: bool) -> RequestBuilder {
    let r = app.http.request(method, format!("{}{path}", app.url));
    if key { r.bearer_auth(KEY) } else { r }
}

#[tokio::test]
async fn unknown_paths_are_json_404s_in_the_family_format() {
    let app = TestApp::spawn().await;
    let cases = [
        ("/v1/responses/resp_1/cancel", Shape::OpenAi),
        ("/v1/completions", Shape::OpenAi),
        ("/v1/audio/speech", Shape::OpenAi),
        ("/v1/", Shape::OpenAi),
        ("/v1/messages/batches", Shape::Anthropic),
        ("/v1beta/responses", Shape::Google),
        ("/v1beta/cachedContents", Shape::Google),
    ];
    for (path, shape) in cases {
        for key in [true, false] {
            let msg = expect(req(&app, Method::POST, path, key), 404, shape).await;
            assert!(msg.contains(path), "{path}: {msg}");
        }
    }
    // The query is never echoed (it can carry the key).
    let msg = expect(
        req(&app, Method::GET, "/v1/files?key=sk-not-echoed", false),
        404,
        Shape::OpenAi,
    )
    .await;
    assert!(!msg.contains("sk-not-echoed"), "{msg}");
}

#[tokio::test]
async fn wrong_methods_are_json_405s_after_the_key_check() {
    let app = TestApp::spawn().await;
    let cases = [
        (Method::GET, "/v1/chat/completions", Shape::OpenAi),
        (Method::GET, "/v1/embeddings", Shape::OpenAi),
        (Method::GET, "/v1/responses", Shape::OpenAi),
        (Method::PUT, "/v1/responses/resp_1", Shape::OpenAi),
        (Method::DELETE, "/v1/models", Shape::OpenAi),
        (Method::GET, "/v1/messages", Shape::Anthropic),
        (Method::PUT, "/v1/messages/count_tokens", Shape::Anthropic),
        (Method::GET, "/v1beta/chat/completions", Shape::OpenAi),
        (Method::DELETE, "/v1beta/models", Shape::Google),
        (
            Method::GET,
            "/v1beta/models/gemini-2.5-flash:generateContent",
            Shape::Google,
        ),
        (
            Method::GET,
            "/v1/models/gemini-2.5-flash:streamGenerateContent",
            Shape::Google,
        ),
    ];
    for (method, path, shape) in cases {
        expect(req(&app, method.clone(), path, true), 405, shape).await;
        // The route exists, so a caller without a key learns that first.
        expect(req(&app, method, path, false), 401, shape).await;
    }
}

#[tokio::test]
async fn unknown_gemini_methods_are_404s_naming_the_method_before_the_body_is_read() {
    let app = TestApp::spawn().await;
    for path in [
        "/v1/models/gemini-embedding-001:predict",
        "/v1beta/models/gemini-2.5-flash:asyncBatchEmbedContent",
        "/v1beta/models/gemini-2.5-flash:generateAnswer",
    ] {
        let method = path.rsplit(':').next().unwrap();
        // Not JSON, empty, and a valid request body: always the same 404.
        for body in [
            "not json at all",
            "",
            r#"{"content": {"parts": [{"text": "x"}]}}"#,
        ] {
            let r = req(&app, Method::POST, path, true)
                .header("content-type", "application/json")
                .body(body);
            let msg = expect(r, 404, Shape::Google).await;
            assert!(msg.contains(&format!("'{method}'")), "{path}: {msg}");
        }
        expect(req(&app, Method::POST, path, false), 401, Shape::Google).await;
    }
    // No upstream call was made for any of them.
    assert!(app.generation_requests().is_empty());
}

#[tokio::test]
async fn a_multibyte_image_url_is_a_clear_400_not_a_dropped_connection() {
    let app = TestApp::spawn().await;
    for url in ["ééé", "dat€", "data:é", "€"] {
        let body = json!({
            "model": "gemini-2.5-flash",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": url}},
            ]}],
        });
        let msg = expect(app.post("/v1/chat/completions", &body), 400, Shape::OpenAi).await;
        assert!(msg.contains("image_url"), "{url}: {msg}");
    }
    // And the gateway still serves.
    let (status, _) = app
        .chat(json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(status, 200);
}
