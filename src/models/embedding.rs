//! Embedding models: which ids embed, which the gateway lists, and what a Vertex service
//! account serves (Vertex publishes no per-project list, so its embedding models are known
//! here, as its generation models are configured in VERTEX_MODELS).

/// The Gemini API's embedding models, in listing order (Google shut `text-embedding-004` down
/// in 2026-01). A Gemini API key whose model list is unknown is assumed to serve these.
pub const EMBEDDING_MODELS: &[&str] = &["gemini-embedding-001", "gemini-embedding-2"];

/// What a Vertex service account embeds with: the Gemini models plus Vertex's own text models
/// (`:predict`).
pub const VERTEX_EMBEDDING_MODELS: &[&str] = &[
    "gemini-embedding-001",
    "gemini-embedding-2",
    "text-embedding-005",
    "text-multilingual-embedding-002",
];

/// Whether a base model id is an embedding model. Google names every one of them so
/// (`gemini-embedding-*`, `text-embedding-*`, `text-multilingual-embedding-*`); they serve
/// only the embedding methods, and no generation model embeds.
pub fn is_embedding(base: &str) -> bool {
    base.contains("embedding")
}

/// Input tokens one input may hold before Google truncates it.
pub fn input_token_limit(base: &str) -> u64 {
    if base == "gemini-embedding-2" {
        8192
    } else {
        2048
    }
}

/// Sort key for listing: the known models in their order, then the rest by name.
pub(crate) fn listing_rank(model: &str) -> (usize, &str) {
    let known = VERTEX_EMBEDDING_MODELS
        .iter()
        .position(|m| *m == model)
        .unwrap_or(usize::MAX);
    (known, model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedding_ids_are_told_apart_from_generation_ids() {
        for m in VERTEX_EMBEDDING_MODELS {
            assert!(is_embedding(m), "{m}");
        }
        for m in ["gemini-2.5-pro", "gemini-3-flash-preview", "gemma-4-31b-it"] {
            assert!(!is_embedding(m), "{m}");
        }
        assert_eq!(input_token_limit("gemini-embedding-2"), 8192);
        assert_eq!(input_token_limit("text-embedding-005"), 2048);
        let mut ms = vec![
            "zeta-embedding",
            "text-embedding-005",
            "gemini-embedding-001",
        ];
        ms.sort_by_key(|m| listing_rank(m));
        assert_eq!(
            ms,
            [
                "gemini-embedding-001",
                "text-embedding-005",
                "zeta-embedding"
            ]
        );
    }
}
