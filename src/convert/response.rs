//! Non-streaming Gemini → OpenAI conversion and usage mapping, on the typed
//! [`GenerateContentResponse`] (whose own methods hold the content and empty-reply rules).
pub(crate) mod logprobs;
pub(crate) mod parts;

use std::collections::HashMap;

use serde_json::Value;

use crate::wire::gemini::{
    Candidate, FinishReason as GeminiFinish, GenerateContentResponse, UsageMetadata,
};
use crate::wire::openai_response::{
    ChatCompletion, Choice, FinishReason, Message, UsageObject, completion_id, unix_now,
};
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

fn is_envelope(o: &serde_json::Map<String, Value>) -> bool {
    o.get("response").is_some_and(Value::is_object) && !o.contains_key("candidates")
}

/// A Gemini response from JSON, enveloped (Code Assist) or bare (the Gemini API).
pub fn parse_response(v: Value) -> Result<GenerateContentResponse, serde_json::Error> {
    serde_json::from_value(unwrap_envelope(v))
}

/// Tests write upstream answers as JSON; this is how they become what the translators take.
#[cfg(test)]
pub(crate) fn typed(v: &Value) -> GenerateContentResponse {
    parse_response(v.clone()).expect("a Gemini response")
}

/// A non-stream `chat.completion` for the Gemini response, serialised straight to the body.
pub fn gemini_to_openai<'a>(
    r: &GenerateContentResponse,
    opts: &'a ResponseOptions,
) -> ChatCompletion<'a> {
    let mut choices: Vec<Choice> = r
        .candidates
        .iter()
        .enumerate()
        .map(|(pos, c)| choice(pos, c, opts))
        .collect();
    if choices.is_empty() {
        // The reference returns `choices: []`, which crashes clients that read choices[0]
        // (issue #58). A blocked prompt is a real answer: an empty content_filter choice.
        let finish = if r.block_reason().is_some() {
            FinishReason::ContentFilter
        } else {
            FinishReason::Stop
        };
        choices.push(Choice {
            index: 0,
            message: Message {
                role: "assistant",
                content: Some(String::new()),
                tool_calls: None,
                reasoning_content: None,
            },
            finish_reason: finish.as_str(),
            logprobs: None,
        });
    }
    ChatCompletion {
        id: completion_id(),
        object: "chat.completion",
        created: unix_now(),
        model: &opts.model,
        choices,
        usage: usage_from_gemini(r).map(UsageObject),
    }
}

fn choice(pos: usize, cand: &Candidate, opts: &ResponseOptions) -> Choice {
    let mut asm = ContentAssembler::default();
    let mut content = String::new();
    let mut reasoning: Vec<&str> = Vec::new();
    let mut tool_calls: Vec<Value> = Vec::new();
    for part in cand.parts() {
        match classify_part(part, opts) {
            PartKind::Thought(t) => reasoning.push(t),
            PartKind::Text(t) => asm.push_text(t, &mut content),
            PartKind::Block(b) => asm.push_block(&b, &mut content),
            PartKind::ToolCall(c) => tool_calls.push(c.openai()),
            PartKind::Skip => {}
        }
    }
    let finish = FinishReason::from_gemini(finish_reason(cand), !tool_calls.is_empty());
    let (content, tool_calls) = if tool_calls.is_empty() {
        (Some(content), None)
    } else {
        ((!content.is_empty()).then_some(content), Some(tool_calls))
    };
    Choice {
        index: cand.index.unwrap_or(pos as u64),
        message: Message {
            role: "assistant",
            content,
            tool_calls,
            reasoning_content: (opts.return_thoughts && !reasoning.is_empty())
                .then(|| reasoning.join("\n\n")),
        },
        finish_reason: finish.as_str(),
        logprobs: logprobs::openai_logprobs(cand),
    }
}

pub(crate) fn finish_reason(cand: &Candidate) -> Option<&str> {
    cand.finish().map(GeminiFinish::as_str)
}

/// Token usage in OpenAI's convention (see [`TokenUsage`]): prompt = prompt + tool-use
/// prompt tokens, completion = candidates + thoughts, total = `totalTokenCount` (never less
/// than prompt + completion). `None` when the response carries no usage.
pub fn usage_from_gemini(r: &GenerateContentResponse) -> Option<TokenUsage> {
    let m = r.usage_metadata.as_ref()?;
    if **m == UsageMetadata::default() {
        return None;
    }
    let n = |v: Option<u64>| v.unwrap_or(0);
    // Saturating: the counts come from Google and are not trusted to fit.
    let prompt = n(m.prompt_token_count).saturating_add(n(m.tool_use_prompt_token_count));
    let reasoning = n(m.thoughts_token_count);
    let completion = n(m.candidates_token_count).saturating_add(reasoning);
    Some(TokenUsage {
        prompt,
        completion,
        reasoning,
        cached: n(m.cached_content_token_count),
        total: n(m.total_token_count).max(prompt.saturating_add(completion)),
    })
}

#[cfg(test)]
mod tests;
