//! Unit tests of the Responses conversions: request items and tools → Gemini, and Gemini
//! events → Responses items and stream events.
use serde_json::{Value, json};

use super::*;
use crate::convert::response::{ResponseOptions, typed};
use crate::wire::gemini::SKIP_THOUGHT_SIGNATURE;

fn opts() -> ConvertOptions {
    ConvertOptions::default()
}

fn convert(body: Value) -> ResponsesRequest {
    responses_to_gemini(body, &[], &opts()).unwrap_or_else(|e| panic!("conversion failed: {e}"))
}

fn convert_err(body: Value) -> ConvertError {
    match responses_to_gemini(body, &[], &opts()) {
        Ok(r) => panic!("expected an error, got {}", r.request),
        Err(e) => e,
    }
}

fn field_of(e: &ConvertError) -> String {
    match e {
        ConvertError::Invalid { field, .. } | ConvertError::RemoteUrl { field, .. } => {
            field.clone()
        }
        ConvertError::Missing(f) => f.to_string(),
        other => panic!("no field in {other:?}"),
    }
}

fn with(input: Value) -> Value {
    json!({"model": "gemini-2.5-flash", "input": input})
}

// ---- requests ------------------------------------------------------------------------------

#[test]
fn string_input_and_instructions() {
    let r =
        convert(json!({"model": "gemini-2.5-flash", "input": "hello", "instructions": "be brief"}));
    assert_eq!(
        r.request["contents"],
        json!([{"role": "user", "parts": [{"text": "hello"}]}])
    );
    assert_eq!(
        r.request["systemInstruction"],
        json!({"parts": [{"text": "be brief"}]})
    );
    assert_eq!(
        r.input,
        vec![json!({"type": "message", "role": "user", "content": "hello"})]
    );
    assert!(r.store, "store defaults to true");
    assert!(!r.stream);
    assert_eq!(r.shell.model, "gemini-2.5-flash");
    assert!(r.shell.id.starts_with("resp_"));
    assert_eq!(r.shell.instructions, json!("be brief"));
}

#[test]
fn messages_with_parts_and_leading_developer_messages() {
    let r = convert(with(json!([
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "rules"}]},
        {"role": "system", "content": "more rules"},
        {"role": "user", "content": [
            {"type": "input_text", "text": "look"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "auto"},
            {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBE"},
        ]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "seen", "annotations": []}]},
        {"role": "developer", "content": "late rule"},
    ])));
    assert_eq!(
        r.request["systemInstruction"]["parts"],
        json!([{"text": "rules"}, {"text": "more rules"}])
    );
    assert_eq!(
        r.request["contents"],
        json!([
            {"role": "user", "parts": [
                {"text": "look"},
                {"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
                {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}},
            ]},
            {"role": "model", "parts": [{"text": "seen"}]},
            {"role": "user", "parts": [{"text": "late rule"}]},
        ])
    );
}

#[test]
fn a_tool_loop_is_one_model_turn_and_one_user_turn_with_names_found_by_call_id() {
    let r = convert(json!({
        "model": "gemini-2.5-flash",
        "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"days": {"type": "integer"}}}}],
        "input": [
            {"role": "user", "content": "weather?"},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"role": "assistant", "content": "checking"},
            {"type": "function_call", "id": "fc_1", "call_id": "call_a", "name": "get_weather", "arguments": "{\"days\":\"2\"}"},
            {"type": "function_call", "call_id": "call_b", "name": "get_weather", "arguments": {"days": 3}},
            {"type": "function_call_output", "call_id": "call_a", "output": "{\"temp\":21}"},
            {"type": "function_call_output", "call_id": "call_b", "output": [{"type": "input_text", "text": "sunny"}]},
            {"type": "function_call_output", "call_id": "call_unknown", "output": "lost"},
        ]
    }));
    let contents = r.request["contents"].as_array().unwrap();
    assert_eq!(contents.len(), 3, "{contents:?}");
    assert_eq!(
        contents[1],
        json!({"role": "model", "parts": [
            {"text": "checking"},
            {"functionCall": {"id": "call_a", "name": "get_weather", "args": {"days": 2}}, "thoughtSignature": SKIP_THOUGHT_SIGNATURE},
            {"functionCall": {"id": "call_b", "name": "get_weather", "args": {"days": 3}}, "thoughtSignature": SKIP_THOUGHT_SIGNATURE},
        ]})
    );
    assert_eq!(
        contents[2],
        json!({"role": "user", "parts": [
            {"functionResponse": {"id": "call_a", "name": "get_weather", "response": {"temp": 21}}},
            {"functionResponse": {"id": "call_b", "name": "get_weather", "response": {"result": "sunny"}}},
        ]})
    );
}

#[test]
fn reasoning_items_carry_signatures_back_to_their_calls() {
    let enc = signature::encode(&[("call_a".into(), "sig-A".into())]);
    let r = convert(with(json!([
        {"role": "user", "content": "go"},
        {"type": "function_call", "call_id": "call_a", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_a", "output": "ok"},
        // After its call, and next to a foreign blob: position and strangers do not matter.
        {"type": "reasoning", "summary": [], "encrypted_content": enc},
        {"type": "reasoning", "summary": [], "encrypted_content": "gAAAA-openai-blob"},
    ])));
    assert_eq!(
        r.request["contents"][1]["parts"][0]["thoughtSignature"],
        "sig-A"
    );
}

#[test]
fn unreadable_arguments_drop_the_call_and_its_output() {
    let r = convert(with(json!([
        {"role": "user", "content": "go"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{oops"},
        {"type": "function_call_output", "call_id": "c1", "output": "x"},
        {"role": "user", "content": "again"},
    ])));
    assert_eq!(
        r.request["contents"],
        json!([
            {"role": "user", "parts": [{"text": "go"}]},
            {"role": "user", "parts": [{"text": "again"}]},
        ])
    );
}

#[test]
fn codex_tool_kinds_become_declarations_and_history_calls() {
    let r = convert(json!({
        "model": "gemini-2.5-pro",
        "tools": [
            {"type": "function", "name": "exec_command", "strict": false, "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"], "additionalProperties": false}},
            {"type": "custom", "name": "apply_patch", "description": "Edit files.", "format": {"type": "grammar", "syntax": "lark", "definition": "start: \"*** Begin Patch\""}},
            {"type": "local_shell"},
            {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents.", "tools": [
                {"type": "function", "name": "close_agent", "parameters": {"type": "object", "properties": {}}},
            ]},
            {"type": "web_search", "external_web_access": false},
            {"type": "image_generation"},
        ],
        "input": [
            {"role": "user", "content": "do it"},
            {"type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": "*** Begin Patch"},
            {"type": "local_shell_call", "call_id": "c2", "status": "completed", "action": {"type": "exec", "command": ["ls", "-la"], "timeout_ms": null, "working_directory": "/w", "env": null, "user": null}},
            {"type": "function_call", "call_id": "c3", "name": "close_agent", "namespace": "multi_agent_v1", "arguments": "{}"},
            {"type": "custom_tool_call_output", "call_id": "c1", "output": "patched"},
            {"type": "function_call_output", "call_id": "c2", "output": "total 0"},
            {"type": "function_call_output", "call_id": "c3", "output": "closed"},
        ]
    }));
    let tools = r.request["tools"].as_array().unwrap();
    let decls = tools[0]["functionDeclarations"].as_array().unwrap();
    let names: Vec<&str> = decls.iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "exec_command",
            "apply_patch",
            "local_shell",
            "multi_agent_v1__close_agent"
        ]
    );
    assert_eq!(
        decls[1]["parametersJsonSchema"]["properties"]["input"]["type"],
        "string"
    );
    assert!(
        decls[1]["description"]
            .as_str()
            .unwrap()
            .contains("lark grammar:\nstart: \"*** Begin Patch\"")
    );
    assert_eq!(
        tools.len(),
        1,
        "2.5 cannot combine search with functions; image_generation is left out"
    );

    let model = &r.request["contents"][1]["parts"];
    assert_eq!(
        model[0]["functionCall"],
        json!({"id": "c1", "name": "apply_patch", "args": {"input": "*** Begin Patch"}})
    );
    assert_eq!(
        model[1]["functionCall"],
        json!({"id": "c2", "name": "local_shell", "args": {"command": ["ls", "-la"], "working_directory": "/w"}})
    );
    assert_eq!(
        model[2]["functionCall"]["name"],
        "multi_agent_v1__close_agent"
    );
    let answers = &r.request["contents"][2]["parts"];
    let answered: Vec<&str> = answers
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["functionResponse"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        answered,
        ["apply_patch", "local_shell", "multi_agent_v1__close_agent"]
    );

    let key = "multi_agent_v1__close_agent";
    assert_eq!(
        r.tools[key],
        ClientTool {
            kind: ToolKind::Function,
            name: "close_agent".into(),
            namespace: Some("multi_agent_v1".into()),
        }
    );
    assert_eq!(r.tools["apply_patch"].kind, ToolKind::Custom);
    assert_eq!(r.tools["local_shell"].kind, ToolKind::LocalShell);
    assert_eq!(r.tool_name_map[key], key);
}

#[test]
fn web_search_is_google_search_and_joins_functions_only_on_gemini_3() {
    let tools = json!([{"type": "web_search", "external_web_access": false}, {"type": "function", "name": "f"}]);
    let alone = convert(
        json!({"model": "gemini-2.5-flash", "input": "x", "tools": [{"type": "web_search_preview"}]}),
    );
    assert_eq!(alone.request["tools"], json!([{"googleSearch": {}}]));
    let old = convert(json!({"model": "gemini-2.5-flash", "input": "x", "tools": tools}));
    assert_eq!(old.request["tools"].as_array().unwrap().len(), 1);
    assert!(
        old.request["tools"][0]
            .get("functionDeclarations")
            .is_some()
    );
    let new = convert(json!({"model": "gemini-3-flash-preview", "input": "x", "tools": tools}));
    assert_eq!(new.request["tools"][1], json!({"googleSearch": {}}));
}

#[test]
fn hosted_tools_that_cannot_run_are_refused_by_name() {
    for (tool, want) in [
        (
            json!({"type": "file_search", "vector_store_ids": ["vs_1"]}),
            "file_search",
        ),
        (
            json!({"type": "computer_use_preview", "display_width": 1024}),
            "computer use",
        ),
    ] {
        let e = convert_err(
            json!({"model": "gemini-2.5-flash", "input": "x", "tools": [{"type": "function", "name": "f"}, tool]}),
        );
        assert_eq!(field_of(&e), "tools[1].type");
        assert!(e.to_string().contains(want), "{e}");
    }
    let e = convert_err(json!({"model": "gemini-2.5-flash", "input": "x", "background": true}));
    assert_eq!(field_of(&e), "background");
    let e =
        convert_err(json!({"model": "gemini-2.5-flash", "input": "x", "prompt": {"id": "pmpt_1"}}));
    assert_eq!(field_of(&e), "prompt");
}

#[test]
fn fields_without_a_gemini_counterpart_are_accepted_and_echoed() {
    let r = convert(json!({
        "model": "gemini-2.5-flash", "input": "x",
        "prompt_cache_key": "k", "service_tier": "auto", "safety_identifier": "u1",
        "truncation": "auto", "store": false, "metadata": {"a": "b"}, "user": "me",
        "include": ["reasoning.encrypted_content", "message.output_text.logprobs"],
        "stream_options": {"include_obfuscation": false}, "max_tool_calls": 5,
        "parallel_tool_calls": false, "client_metadata": {"x": 1}, "background": false,
        "top_logprobs": 0,
    }));
    assert!(!r.store);
    assert!(r.include_encrypted);
    let req = r.request.as_object().unwrap();
    assert_eq!(
        req.keys().collect::<Vec<_>>(),
        ["contents", "generationConfig"]
    );
    let shell = serde_json::to_value(r.shell.object(
        crate::wire::responses::ResponseStatus::Completed,
        &[],
        None,
    ))
    .unwrap();
    assert_eq!(shell["prompt_cache_key"], "k");
    assert_eq!(shell["truncation"], "auto");
    assert_eq!(shell["metadata"], json!({"a": "b"}));
    assert_eq!(shell["user"], "me");
    assert_eq!(shell["parallel_tool_calls"], false);
    assert_eq!(shell["max_tool_calls"], 5);
    assert_eq!(shell["store"], false);
    assert_eq!(shell["object"], "response");
}

#[test]
fn text_format_maps_to_the_response_schema() {
    let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": false});
    let r = convert(json!({"model": "gemini-2.5-flash", "input": "x",
        "text": {"format": {"type": "json_schema", "name": "thing", "schema": schema, "strict": true}, "verbosity": "low"}}));
    let g = &r.request["generationConfig"];
    assert_eq!(g["responseMimeType"], "application/json");
    assert_eq!(g["responseJsonSchema"], schema);
    let r = convert(
        json!({"model": "gemini-2.5-flash", "input": "x", "text": {"format": {"type": "json_object"}}}),
    );
    assert_eq!(
        r.request["generationConfig"]["responseMimeType"],
        "application/json"
    );
    let r = convert(
        json!({"model": "gemini-2.5-flash", "input": "x", "text": {"format": {"type": "text"}}}),
    );
    assert!(
        r.request["generationConfig"]
            .get("responseMimeType")
            .is_none()
    );
    let e = convert_err(
        json!({"model": "gemini-2.5-flash", "input": "x", "text": {"format": {"type": "json_schema", "name": "n"}}}),
    );
    assert_eq!(field_of(&e), "text.format.schema");
}

#[test]
fn reasoning_and_sampling_map_to_generation_config() {
    let r = convert(
        json!({"model": "gemini-2.5-flash", "input": "x", "max_output_tokens": 100,
        "temperature": 0.2, "top_p": 0.9, "reasoning": {"effort": "low", "summary": "auto"}}),
    );
    let g = &r.request["generationConfig"];
    assert_eq!(g["maxOutputTokens"], 100);
    assert_eq!(g["temperature"], 0.2);
    assert_eq!(g["topP"], 0.9);
    assert_eq!(
        g["thinkingConfig"],
        json!({"thinkingBudget": 1024, "includeThoughts": true})
    );
    assert!(r.summary);
    let r = convert(
        json!({"model": "gemini-3-flash-preview", "input": "x", "reasoning": {"effort": "high"}}),
    );
    assert_eq!(
        r.request["generationConfig"]["thinkingConfig"],
        json!({"thinkingLevel": "high", "includeThoughts": false})
    );
    assert!(!r.summary);
    let r = convert(
        json!({"model": "gemini-2.5-pro", "input": "x", "reasoning": {"summary": "detailed"}}),
    );
    assert_eq!(
        r.request["generationConfig"]["thinkingConfig"],
        json!({"includeThoughts": true})
    );
    for (body, field) in [
        (
            json!({"reasoning": {"effort": "extreme"}}),
            "reasoning.effort",
        ),
        (json!({"max_output_tokens": 0}), "max_output_tokens"),
        (json!({"temperature": 3}), "temperature"),
        (json!({"input": 5}), "input"),
        (
            json!({"input": [{"type": "message", "role": "robot", "content": "x"}]}),
            "input[0].role",
        ),
        (
            json!({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]}),
            "input[0].content[0].file_id",
        ),
        (
            json!({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}]}),
            "input[0].content[0].image_url",
        ),
        (
            json!({"input": [{"type": "item_reference", "id": "msg_1"}]}),
            "input[0]",
        ),
        (
            json!({"tool_choice": {"type": "function", "name": "nope"}, "tools": [{"type": "function", "name": "f"}]}),
            "tool_choice",
        ),
    ] {
        let mut b = json!({"model": "gemini-2.5-flash", "input": "x"});
        for (k, v) in body.as_object().unwrap() {
            b[k] = v.clone();
        }
        assert_eq!(field_of(&convert_err(b.clone())), field, "{b}");
    }
}

#[test]
fn tool_choice_forms() {
    let tools = json!([
        {"type": "function", "name": "f"},
        {"type": "custom", "name": "patch"},
        {"type": "namespace", "name": "ns", "tools": [{"type": "function", "name": "g"}]},
    ]);
    let cfg = |choice: Value| {
        convert(json!({"model": "gemini-2.5-flash", "input": "x", "tools": tools, "tool_choice": choice}))
            .request["toolConfig"]["functionCallingConfig"]
            .clone()
    };
    assert_eq!(cfg(json!("auto")), json!({"mode": "AUTO"}));
    assert_eq!(cfg(json!("none")), json!({"mode": "NONE"}));
    assert_eq!(cfg(json!("required")), json!({"mode": "ANY"}));
    assert_eq!(
        cfg(json!({"type": "custom", "name": "patch"})),
        json!({"mode": "ANY", "allowedFunctionNames": ["patch"]})
    );
    assert_eq!(
        cfg(json!({"type": "function", "name": "g", "namespace": "ns"})),
        json!({"mode": "ANY", "allowedFunctionNames": ["ns__g"]})
    );
    assert_eq!(
        cfg(
            json!({"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "f"}]})
        ),
        json!({"mode": "ANY", "allowedFunctionNames": ["f"]})
    );
    assert_eq!(
        cfg(json!({"type": "web_search_preview"})),
        json!({"mode": "AUTO"})
    );
}

#[test]
fn the_stored_conversation_comes_first() {
    let history = vec![
        json!({"type": "message", "role": "user", "content": "first"}),
        json!({"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": [{"type": "output_text", "text": "Echo: first", "annotations": [], "logprobs": []}]}),
    ];
    let r = responses_to_gemini(with(json!("second")), &history, &opts()).unwrap();
    assert_eq!(
        r.request["contents"],
        json!([
            {"role": "user", "parts": [{"text": "first"}]},
            {"role": "model", "parts": [{"text": "Echo: first"}]},
            {"role": "user", "parts": [{"text": "second"}]},
        ])
    );
    // Only the request's own items are its input.
    assert_eq!(r.input.len(), 1);
    // A follow-up may send no input at all.
    assert!(responses_to_gemini(json!({"model": "gemini-2.5-flash"}), &history, &opts()).is_ok());
    assert_eq!(
        field_of(&convert_err(json!({"model": "gemini-2.5-flash"}))),
        "input"
    );
}

// ---- answers -------------------------------------------------------------------------------

fn translator(body: Value, emit: bool) -> ResponsesTranslator {
    let r = convert(body);
    let ropts = ResponseOptions {
        model: r.shell.model.clone(),
        tool_name_map: r.tool_name_map,
        return_thoughts: r.summary,
    };
    ResponsesTranslator::new(r.shell, ropts, r.tools, r.include_encrypted, emit)
}

fn ev(parts: Value, finish: Option<&str>) -> Value {
    let mut c = json!({"content": {"role": "model", "parts": parts}, "index": 0});
    if let Some(f) = finish {
        c["finishReason"] = json!(f);
    }
    json!({"response": {"candidates": [c], "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 3, "totalTokenCount": 18}}})
}

/// The events written for `events`, then the closing ones.
fn run(tr: &mut ResponsesTranslator, events: &[Value]) -> Vec<Value> {
    let mut buf = Vec::new();
    for e in events {
        tr.on_event(&typed(e), &mut buf);
    }
    tr.finish(&mut buf);
    let text = String::from_utf8(buf).unwrap();
    text.split("\n\n")
        .filter(|f| !f.is_empty())
        .map(|f| {
            let (head, data) = f.split_once("\ndata: ").unwrap();
            let v: Value = serde_json::from_str(data).unwrap();
            assert_eq!(head.strip_prefix("event: "), v["type"].as_str(), "{f}");
            v
        })
        .collect()
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[test]
fn a_text_answer_streams_in_openai_order() {
    let mut tr = translator(with(json!("hi")), true);
    let out = run(
        &mut tr,
        &[
            ev(json!([{"text": "Hel"}]), None),
            ev(json!([{"text": "lo"}]), Some("STOP")),
        ],
    );
    assert_eq!(
        types(&out),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (i, e) in out.iter().enumerate() {
        assert_eq!(e["sequence_number"], i as u64);
    }
    assert_eq!(out[0]["response"]["status"], "in_progress");
    assert_eq!(out[0]["response"]["output"], json!([]));
    assert_eq!(out[6]["text"], "Hello");
    let done = &out[9]["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0]["type"], "message");
    assert_eq!(done["output"][0]["content"][0]["text"], "Hello");
    assert_eq!(
        done["usage"],
        json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 8,
               "output_tokens_details": {"reasoning_tokens": 3}, "total_tokens": 18})
    );
    assert_eq!(done["id"], out[0]["response"]["id"]);
}

#[test]
fn thoughts_and_a_signed_call_become_reasoning_then_a_function_call() {
    let body = json!({"model": "gemini-2.5-flash", "input": "x", "reasoning": {"summary": "auto"},
        "include": ["reasoning.encrypted_content"],
        "tools": [{"type": "function", "name": "get w", "parameters": {"type": "object"}}]});
    let mut tr = translator(body, true);
    let out = run(
        &mut tr,
        &[
            ev(json!([{"text": "Plan", "thought": true}]), None),
            ev(
                json!([{"functionCall": {"name": "get_w", "args": {"ok": "true"}}, "thoughtSignature": "SIG1"}]),
                Some("STOP"),
            ),
        ],
    );
    assert_eq!(
        types(&out),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let reasoning = &out[7]["item"];
    assert_eq!(reasoning["summary"][0]["text"], "Plan");
    let enc = reasoning["encrypted_content"].as_str().unwrap();
    let call = &out[11]["item"];
    assert_eq!(call["type"], "function_call");
    assert_eq!(call["name"], "get w", "the client's own name");
    assert_eq!(call["arguments"], "{\"ok\":true}");
    assert_eq!(call["status"], "completed");
    assert_eq!(out[8]["item"]["status"], "in_progress");
    assert_eq!(out[8]["item"]["arguments"], "");
    assert_eq!(out[11]["output_index"], 1);
    let call_id = call["call_id"].as_str().unwrap();
    assert!(call_id.starts_with("call_"));
    assert_eq!(
        signature::decode(enc).get(call_id).map(String::as_str),
        Some("SIG1")
    );
}

#[test]
fn without_include_the_signature_is_kept_but_not_shown() {
    let body = json!({"model": "gemini-2.5-flash", "input": "x",
        "tools": [{"type": "function", "name": "f"}]});
    let mut tr = translator(body, true);
    let out = run(
        &mut tr,
        &[ev(
            json!([{"functionCall": {"id": "c9", "name": "f", "args": {}}, "thoughtSignature": "S"}]),
            Some("STOP"),
        )],
    );
    let shown = &out.last().unwrap()["response"]["output"];
    assert_eq!(shown.as_array().unwrap().len(), 1);
    assert_eq!(shown[0]["type"], "function_call");
    let kept = tr.kept_items();
    assert_eq!(kept.len(), 2);
    let kept0 = serde_json::to_value(&kept[0]).unwrap();
    assert_eq!(kept0["type"], "reasoning");
    assert_eq!(
        signature::decode(kept0["encrypted_content"].as_str().unwrap())["c9"],
        "S"
    );
}

#[test]
fn calls_come_back_as_the_clients_own_item_kinds() {
    let body = json!({"model": "gemini-2.5-flash", "input": "x", "tools": [
        {"type": "custom", "name": "apply_patch"},
        {"type": "local_shell"},
        {"type": "namespace", "name": "agents", "tools": [{"type": "function", "name": "spawn"}]},
    ]});
    let mut tr = translator(body, true);
    let out = run(
        &mut tr,
        &[ev(
            json!([
                {"functionCall": {"name": "apply_patch", "args": {"input": "*** Begin Patch"}}},
                {"functionCall": {"name": "local_shell", "args": {"command": ["echo", "hi"], "workdir": "/w"}}},
                {"functionCall": {"name": "agents__spawn", "args": {"n": 1}}},
            ]),
            Some("STOP"),
        )],
    );
    let output = &out.last().unwrap()["response"]["output"];
    assert_eq!(output[0]["type"], "custom_tool_call");
    assert_eq!(output[0]["name"], "apply_patch");
    assert_eq!(output[0]["input"], "*** Begin Patch");
    assert_eq!(output[1]["type"], "local_shell_call");
    assert_eq!(
        output[1]["action"],
        json!({"type": "exec", "command": ["echo", "hi"], "timeout_ms": null, "working_directory": "/w", "env": {}, "user": null})
    );
    assert_eq!(output[2]["type"], "function_call");
    assert_eq!(output[2]["name"], "spawn");
    assert_eq!(output[2]["namespace"], "agents");
    let t = types(&out);
    assert!(t.contains(&"response.custom_tool_call_input.delta"));
    assert!(t.contains(&"response.custom_tool_call_input.done"));
}

#[test]
fn max_tokens_and_safety_end_incomplete() {
    let mut tr = translator(with(json!("x")), true);
    let out = run(&mut tr, &[ev(json!([{"text": "cut"}]), Some("MAX_TOKENS"))]);
    let last = out.last().unwrap();
    assert_eq!(last["type"], "response.incomplete");
    assert_eq!(last["response"]["status"], "incomplete");
    assert_eq!(
        last["response"]["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(last["response"]["output"][0]["status"], "incomplete");

    let mut tr = translator(with(json!("x")), true);
    let out = run(&mut tr, &[ev(json!([]), Some("SAFETY"))]);
    assert_eq!(
        out.last().unwrap()["response"]["incomplete_details"]["reason"],
        "content_filter"
    );
    let mut tr = translator(with(json!("x")), true);
    let blocked = json!({"response": {"promptFeedback": {"blockReason": "SAFETY"}}});
    let out = run(&mut tr, &[blocked]);
    assert_eq!(out.last().unwrap()["type"], "response.incomplete");
}

#[test]
fn an_upstream_error_fails_the_response_with_the_error() {
    let mut tr = translator(with(json!("x")), true);
    let mut buf = Vec::new();
    tr.on_event(&typed(&ev(json!([{"text": "partial"}]), None)), &mut buf);
    tr.fail("Resource exhausted", 429, &mut buf);
    tr.finish(&mut buf);
    let text = String::from_utf8(buf).unwrap();
    let last = text.trim_end().rsplit("data: ").next().unwrap();
    let v: Value = serde_json::from_str(last).unwrap();
    assert_eq!(v["type"], "response.failed");
    assert_eq!(v["response"]["status"], "failed");
    assert_eq!(
        v["response"]["error"],
        json!({"code": "rate_limit_exceeded", "message": "Resource exhausted"})
    );
    assert!(
        !text.contains("response.completed"),
        "finish after a failure writes nothing"
    );
}

#[test]
fn the_non_stream_answer_is_the_same_items_without_events() {
    let body = json!({"model": "gemini-2.5-flash", "input": "x", "tools": [{"type": "function", "name": "f"}]});
    let answer = ev(
        json!([{"text": "Let me "}, {"text": "check"}, {"functionCall": {"name": "f", "args": {}}}]),
        Some("STOP"),
    );
    let mut quiet = translator(body.clone(), false);
    let mut buf = Vec::new();
    quiet.on_event(&typed(&answer), &mut buf);
    quiet.finish(&mut buf);
    assert!(buf.is_empty());
    let o = serde_json::to_value(quiet.object()).unwrap();
    assert_eq!(o["status"], "completed");
    assert_eq!(o["output"][0]["content"][0]["text"], "Let me check");
    assert_eq!(o["output"][1]["type"], "function_call");

    let mut streamed = translator(body, true);
    let out = run(&mut streamed, &[answer]);
    let s = &out.last().unwrap()["response"];
    assert_eq!(s["output"][0]["content"], o["output"][0]["content"]);
    assert_eq!(s["output"][1]["name"], o["output"][1]["name"]);
}
