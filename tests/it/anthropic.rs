//! The Anthropic Messages surface against the simulator: shapes, streams, the Gemini 3 tool
//! loop with signatures, count_tokens and errors in Anthropic's shape.
use gcli2api::simulator::{Endpoint, Fault, FaultMatch, FaultRule, Pacing};
use serde_json::{Value, json};

use crate::support::{KEY, TestApp, builder};

const WEATHER_TOOL: &str = r#"[{"name": "get_weather", "description": "Current weather",
  "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]"#;

async fn messages(app: &TestApp, body: Value) -> (u16, Value) {
    let r = app
        .http
        .post(format!("{}/v1/messages", app.url))
        .header("x-api-key", KEY)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A streamed answer as `(event name, payload)` pairs, plus the raw body.
async fn messages_stream(app: &TestApp, body: Value) -> (u16, Vec<(String, Value)>, String) {
    let r = app
        .http
        .post(format!("{}/v1/messages", app.url))
        .header("x-api-key", KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let raw = r.text().await.unwrap();
    let events = raw
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let name = e
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("");
            let data = e
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or("null");
            (
                name.to_string(),
                serde_json::from_str(data).unwrap_or(Value::Null),
            )
        })
        .collect();
    (status, events, raw)
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

#[tokio::test]
async fn non_stream_message_has_anthropic_shape_and_respects_max_tokens() {
    let app = TestApp::spawn().await;
    let (status, m) = messages(
        &app,
        json!({"model": "gemini-2.5-flash", "max_tokens": 300, "system": "be brief",
               "messages": [user("hello anthropic")]}),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["type"], "message");
    assert_eq!(m["role"], "assistant");
    assert_eq!(m["model"], "gemini-2.5-flash");
    assert_eq!(
        m["content"],
        json!([{"type": "text", "text": "Echo: hello anthropic"}])
    );
    assert_eq!(m["stop_reason"], "end_turn");
    assert!(m["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(m["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let reqs = app.generation_requests();
    let env = reqs[0].json().unwrap();
    assert_eq!(env["request"]["generationConfig"]["maxOutputTokens"], 300);
    assert_eq!(
        env["request"]["systemInstruction"]["parts"][0]["text"],
        "be brief"
    );
    // The Code Assist envelope's request carries the default safety settings, all BLOCK_NONE.
    let safety = env["request"]["safetySettings"].as_array().unwrap();
    assert_eq!(safety.len(), 10, "{env}");
    assert!(
        safety.iter().all(|s| s["threshold"] == "BLOCK_NONE"),
        "{env}"
    );

    // A tiny max_tokens cuts the answer: Anthropic's max_tokens stop reason.
    let (_, m) = messages(
        &app,
        json!({"model": "gemini-2.5-flash", "max_tokens": 2, "thinking": {"type": "disabled"},
               "messages": [user("a rather long question to cut")]}),
    )
    .await;
    assert_eq!(m["stop_reason"], "max_tokens", "{m}");
}

#[tokio::test]
async fn thinking_comes_back_as_thinking_blocks() {
    let app = TestApp::spawn().await;
    let (status, m) = messages(
        &app,
        json!({"model": "gemini-2.5-flash", "max_tokens": 4000,
               "thinking": {"type": "enabled", "budget_tokens": 1024},
               "messages": [user("think first")]}),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["content"][0]["type"], "thinking");
    assert!(
        m["content"][0]["thinking"]
            .as_str()
            .unwrap()
            .contains("Planning the reply")
    );
    assert_eq!(m["content"][1]["text"], "Echo: think first");
    let reqs = app.generation_requests();
    let env = reqs[0].json().unwrap();
    assert_eq!(
        env["request"]["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 1024, "includeThoughts": true})
    );
}

#[tokio::test]
async fn stream_sends_the_event_sequence_with_running_indexes() {
    let app = TestApp::spawn().await;
    app.sim.set_pacing(Pacing {
        chunk_chars: 5,
        ..Pacing::default()
    });
    let (status, events, raw) = messages_stream(
        &app,
        json!({"model": "gemini-2.5-pro", "max_tokens": 4000, "stream": true,
               "messages": [user("stream this answer")]}),
    )
    .await;
    assert_eq!(status, 200, "{raw}");
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    for (name, data) in &events {
        assert_eq!(data["type"], name.as_str(), "event name matches its type");
    }
    assert_eq!(names[0], "message_start");
    assert_eq!(names[names.len() - 2..], ["message_delta", "message_stop"]);
    let starts: Vec<(u64, &str)> = events
        .iter()
        .filter(|(n, _)| n == "content_block_start")
        .map(|(_, d)| {
            (
                d["index"].as_u64().unwrap(),
                d["content_block"]["type"].as_str().unwrap(),
            )
        })
        .collect();
    // gemini-2.5-pro shows thoughts by default: thinking block 0, text block 1.
    assert_eq!(starts, [(0, "thinking"), (1, "text")]);
    let text: String = events
        .iter()
        .filter(|(_, d)| d["delta"]["type"] == "text_delta")
        .inspect(|(_, d)| assert_eq!(d["index"], 1))
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(text, "Echo: stream this answer");
    let stops = names.iter().filter(|n| **n == "content_block_stop").count();
    assert_eq!(stops, 2, "every block is closed once");
    let (_, delta) = &events[events.len() - 2];
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert!(delta["usage"]["output_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn gemini_3_tool_loop_round_trips_the_signature() {
    let app = TestApp::spawn().await;
    let tools: Value = serde_json::from_str(WEATHER_TOOL).unwrap();
    let mut history = vec![user("call get_weather for Paris")];
    let (status, m) = messages(
        &app,
        json!({"model": "gemini-3-flash-preview", "max_tokens": 1000, "tools": tools, "messages": history}),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["stop_reason"], "tool_use");
    let content = m["content"].as_array().unwrap();
    let call = content
        .iter()
        .find(|b| b["type"] == "tool_use")
        .unwrap()
        .clone();
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["input"], json!({"city": "city-value"}));
    // The simulator's signature travels in a thinking block, as Anthropic clients keep them.
    assert!(content.iter().any(
        |b| b["type"] == "thinking" && b["signature"].as_str().unwrap().starts_with("gemini:")
    ));

    history.push(json!({"role": "assistant", "content": m["content"]}));
    history.push(json!({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": call["id"], "content": "21C and sunny"}]}));
    let (status, m) = messages(
        &app,
        json!({"model": "gemini-3-flash-preview", "max_tokens": 1000, "tools": tools, "messages": history}),
    )
    .await;
    assert_eq!(status, 200, "Gemini 3 accepts the replayed signature: {m}");
    let text = m["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["text"].as_str())
        .collect::<String>();
    assert!(text.contains("Result of get_weather"), "{m}");
    assert!(text.contains("21C and sunny"), "{m}");
    assert_eq!(m["stop_reason"], "end_turn");
    let last = app.generation_requests().pop().unwrap();
    let sent = last.json().unwrap();
    let contents = sent["request"]["contents"].as_array().unwrap();
    let fc = &contents[1]["parts"][0];
    assert!(fc.get("functionCall").is_some(), "{sent}");
    assert_ne!(
        fc["thoughtSignature"], "skip_thought_signature_validator",
        "the real one"
    );
    assert_eq!(
        contents[2]["parts"][0]["functionResponse"]["response"],
        json!({"output": "21C and sunny"})
    );
}

#[tokio::test]
async fn streamed_tool_use_has_input_json_delta_and_tool_use_stop() {
    let app = TestApp::spawn().await;
    let tools: Value = serde_json::from_str(WEATHER_TOOL).unwrap();
    let (status, events, raw) = messages_stream(
        &app,
        json!({"model": "gemini-2.5-flash", "max_tokens": 1000, "stream": true, "tools": tools,
               "messages": [user("call:get_weather{\"city\":\"Oslo\"}")]}),
    )
    .await;
    assert_eq!(status, 200, "{raw}");
    let start = events
        .iter()
        .find(|(_, d)| d["content_block"]["type"] == "tool_use")
        .map(|(_, d)| d.clone())
        .expect("tool_use block");
    assert_eq!(start["content_block"]["name"], "get_weather");
    assert_eq!(start["content_block"]["input"], json!({}));
    let partial = events
        .iter()
        .find(|(_, d)| d["delta"]["type"] == "input_json_delta")
        .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap().to_string())
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&partial).unwrap(),
        json!({"city": "Oslo"})
    );
    let delta = events.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn fake_streaming_prefix_works_with_ping_heartbeats() {
    let app = TestApp::spawn().await;
    let (status, events, raw) = messages_stream(
        &app,
        json!({"model": "假流式/gemini-2.5-flash", "max_tokens": 1000, "stream": true,
               "messages": [user("fake it")]}),
    )
    .await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!(
        events[0].0, "ping",
        "fake streaming opens with a heartbeat: {raw}"
    );
    assert!(raw.contains("\"text\":\"Echo: fake it\""), "{raw}");
    assert_eq!(events.last().unwrap().0, "message_stop");
    assert_eq!(
        app.generation_requests()[0].path,
        "/v1internal:generateContent"
    );
}

#[tokio::test]
async fn count_tokens_asks_upstream() {
    let app = TestApp::spawn().await;
    let r = app
        .http
        .post(format!("{}/v1/messages/count_tokens", app.url))
        .header("x-api-key", KEY)
        .json(&json!({"model": "gemini-2.5-flash", "system": "sys",
                      "messages": [user("count these words please")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.unwrap();
    let n = b["input_tokens"].as_u64().unwrap();
    // ceil(chars / 4) in the simulator: "sys" + the message.
    assert_eq!(n, (3 + 24_u64).div_ceil(4), "{b}");
    let count_calls = app
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1internal:countTokens")
        .count();
    assert_eq!(count_calls, 1);
}

#[tokio::test]
async fn errors_come_in_anthropic_shape() {
    let app = builder()
        .users(1)
        .env("RETRY_429_ENABLED", "false")
        .spawn()
        .await;
    let url = format!("{}/v1/messages", app.url);
    let body = json!({"model": "gemini-2.5-flash", "max_tokens": 10, "messages": [user("x")]});

    let r = app.http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["type"], "error");
    assert_eq!(b["error"]["type"], "authentication_error");

    let r = app
        .http
        .post(&url)
        .header("x-api-key", "wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "authentication_error"
    );

    let (status, b) = messages(
        &app,
        json!({"model": "gemini-2.5-flash", "messages": [user("x")]}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(b["error"]["type"], "invalid_request_error");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_tokens"),
        "{b}"
    );
    let r = app
        .http
        .post(&url)
        .header("x-api-key", KEY)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "invalid_request_error"
    );

    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::GenerateContent),
        1,
        Fault::RateLimitExceeded {
            retry_delay_ms: 500,
        },
    ));
    let (status, b) = messages(&app, body.clone()).await;
    assert_eq!(status, 429, "{b}");
    assert_eq!(b["type"], "error");
    assert_eq!(b["error"]["type"], "rate_limit_error");
    assert!(!b["error"]["message"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn a_mid_stream_failure_ends_with_an_error_event() {
    let app = TestApp::spawn().await;
    app.sim.set_pacing(Pacing {
        chunk_chars: 4,
        ..Pacing::default()
    });
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::StreamGenerateContent),
        1,
        Fault::InStreamError { after_events: 2 },
    ));
    let (status, events, raw) = messages_stream(
        &app,
        json!({"model": "gemini-2.5-flash", "max_tokens": 100, "stream": true,
               "messages": [user("break me somewhere")]}),
    )
    .await;
    assert_eq!(status, 200, "{raw}");
    let (name, last) = events.last().unwrap();
    assert_eq!(name, "error", "{raw}");
    assert_eq!(last["type"], "error");
    assert_eq!(last["error"]["type"], "api_error");
    assert!(!events.iter().any(|(n, _)| n == "message_stop"), "{raw}");
}

/// Claude Code 2.1's request shape: a `claude-*` model, system blocks at the top and as
/// `{"role": "system"}` entries in `messages`, `cache_control` everywhere, `metadata`, tools,
/// thinking, `anthropic-beta` and a stream.
#[tokio::test]
async fn claude_code_2_1_request_shape_is_served() {
    let app = TestApp::spawn().await;
    let body = json!({
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 32000,
        "stream": true,
        "metadata": {"user_id": "user_abc_account_def_session_1"},
        "thinking": {"type": "enabled", "budget_tokens": 4000},
        "system": [
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Use the tools.", "cache_control": {"type": "ephemeral"}}
        ],
        "tools": serde_json::from_str::<Value>(WEATHER_TOOL).unwrap(),
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "<env>cwd: /tmp</env>",
                "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>ctx</system-reminder>"},
                {"type": "text", "text": "say hi", "cache_control": {"type": "ephemeral"}}
            ]}
        ]
    });
    let r = app
        .http
        .post(format!("{}/v1/messages?beta=true", app.url))
        .bearer_auth(KEY)
        .header("anthropic-version", "2023-06-01")
        .header(
            "anthropic-beta",
            "claude-code-20250219,interleaved-thinking-2025-05-14",
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let raw = r.text().await.unwrap();
    assert_eq!(status, 200, "{raw}");
    assert!(raw.contains("event: message_stop"), "{raw}");
    let text: String = raw
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter(|e| e["delta"]["type"] == "text_delta")
        .map(|e| e["delta"]["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        text.ends_with("say hi"),
        "the simulator's echo reached the client: {text}"
    );
    assert!(
        raw.contains("claude-sonnet-4-5-20250929"),
        "the client's model is echoed"
    );
    let env = app.generation_requests().pop().unwrap();
    let env = env.json().unwrap();
    assert_eq!(
        env["model"], "gemini-2.5-pro",
        "the alias picked the served model"
    );
    assert_eq!(
        env["request"]["systemInstruction"]["parts"],
        json!([{"text": "You are Claude Code."}, {"text": "Use the tools."}, {"text": "<env>cwd: /tmp</env>"}])
    );
    assert!(!env.to_string().contains("cache_control"));
}

#[tokio::test]
async fn an_unknown_block_type_is_a_clear_anthropic_400() {
    let app = TestApp::spawn().await;
    let (status, e) = messages(
        &app,
        json!({"model": "claude-haiku-4-5", "max_tokens": 10, "messages": [
            {"role": "user", "content": [{"type": "mystery_block", "x": 1}]}]}),
    )
    .await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["type"], "error");
    assert_eq!(e["error"]["type"], "invalid_request_error");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(msg.contains("mystery_block"), "{msg}");
    assert!(
        app.generation_requests().is_empty(),
        "nothing was sent upstream"
    );
}
