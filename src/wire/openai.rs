//! OpenAI Chat Completions request types (the response side lives in `openai_response`).
//!
//! They are tolerant where real clients differ: `content` may be a string, a list of parts, a
//! single part object or null; tool-call `arguments` may be a JSON string or an object; an
//! `image_url` may be a bare string. Unknown fields are ignored everywhere: nothing the client
//! adds can leak into the upstream request.
use serde::Deserialize;
use serde_json::Value;

/// Top-level scalar parameters. `model`, `messages`, `tools` and `tool_choice` are read
/// separately so errors can name the failing message or tool.
#[derive(Debug, Default, Deserialize)]
pub struct ChatParams {
    pub stream: Option<bool>,
    pub stream_options: Option<StreamOptions>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    /// Non-standard but widely sent; floats such as `40.0` are accepted when integral.
    pub top_k: Option<f64>,
    pub max_tokens: Option<i64>,
    pub max_completion_tokens: Option<i64>,
    pub stop: Option<Stop>,
    pub n: Option<i64>,
    pub frequency_penalty: Option<f64>,
    pub presence_penalty: Option<f64>,
    pub seed: Option<i64>,
    pub response_format: Option<ResponseFormat>,
    pub reasoning_effort: Option<String>,
    pub logprobs: Option<bool>,
    pub top_logprobs: Option<i64>,
    /// `google.thinking_config` (top level, or nested in `extra_body` as Google's own
    /// OpenAI-compatibility docs show it).
    pub google_thinking: Option<GoogleThinkingConfig>,
}

/// Google's OpenAI-compatible extension: `{"google": {"thinking_config": {...}}}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleThinkingConfig {
    pub thinking_budget: Option<i64>,
    pub thinking_level: Option<String>,
    pub include_thoughts: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    pub include_usage: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema { json_schema: JsonSchemaFormat },
}

#[derive(Debug, Deserialize)]
pub struct JsonSchemaFormat {
    pub name: Option<String>,
    pub schema: Option<Value>,
    pub strict: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<MessageContent>,
    pub name: Option<String>,
    pub tool_calls: Option<Vec<ToolCall>>,
    pub tool_call_id: Option<String>,
}

/// Message content: a plain string or a list of typed parts.
#[derive(Debug)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let parse_part = |v: Value| -> Result<ContentPart, D::Error> {
            match v {
                // Some clients put bare strings in the list; treat them as text parts.
                Value::String(text) => Ok(ContentPart::Text { text }),
                Value::Object(map) if !map.contains_key("type") => {
                    // Untyped `{text}` objects were accepted by the reference; keep that.
                    match map.get("text") {
                        Some(Value::String(text)) => Ok(ContentPart::Text { text: text.clone() }),
                        _ => Ok(ContentPart::Unsupported),
                    }
                }
                obj @ Value::Object(_) => ContentPart::deserialize(obj).map_err(D::Error::custom),
                other => Err(D::Error::custom(format!(
                    "content parts must be objects or strings, got {}",
                    json_kind(&other)
                ))),
            }
        };
        match Value::deserialize(d)? {
            Value::String(s) => Ok(MessageContent::Text(s)),
            Value::Array(items) => Ok(MessageContent::Parts(
                items
                    .into_iter()
                    .map(parse_part)
                    .collect::<Result<_, _>>()?,
            )),
            obj @ Value::Object(_) => Ok(MessageContent::Parts(vec![parse_part(obj)?])),
            Value::Null => Ok(MessageContent::Text(String::new())),
            other => Err(D::Error::custom(format!(
                "content must be a string, a list of parts or null, got {}",
                json_kind(&other)
            ))),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text {
        text: String,
    },
    ImageUrl {
        image_url: UrlRef,
    },
    InputAudio {
        input_audio: InputAudio,
    },
    File {
        file: FileRef,
    },
    VideoUrl {
        video_url: UrlRef,
    },
    Refusal {
        #[serde(default)]
        refusal: String,
    },
    #[serde(other)]
    Unsupported,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum UrlRef {
    Bare(String),
    Object { url: String },
}

impl UrlRef {
    pub fn url(&self) -> &str {
        match self {
            UrlRef::Bare(u) | UrlRef::Object { url: u } => u,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct InputAudio {
    pub data: String,
    #[serde(default)]
    pub format: String,
}

#[derive(Debug, Deserialize)]
pub struct FileRef {
    pub filename: Option<String>,
    pub file_data: Option<String>,
    pub file_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ToolCall {
    pub id: Option<String>,
    pub function: FunctionCall,
    /// Google's OpenAI-compatible extension: `{"google":{"thought_signature":"..."}}`.
    pub extra_content: Option<Value>,
}

impl ToolCall {
    pub fn thought_signature(&self) -> Option<&str> {
        self.extra_content
            .as_ref()?
            .get("google")?
            .get("thought_signature")?
            .as_str()
            .filter(|s| !s.is_empty())
    }
}

#[derive(Debug, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    #[serde(default)]
    pub arguments: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct Tool {
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: Option<FunctionDef>,
}

fn function_type() -> String {
    "function".to_string()
}

#[derive(Debug, Deserialize)]
pub struct FunctionDef {
    pub name: String,
    pub description: Option<String>,
    pub parameters: Option<Value>,
}

pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
