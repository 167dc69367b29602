//! The request dialects of the official upstreams. Code Assist ignores fields it does not use;
//! the Gemini API and Vertex refuse unknown ones ("Invalid JSON payload received. Unknown name
//! ..."), so a Gemini-native client body carrying the other dialect's fields is trimmed here,
//! and Vertex gets the `role` it requires on every content entry.
//!
//! Most requests need no change: the request is then serialized as it is, without a copy.
use serde_json::{Map, Value};

use super::Method;
use crate::wire::gemini::WithSafetyDefaults;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    GeminiApi,
    Vertex,
}

/// Proto JSON takes both spellings of a field.
const GEMINI_API_DROP: &[&str] = &["labels", "sessionId", "session_id"];
const GEMINI_API_DROP_GENERATION: &[&str] = &[
    "routingConfig",
    "routing_config",
    "modelSelectionConfig",
    "model_selection_config",
    "audioTimestamp",
    "audio_timestamp",
];
const VERTEX_DROP: &[&str] = &["sessionId", "session_id"];
const VERTEX_DROP_GENERATION: &[&str] = &[
    "enableEnhancedCivicAnswers",
    "enable_enhanced_civic_answers",
];

impl Dialect {
    fn dropped(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Self::GeminiApi => (GEMINI_API_DROP, GEMINI_API_DROP_GENERATION),
            Self::Vertex => (VERTEX_DROP, VERTEX_DROP_GENERATION),
        }
    }
}

fn generation(o: &Map<String, Value>) -> Option<(&'static str, &Map<String, Value>)> {
    ["generationConfig", "generation_config"]
        .into_iter()
        .find_map(|k| o.get(k).and_then(Value::as_object).map(|g| (k, g)))
}

fn role_missing(c: &Value) -> bool {
    c.is_object()
        && c.get("role")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
}

fn needs_change(dialect: Dialect, o: &Map<String, Value>) -> bool {
    let (top, gen_fields) = dialect.dropped();
    top.iter().any(|k| o.contains_key(*k))
        || generation(o).is_some_and(|(_, g)| gen_fields.iter().any(|k| g.contains_key(*k)))
        || (dialect == Dialect::Vertex
            && o.get("contents")
                .and_then(Value::as_array)
                .is_some_and(|cs| cs.iter().any(role_missing)))
}

fn adjust(dialect: Dialect, o: &Map<String, Value>) -> Value {
    let (top, gen_fields) = dialect.dropped();
    let mut out = o.clone();
    for k in top {
        out.remove(*k);
    }
    if let Some((key, _)) = generation(o)
        && let Some(Value::Object(g)) = out.get_mut(key)
    {
        for k in gen_fields {
            g.remove(*k);
        }
    }
    if dialect == Dialect::Vertex
        && let Some(Value::Array(contents)) = out.get_mut("contents")
    {
        for c in contents.iter_mut().filter(|c| role_missing(c)) {
            c["role"] = Value::String("user".into());
        }
    }
    Value::Object(out)
}

/// The serialized request for `dialect`; generation requests get the default safety settings
/// when they carry none.
pub(crate) fn body(dialect: Dialect, method: Method, model: &str, request: &Value) -> Vec<u8> {
    let adjusted;
    let request = match request.as_object() {
        Some(o) if needs_change(dialect, o) => {
            adjusted = adjust(dialect, o);
            &adjusted
        }
        _ => request,
    };
    let bytes = if method.generates() {
        serde_json::to_vec(&WithSafetyDefaults {
            request,
            base_model: model,
        })
    } else {
        serde_json::to_vec(request)
    };
    // A `Value` always serializes.
    bytes.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sent(d: Dialect, v: Value) -> Value {
        serde_json::from_slice(&body(d, Method::CountTokens, "gemini-2.5-pro", &v)).unwrap()
    }

    #[test]
    fn each_dialect_loses_only_the_others_fields() {
        let req = json!({
            "contents": [{"parts": [{"text": "hi"}]}, {"role": "model", "parts": [{"text": "yo"}]}],
            "labels": {"a": "b"},
            "sessionId": "s",
            "generationConfig": {"temperature": 1, "routingConfig": {}, "enableEnhancedCivicAnswers": true},
        });
        let g = sent(Dialect::GeminiApi, req.clone());
        assert!(g.get("labels").is_none() && g.get("sessionId").is_none());
        assert_eq!(
            g["generationConfig"],
            json!({"temperature": 1, "enableEnhancedCivicAnswers": true})
        );
        assert!(
            g["contents"][0].get("role").is_none(),
            "the Gemini API needs no role"
        );
        let v = sent(Dialect::Vertex, req);
        assert_eq!(v["labels"], json!({"a": "b"}));
        assert!(v.get("sessionId").is_none());
        assert_eq!(
            v["generationConfig"],
            json!({"temperature": 1, "routingConfig": {}})
        );
        assert_eq!(v["contents"][0]["role"], "user");
        assert_eq!(v["contents"][1]["role"], "model");
    }

    #[test]
    fn generation_requests_get_the_default_safety_settings() {
        let req = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
        for (method, model, n) in [
            (Method::Generate, "gemini-2.5-pro", Some(10)),
            (Method::Stream, "gemini-2.5-flash-lite", Some(5)),
            (Method::CountTokens, "gemini-2.5-pro", None),
        ] {
            for d in [Dialect::GeminiApi, Dialect::Vertex] {
                let v: Value = serde_json::from_slice(&body(d, method, model, &req)).unwrap();
                assert_eq!(
                    v["safetySettings"].as_array().map(Vec::len),
                    n,
                    "{d:?} {method:?} {model}"
                );
                assert_eq!(v["contents"], req["contents"]);
            }
        }
    }

    #[test]
    fn clean_requests_are_sent_as_they_are() {
        let req = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
        assert_eq!(
            body(Dialect::Vertex, Method::CountTokens, "gemini-2.5-pro", &req),
            serde_json::to_vec(&req).unwrap()
        );
        assert_eq!(sent(Dialect::GeminiApi, req.clone()), req);
    }
}
