//! OpenAI Chat Completions → Gemini `GenerateContentRequest`, native Gemini bodies → the Code
//! Assist `request` object, and the model features both routes share.
//!
//! Call order for a generation request:
//! 1. `models::resolve(model)`;
//! 2. [`openai_to_gemini`] or [`gemini_native_to_request`];
//! 3. [`apply_model_features`] once (thinking, `googleSearch`);
//! 4. the executor writes it for its upstream (`wire::code_assist::Envelope` for Code Assist),
//!    adding the default safety settings (`wire::gemini::WithSafetyDefaults`).
//!
//! Product decisions that differ from the reference:
//! - Client parameters are forwarded unchanged: no forced `maxOutputTokens: 64000` / `topK: 64`.
//! - `developer` is a system role. With compatibility mode every system/developer message is a
//!   user turn instead.
//! - `candidateCount` is only sent when `n > 1` (Gemini's default is 1; `n` above 8 is
//!   rejected, Gemini's limit).
//! - Conversion never touches the network. Remote `http(s)` image URLs are fetched before it,
//!   by the handlers' pre-pass (`crate::remote`, SSRF-guarded), and arrive here as `data:`
//!   URLs; a remote URL that still reaches a converter (fetching turned off with
//!   `REMOTE_FETCH_ENABLED=false`, or a `video_url`) is refused with a clear error.
//! - Tool names are sanitised everywhere (declarations, history, `allowedFunctionNames`) and
//!   the sanitised → original map is returned so responses can restore the client's names.
//! - Every model `functionCall` carries a thought signature: the client's real one when it
//!   round-tripped `extra_content.google.thought_signature`, else the bypass sentinel.
//! - `json_schema` response formats go to `responseJsonSchema` verbatim (Gemini accepts JSON
//!   Schema there), instead of the reference's lossy OpenAPI-style conversion.
//! - `safetySettings` defaults are added (when the request is written) only when the client
//!   sent none.
//! - Unknown top-level OpenAI fields are ignored and never forwarded (the upstream rejects
//!   unknown fields). There is no "Hi" health-check short-circuit: every request is forwarded.
//! - Consecutive messages with the same role stay separate contents (Gemini accepts that);
//!   only consecutive tool results are merged into one user content, as Gemini requires.
mod features;
mod messages;
mod native;
mod params;
mod parts;
mod tools;
pub(crate) use features::thinking_config;
pub(crate) use messages::function_response_payload;
pub(crate) use native::clean_contents;
pub(crate) use params::generation_config;
pub(crate) use parts::{audio_part, file_part, url_part};
pub(crate) use tools::{ToolNames, function_declaration, repair_arg_types};

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::models::{self, ModelError};
use crate::wire::openai::json_kind;

pub use features::apply_model_features;
pub use native::gemini_native_to_request;
pub use tools::sanitize_tool_name;

#[derive(Clone, Debug)]
pub struct ConvertOptions {
    /// `COMPATIBILITY_MODE`: system/developer messages become user turns.
    pub compatibility_mode: bool,
    /// `RETURN_THOUGHTS_TO_FRONTEND`: whether `includeThoughts` may be true.
    pub return_thoughts: bool,
    /// `MODEL_ALIASES`, shared with the settings snapshot.
    pub aliases: std::sync::Arc<models::Aliases>,
}

/// The settings' defaults: compatibility mode off, thoughts returned, no aliases.
impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            compatibility_mode: false,
            return_thoughts: true,
            aliases: Default::default(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ConvertedRequest {
    /// The Gemini `request` object (without model features; see [`apply_model_features`]).
    pub request: Value,
    /// Sanitised tool name → the client's original name, for every tool name in the request.
    pub tool_name_map: HashMap<String, String>,
    pub stream: bool,
    /// `stream_options.include_usage`.
    pub include_usage: bool,
    /// The model exactly as the client sent it.
    pub model: String,
}

/// A request the gateway refuses; the message is written for the API user (it becomes the
/// body of a 400) and names the offending field.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ConvertError {
    #[error("request body must be a JSON object")]
    NotAnObject,
    #[error("missing required field '{0}'")]
    Missing(&'static str),
    #[error("invalid '{field}': {reason}")]
    Invalid { field: String, reason: String },
    #[error(
        "'{field}': remote {kind} URLs are not fetched; send a data: URL (data:<mime>;base64,<data>)"
    )]
    RemoteUrl { field: String, kind: &'static str },
    #[error(transparent)]
    Model(#[from] ModelError),
}

impl ConvertError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConvertError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Sent when the conversation has a system instruction but no turn at all (the reference's
/// wording: "please answer according to the system instruction").
pub const SYSTEM_ONLY_FALLBACK: &str = "请根据系统指令回答。";

/// The request's `model`: a non-empty string (shared by the OpenAI and Anthropic surfaces).
pub(crate) fn required_model(obj: &serde_json::Map<String, Value>) -> Result<String, ConvertError> {
    match obj.get("model") {
        Some(Value::String(m)) if !m.trim().is_empty() => Ok(m.clone()),
        None | Some(Value::Null) | Some(Value::String(_)) => Err(ConvertError::Missing("model")),
        Some(other) => Err(ConvertError::invalid(
            "model",
            format!("must be a string, got {}", json_kind(other)),
        )),
    }
}

/// The request's `messages`: a non-empty array (shared by the OpenAI and Anthropic surfaces).
pub(crate) fn required_messages(
    obj: &serde_json::Map<String, Value>,
) -> Result<&Vec<Value>, ConvertError> {
    match obj.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => Ok(m),
        Some(Value::Array(_)) => Err(ConvertError::invalid(
            "messages",
            "must contain at least one message",
        )),
        None | Some(Value::Null) => Err(ConvertError::Missing("messages")),
        Some(other) => Err(ConvertError::invalid(
            "messages",
            format!("must be an array, got {}", json_kind(other)),
        )),
    }
}

/// Convert an OpenAI Chat Completions body into a Gemini request.
pub fn openai_to_gemini(
    body: &Value,
    opts: &ConvertOptions,
) -> Result<ConvertedRequest, ConvertError> {
    let obj = body.as_object().ok_or(ConvertError::NotAnObject)?;
    let model = required_model(obj)?;
    let resolved = models::resolve_with(&model, &opts.aliases)?;
    let messages = required_messages(obj)?;
    let p = params::read(obj)?;

    let mut names = tools::ToolNames::default();
    let declared = match obj.get("tools") {
        None | Some(Value::Null) => tools::Declared::default(),
        Some(t) => tools::convert_tools(t, &mut names)?,
    };
    let (mut contents, system) = messages::convert(messages, &declared, &mut names, opts)?;
    native::clean_contents(&mut contents);
    if contents.is_empty() {
        if system.is_none() {
            return Err(ConvertError::invalid(
                "messages",
                "no message has any content to send",
            ));
        }
        contents
            .push(serde_json::json!({"role": "user", "parts": [{"text": SYSTEM_ONLY_FALLBACK}]}));
    }

    let mut request = Map::new();
    request.insert("contents".into(), Value::Array(contents));
    if let Some(system) = system {
        request.insert("systemInstruction".into(), system);
    }
    if !declared.entries.is_empty() {
        request.insert("tools".into(), Value::Array(declared.entries.clone()));
    }
    let tool_config = match obj.get("tool_choice") {
        Some(choice) => tools::tool_config(choice, &declared, &names)?,
        None => None,
    };
    if let Some(config) = tool_config {
        request.insert("toolConfig".into(), config);
    }
    let generation = params::generation_config(&p, resolved.family())?;
    if !generation.is_empty() {
        request.insert("generationConfig".into(), Value::Object(generation));
    }

    Ok(ConvertedRequest {
        request: Value::Object(request),
        tool_name_map: names.into_map(),
        stream: p.stream.unwrap_or(false),
        include_usage: p
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
        model,
    })
}

/// Deserialize one optional field; `null` counts as absent. Errors name the field.
pub(crate) fn field<T: DeserializeOwned>(
    obj: &Map<String, Value>,
    key: &str,
) -> Result<Option<T>, ConvertError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => T::deserialize(v)
            .map(Some)
            .map_err(|e| ConvertError::invalid(key, e.to_string())),
    }
}

#[cfg(test)]
mod tests;
