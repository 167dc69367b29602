//! The bounded prompt excerpt kept when `REQUEST_LOG_PROMPTS` is on. It works on the request
//! JSON of every surface alike: the text of messages (OpenAI, Anthropic), contents (Gemini),
//! input (Responses, embeddings) and system instructions, in document order, never inline
//! data (images, files) or tool schemas.
use serde_json::Value;

/// Characters kept at most (an ellipsis marks a cut).
pub const EXCERPT_CHARS: usize = 1000;

/// Keys whose string values (or whose subtrees' `text` values) are prompt text.
const PROMPT_KEYS: [&str; 7] = [
    "messages",
    "contents",
    "input",
    "system",
    "systemInstruction",
    "system_instruction",
    "instructions",
];

/// The first [`EXCERPT_CHARS`] characters of the prompt text in `body`, parts joined by
/// newlines; `None` when there is none.
pub fn excerpt(body: &Value) -> Option<String> {
    let mut out = Excerpt::default();
    if let Value::Object(map) = body {
        for (k, v) in map {
            if PROMPT_KEYS.contains(&k.as_str()) {
                out.walk(v);
            }
            if out.full {
                break;
            }
        }
    }
    (!out.text.is_empty()).then_some(out.text)
}

#[derive(Default)]
struct Excerpt {
    text: String,
    chars: usize,
    full: bool,
}

impl Excerpt {
    fn push(&mut self, s: &str) {
        if self.full || s.is_empty() {
            return;
        }
        if !self.text.is_empty() {
            self.text.push('\n');
            self.chars += 1;
        }
        for c in s.chars() {
            if self.chars >= EXCERPT_CHARS {
                self.text.push('…');
                self.full = true;
                return;
            }
            self.text.push(c);
            self.chars += 1;
        }
    }

    /// Strings directly here are text (a message's `content: "..."`, `input: "..."`); inside
    /// objects only `text`, `content`, `parts` and `input` lead to more text.
    fn walk(&mut self, v: &Value) {
        match v {
            Value::String(s) => self.push(s),
            Value::Array(items) => {
                for i in items {
                    self.walk(i);
                    if self.full {
                        return;
                    }
                }
            }
            Value::Object(map) => {
                for key in ["text", "content", "parts", "input"] {
                    if let Some(inner) = map.get(key) {
                        self.walk(inner);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn openai_messages_in_order() {
        let body = json!({"model": "m", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hello"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}
        ]});
        assert_eq!(excerpt(&body).as_deref(), Some("be brief\nhello"));
    }

    #[test]
    fn gemini_contents_skip_inline_data() {
        let body = json!({"contents": [{"role": "user", "parts": [
            {"text": "what is this"}, {"inlineData": {"mimeType": "image/png", "data": "QUJD"}}
        ]}], "systemInstruction": {"parts": [{"text": "sys"}]},
        "tools": [{"functionDeclarations": [{"name": "f", "description": "secret tool"}]}]});
        let e = excerpt(&body).unwrap_or_default();
        assert!(e.contains("what is this") && e.contains("sys"), "{e}");
        assert!(!e.contains("QUJD") && !e.contains("secret tool"), "{e}");
    }

    #[test]
    fn responses_and_embeddings_input() {
        assert_eq!(
            excerpt(&json!({"input": "plain"})).as_deref(),
            Some("plain")
        );
        assert_eq!(
            excerpt(&json!({"input": ["a", "b"]})).as_deref(),
            Some("a\nb")
        );
        let body = json!({"instructions": "i", "input": [{"role": "user", "content": [
            {"type": "input_text", "text": "q"}]}]});
        assert_eq!(excerpt(&body).as_deref(), Some("i\nq"));
    }

    #[test]
    fn bounded_and_absent() {
        let long = "x".repeat(EXCERPT_CHARS * 3);
        let e = excerpt(&json!({"input": long})).unwrap_or_default();
        assert_eq!(e.chars().count(), EXCERPT_CHARS + 1);
        assert!(e.ends_with('…'));
        assert_eq!(excerpt(&json!({"model": "m"})), None);
        assert_eq!(excerpt(&json!("not an object")), None);
    }
}
