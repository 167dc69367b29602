use serde_json::{Value, json};

use crate::convert::anthropic::{SIGNATURE_PREFIX, anthropic_to_gemini, count_tokens_contents};
use crate::convert::request::{ConvertError, ConvertOptions};
use crate::wire::gemini::SKIP_THOUGHT_SIGNATURE;

fn convert(body: Value) -> Value {
    anthropic_to_gemini(&body, &ConvertOptions::default())
        .expect("converts")
        .request
}

fn err(body: Value) -> String {
    anthropic_to_gemini(&body, &ConvertOptions::default())
        .expect_err("rejected")
        .to_string()
}

fn body(messages: Value) -> Value {
    json!({"model": "gemini-2.5-flash", "max_tokens": 100, "messages": messages})
}

fn roles_and_kinds(contents: &Value) -> Vec<String> {
    contents
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let kinds: Vec<String> = c["parts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    if let Some(fc) = p.get("functionCall") {
                        format!("fc {}", fc["id"].as_str().unwrap())
                    } else if let Some(fr) = p.get("functionResponse") {
                        format!("fr {}", fr["id"].as_str().unwrap())
                    } else if let Some(t) = p.get("text") {
                        format!("text {}", t.as_str().unwrap())
                    } else {
                        "other".into()
                    }
                })
                .collect();
            format!("{}({})", c["role"].as_str().unwrap(), kinds.join(", "))
        })
        .collect()
}

#[test]
fn case_54_parallel_tool_uses_become_alternating_call_and_result_turns() {
    let req = convert(body(json!([
        {"role": "user", "content": "weather in Paris and Rome?"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Checking both."},
            {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "t2", "name": "get_weather", "input": {"city": "Rome"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "21C"}]},
            {"type": "tool_result", "tool_use_id": "t2", "content": "25C"},
        ]},
    ])));
    assert_eq!(
        roles_and_kinds(&req["contents"]),
        [
            "user(text weather in Paris and Rome?)",
            "model(text Checking both.)",
            "model(fc t1)",
            "user(fr t1)",
            "model(fc t2)",
            "user(fr t2)",
        ]
    );
    let c = req["contents"].as_array().unwrap();
    assert_eq!(
        c[3]["parts"][0]["functionResponse"],
        json!({"id": "t1", "name": "get_weather", "response": {"output": "21C"}})
    );
    assert_eq!(
        c[5]["parts"][0]["functionResponse"]["response"],
        json!({"output": "25C"})
    );
    assert_eq!(
        c[2]["parts"][0]["functionCall"]["args"],
        json!({"city": "Paris"})
    );
    // No real signature was round-tripped: every call gets the bypass value.
    assert_eq!(c[2]["parts"][0]["thoughtSignature"], SKIP_THOUGHT_SIGNATURE);
    assert_eq!(c[4]["parts"][0]["thoughtSignature"], SKIP_THOUGHT_SIGNATURE);
}

#[test]
fn tool_result_keeps_all_texts_flags_errors_and_forwards_images() {
    let req = convert(body(json!([
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "shot", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "a", "is_error": true, "content": [
                {"type": "text", "text": "line 1"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
                {"type": "text", "text": "line 2"},
            ]},
            {"type": "text", "text": "and now?"},
        ]},
    ])));
    let c = req["contents"].as_array().unwrap();
    assert_eq!(
        c[2]["parts"][0]["functionResponse"]["response"],
        json!({"error": "line 1\nline 2"})
    );
    assert_eq!(c[2]["parts"][1]["inlineData"]["mimeType"], "image/png");
    assert_eq!(
        c[3],
        json!({"role": "user", "parts": [{"text": "and now?"}]})
    );
}

#[test]
fn orphan_tool_results_are_dropped_and_calls_without_results_kept() {
    let req = convert(body(json!([
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "ghost", "content": "x"},
            {"type": "text", "text": "hi"},
        ]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "p", "name": "f", "input": {}}]},
    ])));
    assert_eq!(
        roles_and_kinds(&req["contents"]),
        ["user(text hi)", "model(fc p)"]
    );
}

#[test]
fn our_signature_round_trips_onto_the_next_call_and_foreign_ones_do_not() {
    let sig = format!("{SIGNATURE_PREFIX}CiQBreal");
    let req = convert(body(json!([
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "secret plan", "signature": sig},
            {"type": "tool_use", "id": "a", "name": "f", "input": {}},
            {"type": "tool_use", "id": "b", "name": "f", "input": {}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "a", "content": "1"},
            {"type": "tool_result", "tool_use_id": "b", "content": "2"},
        ]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "claude's", "signature": "EqQBanthropic"},
            {"type": "redacted_thinking", "data": "xyz"},
            {"type": "tool_use", "id": "c", "name": "f", "input": {}},
        ]},
    ])));
    let c = req["contents"].as_array().unwrap();
    assert_eq!(c[1]["parts"][0]["thoughtSignature"], "CiQBreal");
    assert_eq!(c[3]["parts"][0]["thoughtSignature"], SKIP_THOUGHT_SIGNATURE);
    assert_eq!(c[5]["parts"][0]["thoughtSignature"], SKIP_THOUGHT_SIGNATURE);
    // Thinking text is never replayed as visible text.
    assert!(!req.to_string().contains("secret plan"));
    assert!(!req.to_string().contains("claude's"));
}

#[test]
fn system_string_or_blocks_and_compatibility_mode() {
    let mut b = body(json!([{"role": "user", "content": "hi"}]));
    b["system"] = json!([{"type": "text", "text": "be brief"}, {"type": "text", "text": "  "}, {"type": "text", "text": "be kind", "cache_control": {"type": "ephemeral"}}]);
    let req = convert(b.clone());
    assert_eq!(
        req["systemInstruction"],
        json!({"parts": [{"text": "be brief"}, {"text": "be kind"}]})
    );
    let compat = ConvertOptions {
        compatibility_mode: true,
        ..ConvertOptions::default()
    };
    let req = anthropic_to_gemini(&b, &compat).unwrap().request;
    assert!(req.get("systemInstruction").is_none());
    assert_eq!(req["contents"][0]["parts"][0]["text"], "be brief");
    assert_eq!(req["contents"][1]["parts"][0]["text"], "hi");
    b["system"] = json!("plain");
    assert_eq!(convert(b)["systemInstruction"]["parts"][0]["text"], "plain");
}

#[test]
fn sampling_parameters_are_forwarded_unchanged() {
    let mut b = body(json!([{"role": "user", "content": "hi"}]));
    b["temperature"] = json!(0.5);
    b["top_p"] = json!(0.9);
    b["top_k"] = json!(40);
    b["stop_sequences"] = json!(["END", "", "a", "b", "c", "d", "e"]);
    b["metadata"] = json!({"user_id": "u1"});
    let g = &convert(b)["generationConfig"];
    assert_eq!(
        *g,
        json!({"maxOutputTokens": 100, "temperature": 0.5, "topP": 0.9, "topK": 40,
               "stopSequences": ["END", "a", "b", "c", "d"]})
    );
}

#[test]
fn invalid_parameters_are_rejected_with_the_field_named() {
    let no_max =
        json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}]});
    assert!(err(no_max).contains("max_tokens"));
    let mut b = body(json!([{"role": "user", "content": "x"}]));
    b["temperature"] = json!(1.5);
    assert!(err(b).contains("temperature"));
    let mut b = body(json!([{"role": "user", "content": "x"}]));
    b["max_tokens"] = json!(0);
    assert!(err(b).contains("max_tokens"));
    assert!(err(body(json!([{"role": "tool", "content": "x"}]))).contains("role"));
    assert!(err(body(json!([]))).contains("messages"));
    assert!(err(body(json!([{"role": "user", "content": 5}]))).contains("content"));
    let e = anthropic_to_gemini(&json!([]), &ConvertOptions::default()).unwrap_err();
    assert_eq!(e, ConvertError::NotAnObject);
}

#[test]
fn images_base64_inline_and_url_rejected() {
    let req = convert(body(json!([{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}},
    ]}])));
    assert_eq!(
        req["contents"][0]["parts"][1],
        json!({"inlineData": {"mimeType": "image/jpeg", "data": "/9j/"}})
    );
    let e = err(body(json!([{"role": "user", "content": [
        {"type": "image", "source": {"type": "url", "url": "http://169.254.169.254/x.png"}},
    ]}])));
    assert!(e.contains("messages[0].content[0].source"), "{e}");
    assert!(e.contains("base64"), "{e}");
}

#[test]
fn tools_are_cleaned_sanitised_and_choice_mapped() {
    let mut b = body(json!([{"role": "user", "content": "x"}]));
    b["tools"] = json!([
        {"name": "获取 天气", "description": "weather", "input_schema": {
            "$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
            "properties": {"city": {"type": "string"}}, "required": ["city"]}},
        {"type": "web_search_20250305", "name": "web_search"},
    ]);
    b["tool_choice"] = json!({"type": "tool", "name": "获取 天气"});
    let out = anthropic_to_gemini(&b, &ConvertOptions::default()).unwrap();
    let decl = &out.request["tools"][0]["functionDeclarations"][0];
    assert_eq!(decl["name"], "huoqu_tianqi");
    assert!(decl["parametersJsonSchema"].get("$schema").is_none());
    assert_eq!(decl["parametersJsonSchema"]["required"], json!(["city"]));
    assert_eq!(out.request["tools"][1], json!({"googleSearch": {}}));
    assert_eq!(
        out.request["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["huoqu_tianqi"]}})
    );
    assert_eq!(out.tool_name_map["huoqu_tianqi"], "获取 天气");

    for (choice, mode) in [("auto", "AUTO"), ("any", "ANY"), ("none", "NONE")] {
        b["tool_choice"] = json!({"type": choice});
        assert_eq!(
            convert(b.clone())["toolConfig"]["functionCallingConfig"]["mode"],
            mode
        );
    }
    b["tool_choice"] = json!({"type": "tool", "name": "missing"});
    assert!(err(b.clone()).contains("not declared"));
    b["tools"] = json!([{"type": "bash_20250124", "name": "bash"}]);
    b["tool_choice"] = Value::Null;
    assert!(err(b).contains("bash_20250124"));
}

#[test]
fn thinking_maps_per_family() {
    let with = |model: &str, thinking: Value| {
        let mut b = body(json!([{"role": "user", "content": "x"}]));
        b["model"] = json!(model);
        b["thinking"] = thinking;
        convert(b)["generationConfig"]["thinkingConfig"].clone()
    };
    let enabled = json!({"type": "enabled", "budget_tokens": 2048});
    assert_eq!(
        with("gemini-2.5-flash", enabled.clone()),
        json!({"thinkingBudget": 2048, "includeThoughts": true})
    );
    assert_eq!(
        with(
            "gemini-2.5-pro",
            json!({"type": "enabled", "budget_tokens": 100000})
        ),
        json!({"thinkingBudget": 32768, "includeThoughts": true})
    );
    assert_eq!(
        with("gemini-3-flash-preview", enabled),
        json!({"thinkingLevel": "medium", "includeThoughts": true})
    );
    assert_eq!(
        with("gemini-2.5-flash", json!({"type": "disabled"})),
        json!({"thinkingBudget": 0, "includeThoughts": false})
    );
    assert_eq!(
        with("gemini-2.5-pro", json!({"type": "disabled"})),
        json!({"thinkingBudget": 128, "includeThoughts": false})
    );
    let hidden = ConvertOptions {
        return_thoughts: false,
        ..ConvertOptions::default()
    };
    let mut b = body(json!([{"role": "user", "content": "x"}]));
    b["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    let req = anthropic_to_gemini(&b, &hidden).unwrap().request;
    assert_eq!(
        req["generationConfig"]["thinkingConfig"]["includeThoughts"],
        false
    );
    b["thinking"] = json!({"type": "sometimes"});
    assert!(err(b).contains("thinking.type"));
}

#[test]
fn count_tokens_counts_system_and_tools_without_max_tokens() {
    let b = json!({"model": "gemini-2.5-flash", "system": "sys text",
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "count me"}]});
    let contents = count_tokens_contents(&b, &ConvertOptions::default()).unwrap();
    assert_eq!(contents.len(), 3);
    assert_eq!(contents[0]["parts"][0]["text"], "sys text");
    assert!(
        contents[1]["parts"][0]["text"]
            .as_str()
            .unwrap()
            .contains("functionDeclarations")
    );
    assert_eq!(contents[2]["parts"][0]["text"], "count me");
    assert!(anthropic_to_gemini(&b, &ConvertOptions::default()).is_err());
}

#[test]
fn system_entries_in_messages_join_the_system_instruction_in_order() {
    // Claude Code 2.1's first request: top-level system blocks plus system entries in messages.
    let mut b = body(json!([
        {"role": "system", "content": [{"type": "text", "text": "second", "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]},
        {"role": "system", "content": "third"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "go"},
    ]));
    b["system"] = json!([{"type": "text", "text": "first", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]);
    let req = convert(b.clone());
    assert_eq!(
        req["systemInstruction"],
        json!({"parts": [{"text": "first"}, {"text": "second"}, {"text": "third"}]})
    );
    assert_eq!(
        roles_and_kinds(&req["contents"]),
        ["user(text hi)", "model(text hello)", "user(text go)"]
    );
    assert!(!req.to_string().contains("cache_control"));

    let compat = ConvertOptions {
        compatibility_mode: true,
        ..ConvertOptions::default()
    };
    let req = anthropic_to_gemini(&b, &compat).unwrap().request;
    assert!(req.get("systemInstruction").is_none());
    assert_eq!(
        roles_and_kinds(&req["contents"]),
        [
            "user(text first)",
            "user(text second)",
            "user(text hi)",
            "user(text third)",
            "model(text hello)",
            "user(text go)"
        ]
    );
    // A system entry must hold text.
    let e = err(body(json!([
        {"role": "system", "content": [{"type": "image", "source": {}}]},
        {"role": "user", "content": "x"},
    ])));
    assert!(e.contains("messages[0].content[0]"), "{e}");
}

#[test]
fn unknown_block_types_are_refused_by_name_not_pasted_as_json() {
    let e = err(body(json!([{"role": "user", "content": [
        {"type": "text", "text": "x"},
        {"type": "hologram", "data": "secret payload"},
    ]}])));
    assert!(e.contains("messages[0].content[1].type"), "{e}");
    assert!(e.contains("'hologram'"), "{e}");
    let e = err(body(
        json!([{"role": "user", "content": [{"text": "no type"}]}]),
    ));
    assert!(e.contains("needs a 'type'"), "{e}");
    let e = err(body(json!([
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
            "content": [{"type": "text", "text": "ok"}, {"type": "widget"}]}]},
    ])));
    assert!(e.contains("'widget'"), "{e}");
    // Every block type Claude Code sends is understood.
    let req = convert(body(json!([
        {"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc"}},
        ]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "x"},
            {"type": "redacted_thinking", "data": "abc"},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
        ]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "done"}]},
    ])));
    assert_eq!(
        roles_and_kinds(&req["contents"]),
        [
            "user(text look, other, text doc)",
            "model(fc t1)",
            "user(fr t1)"
        ]
    );
}
