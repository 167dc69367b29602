//! Streaming Gemini → OpenAI (catalogue cases 43–45) and stream edge cases.
use std::collections::HashMap;

use serde_json::{Value, json};

use super::*;

/// The cases are written against upstream JSON.
trait OnJson {
    fn on_json(&mut self, v: &serde_json::Value) -> Vec<serde_json::Value>;
}

impl OnJson for crate::convert::stream::OpenAiStreamTranslator {
    fn on_json(&mut self, v: &serde_json::Value) -> Vec<serde_json::Value> {
        self.on_event(&crate::convert::response::typed(v))
    }
}

fn opts() -> ResponseOptions {
    ResponseOptions {
        model: "gemini-2.5-flash".into(),
        tool_name_map: HashMap::new(),
        return_thoughts: true,
    }
}

fn ev(parts: Value, finish: Option<&str>) -> Value {
    let mut cand = json!({"content": {"role": "model", "parts": parts}});
    if let Some(f) = finish {
        cand["finishReason"] = json!(f);
    }
    json!({"response": {"candidates": [cand]}, "traceId": "t"})
}

fn delta(c: &Value) -> &Value {
    &c["choices"][0]["delta"]
}

fn finish(c: &Value) -> &Value {
    &c["choices"][0]["finish_reason"]
}

#[test]
fn case_43_role_first_null_finishes_and_tool_calls_at_the_end() {
    let mut t = OpenAiStreamTranslator::new(opts(), false);
    let mut chunks = t.on_json(&ev(json!([{"text": "Hi"}]), None));
    assert!(t.has_output());
    chunks.extend(t.on_json(&ev(
        json!([{"functionCall": {"name": "f", "args": {}}}]),
        None,
    )));
    let mut last = ev(json!([{"text": ""}]), Some("STOP"));
    last["response"]["usageMetadata"] =
        json!({"promptTokenCount": 1, "candidatesTokenCount": 2, "totalTokenCount": 3});
    chunks.extend(t.on_json(&last));
    chunks.extend(t.finish());
    assert_eq!(chunks.len(), 3, "{chunks:#?}");
    assert_eq!(
        delta(&chunks[0]),
        &json!({"role": "assistant", "content": "Hi"})
    );
    assert_eq!(finish(&chunks[0]), &Value::Null);
    let call = &delta(&chunks[1])["tool_calls"][0];
    assert_eq!(call["index"], 0);
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"], json!({"name": "f", "arguments": "{}"}));
    assert!(call["id"].as_str().is_some_and(|s| s.starts_with("call_")));
    assert!(delta(&chunks[1]).get("role").is_none());
    assert_eq!(finish(&chunks[1]), &Value::Null);
    assert_eq!(delta(&chunks[2]), &json!({}));
    assert_eq!(finish(&chunks[2]), "tool_calls");
    // Without include_usage the usage rides on the final chunk.
    assert_eq!(chunks[2]["usage"]["total_tokens"], 3);
    let id = chunks[0]["id"].as_str().expect("id");
    assert!(id.starts_with("chatcmpl-"));
    for c in &chunks {
        assert_eq!(c["id"], id);
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["created"], chunks[0]["created"]);
        assert_eq!(c["model"], "gemini-2.5-flash");
    }
    assert!(t.finish().is_empty(), "finish is idempotent");
    assert_eq!(sse_frame(&chunks[2]).lines().count(), 2);
    assert!(sse_frame(&chunks[2]).ends_with("}\n\n"));
    assert_eq!(DONE_FRAME, "data: [DONE]\n\n");
}

#[test]
fn case_44_tool_calls_in_separate_chunks_get_running_indexes() {
    let mut t = OpenAiStreamTranslator::new(opts(), false);
    let a = t.on_json(&ev(
        json!([{"functionCall": {"name": "a", "args": {}}}]),
        None,
    ));
    let b = t.on_json(&ev(
        json!([{"text": "x"}, {"functionCall": {"name": "b", "args": {"k": 1}}}]),
        None,
    ));
    assert_eq!(delta(&a[0])["tool_calls"][0]["index"], 0);
    assert_eq!(delta(&b[0]), &json!({"content": "x"}));
    assert_eq!(delta(&b[1])["tool_calls"][0]["index"], 1);
    assert_eq!(
        delta(&b[1])["tool_calls"][0]["function"]["arguments"],
        r#"{"k":1}"#
    );
    let end = t.finish();
    assert_eq!(finish(&end[0]), "tool_calls");
}

#[test]
fn case_45_include_usage_trailer() {
    let mut t = OpenAiStreamTranslator::new(opts(), true);
    let mut chunks = t.on_json(&ev(json!([{"text": "a"}]), None));
    let mut last = ev(json!([{"text": "b"}]), Some("STOP"));
    last["response"]["usageMetadata"] = json!({"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 2, "totalTokenCount": 17});
    chunks.extend(t.on_json(&last));
    chunks.extend(t.finish());
    let (trailer, rest) = chunks.split_last().expect("chunks");
    assert_eq!(trailer["choices"], json!([]));
    assert_eq!(
        trailer["usage"],
        json!({"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17,
               "completion_tokens_details": {"reasoning_tokens": 2}})
    );
    for c in rest {
        assert!(c.get("usage").is_some_and(Value::is_null), "{c}");
    }
    assert_eq!(finish(rest.last().expect("final")), "stop");
}

#[test]
fn reasoning_deltas_and_return_thoughts_off() {
    let mut t = OpenAiStreamTranslator::new(opts(), false);
    let c = t.on_json(&ev(json!([{"text": "plan", "thought": true}]), None));
    assert_eq!(
        delta(&c[0]),
        &json!({"role": "assistant", "reasoning_content": "plan"})
    );
    let mut o = opts();
    o.return_thoughts = false;
    let mut t = OpenAiStreamTranslator::new(o, false);
    assert!(
        t.on_json(&ev(json!([{"text": "plan", "thought": true}]), None))
            .is_empty()
    );
    assert!(!t.has_output());
}

#[test]
fn max_tokens_blocked_prompt_and_empty_stream() {
    let mut t = OpenAiStreamTranslator::new(opts(), false);
    t.on_json(&ev(json!([{"text": "a"}]), Some("MAX_TOKENS")));
    assert_eq!(finish(&t.finish()[0]), "length");

    let mut t = OpenAiStreamTranslator::new(opts(), false);
    let c = t.on_json(&json!({"response": {"promptFeedback": {"blockReason": "SAFETY"}}}));
    assert!(c.is_empty());
    let end = t.finish();
    assert_eq!(delta(&end[0]), &json!({"role": "assistant", "content": ""}));
    assert_eq!(finish(&end[0]), "content_filter");

    let mut t = OpenAiStreamTranslator::new(opts(), true);
    let end = t.finish();
    assert_eq!(finish(&end[0]), "stop");
    assert_eq!(end[1]["usage"]["total_tokens"], 0);
}

#[test]
fn in_stream_error_becomes_openai_error_event() {
    let mut t = OpenAiStreamTranslator::new(opts(), false);
    let c = t.on_json(&json!({"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}}));
    assert_eq!(
        c,
        vec![
            json!({"error": {"message": "Internal error encountered.", "type": "api_error", "code": 500}})
        ]
    );
    assert_eq!(
        t.error_chunk("slow down", 429)["error"]["type"],
        "rate_limit_error"
    );
}

#[test]
fn blocks_in_stream_match_non_stream_content() {
    let events = [
        ev(json!([{"text": "x"}]), None),
        ev(
            json!([{"inlineData": {"mimeType": "image/png", "data": "BBB"}}]),
            None,
        ),
        ev(json!([{"text": "y"}]), Some("STOP")),
    ];
    let mut t = OpenAiStreamTranslator::new(opts(), false);
    let streamed: String = events
        .iter()
        .flat_map(|e| t.on_json(e))
        .filter_map(|c| delta(&c)["content"].as_str().map(str::to_string))
        .collect();
    let all_parts = json!({"candidates": [{"content": {"parts": [
        {"text": "x"}, {"inlineData": {"mimeType": "image/png", "data": "BBB"}}, {"text": "y"}]},
        "finishReason": "STOP"}]});
    let whole = serde_json::to_value(crate::convert::response::gemini_to_openai(
        &crate::convert::response::typed(&all_parts),
        &opts(),
    ))
    .expect("serialises");
    assert_eq!(
        streamed,
        whole["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
    );
}

#[test]
fn new_attempt_sums_usage_and_replaces_finish() {
    let mut t = OpenAiStreamTranslator::new(opts(), true);
    let mut a = ev(json!([{"text": "A"}]), Some("STOP"));
    a["response"]["usageMetadata"] =
        json!({"promptTokenCount": 10, "candidatesTokenCount": 1, "totalTokenCount": 11});
    t.on_json(&a);
    t.new_attempt();
    let mut b = ev(json!([{"text": "B"}]), Some("MAX_TOKENS"));
    b["response"]["usageMetadata"] =
        json!({"promptTokenCount": 12, "candidatesTokenCount": 2, "totalTokenCount": 14});
    let c = t.on_json(&b);
    assert!(
        delta(&c[0]).get("role").is_none(),
        "role only once per stream"
    );
    let end = t.finish();
    assert_eq!(finish(&end[0]), "length");
    assert_eq!(end[1]["usage"]["total_tokens"], 25);
}

/// The chunks, byte for byte, as the JSON-value translator wrote them before chunks were
/// serialised straight to the wire (`golden.sse`): field order, `null`s, usage placement.
#[test]
fn frames_match_the_recorded_bytes() {
    let mut out = String::new();
    let mut wire = Vec::new();
    for (include_usage, return_thoughts) in [(false, true), (true, true), (false, false)] {
        let mut o = opts();
        o.return_thoughts = return_thoughts;
        let mut t = OpenAiStreamTranslator::new(o.clone(), include_usage);
        let mut w = OpenAiStreamTranslator::new(o, include_usage);
        for tr in [&mut t, &mut w] {
            tr.header.id = "chatcmpl-test".into();
            tr.header.created = 1700000000;
        }
        let mut evs = vec![
            ev(json!([{"text": "plan", "thought": true}]), None),
            ev(json!([{"text": "Hi \"there\"\n"}]), None),
            ev(
                json!([{"text": "a"}, {"functionCall": {"id": "c1", "name": "f", "args": {"x": "true"}}}]),
                None,
            ),
            ev(
                json!([{"executableCode": {"language": "PYTHON", "code": "print(1)"}}, {"text": "b"}]),
                None,
            ),
        ];
        let mut lp = ev(json!([{"text": "tok"}]), None);
        lp["response"]["candidates"][0]["logprobsResult"] = json!({"chosenCandidates": [{"token": "tok", "logProbability": -0.5}], "topCandidates": [{"candidates": [{"token": "tok", "logProbability": -0.5}]}]});
        evs.push(lp);
        let mut last = ev(json!([{"text": ""}]), Some("STOP"));
        last["response"]["usageMetadata"] = json!({"promptTokenCount": 1, "candidatesTokenCount": 2, "thoughtsTokenCount": 4, "cachedContentTokenCount": 1, "totalTokenCount": 7});
        evs.push(last);
        for e in &evs {
            for c in t.on_json(e) {
                out.push_str(&sse_frame(&c));
            }
            w.write_event(&crate::convert::response::typed(e), &mut wire);
        }
        for c in t.finish() {
            out.push_str(&sse_frame(&c));
        }
        w.write_finish(&mut wire);
        out.push_str("----\n");
        wire.extend_from_slice(b"----\n");
    }
    let golden = include_str!("golden.sse");
    assert_eq!(out, golden, "JSON values");
    assert_eq!(
        String::from_utf8(wire).unwrap(),
        golden,
        "frames written directly"
    );
}
