//! Anthropic Messages (`/v1/messages`, `/v1/messages/count_tokens`) ⇄ Gemini.
//!
//! Call order for a generation request, as on the OpenAI route:
//! 1. `models::resolve(model)`;
//! 2. [`anthropic_to_gemini`];
//! 3. `request::apply_model_features` once;
//! 4. the answer through [`gemini_to_anthropic`] or an [`AnthropicStreamTranslator`].
//!
//! Decisions that differ from the reference (su-kaka/gcli2api `anthropic2gemini.py`):
//! - Client parameters are forwarded unchanged: no default `temperature: 0.4`, `topP: 1` or
//!   the reference's five extra stop sequences, and `max_tokens` is respected.
//! - Thinking blocks in the history are never replayed as visible text (the reference looks for
//!   `thoughtSignature` where Anthropic clients send `signature`, and pastes the thinking text into
//!   the prompt): their text is dropped (the upstream keeps its own reasoning state in signatures).
//! - Thought signatures round-trip through the standard `signature` field of a `thinking`
//!   block. A `functionCall`'s signature is put on the thinking block right before its
//!   `tool_use` (an empty thinking block if there is none), prefixed with
//!   [`SIGNATURE_PREFIX`] so a signature issued by Anthropic itself (a client that switched
//!   providers mid-conversation) is never sent to Google, which would answer 400 "Corrupted
//!   thought signature". Any other tool call gets the bypass sentinel.
//! - All text blocks of a `tool_result` are kept (the reference used the first one only);
//!   `is_error: true` results become `{error: ...}`, Gemini's documented key for failures.
//! - Remote image URLs are rejected with a 400 instead of silently dropped.
//! - `tool_choice: none` is honoured (mode `NONE`) instead of ignored; tool names are
//!   sanitised everywhere and mapped back in responses.
//! - `count_tokens` asks the upstream's countTokens instead of estimating chars / 4.
//! - Output tokens include thinking tokens (Anthropic bills thinking as output), input tokens
//!   exclude cached tokens (reported as `cache_read_input_tokens`).
//! - Streams send `ping` heartbeats, and a mid-stream upstream error ends the stream with an
//!   `error` event instead of a normal-looking empty message.
//! - Blocked prompts and safety stops end with `stop_reason: "refusal"`.
//! - Gemini does not say which stop sequence ended a reply (it answers `STOP` either way), so
//!   `stop_reason` is never `stop_sequence` and `stop_sequence` is always null.
mod messages;
mod request;
mod response;
mod stream;
mod tools;

use std::collections::HashMap;

use serde_json::Value;

pub use request::{anthropic_to_gemini, count_tokens_contents};
pub use response::{anthropic_usage, gemini_to_anthropic, stop_reason};
pub use stream::{AnthropicStreamTranslator, error_event, ping_frame, sse_event};

/// Marks a signature this gateway issued from a Gemini `thoughtSignature`.
pub const SIGNATURE_PREFIX: &str = "gemini:";

#[derive(Clone, Debug)]
pub struct AnthropicRequest {
    /// The Gemini `request` object (without model features).
    pub request: Value,
    /// Sanitised tool name → the client's original name.
    pub tool_name_map: HashMap<String, String>,
    pub stream: bool,
    /// The model exactly as the client sent it.
    pub model: String,
}

/// `msg_` + 24 hex chars.
pub fn message_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("msg_{}", &hex[..24])
}

/// `toolu_` + 24 hex chars, for function calls the upstream sent without an id.
pub fn tool_use_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("toolu_{}", &hex[..24])
}

#[cfg(test)]
mod tests;
