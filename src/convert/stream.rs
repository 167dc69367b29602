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

use serde::Serialize;
use serde_json::{Value, json};

use super::response::parts::{ContentAssembler, PartKind, classify_part};
use super::response::{ResponseOptions, finish_reason, usage_from_gemini};
use crate::wire::gemini::{Candidate, GenerateContentResponse};
use crate::wire::openai_response::{
    Chunk, ChunkHeader, ChunkUsage, Delta, FinishReason, TokenUsage,
};

/// The terminator OpenAI clients wait for.
pub const DONE_FRAME: &str = "data: [DONE]\n\n";

/// `data: <compact json>\n\n`.
pub fn sse_frame(v: &Value) -> String {
    format!("data: {v}\n\n")
}

/// Appends `data: <compact json>\n\n` for `v` to `out`.
pub fn write_sse_frame(out: &mut Vec<u8>, v: &impl Serialize) {
    out.extend_from_slice(b"data: ");
    // Writing to a Vec cannot fail, and these types always serialise.
    let _ = serde_json::to_writer(&mut *out, v);
    out.extend_from_slice(b"\n\n");
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

    /// Translate one upstream event into the chunks to send now, as JSON values. An in-stream
    /// `{"error": ...}` object becomes an [`Self::error_chunk`].
    pub fn on_event(&mut self, r: &GenerateContentResponse) -> Vec<Value> {
        if let Some(err) = self.event_error(r) {
            return vec![err];
        }
        let chunks = self.event_chunks(r);
        self.values(&chunks)
    }

    /// [`Self::on_event`] written as SSE frames onto `out`, without building JSON values.
    pub fn write_event(&mut self, r: &GenerateContentResponse, out: &mut Vec<u8>) {
        if let Some(err) = self.event_error(r) {
            write_sse_frame(out, &err);
            return;
        }
        for c in self.event_chunks(r) {
            self.header.write_frame(&c, out);
        }
    }

    fn values(&self, chunks: &[Chunk]) -> Vec<Value> {
        chunks
            .iter()
            .map(|c| serde_json::to_value(self.header.with(c)).unwrap_or(Value::Null))
            .collect()
    }

    fn event_error(&self, r: &GenerateContentResponse) -> Option<Value> {
        let err = r.error.as_ref()?;
        let msg = err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("upstream error");
        let code = err
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(502);
        Some(self.error_chunk(msg, code))
    }

    fn event_chunks(&mut self, r: &GenerateContentResponse) -> Vec<Chunk> {
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

    fn on_candidate(&mut self, index: u64, cand: &Candidate, out: &mut Vec<Chunk>) {
        let usage = self.usage_null();
        let st = self.choices.entry(index).or_default();
        let (mut content, mut reasoning, mut calls) = (String::new(), String::new(), Vec::new());
        for part in cand.parts() {
            match classify_part(part, &self.opts) {
                PartKind::Thought(t) if self.opts.return_thoughts => reasoning.push_str(t),
                PartKind::Text(t) => st.asm.push_text(t, &mut content),
                PartKind::Block(b) => st.asm.push_block(&b, &mut content),
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
            deltas.push(Delta {
                content: (!content.is_empty()).then_some(content),
                reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
                ..Delta::default()
            });
        }
        if !calls.is_empty() {
            st.saw_tool_call = true;
            deltas.push(Delta {
                tool_calls: Some(calls),
                ..Delta::default()
            });
        }
        // Log probabilities cover the whole event's text, so they ride on its first chunk.
        let mut logprobs = super::response::logprobs::openai_logprobs(cand);
        for mut delta in deltas {
            if !st.started {
                st.started = true;
                delta.role = Some("assistant");
            }
            self.has_output = true;
            out.push(Chunk::Choice {
                index,
                delta,
                finish: None,
                logprobs: logprobs.take(),
                usage,
            });
        }
    }

    fn usage_null(&self) -> ChunkUsage {
        if self.include_usage {
            ChunkUsage::Null
        } else {
            ChunkUsage::Absent
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
        let chunks = self.finish_chunks();
        self.values(&chunks)
    }

    /// [`Self::finish`] written as SSE frames onto `out`.
    pub fn write_finish(&mut self, out: &mut Vec<u8>) {
        for c in self.finish_chunks() {
            self.header.write_frame(&c, out);
        }
    }

    fn finish_chunks(&mut self) -> Vec<Chunk> {
        if self.finished {
            return Vec::new();
        }
        self.finished = true;
        if self.choices.is_empty() {
            self.choices.insert(0, ChoiceState::default());
        }
        let usage_null = self.usage_null();
        let mut out = Vec::new();
        for (&index, st) in &self.choices {
            let reason = if self.blocked && !st.started {
                FinishReason::ContentFilter
            } else {
                FinishReason::from_gemini(st.finish.as_deref(), st.saw_tool_call)
            };
            let delta = if st.started {
                Delta::default()
            } else {
                Delta {
                    role: Some("assistant"),
                    content: Some(String::new()),
                    ..Delta::default()
                }
            };
            out.push(Chunk::Choice {
                index,
                delta,
                finish: Some(reason),
                logprobs: None,
                usage: usage_null,
            });
        }
        let usage = self.usage();
        if self.include_usage {
            out.push(Chunk::Usage(usage.unwrap_or_default()));
        } else if let (Some(u), Some(Chunk::Choice { usage, .. })) = (usage, out.last_mut()) {
            *usage = ChunkUsage::Counts(u);
        }
        out
    }

    /// An OpenAI-shaped in-stream error; the openai SDKs raise `APIError` on it.
    pub fn error_chunk(&self, message: &str, code: u16) -> Value {
        openai_error_event(message, code)
    }
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
