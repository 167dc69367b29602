//! OpenAI Responses API shapes (`POST /v1/responses`): the input items and tools a request
//! carries, and the response object, output items and stream events the gateway sends back.
//!
//! Input items are read one at a time by the converter (so errors name `input[3].content[1]`);
//! the types here are the per-item shapes. Unknown fields are ignored everywhere. Output types
//! serialise exactly as OpenAI's do and deserialise again, because stored responses are read
//! back as the input of a follow-up (`previous_response_id`).
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::openai::InputAudio;
use super::openai_response::TokenUsage;

/// A random lowercase-hex suffix: the id shape OpenAI uses after its prefixes.
fn hex_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// `resp_<hex>`.
pub fn response_id() -> String {
    hex_id("resp_")
}

/// An output item id with the prefix OpenAI uses for that kind (`msg_`, `rs_`, `fc_`, ...).
pub fn item_id(prefix: &str) -> String {
    hex_id(prefix)
}

// ---- input ---------------------------------------------------------------------------------

/// One part of a message's content (or of a tool output given as a list).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputPart {
    /// `text` is what some hand-written clients send; the API's name is `input_text`.
    #[serde(alias = "text")]
    InputText {
        text: String,
    },
    /// An earlier answer replayed as history.
    OutputText {
        text: String,
    },
    Refusal {
        #[serde(default)]
        refusal: String,
    },
    InputImage {
        #[serde(default)]
        image_url: Option<String>,
        #[serde(default)]
        file_id: Option<String>,
    },
    InputFile {
        #[serde(default)]
        filename: Option<String>,
        #[serde(default)]
        file_data: Option<String>,
        #[serde(default)]
        file_url: Option<String>,
        #[serde(default)]
        file_id: Option<String>,
    },
    InputAudio {
        input_audio: InputAudio,
    },
    #[serde(other)]
    Unsupported,
}

/// A `function_call` the model made in an earlier turn.
#[derive(Debug, Deserialize)]
pub struct FunctionCallItem {
    pub call_id: String,
    pub name: String,
    /// A JSON string, as the API sends it; some clients send the object itself.
    #[serde(default)]
    pub arguments: Value,
    /// Set for a tool declared inside a `namespace` tool group.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// A `custom_tool_call`: free-form text input for a `custom` tool.
#[derive(Debug, Deserialize)]
pub struct CustomToolCallItem {
    pub call_id: String,
    pub name: String,
    #[serde(default)]
    pub input: String,
    #[serde(default)]
    pub namespace: Option<String>,
}

/// A `local_shell_call`.
#[derive(Debug, Deserialize)]
pub struct LocalShellCallItem {
    #[serde(default)]
    pub call_id: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    pub action: LocalShellAction,
}

/// A `reasoning` item: only its `encrypted_content` matters on input (the summary text is
/// the model's own and is never replayed as prompt text).
#[derive(Debug, Deserialize)]
pub struct ReasoningItem {
    #[serde(default)]
    pub encrypted_content: Option<String>,
}

// ---- output --------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    InProgress,
    Completed,
    Incomplete,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    Message(OutputMessage),
    Reasoning(ReasoningOut),
    FunctionCall(FunctionCallOut),
    CustomToolCall(CustomToolCallOut),
    LocalShellCall(LocalShellCallOut),
    WebSearchCall(WebSearchCallOut),
}

impl OutputItem {
    pub fn id(&self) -> &str {
        match self {
            Self::Message(m) => &m.id,
            Self::Reasoning(r) => &r.id,
            Self::FunctionCall(c) => &c.id,
            Self::CustomToolCall(c) => &c.id,
            Self::LocalShellCall(c) => &c.id,
            Self::WebSearchCall(c) => &c.id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputMessage {
    pub id: String,
    pub status: ItemStatus,
    pub role: String,
    pub content: Vec<OutputText>,
}

/// An `output_text` content part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputText {
    #[serde(rename = "type")]
    pub kind: OutputTextType,
    pub text: String,
    #[serde(default)]
    pub annotations: Vec<Value>,
    #[serde(default)]
    pub logprobs: Vec<Value>,
}

impl OutputText {
    pub fn new(text: String) -> Self {
        Self {
            kind: OutputTextType::OutputText,
            text,
            annotations: Vec::new(),
            logprobs: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputTextType {
    OutputText,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReasoningOut {
    pub id: String,
    pub summary: Vec<SummaryText>,
    /// The upstream's thought signatures, for the follow-up turn (see the converter's
    /// `signature` module); present when the client asked for `reasoning.encrypted_content`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_content: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryText {
    #[serde(rename = "type")]
    pub kind: SummaryTextType,
    pub text: String,
}

impl SummaryText {
    pub fn new(text: String) -> Self {
        Self {
            kind: SummaryTextType::SummaryText,
            text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SummaryTextType {
    SummaryText,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallOut {
    pub id: String,
    pub call_id: String,
    pub name: String,
    pub arguments: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub status: ItemStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomToolCallOut {
    pub id: String,
    pub call_id: String,
    pub name: String,
    pub input: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub status: ItemStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalShellCallOut {
    pub id: String,
    pub call_id: String,
    pub status: ItemStatus,
    pub action: LocalShellAction,
}

/// `{"type": "exec", "command": [...], ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalShellAction {
    #[serde(rename = "type", default = "exec")]
    pub kind: String,
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub working_directory: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub env: Map<String, Value>,
    #[serde(default)]
    pub user: Option<String>,
}

fn exec() -> String {
    "exec".to_string()
}

/// `null` reads as an empty map (Codex sends `"env": null`).
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    Ok(Option::<Map<String, Value>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebSearchCallOut {
    pub id: String,
    pub status: ItemStatus,
    pub action: WebSearchAction,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebSearchAction {
    #[serde(rename = "type")]
    pub kind: String,
    pub query: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<WebSource>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebSource {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
}

// ---- the response object -------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseStatus {
    InProgress,
    Completed,
    Incomplete,
    Failed,
}

/// `usage` in the Responses convention: output tokens include reasoning tokens, input tokens
/// include cached ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ResponseUsage {
    pub input_tokens: u64,
    pub input_tokens_details: CachedTokens,
    pub output_tokens: u64,
    pub output_tokens_details: ReasoningTokens,
    pub total_tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CachedTokens {
    pub cached_tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReasoningTokens {
    pub reasoning_tokens: u64,
}

impl From<TokenUsage> for ResponseUsage {
    fn from(u: TokenUsage) -> Self {
        Self {
            input_tokens: u.prompt,
            input_tokens_details: CachedTokens {
                cached_tokens: u.cached,
            },
            output_tokens: u.completion,
            output_tokens_details: ReasoningTokens {
                reasoning_tokens: u.reasoning,
            },
            total_tokens: u.total,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncompleteDetails {
    /// `max_output_tokens` or `content_filter`.
    pub reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResponseError {
    pub code: String,
    pub message: String,
}

/// `reasoning` as the response echoes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReasoningEcho {
    pub effort: Option<String>,
    pub summary: Option<String>,
}

/// What a response says about the request that made it: the same in every snapshot of one
/// response (`response.created`, `response.completed`, `GET /v1/responses/{id}`). Fields the
/// client set are echoed back as sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseShell {
    pub id: String,
    pub created_at: i64,
    pub instructions: Value,
    pub max_output_tokens: Option<i64>,
    pub max_tool_calls: Option<i64>,
    pub model: String,
    pub parallel_tool_calls: bool,
    pub previous_response_id: Option<String>,
    pub reasoning: ReasoningEcho,
    pub store: bool,
    pub temperature: f64,
    pub text: Value,
    pub tool_choice: Value,
    pub tools: Value,
    pub top_p: f64,
    pub truncation: String,
    pub user: Option<String>,
    pub metadata: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_cache_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safety_identifier: Option<String>,
}

/// A whole `response` object: the shell plus how it went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseObject<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created_at: i64,
    pub status: ResponseStatus,
    pub background: bool,
    pub error: Option<ResponseError>,
    pub incomplete_details: Option<IncompleteDetails>,
    pub instructions: &'a Value,
    pub max_output_tokens: Option<i64>,
    pub max_tool_calls: Option<i64>,
    pub model: &'a str,
    pub output: &'a [OutputItem],
    pub parallel_tool_calls: bool,
    pub previous_response_id: Option<&'a str>,
    pub reasoning: &'a ReasoningEcho,
    pub service_tier: &'static str,
    pub store: bool,
    pub temperature: f64,
    pub text: &'a Value,
    pub tool_choice: &'a Value,
    pub tools: &'a Value,
    pub top_p: f64,
    pub truncation: &'a str,
    pub usage: Option<ResponseUsage>,
    pub user: Option<&'a str>,
    pub metadata: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_cache_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safety_identifier: Option<&'a str>,
}

impl ResponseShell {
    /// The response object in `status` with `output` so far.
    pub fn object<'a>(
        &'a self,
        status: ResponseStatus,
        output: &'a [OutputItem],
        usage: Option<ResponseUsage>,
    ) -> ResponseObject<'a> {
        ResponseObject {
            id: &self.id,
            object: "response",
            created_at: self.created_at,
            status,
            background: false,
            error: None,
            incomplete_details: None,
            instructions: &self.instructions,
            max_output_tokens: self.max_output_tokens,
            max_tool_calls: self.max_tool_calls,
            model: &self.model,
            output,
            parallel_tool_calls: self.parallel_tool_calls,
            previous_response_id: self.previous_response_id.as_deref(),
            reasoning: &self.reasoning,
            service_tier: "default",
            store: self.store,
            temperature: self.temperature,
            text: &self.text,
            tool_choice: &self.tool_choice,
            tools: &self.tools,
            top_p: self.top_p,
            truncation: &self.truncation,
            usage,
            user: self.user.as_deref(),
            metadata: &self.metadata,
            prompt_cache_key: self.prompt_cache_key.as_deref(),
            safety_identifier: self.safety_identifier.as_deref(),
        }
    }
}

// ---- stream events -------------------------------------------------------------------------

/// One Responses stream event; [`Sequenced`] adds its `sequence_number`.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum StreamEvent<'a> {
    #[serde(rename = "response.created")]
    Created { response: ResponseObject<'a> },
    #[serde(rename = "response.in_progress")]
    InProgress { response: ResponseObject<'a> },
    #[serde(rename = "response.completed")]
    Completed { response: ResponseObject<'a> },
    #[serde(rename = "response.incomplete")]
    Incomplete { response: ResponseObject<'a> },
    #[serde(rename = "response.failed")]
    Failed { response: ResponseObject<'a> },
    #[serde(rename = "response.output_item.added")]
    ItemAdded {
        output_index: usize,
        item: &'a OutputItem,
    },
    #[serde(rename = "response.output_item.done")]
    ItemDone {
        output_index: usize,
        item: &'a OutputItem,
    },
    #[serde(rename = "response.content_part.added")]
    ContentPartAdded {
        item_id: &'a str,
        output_index: usize,
        content_index: usize,
        part: &'a OutputText,
    },
    #[serde(rename = "response.content_part.done")]
    ContentPartDone {
        item_id: &'a str,
        output_index: usize,
        content_index: usize,
        part: &'a OutputText,
    },
    #[serde(rename = "response.output_text.delta")]
    OutputTextDelta {
        item_id: &'a str,
        output_index: usize,
        content_index: usize,
        delta: &'a str,
        logprobs: [(); 0],
    },
    #[serde(rename = "response.output_text.done")]
    OutputTextDone {
        item_id: &'a str,
        output_index: usize,
        content_index: usize,
        text: &'a str,
        logprobs: [(); 0],
    },
    #[serde(rename = "response.reasoning_summary_part.added")]
    SummaryPartAdded {
        item_id: &'a str,
        output_index: usize,
        summary_index: usize,
        part: &'a SummaryText,
    },
    #[serde(rename = "response.reasoning_summary_text.delta")]
    SummaryTextDelta {
        item_id: &'a str,
        output_index: usize,
        summary_index: usize,
        delta: &'a str,
    },
    #[serde(rename = "response.reasoning_summary_text.done")]
    SummaryTextDone {
        item_id: &'a str,
        output_index: usize,
        summary_index: usize,
        text: &'a str,
    },
    #[serde(rename = "response.reasoning_summary_part.done")]
    SummaryPartDone {
        item_id: &'a str,
        output_index: usize,
        summary_index: usize,
        part: &'a SummaryText,
    },
    #[serde(rename = "response.function_call_arguments.delta")]
    FunctionArgumentsDelta {
        item_id: &'a str,
        output_index: usize,
        delta: &'a str,
    },
    #[serde(rename = "response.function_call_arguments.done")]
    FunctionArgumentsDone {
        item_id: &'a str,
        output_index: usize,
        name: &'a str,
        arguments: &'a str,
    },
    #[serde(rename = "response.custom_tool_call_input.delta")]
    CustomInputDelta {
        item_id: &'a str,
        output_index: usize,
        delta: &'a str,
    },
    #[serde(rename = "response.custom_tool_call_input.done")]
    CustomInputDone {
        item_id: &'a str,
        output_index: usize,
        input: &'a str,
    },
}

impl StreamEvent<'_> {
    /// The SSE event name: the payload's `type`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Created { .. } => "response.created",
            Self::InProgress { .. } => "response.in_progress",
            Self::Completed { .. } => "response.completed",
            Self::Incomplete { .. } => "response.incomplete",
            Self::Failed { .. } => "response.failed",
            Self::ItemAdded { .. } => "response.output_item.added",
            Self::ItemDone { .. } => "response.output_item.done",
            Self::ContentPartAdded { .. } => "response.content_part.added",
            Self::ContentPartDone { .. } => "response.content_part.done",
            Self::OutputTextDelta { .. } => "response.output_text.delta",
            Self::OutputTextDone { .. } => "response.output_text.done",
            Self::SummaryPartAdded { .. } => "response.reasoning_summary_part.added",
            Self::SummaryTextDelta { .. } => "response.reasoning_summary_text.delta",
            Self::SummaryTextDone { .. } => "response.reasoning_summary_text.done",
            Self::SummaryPartDone { .. } => "response.reasoning_summary_part.done",
            Self::FunctionArgumentsDelta { .. } => "response.function_call_arguments.delta",
            Self::FunctionArgumentsDone { .. } => "response.function_call_arguments.done",
            Self::CustomInputDelta { .. } => "response.custom_tool_call_input.delta",
            Self::CustomInputDone { .. } => "response.custom_tool_call_input.done",
        }
    }
}

/// An event with its place in the stream.
#[derive(Debug, Serialize)]
pub struct Sequenced<'a> {
    #[serde(flatten)]
    pub event: StreamEvent<'a>,
    pub sequence_number: u64,
}

/// Appends `event: <type>\ndata: <json>\n\n` to `out`.
pub fn write_event(out: &mut Vec<u8>, event: StreamEvent<'_>, sequence_number: u64) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.name().as_bytes());
    out.extend_from_slice(b"\ndata: ");
    // Writing to a Vec cannot fail, and these types always serialise.
    let _ = serde_json::to_writer(
        &mut *out,
        &Sequenced {
            event,
            sequence_number,
        },
    );
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn output_items_round_trip_in_openai_shape() {
        let item = OutputItem::FunctionCall(FunctionCallOut {
            id: "fc_1".into(),
            call_id: "call_1".into(),
            name: "close_agent".into(),
            arguments: "{}".into(),
            namespace: Some("agents".into()),
            status: ItemStatus::Completed,
        });
        let v = serde_json::to_value(&item).unwrap();
        assert_eq!(
            v,
            json!({"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "close_agent",
                   "arguments": "{}", "namespace": "agents", "status": "completed"})
        );
        assert_eq!(serde_json::from_value::<OutputItem>(v).unwrap(), item);
        let msg = OutputItem::Message(OutputMessage {
            id: "msg_1".into(),
            status: ItemStatus::Completed,
            role: "assistant".into(),
            content: vec![OutputText::new("hi".into())],
        });
        assert_eq!(
            serde_json::to_value(&msg).unwrap(),
            json!({"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                   "content": [{"type": "output_text", "text": "hi", "annotations": [], "logprobs": []}]})
        );
    }

    #[test]
    fn events_carry_type_and_sequence_number() {
        let mut out = Vec::new();
        write_event(
            &mut out,
            StreamEvent::OutputTextDelta {
                item_id: "msg_1",
                output_index: 1,
                content_index: 0,
                delta: "He",
                logprobs: [],
            },
            7,
        );
        let text = String::from_utf8(out).unwrap();
        let (head, data) = text.split_once("\ndata: ").unwrap();
        assert_eq!(head, "event: response.output_text.delta");
        assert!(data.ends_with("\n\n"));
        let v: Value = serde_json::from_str(data.trim()).unwrap();
        assert_eq!(
            v,
            json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 1,
                   "content_index": 0, "delta": "He", "logprobs": [], "sequence_number": 7})
        );
    }

    #[test]
    fn ids_have_their_prefixes() {
        assert!(response_id().starts_with("resp_"));
        assert_eq!(item_id("fc_").len(), 3 + 32);
        assert_ne!(response_id(), response_id());
    }
}
