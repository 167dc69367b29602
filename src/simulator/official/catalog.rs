//! What each official upstream serves: the shared generation catalog (`set_models`) plus the
//! embedding models each of them serves, and the Gemini API's model metadata for
//! `GET /v1beta/models`.

use serde_json::{Value, json};

use crate::simulator::state::Inner;

/// Gemini API embedding models (`text-embedding-004` was shut down on 2026-01-14).
const GEMINI_API_EMBEDDING: [&str; 2] = ["gemini-embedding-001", "gemini-embedding-2"];
/// Vertex embedding models served by `:predict`.
pub(crate) const VERTEX_PREDICT: [&str; 3] = [
    "gemini-embedding-001",
    "text-embedding-005",
    "text-multilingual-embedding-002",
];
/// Vertex embedding models served by `:embedContent` (one content per request).
pub(crate) const VERTEX_EMBED_CONTENT: [&str; 1] = ["gemini-embedding-2"];

pub(crate) fn is_embedding(model: &str) -> bool {
    model.contains("embedding")
}

/// (default, maximum) output dimensionality.
pub(crate) fn embedding_dims(model: &str) -> (usize, usize) {
    if model.starts_with("gemini-embedding") {
        (3072, 3072)
    } else {
        (768, 768)
    }
}

/// Input tokens one embedding input may hold before it is truncated (or refused).
pub(crate) fn embedding_input_limit(model: &str) -> u64 {
    if model == "gemini-embedding-2" {
        8192
    } else {
        2048
    }
}

/// Every model id the Gemini API lists, in catalog order.
pub(crate) fn gemini_api_models(inner: &Inner) -> Vec<String> {
    let mut models = inner.models.clone();
    models.extend(GEMINI_API_EMBEDDING.iter().map(|m| m.to_string()));
    models
}

/// Gemma is not a Vertex publisher model; the embedding models are.
pub(crate) fn vertex_models(inner: &Inner) -> Vec<String> {
    let mut models: Vec<String> = inner
        .models
        .iter()
        .filter(|m| !m.starts_with("gemma"))
        .cloned()
        .collect();
    for m in VERTEX_PREDICT.iter().chain(&VERTEX_EMBED_CONTENT) {
        if !models.iter().any(|x| x == m) {
            models.push(m.to_string());
        }
    }
    models
}

pub(crate) fn methods(model: &str) -> &'static [&'static str] {
    if is_embedding(model) {
        &[
            "embedContent",
            "countTextTokens",
            "countTokens",
            "asyncBatchEmbedContent",
        ]
    } else if model.starts_with("gemma") {
        &["generateContent", "countTokens"]
    } else {
        &[
            "generateContent",
            "countTokens",
            "createCachedContent",
            "batchGenerateContent",
        ]
    }
}

/// `batchEmbedContents` is served for every model that serves `embedContent`.
pub(crate) fn supports(model: &str, method: &str) -> bool {
    let method = if method == "batchEmbedContents" {
        "embedContent"
    } else {
        method
    };
    methods(model).contains(&method)
}

fn display_name(model: &str) -> String {
    model
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A `Model` resource as `GET /v1beta/models` returns it.
pub(crate) fn model_json(model: &str) -> Value {
    let name = display_name(model);
    let mut v = json!({
        "name": format!("models/{model}"),
        "version": "001",
        "displayName": name,
        "description": format!("Simulated {name}"),
    });
    if is_embedding(model) {
        v["inputTokenLimit"] = json!(embedding_input_limit(model));
        v["outputTokenLimit"] = json!(1);
    } else if model.starts_with("gemma") {
        v["inputTokenLimit"] = json!(131_072);
        v["outputTokenLimit"] = json!(8192);
    } else {
        v["inputTokenLimit"] = json!(1_048_576);
        v["outputTokenLimit"] = json!(65_536);
    }
    v["supportedGenerationMethods"] = json!(methods(model));
    if !is_embedding(model) {
        v["temperature"] = json!(1);
        v["topP"] = json!(0.95);
        v["topK"] = json!(64);
        v["maxTemperature"] = json!(2);
    }
    if crate::simulator::reply::is_thinking_model(model) {
        v["thinking"] = json!(true);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_metadata_follows_the_family() {
        let pro = model_json("gemini-2.5-pro");
        assert_eq!(pro["name"], "models/gemini-2.5-pro");
        assert_eq!(pro["displayName"], "Gemini 2.5 Pro");
        assert_eq!(pro["thinking"], true);
        let emb = model_json("gemini-embedding-001");
        assert_eq!(emb["supportedGenerationMethods"][0], "embedContent");
        assert!(emb.get("thinking").is_none());
        assert!(supports("gemini-embedding-2", "batchEmbedContents"));
        assert!(!supports("gemini-2.5-flash", "embedContent"));
        assert!(!supports("gemini-embedding-001", "generateContent"));
    }
}
