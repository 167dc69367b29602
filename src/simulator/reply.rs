//! The deterministic reply builder. The rules are documented in the module doc of
//! `simulator/mod.rs` ("Replies"); keep the two in step.

use serde_json::{Map, Value, json};

pub(crate) struct Reply {
    /// Present only when `includeThoughts` is true and thinking is on.
    pub thought: Option<String>,
    /// Present for every thinking-capable model (0 when thinking is off).
    pub thoughts_tokens: Option<u64>,
    pub text: String,
    /// Whole `functionCall` parts, each with a signature on the first one.
    pub calls: Vec<Value>,
    pub finish: &'static str,
    pub prompt_tokens: u64,
    pub candidates_tokens: u64,
    pub grounding: Option<Value>,
    /// `generationConfig.responseLogprobs`: the number of top candidates per token to report.
    pub logprobs: Option<usize>,
}

#[derive(Default)]
pub(crate) struct ReplyOptions {
    pub ignore_done: bool,
}

/// ceil(chars / 4): the simulator's token count for any text.
pub(crate) fn tokens(chars: usize) -> u64 {
    chars.div_ceil(4) as u64
}

pub(crate) fn is_thinking_model(model: &str) -> bool {
    model.starts_with("gemini-2.5") || model.starts_with("gemini-3")
}

fn part_text(parts: Option<&Value>) -> String {
    parts
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// Characters the prompt is made of: all text plus serialized non-text parts.
pub(crate) fn prompt_chars(request: &Value) -> usize {
    let mut n = 0;
    let contents = request.get("contents").and_then(Value::as_array);
    let system = request.get("systemInstruction");
    for content in contents.into_iter().flatten().chain(system) {
        for part in content
            .get("parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            n += match part.get("text").and_then(Value::as_str) {
                Some(t) => t.chars().count(),
                None => part.to_string().chars().count(),
            };
        }
    }
    n
}

fn function_declarations(request: &Value) -> Vec<&Value> {
    request
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("functionDeclarations").and_then(Value::as_array))
        .flatten()
        .collect()
}

pub(crate) fn has_google_search(request: &Value) -> bool {
    request
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|ts| ts.iter().any(|t| t.get("googleSearch").is_some()))
}

/// Args from the schema's required properties: strings `"<prop>-value"`, numbers 1,
/// booleans true, arrays `[]`, objects `{}`.
fn schema_args(decl: &Value) -> Value {
    let schema = decl
        .get("parameters")
        .or_else(|| decl.get("parametersJsonSchema"));
    let mut args = Map::new();
    let Some(schema) = schema else {
        return Value::Object(args);
    };
    let props = schema.get("properties");
    for name in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let ty = props
            .and_then(|p| p.get(name))
            .and_then(|p| p.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("string")
            .to_ascii_lowercase();
        let value = match ty.as_str() {
            "integer" | "number" => json!(1),
            "boolean" => json!(true),
            "array" => json!([]),
            "object" => json!({}),
            _ => json!(format!("{name}-value")),
        };
        args.insert(name.to_string(), value);
    }
    Value::Object(args)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Calls requested by the user text: `call:<name>` (optionally followed directly by a JSON
/// object of args), else `use the <name> tool`, else the word "call" (or mode ANY) ⇒ the
/// first declaration.
fn requested_calls(text: &str, decls: &[&Value], mode_any: bool) -> Vec<(String, Value)> {
    let decl = |name: &str| {
        decls
            .iter()
            .find(|d| d.get("name").and_then(Value::as_str) == Some(name))
    };
    let mut calls = Vec::new();
    for (idx, _) in text.match_indices("call:") {
        let rest = &text[idx + 5..];
        let name: String = rest.chars().take_while(|c| is_name_char(*c)).collect();
        let Some(d) = decl(&name) else { continue };
        let after = &rest[name.len()..];
        let args = if after.starts_with('{') {
            serde_json::Deserializer::from_str(after)
                .into_iter::<Value>()
                .next()
                .and_then(Result::ok)
                .filter(Value::is_object)
                .unwrap_or_else(|| schema_args(d))
        } else {
            schema_args(d)
        };
        calls.push((name, args));
    }
    if calls.is_empty() {
        let lower = text.to_ascii_lowercase();
        if let Some(idx) = lower.find("use the ") {
            let name: String = text[idx + 8..]
                .chars()
                .take_while(|c| is_name_char(*c))
                .collect();
            if text[idx + 8 + name.len()..].starts_with(" tool") {
                if let Some(d) = decl(&name) {
                    calls.push((name, schema_args(d)));
                }
            }
        }
    }
    if calls.is_empty() && (mode_any || text.to_ascii_lowercase().contains("call")) {
        if let Some(d) = decls.first() {
            let name = d.get("name").and_then(Value::as_str).unwrap_or_default();
            calls.push((name.to_string(), schema_args(d)));
        }
    }
    calls
}

/// Largest k such that `full[..k]` is a suffix of `prefill` (char boundaries only).
fn continuation_start(full: &str, prefill: &str) -> usize {
    full.char_indices()
        .map(|(i, c)| i + c.len_utf8())
        .filter(|&k| prefill.ends_with(&full[..k]))
        .max()
        .unwrap_or(0)
}

fn truncate_chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

pub(crate) fn build(
    model: &str,
    request: &Value,
    opts: &ReplyOptions,
    mut issue_signature: impl FnMut() -> String,
) -> Reply {
    let contents: &[Value] = request
        .get("contents")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let trailing_model = contents
        .iter()
        .rev()
        .take_while(|c| c.get("role").and_then(Value::as_str) == Some("model"))
        .count();
    let prefill = contents
        .last()
        .filter(|_| trailing_model > 0)
        .map(|c| part_text(c.get("parts")))
        .unwrap_or_default();
    let anchor = contents[..contents.len() - trailing_model].last();
    let anchor_parts = anchor.and_then(|c| c.get("parts"));
    let responses: Vec<&Value> = anchor_parts
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("functionResponse"))
        .collect();
    let user_text = part_text(anchor_parts);

    let media: Vec<String> = anchor_parts
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("inlineData"))
        .map(|d| {
            let mime = d.get("mimeType").and_then(Value::as_str).unwrap_or("?");
            let len = d.get("data").and_then(Value::as_str).map_or(0, str::len);
            format!("[inlineData {mime}, {len} base64 chars]")
        })
        .collect();
    let json_mode = request
        .pointer("/generationConfig/responseMimeType")
        .and_then(Value::as_str)
        == Some("application/json");
    let mut text = if json_mode && responses.is_empty() {
        serde_json::json!({"echo": user_text, "media": media}).to_string()
    } else if responses.is_empty() {
        let mut t = format!("Echo: {user_text}");
        for m in &media {
            t.push('\n');
            t.push_str(m);
        }
        t
    } else {
        responses
            .iter()
            .map(|r| {
                let name = r.get("name").and_then(Value::as_str).unwrap_or_default();
                let body = r.get("response").cloned().unwrap_or(Value::Null);
                format!("Result of {name}: {body}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let wants_done = part_text(
        request
            .get("systemInstruction")
            .and_then(|s| s.get("parts")),
    )
    .contains("[done]");
    if wants_done && !opts.ignore_done {
        text.push_str("\n[done]");
    }

    let mut calls = Vec::new();
    let decls = function_declarations(request);
    let mode = request
        .pointer("/toolConfig/functionCallingConfig/mode")
        .and_then(Value::as_str)
        .unwrap_or("AUTO");
    if trailing_model == 0 && responses.is_empty() && !decls.is_empty() && mode != "NONE" {
        for (i, (name, args)) in requested_calls(&user_text, &decls, mode == "ANY")
            .into_iter()
            .enumerate()
        {
            let mut part = json!({"functionCall": {"name": name, "args": args}});
            // Parallel calls: only the first part carries the signature, as upstream does.
            if i == 0 {
                part["thoughtSignature"] = json!(issue_signature());
            }
            calls.push(part);
        }
        if !calls.is_empty() {
            text.clear();
        }
    }
    if trailing_model > 0 {
        let start = continuation_start(&text, &prefill);
        text = text[start..].to_string();
    }

    let thinking_config = request.pointer("/generationConfig/thinkingConfig");
    let thinking_on = is_thinking_model(model)
        && thinking_config
            .and_then(|t| t.get("thinkingBudget"))
            .and_then(Value::as_i64)
            != Some(0);
    let thought_text = format!(
        "**Planning the reply**\n\nThe request holds {} characters of user text.",
        user_text.chars().count()
    );
    let thoughts_tokens = is_thinking_model(model).then(|| {
        if thinking_on {
            tokens(thought_text.chars().count())
        } else {
            0
        }
    });
    let include = thinking_config
        .and_then(|t| t.get("includeThoughts"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let thought = (include && thinking_on).then_some(thought_text);

    let mut finish = "STOP";
    if let Some(max) = request
        .pointer("/generationConfig/maxOutputTokens")
        .and_then(Value::as_u64)
    {
        let room = max.saturating_sub(thoughts_tokens.unwrap_or(0));
        if tokens(text.chars().count()) > room {
            text = truncate_chars(&text, usize::try_from(room * 4).unwrap_or(usize::MAX));
            calls.clear();
            finish = "MAX_TOKENS";
        }
    }
    let call_chars: usize = calls
        .iter()
        .map(|c| c["functionCall"].to_string().chars().count())
        .sum();
    let candidates_tokens = tokens(text.chars().count()) + tokens(call_chars);
    let grounding = has_google_search(request).then(|| grounding(&user_text));
    let logprobs = request
        .pointer("/generationConfig/responseLogprobs")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        .then(|| {
            request
                .pointer("/generationConfig/logprobs")
                .and_then(Value::as_u64)
                .map_or(0, |n| n.min(20) as usize)
        });
    Reply {
        thought,
        thoughts_tokens,
        text,
        calls,
        finish,
        prompt_tokens: tokens(prompt_chars(request)).max(1),
        candidates_tokens,
        grounding,
        logprobs,
    }
}

/// Gemini's `logprobsResult` for the visible text of some parts: one chosen token per 4
/// characters (the simulator's tokenizer), each with `top` alternatives, most likely first.
pub(crate) fn logprobs_result(parts: &[Value], top: usize) -> Value {
    let text: String = parts
        .iter()
        .filter(|p| p.get("thought").is_none())
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect();
    let tokens = chunks(&text, 4);
    let chosen: Vec<Value> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"token": t, "tokenId": i, "logProbability": -0.05 * (i % 4) as f64}))
        .collect();
    let top: Vec<Value> = chosen
        .iter()
        .map(|c| {
            let mut list = vec![c.clone()];
            list.extend((1..top).map(|k| {
                json!({"token": format!("alt{k}"), "tokenId": 100_000 + k, "logProbability": -1.0 - k as f64})
            }));
            list.truncate(top);
            json!({"candidates": list})
        })
        .collect();
    json!({"topCandidates": top, "chosenCandidates": chosen})
}

fn grounding(query: &str) -> Value {
    let q: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
    json!({
        "webSearchQueries": [query],
        "groundingChunks": [{"web": {"uri": format!("https://search.sim.test/?q={q}"), "title": "search.sim.test"}}],
        "groundingSupports": [{"segment": {"startIndex": 0, "endIndex": 5, "text": "Echo:"}, "groundingChunkIndices": [0], "confidenceScores": [0.9]}],
        "searchEntryPoint": {"renderedContent": format!("<div class=\"sim-search\">{query}</div>")}
    })
}

fn chunks(s: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    chars
        .chunks(size.max(1))
        .map(|c| c.iter().collect())
        .collect()
}

impl Reply {
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.candidates_tokens + self.thoughts_tokens.unwrap_or(0)
    }

    pub fn usage(&self) -> Value {
        let mut u = json!({
            "promptTokenCount": self.prompt_tokens,
            "candidatesTokenCount": self.candidates_tokens,
            "totalTokenCount": self.total_tokens(),
            "trafficType": "PROVISIONED_THROUGHPUT",
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": self.prompt_tokens}],
            "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": self.candidates_tokens}],
        });
        if let Some(t) = self.thoughts_tokens {
            u["thoughtsTokenCount"] = json!(t);
        }
        u
    }

    /// Parts of each stream event in order: thought chunks, text chunks, then all calls whole.
    pub fn part_events(&self, chunk_chars: usize) -> Vec<Vec<Value>> {
        let mut events = Vec::new();
        if let Some(t) = &self.thought {
            for c in chunks(t, chunk_chars) {
                events.push(vec![json!({"text": c, "thought": true})]);
            }
        }
        for c in chunks(&self.text, chunk_chars) {
            events.push(vec![json!({"text": c})]);
        }
        if !self.calls.is_empty() {
            events.push(self.calls.clone());
        }
        events
    }

    /// The non-streaming parts: the whole thought, the whole text, then the calls.
    pub fn all_parts(&self) -> Vec<Value> {
        let mut parts = Vec::new();
        if let Some(t) = &self.thought {
            parts.push(json!({"text": t, "thought": true}));
        }
        if !self.text.is_empty() {
            parts.push(json!({"text": self.text}));
        }
        parts.extend(self.calls.iter().cloned());
        if parts.is_empty() {
            parts.push(json!({"text": ""}));
        }
        parts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(text: &str) -> Value {
        json!({"role": "user", "parts": [{"text": text}]})
    }

    fn no_done() -> ReplyOptions {
        ReplyOptions { ignore_done: false }
    }

    #[test]
    fn echo_and_done_marker() {
        let req = json!({"contents": [user("hello")], "systemInstruction": {"parts": [{"text": "end with [done]"}]}});
        let r = build("gemini-2.5-flash", &req, &no_done(), String::new);
        assert_eq!(r.text, "Echo: hello\n[done]");
        let r = build(
            "gemini-2.5-flash",
            &req,
            &ReplyOptions { ignore_done: true },
            String::new,
        );
        assert_eq!(r.text, "Echo: hello");
        assert_eq!(
            r.total_tokens(),
            r.prompt_tokens + r.candidates_tokens + r.thoughts_tokens.unwrap()
        );
    }

    #[test]
    fn prefill_continues_the_reply() {
        let req = json!({"contents": [user("hello there"), {"role": "model", "parts": [{"text": "thinking...Echo: hel"}]}]});
        let r = build("gemini-2.5-flash", &req, &no_done(), String::new);
        assert_eq!(r.text, "lo there");
    }

    #[test]
    fn call_directive_with_args_and_schema_defaults() {
        let tools = json!([{"functionDeclarations": [
            {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city", "days"]}},
            {"name": "other"}
        ]}]);
        let req = json!({"contents": [user("please call:other{\"x\":2} and call:get_weather")], "tools": tools});
        let mut n = 0;
        let r = build("gemini-3-flash-preview", &req, &no_done(), || {
            n += 1;
            format!("sig{n}")
        });
        assert_eq!(r.text, "");
        assert_eq!(r.calls.len(), 2);
        assert_eq!(r.calls[0]["functionCall"]["args"], json!({"x": 2}));
        assert_eq!(r.calls[0]["thoughtSignature"], "sig1");
        assert_eq!(
            r.calls[1]["functionCall"]["args"],
            json!({"city": "city-value", "days": 1})
        );
        assert!(r.calls[1].get("thoughtSignature").is_none());
        let req = json!({"contents": [user("use the get_weather tool")], "tools": tools});
        let r = build("gemini-2.5-pro", &req, &no_done(), String::new);
        assert_eq!(r.calls[0]["functionCall"]["name"], "get_weather");
    }

    #[test]
    fn function_response_is_echoed_and_max_tokens_truncates() {
        let req = json!({"contents": [user("call it"), {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}, {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"temp": 21}}}]}]});
        let r = build("gemini-2.5-flash", &req, &no_done(), String::new);
        assert_eq!(r.text, "Result of f: {\"temp\":21}");
        let req = json!({"contents": [user("a fairly long prompt to echo back")], "generationConfig": {"maxOutputTokens": 3, "thinkingConfig": {"thinkingBudget": 0}}});
        let r = build("gemini-2.5-flash", &req, &no_done(), String::new);
        assert_eq!(r.finish, "MAX_TOKENS");
        assert_eq!(r.text, "Echo: a fair");
        assert_eq!(r.thoughts_tokens, Some(0));
    }
}

#[cfg(test)]
mod media_tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_mode_and_inline_data_are_reflected() {
        let opts = ReplyOptions::default();
        let req = json!({"contents": [{"role": "user", "parts": [{"text": "pic"}, {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}]});
        let r = build("gemini-2.5-flash", &req, &opts, || "sig".into());
        assert_eq!(r.text, "Echo: pic\n[inlineData image/png, 4 base64 chars]");
        let mut req = req;
        req["generationConfig"] = json!({"responseMimeType": "application/json"});
        let r = build("gemini-2.5-flash", &req, &opts, || "sig".into());
        let v: Value = serde_json::from_str(&r.text).unwrap();
        assert_eq!(v["echo"], "pic");
        assert_eq!(v["media"][0], "[inlineData image/png, 4 base64 chars]");
    }
}
