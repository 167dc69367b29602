//! OpenAI Responses API (`POST /v1/responses`) ⇄ Gemini.
//!
//! Call order, as on the chat route:
//! 1. `models::resolve(model)`;
//! 2. [`responses_to_gemini`] with the stored conversation of `previous_response_id`, if any;
//! 3. `request::apply_model_features` once;
//! 4. the answer through a [`ResponsesTranslator`] (streamed or not: the non-stream answer is
//!    the same state machine fed one event, so both carry the same items).
//!
//! The pieces are the chat converter's: content parts, function declarations with the schema
//! cleaner and the tool-name sanitiser (names mapped back), argument repair, sampling
//! parameters, `text.format` as `response_format`, and thinking levels. What is particular to
//! this API: input items (see `items`), the client's own tool kinds (see `tools`), thought
//! signatures carried in reasoning items (see `signature`), and the event stream (see
//! `translate`).
//!
//! Decisions:
//! - `reasoning.effort` picks the thinking level or budget as `reasoning_effort` does on chat;
//!   `reasoning.summary` (any value but `none`) asks for thoughts, which come back as the
//!   reasoning item's summary. Without it thoughts are not requested.
//! - Fields with no Gemini counterpart (`prompt_cache_key`, `service_tier`,
//!   `safety_identifier`, `truncation`, `max_tool_calls`, `parallel_tool_calls`, `metadata`,
//!   `user`, `stream_options`, ...) are accepted, echoed where the API echoes them, and
//!   ignored. What cannot be served at all is refused with a 400 naming the field:
//!   `background: true`, stored prompt templates (`prompt`), server-side conversations
//!   (`conversation`), and the hosted `file_search` and computer-use tools.
mod items;
mod signature;
mod tools;
mod translate;

pub use signature::PREFIX as SIGNATURE_PREFIX;
pub use tools::{ClientTool, ClientTools, ToolKind};
pub use translate::{ResponsesTranslator, failure_code};

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::convert::request::{
    ConvertError, ConvertOptions, SYSTEM_ONLY_FALLBACK, ToolNames, clean_contents, field,
    generation_config, required_model, thinking_config,
};
use crate::models::{self, Thinking, reasoning_effort_thinking};
use crate::wire::openai::{ChatParams, JsonSchemaFormat, ResponseFormat, json_kind};
use crate::wire::openai_response::unix_now;
use crate::wire::responses::{ReasoningEcho, ResponseShell, response_id};

/// A Responses request converted for the upstream, with what the answer needs.
#[derive(Debug)]
pub struct ResponsesRequest {
    /// The Gemini `request` object (without model features).
    pub request: Value,
    /// Sanitised tool name → the client's tool key.
    pub tool_name_map: HashMap<String, String>,
    pub tools: ClientTools,
    pub stream: bool,
    /// Keep the response for `previous_response_id` and `GET /v1/responses/{id}`.
    pub store: bool,
    /// `reasoning.summary` asked for thoughts.
    pub summary: bool,
    /// `include` has `reasoning.encrypted_content`.
    pub include_encrypted: bool,
    /// The response's echo of the request, with its new id.
    pub shell: ResponseShell,
    /// This request's own input items (a string input as one user message).
    pub input: Vec<Value>,
}

/// `reasoning` as sent.
#[derive(Debug, Default, Deserialize)]
struct Reasoning {
    effort: Option<String>,
    summary: Option<String>,
    /// The older spelling of `summary`.
    generate_summary: Option<String>,
}

/// `text` as sent: only `format` matters here (`verbosity` is echoed).
#[derive(Debug, Default, Deserialize)]
struct TextOptions {
    format: Option<TextFormat>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum TextFormat {
    Text,
    JsonObject,
    JsonSchema {
        name: Option<String>,
        schema: Option<Value>,
        strict: Option<bool>,
    },
}

/// The request's `input` as items, moved out of the body (it is most of a request): a string
/// is one user message.
fn take_input(obj: &mut Map<String, Value>) -> Result<Vec<Value>, ConvertError> {
    match obj.shift_remove("input") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![
            json!({"type": "message", "role": "user", "content": s}),
        ]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(ConvertError::invalid(
            "input",
            format!(
                "must be a string or a list of items, got {}",
                json_kind(&other)
            ),
        )),
    }
}

/// Refuses what cannot be served at all, naming the field.
fn refuse_unservable(obj: &Map<String, Value>) -> Result<(), ConvertError> {
    if field::<bool>(obj, "background")? == Some(true) {
        return Err(ConvertError::invalid(
            "background",
            "background responses are not supported; send the request without background and wait for the answer (or stream it)",
        ));
    }
    if obj.get("prompt").is_some_and(|p| !p.is_null()) {
        return Err(ConvertError::invalid(
            "prompt",
            "stored prompt templates are not supported; send the instructions and input themselves",
        ));
    }
    if obj.get("conversation").is_some_and(|c| !c.is_null()) {
        return Err(ConvertError::invalid(
            "conversation",
            "server-side conversations are not supported; chain responses with previous_response_id or send the whole conversation as input",
        ));
    }
    Ok(())
}

/// Convert a Responses body into a Gemini request. `history` is the stored conversation of
/// `previous_response_id` (its input items and outputs), already looked up by the caller.
pub fn responses_to_gemini(
    body: Value,
    history: &[Value],
    opts: &ConvertOptions,
) -> Result<ResponsesRequest, ConvertError> {
    let Value::Object(mut obj) = body else {
        return Err(ConvertError::NotAnObject);
    };
    let input = take_input(&mut obj)?;
    let obj = &obj;
    let model = required_model(obj)?;
    let resolved = models::resolve_with(&model, &opts.aliases)?;
    refuse_unservable(obj)?;
    if input.is_empty() && history.is_empty() {
        return Err(ConvertError::Missing("input"));
    }

    let mut names = ToolNames::default();
    let mut declared = match obj.get("tools") {
        None | Some(Value::Null) => tools::Declared::default(),
        Some(t) => tools::convert_tools(t, &mut names)?,
    };
    declared.fit_family(resolved.family());
    let tool_config = match obj.get("tool_choice") {
        Some(choice) => tools::tool_config(choice, &declared, &mut names)?,
        None => None,
    };
    let items = items::Items {
        history,
        input: &input,
    };
    let (mut contents, item_system) =
        items::convert(&items, &declared, &mut names, opts.compatibility_mode)?;
    let mut system = instructions(obj)?;
    system.extend(item_system);
    if opts.compatibility_mode && !system.is_empty() {
        contents.insert(
            0,
            json!({"role": "user", "parts": std::mem::take(&mut system)}),
        );
    }
    clean_contents(&mut contents);
    if contents.is_empty() {
        if system.is_empty() {
            return Err(ConvertError::invalid(
                "input",
                "no item has any content to send",
            ));
        }
        contents.push(json!({"role": "user", "parts": [{"text": SYSTEM_ONLY_FALLBACK}]}));
    }

    let reasoning = field::<Reasoning>(obj, "reasoning")?.unwrap_or_default();
    let summary_setting = reasoning
        .summary
        .clone()
        .or(reasoning.generate_summary.clone());
    let summary = summary_setting.as_deref().is_some_and(|s| s != "none");
    let generation = generation(obj, &reasoning, summary, resolved.family())?;

    let mut request = Map::new();
    request.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        request.insert("systemInstruction".into(), json!({"parts": system}));
    }
    if !declared.entries.is_empty() {
        request.insert("tools".into(), Value::Array(declared.entries.clone()));
    }
    if let Some(config) = tool_config {
        request.insert("toolConfig".into(), config);
    }
    if !generation.is_empty() {
        request.insert("generationConfig".into(), Value::Object(generation));
    }

    let include = field::<Vec<String>>(obj, "include")?.unwrap_or_default();
    let store = field::<bool>(obj, "store")?.unwrap_or(true);
    let shell = shell(
        obj,
        resolved.requested.clone(),
        reasoning,
        summary_setting,
        store,
    )?;
    Ok(ResponsesRequest {
        request: Value::Object(request),
        tool_name_map: names.into_map(),
        tools: declared.tools,
        stream: field::<bool>(obj, "stream")?.unwrap_or(false),
        store,
        summary,
        include_encrypted: include.iter().any(|i| i == "reasoning.encrypted_content"),
        shell,
        input,
    })
}

/// `instructions` as system parts.
fn instructions(obj: &Map<String, Value>) -> Result<Vec<Value>, ConvertError> {
    match obj.get("instructions") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![json!({"text": s})]),
        Some(other) => Err(ConvertError::invalid(
            "instructions",
            format!("must be a string, got {}", json_kind(other)),
        )),
    }
}

/// Sampling, `max_output_tokens`, `text.format` and reasoning → `generationConfig`, through
/// the chat route's builder. Fields the builder would name by their chat names are checked
/// here first, so errors name this API's fields.
fn generation(
    obj: &Map<String, Value>,
    reasoning: &Reasoning,
    summary: bool,
    family: models::Family,
) -> Result<Map<String, Value>, ConvertError> {
    let max = field::<i64>(obj, "max_output_tokens")?;
    if let Some(v) = max.filter(|v| *v < 1) {
        return Err(ConvertError::invalid(
            "max_output_tokens",
            format!("must be >= 1, got {v}"),
        ));
    }
    let text = field::<TextOptions>(obj, "text")?.unwrap_or_default();
    let response_format = match text.format {
        None | Some(TextFormat::Text) => None,
        Some(TextFormat::JsonObject) => Some(ResponseFormat::JsonObject),
        Some(TextFormat::JsonSchema {
            name,
            schema,
            strict,
        }) => {
            if !schema.as_ref().is_some_and(Value::is_object) {
                return Err(ConvertError::invalid(
                    "text.format.schema",
                    "must be a JSON Schema object",
                ));
            }
            Some(ResponseFormat::JsonSchema {
                json_schema: JsonSchemaFormat {
                    name,
                    schema,
                    strict,
                },
            })
        }
    };
    let params = ChatParams {
        temperature: field(obj, "temperature")?,
        top_p: field(obj, "top_p")?,
        max_completion_tokens: max,
        response_format,
        ..ChatParams::default()
    };
    let mut g = generation_config(&params, family)?;
    let thinking = match reasoning.effort.as_deref() {
        Some(effort) => reasoning_effort_thinking(family, effort)
            .map_err(|e| ConvertError::invalid("reasoning.effort", e.to_string()))?,
        None => Thinking::IncludeOnly(summary),
    };
    // Written as the client's own config, so a thinking suffix in the model name still wins;
    // an explicit `includeThoughts: false` keeps thoughts nobody asked for off the wire.
    if let Some(config) = thinking_config(&thinking, summary) {
        g.insert("thinkingConfig".into(), config);
    }
    Ok(g)
}

/// The echo of the request every snapshot of the response carries.
fn shell(
    obj: &Map<String, Value>,
    model: String,
    reasoning: Reasoning,
    summary: Option<String>,
    store: bool,
) -> Result<ResponseShell, ConvertError> {
    let echo = |key: &str, default: Value| match obj.get(key) {
        None | Some(Value::Null) => default,
        Some(v) => v.clone(),
    };
    Ok(ResponseShell {
        id: response_id(),
        created_at: unix_now(),
        instructions: echo("instructions", Value::Null),
        max_output_tokens: field(obj, "max_output_tokens")?,
        max_tool_calls: field(obj, "max_tool_calls")?,
        model,
        parallel_tool_calls: field(obj, "parallel_tool_calls")?.unwrap_or(true),
        previous_response_id: field(obj, "previous_response_id")?,
        reasoning: ReasoningEcho {
            effort: reasoning.effort,
            summary,
        },
        store,
        temperature: field(obj, "temperature")?.unwrap_or(1.0),
        text: echo("text", json!({"format": {"type": "text"}})),
        tool_choice: echo("tool_choice", json!("auto")),
        tools: echo("tools", json!([])),
        top_p: field(obj, "top_p")?.unwrap_or(1.0),
        truncation: field(obj, "truncation")?.unwrap_or_else(|| "disabled".to_string()),
        user: field(obj, "user")?,
        metadata: echo("metadata", json!({})),
        prompt_cache_key: field(obj, "prompt_cache_key")?,
        safety_identifier: field(obj, "safety_identifier")?,
    })
}

#[cfg(test)]
mod tests;
