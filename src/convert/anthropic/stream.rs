//! Streaming Gemini → Anthropic events: `message_start`, then per content block
//! `content_block_start` / `content_block_delta`* / `content_block_stop` with running
//! indexes, then `message_delta` (stop reason, usage) and `message_stop`.
//!
//! A thinking block stays open until the next block starts, so the signature of a
//! `functionCall` that follows it can still be added as a `signature_delta` (Anthropic sends
//! signatures that way, right before the thinking block's stop).
use serde_json::{Value, json};

use super::message_id;
use super::response::{Piece, anthropic_usage, classify, stop_reason};
use crate::convert::response::parts::ContentAssembler;
use crate::convert::response::{ResponseOptions, finish_reason, usage_from_gemini};
use crate::wire::gemini::GenerateContentResponse;
use crate::wire::openai_response::TokenUsage;

/// `event: <type>\ndata: <compact json>\n\n`, the event name taken from the payload's `type`.
pub fn sse_event(ev: &Value) -> String {
    let name = ev.get("type").and_then(Value::as_str).unwrap_or("message");
    format!("event: {name}\ndata: {ev}\n\n")
}

/// Anthropic's own heartbeat; every Anthropic client skips it.
pub fn ping_frame() -> String {
    sse_event(&json!({"type": "ping"}))
}

/// An in-stream error event; the Anthropic SDKs raise an API error on it.
pub fn error_event(message: &str, status: u16) -> Value {
    let kind = match status {
        400 | 413 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Thinking { signed: bool },
    Text,
    ToolUse,
}

pub struct AnthropicStreamTranslator {
    opts: ResponseOptions,
    id: String,
    started: bool,
    next_index: u64,
    open: Option<Open>,
    asm: ContentAssembler,
    /// Whitespace that arrived while no text block was open: sent if real text follows.
    pending_ws: String,
    saw_tool_use: bool,
    finish: Option<String>,
    blocked: bool,
    usage: Option<TokenUsage>,
    finished: bool,
}

impl AnthropicStreamTranslator {
    pub fn new(opts: ResponseOptions) -> Self {
        Self {
            opts,
            id: message_id(),
            started: false,
            next_index: 0,
            open: None,
            asm: ContentAssembler::default(),
            pending_ws: String::new(),
            saw_tool_use: false,
            finish: None,
            blocked: false,
            usage: None,
            finished: false,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The events for one upstream event.
    pub fn on_event(&mut self, r: &GenerateContentResponse) -> Vec<Value> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        if let Some(u) = usage_from_gemini(r) {
            self.usage = Some(u);
        }
        self.blocked |= r.block_reason().is_some();
        self.start(&mut out);
        let Some(cand) = r.candidates.first() else {
            return out;
        };
        for part in cand.parts() {
            let piece = classify(part, &self.opts);
            self.on_piece(piece, &mut out);
        }
        if let Some(f) = finish_reason(cand) {
            self.finish = Some(f.to_string());
        }
        out
    }

    fn start(&mut self, out: &mut Vec<Value>) {
        if self.started {
            return;
        }
        self.started = true;
        let input = self.usage.map_or(0, |u| u.prompt.saturating_sub(u.cached));
        out.push(json!({"type": "message_start", "message": {
            "id": self.id, "type": "message", "role": "assistant", "model": self.opts.model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": input, "output_tokens": 0},
        }}));
    }

    fn on_piece(&mut self, piece: Piece, out: &mut Vec<Value>) {
        match piece {
            Piece::Thinking(t) => {
                if !matches!(self.open, Some(Open::Thinking { .. })) {
                    self.open_block(
                        Open::Thinking { signed: false },
                        json!({"type": "thinking", "thinking": "", "signature": ""}),
                        out,
                    );
                }
                out.push(self.delta(json!({"type": "thinking_delta", "thinking": t})));
            }
            Piece::Text(t) => {
                let t = self.text_piece(|asm| asm.text(t));
                self.emit_text(t, out);
            }
            Piece::Markdown(m) => {
                let t = self.text_piece(|asm| asm.block(&m));
                self.emit_text(t, out);
            }
            Piece::ToolUse(block, signature) => {
                if let Some(sig) = signature {
                    if self.open != Some(Open::Thinking { signed: false }) {
                        self.open_block(
                            Open::Thinking { signed: false },
                            json!({"type": "thinking", "thinking": "", "signature": ""}),
                            out,
                        );
                    }
                    out.push(self.delta(json!({"type": "signature_delta", "signature": sig})));
                    self.open = Some(Open::Thinking { signed: true });
                }
                self.saw_tool_use = true;
                let input = block["input"].to_string();
                let mut start = block;
                start["input"] = json!({});
                self.open_block(Open::ToolUse, start, out);
                out.push(self.delta(json!({"type": "input_json_delta", "partial_json": input})));
                self.close(out);
            }
            Piece::Skip => {}
        }
    }

    /// The assembler output for a text piece, with a fresh assembler per text block.
    fn text_piece(&mut self, f: impl FnOnce(&mut ContentAssembler) -> String) -> String {
        if self.open != Some(Open::Text) {
            let mut fresh = ContentAssembler::default();
            let t = f(&mut fresh);
            if !t.trim().is_empty() {
                self.asm = fresh;
            }
            return t;
        }
        f(&mut self.asm)
    }

    fn emit_text(&mut self, t: String, out: &mut Vec<Value>) {
        if t.is_empty() {
            return;
        }
        let mut text = t;
        if self.open != Some(Open::Text) {
            if text.trim().is_empty() {
                self.pending_ws.push_str(&text);
                return;
            }
            text.insert_str(0, &std::mem::take(&mut self.pending_ws));
            self.open_block(Open::Text, json!({"type": "text", "text": ""}), out);
        }
        out.push(self.delta(json!({"type": "text_delta", "text": text})));
    }

    fn delta(&self, delta: Value) -> Value {
        json!({"type": "content_block_delta", "index": self.next_index.saturating_sub(1), "delta": delta})
    }

    fn open_block(&mut self, kind: Open, block: Value, out: &mut Vec<Value>) {
        self.close(out);
        self.pending_ws.clear();
        out.push(json!({"type": "content_block_start", "index": self.next_index, "content_block": block}));
        self.next_index += 1;
        self.open = Some(kind);
    }

    fn close(&mut self, out: &mut Vec<Value>) {
        if self.open.take().is_some() {
            out.push(json!({"type": "content_block_stop", "index": self.next_index - 1}));
        }
    }

    /// Total usage reported so far.
    pub fn usage(&self) -> Option<TokenUsage> {
        self.usage
    }

    /// The closing events: the open block's stop, `message_delta` and `message_stop`
    /// (with `message_start` first for a stream that had no event). Idempotent.
    pub fn finish(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        self.start(&mut out);
        self.close(&mut out);
        self.finished = true;
        let reason = stop_reason(
            self.finish.as_deref(),
            self.saw_tool_use,
            self.blocked && self.next_index == 0,
        );
        out.push(json!({
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": null},
            "usage": anthropic_usage(&self.usage.unwrap_or_default()),
        }));
        out.push(json!({"type": "message_stop"}));
        out
    }
}
