use serde_json::{Value, json};

use crate::support::{KEY, TestApp};

fn body(text: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": text}]}], "generationConfig": {"temperature": 0.5}})
}

#[tokio::test]
async fn generate_content_unwraps_the_envelope_and_keeps_unknown_fields() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/v1beta/models/gemini-2.5-flash:generateContent",
            &body("native"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.unwrap();
    assert!(
        b.get("response").is_none() && b.get("traceId").is_none(),
        "unwrapped: {b}"
    );
    assert_eq!(
        b["candidates"][0]["content"]["parts"][0]["text"],
        "Echo: native"
    );
    let sent = app.generation_requests().pop().unwrap();
    let env = sent.json().unwrap();
    assert_eq!(env["request"]["generationConfig"]["temperature"], 0.5);
    // Unknown fields are forwarded, not silently dropped; Google decides (and here rejects).
    let mut b = body("x");
    b["someFutureField"] = json!({"kept": true});
    let r = app
        .post("/v1beta/models/gemini-2.5-flash:generateContent", &b)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let err: Value = r.json().await.unwrap();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("someFutureField"),
        "{err}"
    );
    let sent = app.generation_requests().pop().unwrap();
    assert_eq!(
        sent.json().unwrap()["request"]["someFutureField"]["kept"],
        true
    );
}

#[tokio::test]
async fn stream_framing_follows_alt() {
    let app = TestApp::spawn().await;
    let sse = app
        .post(
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            &body("framing check with a longer text"),
        )
        .send()
        .await
        .unwrap();
    assert!(
        sse.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = sse.text().await.unwrap();
    assert!(!text.contains("[DONE]"), "Gemini SSE has no [DONE]");
    let events = crate::support::sse_payloads(&text);
    assert!(events.len() >= 2);
    assert!(events.iter().all(|e| e.get("response").is_none()));
    let arr = app
        .post(
            "/v1/models/gemini-2.5-flash:streamGenerateContent",
            &body("array framing"),
        )
        .send()
        .await
        .unwrap();
    assert!(
        arr.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let v: Value = serde_json::from_str(&arr.text().await.unwrap()).expect("a JSON array");
    let joined: String = v
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            e.pointer("/candidates/0/content/parts/0/text")
                .and_then(Value::as_str)
        })
        .collect();
    assert_eq!(joined, "Echo: array framing");
}

#[tokio::test]
async fn thought_signatures_pass_through_untouched() {
    let app = TestApp::spawn().await;
    let history = json!({"contents": [
        {"role": "user", "parts": [{"text": "call get_weather"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}, "thoughtSignature": "client-sig-123"}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"t": 1}}}]}
    ], "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "object"}}]}]});
    let _ = app
        .post("/v1beta/models/gemini-2.5-flash:generateContent", &history)
        .send()
        .await
        .unwrap();
    let sent = app.generation_requests().pop().unwrap();
    assert_eq!(
        sent.json().unwrap()["request"]["contents"][1]["parts"][0]["thoughtSignature"],
        "client-sig-123"
    );
}

#[tokio::test]
async fn model_list_and_count_tokens() {
    let app = TestApp::spawn().await;
    let v: Value = app
        .http
        .get(format!("{}/v1beta/models?key={KEY}", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fake = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "models/假流式/gemini-2.5-pro")
        .expect("fake-stream variant listed");
    assert_eq!(fake["baseModelId"], "gemini-2.5-pro");
    let one: Value = app
        .http
        .get(format!(
            "{}/v1beta/models/gemini-2.5-pro?key={KEY}",
            app.url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["name"], "models/gemini-2.5-pro");
    // `/v1/models` answers OpenAI's shape to a Bearer caller (`?key=` gets Google's; see
    // model_list.rs).
    let v: Value = app
        .http
        .get(format!("{}/v1/models", app.url))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "list");
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "流式抗截断/gemini-2.5-pro-max-search")
    );
    let r = app
        .post(
            "/v1beta/models/gemini-2.5-flash:countTokens",
            &json!({"contents": [{"role": "user", "parts": [{"text": "12345678"}]}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v["totalTokens"].as_u64().unwrap() >= 2);
}
