//! Non-streaming Gemini → OpenAI conversion, usage mapping and empty-reply detection.
//!
//! Everything works on `serde_json::Value`: the upstream adds fields over time and we must
//! not drop what we do not model.
pub(crate) mod logprobs;
pub(crate) mod parts;

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::wire::openai_response::{FinishReason, completion_id, unix_now};
pub use crate::wire::openai_response::{TokenUsage, openai_usage};
use parts::{ContentAssembler, PartKind, classify_part};

#[derive(Debug, Clone, Default)]
pub struct ResponseOptions {
    /// The model name the client asked for, shown back to it.
    pub model: String,
    /// Sanitized tool name → the client's original name.
    pub tool_name_map: HashMap<String, String>,
    /// When false, thought parts are dropped instead of becoming `reasoning_content`.
    pub return_thoughts: bool,
}

/// `{response, traceId}` → `response`. A body that is already unwrapped is returned as is.
pub fn unwrap_envelope(v: Value) -> Value {
    match v {
        Value::Object(mut o) if is_envelope(&o) => o.remove("response").unwrap_or(Value::Null),
        other => other,
    }
}

/// Borrowing variant of [`unwrap_envelope`].
pub fn inner(v: &Value) -> &Value {
    match v {
        Value::Object(o) if is_envelope(o) => &o["response"],
        other => other,
    }
}

fn is_envelope(o: &serde_json::Map<String, Value>) -> bool {
    o.get("response").is_some_and(Value::is_object) && !o.contains_key("candidates")
}

/// A non-stream `chat.completion` for the (possibly enveloped) Gemini response.
pub fn gemini_to_openai(resp: &Value, opts: &ResponseOptions) -> Value {
    let r = inner(resp);
    let candidates = r
        .get("candidates")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut choices: Vec<Value> = candidates
        .iter()
        .enumerate()
        .map(|(pos, c)| choice(pos, c, opts))
        .collect();
    if choices.is_empty() {
        // The reference returns `choices: []`, which crashes clients that read choices[0]
        // (issue #58). A blocked prompt is a real answer: an empty content_filter choice.
        let finish = if block_reason(r).is_some() {
            FinishReason::ContentFilter
        } else {
            FinishReason::Stop
        };
        choices.push(json!({
            "index": 0,
            "message": {"role": "assistant", "content": ""},
            "finish_reason": finish.as_str(),
        }));
    }
    let mut out = json!({
        "id": completion_id(),
        "object": "chat.completion",
        "created": unix_now(),
        "model": opts.model,
        "choices": choices,
    });
    if let Some(u) = usage_from_gemini(r) {
        out["usage"] = openai_usage(&u);
    }
    out
}

fn choice(pos: usize, cand: &Value, opts: &ResponseOptions) -> Value {
    let mut asm = ContentAssembler::default();
    let mut content = String::new();
    let mut reasoning: Vec<&str> = Vec::new();
    let mut tool_calls: Vec<Value> = Vec::new();
    for part in candidate_parts(cand) {
        match classify_part(part, opts) {
            PartKind::Thought(t) => reasoning.push(t),
            PartKind::Text(t) => content.push_str(&asm.text(t)),
            PartKind::Block(b) => content.push_str(&asm.block(&b)),
            PartKind::ToolCall(c) => tool_calls.push(c),
            PartKind::Skip => {}
        }
    }
    let finish = FinishReason::from_gemini(finish_reason(cand), !tool_calls.is_empty());
    let mut message = json!({"role": "assistant", "content": content});
    if !tool_calls.is_empty() {
        if content.is_empty() {
            message["content"] = Value::Null;
        }
        message["tool_calls"] = Value::Array(tool_calls);
    }
    if opts.return_thoughts && !reasoning.is_empty() {
        message["reasoning_content"] = Value::String(reasoning.join("\n\n"));
    }
    let mut choice = json!({
        "index": cand.get("index").and_then(Value::as_u64).unwrap_or(pos as u64),
        "message": message,
        "finish_reason": finish.as_str(),
    });
    if let Some(l) = logprobs::openai_logprobs(cand) {
        choice["logprobs"] = l;
    }
    choice
}

pub(crate) fn candidate_parts(cand: &Value) -> &[Value] {
    cand.pointer("/content/parts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

pub(crate) fn finish_reason(cand: &Value) -> Option<&str> {
    cand.get("finishReason").and_then(Value::as_str)
}

pub(crate) fn block_reason(r: &Value) -> Option<&str> {
    r.pointer("/promptFeedback/blockReason")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && *s != "BLOCK_REASON_UNSPECIFIED")
}

/// Token usage in OpenAI's convention (see [`TokenUsage`]): prompt = prompt + tool-use
/// prompt tokens, completion = candidates + thoughts, total = `totalTokenCount` (never less
/// than prompt + completion). `None` when the response carries no usage.
pub fn usage_from_gemini(resp: &Value) -> Option<TokenUsage> {
    let m = inner(resp).get("usageMetadata")?.as_object()?;
    if m.is_empty() {
        return None;
    }
    let n = |k: &str| m.get(k).and_then(Value::as_u64).unwrap_or(0);
    let prompt = n("promptTokenCount") + n("toolUsePromptTokenCount");
    let reasoning = n("thoughtsTokenCount");
    let completion = n("candidatesTokenCount") + reasoning;
    Some(TokenUsage {
        prompt,
        completion,
        reasoning,
        cached: n("cachedContentTokenCount"),
        total: n("totalTokenCount").max(prompt + completion),
    })
}

/// Why a 200 answer holds nothing a client can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyKind {
    /// No candidates and no block reason (`{"response":{}}` and the like).
    NoCandidates,
    /// Candidates whose visible text is empty or whitespace.
    EmptyText,
    /// Only thought parts (e.g. the thinking budget ate `maxOutputTokens`).
    ThoughtsOnly,
    /// A 200 whose body is a `{"error": ...}` object.
    ErrorBody,
}

/// Detect an unusable 200 so the dispatcher can retry it like a failure. Function calls,
/// images and code blocks are output; a blocked prompt (`promptFeedback.blockReason`) or a
/// candidate stopped by a safety-type finish reason is a genuine answer (content_filter) that
/// another credential would get too, so neither counts as empty.
pub fn is_empty_reply(resp: &Value) -> Option<EmptyKind> {
    let r = inner(resp);
    if r.get("error").is_some() {
        return Some(EmptyKind::ErrorBody);
    }
    if block_reason(r).is_some() {
        return None;
    }
    let candidates = r
        .get("candidates")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty());
    let Some(candidates) = candidates else {
        return Some(EmptyKind::NoCandidates);
    };
    let mut saw_thought = false;
    for cand in candidates {
        if FinishReason::from_gemini(finish_reason(cand), false) == FinishReason::ContentFilter {
            return None;
        }
        for part in candidate_parts(cand) {
            let is_thought = part.get("thought").and_then(Value::as_bool) == Some(true);
            let text = part.get("text").and_then(Value::as_str);
            match text {
                Some(t) if is_thought => saw_thought |= !t.is_empty(),
                Some(t) if !t.trim().is_empty() => return None,
                Some(_) => {}
                None if [
                    "functionCall",
                    "inlineData",
                    "executableCode",
                    "codeExecutionResult",
                ]
                .iter()
                .any(|k| part.get(k).is_some()) =>
                {
                    return None;
                }
                None => {}
            }
        }
    }
    Some(if saw_thought {
        EmptyKind::ThoughtsOnly
    } else {
        EmptyKind::EmptyText
    })
}

#[cfg(test)]
mod tests;
