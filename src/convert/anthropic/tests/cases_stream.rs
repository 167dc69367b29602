use serde_json::{Value, json};

use super::cases_response::opts;
use crate::convert::anthropic::{
    AnthropicStreamTranslator, SIGNATURE_PREFIX, error_event, ping_frame, sse_event,
};

/// The cases are written against upstream JSON.
trait OnJson {
    fn on_json(&mut self, v: &serde_json::Value) -> Vec<serde_json::Value>;
}

impl OnJson for crate::convert::anthropic::AnthropicStreamTranslator {
    fn on_json(&mut self, v: &serde_json::Value) -> Vec<serde_json::Value> {
        self.on_event(&crate::convert::response::typed(v))
    }
}

fn ev(parts: Value, finish: Option<&str>) -> Value {
    let mut c = json!({"content": {"role": "model", "parts": parts}, "index": 0});
    if let Some(f) = finish {
        c["finishReason"] = json!(f);
    }
    json!({"response": {"candidates": [c]}})
}

fn run(events: &[Value]) -> Vec<Value> {
    let mut tr = AnthropicStreamTranslator::new(opts());
    let mut out: Vec<Value> = events.iter().flat_map(|e| tr.on_json(e)).collect();
    out.extend(tr.finish());
    assert!(tr.finish().is_empty(), "finish is idempotent");
    out
}

/// `type[:index[:detail]]` per event, for compact sequence assertions.
fn outline(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let t = e["type"].as_str().unwrap().to_string();
            match t.as_str() {
                "content_block_start" => format!(
                    "{t}:{}:{}",
                    e["index"],
                    e["content_block"]["type"].as_str().unwrap()
                ),
                "content_block_delta" => format!(
                    "{t}:{}:{}",
                    e["index"],
                    e["delta"]["type"].as_str().unwrap()
                ),
                "content_block_stop" => format!("{t}:{}", e["index"]),
                "message_delta" => format!("{t}:{}", e["delta"]["stop_reason"].as_str().unwrap()),
                _ => t,
            }
        })
        .collect()
}

#[test]
fn case_55_thinking_text_and_tool_use_blocks_with_running_indexes() {
    let mut last = ev(
        json!([{"functionCall": {"id": "c1", "name": "lookup", "args": {"q": "x"}}}]),
        Some("STOP"),
    );
    last["response"]["usageMetadata"] = json!({"promptTokenCount": 7, "candidatesTokenCount": 4, "thoughtsTokenCount": 2, "totalTokenCount": 13});
    let out = run(&[
        ev(json!([{"text": "th", "thought": true}]), None),
        ev(json!([{"text": "hello"}]), None),
        last,
    ]);
    assert_eq!(
        outline(&out),
        [
            "message_start",
            "content_block_start:0:thinking",
            "content_block_delta:0:thinking_delta",
            "content_block_stop:0",
            "content_block_start:1:text",
            "content_block_delta:1:text_delta",
            "content_block_stop:1",
            "content_block_start:2:tool_use",
            "content_block_delta:2:input_json_delta",
            "content_block_stop:2",
            "message_delta:tool_use",
            "message_stop",
        ]
    );
    assert_eq!(out[0]["message"]["role"], "assistant");
    assert_eq!(out[0]["message"]["content"], json!([]));
    assert!(
        out[0]["message"]["id"]
            .as_str()
            .unwrap()
            .starts_with("msg_")
    );
    assert_eq!(out[2]["delta"]["thinking"], "th");
    assert_eq!(out[5]["delta"]["text"], "hello");
    assert_eq!(
        out[7]["content_block"],
        json!({"type": "tool_use", "id": "c1", "name": "lookup", "input": {}})
    );
    let args: Value =
        serde_json::from_str(out[8]["delta"]["partial_json"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"q": "x"}));
    assert_eq!(
        out[10]["usage"],
        json!({"input_tokens": 7, "output_tokens": 6})
    );
}

#[test]
fn call_signature_arrives_as_signature_delta_on_the_open_thinking_block() {
    let out = run(&[
        ev(json!([{"text": "plan", "thought": true}]), None),
        ev(
            json!([{"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "SIG"}]),
            Some("STOP"),
        ),
    ]);
    assert_eq!(
        outline(&out),
        [
            "message_start",
            "content_block_start:0:thinking",
            "content_block_delta:0:thinking_delta",
            "content_block_delta:0:signature_delta",
            "content_block_stop:0",
            "content_block_start:1:tool_use",
            "content_block_delta:1:input_json_delta",
            "content_block_stop:1",
            "message_delta:tool_use",
            "message_stop",
        ]
    );
    assert_eq!(
        out[3]["delta"]["signature"],
        format!("{SIGNATURE_PREFIX}SIG")
    );
    // Without a thinking block open, the signature gets an empty one of its own.
    let out = run(&[
        ev(json!([{"text": "hi"}]), None),
        ev(
            json!([{"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "SIG"}]),
            Some("STOP"),
        ),
    ]);
    assert_eq!(
        outline(&out)[4..8],
        [
            "content_block_start:1:thinking",
            "content_block_delta:1:signature_delta",
            "content_block_stop:1",
            "content_block_start:2:tool_use",
        ]
    );
}

#[test]
fn text_chunks_continue_one_block_and_blank_chunks_do_not_open_one() {
    let out = run(&[
        ev(json!([{"text": "\n"}]), None),
        ev(json!([{"text": "Hel"}]), None),
        ev(json!([{"text": "lo"}]), None),
        ev(json!([{"text": "  "}]), Some("MAX_TOKENS")),
    ]);
    assert_eq!(
        outline(&out),
        [
            "message_start",
            "content_block_start:0:text",
            "content_block_delta:0:text_delta",
            "content_block_delta:0:text_delta",
            "content_block_delta:0:text_delta",
            "content_block_stop:0",
            "message_delta:max_tokens",
            "message_stop",
        ]
    );
    let text: String = out
        .iter()
        .filter_map(|e| e["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "\nHello  ");
}

#[test]
fn empty_stream_still_ends_well_formed() {
    let out = run(&[]);
    assert_eq!(
        outline(&out),
        ["message_start", "message_delta:end_turn", "message_stop"]
    );
    assert_eq!(
        out[1]["usage"],
        json!({"input_tokens": 0, "output_tokens": 0})
    );
}

#[test]
fn frames_errors_and_pings() {
    assert_eq!(
        sse_event(&json!({"type": "message_stop"})),
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
    );
    assert_eq!(ping_frame(), "event: ping\ndata: {\"type\":\"ping\"}\n\n");
    assert_eq!(
        error_event("slow down", 429),
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
    );
    assert_eq!(error_event("cut", 502)["error"]["type"], "api_error");
    assert_eq!(
        error_event("busy", 503)["error"]["type"],
        "overloaded_error"
    );
}
