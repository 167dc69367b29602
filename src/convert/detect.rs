//! Which wire format a `/v1/chat/completions` body is in.
//!
//! A Gemini-native body is routed to the native conversion instead of being down-converted to
//! OpenAI first: the historical round trip lost function calls, signatures and every part
//! type except text and images.
use serde_json::Value;

/// True when `body` is a Gemini `GenerateContentRequest` rather than an OpenAI chat body.
///
/// Order: a `messages` array means OpenAI; a `contents` array whose first item has `parts`
/// means Gemini; otherwise `systemInstruction`/`generationConfig` (either spelling) mean
/// Gemini; everything else is treated as OpenAI (whose validation then explains what is
/// missing).
pub fn is_gemini_native_body(body: &Value) -> bool {
    let Some(obj) = body.as_object() else {
        return false;
    };
    if obj.get("messages").is_some_and(Value::is_array) {
        return false;
    }
    if let Some(Value::Array(contents)) = obj.get("contents") {
        if contents.first().is_some_and(|c| c.get("parts").is_some()) {
            return true;
        }
    }
    [
        "systemInstruction",
        "system_instruction",
        "generationConfig",
        "generation_config",
    ]
    .iter()
    .any(|k| obj.contains_key(*k))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn detection_order() {
        assert!(!is_gemini_native_body(
            &json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        ));
        assert!(is_gemini_native_body(
            &json!({"contents": [{"parts": [{"text": "hi"}]}]})
        ));
        assert!(is_gemini_native_body(
            &json!({"contents": [], "generationConfig": {}})
        ));
        assert!(is_gemini_native_body(
            &json!({"system_instruction": {"parts": []}})
        ));
        // messages wins even when Gemini keys are present too.
        assert!(!is_gemini_native_body(
            &json!({"messages": [], "generationConfig": {}})
        ));
        assert!(!is_gemini_native_body(&json!({"model": "m"})));
        assert!(!is_gemini_native_body(&json!([1, 2])));
        assert!(!is_gemini_native_body(
            &json!({"contents": [{"text": "no parts"}]})
        ));
    }
}
