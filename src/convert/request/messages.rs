//! The message walk: roles, system instruction, tool calls and tool results.
use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::parts::{content_parts, content_texts};
use super::tools::{Declared, ToolNames, repair_arg_types};
use super::{ConvertError, ConvertOptions};
use crate::wire::gemini::SKIP_THOUGHT_SIGNATURE;
use crate::wire::openai::{ChatMessage, MessageContent, ToolCall};

/// Older versions of this gateway family encoded a thought signature into the tool-call id.
/// Clients rewrite ids, so the encoded part is never trusted; it is only stripped.
const LEGACY_SIGNATURE_SEPARATOR: &str = "__thought__";

fn decode_call_id(id: &str) -> &str {
    id.split_once(LEGACY_SIGNATURE_SEPARATOR)
        .map_or(id, |(head, _)| head)
}

/// Returns `(contents, systemInstruction)`.
pub(super) fn convert(
    raw: &[Value],
    declared: &Declared,
    names: &mut ToolNames,
    opts: &ConvertOptions,
) -> Result<(Vec<Value>, Option<Value>), ConvertError> {
    let messages = raw
        .iter()
        .enumerate()
        .map(|(i, m)| {
            ChatMessage::deserialize(m)
                .map_err(|e| ConvertError::invalid(format!("messages[{i}]"), e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;

    // Tool results name their call by id; the function name comes from the assistant turn.
    let mut call_names: HashMap<&str, &str> = HashMap::new();
    for m in &messages {
        for call in m.tool_calls.iter().flatten() {
            if let Some(id) = call.id.as_deref() {
                call_names.insert(id, &call.function.name);
                call_names.insert(decode_call_id(id), &call.function.name);
            }
        }
    }

    let mut contents = Vec::new();
    let mut system_parts: Vec<Value> = Vec::new();
    let mut tool_results: Vec<Value> = Vec::new();
    let mut leading = true;
    for (i, m) in messages.iter().enumerate() {
        let field = format!("messages[{i}]");
        let role = m.role.as_str();
        let is_system = matches!(role, "system" | "developer");
        if !is_system {
            leading = false;
        }
        if matches!(role, "tool" | "function") {
            tool_results.push(tool_result(m, &field, &call_names, names));
            continue;
        }
        flush_tool_results(&mut tool_results, &mut contents);
        match role {
            // Only the leading run becomes the system instruction; later ones stay in place as
            // user turns so their position in the conversation is kept.
            "system" | "developer" if leading && !opts.compatibility_mode => {
                system_parts.extend(
                    content_texts(m.content.as_ref())
                        .into_iter()
                        .filter(|t| !t.trim().is_empty())
                        .map(|t| json!({"text": t})),
                );
            }
            "system" | "developer" | "user" => {
                let parts = content_parts(m.content.as_ref(), &format!("{field}.content"))?;
                push_content(&mut contents, "user", parts);
            }
            "assistant" | "model" => {
                let mut parts = content_parts(m.content.as_ref(), &format!("{field}.content"))?;
                for (j, call) in m.tool_calls.iter().flatten().enumerate() {
                    let call_field = format!("{field}.tool_calls[{j}]");
                    if let Some(part) = function_call_part(call, &call_field, declared, names) {
                        parts.push(part);
                    }
                }
                push_content(&mut contents, "model", parts);
            }
            other => {
                return Err(ConvertError::invalid(
                    format!("{field}.role"),
                    format!(
                        "'{other}' is not supported; use system, developer, user, assistant or tool"
                    ),
                ));
            }
        }
    }
    flush_tool_results(&mut tool_results, &mut contents);

    let system = (!system_parts.is_empty()).then(|| json!({"parts": system_parts}));
    Ok((contents, system))
}

fn push_content(contents: &mut Vec<Value>, role: &str, parts: Vec<Value>) {
    if !parts.is_empty() {
        contents.push(json!({"role": role, "parts": parts}));
    }
}

/// Gemini wants all responses to one model turn in a single user content.
fn flush_tool_results(results: &mut Vec<Value>, contents: &mut Vec<Value>) {
    if !results.is_empty() {
        contents.push(json!({"role": "user", "parts": std::mem::take(results)}));
    }
}

fn function_call_part(
    call: &ToolCall,
    field: &str,
    declared: &Declared,
    names: &mut ToolNames,
) -> Option<Value> {
    let original = call.function.name.as_str();
    let mut args = match call.function.arguments.as_ref() {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(Value::String(s)) if s.trim().is_empty() => Map::new(),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(o)) => o,
            Ok(_) | Err(_) => {
                // The reference drops such a call too; the model cannot be shown a call whose
                // arguments are not an object.
                tracing::warn!(
                    field,
                    function = original,
                    "dropping tool call with unparsable arguments"
                );
                return None;
            }
        },
        Some(_) => {
            tracing::warn!(
                field,
                function = original,
                "dropping tool call whose arguments are not an object"
            );
            return None;
        }
    };
    if let Some(schema) = declared.schemas.get(original) {
        repair_arg_types(&mut args, schema);
    }
    let mut fc = Map::new();
    if let Some(id) = call
        .id
        .as_deref()
        .map(decode_call_id)
        .filter(|id| !id.is_empty())
    {
        fc.insert("id".into(), Value::String(id.to_string()));
    }
    fc.insert("name".into(), Value::String(names.sanitize(original)));
    fc.insert("args".into(), Value::Object(args));
    let signature = call.thought_signature().unwrap_or(SKIP_THOUGHT_SIGNATURE);
    Some(json!({"functionCall": fc, "thoughtSignature": signature}))
}

fn tool_result(
    m: &ChatMessage,
    field: &str,
    call_names: &HashMap<&str, &str>,
    names: &mut ToolNames,
) -> Value {
    let id = m.tool_call_id.as_deref();
    let original = id
        .and_then(|id| call_names.get(id).copied())
        .or(m.name.as_deref().filter(|n| !n.is_empty()))
        .unwrap_or_else(|| {
            tracing::warn!(
                field,
                "tool result names no known call; using unknown_function"
            );
            "unknown_function"
        });
    let mut fr = Map::new();
    if let Some(id) = id.map(decode_call_id).filter(|id| !id.is_empty()) {
        fr.insert("id".into(), Value::String(id.to_string()));
    }
    fr.insert("name".into(), Value::String(names.sanitize(original)));
    fr.insert("response".into(), tool_response(m.content.as_ref()));
    json!({"functionResponse": fr})
}

fn tool_response(content: Option<&MessageContent>) -> Value {
    let text = match content {
        Some(MessageContent::Text(t)) => t.clone(),
        // The reference wrapped the raw part objects; the text is what the tool returned.
        parts => content_texts(parts).concat(),
    };
    function_response_payload(text)
}

/// A tool's text output as a `functionResponse.response`: a JSON object is used as-is;
/// anything else is wrapped as `{"result": ...}`.
pub(crate) fn function_response_payload(text: String) -> Value {
    match serde_json::from_str::<Value>(&text) {
        Ok(obj @ Value::Object(_)) => obj,
        Ok(other) => json!({"result": other}),
        Err(_) => json!({"result": text}),
    }
}
