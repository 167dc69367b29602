//! Fake streaming (`假流式/` models): one non-streaming upstream call, replayed to a streaming
//! client as a chunk sequence, with heartbeats while the call is in flight.
//!
//! The reply is cut into Gemini events ([`native_chunks`]); every surface then translates them
//! with its ordinary stream translator, so fake and real streams read the same.
//!
//! Differences from the reference:
//! - the role comes first, reasoning before content, tool calls are kept (the reference drops
//!   them), usage is included, and OpenAI finish reasons are mapped as on every other path;
//! - the finish reason rides on the last chunk, so plain text gives exactly
//!   `ceil(chars / 50)` chunks;
//! - no placeholder text: the reference fills an empty answer with a Chinese "[model is
//!   thinking, please retry]" / "[empty response]" sentence, which clients then store as the
//!   assistant's words in their history. An empty answer is an empty delta with its finish
//!   reason; the dispatcher is expected to have retried it already
//!   (`GenerateContentResponse::is_empty_reply`).
//! - images and code blocks are sent whole (cutting a megabyte data URL into 50-char pieces
//!   helps nobody).
use serde_json::{Map, Value, json};

use crate::wire::gemini::{Candidate, Content, GenerateContentResponse, Part, PartData};

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

/// The heartbeat object itself.
fn native_heartbeat_value() -> Value {
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

/// The Gemini-native chunk sequence for one complete response: each part of each candidate
/// in upstream order (thoughts first, as Google sends them), text cut into 50-char pieces,
/// other parts (function calls with their thought signatures, images, code) whole. The
/// candidate's other fields (`finishReason`, safety ratings, grounding) go on its last chunk;
/// top-level fields (`usageMetadata`, `modelVersion`, ...) on the very last chunk.
pub fn native_chunks(r: &GenerateContentResponse) -> Vec<GenerateContentResponse> {
    let mut out: Vec<GenerateContentResponse> = Vec::new();
    for (pos, cand) in r.candidates.iter().enumerate() {
        let index = cand.index.unwrap_or(pos as u64);
        let role = cand.content.as_ref().and_then(|c| c.role.clone());
        let role = role.or_else(|| Some("model".to_string()));
        let mut cand_chunks: Vec<Candidate> = cand
            .parts()
            .iter()
            .flat_map(split_part)
            .map(|p| Candidate {
                content: Some(Content {
                    role: role.clone(),
                    parts: vec![p],
                    extra: Map::new(),
                }),
                index: Some(index),
                ..Candidate::default()
            })
            .collect();
        if cand_chunks.is_empty() {
            cand_chunks.push(Candidate {
                index: Some(index),
                ..Candidate::default()
            });
        }
        if let Some(last) = cand_chunks.last_mut() {
            last.finish_reason = cand.finish_reason.clone();
            last.extra = cand.extra.clone();
        }
        out.extend(cand_chunks.into_iter().map(|c| GenerateContentResponse {
            candidates: vec![c],
            ..GenerateContentResponse::default()
        }));
    }
    match out.last_mut() {
        Some(last) => last.take_whole_fields_of(r),
        // No candidates (blocked prompt, `{}`): the response itself is the only chunk.
        None => out.push(r.clone()),
    }
    out
}

/// One part as one or more parts: a text part becomes 50-char pieces of the same kind, its
/// `thoughtSignature` kept on the last piece so clients can replay it.
fn split_part(part: &Part) -> Vec<Part> {
    let (text, thought) = match &part.data {
        PartData::Text(t) => (t, false),
        PartData::Thought(t) => (t, true),
        _ => return vec![part.clone()],
    };
    let ps = pieces(text);
    if ps.len() <= 1 {
        return vec![part.clone()];
    }
    let last = ps.len() - 1;
    ps.into_iter()
        .enumerate()
        .map(|(i, piece)| Part {
            data: if thought {
                PartData::Thought(piece.to_string())
            } else {
                PartData::Text(piece.to_string())
            },
            thought_signature: if i == last {
                part.thought_signature.clone()
            } else {
                None
            },
            extra: part.extra.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests;
