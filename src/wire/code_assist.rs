//! The Code Assist envelope around a Gemini request, and the reader
//! for the envelope around its answers.
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use super::gemini::Key;
use super::gemini::{GenerateContentResponse, WithSafetyDefaults};

/// `{model, project, [user_prompt_id], request}`, borrowing the request: it is serialised
/// straight onto the wire, once per attempt, without copying the request. `model` is the bare
/// upstream id: a `models/` prefix is removed because Code Assist expects none.
#[derive(Clone, Copy, Debug)]
pub struct Envelope<'a> {
    pub model: &'a str,
    pub project: &'a str,
    pub user_prompt_id: Option<&'a str>,
    pub request: &'a Value,
}

impl<'a> Envelope<'a> {
    pub fn new(model: &'a str, project: &'a str, request: &'a Value) -> Self {
        Self {
            model: model.strip_prefix("models/").unwrap_or(model),
            project,
            user_prompt_id: None,
            request,
        }
    }
}

impl Serialize for Envelope<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("model", self.model)?;
        m.serialize_entry("project", self.project)?;
        if let Some(id) = self.user_prompt_id {
            m.serialize_entry("user_prompt_id", id)?;
        }
        // Envelopes carry generation requests, which always go out with safety settings.
        m.serialize_entry(
            "request",
            &WithSafetyDefaults {
                request: self.request,
                base_model: self.model,
            },
        )?;
        m.end()
    }
}

/// The [`Envelope`] as a JSON value.
pub fn envelope(model: &str, project: &str, request: Value, user_prompt_id: Option<&str>) -> Value {
    let env = Envelope {
        user_prompt_id,
        ..Envelope::new(model, project, &request)
    };
    serde_json::to_value(env).unwrap_or(Value::Null)
}

/// Reads an answer document straight into the typed response: a Code Assist envelope
/// `{"response": {...}, "traceId": ...}`, or a bare `GenerateContentResponse` (the Gemini
/// API's shape).
///
/// Only the plain shapes are read here: one JSON object that is either an envelope whose
/// `response` is an object and that has no `candidates` or `error` of its own, or a bare
/// response with neither `response` nor `error`. `None` means "not one of those"; the caller
/// then takes the general path over `serde_json::Value`, which handles error objects, arrays,
/// several documents in one event and the odd shapes, so both paths give the same answer.
pub fn read_answer(bytes: &[u8]) -> Option<GenerateContentResponse> {
    serde_json::from_slice::<Answer>(bytes).ok().map(|a| a.0)
}

/// [`read_answer`] on text already known to be UTF-8 (an SSE event's data).
pub fn read_answer_str(text: &str) -> Option<GenerateContentResponse> {
    serde_json::from_str::<Answer>(text).ok().map(|a| a.0)
}

struct Answer(GenerateContentResponse);

impl<'de> Deserialize<'de> for Answer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Answer;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a Gemini answer object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Answer, A::Error> {
                // Fields are read as a bare response until an object `response` shows up;
                // after that only a `candidates` of its own would change the reading.
                let mut bare = GenerateContentResponse::default();
                let mut saw_candidates = false;
                let mut inner: Option<GenerateContentResponse> = None;
                while let Some(Key(key)) = map.next_key()? {
                    match &*key {
                        "error" => return Err(de::Error::custom("an error object")),
                        "response" if saw_candidates => {
                            return Err(de::Error::custom("response beside candidates"));
                        }
                        "response" => inner = Some(map.next_value()?),
                        "candidates" if inner.is_some() => {
                            return Err(de::Error::custom("candidates beside response"));
                        }
                        _ if inner.is_some() => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                        _ => {
                            saw_candidates |= key == "candidates";
                            bare.read_field(key, &mut map)?;
                        }
                    }
                }
                Ok(Answer(inner.unwrap_or(bare)))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn envelope_shape() {
        let req = json!({"contents": []});
        let safety = crate::wire::gemini::default_safety_settings("gemini-2.5-pro");
        assert_eq!(
            envelope("models/gemini-2.5-pro", "p-1", req.clone(), None),
            json!({"model": "gemini-2.5-pro", "project": "p-1",
                "request": {"contents": [], "safetySettings": safety}})
        );
        let e = envelope("gemini-2.5-pro", "p-1", req, Some("abc########1"));
        assert_eq!(e["user_prompt_id"], "abc########1");
    }

    /// The direct reader either declines or reads exactly what the general path reads.
    #[test]
    fn read_answer_agrees_with_the_value_path() {
        let docs = [
            // Plain shapes: read directly.
            (
                r#"{"response": {"candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]}}], "modelVersion": "m"}, "traceId": "t"}"#,
                true,
            ),
            (
                r#"{"traceId": "t", "response": {"candidates": [{"finishReason": "STOP", "index": 0}], "usageMetadata": {"promptTokenCount": 3, "trafficType": "X"}}}"#,
                true,
            ),
            (
                r#"{"candidates": [{"content": {"parts": [{"text": "bare", "thought": true, "thoughtSignature": "s"}]}}], "responseId": "r"}"#,
                true,
            ),
            (r#"{"response": {}, "traceId": "t"}"#, true),
            (
                r#"{"response": {"promptFeedback": {"blockReason": "SAFETY"}, "x\u0041": 1}}"#,
                true,
            ),
            (r#"{"\u0072esponse": {"candidates": []}}"#, true),
            (r#"{}"#, true),
            // Everything else: the general path.
            (
                r#"{"response": {"candidates": []}, "error": {"code": 429}}"#,
                false,
            ),
            (r#"{"error": {"code": 500, "message": "boom"}}"#, false),
            (
                r#"{"candidates": [], "response": {"candidates": []}}"#,
                false,
            ),
            (
                r#"{"response": {"candidates": []}, "candidates": []}"#,
                false,
            ),
            (r#"{"response": "text", "candidates": []}"#, false),
            (r#"{"response": null}"#, false),
            (r#"[{"response": {}}]"#, false),
            (
                r#"{"response": {}}
{"response": {}}"#,
                false,
            ),
            ("[DONE]", false),
            ("", false),
        ];
        for (doc, direct) in docs {
            let read = read_answer_str(doc);
            assert_eq!(read.is_some(), direct, "{doc}");
            assert_eq!(read_answer(doc.as_bytes()), read, "{doc}");
            if let Some(r) = read {
                let v: Value = serde_json::from_str(doc).expect("valid JSON");
                let general = crate::convert::response::parse_response(v).expect("parses");
                assert_eq!(r, general, "{doc}");
            }
        }
    }

    #[test]
    fn borrowed_envelope_serialises_like_the_value() {
        let req = json!({"contents": [{"role": "user", "parts": [{"text": "x"}]}]});
        let text = serde_json::to_string(&Envelope::new("models/gemini-2.5-pro", "p-1", &req))
            .expect("serialises");
        let safety = serde_json::to_string(&crate::wire::gemini::default_safety_settings(
            "gemini-2.5-pro",
        ))
        .unwrap();
        assert_eq!(
            text,
            format!(
                r#"{{"model":"gemini-2.5-pro","project":"p-1","request":{{"contents":[{{"role":"user","parts":[{{"text":"x"}}]}}],"safetySettings":{safety}}}}}"#
            )
        );
    }
}
