//! OpenAI chat-completion response shapes: ids, finish reasons, usage and the chunk envelope.
//!
//! Responses are built as `serde_json::Value` because their content is assembled from
//! upstream JSON we do not own; these helpers keep the shapes in one place.
use std::cell::OnceCell;
use std::ops::AddAssign;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageObject(pub TokenUsage);

impl Serialize for UsageObject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let u = &self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("prompt_tokens", &u.prompt)?;
        m.serialize_entry("completion_tokens", &u.completion)?;
        m.serialize_entry("total_tokens", &u.total)?;
        if u.cached > 0 {
            m.serialize_entry("prompt_tokens_details", &Details("cached_tokens", u.cached))?;
        }
        if u.reasoning > 0 {
            m.serialize_entry(
                "completion_tokens_details",
                &Details("reasoning_tokens", u.reasoning),
            )?;
        }
        m.end()
    }
}

/// `{"<name>": n}`.
struct Details(&'static str, u64);

impl Serialize for Details {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(self.0, &self.1)?;
        m.end()
    }
}

/// [`UsageObject`] as a JSON value.
pub fn openai_usage(u: &TokenUsage) -> Value {
    serde_json::to_value(UsageObject(*u)).unwrap_or(Value::Null)
}

/// A non-streaming `chat.completion`, serialised straight to the response body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatCompletion<'a> {
    pub id: String,
    pub object: &'static str,
    pub created: i64,
    pub model: &'a str,
    pub choices: Vec<Choice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageObject>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    pub index: u64,
    pub message: Message,
    pub finish_reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
}

/// The assistant message: `content` is always present (null beside tool calls when empty).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub role: &'static str,
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
}

/// The `delta` of a streamed choice: only what this chunk adds, in OpenAI's field order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<Value>>,
}

/// What a chunk says about usage: nothing, `null` (every chunk with `include_usage`), or
/// the counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ChunkUsage {
    #[default]
    Absent,
    Null,
    Counts(TokenUsage),
}

/// One `chat.completion.chunk` without the header every chunk of the stream shares.
#[derive(Debug, Clone, PartialEq)]
pub enum Chunk {
    /// A single choice's delta, or its final `finish_reason`.
    Choice {
        index: u64,
        delta: Delta,
        finish: Option<FinishReason>,
        logprobs: Option<Value>,
        usage: ChunkUsage,
    },
    /// The `stream_options.include_usage` trailer: no choices, the full usage.
    Usage(TokenUsage),
}

/// Identity shared by all chunks of one streamed response (OpenAI clients key on `id`, and a
/// per-chunk `created` confuses some of them; the reference recomputes it per chunk).
#[derive(Debug, Clone)]
pub struct ChunkHeader {
    pub id: String,
    pub created: i64,
    pub model: String,
    /// `{"id":...,"object":...,"created":...,"model":...` as JSON, written on first use.
    prefix: OnceCell<Vec<u8>>,
}

impl ChunkHeader {
    pub fn new(model: &str) -> Self {
        Self {
            id: completion_id(),
            created: unix_now(),
            model: model.to_string(),
            prefix: OnceCell::new(),
        }
    }

    /// Appends `chunk` with this header as an SSE frame, `data: {...}\n\n`: the same bytes
    /// as serialising [`HeadedChunk`], but the header part, the same in every chunk, is
    /// written once per stream and copied after that.
    pub fn write_frame(&self, chunk: &Chunk, out: &mut Vec<u8>) {
        let prefix = self.prefix.get_or_init(|| {
            let mut p = Vec::with_capacity(128);
            p.extend_from_slice(b"{\"id\":");
            json_into(&mut p, &self.id);
            p.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
            json_into(&mut p, &self.created);
            p.extend_from_slice(b",\"model\":");
            json_into(&mut p, &self.model);
            p
        });
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(prefix);
        match chunk {
            Chunk::Choice {
                index,
                delta,
                finish,
                logprobs,
                usage,
            } => {
                out.extend_from_slice(b",\"choices\":[");
                let choice = ChunkChoice {
                    index: *index,
                    delta,
                    finish_reason: finish.map(FinishReason::as_str),
                    logprobs: logprobs.as_ref(),
                };
                json_into(out, &choice);
                out.push(b']');
                match usage {
                    ChunkUsage::Absent => {}
                    ChunkUsage::Null => out.extend_from_slice(b",\"usage\":null"),
                    ChunkUsage::Counts(u) => {
                        out.extend_from_slice(b",\"usage\":");
                        json_into(out, &UsageObject(*u));
                    }
                }
            }
            Chunk::Usage(u) => {
                out.extend_from_slice(b",\"choices\":[],\"usage\":");
                json_into(out, &UsageObject(*u));
            }
        }
        out.extend_from_slice(b"}\n\n");
    }

    /// `chunk` with this header, ready to serialise.
    pub fn with<'a>(&'a self, chunk: &'a Chunk) -> HeadedChunk<'a> {
        HeadedChunk {
            header: self,
            chunk,
        }
    }
}

/// A chunk with its header: `{id, object, created, model, choices, [usage]}`.
pub struct HeadedChunk<'a> {
    header: &'a ChunkHeader,
    chunk: &'a Chunk,
}

impl Serialize for HeadedChunk<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = self.header;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &h.id)?;
        m.serialize_entry("object", "chat.completion.chunk")?;
        m.serialize_entry("created", &h.created)?;
        m.serialize_entry("model", &h.model)?;
        match self.chunk {
            Chunk::Choice {
                index,
                delta,
                finish,
                logprobs,
                usage,
            } => {
                let choice = ChunkChoice {
                    index: *index,
                    delta,
                    finish_reason: finish.map(FinishReason::as_str),
                    logprobs: logprobs.as_ref(),
                };
                m.serialize_entry("choices", &[choice])?;
                match usage {
                    ChunkUsage::Absent => {}
                    ChunkUsage::Null => m.serialize_entry("usage", &())?,
                    ChunkUsage::Counts(u) => m.serialize_entry("usage", &UsageObject(*u))?,
                }
            }
            Chunk::Usage(u) => {
                m.serialize_entry("choices", &[(); 0])?;
                m.serialize_entry("usage", &UsageObject(*u))?;
            }
        }
        m.end()
    }
}

/// Compact JSON for `v`, appended. Writing to a `Vec` cannot fail, and these types always
/// serialise.
fn json_into(out: &mut Vec<u8>, v: &impl Serialize) {
    let _ = serde_json::to_writer(out, v);
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u64,
    delta: &'a Delta,
    finish_reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<&'a Value>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

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
