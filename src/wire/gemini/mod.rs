//! Gemini `GenerateContentRequest` vocabulary shared by the converters.
//!
//! Requests are built as `serde_json::Value` on purpose: the native route must keep fields this
//! gateway does not know (new `generationConfig` keys, `cachedContent`, ...) instead of dropping
//! them through a closed struct (the reference's closed model silently dropped
//! `responseModalities`, `responseJsonSchema` and `imageConfig`). This module holds the fixed
//! pieces.
use std::sync::LazyLock;

use serde_json::{Value, json};

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
/// jailbreak categories, so it only gets the five text ones.
pub fn default_safety_settings(base_model: &str) -> Value {
    // Built once: copying the finished list is cheaper than building it per request.
    static LISTS: LazyLock<[Value; 2]> = LazyLock::new(|| {
        [
            TEXT_CATEGORIES.len(),
            TEXT_CATEGORIES.len() + EXTRA_CATEGORIES.len(),
        ]
        .map(|n| {
            Value::Array(
                TEXT_CATEGORIES
                    .iter()
                    .chain(EXTRA_CATEGORIES)
                    .take(n)
                    .map(|c| json!({"category": c, "threshold": "BLOCK_NONE"}))
                    .collect(),
            )
        })
    });
    let lite = base_model.contains("gemini-2.5-flash-lite");
    LISTS[usize::from(!lite)].clone()
}
