//! Anti-truncation (`流式抗截断/` models): ask the model to end with a marker, and continue
//! the answer (prefill) when a stream ends without it.
//!
//! Decisions (fixes over the reference):
//! - only non-thought text counts: the marker is searched in it and only it is prefilled, so
//!   a `[done]` inside reasoning does not end the answer and thoughts are never replayed as
//!   model text;
//! - every continuation is the pristine original `contents` plus ONE model turn holding all
//!   text so far (the reference stacks a new model turn per attempt);
//! - the marker is stripped by a streaming filter that holds back a possible partial marker
//!   across chunks, so `[do` + `ne]` never leaks (the reference leaks it);
//! - the reference's regex that deletes age expressions from the user's prompt is not ported.
use serde_json::{Map, Value, json};

use crate::wire::gemini::{
    Candidate, Content, FinishReason, GenerateContentResponse, Part, PartData,
};

pub const DONE_MARKER: &str = "[done]";

/// Appended to the system instruction. Our own wording; the protocol only needs the marker.
pub const MARKER_INSTRUCTION: &str = "When your answer is complete, write the marker [done] \
on a line of its own as the very last line. Always end with this marker, for short and long \
answers alike: an answer without it is treated as cut off, and you will be asked to continue \
exactly where you stopped. Put nothing else on the marker's line. Layout:\n<your complete \
answer>\n[done]";

/// The Gemini request object inside a Code Assist envelope, or the request itself.
fn request_obj(v: &mut Value) -> &mut Value {
    if v.get("request").is_some_and(Value::is_object) && v.get("contents").is_none() {
        &mut v["request"]
    } else {
        v
    }
}

/// Add the marker instruction to `systemInstruction` unless a part already mentions the
/// marker (so a client's own instruction, or a second call, does not duplicate it). Accepts
/// the bare request or the `{model, project, request}` envelope.
pub fn prepare(request: &mut Value) {
    let req = request_obj(request);
    let Some(obj) = req.as_object_mut() else {
        return;
    };
    let key = if !obj.contains_key("systemInstruction") && obj.contains_key("system_instruction") {
        "system_instruction"
    } else {
        "systemInstruction"
    };
    let sys = obj.entry(key).or_insert_with(|| json!({"parts": []}));
    // Tolerate a bare string, which some clients send.
    if let Some(s) = sys.as_str() {
        *sys = json!({"parts": [{"text": s}]});
    }
    if !sys.is_object() {
        *sys = json!({"parts": []});
    }
    if !sys.get("parts").is_some_and(Value::is_array) {
        sys["parts"] = json!([]);
    }
    let Some(parts) = sys["parts"].as_array_mut() else {
        return;
    };
    let mentioned = parts.iter().any(|p| {
        p.get("text")
            .and_then(Value::as_str)
            .is_some_and(|t| find_marker(t).is_some())
    });
    if !mentioned {
        parts.push(json!({"text": MARKER_INSTRUCTION}));
    }
}

/// The request for the next attempt: the original request with exactly one model turn that
/// holds all visible text collected so far (prefill). When the original already ends with a
/// model turn (a client prefill), the text extends that turn instead of adding a second one.
pub fn continuation(original: &Value, collected_text: &str) -> Value {
    let mut next = original.clone();
    if collected_text.is_empty() {
        return next;
    }
    let req = request_obj(&mut next);
    if !req.get("contents").is_some_and(Value::is_array) {
        req["contents"] = json!([]);
    }
    let Some(contents) = req["contents"].as_array_mut() else {
        return next;
    };
    let text_part = json!({"text": collected_text});
    match contents.last_mut() {
        Some(last) if last.get("role").and_then(Value::as_str) == Some("model") => {
            match last.get_mut("parts").and_then(Value::as_array_mut) {
                Some(parts) => parts.push(text_part),
                None => last["parts"] = json!([text_part]),
            }
        }
        _ => contents.push(json!({"role": "model", "parts": [text_part]})),
    }
    next
}

/// Byte offset of the first ASCII-case-insensitive `[done]`. The marker is ASCII, so a match
/// always sits on char boundaries.
fn find_marker(s: &str) -> Option<usize> {
    let m = DONE_MARKER.as_bytes();
    s.as_bytes()
        .windows(m.len())
        .position(|w| w.eq_ignore_ascii_case(m))
}

/// Streaming marker filter for visible text: feed deltas in order, emit what it returns.
///
/// The marker and the whitespace around it are removed (the reference's `\s*\[done\]\s*`).
/// To do that across chunk boundaries it holds back a tail that could still become a marker
/// (`[`, `[d`, …, `[done`) plus the whitespace before it; [`MarkerFilter::flush`] releases
/// the held text when the stream ends without completing a marker.
#[derive(Debug, Default, Clone)]
pub struct MarkerFilter {
    pending: String,
    skip_leading_ws: bool,
    seen: bool,
    collected: String,
}

impl MarkerFilter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed one text delta; returns the text that is safe to send now.
    pub fn push(&mut self, text: &str) -> String {
        self.collected.push_str(text);
        self.pending.push_str(text);
        let mut out = String::new();
        loop {
            if self.skip_leading_ws {
                let trimmed = self.pending.trim_start();
                if trimmed.is_empty() {
                    self.pending.clear();
                    return out;
                }
                self.pending = trimmed.to_string();
                self.skip_leading_ws = false;
            }
            let Some(i) = find_marker(&self.pending) else {
                break;
            };
            out.push_str(self.pending[..i].trim_end());
            self.pending.drain(..i + DONE_MARKER.len());
            self.seen = true;
            self.skip_leading_ws = true;
        }
        let keep = hold_from(&self.pending);
        out.push_str(&self.pending[..keep]);
        self.pending.drain(..keep);
        out
    }

    /// The stream (or the whole answer) ended: release held text that never became a marker.
    pub fn flush(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    /// Whether a complete marker has been seen so far.
    pub fn seen(&self) -> bool {
        self.seen
    }

    /// All raw visible text fed so far: the prefill for the next attempt.
    pub fn collected(&self) -> &str {
        &self.collected
    }

    /// Filter the visible text parts of every candidate of an event in place. Thought parts
    /// are left alone and not counted, so a `[done]` inside reasoning ends nothing.
    pub fn filter_event(&mut self, event: &mut GenerateContentResponse) {
        let parts = event
            .candidates
            .iter_mut()
            .filter_map(|c| c.content.as_mut())
            .flat_map(|c| c.parts.iter_mut());
        for part in parts {
            if let PartData::Text(text) = &mut part.data {
                *text = self.push(text);
            }
        }
    }
}

/// Start of the tail to hold back: the longest suffix that is a proper prefix of the marker,
/// extended backwards over the whitespace before it (which is stripped with the marker).
fn hold_from(s: &str) -> usize {
    let b = s.as_bytes();
    let m = DONE_MARKER.as_bytes();
    let mut start = s.len();
    for len in (1..m.len()).rev() {
        if b.len() >= len && b[b.len() - len..].eq_ignore_ascii_case(&m[..len]) {
            start = b.len() - len;
            break;
        }
    }
    s[..start].trim_end().len()
}

/// A minimal Gemini event carrying one visible text part, for emitting flushed text through
/// the same path as upstream events.
pub fn text_event(text: &str) -> GenerateContentResponse {
    GenerateContentResponse {
        candidates: vec![Candidate {
            content: Some(Content {
                role: Some("model".into()),
                parts: vec![Part::text(text)],
                extra: Map::new(),
            }),
            index: Some(0),
            ..Candidate::default()
        }],
        ..GenerateContentResponse::default()
    }
}

/// Remove and return the candidates' finish reason, so only the last attempt ends the
/// client's stream.
pub fn take_finish(event: &mut GenerateContentResponse) -> Option<FinishReason> {
    event
        .candidates
        .iter_mut()
        .filter_map(|c| c.finish_reason.take())
        .last()
}

/// Whether an event still says something after filtering: a non-empty part or usage. Events
/// whose only text was (part of) the marker are dropped instead of sent empty.
pub fn has_visible(event: &GenerateContentResponse) -> bool {
    event.usage_metadata.is_some()
        || event.candidates.iter().flat_map(Candidate::parts).any(|p| {
            !matches!(&p.data, PartData::Text(t) if t.is_empty())
                || p.thought_signature.is_some()
                || !p.extra.is_empty()
        })
}

#[cfg(test)]
mod tests;
