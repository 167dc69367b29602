//! Streaming Gemini → OpenAI translation (a small state machine) and the SSE framing of both
//! client formats.
//!
//! Differences from the reference (which sends `finish_reason: "stop"` on every chunk and
//! numbers every tool call 0), all deliberate:
//! - the first delta of each choice carries `role: "assistant"`;
//! - intermediate chunks have `finish_reason: null`; the final reason is sent once, by
//!   [`OpenAiStreamTranslator::finish`], as `tool_calls` if any call was streamed;
//! - tool calls are numbered by a per-choice counter across the whole stream;
//! - with `include_usage`, every chunk has `usage: null` and a trailing `choices: []` chunk
//!   carries the usage. Without it, usage rides on the final chunk (optional in OpenAI's
//!   schema, and read by many clients that never set `include_usage`).
use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::response::parts::{ContentAssembler, PartKind, classify_part};
use super::response::{ResponseOptions, finish_reason, usage_from_gemini};
use crate::wire::gemini::{Candidate, GenerateContentResponse};
use crate::wire::openai_response::{ChunkHeader, FinishReason, TokenUsage};

/// The terminator OpenAI clients wait for.
pub const DONE_FRAME: &str = "data: [DONE]\n\n";

/// `data: <compact json>\n\n`.
pub fn sse_frame(v: &Value) -> String {
    format!("data: {v}\n\n")
}

#[derive(Debug, Default)]
struct ChoiceState {
    started: bool,
    asm: ContentAssembler,
    next_tool_index: u64,
    saw_tool_call: bool,
    finish: Option<String>,
}

pub struct OpenAiStreamTranslator {
    opts: ResponseOptions,
    include_usage: bool,
    header: ChunkHeader,
    choices: BTreeMap<u64, ChoiceState>,
    /// Usage of earlier attempts (anti-truncation), already final.
    usage_done: TokenUsage,
    /// Latest usage of the current attempt; Gemini repeats the running total per event.
    usage_current: Option<TokenUsage>,
    blocked: bool,
    has_output: bool,
    finished: bool,
}

impl OpenAiStreamTranslator {
    pub fn new(opts: ResponseOptions, include_usage: bool) -> Self {
        let header = ChunkHeader::new(&opts.model);
        Self {
            opts,
            include_usage,
            header,
            choices: BTreeMap::new(),
            usage_done: TokenUsage::default(),
            usage_current: None,
            blocked: false,
            has_output: false,
            finished: false,
        }
    }

    /// The id shared by every chunk of this response.
    pub fn id(&self) -> &str {
        &self.header.id
    }

    /// Any content, reasoning or tool call sent yet. Until then the dispatcher may still
    /// retry on another credential without the client noticing.
    pub fn has_output(&self) -> bool {
        self.has_output
    }

    /// Translate one upstream event into the chunks to send now. An in-stream
    /// `{"error": ...}` object becomes an [`Self::error_chunk`].
    pub fn on_event(&mut self, r: &GenerateContentResponse) -> Vec<Value> {
        if let Some(err) = &r.error {
            let msg = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("upstream error");
            let code = err
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(502);
            return vec![self.error_chunk(msg, code)];
        }
        if self.finished {
            return Vec::new();
        }
        if let Some(u) = usage_from_gemini(r) {
            self.usage_current = Some(u);
        }
        self.blocked |= r.block_reason().is_some();
        let mut out = Vec::new();
        for (pos, cand) in r.candidates.iter().enumerate() {
            let index = cand.index.unwrap_or(pos as u64);
            self.on_candidate(index, cand, &mut out);
        }
        out
    }

    fn on_candidate(&mut self, index: u64, cand: &Candidate, out: &mut Vec<Value>) {
        let st = self.choices.entry(index).or_default();
        let (mut content, mut reasoning, mut calls) = (String::new(), String::new(), Vec::new());
        for part in cand.parts() {
            match classify_part(part, &self.opts) {
                PartKind::Thought(t) if self.opts.return_thoughts => reasoning.push_str(t),
                PartKind::Text(t) => content.push_str(&st.asm.text(t)),
                PartKind::Block(b) => content.push_str(&st.asm.block(&b)),
                PartKind::ToolCall(call) => {
                    let mut c = call.openai();
                    c["index"] = json!(st.next_tool_index);
                    st.next_tool_index += 1;
                    calls.push(c);
                }
                PartKind::Thought(_) | PartKind::Skip => {}
            }
        }
        if let Some(f) = finish_reason(cand) {
            st.finish = Some(f.to_string());
        }
        let mut deltas = Vec::new();
        if !content.is_empty() || !reasoning.is_empty() {
            let mut d = Map::new();
            if !content.is_empty() {
                d.insert("content".into(), Value::String(content));
            }
            if !reasoning.is_empty() {
                d.insert("reasoning_content".into(), Value::String(reasoning));
            }
            deltas.push(d);
        }
        if !calls.is_empty() {
            st.saw_tool_call = true;
            let mut d = Map::new();
            d.insert("tool_calls".into(), Value::Array(calls));
            deltas.push(d);
        }
        // Log probabilities cover the whole event's text, so they ride on its first chunk.
        let mut logprobs = super::response::logprobs::openai_logprobs(cand);
        for mut d in deltas {
            if !st.started {
                st.started = true;
                let mut with_role = Map::new();
                with_role.insert("role".into(), json!("assistant"));
                with_role.append(&mut d);
                d = with_role;
            }
            self.has_output = true;
            let mut chunk = self.header.chunk(index, Value::Object(d), None);
            if let Some(l) = logprobs.take() {
                chunk["choices"][0]["logprobs"] = l;
            }
            out.push(with_usage_null(chunk, self.include_usage));
        }
    }

    /// Anti-truncation: the next upstream attempt begins. Its usage adds to the earlier
    /// attempts' and its finish reason replaces theirs.
    pub fn new_attempt(&mut self) {
        if let Some(u) = self.usage_current.take() {
            self.usage_done += u;
        }
        for st in self.choices.values_mut() {
            st.finish = None;
        }
    }

    /// Total usage so far, if the upstream reported any.
    pub fn usage(&self) -> Option<TokenUsage> {
        let mut total = self.usage_done;
        let seen = self.usage_current.is_some() || total != TokenUsage::default();
        if let Some(u) = self.usage_current {
            total += u;
        }
        seen.then_some(total)
    }

    /// The closing chunks: one final `finish_reason` per choice (even for an empty stream,
    /// so clients always see a well-formed end) and the usage chunk when asked for. The
    /// caller sends [`DONE_FRAME`] after these. Idempotent.
    pub fn finish(&mut self) -> Vec<Value> {
        if self.finished {
            return Vec::new();
        }
        self.finished = true;
        if self.choices.is_empty() {
            self.choices.insert(0, ChoiceState::default());
        }
        let mut out = Vec::new();
        for (&index, st) in &self.choices {
            let reason = if self.blocked && !st.started {
                FinishReason::ContentFilter
            } else {
                FinishReason::from_gemini(st.finish.as_deref(), st.saw_tool_call)
            };
            let delta = if st.started {
                json!({})
            } else {
                json!({"role": "assistant", "content": ""})
            };
            let chunk = self.header.chunk(index, delta, Some(reason));
            out.push(with_usage_null(chunk, self.include_usage));
        }
        let usage = self.usage();
        if self.include_usage {
            out.push(self.header.usage_chunk(&usage.unwrap_or_default()));
        } else if let (Some(u), Some(last)) = (usage, out.last_mut()) {
            last["usage"] = crate::wire::openai_response::openai_usage(&u);
        }
        out
    }

    /// An OpenAI-shaped in-stream error; the openai SDKs raise `APIError` on it.
    pub fn error_chunk(&self, message: &str, code: u16) -> Value {
        openai_error_event(message, code)
    }
}

fn with_usage_null(mut chunk: Value, include_usage: bool) -> Value {
    if include_usage {
        chunk["usage"] = Value::Null;
    }
    chunk
}

/// `{"error": {message, type, code}}`, the shape OpenAI streams errors in.
pub fn openai_error_event(message: &str, code: u16) -> Value {
    let kind = match code {
        400 | 413 | 422 => "invalid_request_error",
        401 | 403 => "authentication_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        _ => "api_error",
    };
    json!({"error": {"message": message, "type": kind, "code": code}})
}

#[cfg(test)]
mod tests;
