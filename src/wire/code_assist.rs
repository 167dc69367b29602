//! The Code Assist envelope around a Gemini request.
use serde::Serialize;
use serde_json::{Map, Value};

/// The envelope as sent, borrowing the request so an attempt costs no deep copy of it.
#[derive(Serialize)]
pub struct Envelope<'a> {
    pub model: &'a str,
    pub project: &'a str,
    pub request: &'a Value,
}

impl<'a> Envelope<'a> {
    pub fn new(model: &'a str, project: &'a str, request: &'a Value) -> Self {
        Self {
            model: model.strip_prefix("models/").unwrap_or(model),
            project,
            request,
        }
    }
}

/// `{model, project, [user_prompt_id], request}`. `model` is the bare upstream id: a `models/`
/// prefix is removed because Code Assist expects none.
pub fn envelope(model: &str, project: &str, request: Value, user_prompt_id: Option<&str>) -> Value {
    let mut out = Map::new();
    let model = model.strip_prefix("models/").unwrap_or(model);
    out.insert("model".into(), Value::String(model.to_string()));
    out.insert("project".into(), Value::String(project.to_string()));
    if let Some(id) = user_prompt_id {
        out.insert("user_prompt_id".into(), Value::String(id.to_string()));
    }
    out.insert("request".into(), request);
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn envelope_shape() {
        let req = json!({"contents": []});
        assert_eq!(
            envelope("models/gemini-2.5-pro", "p-1", req.clone(), None),
            json!({"model": "gemini-2.5-pro", "project": "p-1", "request": req})
        );
        let e = envelope("gemini-2.5-pro", "p-1", req.clone(), Some("abc########1"));
        assert_eq!(e["user_prompt_id"], "abc########1");
        let borrowed = serde_json::to_value(Envelope::new("models/gemini-2.5-pro", "p-1", &req));
        assert_eq!(
            borrowed.unwrap(),
            envelope("gemini-2.5-pro", "p-1", req, None)
        );
    }
}
