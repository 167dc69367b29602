//! Classification of one Gemini response part, shared by the non-stream converter, the
//! streaming translator and fake streaming so all three render parts identically.
use serde_json::{Map, Value, json};

use super::ResponseOptions;
use crate::wire::openai_response::tool_call_id;

/// The bypass signature the gateway puts on replayed function calls; a `...` text part
/// carrying it is the reference's own placeholder echoed back, not model output.
pub(crate) const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

pub(crate) enum PartKind<'a> {
    Thought(&'a str),
    Text(&'a str),
    /// A Markdown block: generated image, executable code or its result.
    Block(String),
    /// An OpenAI tool call without `index` (the caller numbers them).
    ToolCall(Value),
    Skip,
}

pub(crate) fn classify_part<'a>(part: &'a Value, opts: &ResponseOptions) -> PartKind<'a> {
    if let Some(call) = part.get("functionCall") {
        return PartKind::ToolCall(tool_call(call, opts));
    }
    if let Some(text) = part.get("text").and_then(Value::as_str) {
        if part.get("thought").and_then(Value::as_bool) == Some(true) {
            return if text.is_empty() {
                PartKind::Skip
            } else {
                PartKind::Thought(text)
            };
        }
        // Only the reference's own placeholder is hidden: dropping every "..." (as the
        // reference does) makes a genuine "..." answer vanish.
        let placeholder = matches!(text.trim(), "..." | "…")
            && part.get("thoughtSignature").and_then(Value::as_str) == Some(SKIP_SIGNATURE);
        return if text.is_empty() || placeholder {
            PartKind::Skip
        } else {
            PartKind::Text(text)
        };
    }
    if let Some(data) = part.get("inlineData") {
        let mime = data
            .get("mimeType")
            .and_then(Value::as_str)
            .unwrap_or("image/png");
        let b64 = data.get("data").and_then(Value::as_str).unwrap_or_default();
        if b64.is_empty() {
            return PartKind::Skip;
        }
        // A Markdown data-URL renders in most chat UIs and needs no non-standard field
        // (CPA's `message.images[]` is ignored by the openai SDKs).
        return PartKind::Block(format!(
            "![gemini-generated-content](data:{mime};base64,{b64})"
        ));
    }
    if let Some(code) = part.get("executableCode") {
        let lang = code
            .get("language")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let src = code.get("code").and_then(Value::as_str).unwrap_or_default();
        return PartKind::Block(fence(&lang, src));
    }
    if let Some(res) = part.get("codeExecutionResult") {
        let output = res
            .get("output")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if output.trim().is_empty() {
            return PartKind::Skip;
        }
        let label = match res.get("outcome").and_then(Value::as_str) {
            Some("OUTCOME_OK") | None => "output",
            Some(_) => "error",
        };
        return PartKind::Block(fence(label, output));
    }
    PartKind::Skip
}

fn fence(label: &str, body: &str) -> String {
    format!("```{label}\n{}\n```", body.trim_end_matches(['\n', '\r']))
}

fn tool_call(call: &Value, opts: &ResponseOptions) -> Value {
    let name = call
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("nameless_function");
    let name = opts.tool_name_map.get(name).map_or(name, String::as_str);
    let id = call
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map_or_else(tool_call_id, str::to_string);
    let args = call
        .get("args")
        .cloned()
        .map(fix_stringly_literals)
        .unwrap_or_else(|| Value::Object(Map::new()));
    json!({
        "id": id,
        "type": "function",
        "function": {"name": name, "arguments": args.to_string()},
    })
}

/// Gemini sometimes emits booleans and null as the strings "true"/"false"/"null"; clients
/// validating against their schema reject those. Numeric strings are left alone (they are
/// often legitimately strings, e.g. ids), as the reference settled on.
fn fix_stringly_literals(v: Value) -> Value {
    match v {
        Value::String(s) => match s.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            _ => Value::String(s),
        },
        Value::Array(a) => Value::Array(a.into_iter().map(fix_stringly_literals).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (k, fix_stringly_literals(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Builds the `content` string in part order: text parts are concatenated as-is (they are
/// pieces of one answer), blocks are set off by blank lines. Works incrementally, so the
/// stream emits exactly what the non-stream response would contain.
#[derive(Debug, Default, Clone)]
pub(crate) struct ContentAssembler {
    any: bool,
    after_block: bool,
}

impl ContentAssembler {
    pub(crate) fn text(&mut self, t: &str) -> String {
        if t.is_empty() {
            return String::new();
        }
        let out = if self.after_block {
            format!("\n\n{t}")
        } else {
            t.to_string()
        };
        self.after_block = false;
        self.any = true;
        out
    }

    pub(crate) fn block(&mut self, b: &str) -> String {
        let out = if self.any {
            format!("\n\n{b}")
        } else {
            b.to_string()
        };
        self.any = true;
        self.after_block = true;
        out
    }
}
