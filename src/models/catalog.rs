//! The exposed model list: every base model with its thinking, search and stream-mode
//! variants, in the OpenAI and Gemini list formats.
//!
//! Only the Chinese stream-mode prefixes are listed (they are what existing clients of the
//! reference have configured); the ASCII forms `fake-stream/` and `anti-truncation/` are
//! accepted by [`super::resolve`] but not listed, to keep the list at the reference's size.
//!
//! Kind pins (`aistudio/`, `vertex/`, `code-assist/`) are listed only for the upstreams the
//! pool has credentials of, each with the plain variants: the handlers pass [`Pin`]s in.
use serde_json::{Value, json};

use super::{Aliases, Family, Pin};

pub const DEFAULT_BASE_MODELS: &[&str] = &[
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-3-flash-preview",
    "gemini-3.1-pro-preview",
    "gemini-3.1-flash-lite",
    "gemini-3.5-flash",
];

const LISTED_PREFIXES: &[&str] = &["", "假流式/", "流式抗截断/"];

/// Every Gemini model in the catalog accepts 1M input tokens and returns up to 64K.
const INPUT_TOKEN_LIMIT: u64 = 1_048_576;
const OUTPUT_TOKEN_LIMIT: u64 = 65_536;

/// Variants of one base model without a stream-mode prefix: plain, each thinking suffix,
/// `-search`, and each thinking suffix followed by `-search`.
fn variants(base: &str) -> Vec<String> {
    let suffixes = Family::of(base).listed_suffixes();
    let mut out = Vec::with_capacity(2 + 2 * suffixes.len());
    out.push(base.to_string());
    out.extend(suffixes.iter().map(|s| format!("{base}{s}")));
    out.push(format!("{base}-search"));
    out.extend(suffixes.iter().map(|s| format!("{base}{s}-search")));
    out
}

/// All listed ids, grouped by prefix form (plain first), each group in base-model order, then
/// the plain variants under each pin in `pins`.
pub fn openai_model_ids(base_models: &[String], pins: &[Pin]) -> Vec<String> {
    let bare: Vec<String> = base_models.iter().flat_map(|b| variants(b)).collect();
    let pinned = pins.iter().map(|p| p.prefix());
    LISTED_PREFIXES
        .iter()
        .copied()
        .chain(pinned)
        .flat_map(|prefix| bare.iter().map(move |id| format!("{prefix}{id}")))
        .collect()
}

/// Google's `models[]` entries for `GET /v1beta/models`, one per listed id.
pub fn gemini_model_entries(base_models: &[String], pins: &[Pin]) -> Vec<Value> {
    openai_model_ids(base_models, pins)
        .into_iter()
        .map(|id| {
            let base_model_id = LISTED_PREFIXES
                .iter()
                .copied()
                .chain(Pin::ALL.iter().map(|p| p.prefix()))
                .filter(|p| !p.is_empty())
                .find_map(|p| id.strip_prefix(p))
                .unwrap_or(&id)
                .to_string();
            let description = format!("Gemini {base_model_id} model");
            model_entry(&id, &base_model_id, &description)
        })
        .collect()
}

/// Google's `Model` entries for the aliases: a client picking one from a list (a pattern such
/// as `claude-sonnet-*` included) is served by its target.
pub fn alias_entries(aliases: &Aliases) -> Vec<Value> {
    aliases
        .iter()
        .map(|a| {
            let description = format!("Alias of {}", a.target);
            model_entry(&a.pattern, &a.target, &description)
        })
        .collect()
}

fn model_entry(id: &str, base_model_id: &str, description: &str) -> Value {
    json!({
        "name": format!("models/{id}"),
        "baseModelId": base_model_id,
        "version": "001",
        "displayName": id,
        "description": description,
        "inputTokenLimit": INPUT_TOKEN_LIMIT,
        "outputTokenLimit": OUTPUT_TOKEN_LIMIT,
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
    })
}

/// Google's `Model` entries for embedding models (`ids` may carry a kind pin): they serve the
/// embedding methods only, and like Google's own entries give an output limit of 1.
pub fn embedding_entries(ids: &[String]) -> Vec<Value> {
    ids.iter()
        .map(|id| {
            let base = Pin::ALL
                .iter()
                .find_map(|p| id.strip_prefix(p.prefix()))
                .unwrap_or(id);
            json!({
                "name": format!("models/{id}"),
                "baseModelId": base,
                "version": "001",
                "displayName": id,
                "description": format!("Gemini {base} embedding model"),
                "inputTokenLimit": super::embedding::input_token_limit(base),
                "outputTokenLimit": 1,
                "supportedGenerationMethods": ["embedContent", "batchEmbedContents"],
            })
        })
        .collect()
}
