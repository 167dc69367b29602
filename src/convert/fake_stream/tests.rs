//! Fake streaming (catalogue cases 50–51) and where it deliberately differs from the reference.
use std::collections::HashMap;

use serde_json::{Value, json};

use super::*;
use crate::convert::response::{ResponseOptions, typed};
use crate::convert::stream::OpenAiStreamTranslator;

/// What an OpenAI client of a fake stream receives: the reply cut into Gemini events, then
/// the ordinary stream translator (the live path).
fn openai_chunks(resp: &Value, opts: &ResponseOptions, include_usage: bool) -> Vec<Value> {
    let mut t = OpenAiStreamTranslator::new(opts.clone(), include_usage);
    let mut out: Vec<Value> = native_chunks(&typed(resp))
        .iter()
        .flat_map(|ev| t.on_event(ev))
        .collect();
    out.extend(t.finish());
    out
}

fn native(resp: &Value) -> Vec<Value> {
    native_chunks(&typed(resp))
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect()
}

fn opts() -> ResponseOptions {
    ResponseOptions {
        model: "gemini-2.5-pro".into(),
        tool_name_map: HashMap::new(),
        return_thoughts: true,
    }
}

fn resp(parts: Value, finish: &str) -> Value {
    json!({"response": {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish}],
        "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 6, "totalTokenCount": 10},
        "modelVersion": "gemini-2.5-pro"}, "traceId": "t"})
}

fn delta(c: &Value) -> &Value {
    &c["choices"][0]["delta"]
}

#[test]
fn case_50_content_in_50_char_pieces() {
    let text: String = (0..120)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let chunks = openai_chunks(&resp(json!([{"text": text}]), "STOP"), &opts(), false);
    // One chunk per 50-character piece, then the finish chunk.
    assert_eq!(chunks.len(), 4);
    let lens: Vec<usize> = chunks
        .iter()
        .map(|c| {
            delta(c)["content"]
                .as_str()
                .map_or(0, |s| s.chars().count())
        })
        .collect();
    assert_eq!(lens, vec![50, 50, 20, 0]);
    assert_eq!(delta(&chunks[0])["role"], "assistant");
    assert_eq!(chunks[0]["choices"][0]["finish_reason"], Value::Null);
    assert_eq!(chunks[2]["choices"][0]["finish_reason"], Value::Null);
    assert_eq!(chunks[3]["choices"][0]["finish_reason"], "stop");
    let joined: String = chunks
        .iter()
        .filter_map(|c| delta(c)["content"].as_str())
        .collect();
    assert_eq!(joined, text);
    let id = chunks[0]["id"].as_str().expect("id");
    assert!(id.starts_with("chatcmpl-"));
    assert!(chunks.iter().all(|c| c["id"] == id));
    assert_eq!(chunks[3]["usage"]["total_tokens"], 10);
}

/// We do not inject the reference's placeholder sentence: the reasoning is delivered as
/// `reasoning_content` and the content stays empty.
#[test]
fn case_51_reasoning_only_without_placeholder() {
    let chunks = openai_chunks(
        &resp(
            json!([{"text": "thinking hard", "thought": true}]),
            "MAX_TOKENS",
        ),
        &opts(),
        false,
    );
    assert_eq!(chunks.len(), 2);
    assert_eq!(
        delta(&chunks[0]),
        &json!({"role": "assistant", "reasoning_content": "thinking hard"})
    );
    assert_eq!(chunks[1]["choices"][0]["finish_reason"], "length");
    let mut o = opts();
    o.return_thoughts = false;
    let chunks = openai_chunks(
        &resp(json!([{"text": "x", "thought": true}]), "STOP"),
        &o,
        false,
    );
    assert_eq!(
        delta(&chunks[0]),
        &json!({"role": "assistant", "content": ""})
    );
}

#[test]
fn reasoning_before_content_tool_calls_last_and_usage_trailer() {
    let chunks = openai_chunks(
        &resp(
            json!([{"text": "r", "thought": true}, {"text": "c"},
                   {"functionCall": {"name": "f", "args": {"a": 1}}},
                   {"functionCall": {"name": "g", "args": {}}}]),
            "STOP",
        ),
        &opts(),
        true,
    );
    // reasoning, content, one chunk per call, the finish chunk, the usage trailer.
    assert_eq!(chunks.len(), 6);
    assert_eq!(
        delta(&chunks[0]),
        &json!({"role": "assistant", "reasoning_content": "r"})
    );
    assert_eq!(delta(&chunks[1]), &json!({"content": "c"}));
    let f = &delta(&chunks[2])["tool_calls"][0];
    let g = &delta(&chunks[3])["tool_calls"][0];
    assert_eq!((&f["index"], &g["index"]), (&json!(0), &json!(1)));
    assert_eq!(g["function"]["name"], "g");
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "tool_calls");
    assert!(chunks[..5].iter().all(|c| c["usage"].is_null()));
    assert_eq!(chunks[5]["choices"], json!([]));
    assert_eq!(chunks[5]["usage"]["prompt_tokens"], 4);
}

#[test]
fn pieces_respect_char_boundaries() {
    let s = "世".repeat(120);
    let p = pieces(&s);
    assert_eq!(
        p.iter().map(|x| x.chars().count()).collect::<Vec<_>>(),
        vec![50, 50, 20]
    );
    assert_eq!(p.concat(), s);
    assert!(pieces("").is_empty());
    assert_eq!(pieces(&"a".repeat(50)).len(), 1);
}

#[test]
fn images_are_not_cut_and_errors_and_blocks() {
    let data = "A".repeat(500);
    let chunks = openai_chunks(
        &resp(
            json!([{"inlineData": {"mimeType": "image/png", "data": data}}]),
            "STOP",
        ),
        &opts(),
        false,
    );
    assert_eq!(chunks.len(), 2, "the image whole, then the finish chunk");
    assert!(
        delta(&chunks[0])["content"]
            .as_str()
            .is_some_and(|s| s.ends_with(&format!("{data})")))
    );

    let err = openai_chunks(
        &json!({"error": {"code": 500, "message": "boom"}}),
        &opts(),
        false,
    );
    assert_eq!(
        err[0],
        json!({"error": {"message": "boom", "type": "api_error", "code": 500}})
    );

    let blocked = openai_chunks(
        &json!({"response": {"promptFeedback": {"blockReason": "SAFETY"}}}),
        &opts(),
        false,
    );
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0]["choices"][0]["finish_reason"], "content_filter");
}

#[test]
fn native_chunks_keep_signatures_calls_and_metadata() {
    let text = "b".repeat(70);
    let chunks = native(&resp(
        json!([{"text": "t", "thought": true},
               {"text": text, "thoughtSignature": "SIG"},
               {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "SIG2"}]),
        "STOP",
    ));
    assert_eq!(chunks.len(), 4);
    let part = |i: usize| &chunks[i]["candidates"][0]["content"]["parts"][0];
    assert_eq!(part(0), &json!({"text": "t", "thought": true}));
    assert_eq!(part(1)["text"].as_str().map(str::len), Some(50));
    assert!(part(1).get("thoughtSignature").is_none());
    assert_eq!(
        part(2),
        &json!({"text": "b".repeat(20), "thoughtSignature": "SIG"})
    );
    assert_eq!(part(3)["thoughtSignature"], "SIG2");
    for c in &chunks[..3] {
        assert!(c["candidates"][0].get("finishReason").is_none());
        assert!(c.get("usageMetadata").is_none());
        assert!(c.get("response").is_none());
    }
    assert_eq!(chunks[3]["candidates"][0]["finishReason"], "STOP");
    assert_eq!(chunks[3]["usageMetadata"]["totalTokenCount"], 10);
    assert_eq!(chunks[3]["modelVersion"], "gemini-2.5-pro");

    let blocked = json!({"response": {"promptFeedback": {"blockReason": "SAFETY"}}});
    assert_eq!(
        native(&blocked),
        vec![json!({"promptFeedback": {"blockReason": "SAFETY"}})]
    );
    let safety = native(&json!({"candidates": [{"finishReason": "SAFETY"}]}));
    assert_eq!(
        safety,
        vec![json!({"candidates": [{"index": 0, "finishReason": "SAFETY"}]})]
    );
}

#[test]
fn heartbeats_are_ignorable_frames() {
    assert_eq!(openai_heartbeat(), ": keep-alive\n\n");
    let hb = native_heartbeat();
    let json_text = hb
        .strip_prefix("data: ")
        .and_then(|s| s.strip_suffix("\n\n"))
        .expect("frame");
    let v: Value = serde_json::from_str(json_text).expect("json");
    assert_eq!(v["candidates"][0]["content"]["parts"][0]["text"], "");
    assert!(v["candidates"][0].get("finishReason").is_none());
    // A heartbeat converts to no OpenAI output and is not an empty *reply* signal.
    let mut t = crate::convert::stream::OpenAiStreamTranslator::new(opts(), false);
    assert!(t.on_event(&typed(&v)).is_empty());
}
