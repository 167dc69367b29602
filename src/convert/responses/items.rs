//! Input items → Gemini `contents` and the system instruction.
//!
//! - `system` / `developer` messages at the start become the system instruction (later ones
//!   stay in place as user turns, as on the chat route); with compatibility mode all are user
//!   turns.
//! - An assistant message and the calls that follow it are one model turn; the outputs that
//!   answer them are one user turn, as Gemini requires. A reasoning item does not split a turn.
//! - A call replays with the signature Gemini issued for it (from any reasoning item's
//!   `encrypted_content`, see `signature`), else the bypass sentinel.
//! - A call whose arguments cannot be read is dropped together with its output: Gemini
//!   refuses an answer to a call it never saw.
use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::signature;
use super::tools::{Declared, LOCAL_SHELL, tool_key};
use crate::convert::request::{
    ConvertError, ToolNames, audio_part, file_part, function_response_payload, repair_arg_types,
    url_part,
};
use crate::wire::gemini::SKIP_THOUGHT_SIGNATURE;
use crate::wire::openai::{FileRef, json_kind};
use crate::wire::responses::{
    CustomToolCallItem, FunctionCallItem, InputPart, LocalShellCallItem, ReasoningItem,
};

/// The items of one request: the stored conversation of `previous_response_id` (if any) and
/// then the request's own `input`. Errors name `input[i]` for the request's own items.
pub(super) struct Items<'a> {
    pub history: &'a [Value],
    pub input: &'a [Value],
}

impl<'a> Items<'a> {
    fn iter(&self) -> impl Iterator<Item = (String, &'a Value)> {
        let history = self
            .history
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("previous_response_id (stored item {i})"), v));
        let input = self
            .input
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("input[{i}]"), v));
        history.chain(input)
    }
}

/// One input item, read. Message content and tool outputs (the bulk of a request: texts,
/// inline media) are borrowed, not copied.
enum Item<'a> {
    Message {
        role: &'a str,
        content: &'a Value,
    },
    FunctionCall(FunctionCallItem),
    CustomToolCall(CustomToolCallItem),
    LocalShellCall(LocalShellCallItem),
    Output {
        /// `call_id`, or `id` (how OpenAI's API names a local shell call's output).
        call_id: &'a str,
        output: &'a Value,
    },
    Reasoning(ReasoningItem),
    /// Kinds that carry nothing for the model (e.g. `web_search_call`: Gemini's grounding
    /// happens inside the turn).
    Skipped,
}

fn read<T: for<'de> Deserialize<'de>>(v: &Value, field: &str) -> Result<T, ConvertError> {
    T::deserialize(v).map_err(|e| ConvertError::invalid(field, e.to_string()))
}

fn read_item<'a>(v: &'a Value, field: &str) -> Result<Item<'a>, ConvertError> {
    let Some(obj) = v.as_object() else {
        return Err(ConvertError::invalid(
            field,
            format!("must be an object, got {}", json_kind(v)),
        ));
    };
    // `{"role": ..., "content": ...}` without a type is a message (the "easy" input form).
    let kind = match obj.get("type") {
        Some(Value::String(t)) => t.as_str(),
        None | Some(Value::Null) if obj.contains_key("role") => "message",
        _ => {
            return Err(ConvertError::invalid(
                format!("{field}.type"),
                "is required (message, function_call, function_call_output, ...)",
            ));
        }
    };
    Ok(match kind {
        "message" => match obj.get("role") {
            Some(Value::String(role)) => Item::Message {
                role,
                content: obj.get("content").unwrap_or(&Value::Null),
            },
            _ => {
                return Err(ConvertError::invalid(
                    format!("{field}.role"),
                    "is required (user, assistant, system or developer)",
                ));
            }
        },
        "function_call" => Item::FunctionCall(read(v, field)?),
        "custom_tool_call" => Item::CustomToolCall(read(v, field)?),
        "local_shell_call" => Item::LocalShellCall(read(v, field)?),
        "function_call_output" | "custom_tool_call_output" | "local_shell_call_output" => {
            let id = ["call_id", "id"]
                .iter()
                .find_map(|k| obj.get(*k).and_then(Value::as_str))
                .ok_or_else(|| ConvertError::invalid(format!("{field}.call_id"), "is required"))?;
            Item::Output {
                call_id: id,
                output: obj.get("output").unwrap_or(&Value::Null),
            }
        }
        "reasoning" => Item::Reasoning(read(v, field)?),
        "item_reference" => {
            return Err(ConvertError::invalid(
                field,
                "item references are not supported; send the item itself, or chain with previous_response_id",
            ));
        }
        other => {
            tracing::debug!(
                field,
                kind = other,
                "input item kind has nothing for the model"
            );
            Item::Skipped
        }
    })
}

/// `(contents, system parts)` for the items.
pub(super) fn convert(
    items: &Items<'_>,
    declared: &Declared,
    names: &mut ToolNames,
    system_in_place: bool,
) -> Result<(Vec<Value>, Vec<Value>), ConvertError> {
    let read: Vec<(String, Item)> = items
        .iter()
        .map(|(field, v)| Ok((field.clone(), read_item(v, &field)?)))
        .collect::<Result<_, ConvertError>>()?;

    // Signatures and the call names outputs refer to, from anywhere in the conversation.
    let mut signatures: HashMap<String, String> = HashMap::new();
    let mut call_keys: HashMap<&str, String> = HashMap::new();
    for (_, item) in &read {
        match item {
            Item::Reasoning(r) => {
                if let Some(enc) = r.encrypted_content.as_deref() {
                    signatures.extend(signature::decode(enc));
                }
            }
            Item::FunctionCall(c) => {
                call_keys.insert(&c.call_id, tool_key(c.namespace.as_deref(), &c.name));
            }
            Item::CustomToolCall(c) => {
                call_keys.insert(&c.call_id, tool_key(c.namespace.as_deref(), &c.name));
            }
            Item::LocalShellCall(c) => {
                if let Some(id) = c.call_id.as_deref().or(c.id.as_deref()) {
                    call_keys.insert(id, LOCAL_SHELL.to_string());
                }
            }
            _ => {}
        }
    }

    let mut w = Walk::default();
    let mut dropped: HashSet<String> = HashSet::new();
    for (field, item) in &read {
        match item {
            Item::Message { role, content } => match *role {
                "system" | "developer" if w.leading && !system_in_place => {
                    w.system
                        .extend(texts(content, &format!("{field}.content"))?);
                }
                "system" | "developer" | "user" => {
                    w.leading = false;
                    w.flush();
                    let parts = parts(content, &format!("{field}.content"))?;
                    if !parts.is_empty() {
                        w.contents.push(json!({"role": "user", "parts": parts}));
                    }
                }
                "assistant" => {
                    w.leading = false;
                    w.flush_outputs();
                    let parts = parts(content, &format!("{field}.content"))?;
                    w.model.extend(parts);
                }
                other => {
                    return Err(ConvertError::invalid(
                        format!("{field}.role"),
                        format!("'{other}' is not one of user, assistant, system, developer"),
                    ));
                }
            },
            Item::FunctionCall(c) => {
                let key = tool_key(c.namespace.as_deref(), &c.name);
                let Some(mut args) = call_arguments(&c.arguments, field, &key) else {
                    dropped.insert(c.call_id.clone());
                    continue;
                };
                if let Some(schema) = declared.schemas.get(&key) {
                    repair_arg_types(&mut args, schema);
                }
                w.call(&c.call_id, names.sanitize(&key), args, &signatures);
            }
            Item::CustomToolCall(c) => {
                let key = tool_key(c.namespace.as_deref(), &c.name);
                let mut args = Map::new();
                args.insert("input".into(), Value::String(c.input.clone()));
                w.call(&c.call_id, names.sanitize(&key), args, &signatures);
            }
            Item::LocalShellCall(c) => {
                let id = c.call_id.as_deref().or(c.id.as_deref()).unwrap_or_default();
                let a = &c.action;
                let mut args = Map::new();
                args.insert("command".into(), json!(a.command));
                if let Some(d) = &a.working_directory {
                    args.insert("working_directory".into(), json!(d));
                }
                if let Some(t) = a.timeout_ms {
                    args.insert("timeout_ms".into(), json!(t));
                }
                w.call(id, names.sanitize(LOCAL_SHELL), args, &signatures);
            }
            Item::Output { call_id, output } => {
                let id = *call_id;
                if dropped.contains(id) {
                    continue;
                }
                let Some(key) = call_keys.get(id) else {
                    // Gemini refuses a functionResponse that answers no functionCall.
                    tracing::warn!(
                        field,
                        call_id = id,
                        "dropping a tool output that answers no call"
                    );
                    continue;
                };
                w.leading = false;
                w.flush_model();
                let (text, media) = output_content(output, &format!("{field}.output"))?;
                let mut fr = Map::new();
                if !id.is_empty() {
                    fr.insert("id".into(), json!(id));
                }
                fr.insert("name".into(), Value::String(names.sanitize(key)));
                fr.insert("response".into(), function_response_payload(text));
                w.outputs.push(json!({"functionResponse": fr}));
                w.output_media.extend(media);
            }
            Item::Reasoning(_) | Item::Skipped => {}
        }
    }
    w.flush();
    Ok((w.contents, w.system))
}

struct Walk {
    contents: Vec<Value>,
    system: Vec<Value>,
    /// Parts of the model turn being built (assistant text and calls).
    model: Vec<Value>,
    /// `functionResponse` parts of the user turn being built, then any media they returned.
    outputs: Vec<Value>,
    output_media: Vec<Value>,
    /// Still in the leading run of system/developer messages.
    leading: bool,
}

impl Walk {
    fn call(
        &mut self,
        call_id: &str,
        name: String,
        args: Map<String, Value>,
        signatures: &HashMap<String, String>,
    ) {
        self.leading = false;
        self.flush_outputs();
        let mut fc = Map::new();
        if !call_id.is_empty() {
            fc.insert("id".into(), json!(call_id));
        }
        fc.insert("name".into(), Value::String(name));
        fc.insert("args".into(), Value::Object(args));
        let sig = signatures
            .get(call_id)
            .map_or(SKIP_THOUGHT_SIGNATURE, String::as_str);
        self.model
            .push(json!({"functionCall": fc, "thoughtSignature": sig}));
    }

    fn flush_model(&mut self) {
        if !self.model.is_empty() {
            let parts = std::mem::take(&mut self.model);
            self.contents.push(json!({"role": "model", "parts": parts}));
        }
    }

    fn flush_outputs(&mut self) {
        if !self.outputs.is_empty() {
            let mut parts = std::mem::take(&mut self.outputs);
            parts.append(&mut self.output_media);
            self.contents.push(json!({"role": "user", "parts": parts}));
        }
    }

    fn flush(&mut self) {
        self.flush_model();
        self.flush_outputs();
    }
}

impl Default for Walk {
    fn default() -> Self {
        Self {
            contents: Vec::new(),
            system: Vec::new(),
            model: Vec::new(),
            outputs: Vec::new(),
            output_media: Vec::new(),
            leading: true,
        }
    }
}

/// A call's arguments as an object: a JSON string (the API's form) or an object. `None` (and
/// a warning) when they are neither.
fn call_arguments(args: &Value, field: &str, name: &str) -> Option<Map<String, Value>> {
    match args {
        Value::Null => Some(Map::new()),
        Value::Object(o) => Some(o.clone()),
        Value::String(s) if s.trim().is_empty() => Some(Map::new()),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(o)) => Some(o),
            _ => {
                tracing::warn!(
                    field,
                    function = name,
                    "dropping a call with unparsable arguments"
                );
                None
            }
        },
        _ => {
            tracing::warn!(
                field,
                function = name,
                "dropping a call whose arguments are not an object"
            );
            None
        }
    }
}

/// The text parts of a system/developer message.
fn texts(content: &Value, field: &str) -> Result<Vec<Value>, ConvertError> {
    Ok(parts(content, field)?
        .into_iter()
        .filter(|p| {
            p.get("text")
                .and_then(Value::as_str)
                .is_some_and(|t| !t.trim().is_empty())
        })
        .collect())
}

/// A message's content (a string or a list of parts) as Gemini parts.
fn parts(content: &Value, field: &str) -> Result<Vec<Value>, ConvertError> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(vec![json!({"text": s})]),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let f = format!("{field}[{i}]");
                if let Some(p) = part(item, &f)? {
                    out.push(p);
                }
            }
            Ok(out)
        }
        other => Err(ConvertError::invalid(
            field,
            format!(
                "must be a string or a list of parts, got {}",
                json_kind(other)
            ),
        )),
    }
}

fn part(item: &Value, field: &str) -> Result<Option<Value>, ConvertError> {
    let p: InputPart = read(item, field)?;
    Ok(Some(match p {
        InputPart::InputText { text } | InputPart::OutputText { text } => {
            if text.is_empty() {
                return Ok(None);
            }
            json!({"text": text})
        }
        InputPart::Refusal { .. } => return Ok(None),
        InputPart::InputImage { image_url, file_id } => match image_url.filter(|u| !u.is_empty()) {
            Some(url) => url_part(&url, &format!("{field}.image_url"), "image")?,
            None if file_id.is_some() => {
                return Err(ConvertError::invalid(
                    format!("{field}.file_id"),
                    "file references are not supported (there is no file store); send image_url as a data: URL",
                ));
            }
            None => {
                return Err(ConvertError::invalid(
                    format!("{field}.image_url"),
                    "is required for an input_image",
                ));
            }
        },
        InputPart::InputFile {
            filename,
            file_data,
            file_url,
            file_id,
        } => {
            // The remote pre-pass writes a fetched `file_url` back as a data: URL.
            let data = file_data.or(file_url.filter(|u| u.trim_start().starts_with("data:")));
            if data.is_none()
                && let Some(url) = item.get("file_url").and_then(Value::as_str)
            {
                return url_part(url, &format!("{field}.file_url"), "file").map(Some);
            }
            let file = FileRef {
                filename,
                file_data: data,
                file_id,
            };
            file_part(&file, field)?
        }
        InputPart::InputAudio { input_audio } => {
            audio_part(&input_audio, &format!("{field}.input_audio"))?
        }
        InputPart::Unsupported => {
            tracing::warn!(field, "dropping content part of unsupported type");
            return Ok(None);
        }
    }))
}

/// A tool output: its text (for `functionResponse.response`) and any media it returned (sent
/// as parts beside the responses).
fn output_content(output: &Value, field: &str) -> Result<(String, Vec<Value>), ConvertError> {
    match output {
        Value::String(s) => Ok((s.clone(), Vec::new())),
        Value::Null => Ok((String::new(), Vec::new())),
        Value::Array(_) => {
            let mut text = String::new();
            let mut media = Vec::new();
            for p in parts(output, field)? {
                match p.get("text").and_then(Value::as_str) {
                    Some(t) => text.push_str(t),
                    None => media.push(p),
                }
            }
            Ok((text, media))
        }
        // Some clients send a structured result directly.
        other => Ok((other.to_string(), Vec::new())),
    }
}
