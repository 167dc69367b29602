//! Gemini `GenerateContentRequest` vocabulary shared by the converters.
//!
//! Requests are built as `serde_json::Value` on purpose: the native route must keep fields this
//! gateway does not know (new `generationConfig` keys, `cachedContent`, ...) instead of dropping
//! them through a closed struct (the reference's closed model silently dropped
//! `responseModalities`, `responseJsonSchema` and `imageConfig`). This module holds the fixed
//! pieces.
use std::sync::LazyLock;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

mod response;
pub(crate) use response::Key;
pub use response::{
    Blob, Candidate, Content, EmptyKind, FinishReason, FunctionCall, GenerateContentResponse,
    ModalityTokenCount, Part, PartData, PromptFeedback, UsageMetadata,
};

/// The documented value that makes the upstream skip thought-signature validation (Gemini 3 answers
/// 400 for a history `functionCall` without a valid signature). Used when a client cannot
/// round-trip a real signature.
pub const SKIP_THOUGHT_SIGNATURE: &str = "skip_thought_signature_validator";

const TEXT_CATEGORIES: &[&str] = &[
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_CIVIC_INTEGRITY",
];

const EXTRA_CATEGORIES: &[&str] = &[
    "HARM_CATEGORY_IMAGE_HATE",
    "HARM_CATEGORY_IMAGE_DANGEROUS_CONTENT",
    "HARM_CATEGORY_IMAGE_HARASSMENT",
    "HARM_CATEGORY_IMAGE_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_JAILBREAK",
];

/// Default `safetySettings` (all `BLOCK_NONE`). `gemini-2.5-flash-lite` rejects the image and
/// jailbreak categories, so it only gets the five text ones. (Requests get them as text, from
/// [`WithSafetyDefaults`]; this parsed form is for tests.)
#[cfg(test)]
pub(crate) fn default_safety_settings(base_model: &str) -> Value {
    serde_json::from_str(default_safety_json(base_model).get()).unwrap_or(Value::Null)
}

/// [`default_safety_settings`] as JSON text, serialized once.
fn default_safety_json(base_model: &str) -> &'static RawValue {
    static LISTS: LazyLock<[Box<RawValue>; 2]> = LazyLock::new(|| {
        [
            TEXT_CATEGORIES.len(),
            TEXT_CATEGORIES.len() + EXTRA_CATEGORIES.len(),
        ]
        .map(|n| {
            let list: Vec<Value> = TEXT_CATEGORIES
                .iter()
                .chain(EXTRA_CATEGORIES)
                .take(n)
                .map(|c| json!({"category": c, "threshold": "BLOCK_NONE"}))
                .collect();
            // A list of strings always serializes.
            serde_json::value::to_raw_value(&list).unwrap_or_default()
        })
    });
    let lite = base_model.contains("gemini-2.5-flash-lite");
    &LISTS[usize::from(!lite)]
}

/// Whether the client sent safety settings of its own (an empty list counts as none).
fn has_safety_settings(request: &Map<String, Value>) -> bool {
    request
        .get("safetySettings")
        .is_some_and(|s| s.as_array().is_some_and(|a| !a.is_empty()))
}

/// A generation request as it goes on the wire: the request as it is, followed by the default
/// `safetySettings` when it has none of its own. The defaults are written from text
/// serialized once: copying ten small objects into every request, then writing and freeing
/// them, was about a twentieth of the gateway's own work per chat.
#[derive(Clone, Copy, Debug)]
pub struct WithSafetyDefaults<'a> {
    pub request: &'a Value,
    /// The upstream model id (see [`default_safety_settings`]).
    pub base_model: &'a str,
}

impl Serialize for WithSafetyDefaults<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.request.as_object() {
            Some(o) if !has_safety_settings(o) => {
                let mut m = s.serialize_map(None)?;
                for (k, v) in o.iter().filter(|(k, _)| *k != "safetySettings") {
                    m.serialize_entry(k, v)?;
                }
                m.serialize_entry("safetySettings", default_safety_json(self.base_model))?;
                m.end()
            }
            _ => self.request.serialize(s),
        }
    }
}
