//! Anthropic Messages body → Gemini request: validation, system, sampling and thinking.
use serde_json::{Map, Value, json};

use super::tools::{self, Declared};
use super::{AnthropicRequest, messages};
use crate::convert::request::{ConvertError, ConvertOptions, SYSTEM_ONLY_FALLBACK, field};
use crate::convert::request::{ToolNames, required_messages, required_model, thinking_config};
use crate::models::{self, Family, Thinking, reasoning_effort_thinking};

/// Gemini accepts at most 5 stop sequences.
const MAX_STOP_SEQUENCES: usize = 5;

/// Convert an Anthropic Messages body into a Gemini request.
pub fn anthropic_to_gemini(
    body: &Value,
    opts: &ConvertOptions,
) -> Result<AnthropicRequest, ConvertError> {
    let (converted, _) = convert(body, opts, true)?;
    Ok(converted)
}

/// The contents a `count_tokens` body stands for. countTokens takes contents only, so the
/// system prompt and the tool declarations (which the model is sent too) are counted as
/// leading user text.
pub fn count_tokens_contents(
    body: &Value,
    opts: &ConvertOptions,
) -> Result<Vec<Value>, ConvertError> {
    let (converted, declared) = convert(body, opts, false)?;
    let mut req = converted.request;
    let mut extra = Vec::new();
    if let Some(parts) = req.pointer("/systemInstruction/parts").cloned() {
        extra.push(json!({"role": "user", "parts": parts}));
    }
    if !declared.entries.is_empty() {
        let text = Value::Array(declared.entries).to_string();
        extra.push(json!({"role": "user", "parts": [{"text": text}]}));
    }
    let contents = req
        .get_mut("contents")
        .and_then(Value::as_array_mut)
        .map(std::mem::take)
        .unwrap_or_default();
    extra.extend(contents);
    Ok(extra)
}

fn convert(
    body: &Value,
    opts: &ConvertOptions,
    generation: bool,
) -> Result<(AnthropicRequest, Declared), ConvertError> {
    let obj = body.as_object().ok_or(ConvertError::NotAnObject)?;
    let model = required_model(obj)?;
    let resolved = models::resolve_with(&model, &opts.aliases)?;
    let raw_messages = required_messages(obj)?;

    let mut names = ToolNames::default();
    let declared = match obj.get("tools") {
        None | Some(Value::Null) => Declared::default(),
        Some(t) => tools::convert_tools(t, &mut names)?,
    };
    let tool_config = match obj.get("tool_choice") {
        Some(choice) => tools::tool_config(choice, &declared, &mut names)?,
        None => None,
    };
    let converted = messages::convert(raw_messages, &mut names, opts.compatibility_mode)?;
    let mut contents = converted.contents;
    let mut system = messages::system_parts(obj.get("system"), "system")?;
    system.extend(converted.system);
    if opts.compatibility_mode && !system.is_empty() {
        contents.insert(
            0,
            json!({"role": "user", "parts": std::mem::take(&mut system)}),
        );
    }
    if contents.is_empty() {
        if system.is_empty() {
            return Err(ConvertError::invalid(
                "messages",
                "no message has any content to send",
            ));
        }
        contents.push(json!({"role": "user", "parts": [{"text": SYSTEM_ONLY_FALLBACK}]}));
    }

    let mut request = Map::new();
    request.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        request.insert("systemInstruction".into(), json!({"parts": system}));
    }
    if !declared.entries.is_empty() {
        request.insert("tools".into(), Value::Array(declared.entries.clone()));
    }
    if let Some(config) = tool_config {
        request.insert("toolConfig".into(), config);
    }
    let generation_config = generation_config(obj, resolved.family(), opts, generation)?;
    if !generation_config.is_empty() {
        request.insert("generationConfig".into(), Value::Object(generation_config));
    }
    let converted = AnthropicRequest {
        request: Value::Object(request),
        tool_name_map: names.into_map(),
        stream: field::<bool>(obj, "stream")?.unwrap_or(false),
        model,
    };
    Ok((converted, declared))
}

fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
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

fn generation_config(
    obj: &Map<String, Value>,
    family: Family,
    opts: &ConvertOptions,
    generation: bool,
) -> Result<Map<String, Value>, ConvertError> {
    let mut g = Map::new();
    match field::<i64>(obj, "max_tokens")? {
        Some(v) if v < 1 => {
            return Err(ConvertError::invalid(
                "max_tokens",
                format!("must be >= 1, got {v}"),
            ));
        }
        Some(v) => {
            g.insert("maxOutputTokens".into(), json!(v));
        }
        None if generation => return Err(ConvertError::Missing("max_tokens")),
        None => {}
    }
    let temperature = field::<f64>(obj, "temperature")?;
    let top_p = field::<f64>(obj, "top_p")?;
    check_range("temperature", temperature, 0.0, 1.0)?;
    check_range("top_p", top_p, 0.0, 1.0)?;
    if let Some(t) = temperature {
        g.insert("temperature".into(), number(t));
    }
    if let Some(p) = top_p {
        g.insert("topP".into(), number(p));
    }
    if let Some(k) = field::<i64>(obj, "top_k")? {
        if k < 1 {
            return Err(ConvertError::invalid(
                "top_k",
                format!("must be >= 1, got {k}"),
            ));
        }
        g.insert("topK".into(), json!(k));
    }
    if let Some(stops) = field::<Vec<String>>(obj, "stop_sequences")? {
        let stops: Vec<String> = stops.into_iter().filter(|s| !s.is_empty()).collect();
        if stops.len() > MAX_STOP_SEQUENCES {
            tracing::warn!(
                sent = stops.len(),
                "Gemini takes at most 5 stop sequences; the rest are ignored"
            );
        }
        let stops: Vec<String> = stops.into_iter().take(MAX_STOP_SEQUENCES).collect();
        if !stops.is_empty() {
            g.insert("stopSequences".into(), json!(stops));
        }
    }
    if let Some(config) = thinking(obj.get("thinking"), family, opts)? {
        g.insert("thinkingConfig".into(), config);
    }
    Ok(g)
}

/// Anthropic's `thinking` → `thinkingConfig` (written as the client's own, so a thinking
/// suffix in the model name still wins later).
fn thinking(
    value: Option<&Value>,
    family: Family,
    opts: &ConvertOptions,
) -> Result<Option<Value>, ConvertError> {
    let Some(obj) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let kind = obj.get("type").and_then(Value::as_str);
    let t = match kind {
        Some("enabled") => {
            let budget = match obj.get("budget_tokens") {
                None | Some(Value::Null) => None,
                Some(b) => Some(b.as_i64().filter(|b| *b >= 1).ok_or_else(|| {
                    ConvertError::invalid("thinking.budget_tokens", "must be an integer >= 1")
                })?),
            };
            budget_thinking(family, budget)
        }
        Some("disabled") => reasoning_effort_thinking(family, "none")
            .map_err(|e| ConvertError::invalid("thinking", e.to_string()))?,
        Some("adaptive") => Thinking::IncludeOnly(true),
        other => {
            return Err(ConvertError::invalid(
                "thinking.type",
                format!(
                    "{} is not one of enabled, disabled, adaptive",
                    other.map_or_else(|| "(missing)".to_string(), |t| format!("'{t}'"))
                ),
            ));
        }
    };
    Ok(thinking_config(&t, opts.return_thoughts))
}

/// A token budget for the family: Gemini 3 thinks in levels, so the budget picks the level
/// with the same budget class; 2.5 models get the budget clamped to what they accept.
fn budget_thinking(family: Family, budget: Option<i64>) -> Thinking {
    if let Family::Gemini3 { .. } = family {
        let effort = match budget {
            None => return Thinking::IncludeOnly(true),
            Some(b) if b <= 1024 => "low",
            Some(b) if b <= 8192 => "medium",
            Some(_) => "high",
        };
        return reasoning_effort_thinking(family, effort).unwrap_or(Thinking::IncludeOnly(true));
    }
    let Some(budget) = budget else {
        return Thinking::IncludeOnly(true);
    };
    let (min, max) = if family.is_pro() {
        (128, 32768)
    } else {
        (1, 24576)
    };
    Thinking::Budget {
        budget: budget.clamp(min, max),
        include_thoughts: true,
    }
}
