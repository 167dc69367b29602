//! Property tests: no converter entry point panics, whatever a client (or Google) sends.
//!
//! Every entry point gets arbitrary UTF-8 and arbitrary JSON (a recursive strategy), and also
//! JSON shaped like its real input (OpenAI chat and Responses, Gemini, Anthropic requests; Gemini responses and
//! stream events) with arbitrary values in every field, so the generated cases get past the
//! first type checks and reach the deep code paths. Only "does not panic" is asserted: the
//! behaviour itself is covered by the example tests of each module.
use std::collections::HashMap;
use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};

use crate::convert::anthropic::{
    AnthropicStreamTranslator, anthropic_to_gemini, count_tokens_contents, gemini_to_anthropic,
};
use crate::convert::anti_truncation::{self, MarkerFilter};
use crate::convert::detect::is_gemini_native_body;
use crate::convert::fake_stream;
use crate::convert::request::{
    ConvertOptions, apply_model_features, gemini_native_to_request, openai_to_gemini,
    sanitize_tool_name,
};
use crate::convert::response::{
    ResponseOptions, gemini_to_openai, parse_response, unwrap_envelope, usage_from_gemini,
};
use crate::convert::responses::{ResponsesTranslator, responses_to_gemini};
use crate::convert::schema::clean_parameters_schema;
use crate::convert::stream::OpenAiStreamTranslator;
use crate::models::{self, Family};
use crate::wire::gemini::GenerateContentResponse;

/// Field names of every format involved, so arbitrary objects often hit real fields.
#[rustfmt::skip]
const KEYS: &[&str] = &[
    "model", "messages", "role", "content", "type", "text", "image_url", "url", "detail",
    "input_audio", "data", "format", "file", "file_data", "filename", "file_id", "video_url",
    "tool_calls", "id", "function", "name", "arguments", "tool_call_id", "tools", "parameters",
    "properties", "required", "items", "anyOf", "oneOf", "allOf", "$ref", "$defs",
    "definitions", "enum", "const", "default", "description", "additionalProperties",
    "tool_choice", "stream", "stream_options", "include_usage", "max_tokens",
    "max_completion_tokens", "temperature", "top_p", "top_k", "n", "stop", "response_format",
    "json_schema", "schema", "reasoning_effort", "seed", "extra_body", "extra_content",
    "google", "thought_signature", "thinking_config", "thinking", "budget_tokens", "system",
    "source", "media_type", "tool_use_id", "input", "is_error", "cache_control", "metadata",
    "stop_sequences", "contents", "parts", "inlineData", "mimeType", "fileData", "fileUri",
    "functionCall", "functionResponse", "response", "args", "thought", "thoughtSignature",
    "systemInstruction", "system_instruction", "generationConfig", "generation_config",
    "thinkingConfig", "thinkingBudget", "includeThoughts", "thinkingLevel", "safetySettings",
    "toolConfig", "functionCallingConfig", "candidates", "finishReason", "index",
    "usageMetadata", "promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount",
    "totalTokenCount", "promptFeedback", "blockReason", "error", "code", "message", "status",
    "modelVersion", "responseId", "googleSearch", "functionDeclarations",
    "generateContentRequest", "refusal", "signature", "logprobs", "top_logprobs", "traceId",
    "instructions", "call_id", "output", "encrypted_content", "namespace", "action", "include",
    "previous_response_id", "max_output_tokens", "reasoning", "effort", "summary",
];

/// String values that mean something to a converter.
#[rustfmt::skip]
const WORDS: &[&str] = &[
    "user", "assistant", "system", "developer", "tool", "function", "model", "text",
    "image_url", "input_audio", "file", "video_url", "refusal", "image", "document",
    "tool_use", "tool_result", "thinking", "redacted_thinking", "server_tool_use",
    "web_search_20250305", "base64", "url", "auto", "none", "required", "any", "enabled",
    "disabled", "json_object", "json_schema", "object", "string", "array", "integer",
    "number", "boolean", "null", "STOP", "MAX_TOKENS", "SAFETY", "RECITATION",
    "MALFORMED_FUNCTION_CALL", "OTHER", "low", "medium", "high", "minimal", "max",
    "#/$defs/a", "#/definitions/a", "#", "data:image/png;base64,iVBORw0KGgo=", "data:",
    "data:é", "DATA:,", "https://example.com/a.png", "http://x", "é", "假流式/", "🎉",
    "[done]", "[DONE]", "gemini-2.5-pro", "gemini-3-pro-preview",
];

/// Model names: real ones with features, and arbitrary text.
#[rustfmt::skip]
const MODEL_PARTS: &[&str] = &[
    "gemini-2.5-pro", "gemini-2.5-flash", "gemini-3-pro-preview", "gemini-3.1-flash-lite",
    "假流式/", "fake-stream/", "流式抗截断/", "anti-truncation/", "models/", "-max", "-high",
    "-medium", "-low", "-minimal", "-maxthinking", "-nothinking", "-think", "-search",
    "-假流式", "é", "/", ":", " ", "claude-sonnet-4-5", "gpt-5", "o3", "*",
];

fn text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => any::<String>(),
        2 => select(WORDS).prop_map(str::to_string),
        // Scheme checks and data: URLs with multi-byte characters right at the edges.
        2 => "(data|DATA|dAtA|http|https|HTTPS)?:?(//)?[\\PC]{0,6}(;base64)?,?[\\PC]{0,8}",
        1 => "[é假🎉a-z]{0,4}(data:|https://)?[é假🎉]{0,3}",
    ]
    .boxed()
}

fn text_value() -> BoxedStrategy<Value> {
    text().prop_map(Value::String).boxed()
}

fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        6 => (0i64..300_000).prop_map(|n| json!(n)),
        1 => any::<i64>().prop_map(|n| json!(n)),
        1 => any::<u64>().prop_map(|n| json!(n)),
        1 => any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        1 => Just(json!(-1)),
    ]
    .boxed()
}

/// Google's unsigned counts (token counts, indexes), huge ones included.
fn count() -> BoxedStrategy<Value> {
    prop_oneof![
        8 => (0u64..300_000).prop_map(|n| json!(n)),
        1 => any::<u64>().prop_map(|n| json!(n)),
        1 => Just(json!(u64::MAX)),
        1 => number(),
    ]
    .boxed()
}

fn leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text_value(),
    ]
    .boxed()
}

fn key() -> BoxedStrategy<String> {
    prop_oneof![3 => select(KEYS).prop_map(str::to_string), 1 => any::<String>()].boxed()
}

/// Arbitrary JSON, keys biased to the formats' field names.
fn any_json() -> BoxedStrategy<Value> {
    leaf()
        .prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..5).prop_map(Value::Array),
                vec((key(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
            ]
        })
        .boxed()
}

/// Mostly one of `words`, sometimes anything.
fn word(words: &'static [&'static str]) -> BoxedStrategy<Value> {
    prop_oneof![20 => select(words).prop_map(|w| json!(w)), 1 => any_json()].boxed()
}

fn flag() -> BoxedStrategy<Value> {
    prop_oneof![12 => any::<bool>().prop_map(Value::Bool), 1 => any_json()].boxed()
}

fn list(item: BoxedStrategy<Value>, max: usize) -> BoxedStrategy<Value> {
    prop_oneof![
        12 => vec(item.clone(), 1..max).prop_map(Value::Array),
        1 => vec(item, 0..max).prop_map(Value::Array),
        1 => any_json(),
    ]
    .boxed()
}

/// An object with each field present most of the time, plus arbitrary extra fields.
fn obj(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> BoxedStrategy<Value> {
    shaped(fields, Vec::new())
}

/// An object whose `required` fields are always there and whose `optional` ones are there a
/// quarter of the time (so that one odd optional value does not stop every case early), plus
/// arbitrary extra fields.
fn shaped(
    required: Vec<(&'static str, BoxedStrategy<Value>)>,
    optional: Vec<(&'static str, BoxedStrategy<Value>)>,
) -> BoxedStrategy<Value> {
    let maybe = |p: f64, fields: Vec<(&'static str, BoxedStrategy<Value>)>| {
        fields
            .into_iter()
            .map(move |(k, s)| proptest::option::weighted(p, s).prop_map(move |v| (k, v)))
            .collect::<Vec<_>>()
    };
    let (required, optional) = (maybe(0.99, required), maybe(0.25, optional));
    (required, optional, vec((key(), leaf()), 0..2))
        .prop_map(|(required, optional, noise)| {
            let mut m = Map::new();
            for (k, v) in noise {
                m.insert(k, v);
            }
            for (k, v) in required.into_iter().chain(optional) {
                if let Some(v) = v {
                    m.insert(k.to_string(), v);
                }
            }
            Value::Object(m)
        })
        .boxed()
}

/// Model names that resolve, so conversion gets past the model check.
const GOOD_MODELS: &[&str] = &[
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "models/gemini-2.5-flash",
    "假流式/gemini-2.5-pro-high",
    "流式抗截断/gemini-2.5-flash-search",
    "fake-stream/gemini-3.1-flash-lite-minimal",
    "gemini-3-pro-preview-low-search",
    "gemini-2.5-pro-maxthinking",
    "gemini-2.5-flash-nothinking",
    "claude-sonnet-4-5",
    "fake-stream/claude-opus-4-1-high",
    "gpt-5-codex-high-search",
];

fn model_name() -> BoxedStrategy<String> {
    prop_oneof![
        3 => vec(select(MODEL_PARTS), 1..5).prop_map(|p| p.concat()),
        1 => text(),
    ]
    .boxed()
}

fn model_value() -> BoxedStrategy<Value> {
    prop_oneof![
        30 => select(GOOD_MODELS).prop_map(|m| json!(m)),
        2 => model_name().prop_map(Value::String),
        1 => any_json(),
    ]
    .boxed()
}

// ---- OpenAI-shaped requests -------------------------------------------------------------

fn openai_part() -> BoxedStrategy<Value> {
    obj(vec![
        (
            "type",
            word(&[
                "text",
                "image_url",
                "input_audio",
                "file",
                "video_url",
                "refusal",
                "x",
            ]),
        ),
        ("text", text_value()),
        (
            "image_url",
            prop_oneof![obj(vec![("url", text_value())]), text_value()].boxed(),
        ),
        ("video_url", obj(vec![("url", text_value())])),
        (
            "input_audio",
            obj(vec![("data", text_value()), ("format", text_value())]),
        ),
        (
            "file",
            obj(vec![
                ("file_data", text_value()),
                ("filename", text_value()),
                ("file_id", text_value()),
            ]),
        ),
        ("refusal", text_value()),
    ])
}

fn openai_tool_call() -> BoxedStrategy<Value> {
    obj(vec![
        ("id", text_value()),
        ("type", word(&["function"])),
        (
            "function",
            obj(vec![
                ("name", text_value()),
                (
                    "arguments",
                    prop_oneof![any_json().prop_map(|v| json!(v.to_string())), text_value()]
                        .boxed(),
                ),
            ]),
        ),
        (
            "extra_content",
            obj(vec![(
                "google",
                obj(vec![("thought_signature", text_value())]),
            )]),
        ),
    ])
}

fn openai_message() -> BoxedStrategy<Value> {
    shaped(
        vec![
            (
                "role",
                word(&[
                    "system",
                    "developer",
                    "user",
                    "user",
                    "user",
                    "assistant",
                    "tool",
                ]),
            ),
            (
                "content",
                prop_oneof![6 => text_value(), 6 => list(openai_part(), 4), 1 => any_json()]
                    .boxed(),
            ),
        ],
        vec![
            ("tool_calls", list(openai_tool_call(), 3)),
            ("tool_call_id", text_value()),
            ("name", text_value()),
            ("reasoning_content", text_value()),
        ],
    )
}

fn openai_tool() -> BoxedStrategy<Value> {
    obj(vec![
        ("type", word(&["function", "web_search"])),
        (
            "function",
            obj(vec![
                ("name", text_value()),
                ("description", text_value()),
                ("parameters", any_json()),
                ("strict", flag()),
            ]),
        ),
    ])
}

fn openai_body() -> BoxedStrategy<Value> {
    shaped(
        vec![
            ("model", model_value()),
            ("messages", list(openai_message(), 5)),
        ],
        vec![
            ("tools", list(openai_tool(), 3)),
            (
                "tool_choice",
                prop_oneof![word(&["auto", "none", "required"]), any_json()].boxed(),
            ),
            ("stream", flag()),
            ("stream_options", obj(vec![("include_usage", flag())])),
            ("max_tokens", number()),
            ("max_completion_tokens", number()),
            ("temperature", number()),
            ("top_p", number()),
            ("top_k", number()),
            ("n", number()),
            ("seed", number()),
            (
                "stop",
                prop_oneof![text_value(), list(text_value(), 7)].boxed(),
            ),
            (
                "response_format",
                obj(vec![
                    ("type", word(&["json_object", "json_schema", "text"])),
                    (
                        "json_schema",
                        obj(vec![("name", text_value()), ("schema", any_json())]),
                    ),
                ]),
            ),
            (
                "reasoning_effort",
                word(&["none", "minimal", "low", "medium", "high", "max"]),
            ),
            ("logprobs", flag()),
            ("top_logprobs", number()),
            ("extra_body", any_json()),
        ],
    )
}

// ---- Gemini-shaped requests and responses ---------------------------------------------

fn gemini_part() -> BoxedStrategy<Value> {
    obj(vec![
        ("text", text_value()),
        ("thought", flag()),
        ("thoughtSignature", text_value()),
        (
            "inlineData",
            obj(vec![("mimeType", text_value()), ("data", text_value())]),
        ),
        (
            "functionCall",
            obj(vec![
                ("name", text_value()),
                ("args", any_json()),
                ("id", text_value()),
            ]),
        ),
        (
            "functionResponse",
            obj(vec![("name", text_value()), ("response", any_json())]),
        ),
    ])
}

fn gemini_content() -> BoxedStrategy<Value> {
    obj(vec![
        ("role", word(&["user", "model", "function", "system"])),
        ("parts", list(gemini_part(), 4)),
    ])
}

fn gemini_body() -> BoxedStrategy<Value> {
    shaped(
        vec![
            ("model", model_value()),
            ("contents", list(gemini_content(), 4)),
        ],
        vec![
            ("systemInstruction", gemini_content()),
            ("system_instruction", gemini_content()),
            (
                "generationConfig",
                obj(vec![
                    (
                        "thinkingConfig",
                        obj(vec![
                            ("thinkingBudget", number()),
                            ("includeThoughts", flag()),
                            ("thinkingLevel", word(&["low", "high", "minimal"])),
                        ]),
                    ),
                    ("maxOutputTokens", number()),
                    ("temperature", number()),
                    ("responseSchema", any_json()),
                ]),
            ),
            ("tools", list(any_json(), 3)),
            ("toolConfig", any_json()),
            ("safetySettings", any_json()),
            ("stream", flag()),
        ],
    )
}

fn gemini_response() -> BoxedStrategy<Value> {
    let resp = obj(vec![
        (
            "candidates",
            list(
                obj(vec![
                    ("content", gemini_content()),
                    (
                        "finishReason",
                        word(&["STOP", "MAX_TOKENS", "SAFETY", "MALFORMED_FUNCTION_CALL", "OTHER"]),
                    ),
                    ("index", count()),
                ]),
                3,
            ),
        ),
        (
            "usageMetadata",
            obj(vec![
                ("promptTokenCount", count()),
                ("candidatesTokenCount", count()),
                ("thoughtsTokenCount", count()),
                ("totalTokenCount", count()),
                ("toolUsePromptTokenCount", count()),
                ("cachedContentTokenCount", count()),
            ]),
        ),
        (
            "promptFeedback",
            obj(vec![("blockReason", word(&["SAFETY", "OTHER"]))]),
        ),
        ("modelVersion", text_value()),
        ("responseId", text_value()),
        (
            "error",
            prop_oneof![
                4 => Just(Value::Null),
                1 => obj(vec![("code", number()), ("message", text_value()), ("status", text_value())]),
            ]
            .boxed(),
        ),
    ]);
    prop_oneof![
        4 => resp.clone(),
        2 => (resp, text_value()).prop_map(|(r, t)| json!({"response": r, "traceId": t})),
        1 => any_json(),
    ]
    .boxed()
}

// ---- Anthropic-shaped requests -----------------------------------------------------------

fn anthropic_block() -> BoxedStrategy<Value> {
    obj(vec![
        (
            "type",
            word(&[
                "text",
                "image",
                "document",
                "tool_use",
                "tool_result",
                "thinking",
                "redacted_thinking",
                "server_tool_use",
                "search_result",
                "x",
            ]),
        ),
        ("text", text_value()),
        (
            "source",
            obj(vec![
                ("type", word(&["base64", "url", "text", "content"])),
                ("media_type", text_value()),
                ("data", text_value()),
                ("url", text_value()),
            ]),
        ),
        ("id", text_value()),
        ("name", text_value()),
        ("input", any_json()),
        ("tool_use_id", text_value()),
        (
            "content",
            prop_oneof![text_value(), list(any_json(), 3)].boxed(),
        ),
        ("is_error", flag()),
        ("thinking", text_value()),
        ("signature", text_value()),
        ("data", text_value()),
        ("cache_control", any_json()),
    ])
}

fn anthropic_body() -> BoxedStrategy<Value> {
    let message = shaped(
        vec![
            ("role", word(&["user", "user", "assistant", "system"])),
            (
                "content",
                prop_oneof![text_value(), list(anthropic_block(), 4)].boxed(),
            ),
        ],
        Vec::new(),
    );
    shaped(
        vec![
            ("model", model_value()),
            (
                "max_tokens",
                prop_oneof![4 => (1i64..100_000).prop_map(|n| json!(n)), 1 => number()].boxed(),
            ),
            ("messages", list(message, 5)),
        ],
        vec![
            (
                "system",
                prop_oneof![text_value(), list(anthropic_block(), 3)].boxed(),
            ),
            (
                "tools",
                list(
                    obj(vec![
                        ("name", text_value()),
                        ("description", text_value()),
                        ("input_schema", any_json()),
                        (
                            "type",
                            word(&["custom", "web_search_20250305", "bash_20250124"]),
                        ),
                    ]),
                    3,
                ),
            ),
            (
                "tool_choice",
                obj(vec![
                    ("type", word(&["auto", "any", "tool", "none"])),
                    ("name", text_value()),
                ]),
            ),
            (
                "thinking",
                obj(vec![
                    ("type", word(&["enabled", "disabled", "adaptive"])),
                    ("budget_tokens", number()),
                ]),
            ),
            ("stream", flag()),
            ("stop_sequences", list(text_value(), 6)),
            ("temperature", number()),
            ("top_p", number()),
            ("top_k", number()),
            ("metadata", any_json()),
        ],
    )
}

// ---- Responses-shaped requests --------------------------------------------------------------

fn responses_part() -> BoxedStrategy<Value> {
    obj(vec![
        (
            "type",
            word(&[
                "input_text",
                "output_text",
                "input_image",
                "input_file",
                "input_audio",
                "refusal",
                "text",
            ]),
        ),
        ("text", text_value()),
        ("image_url", text_value()),
        ("file_data", text_value()),
        ("file_url", text_value()),
        ("filename", text_value()),
        ("file_id", text_value()),
        (
            "input_audio",
            obj(vec![("data", text_value()), ("format", text_value())]),
        ),
    ])
}

fn responses_item() -> BoxedStrategy<Value> {
    let content = || prop_oneof![text_value(), list(responses_part(), 4)].boxed();
    let call_id = || word(&["c1", "c2", "call_x", ""]);
    prop_oneof![
        4 => shaped(
            vec![
                ("role", word(&["user", "assistant", "system", "developer"])),
                ("content", content()),
            ],
            vec![("type", word(&["message"]))],
        ),
        2 => obj(vec![
            ("type", word(&["function_call", "custom_tool_call"])),
            ("call_id", call_id()),
            ("name", text_value()),
            ("namespace", text_value()),
            ("arguments", prop_oneof![text_value(), any_json()].boxed()),
            ("input", text_value()),
        ]),
        1 => obj(vec![
            ("type", word(&["local_shell_call"])),
            ("call_id", call_id()),
            (
                "action",
                obj(vec![
                    ("type", word(&["exec"])),
                    ("command", list(text_value(), 3)),
                    ("timeout_ms", number()),
                    ("env", any_json()),
                ]),
            ),
        ]),
        2 => obj(vec![
            (
                "type",
                word(&["function_call_output", "custom_tool_call_output", "local_shell_call_output"]),
            ),
            ("call_id", call_id()),
            ("output", content()),
        ]),
        1 => obj(vec![
            ("type", word(&["reasoning", "web_search_call", "item_reference"])),
            (
                "encrypted_content",
                prop_oneof![
                    text_value(),
                    text().prop_map(|t| json!(format!("gcli2api.gemini.v1:{t}"))),
                ]
                .boxed(),
            ),
            ("summary", any_json()),
        ]),
        1 => any_json(),
    ]
    .boxed()
}

fn responses_tool() -> BoxedStrategy<Value> {
    let function = obj(vec![
        ("type", word(&["function", "custom"])),
        ("name", text_value()),
        ("parameters", any_json()),
        ("format", any_json()),
    ]);
    obj(vec![
        (
            "type",
            word(&[
                "function",
                "custom",
                "local_shell",
                "namespace",
                "web_search",
                "code_interpreter",
                "file_search",
                "image_generation",
            ]),
        ),
        ("name", text_value()),
        ("description", text_value()),
        ("parameters", any_json()),
        ("format", any_json()),
        ("tools", list(function, 3)),
    ])
}

fn responses_body() -> BoxedStrategy<Value> {
    shaped(
        vec![
            ("model", model_value()),
            (
                "input",
                prop_oneof![text_value(), list(responses_item(), 6)].boxed(),
            ),
        ],
        vec![
            ("instructions", text_value()),
            ("tools", list(responses_tool(), 4)),
            (
                "tool_choice",
                prop_oneof![
                    word(&["auto", "none", "required"]),
                    obj(vec![
                        (
                            "type",
                            word(&["function", "custom", "allowed_tools", "web_search"])
                        ),
                        ("name", text_value()),
                        ("mode", word(&["auto", "required"])),
                        ("tools", any_json()),
                    ]),
                ]
                .boxed(),
            ),
            (
                "text",
                obj(vec![(
                    "format",
                    obj(vec![
                        ("type", word(&["text", "json_object", "json_schema"])),
                        ("schema", any_json()),
                    ]),
                )]),
            ),
            (
                "reasoning",
                obj(vec![
                    (
                        "effort",
                        word(&["minimal", "low", "medium", "high", "none"]),
                    ),
                    ("summary", word(&["auto", "concise", "detailed", "none"])),
                ]),
            ),
            ("max_output_tokens", number()),
            ("temperature", number()),
            ("top_p", number()),
            ("include", list(word(&["reasoning.encrypted_content"]), 2)),
            ("store", flag()),
            ("stream", flag()),
            ("background", flag()),
        ],
    )
}

// ---- options -------------------------------------------------------------------------------

/// `MODEL_ALIASES`' defaults.
fn default_aliases() -> models::Aliases {
    models::Aliases::parse(models::DEFAULT_MODEL_ALIASES.iter().copied())
        .expect("the default aliases parse")
}

fn convert_options() -> impl Strategy<Value = ConvertOptions> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(compatibility_mode, return_thoughts, aliased)| ConvertOptions {
            compatibility_mode,
            return_thoughts,
            aliases: Arc::new(if aliased {
                default_aliases()
            } else {
                models::Aliases::default()
            }),
        },
    )
}

fn response_options() -> impl Strategy<Value = ResponseOptions> {
    (
        text(),
        proptest::collection::hash_map(text(), text(), 0..3),
        any::<bool>(),
    )
        .prop_map(|(model, tool_name_map, return_thoughts)| ResponseOptions {
            model,
            tool_name_map: tool_name_map.into_iter().collect::<HashMap<_, _>>(),
            return_thoughts,
        })
}

/// A Responses translator for a request offering every kind of client tool, with the
/// generated tool-name map (so calls to unknown names are covered too).
fn responses_translator(ropts: ResponseOptions, include_encrypted: bool) -> ResponsesTranslator {
    let body = json!({"model": "gemini-2.5-flash", "input": "x", "reasoning": {"summary": "auto"},
        "tools": [{"type": "function", "name": "f"}, {"type": "custom", "name": "patch"}, {"type": "local_shell"},
                  {"type": "namespace", "name": "ns", "tools": [{"type": "function", "name": "g"}]}]});
    let c = responses_to_gemini(body, &[], &ConvertOptions::default())
        .expect("a fixed request converts");
    ResponsesTranslator::new(c.shell, ropts, c.tools, include_encrypted, true)
}

/// A request shaped for its converter, or anything at all.
fn or_anything(shaped: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    prop_oneof![4 => shaped, 1 => any_json()].boxed()
}

/// What a request route does after conversion: resolve the model and apply its features.
fn apply_features(request: &mut Value, model: &Value, opts: &ConvertOptions) {
    if let Some(m) = model
        .as_str()
        .and_then(|m| models::resolve_with(m, &opts.aliases).ok())
    {
        apply_model_features(request, &m, opts);
    }
}

// 256 cases each by default; `PROPTEST_CASES=10000 cargo test --lib proptests` digs deeper.
proptest! {
    #![proptest_config(ProptestConfig {
        // No regression files at the top level: a failure prints its case, which then
        // becomes a named unit test (as the token-count overflow did).
        failure_persistence: None,
        ..ProptestConfig::default()
    })]
    #[test]
    fn openai_requests_never_panic(body in or_anything(openai_body()), opts in convert_options()) {
        if let Ok(mut c) = openai_to_gemini(&body, &opts) {
            apply_features(&mut c.request, &body["model"], &opts);
            let mut again = c.request.clone();
            anti_truncation::prepare(&mut again);
        }
        let _ = is_gemini_native_body(&body);
    }

    #[test]
    fn gemini_native_requests_never_panic(body in or_anything(gemini_body()), opts in convert_options()) {
        if let Ok(mut request) = gemini_native_to_request(&body, &opts) {
            apply_features(&mut request, &body["model"], &opts);
            anti_truncation::prepare(&mut request);
            let _ = anti_truncation::continuation(&request, "partial answer é");
        }
        let _ = is_gemini_native_body(&body);
    }

    #[test]
    fn anthropic_requests_never_panic(body in or_anything(anthropic_body()), opts in convert_options()) {
        if let Ok(mut c) = anthropic_to_gemini(&body, &opts) {
            apply_features(&mut c.request, &body["model"], &opts);
        }
        let _ = count_tokens_contents(&body, &opts);
    }

    #[test]
    fn responses_requests_never_panic(
        body in or_anything(responses_body()),
        history in vec(responses_item(), 0..3),
        opts in convert_options(),
    ) {
        let model = body["model"].clone();
        if let Ok(mut c) = responses_to_gemini(body, &history, &opts) {
            apply_features(&mut c.request, &model, &opts);
        }
    }

    #[test]
    fn unary_responses_never_panic(resp in gemini_response(), ropts in response_options(), include_usage in any::<bool>()) {
        let _ = unwrap_envelope(resp.clone());
        // What dispatch does with an upstream body; a body that does not parse is an error.
        if let Ok(r) = parse_response(resp) {
            let _ = gemini_to_openai(&r, &ropts);
            let _ = gemini_to_anthropic(&r, &ropts);
            let _ = usage_from_gemini(&r);
            let _ = r.is_empty_reply();
            let _ = serde_json::to_string(&r);
            // Fake streaming: the whole answer re-chunked through the stream translators.
            let mut openai = OpenAiStreamTranslator::new(ropts.clone(), include_usage);
            let mut anthropic = AnthropicStreamTranslator::new(ropts);
            for chunk in fake_stream::native_chunks(&r) {
                let _ = openai.on_event(&chunk);
                let _ = anthropic.on_event(&chunk);
                let _ = serde_json::to_string(&chunk);
            }
            let _ = openai.finish();
            let _ = anthropic.finish();
        }
    }

    #[test]
    fn stream_translators_never_panic(
        events in vec(gemini_response(), 0..6),
        ropts in response_options(),
        include_usage in any::<bool>(),
        retry_at in any::<prop::sample::Index>(),
    ) {
        let events: Vec<GenerateContentResponse> =
            events.into_iter().filter_map(|e| parse_response(e).ok()).collect();
        let retry_at = retry_at.index(events.len() + 1);
        let mut openai = OpenAiStreamTranslator::new(ropts.clone(), include_usage);
        let mut anthropic = AnthropicStreamTranslator::new(ropts.clone());
        let mut responses = responses_translator(ropts, include_usage);
        let mut buf = Vec::new();
        let mut marker = MarkerFilter::new();
        for (i, ev) in events.iter().enumerate() {
            if i == retry_at {
                openai.new_attempt();
            }
            let _ = openai.on_event(ev);
            let _ = anthropic.on_event(ev);
            responses.on_event(ev, &mut buf);
            // Anti-truncation's view of the same events.
            let mut filtered = ev.clone();
            marker.filter_event(&mut filtered);
            let _ = anti_truncation::has_visible(&filtered);
            let _ = anti_truncation::take_finish(&mut filtered);
        }
        let _ = openai.usage();
        let _ = openai.finish();
        let _ = openai.error_chunk("broken é", 500);
        let _ = anthropic.usage();
        let _ = anthropic.finish();
        if include_usage {
            responses.fail("broken é", 503, &mut buf);
        }
        responses.finish(&mut buf);
        let _ = serde_json::to_string(&responses.object());
        let _ = serde_json::to_string(responses.kept_items());
        let rest = marker.flush();
        let _ = anti_truncation::text_event(&rest);
    }

    #[test]
    fn text_helpers_never_panic(chunks in vec(text(), 0..6)) {
        let mut marker = MarkerFilter::new();
        for c in &chunks {
            let _ = marker.push(c);
            let _ = fake_stream::pieces(c);
            let _ = sanitize_tool_name(c);
        }
        let _ = marker.flush();
        let _ = marker.collected();
    }

    #[test]
    fn model_names_never_panic(
        name in model_name(),
        effort in text(),
        pairs in vec(prop_oneof![text(), (model_name(), model_name()).prop_map(|(p, t)| format!("{p}={t}"))], 0..4),
    ) {
        if let Ok(m) = models::resolve(&name) {
            let _ = models::reasoning_effort_thinking(m.family(), &effort);
        }
        let _ = models::resolve_with(&name, &default_aliases());
        if let Ok(aliases) = models::Aliases::parse(pairs.iter().map(String::as_str)) {
            let _ = models::resolve_with(&name, &aliases);
        }
        let _ = models::reasoning_effort_thinking(Family::of(&name), &effort);
    }

    #[test]
    fn schemas_never_panic(schema in any_json()) {
        let _ = clean_parameters_schema(&schema);
        let wrapped = json!({"type": "object", "properties": {"a": schema.clone()}, "$defs": {"a": schema}});
        let _ = clean_parameters_schema(&wrapped);
    }
}

/// The case that used to panic (`trimmed[..5]` inside a multi-byte character) is a clear
/// error now, and so is every other short or odd URL.
#[test]
fn multibyte_image_urls_are_errors_not_panics() {
    for url in [
        "data:é",
        "dat€",
        "€€€",
        "ééé",
        "data",
        "d",
        "",
        "http€",
        "HTTPS://x",
        "DATA:,",
    ] {
        let body = json!({
            "model": "gemini-2.5-flash",
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}],
        });
        let _ = openai_to_gemini(&body, &ConvertOptions::default());
    }
    let body = json!({
        "model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ééé"}}]}],
    });
    let err = openai_to_gemini(&body, &ConvertOptions::default())
        .err()
        .map(|e| e.to_string());
    assert!(
        err.as_deref().is_some_and(|e| e.contains("data: URL")),
        "{err:?}"
    );
}
