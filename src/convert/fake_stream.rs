//! Fake streaming (`假流式/` models): one non-streaming upstream call, replayed to a streaming
//! client as a chunk sequence, with heartbeats while the call is in flight.
//!
//! Differences from the reference (format-conversion §5 [FIX]):
//! - the role comes first, reasoning before content, tool calls are kept (the reference drops
//!   them), usage is included, and OpenAI finish reasons follow §3.4 like everywhere else;
//! - the finish reason rides on the last chunk, so plain text gives exactly
//!   `ceil(chars / 50)` chunks;
//! - no placeholder text: the reference fills an empty answer with a Chinese "[model is
//!   thinking, please retry]" / "[empty response]" sentence, which clients then store as the
//!   assistant's words in their history. An empty answer is an empty delta with its finish
//!   reason; the dispatcher is expected to have retried it already (`is_empty_reply`).
//! - images and code blocks are sent whole (cutting a megabyte data URL into 50-char pieces
//!   helps nobody).
use serde_json::{Map, Value, json};

use super::response::parts::{ContentAssembler, PartKind, classify_part};
use super::response::{
    ResponseOptions, block_reason, candidate_parts, finish_reason, inner, usage_from_gemini,
};
use super::stream::openai_error_event;
use crate::wire::openai_response::{ChunkHeader, FinishReason, openai_usage};

/// Characters (not bytes) per replayed text piece.
pub const PIECE_CHARS: usize = 50;

/// OpenAI keep-alive while the upstream call runs: an SSE comment. The openai SDKs (Python's
/// `SSEDecoder`, Node's line decoder) skip `:` lines, and reverse proxies see bytes flowing.
/// Sending it commits the 200 status: later failures must be in-stream errors.
pub fn openai_heartbeat() -> String {
    ": keep-alive\n\n".to_string()
}

/// Gemini-native keep-alive (`alt=sse`): a `data:` chunk with an empty text part. The
/// google-genai SDK parses every non-blank line as JSON (a `:` comment raises a decode
/// error there), and an empty-text candidate without `finishReason` is a valid, contentless
/// `GenerateContentResponse` that it merges harmlessly.
pub fn native_heartbeat() -> String {
    format!("data: {}\n\n", native_heartbeat_value())
}

/// The heartbeat object itself, for the JSON-array framing (non-`alt=sse`) mode.
pub fn native_heartbeat_value() -> Value {
    json!({"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "index": 0}]})
}

/// Split on `char` boundaries into pieces of at most [`PIECE_CHARS`] characters.
pub fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (n, (i, _)) in text.char_indices().enumerate() {
        if n > 0 && n % PIECE_CHARS == 0 {
            out.push(&text[start..i]);
            start = i;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// The OpenAI chunk sequence for one complete (possibly enveloped) Gemini response. The
/// caller frames each with `sse_frame` and ends with `DONE_FRAME`.
pub fn openai_chunks(resp: &Value, opts: &ResponseOptions, include_usage: bool) -> Vec<Value> {
    let r = inner(resp);
    if let Some(err) = r.get("error") {
        let msg = err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("upstream error");
        let code = err
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(502);
        return vec![openai_error_event(msg, code)];
    }
    let header = ChunkHeader::new(&opts.model);
    let mut out = Vec::new();
    let candidates = r
        .get("candidates")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (pos, cand) in candidates.iter().enumerate() {
        let index = cand
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(pos as u64);
        let (deltas, saw_call) = candidate_deltas(cand, opts);
        let finish = FinishReason::from_gemini(finish_reason(cand), saw_call);
        push_choice(&header, index, deltas, finish, &mut out);
    }
    if candidates.is_empty() {
        let finish = if block_reason(r).is_some() {
            FinishReason::ContentFilter
        } else {
            FinishReason::Stop
        };
        push_choice(&header, 0, Vec::new(), finish, &mut out);
    }
    let usage = usage_from_gemini(r);
    if include_usage {
        for c in &mut out {
            c["usage"] = Value::Null;
        }
        out.push(header.usage_chunk(&usage.unwrap_or_default()));
    } else if let (Some(u), Some(last)) = (usage, out.last_mut()) {
        last["usage"] = openai_usage(&u);
    }
    out
}

/// Deltas for one candidate: reasoning pieces, content pieces, then all tool calls in one
/// delta. Returns whether a tool call was seen.
fn candidate_deltas(cand: &Value, opts: &ResponseOptions) -> (Vec<Map<String, Value>>, bool) {
    let mut reasoning = Vec::new();
    let mut content = Vec::new();
    let mut calls = Vec::new();
    let mut asm = ContentAssembler::default();
    for part in candidate_parts(cand) {
        match classify_part(part, opts) {
            PartKind::Thought(t) if opts.return_thoughts => {
                // Separate thought parts by a blank line, as the non-stream message does.
                let t = if reasoning.is_empty() {
                    t.to_string()
                } else {
                    format!("\n\n{t}")
                };
                reasoning.extend(pieces(&t).into_iter().map(str::to_string));
            }
            PartKind::Text(t) => {
                let t = asm.text(t);
                content.extend(pieces(&t).into_iter().map(str::to_string));
            }
            PartKind::Block(b) => content.push(asm.block(&b)),
            PartKind::ToolCall(mut c) => {
                c["index"] = json!(calls.len());
                calls.push(c);
            }
            PartKind::Thought(_) | PartKind::Skip => {}
        }
    }
    let one = |k: &str, v: Value| {
        let mut m = Map::new();
        m.insert(k.to_string(), v);
        m
    };
    let mut deltas: Vec<_> = reasoning
        .into_iter()
        .map(|s| one("reasoning_content", Value::String(s)))
        .chain(
            content
                .into_iter()
                .map(|s| one("content", Value::String(s))),
        )
        .collect();
    let saw_call = !calls.is_empty();
    if saw_call {
        deltas.push(one("tool_calls", Value::Array(calls)));
    }
    (deltas, saw_call)
}

fn push_choice(
    header: &ChunkHeader,
    index: u64,
    mut deltas: Vec<Map<String, Value>>,
    finish: FinishReason,
    out: &mut Vec<Value>,
) {
    if deltas.is_empty() {
        deltas.push(Map::from_iter([("content".to_string(), json!(""))]));
    }
    let last = deltas.len() - 1;
    for (i, d) in deltas.into_iter().enumerate() {
        let d = if i == 0 {
            let mut with_role = Map::from_iter([("role".to_string(), json!("assistant"))]);
            with_role.extend(d);
            with_role
        } else {
            d
        };
        let f = (i == last).then_some(finish);
        out.push(header.chunk(index, Value::Object(d), f));
    }
}

/// The Gemini-native chunk sequence for one complete response: each part of each candidate
/// in upstream order (thoughts first, as Google sends them), text cut into 50-char pieces,
/// other parts (function calls with their thought signatures, images, code) whole. The
/// candidate's other fields (`finishReason`, safety ratings, grounding) go on its last chunk;
/// top-level fields (`usageMetadata`, `modelVersion`, ...) on the very last chunk.
pub fn native_chunks(resp: &Value) -> Vec<Value> {
    let r = inner(resp);
    let Some(obj) = r.as_object() else {
        return vec![r.clone()];
    };
    let candidates = r
        .get("candidates")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut out: Vec<Value> = Vec::new();
    for (pos, cand) in candidates.iter().enumerate() {
        let index = cand
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(pos as u64);
        let role = cand
            .pointer("/content/role")
            .cloned()
            .unwrap_or(json!("model"));
        let mut cand_chunks: Vec<Map<String, Value>> = candidate_parts(cand)
            .iter()
            .flat_map(split_part)
            .map(|p| {
                let mut c = Map::new();
                c.insert("content".into(), json!({"role": role, "parts": [p]}));
                c.insert("index".into(), json!(index));
                c
            })
            .collect();
        if cand_chunks.is_empty() {
            cand_chunks.push(Map::from_iter([("index".to_string(), json!(index))]));
        }
        if let (Some(last), Some(fields)) = (cand_chunks.last_mut(), cand.as_object()) {
            for (k, v) in fields {
                if k != "content" && k != "index" {
                    last.insert(k.clone(), v.clone());
                }
            }
        }
        out.extend(
            cand_chunks
                .into_iter()
                .map(|c| json!({"candidates": [Value::Object(c)]})),
        );
    }
    match out.last_mut() {
        Some(last) => {
            for (k, v) in obj {
                if k != "candidates" {
                    last[k] = v.clone();
                }
            }
        }
        // No candidates (blocked prompt, `{}`): the response itself is the only chunk.
        None => out.push(r.clone()),
    }
    out
}

/// One part as one or more parts: a text part becomes 50-char pieces of the same kind, its
/// `thoughtSignature` kept on the last piece so clients can replay it.
fn split_part(part: &Value) -> Vec<Value> {
    let Some(text) = part.get("text").and_then(Value::as_str) else {
        return vec![part.clone()];
    };
    let ps = pieces(text);
    if ps.len() <= 1 {
        return vec![part.clone()];
    }
    let last = ps.len() - 1;
    ps.into_iter()
        .enumerate()
        .map(|(i, piece)| {
            let mut p = part.clone();
            p["text"] = json!(piece);
            if i != last {
                if let Some(o) = p.as_object_mut() {
                    o.remove("thoughtSignature");
                }
            }
            p
        })
        .collect()
}

#[cfg(test)]
mod tests;
