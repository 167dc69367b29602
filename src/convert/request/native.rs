//! Native Gemini bodies → the Code Assist `request` object, and the parts cleanup both routes
//! share.
//!
//! The body is kept open: unknown top-level and `generationConfig` keys pass through (the
//! reference's closed model silently dropped `responseModalities`, `responseJsonSchema`, ...).
use serde_json::{Map, Value, json};

use super::{ConvertError, ConvertOptions};
use crate::wire::gemini::SKIP_THOUGHT_SIGNATURE;
use crate::wire::openai::json_kind;

/// snake_case spellings some SDKs and hand-written clients use; the gateway's own logic reads
/// the camelCase form, so the body is normalised once here.
const TOP_LEVEL_RENAMES: &[(&str, &str)] = &[
    ("system_instruction", "systemInstruction"),
    ("generation_config", "generationConfig"),
    ("safety_settings", "safetySettings"),
    ("tool_config", "toolConfig"),
    ("cached_content", "cachedContent"),
];

const THINKING_RENAMES: &[(&str, &str)] = &[
    ("include_thoughts", "includeThoughts"),
    ("thinking_budget", "thinkingBudget"),
    ("thinking_level", "thinkingLevel"),
];

fn rename_keys(map: &mut Map<String, Value>, renames: &[(&str, &str)]) {
    for (snake, camel) in renames {
        if let Some(v) = map.shift_remove(*snake) {
            map.entry(*camel).or_insert(v);
        }
    }
}

pub fn gemini_native_to_request(
    body: &Value,
    _opts: &ConvertOptions,
) -> Result<Value, ConvertError> {
    let Value::Object(src) = body else {
        return Err(ConvertError::NotAnObject);
    };
    let mut req = src.clone();
    // The model travels in the URL path and in the envelope, never inside `request`.
    req.shift_remove("model");
    rename_keys(&mut req, TOP_LEVEL_RENAMES);

    match req.get_mut("systemInstruction") {
        Some(Value::String(text)) => {
            let text = std::mem::take(text);
            req.insert(
                "systemInstruction".into(),
                json!({"parts": [{"text": text}]}),
            );
        }
        Some(Value::Null) => {
            req.shift_remove("systemInstruction");
        }
        _ => {}
    }
    if let Some(Value::Object(generation)) = req.get_mut("generationConfig") {
        if let Some(v) = generation.shift_remove("thinking_config") {
            generation.entry("thinkingConfig").or_insert(v);
        }
        if let Some(Value::Object(thinking)) = generation.get_mut("thinkingConfig") {
            rename_keys(thinking, THINKING_RENAMES);
        }
    }

    let contents = match req.get_mut("contents") {
        Some(Value::Array(c)) if !c.is_empty() => c,
        Some(Value::Array(_)) | None | Some(Value::Null) => {
            return Err(ConvertError::invalid(
                "contents",
                "must contain at least one content",
            ));
        }
        Some(other) => {
            return Err(ConvertError::invalid(
                "contents",
                format!("must be an array, got {}", json_kind(other)),
            ));
        }
    };
    fix_roles_and_signatures(contents)?;
    clean_contents(contents);
    if contents.is_empty() {
        return Err(ConvertError::invalid(
            "contents",
            "no content has any non-empty part",
        ));
    }
    Ok(Value::Object(req))
}

/// Fill missing roles by alternation (Gemini allows role-less single-turn input; the reference
/// answered 422), and make model-turn function calls acceptable to Gemini 3.
fn fix_roles_and_signatures(contents: &mut [Value]) -> Result<(), ConvertError> {
    let mut previous: Option<String> = None;
    for (i, content) in contents.iter_mut().enumerate() {
        let Value::Object(c) = content else {
            return Err(ConvertError::invalid(
                format!("contents[{i}]"),
                format!("must be an object, got {}", json_kind(content)),
            ));
        };
        let role = match c.get("role").and_then(Value::as_str) {
            Some("user") => "user",
            Some("model" | "assistant") => "model",
            Some(other) if !other.is_empty() => {
                return Err(ConvertError::invalid(
                    format!("contents[{i}].role"),
                    format!("'{other}' is not a Gemini role; use 'user' or 'model'"),
                ));
            }
            _ => match previous.as_deref() {
                Some("user") => "model",
                _ => "user",
            },
        };
        c.insert("role".into(), Value::String(role.to_string()));
        previous = Some(role.to_string());
        let Some(Value::Array(parts)) = c.get_mut("parts") else {
            continue;
        };
        let mut first_call_seen = false;
        for part in parts.iter_mut().filter_map(Value::as_object_mut) {
            if part.contains_key("functionResponse") {
                // Signatures belong to calls; on responses the upstream rejects them.
                part.shift_remove("thoughtSignature");
            }
            if role == "model" && part.contains_key("functionCall") && !first_call_seen {
                first_call_seen = true;
                // Gemini 3 requires a signature on the first call of each model turn; clients
                // that lost it get the documented bypass value. Real signatures are untouched.
                let missing = part
                    .get("thoughtSignature")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty);
                if missing {
                    part.insert("thoughtSignature".into(), json!(SKIP_THOUGHT_SIGNATURE));
                }
            }
        }
    }
    Ok(())
}

/// Drop empty parts and contents, normalise text: the last cleanup before a request leaves.
/// A part survives when any value other than `thought` is non-empty; text is right-trimmed
/// unless it carries a thought signature (signed text is replayed byte for byte).
pub(crate) fn clean_contents(contents: &mut Vec<Value>) {
    contents.retain_mut(|content| {
        let Some(Value::Array(parts)) = content.get_mut("parts") else {
            return true;
        };
        parts.retain_mut(clean_part);
        !parts.is_empty()
    });
}

fn clean_part(part: &mut Value) -> bool {
    let Value::Object(map) = part else {
        return false;
    };
    let signed = map.contains_key("thoughtSignature");
    if let Some(text) = map.get_mut("text") {
        let normalised = match &*text {
            Value::String(s) if !signed => Some(s.trim_end().to_string()),
            Value::String(_) | Value::Null => None,
            Value::Array(items) => Some(
                items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            other => Some(other.to_string()),
        };
        if let Some(n) = normalised {
            *text = Value::String(n);
        }
    }
    map.iter().any(|(k, v)| {
        k != "thought"
            && match v {
                Value::Null => false,
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Object(o) => !o.is_empty(),
                _ => true,
            }
    })
}
