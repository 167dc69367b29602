//! The Anthropic message walk: content blocks → Gemini parts, and the tool reorganisation for
//! parallel tool uses (each `functionCall` in its own model turn, directly followed by its
//! `functionResponse`; test `case_54_…`).
//!
//! Claude Code 2.1 also puts `{"role": "system"}` entries inside `messages`; their text joins
//! the system instruction in order (or, in compatibility mode, stays in place as user text).
//! Every block type Claude Code sends is understood; any other is refused by name rather than
//! pasted into the prompt as JSON, which the model would read as if the user had typed it.
use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::SIGNATURE_PREFIX;
use crate::convert::request::ConvertError;
use crate::convert::request::ToolNames;
use crate::wire::gemini::SKIP_THOUGHT_SIGNATURE;
use crate::wire::openai::json_kind;

type Block = Map<String, Value>;

struct Message<'a> {
    role: &'a str,
    blocks: Vec<Block>,
}

/// A message's content as blocks: a string is one text block.
fn blocks(content: Option<&Value>, field: &str) -> Result<Vec<Block>, ConvertError> {
    match content {
        Some(Value::String(s)) => Ok(vec![json_block(json!({"type": "text", "text": s}))]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, b)| match b {
                Value::Object(o) => Ok(o.clone()),
                other => Err(ConvertError::invalid(
                    format!("{field}[{i}]"),
                    format!("must be a content block object, got {}", json_kind(other)),
                )),
            })
            .collect(),
        None | Some(Value::Null) => Err(ConvertError::invalid(field, "is required")),
        Some(other) => Err(ConvertError::invalid(
            field,
            format!(
                "must be a string or an array of blocks, got {}",
                json_kind(other)
            ),
        )),
    }
}

fn json_block(v: Value) -> Block {
    match v {
        Value::Object(o) => o,
        _ => Block::new(),
    }
}

fn kind(b: &Block) -> &str {
    b.get("type").and_then(Value::as_str).unwrap_or("")
}

fn str_of<'a>(b: &'a Block, key: &str) -> Option<&'a str> {
    b.get(key).and_then(Value::as_str)
}

/// `messages` as Gemini contents, plus the text of the `system` entries found among them.
pub(super) struct Converted {
    pub contents: Vec<Value>,
    pub system: Vec<Value>,
}

/// `system` (top level or a system entry's content) as a string or text blocks; blank texts
/// are skipped and `cache_control` is ignored (Gemini's caching is not per block).
pub(super) fn system_parts(
    system: Option<&Value>,
    field: &str,
) -> Result<Vec<Value>, ConvertError> {
    let texts: Vec<&str> = match system {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(blocks)) => {
            let mut out = Vec::new();
            for (i, b) in blocks.iter().enumerate() {
                match (
                    b.get("type").and_then(Value::as_str),
                    b.get("text").and_then(Value::as_str),
                ) {
                    (Some("text"), Some(t)) => out.push(t),
                    _ => {
                        return Err(ConvertError::invalid(
                            format!("{field}[{i}]"),
                            "must be a text block ({\"type\": \"text\", \"text\": ...})",
                        ));
                    }
                }
            }
            out
        }
        Some(other) => {
            return Err(ConvertError::invalid(
                field,
                format!(
                    "must be a string or an array of text blocks, got {}",
                    json_kind(other)
                ),
            ));
        }
    };
    Ok(texts
        .into_iter()
        .filter(|t| !t.trim().is_empty())
        .map(|t| json!({"text": t}))
        .collect())
}

/// Converts `messages` into Gemini contents. `system_in_place` keeps system entries where they
/// are, as user text (compatibility mode), instead of collecting them.
pub(super) fn convert(
    raw: &[Value],
    names: &mut ToolNames,
    system_in_place: bool,
) -> Result<Converted, ConvertError> {
    let mut messages = Vec::with_capacity(raw.len());
    let mut system = Vec::new();
    for (i, m) in raw.iter().enumerate() {
        let field = format!("messages[{i}]");
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        match role {
            "user" | "assistant" => {}
            "system" => {
                let parts = system_parts(m.get("content"), &format!("{field}.content"))?;
                if system_in_place {
                    let blocks = parts
                        .into_iter()
                        .map(|p| json_block(json!({"type": "text", "text": p["text"]})))
                        .collect();
                    messages.push(Message {
                        role: "user",
                        blocks,
                    });
                } else {
                    system.extend(parts);
                }
                continue;
            }
            _ => {
                return Err(ConvertError::invalid(
                    format!("{field}.role"),
                    format!("'{role}' is not supported; use user, assistant or system"),
                ));
            }
        }
        let blocks = blocks(m.get("content"), &format!("{field}.content"))?;
        messages.push(Message { role, blocks });
    }

    // Results are placed right after their call, wherever the client put them.
    let mut call_names: HashMap<String, String> = HashMap::new();
    let mut results: HashMap<String, (usize, usize)> = HashMap::new();
    for (i, m) in messages.iter().enumerate() {
        for (j, b) in m.blocks.iter().enumerate() {
            match (m.role, kind(b)) {
                ("assistant", "tool_use") => {
                    if let (Some(id), Some(name)) = (str_of(b, "id"), str_of(b, "name")) {
                        call_names.insert(id.to_string(), name.to_string());
                    }
                }
                ("user", "tool_result") => {
                    if let Some(id) = str_of(b, "tool_use_id") {
                        results.entry(id.to_string()).or_insert((i, j));
                    }
                }
                _ => {}
            }
        }
    }

    let mut contents = Vec::new();
    let mut placed: HashSet<String> = HashSet::new();
    for (i, m) in messages.iter().enumerate() {
        let role = if m.role == "assistant" {
            "model"
        } else {
            "user"
        };
        let mut run: Vec<Value> = Vec::new();
        // A signature this gateway issued, waiting for the tool_use it belongs to.
        let mut signature: Option<String> = None;
        for (j, b) in m.blocks.iter().enumerate() {
            let field = format!("messages[{i}].content[{j}]");
            match kind(b) {
                "thinking" | "redacted_thinking" => {
                    if let Some(sig) = str_of(b, "signature")
                        .and_then(|s| s.strip_prefix(SIGNATURE_PREFIX))
                        .filter(|s| !s.is_empty())
                    {
                        signature = Some(sig.to_string());
                    }
                }
                "tool_use" if m.role == "assistant" => {
                    flush(&mut contents, role, &mut run);
                    let call = function_call(b, &field, names, signature.take())?;
                    contents.push(json!({"role": "model", "parts": [call]}));
                    let id = str_of(b, "id").unwrap_or_default();
                    if let Some(&(ri, rj)) = results.get(id)
                        && placed.insert(id.to_string())
                    {
                        let rfield = format!("messages[{ri}].content[{rj}]");
                        let parts = function_response(
                            &messages[ri].blocks[rj],
                            &rfield,
                            &call_names,
                            names,
                        )?;
                        contents.push(json!({"role": "user", "parts": parts}));
                    }
                }
                "tool_result" => {
                    let id = str_of(b, "tool_use_id").unwrap_or_default();
                    if !call_names.contains_key(id) {
                        // Gemini rejects a functionResponse that answers no functionCall.
                        tracing::warn!(field, "dropping tool_result that answers no tool_use");
                    }
                }
                "tool_use" => {
                    tracing::warn!(field, "dropping tool_use block in a user message");
                }
                _ => {
                    if let Some(part) = content_part(b, &field)? {
                        run.push(part);
                    }
                }
            }
        }
        flush(&mut contents, role, &mut run);
    }
    Ok(Converted { contents, system })
}

fn flush(contents: &mut Vec<Value>, role: &str, run: &mut Vec<Value>) {
    if !run.is_empty() {
        contents.push(json!({"role": role, "parts": std::mem::take(run)}));
    }
}

/// A text, image or document block as a Gemini part. Any other type is refused by name: the
/// reference pasted it into the prompt as JSON text.
fn content_part(b: &Block, field: &str) -> Result<Option<Value>, ConvertError> {
    Ok(match kind(b) {
        "text" => str_of(b, "text")
            .filter(|t| !t.trim().is_empty())
            .map(|t| json!({"text": t})),
        "image" => Some(media_part(b, field, "image")?),
        "document" => Some(media_part(b, field, "document")?),
        other => return Err(unknown_block(other, field)),
    })
}

fn unknown_block(kind: &str, field: &str) -> ConvertError {
    let what = if kind.is_empty() {
        "a content block needs a 'type'".to_string()
    } else {
        format!("content block type '{kind}' is not supported")
    };
    ConvertError::invalid(
        format!("{field}.type"),
        format!(
            "{what}; use text, image, document, tool_use, tool_result, thinking or redacted_thinking"
        ),
    )
}

/// `source: {type: base64, media_type, data}` → `inlineData`; a plain-text document source
/// becomes text. `url` sources were fetched and turned into base64 sources by the handler's
/// pre-pass (`crate::remote`); one that is still here means fetching is turned off, so it is
/// refused.
fn media_part(b: &Block, field: &str, what: &str) -> Result<Value, ConvertError> {
    let src_field = format!("{field}.source");
    let src = b
        .get("source")
        .and_then(Value::as_object)
        .ok_or_else(|| ConvertError::invalid(&src_field, "is required"))?;
    match src.get("type").and_then(Value::as_str) {
        Some("base64") => {
            let mime = src
                .get("media_type")
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty())
                .ok_or_else(|| ConvertError::invalid(&src_field, "needs a media_type"))?;
            let data = src
                .get("data")
                .and_then(Value::as_str)
                .filter(|d| !d.trim().is_empty())
                .ok_or_else(|| ConvertError::invalid(&src_field, "needs base64 data"))?;
            Ok(json!({"inlineData": {"mimeType": mime, "data": data.trim()}}))
        }
        Some("text") if what == "document" => {
            let text = src.get("data").and_then(Value::as_str).unwrap_or_default();
            Ok(json!({"text": text}))
        }
        Some("url") => Err(ConvertError::invalid(
            src_field,
            format!(
                "remote {what} URLs are not fetched; send the {what} inline as a base64 source ({{\"type\": \"base64\", \"media_type\": ..., \"data\": ...}})"
            ),
        )),
        other => Err(ConvertError::invalid(
            src_field,
            format!(
                "source type {} is not supported; use a base64 source",
                other.map_or_else(|| "(missing)".to_string(), |t| format!("'{t}'"))
            ),
        )),
    }
}

fn function_call(
    b: &Block,
    field: &str,
    names: &mut ToolNames,
    signature: Option<String>,
) -> Result<Value, ConvertError> {
    let name = str_of(b, "name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ConvertError::invalid(format!("{field}.name"), "is required"))?;
    let args = match b.get("input") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(o @ Value::Object(_)) => o.clone(),
        Some(other) => {
            return Err(ConvertError::invalid(
                format!("{field}.input"),
                format!("must be an object, got {}", json_kind(other)),
            ));
        }
    };
    let mut fc = Map::new();
    if let Some(id) = str_of(b, "id").filter(|id| !id.is_empty()) {
        fc.insert("id".into(), json!(id));
    }
    fc.insert("name".into(), json!(names.sanitize(name)));
    fc.insert("args".into(), args);
    let signature = signature.unwrap_or_else(|| SKIP_THOUGHT_SIGNATURE.to_string());
    Ok(json!({"functionCall": fc, "thoughtSignature": signature}))
}

/// A `tool_result` as `functionResponse {response: {output}}` (or `{error}` when the client
/// flagged it), followed by any images the tool returned.
fn function_response(
    b: &Block,
    field: &str,
    call_names: &HashMap<String, String>,
    names: &mut ToolNames,
) -> Result<Vec<Value>, ConvertError> {
    let id = str_of(b, "tool_use_id").unwrap_or_default();
    let name = call_names
        .get(id)
        .map_or("unknown_function", String::as_str);
    let mut texts: Vec<String> = Vec::new();
    let mut media = Vec::new();
    match b.get("content") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => texts.push(s.clone()),
        Some(Value::Array(items)) => {
            for (k, item) in items.iter().enumerate() {
                let item_field = format!("{field}.content[{k}]");
                let Some(o) = item.as_object() else {
                    return Err(ConvertError::invalid(item_field, "must be a block object"));
                };
                match kind(o) {
                    "text" => texts.push(str_of(o, "text").unwrap_or_default().to_string()),
                    "image" | "document" => media.push(media_part(o, &item_field, kind(o))?),
                    other => {
                        return Err(ConvertError::invalid(
                            format!("{item_field}.type"),
                            format!(
                                "tool_result content block type '{other}' is not supported; use text, image or document"
                            ),
                        ));
                    }
                }
            }
        }
        Some(other) => {
            return Err(ConvertError::invalid(
                format!("{field}.content"),
                format!(
                    "must be a string or an array of blocks, got {}",
                    json_kind(other)
                ),
            ));
        }
    }
    let key = if b.get("is_error").and_then(Value::as_bool) == Some(true) {
        "error"
    } else {
        "output"
    };
    let mut fr = Map::new();
    if !id.is_empty() {
        fr.insert("id".into(), json!(id));
    }
    fr.insert("name".into(), json!(names.sanitize(name)));
    fr.insert("response".into(), json!({key: texts.join("\n")}));
    let mut parts = vec![json!({"functionResponse": fr})];
    parts.extend(media);
    Ok(parts)
}
