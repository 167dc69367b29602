//! Gemini response → Anthropic `message`, plus the pieces the stream translator shares:
//! part classification, tool_use blocks, stop reasons and usage.
use serde_json::{Value, json};

use super::{SIGNATURE_PREFIX, message_id, tool_use_id};
use crate::convert::response::parts::{ContentAssembler, PartKind, ToolCall, classify_part};
use crate::convert::response::{ResponseOptions, finish_reason, usage_from_gemini};
use crate::wire::gemini::{GenerateContentResponse, Part, SKIP_THOUGHT_SIGNATURE};
use crate::wire::openai_response::TokenUsage;

/// One Gemini part as Anthropic sees it.
pub(super) enum Piece<'a> {
    Thinking(&'a str),
    Text(&'a str),
    /// An image or code block, rendered as Markdown inside the text.
    Markdown(String),
    /// A `tool_use` block, and the signature to carry on the thinking block before it.
    ToolUse(Value, Option<String>),
    Skip,
}

pub(super) fn classify<'a>(part: &'a Part, opts: &ResponseOptions) -> Piece<'a> {
    match classify_part(part, opts) {
        PartKind::Thought(t) if opts.return_thoughts => Piece::Thinking(t),
        PartKind::Thought(_) | PartKind::Skip => Piece::Skip,
        PartKind::Text(t) => Piece::Text(t),
        PartKind::Block(b) => Piece::Markdown(b),
        PartKind::ToolCall(call) => {
            let signature = part
                .thought_signature
                .as_deref()
                .filter(|s| !s.is_empty() && *s != SKIP_THOUGHT_SIGNATURE)
                .map(|s| format!("{SIGNATURE_PREFIX}{s}"));
            Piece::ToolUse(tool_use(call), signature)
        }
    }
}

/// A `tool_use` block from the shared classification (which already maps the name back and
/// repairs stringly literals).
fn tool_use(call: ToolCall) -> Value {
    let id = call.id.map_or_else(tool_use_id, str::to_string);
    json!({"type": "tool_use", "id": id, "name": call.name, "input": drop_nulls(call.args)})
}

/// Null members are removed: Claude-style clients validate inputs against the tool's schema,
/// where optional means absent, not null.
fn drop_nulls(v: Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, drop_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(drop_nulls).collect()),
        other => other,
    }
}

/// Anthropic's `stop_reason` for a Gemini finish reason.
pub fn stop_reason(finish: Option<&str>, saw_tool_use: bool, blocked: bool) -> &'static str {
    match finish {
        _ if blocked => "refusal",
        Some("MAX_TOKENS") => "max_tokens",
        Some(
            "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY",
        ) => "refusal",
        // A cut or blocked call is never reported as one to run.
        None | Some("STOP" | "FINISH_REASON_UNSPECIFIED") if saw_tool_use => "tool_use",
        _ => "end_turn",
    }
}

/// `{input_tokens, output_tokens[, cache_read_input_tokens]}`: input excludes cached
/// tokens, output includes thinking tokens.
pub fn anthropic_usage(u: &TokenUsage) -> Value {
    let mut out = json!({
        "input_tokens": u.prompt.saturating_sub(u.cached),
        "output_tokens": u.completion,
    });
    if u.cached > 0 {
        out["cache_read_input_tokens"] = json!(u.cached);
    }
    out
}

/// Builds a message's content blocks in part order (non-stream), with the same block rules
/// as the stream translator so both give the same content.
#[derive(Default)]
struct Blocks {
    out: Vec<Value>,
    asm: ContentAssembler,
    /// Whitespace seen while no text block was open: kept only if real text follows.
    pending_ws: String,
    saw_tool_use: bool,
}

impl Blocks {
    fn last_kind(&self) -> Option<&str> {
        self.out.last().and_then(|b| b["type"].as_str())
    }

    fn push(&mut self, piece: Piece) {
        match piece {
            Piece::Thinking(t) => {
                if self.last_kind() != Some("thinking") {
                    self.start(json!({"type": "thinking", "thinking": "", "signature": ""}));
                }
                if let Some(b) = self.out.last_mut() {
                    let joined = format!("{}{t}", b["thinking"].as_str().unwrap_or_default());
                    b["thinking"] = json!(joined);
                }
            }
            Piece::Text(t) => {
                let t = self.text_piece(|asm| asm.text(t));
                self.append_text(t);
            }
            Piece::Markdown(m) => {
                let t = self.text_piece(|asm| asm.block(&m));
                self.append_text(t);
            }
            Piece::ToolUse(block, signature) => {
                if let Some(sig) = signature {
                    match self.out.last_mut() {
                        Some(b) if b["type"] == "thinking" && b["signature"] == "" => {
                            b["signature"] = json!(sig)
                        }
                        _ => self
                            .start(json!({"type": "thinking", "thinking": "", "signature": sig})),
                    }
                }
                self.saw_tool_use = true;
                self.start(block);
            }
            Piece::Skip => {}
        }
    }

    fn start(&mut self, block: Value) {
        self.pending_ws.clear();
        self.out.push(block);
    }

    /// Runs `f` with the text block's assembler; a new block gets a fresh one.
    fn text_piece(&mut self, f: impl FnOnce(&mut ContentAssembler) -> String) -> String {
        if self.last_kind() != Some("text") {
            let mut fresh = ContentAssembler::default();
            let t = f(&mut fresh);
            if !t.trim().is_empty() {
                self.asm = fresh;
            }
            return t;
        }
        f(&mut self.asm)
    }

    fn append_text(&mut self, t: String) {
        if t.is_empty() {
            return;
        }
        if let Some(b) = self.out.last_mut().filter(|b| b["type"] == "text") {
            let joined = format!("{}{t}", b["text"].as_str().unwrap_or_default());
            b["text"] = json!(joined);
            return;
        }
        if t.trim().is_empty() {
            self.pending_ws.push_str(&t);
            return;
        }
        let text = format!("{}{t}", std::mem::take(&mut self.pending_ws));
        self.start(json!({"type": "text", "text": text}));
    }
}

/// A non-stream Anthropic message for the Gemini response. Only the
/// first candidate is used: Anthropic has one answer per message.
pub fn gemini_to_anthropic(r: &GenerateContentResponse, opts: &ResponseOptions) -> Value {
    let cand = r.candidates.first();
    let mut blocks = Blocks::default();
    for part in cand.map(|c| c.parts()).unwrap_or_default() {
        blocks.push(classify(part, opts));
    }
    let finish = cand.and_then(finish_reason);
    let blocked = r.block_reason().is_some() && cand.is_none();
    let usage = usage_from_gemini(r).unwrap_or_default();
    json!({
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "model": opts.model,
        "content": blocks.out,
        "stop_reason": stop_reason(finish, blocks.saw_tool_use, blocked),
        "stop_sequence": null,
        "usage": anthropic_usage(&usage),
    })
}
