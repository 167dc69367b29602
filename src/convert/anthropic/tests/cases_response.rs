use std::collections::HashMap;

use serde_json::{Value, json};

use crate::convert::anthropic::{SIGNATURE_PREFIX, stop_reason};
use crate::convert::response::ResponseOptions;

fn gemini_to_anthropic(
    v: &serde_json::Value,
    o: &crate::convert::response::ResponseOptions,
) -> serde_json::Value {
    crate::convert::anthropic::gemini_to_anthropic(&crate::convert::response::typed(v), o)
}

pub(super) fn opts() -> ResponseOptions {
    ResponseOptions {
        model: "gemini-2.5-pro".into(),
        tool_name_map: HashMap::from([("huoqu_tianqi".to_string(), "获取 天气".to_string())]),
        return_thoughts: true,
    }
}

fn answer(parts: Value, finish: &str) -> Value {
    json!({"response": {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 3, "cachedContentTokenCount": 4, "totalTokenCount": 18}}})
}

#[test]
fn message_shape_with_thinking_text_and_tool_use() {
    let resp = answer(
        json!([
            {"text": "plan", "thought": true},
            {"text": " more", "thought": true},
            {"text": "Hello"},
            {"text": " world"},
            {"functionCall": {"name": "huoqu_tianqi", "args": {"city": "Paris", "unit": null, "ok": "true"}}, "thoughtSignature": "SIG"},
        ]),
        "STOP",
    );
    let m = gemini_to_anthropic(&resp, &opts());
    assert!(m["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(m["type"], "message");
    assert_eq!(m["role"], "assistant");
    assert_eq!(m["model"], "gemini-2.5-pro");
    let c = m["content"].as_array().unwrap();
    assert_eq!(
        c[0],
        json!({"type": "thinking", "thinking": "plan more", "signature": ""})
    );
    assert_eq!(c[1], json!({"type": "text", "text": "Hello world"}));
    // The call's signature rides on a thinking block right before it.
    assert_eq!(
        c[2],
        json!({"type": "thinking", "thinking": "", "signature": format!("{SIGNATURE_PREFIX}SIG")})
    );
    assert_eq!(c[3]["type"], "tool_use");
    assert!(c[3]["id"].as_str().unwrap().starts_with("toolu_"));
    assert_eq!(c[3]["name"], "获取 天气");
    assert_eq!(c[3]["input"], json!({"city": "Paris", "ok": true}));
    assert_eq!(m["stop_reason"], "tool_use");
    assert_eq!(m["stop_sequence"], Value::Null);
    assert_eq!(
        m["usage"],
        json!({"input_tokens": 6, "output_tokens": 8, "cache_read_input_tokens": 4})
    );
}

#[test]
fn call_signature_joins_an_unsigned_thinking_block_directly_before_it() {
    let resp = answer(
        json!([
            {"text": "plan", "thought": true},
            {"functionCall": {"id": "fc1", "name": "f", "args": {}}, "thoughtSignature": "SIG"},
            {"functionCall": {"id": "fc2", "name": "f", "args": {}}},
        ]),
        "STOP",
    );
    let c = gemini_to_anthropic(&resp, &opts())["content"].clone();
    assert_eq!(c[0]["signature"], format!("{SIGNATURE_PREFIX}SIG"));
    assert_eq!(c[1]["id"], "fc1");
    assert_eq!(c[2]["id"], "fc2");
    assert_eq!(c.as_array().unwrap().len(), 3);
}

#[test]
fn thoughts_hidden_and_placeholders_and_blank_text_skipped() {
    let mut o = opts();
    o.return_thoughts = false;
    let resp = answer(
        json!([
            {"text": "hidden", "thought": true},
            {"text": "\n"},
            {"text": "...", "thoughtSignature": "skip_thought_signature_validator"},
            {"text": "Hi"},
        ]),
        "STOP",
    );
    let m = gemini_to_anthropic(&resp, &o);
    assert_eq!(m["content"], json!([{"type": "text", "text": "\nHi"}]));
    let blank = gemini_to_anthropic(&answer(json!([{"text": "  "}]), "STOP"), &o);
    assert_eq!(blank["content"], json!([]));
}

#[test]
fn images_and_code_render_as_markdown_text() {
    let resp = answer(
        json!([
            {"text": "See:"},
            {"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
            {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
        ]),
        "STOP",
    );
    let m = gemini_to_anthropic(&resp, &opts());
    assert_eq!(
        m["content"][0]["text"],
        "See:\n\n![gemini-generated-content](data:image/png;base64,AAAA)\n\n```python\nprint(1)\n```"
    );
}

#[test]
fn stop_reasons() {
    assert_eq!(stop_reason(Some("STOP"), false, false), "end_turn");
    assert_eq!(stop_reason(None, false, false), "end_turn");
    assert_eq!(stop_reason(Some("STOP"), true, false), "tool_use");
    assert_eq!(stop_reason(Some("MAX_TOKENS"), false, false), "max_tokens");
    // A cut call must not be run.
    assert_eq!(stop_reason(Some("MAX_TOKENS"), true, false), "max_tokens");
    assert_eq!(stop_reason(Some("SAFETY"), false, false), "refusal");
    assert_eq!(
        stop_reason(Some("PROHIBITED_CONTENT"), true, false),
        "refusal"
    );
    assert_eq!(
        stop_reason(Some("MALFORMED_FUNCTION_CALL"), false, false),
        "end_turn"
    );
    assert_eq!(stop_reason(None, false, true), "refusal");
    let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"}});
    let m = gemini_to_anthropic(&blocked, &opts());
    assert_eq!(m["stop_reason"], "refusal");
    assert_eq!(m["content"], json!([]));
    assert_eq!(m["usage"], json!({"input_tokens": 0, "output_tokens": 0}));
}
