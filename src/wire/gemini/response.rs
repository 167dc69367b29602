//! Typed `GenerateContentResponse`, shared by Code Assist (inside its `response` envelope) and
//! the official upstreams. The rules every translator and mode needs ("does this chunk have
//! content?", "is this 200 empty?", "how did it finish?") live on these types, once.
//!
//! Unknown fields are kept in `extra` maps at every level, so a passthrough (the Gemini
//! surface) re-serialises what Google sent, including fields added after this was written.
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use super::SKIP_THOUGHT_SIGNATURE;

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Candidate>,
    // The three below are boxed: most stream events carry none of them, and a response
    // moves through several stream stages per event, so its size is copied each time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_feedback: Option<Box<PromptFeedback>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<Box<UsageMetadata>>,
    /// An in-band `{"error": {...}}` object some 200 answers and stream events carry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Box<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_reason: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_token_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates_token_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thoughts_token_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_use_prompt_token_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_content_token_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_token_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<Vec<ModalityTokenCount>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_tokens_details: Option<Vec<ModalityTokenCount>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates_tokens_details: Option<Vec<ModalityTokenCount>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_use_prompt_tokens_details: Option<Vec<ModalityTokenCount>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thoughts_tokens_details: Option<Vec<ModalityTokenCount>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Tokens of one modality (`{"modality": "TEXT", "tokenCount": 13}`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModalityTokenCount {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modality: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_count: Option<u64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Why a candidate stopped. Unknown reasons are kept verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    MaxTokens,
    /// SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII, IMAGE_SAFETY, ...: the answer
    /// was withheld; another credential would get the same.
    Filtered(String),
    MalformedFunctionCall,
    Other(String),
}

impl FinishReason {
    pub fn parse(s: &str) -> Self {
        match s {
            "STOP" => Self::Stop,
            "MAX_TOKENS" => Self::MaxTokens,
            "MALFORMED_FUNCTION_CALL" | "UNEXPECTED_TOOL_CALL" => Self::MalformedFunctionCall,
            "SAFETY"
            | "RECITATION"
            | "BLOCKLIST"
            | "PROHIBITED_CONTENT"
            | "SPII"
            | "IMAGE_SAFETY"
            | "IMAGE_PROHIBITED_CONTENT"
            | "IMAGE_RECITATION" => Self::Filtered(s.to_string()),
            other => Self::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Stop => "STOP",
            Self::MaxTokens => "MAX_TOKENS",
            Self::MalformedFunctionCall => "MALFORMED_FUNCTION_CALL",
            Self::Filtered(s) | Self::Other(s) => s,
        }
    }

    pub fn is_filtered(&self) -> bool {
        matches!(self, Self::Filtered(_))
    }
}

impl Serialize for FinishReason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One part: exactly one kind of data, plus the metadata any kind may carry.
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    pub data: PartData,
    pub thought_signature: Option<String>,
    /// Fields this gateway does not model (`videoMetadata`, `partMetadata`, ...).
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PartData {
    Text(String),
    /// A `text` part with `thought: true`.
    Thought(String),
    FunctionCall(FunctionCall),
    FunctionResponse(Value),
    InlineData(Blob),
    FileData(Value),
    ExecutableCode(Value),
    CodeExecutionResult(Value),
    /// None of the known data fields (everything is in `extra`).
    Unknown,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCall {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    #[serde(default)]
    pub mime_type: String,
    #[serde(default)]
    pub data: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Part {
    pub fn text(t: impl Into<String>) -> Self {
        Self {
            data: PartData::Text(t.into()),
            thought_signature: None,
            extra: Map::new(),
        }
    }

    pub fn is_thought(&self) -> bool {
        matches!(self.data, PartData::Thought(_))
    }

    /// Output a client can use: visible non-blank text, a call, media or code. Thoughts and
    /// blank text are not.
    pub fn has_content(&self) -> bool {
        match &self.data {
            PartData::Text(t) => !t.trim().is_empty(),
            PartData::FunctionCall(_)
            | PartData::InlineData(_)
            | PartData::ExecutableCode(_)
            | PartData::CodeExecutionResult(_) => true,
            PartData::Thought(_)
            | PartData::FunctionResponse(_)
            | PartData::FileData(_)
            | PartData::Unknown => false,
        }
    }

    /// The gateway's own `...` placeholder echoed back with the bypass signature.
    pub fn is_placeholder(&self) -> bool {
        matches!(&self.data, PartData::Text(t) if matches!(t.trim(), "..." | "…"))
            && self.thought_signature.as_deref() == Some(SKIP_THOUGHT_SIGNATURE)
    }
}

impl Serialize for Part {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        match &self.data {
            PartData::Text(t) => m.serialize_entry("text", t)?,
            PartData::Thought(t) => {
                m.serialize_entry("text", t)?;
                m.serialize_entry("thought", &true)?;
            }
            PartData::FunctionCall(c) => m.serialize_entry("functionCall", c)?,
            PartData::FunctionResponse(v) => m.serialize_entry("functionResponse", v)?,
            PartData::InlineData(b) => m.serialize_entry("inlineData", b)?,
            PartData::FileData(v) => m.serialize_entry("fileData", v)?,
            PartData::ExecutableCode(v) => m.serialize_entry("executableCode", v)?,
            PartData::CodeExecutionResult(v) => m.serialize_entry("codeExecutionResult", v)?,
            PartData::Unknown => {}
        }
        if let Some(sig) = &self.thought_signature {
            m.serialize_entry("thoughtSignature", sig)?;
        }
        for (k, v) in &self.extra {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
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

impl Candidate {
    pub fn parts(&self) -> &[Part] {
        self.content.as_ref().map_or(&[], |c| c.parts.as_slice())
    }

    pub fn finish(&self) -> Option<&FinishReason> {
        self.finish_reason.as_ref()
    }

    pub fn has_content(&self) -> bool {
        self.parts().iter().any(Part::has_content)
    }

    /// The visible text of the candidate, thoughts excluded.
    pub fn text(&self) -> String {
        self.parts()
            .iter()
            .filter_map(|p| match &p.data {
                PartData::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The first thought signature any part carries.
    pub fn thought_signature(&self) -> Option<&str> {
        self.parts()
            .iter()
            .find_map(|p| p.thought_signature.as_deref())
    }
}

impl GenerateContentResponse {
    /// Copies everything but the candidates from `r`: what a response says about itself as
    /// a whole (usage, feedback, model version, unknown fields), for the last of the chunks
    /// it is cut into.
    pub fn take_whole_fields_of(&mut self, r: &GenerateContentResponse) {
        let GenerateContentResponse {
            candidates: _,
            prompt_feedback,
            usage_metadata,
            error,
            model_version,
            create_time,
            response_id,
            extra,
        } = r;
        self.prompt_feedback.clone_from(prompt_feedback);
        self.usage_metadata.clone_from(usage_metadata);
        self.error.clone_from(error);
        self.model_version.clone_from(model_version);
        self.create_time.clone_from(create_time);
        self.response_id.clone_from(response_id);
        self.extra.clone_from(extra);
    }

    /// `promptFeedback.blockReason`, when the prompt itself was blocked.
    pub fn block_reason(&self) -> Option<&str> {
        self.prompt_feedback
            .as_ref()
            .and_then(|f| f.block_reason.as_deref())
            .filter(|s| !s.is_empty() && *s != "BLOCK_REASON_UNSPECIFIED")
    }

    /// Any candidate has output a client can use.
    pub fn has_content(&self) -> bool {
        self.candidates.iter().any(Candidate::has_content)
    }

    /// The first candidate's finish reason.
    pub fn finish(&self) -> Option<&FinishReason> {
        self.candidates.iter().find_map(Candidate::finish)
    }

    /// The first candidate's visible text.
    pub fn text(&self) -> String {
        self.candidates
            .first()
            .map(Candidate::text)
            .unwrap_or_default()
    }

    pub fn thought_signature(&self) -> Option<&str> {
        self.candidates
            .iter()
            .find_map(Candidate::thought_signature)
    }

    /// An unusable 200, which the dispatcher retries like a failure. A blocked prompt or a
    /// filtered candidate is a genuine answer (another credential would get the same), so
    /// neither counts as empty.
    pub fn is_empty_reply(&self) -> Option<EmptyKind> {
        if self.error.is_some() {
            return Some(EmptyKind::ErrorBody);
        }
        if self.block_reason().is_some() {
            return None;
        }
        if self.candidates.is_empty() {
            return Some(EmptyKind::NoCandidates);
        }
        if self
            .candidates
            .iter()
            .any(|c| c.finish().is_some_and(FinishReason::is_filtered))
            || self.has_content()
        {
            return None;
        }
        let saw_thought = self
            .candidates
            .iter()
            .flat_map(Candidate::parts)
            .any(|p| matches!(&p.data, PartData::Thought(t) if !t.is_empty()));
        Some(if saw_thought {
            EmptyKind::ThoughtsOnly
        } else {
            EmptyKind::EmptyText
        })
    }
}

mod de;
pub(crate) use de::Key;

#[cfg(test)]
mod tests;
