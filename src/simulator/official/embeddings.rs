//! Deterministic embeddings and the request rules shared by the Gemini API's
//! `embedContent` / `batchEmbedContents` and Vertex's `predict` / `embedContent`.

use serde_json::Value;

use super::errors::Rejection;
use crate::simulator::errors::{invalid_argument, status_body};

const TASK_TYPES: &[&str] = &[
    "TASK_TYPE_UNSPECIFIED",
    "RETRIEVAL_QUERY",
    "RETRIEVAL_DOCUMENT",
    "SEMANTIC_SIMILARITY",
    "CLASSIFICATION",
    "CLUSTERING",
    "QUESTION_ANSWERING",
    "FACT_VERIFICATION",
    "CODE_RETRIEVAL_QUERY",
];

/// Length of the full vector every embedding is cut from.
const FULL_DIMS: usize = 3072;

/// The simulator's embedding of `text` with `dims` values: a unit vector of 3072 pseudo-random
/// values seeded by the text (FNV-1a), cut to `dims` (so shorter vectors are prefixes of the
/// full one, as with Google's Matryoshka embeddings), rounded to 7 decimals. It depends on the
/// text only, not on the model or task type, so tests can compute what any input returns.
pub fn embedding_values(text: &str, dims: usize) -> Vec<f64> {
    let mut state = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    let raw: Vec<f64> = (0..FULL_DIMS)
        .map(|_| {
            // xorshift64*: cheap, stable across platforms.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let x = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
            (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect();
    let norm = raw.iter().map(|v| v * v).sum::<f64>().sqrt();
    raw.iter()
        .take(dims.min(FULL_DIMS))
        .map(|v| (v / norm * 1e7).round() / 1e7)
        .collect()
}

/// The text of a `Content`: its text parts joined by newlines (several parts make one
/// embedding, as upstream fuses them).
pub(crate) fn content_text(content: &Value) -> Option<String> {
    let parts = content.get("parts")?.as_array()?;
    let texts: Vec<&str> = parts
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect();
    (!texts.is_empty()).then(|| texts.join("\n"))
}

/// Options of one embedding input, whatever the casing upstream uses for them.
pub(crate) struct EmbedOptions<'a> {
    pub task_type: Option<&'a str>,
    pub title: Option<&'a str>,
    pub dims: Option<&'a Value>,
}

fn bad(message: &str) -> Rejection {
    (400, invalid_argument(message))
}

/// The output dimensionality to use, or the 400 for a bad task type, title or size.
pub(crate) fn check_options(
    opts: &EmbedOptions<'_>,
    (default_dims, max_dims): (usize, usize),
) -> Result<usize, Rejection> {
    if let Some(t) = opts.task_type {
        if !TASK_TYPES.contains(&t) {
            return Err(bad(&format!(
                "Invalid value at 'task_type' (type.googleapis.com/google.ai.generativelanguage.v1beta.TaskType), \"{t}\""
            )));
        }
    }
    if opts.title.is_some() && opts.task_type != Some("RETRIEVAL_DOCUMENT") {
        return Err(bad(
            "Title is only applicable when task_type is RETRIEVAL_DOCUMENT.",
        ));
    }
    match opts.dims {
        None | Some(Value::Null) => Ok(default_dims),
        Some(v) => match v.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) if (1..=max_dims).contains(&n) => Ok(n),
            _ => Err(bad(&format!(
                "* output_dimensionality: must be between 1 and {max_dims}, got {v}\n"
            ))),
        },
    }
}

/// Vertex's input cut to `limit` tokens (4 chars each in the simulator): the kept text, its
/// token count and whether anything was cut.
pub(crate) fn truncate(text: &str, limit: u64) -> (String, u64, bool) {
    let count = crate::simulator::reply::tokens(text.chars().count());
    if count <= limit {
        return (text.to_string(), count, false);
    }
    let chars = usize::try_from(limit.saturating_mul(4)).unwrap_or(usize::MAX);
    (text.chars().take(chars).collect(), limit, true)
}

/// Vertex's 400 for an input over the model's token limit without `autoTruncate`.
pub(crate) fn too_many_tokens(count: u64, limit: u64) -> Rejection {
    let message = format!(
        "Unable to submit request because the input token count is {count} but the model supports up to {limit}. Reduce the input token count and try again."
    );
    (400, invalid_argument(&message))
}

pub(crate) fn failed_precondition(message: &str) -> Rejection {
    (
        400,
        status_body(400, "FAILED_PRECONDITION", message, Vec::new()),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn embeddings_are_deterministic_unit_prefixes() {
        let full = embedding_values("hello", 3072);
        assert_eq!(full.len(), 3072);
        assert_eq!(full, embedding_values("hello", 3072));
        assert_ne!(full, embedding_values("hello!", 3072));
        let norm: f64 = full.iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-4);
        assert_eq!(embedding_values("hello", 768), full[..768].to_vec());
    }

    #[test]
    fn options_are_checked() {
        let opts = |task, title, dims| EmbedOptions {
            task_type: task,
            title,
            dims,
        };
        assert_eq!(
            check_options(&opts(None, None, None), (3072, 3072)),
            Ok(3072)
        );
        let d = json!(256);
        assert_eq!(
            check_options(&opts(Some("RETRIEVAL_QUERY"), None, Some(&d)), (3072, 3072)),
            Ok(256)
        );
        assert!(check_options(&opts(Some("NOPE"), None, None), (3072, 3072)).is_err());
        assert!(check_options(&opts(None, Some("t"), None), (3072, 3072)).is_err());
        assert!(
            check_options(
                &opts(Some("RETRIEVAL_DOCUMENT"), Some("t"), None),
                (3072, 3072)
            )
            .is_ok()
        );
        let big = json!(4000);
        assert!(check_options(&opts(None, None, Some(&big)), (3072, 3072)).is_err());
        assert_eq!(
            content_text(&json!({"parts": [{"text": "a"}, {"text": "b"}]})).as_deref(),
            Some("a\nb")
        );
    }
}
