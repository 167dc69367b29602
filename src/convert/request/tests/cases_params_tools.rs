use serde_json::json;

use super::*;
use crate::models::resolve;

fn with(extra: serde_json::Value) -> ConvertedRequest {
    let mut body =
        json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "q"}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    convert(body)
}

fn generation(extra: serde_json::Value) -> serde_json::Value {
    with(extra).request["generationConfig"].clone()
}

#[test]
fn case_15_client_max_tokens_forwarded_unchanged_fix() {
    let mut r = with(json!({"max_completion_tokens": 50, "max_tokens": 100, "top_k": 20}));
    let model = resolve("gemini-2.5-flash").unwrap();
    apply_model_features(&mut r.request, &model, &opts());
    assert_eq!(r.request["generationConfig"]["maxOutputTokens"], 50);
    assert_eq!(r.request["generationConfig"]["topK"], 20);
    assert_eq!(
        generation(json!({"max_tokens": 100}))["maxOutputTokens"],
        100
    );
    // Nothing is invented when the client sent nothing.
    let mut r = with(json!({}));
    apply_model_features(&mut r.request, &model, &opts());
    assert!(r.request.get("generationConfig").is_none());
}

#[test]
fn case_16_stop_sequences_wrapped_and_capped_at_five() {
    assert_eq!(
        generation(json!({"stop": "END"}))["stopSequences"],
        json!(["END"])
    );
    assert_eq!(
        generation(json!({"stop": ["a", "b"]}))["stopSequences"],
        json!(["a", "b"])
    );
    assert_eq!(
        generation(json!({"stop": ["1", "2", "3", "4", "5", "6", "7"]}))["stopSequences"],
        json!(["1", "2", "3", "4", "5"])
    );
}

#[test]
fn case_17_sampling_parameters() {
    let g = generation(
        json!({"n": 2, "seed": 7, "presence_penalty": 0.5, "frequency_penalty": 0.1,
        "top_p": 0.9, "temperature": 0.3}),
    );
    assert_eq!(
        g,
        json!({"candidateCount": 2, "seed": 7, "presencePenalty": 0.5, "frequencyPenalty": 0.1,
            "topP": 0.9, "temperature": 0.3})
    );
}

#[test]
fn case_18_candidate_count_only_when_n_above_one() {
    // Documented choice (like CLIProxyAPI): Gemini's default is 1, so n=1 / absent sends nothing.
    assert!(with(json!({})).request.get("generationConfig").is_none());
    assert!(
        with(json!({"n": 1}))
            .request
            .get("generationConfig")
            .is_none()
    );
    let err =
        convert_err(json!({"model": "m", "n": 9, "messages": [{"role": "user", "content": "q"}]}));
    assert!(err.to_string().contains("between 1 and 8"), "{err}");
}

#[test]
fn case_19_json_object() {
    assert_eq!(
        generation(json!({"response_format": {"type": "json_object"}})),
        json!({"responseMimeType": "application/json"})
    );
    assert_eq!(
        generation(json!({"response_format": {"type": "text"}})),
        json!({"responseMimeType": "text/plain"})
    );
}

#[test]
fn case_20_json_schema_goes_to_response_json_schema_fix() {
    let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"],
        "additionalProperties": false});
    let g = generation(json!({"response_format": {"type": "json_schema",
        "json_schema": {"name": "x", "strict": true, "schema": schema}}}));
    assert_eq!(
        g,
        json!({"responseMimeType": "application/json", "responseJsonSchema": schema})
    );
    let err = convert_err(
        json!({"model": "m", "messages": [{"role": "user", "content": "q"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}),
    );
    assert!(
        err.to_string()
            .contains("response_format.json_schema.schema"),
        "{err}"
    );
}

#[test]
fn case_21_tool_names_sanitised_everywhere_with_map_back() {
    let long = "a".repeat(70);
    let r = with(json!({
        "tools": [
            {"type": "function", "function": {"name": "获取 天气", "parameters": {"type": "object", "properties": {}}}},
            {"type": "function", "function": {"name": "1abc"}},
            {"type": "function", "function": {"name": long}}
        ],
        "tool_choice": {"type": "function", "function": {"name": "获取 天气"}},
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "获取 天气", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "sunny"}
        ]
    }));
    let decls = &r.request["tools"][0]["functionDeclarations"];
    assert_eq!(decls[0]["name"], "huoqu_tianqi");
    assert_eq!(decls[0]["description"], "");
    assert_eq!(
        decls[0]["parametersJsonSchema"],
        json!({"type": "object", "properties": {}})
    );
    assert_eq!(decls[1]["name"], "_1abc");
    assert!(decls[1].get("parametersJsonSchema").is_none());
    assert_eq!(decls[2]["name"].as_str().unwrap().len(), 64);
    let contents = &r.request["contents"];
    assert_eq!(
        contents[1]["parts"][0]["functionCall"]["name"],
        "huoqu_tianqi"
    );
    assert_eq!(
        contents[2]["parts"][0]["functionResponse"]["name"],
        "huoqu_tianqi"
    );
    assert_eq!(
        r.request["toolConfig"]["functionCallingConfig"]["allowedFunctionNames"],
        json!(["huoqu_tianqi"])
    );
    assert_eq!(r.tool_name_map["huoqu_tianqi"], "获取 天气");
    assert_eq!(r.tool_name_map["_1abc"], "1abc");
}

#[test]
fn colliding_sanitised_names_stay_distinct() {
    let r = with(json!({"tools": [
        {"type": "function", "function": {"name": "get w"}},
        {"type": "function", "function": {"name": "get_w"}}
    ]}));
    let decls = &r.request["tools"][0]["functionDeclarations"];
    assert_eq!(decls[0]["name"], "get_w");
    assert_eq!(decls[1]["name"], "get_w_2");
    assert_eq!(r.tool_name_map["get_w"], "get w");
    assert_eq!(r.tool_name_map["get_w_2"], "get_w");
    assert_eq!(sanitize_tool_name(""), "_unnamed_function");
    assert_eq!(sanitize_tool_name("a:b/c"), "a_b_c");
}

#[test]
fn case_22_to_27_tool_schemas_are_cleaned_into_parameters_json_schema() {
    let r = with(
        json!({"tools": [{"type": "function", "function": {"name": "f", "strict": true, "parameters": {
            "$schema": "x", "title": "T", "type": "object", "additionalProperties": false,
            "$defs": {"X": {"type": "string"}},
            "properties": {
                "title": {"type": ["string", "null"], "default": "a", "minLength": 1},
                "choice": {"anyOf": [{"const": "a"}, {"const": "b"}]},
                "r1": {"$ref": "#/$defs/X"}, "r2": {"$ref": "#/$defs/X"},
                "x-ext": {"type": "string", "x-google-foo": 1}
            },
            "required": ["title", "missing", "r1"]
        }}}]}),
    );
    let schema = &r.request["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"];
    assert_eq!(
        schema,
        &json!({"type": "object", "properties": {
            "title": {"type": "string", "description": "nullable (default: \"a\") (minLength: 1)"},
            "choice": {"type": "string", "enum": ["a", "b"]},
            "r1": {"type": "string"}, "r2": {"type": "string"},
            "x-ext": {"type": "string"}
        }, "required": ["r1"]})
    );
}

#[test]
fn case_28_tool_choice_modes() {
    let tools = json!([{"type": "function", "function": {"name": "f"}}]);
    let config = |choice: serde_json::Value| {
        with(json!({"tools": tools, "tool_choice": choice})).request["toolConfig"].clone()
    };
    assert_eq!(
        config(json!("required")),
        json!({"functionCallingConfig": {"mode": "ANY"}})
    );
    assert_eq!(
        config(json!("none")),
        json!({"functionCallingConfig": {"mode": "NONE"}})
    );
    assert_eq!(
        config(json!("auto")),
        json!({"functionCallingConfig": {"mode": "AUTO"}})
    );
    assert_eq!(
        config(json!({"type": "function", "function": {"name": "f"}})),
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}})
    );
    // Without declared functions there is nothing to configure.
    assert!(
        with(json!({"tool_choice": "none"}))
            .request
            .get("toolConfig")
            .is_none()
    );
    let err = convert_err(
        json!({"model": "m", "messages": [{"role": "user", "content": "q"}],
        "tools": tools, "tool_choice": {"type": "function", "function": {"name": "g"}}}),
    );
    assert!(err.to_string().contains("'g' is not declared"), "{err}");
    let err = convert_err(
        json!({"model": "m", "messages": [{"role": "user", "content": "q"}],
        "tools": tools, "tool_choice": "sometimes"}),
    );
    assert!(
        err.to_string().starts_with("invalid 'tool_choice'"),
        "{err}"
    );
}

#[test]
fn builtin_tools_and_unsupported_tool_types() {
    let r = with(json!({"tools": [{"type": "google_search"}, {"type": "code_execution"}]}));
    assert_eq!(
        r.request["tools"],
        json!([{"googleSearch": {}}, {"codeExecution": {}}])
    );
    let err = convert_err(
        json!({"model": "m", "messages": [{"role": "user", "content": "q"}],
        "tools": [{"type": "computer"}]}),
    );
    assert!(err.to_string().contains("tools[0].type"), "{err}");
}

#[test]
fn validation_errors_name_the_field() {
    let base =
        || json!({"model": "gemini-2.5-pro", "messages": [{"role": "user", "content": "q"}]});
    let err_with = |k: &str, v: serde_json::Value| {
        let mut b = base();
        b[k] = v;
        convert_err(b).to_string()
    };
    assert_eq!(
        err_with("temperature", json!(3)),
        "invalid 'temperature': must be between 0 and 2, got 3"
    );
    assert!(err_with("top_p", json!(1.5)).contains("'top_p'"));
    assert!(err_with("top_k", json!(0)).contains("'top_k'"));
    assert!(err_with("max_tokens", json!(0)).contains("'max_tokens'"));
    assert!(err_with("presence_penalty", json!(-3)).contains("'presence_penalty'"));
    assert!(err_with("temperature", json!("hot")).starts_with("invalid 'temperature'"));
    assert!(err_with("reasoning_effort", json!("extreme")).contains("reasoning_effort"));
    assert!(err_with("messages", json!([])).contains("at least one message"));
    assert!(err_with("messages", json!("hi")).contains("must be an array"));
    let err = err_with(
        "messages",
        json!([{"role": "user", "content": "q"},
        {"role": "assistant", "tool_calls": [{"id": "x", "function": {"arguments": "{}"}}]}]),
    );
    assert!(err.starts_with("invalid 'messages[1]'"), "{err}");
    assert!(err.contains("name"), "{err}");
    assert_eq!(
        convert_err(json!({"messages": []})),
        ConvertError::Missing("model")
    );
    assert_eq!(
        convert_err(json!({"model": "m"})),
        ConvertError::Missing("messages")
    );
    assert_eq!(convert_err(json!([1])), ConvertError::NotAnObject);
    assert!(matches!(
        convert_err(json!({"model": "bad model", "messages": [{"role": "user", "content": "q"}]})),
        ConvertError::Model(_)
    ));
}

#[test]
fn unknown_fields_are_ignored_and_stream_flags_read() {
    let r = with(
        json!({"size": "1024x1024", "user": "u", "logprobs": false, "stream": true,
        "stream_options": {"include_usage": true}, "temperature": null, "parallel_tool_calls": false}),
    );
    assert!(r.request.get("size").is_none());
    assert!(r.request.get("generationConfig").is_none());
    assert_eq!(
        r.request.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["contents"]
    );
    assert!(r.stream);
    assert!(r.include_usage);
    assert_eq!(r.model, "gemini-2.5-flash");
    let r = with(json!({}));
    assert!(!r.stream && !r.include_usage);
}

#[test]
fn logprobs_and_google_thinking_config_map_to_generation_config() {
    let r = with(json!({"logprobs": true, "top_logprobs": 5}));
    assert_eq!(
        r.request["generationConfig"],
        json!({"responseLogprobs": true, "logprobs": 5})
    );
    let r = with(json!({"logprobs": true, "top_logprobs": 0}));
    assert_eq!(
        r.request["generationConfig"],
        json!({"responseLogprobs": true})
    );
    let r = with(
        json!({"google": {"thinking_config": {"thinking_level": "HIGH", "include_thoughts": false}}}),
    );
    assert_eq!(
        r.request["generationConfig"]["thinkingConfig"],
        json!({"thinkingLevel": "high", "includeThoughts": false})
    );
}
