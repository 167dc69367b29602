//! Classification of one Gemini response part, shared by the non-stream converter, the
//! streaming translator and fake streaming so all three render parts identically.
use serde_json::{Map, Value, json};

use super::ResponseOptions;
use crate::wire::gemini::{FunctionCall, Part, PartData};
use crate::wire::openai_response::tool_call_id;

pub(crate) enum PartKind<'a> {
    Thought(&'a str),
    Text(&'a str),
    /// A Markdown block: generated image, executable code or its result.
    Block(String),
    ToolCall(ToolCall<'a>),
    Skip,
}

/// A function call with the client's own tool name and repaired arguments; each surface
/// renders it in its own shape.
pub(crate) struct ToolCall<'a> {
    /// Upstream's id, when it sent one; each surface mints its own otherwise.
    pub id: Option<&'a str>,
    pub name: String,
    /// Always an object.
    pub args: Value,
}

impl ToolCall<'_> {
    /// An OpenAI tool call without `index` (the caller numbers them).
    pub(crate) fn openai(&self) -> Value {
        json!({
            "id": self.id.map_or_else(tool_call_id, str::to_string),
            "type": "function",
            "function": {"name": self.name, "arguments": self.args.to_string()},
        })
    }
}

pub(crate) fn classify_part<'a>(part: &'a Part, opts: &ResponseOptions) -> PartKind<'a> {
    match &part.data {
        PartData::FunctionCall(call) => PartKind::ToolCall(tool_call(call, opts)),
        PartData::Thought(t) if t.is_empty() => PartKind::Skip,
        PartData::Thought(t) => PartKind::Thought(t),
        // Only the reference's own placeholder is hidden: dropping every "..." (as the
        // reference does) makes a genuine "..." answer vanish.
        PartData::Text(t) if t.is_empty() || part.is_placeholder() => PartKind::Skip,
        PartData::Text(t) => PartKind::Text(t),
        PartData::InlineData(blob) if blob.data.is_empty() => PartKind::Skip,
        PartData::InlineData(blob) => {
            let mime = if blob.mime_type.is_empty() {
                "image/png"
            } else {
                &blob.mime_type
            };
            // A Markdown data-URL renders in most chat UIs and needs no non-standard field
            // (CLIProxyAPI's `message.images[]` is ignored by the openai SDKs).
            PartKind::Block(format!(
                "![gemini-generated-content](data:{mime};base64,{})",
                blob.data
            ))
        }
        PartData::ExecutableCode(code) => {
            let lang = code
                .get("language")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_ascii_lowercase();
            let src = code.get("code").and_then(Value::as_str).unwrap_or_default();
            PartKind::Block(fence(&lang, src))
        }
        PartData::CodeExecutionResult(res) => {
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
            PartKind::Block(fence(label, output))
        }
        PartData::FunctionResponse(_) | PartData::FileData(_) | PartData::Unknown => PartKind::Skip,
    }
}

fn fence(label: &str, body: &str) -> String {
    format!("```{label}\n{}\n```", body.trim_end_matches(['\n', '\r']))
}

fn tool_call<'a>(call: &'a FunctionCall, opts: &ResponseOptions) -> ToolCall<'a> {
    let name = if call.name.is_empty() {
        "nameless_function"
    } else {
        call.name.as_str()
    };
    let name = opts.tool_name_map.get(name).map_or(name, String::as_str);
    let args = call
        .args
        .clone()
        .map(fix_stringly_literals)
        .filter(Value::is_object)
        .unwrap_or_else(|| Value::Object(Map::new()));
    ToolCall {
        id: call.id.as_deref().filter(|s| !s.is_empty()),
        name: name.to_string(),
        args,
    }
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
        let mut out = String::new();
        self.push_text(t, &mut out);
        out
    }

    pub(crate) fn block(&mut self, b: &str) -> String {
        let mut out = String::new();
        self.push_block(b, &mut out);
        out
    }

    /// Appends the text piece `t` to `out`.
    pub(crate) fn push_text(&mut self, t: &str, out: &mut String) {
        if t.is_empty() {
            return;
        }
        if self.after_block {
            out.push_str("\n\n");
        }
        out.push_str(t);
        self.after_block = false;
        self.any = true;
    }

    /// Appends the block `b` to `out`, set off from what came before.
    pub(crate) fn push_block(&mut self, b: &str, out: &mut String) {
        if self.any {
            out.push_str("\n\n");
        }
        out.push_str(b);
        self.any = true;
        self.after_block = true;
    }
}
