//! OpenAI chat-completion response shapes: ids, finish reasons, usage and the chunk envelope.
//!
//! Responses are built as `serde_json::Value` because their content is assembled from
//! upstream JSON we do not own; these helpers keep the shapes in one place.
use std::ops::AddAssign;

use serde_json::{Value, json};

/// `chatcmpl-<uuid>`: the prefix some clients check for, and unique per response.
pub fn completion_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::new_v4().simple())
}

/// `call_` + 24 hex chars, for function calls the upstream sent without an id.
pub fn tool_call_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("call_{}", &hex[..24])
}

pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// OpenAI's finish reasons (the deprecated `function_call` is never produced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ToolCalls => "tool_calls",
            Self::ContentFilter => "content_filter",
        }
    }

    /// Map a Gemini `finishReason`. All block reasons are `content_filter` (the reference
    /// only maps SAFETY/RECITATION); anything unknown or missing is `stop`, because a null or
    /// exotic value makes agent clients loop. With a tool call, a normal stop becomes
    /// `tool_calls`, while a cut or a block keeps its own reason so clients do not run a
    /// call that may be incomplete.
    pub fn from_gemini(reason: Option<&str>, saw_tool_call: bool) -> Self {
        let mapped = match reason {
            Some("MAX_TOKENS") => Self::Length,
            Some(
                "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII"
                | "IMAGE_SAFETY",
            ) => Self::ContentFilter,
            _ => Self::Stop,
        };
        let normal_stop = matches!(reason, None | Some("STOP" | "FINISH_REASON_UNSPECIFIED"));
        if saw_tool_call && normal_stop {
            Self::ToolCalls
        } else {
            mapped
        }
    }
}

/// Token counts in OpenAI's convention: `prompt` includes cached tokens, `completion`
/// includes reasoning tokens, so `prompt + completion == total`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    pub prompt: u64,
    pub completion: u64,
    pub reasoning: u64,
    pub cached: u64,
    pub total: u64,
}

/// Saturating: the counts come from Google and are not trusted to fit.
impl AddAssign for TokenUsage {
    fn add_assign(&mut self, o: Self) {
        self.prompt = self.prompt.saturating_add(o.prompt);
        self.completion = self.completion.saturating_add(o.completion);
        self.reasoning = self.reasoning.saturating_add(o.reasoning);
        self.cached = self.cached.saturating_add(o.cached);
        self.total = self.total.saturating_add(o.total);
    }
}

/// The OpenAI `usage` object, in OpenAI's own convention: `prompt_tokens` includes cached
/// tokens and `completion_tokens` includes thoughts, so prompt + completion = total. The
/// reference subtracts cached tokens from the prompt and leaves thoughts out of the completion,
/// so its numbers do not add up; billing dashboards that price reasoning as output get the
/// right total from ours. Details appear only when non-zero, as OpenAI does.
pub fn openai_usage(u: &TokenUsage) -> Value {
    let mut v = json!({
        "prompt_tokens": u.prompt,
        "completion_tokens": u.completion,
        "total_tokens": u.total,
    });
    if u.cached > 0 {
        v["prompt_tokens_details"] = json!({"cached_tokens": u.cached});
    }
    if u.reasoning > 0 {
        v["completion_tokens_details"] = json!({"reasoning_tokens": u.reasoning});
    }
    v
}

/// Identity shared by all chunks of one streamed response (OpenAI clients key on `id`, and a
/// per-chunk `created` confuses some of them; the reference recomputes it per chunk).
#[derive(Debug, Clone)]
pub struct ChunkHeader {
    pub id: String,
    pub created: i64,
    pub model: String,
}

impl ChunkHeader {
    pub fn new(model: &str) -> Self {
        Self {
            id: completion_id(),
            created: unix_now(),
            model: model.to_string(),
        }
    }

    /// One `chat.completion.chunk` with a single choice.
    pub fn chunk(&self, index: u64, delta: Value, finish: Option<FinishReason>) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": index,
                "delta": delta,
                "finish_reason": finish.map(FinishReason::as_str),
            }],
        })
    }

    /// The `stream_options.include_usage` trailer: no choices, the full usage.
    pub fn usage_chunk(&self, usage: &TokenUsage) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": openai_usage(usage),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_expected_shape() {
        let c = tool_call_id();
        assert_eq!(c.len(), 5 + 24);
        assert!(c[5..].chars().all(|ch| ch.is_ascii_hexdigit()));
        assert!(completion_id().starts_with("chatcmpl-"));
        assert_ne!(completion_id(), completion_id());
    }

    #[test]
    fn finish_reason_table() {
        use FinishReason::*;
        let f = FinishReason::from_gemini;
        assert_eq!(f(Some("STOP"), false), Stop);
        assert_eq!(f(None, false), Stop);
        assert_eq!(f(Some("MAX_TOKENS"), false), Length);
        for r in [
            "SAFETY",
            "RECITATION",
            "BLOCKLIST",
            "PROHIBITED_CONTENT",
            "SPII",
            "IMAGE_SAFETY",
        ] {
            assert_eq!(f(Some(r), false), ContentFilter, "{r}");
            assert_eq!(f(Some(r), true), ContentFilter, "{r}");
        }
        for r in [
            "OTHER",
            "LANGUAGE",
            "MALFORMED_FUNCTION_CALL",
            "UNEXPECTED_TOOL_CALL",
        ] {
            assert_eq!(f(Some(r), false), Stop, "{r}");
        }
        assert_eq!(f(Some("STOP"), true), ToolCalls);
        assert_eq!(f(None, true), ToolCalls);
        assert_eq!(f(Some("MAX_TOKENS"), true), Length);
    }

    #[test]
    fn usage_details_only_when_non_zero() {
        let u = TokenUsage {
            prompt: 3,
            completion: 4,
            total: 7,
            ..Default::default()
        };
        assert_eq!(
            openai_usage(&u),
            json!({"prompt_tokens":3,"completion_tokens":4,"total_tokens":7})
        );
    }
}
