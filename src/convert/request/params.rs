//! Sampling parameters, `response_format` and `reasoning_effort` → `generationConfig`.
use serde_json::{Map, Value, json};

use super::features::thinking_config;
use super::{ConvertError, field};
use crate::models::{Family, reasoning_effort_thinking};
use serde::Deserialize;

use crate::wire::openai::{ChatParams, GoogleThinkingConfig, ResponseFormat, Stop};

/// Gemini accepts at most 5 stop sequences and at most 8 candidates.
const MAX_STOP_SEQUENCES: usize = 5;
const MAX_CANDIDATES: i64 = 8;

pub(super) fn read(obj: &Map<String, Value>) -> Result<ChatParams, ConvertError> {
    Ok(ChatParams {
        stream: field(obj, "stream")?,
        stream_options: field(obj, "stream_options")?,
        temperature: field(obj, "temperature")?,
        top_p: field(obj, "top_p")?,
        top_k: field(obj, "top_k")?,
        max_tokens: field(obj, "max_tokens")?,
        max_completion_tokens: field(obj, "max_completion_tokens")?,
        stop: field(obj, "stop")?,
        n: field(obj, "n")?,
        frequency_penalty: field(obj, "frequency_penalty")?,
        presence_penalty: field(obj, "presence_penalty")?,
        seed: field(obj, "seed")?,
        response_format: field(obj, "response_format")?,
        reasoning_effort: field(obj, "reasoning_effort")?,
        logprobs: field(obj, "logprobs")?,
        top_logprobs: field(obj, "top_logprobs")?,
        google_thinking: google_thinking(obj)?,
    })
}

/// Most top candidates Gemini reports per token, as OpenAI's `top_logprobs` range.
const MAX_TOP_LOGPROBS: i64 = 20;

fn google_thinking(obj: &Map<String, Value>) -> Result<Option<GoogleThinkingConfig>, ConvertError> {
    let nested = obj
        .get("extra_body")
        .and_then(Value::as_object)
        .and_then(|e| e.get("google"));
    let (google, path) = match (obj.get("google"), nested) {
        (Some(g), _) => (g, "google"),
        (None, Some(g)) => (g, "extra_body.google"),
        (None, None) => return Ok(None),
    };
    let Some(config) = google.get("thinking_config").filter(|c| !c.is_null()) else {
        return Ok(None);
    };
    let field = format!("{path}.thinking_config");
    GoogleThinkingConfig::deserialize(config)
        .map(Some)
        .map_err(|e| ConvertError::invalid(field, e.to_string()))
}

fn check_range(name: &str, v: Option<f64>, lo: f64, hi: f64) -> Result<(), ConvertError> {
    match v {
        Some(x) if !(lo..=hi).contains(&x) => Err(ConvertError::invalid(
            name,
            format!("must be between {lo} and {hi}, got {x}"),
        )),
        _ => Ok(()),
    }
}

fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

pub(crate) fn generation_config(
    p: &ChatParams,
    family: Family,
) -> Result<Map<String, Value>, ConvertError> {
    check_range("temperature", p.temperature, 0.0, 2.0)?;
    check_range("top_p", p.top_p, 0.0, 1.0)?;
    check_range("frequency_penalty", p.frequency_penalty, -2.0, 2.0)?;
    check_range("presence_penalty", p.presence_penalty, -2.0, 2.0)?;

    let mut g = Map::new();
    if let Some(t) = p.temperature {
        g.insert("temperature".into(), number(t));
    }
    if let Some(t) = p.top_p {
        g.insert("topP".into(), number(t));
    }
    if let Some(k) = p.top_k {
        if k < 1.0 || k.fract() != 0.0 || k > i32::MAX as f64 {
            return Err(ConvertError::invalid(
                "top_k",
                format!("must be an integer >= 1, got {k}"),
            ));
        }
        g.insert("topK".into(), json!(k as i64));
    }
    // max_completion_tokens is the current name; it wins when both are sent.
    let max = p
        .max_completion_tokens
        .map(|v| ("max_completion_tokens", v))
        .or(p.max_tokens.map(|v| ("max_tokens", v)));
    if let Some((name, v)) = max {
        if v < 1 {
            return Err(ConvertError::invalid(
                name,
                format!("must be >= 1, got {v}"),
            ));
        }
        g.insert("maxOutputTokens".into(), json!(v));
    }
    if let Some(stop) = &p.stop {
        let list: Vec<&str> = match stop {
            Stop::One(s) => vec![s.as_str()],
            Stop::Many(v) => v.iter().map(String::as_str).collect(),
        };
        let list: Vec<&str> = list
            .into_iter()
            .filter(|s| !s.is_empty())
            .take(MAX_STOP_SEQUENCES)
            .collect();
        if !list.is_empty() {
            g.insert("stopSequences".into(), json!(list));
        }
    }
    if let Some(v) = p.frequency_penalty {
        g.insert("frequencyPenalty".into(), number(v));
    }
    if let Some(v) = p.presence_penalty {
        g.insert("presencePenalty".into(), number(v));
    }
    if let Some(n) = p.n {
        if !(1..=MAX_CANDIDATES).contains(&n) {
            return Err(ConvertError::invalid(
                "n",
                format!("must be between 1 and {MAX_CANDIDATES} (Gemini's limit), got {n}"),
            ));
        }
        // 1 is Gemini's default; sending it only adds noise.
        if n > 1 {
            g.insert("candidateCount".into(), json!(n));
        }
    }
    if let Some(seed) = p.seed {
        g.insert("seed".into(), json!(seed));
    }
    match &p.response_format {
        None => {}
        Some(ResponseFormat::Text) => {
            g.insert("responseMimeType".into(), json!("text/plain"));
        }
        Some(ResponseFormat::JsonObject) => {
            g.insert("responseMimeType".into(), json!("application/json"));
        }
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            let schema = match &json_schema.schema {
                Some(s @ Value::Object(_)) => s.clone(),
                _ => {
                    return Err(ConvertError::invalid(
                        "response_format.json_schema.schema",
                        "must be a JSON Schema object",
                    ));
                }
            };
            g.insert("responseMimeType".into(), json!("application/json"));
            g.insert("responseJsonSchema".into(), schema);
        }
    }
    if let Some(effort) = &p.reasoning_effort {
        let thinking = reasoning_effort_thinking(family, effort)
            .map_err(|e| ConvertError::invalid("reasoning_effort", e.to_string()))?;
        // Written as if the client had sent it: a model-name suffix still wins later.
        if let Some(config) = thinking_config(&thinking, true) {
            g.insert("thinkingConfig".into(), config);
        }
    }
    if let Some(t) = &p.google_thinking {
        if p.reasoning_effort.is_some() {
            return Err(ConvertError::invalid(
                "google.thinking_config",
                "cannot be combined with reasoning_effort; send one of them",
            ));
        }
        g.insert("thinkingConfig".into(), google_thinking_config(t)?);
    }
    logprobs(p, &mut g)?;
    Ok(g)
}

/// `google.thinking_config` in Gemini's own spelling. Budget and level together are an
/// upstream 400, so they are refused here with the fields named.
fn google_thinking_config(t: &GoogleThinkingConfig) -> Result<Value, ConvertError> {
    let mut c = Map::new();
    match (t.thinking_budget, &t.thinking_level) {
        (Some(_), Some(_)) => {
            return Err(ConvertError::invalid(
                "google.thinking_config",
                "set thinking_budget or thinking_level, not both",
            ));
        }
        (Some(b), None) if b < -1 => {
            return Err(ConvertError::invalid(
                "google.thinking_config.thinking_budget",
                format!("must be -1 (dynamic), 0 (off) or a token count, got {b}"),
            ));
        }
        (Some(b), None) => {
            c.insert("thinkingBudget".into(), json!(b));
        }
        (None, Some(level)) => {
            let level = level.to_ascii_lowercase();
            if !matches!(level.as_str(), "minimal" | "low" | "medium" | "high") {
                return Err(ConvertError::invalid(
                    "google.thinking_config.thinking_level",
                    format!("'{level}' is not one of minimal, low, medium, high"),
                ));
            }
            c.insert("thinkingLevel".into(), json!(level));
        }
        (None, None) => {}
    }
    if let Some(include) = t.include_thoughts {
        c.insert("includeThoughts".into(), json!(include));
    }
    Ok(Value::Object(c))
}

/// `logprobs` / `top_logprobs` → `responseLogprobs` / `logprobs`, with OpenAI's own rules:
/// `top_logprobs` is 0..=20 and needs `logprobs: true`.
fn logprobs(p: &ChatParams, g: &mut Map<String, Value>) -> Result<(), ConvertError> {
    if let Some(n) = p.top_logprobs {
        if !(0..=MAX_TOP_LOGPROBS).contains(&n) {
            return Err(ConvertError::invalid(
                "top_logprobs",
                format!("must be between 0 and {MAX_TOP_LOGPROBS}, got {n}"),
            ));
        }
        if n > 0 && p.logprobs != Some(true) {
            return Err(ConvertError::invalid(
                "top_logprobs",
                "requires logprobs: true",
            ));
        }
    }
    if p.logprobs == Some(true) {
        g.insert("responseLogprobs".into(), json!(true));
        if let Some(n) = p.top_logprobs.filter(|n| *n > 0) {
            g.insert("logprobs".into(), json!(n));
        }
    }
    Ok(())
}
