//! Model-name features applied to a Gemini request, once, on every route: the thinking
//! config of a suffix or `reasoning_effort` and `googleSearch` for `-search`. The default
//! safety settings are added when the request is written (`wire::gemini::WithSafetyDefaults`).
use serde_json::{Map, Value, json};

use super::ConvertOptions;
use crate::models::{Family, ResolvedModel, Thinking};

/// The `thinkingConfig` for a thinking setting; `None` for [`Thinking::Default`].
/// `return_thoughts` can only turn `includeThoughts` off, never on.
pub(crate) fn thinking_config(thinking: &Thinking, return_thoughts: bool) -> Option<Value> {
    Some(match thinking {
        Thinking::Default => return None,
        Thinking::IncludeOnly(include) => json!({"includeThoughts": *include && return_thoughts}),
        Thinking::Budget {
            budget,
            include_thoughts,
        } => json!({
            "thinkingBudget": budget,
            "includeThoughts": *include_thoughts && return_thoughts && *budget != 0,
        }),
        Thinking::Level {
            level,
            include_thoughts,
        } => {
            json!({"thinkingLevel": level, "includeThoughts": *include_thoughts && return_thoughts})
        }
        Thinking::Off => json!({"thinkingBudget": 0, "includeThoughts": false}),
    })
}

/// Apply the thinking config and `googleSearch` for `model`.
///
/// - A thinking suffix in the name replaces the client's thinking config.
/// - Otherwise the client's budget/level is kept (never both: that is an upstream 400), and
///   `includeThoughts` is made consistent: false when thinking is off (another upstream 400),
///   false when `return_thoughts` is off, and a client's explicit `false` is respected.
/// - The default `safetySettings` are not added here but when the request is written for the
///   upstream, and only when the client sent none (`wire::gemini::WithSafetyDefaults`).
pub fn apply_model_features(request: &mut Value, model: &ResolvedModel, opts: &ConvertOptions) {
    let Some(req) = request.as_object_mut() else {
        return;
    };
    apply_thinking(req, model, opts.return_thoughts);
    if model.search {
        add_search_tool(req);
    }
}

fn apply_thinking(req: &mut Map<String, Value>, model: &ResolvedModel, return_thoughts: bool) {
    let from_name = match &model.thinking {
        Thinking::Default | Thinking::IncludeOnly(_) => None,
        named => thinking_config(named, return_thoughts),
    };
    let config = match from_name {
        Some(config) => Some(config),
        None => merge_client_thinking(req, model, return_thoughts),
    };
    let had_generation = req.contains_key("generationConfig");
    let generation = req
        .entry("generationConfig")
        .or_insert_with(|| Value::Object(Map::new()));
    if !generation.is_object() {
        *generation = Value::Object(Map::new());
    }
    let Some(generation) = generation.as_object_mut() else {
        return;
    };
    match config {
        Some(c) => {
            generation.insert("thinkingConfig".into(), c);
        }
        None => {
            generation.shift_remove("thinkingConfig");
        }
    }
    if generation.is_empty() && !had_generation {
        req.shift_remove("generationConfig");
    }
}

/// The client's own thinking config made valid, or the name's `IncludeOnly` default.
fn merge_client_thinking(
    req: &Map<String, Value>,
    model: &ResolvedModel,
    return_thoughts: bool,
) -> Option<Value> {
    let client = req
        .get("generationConfig")
        .and_then(|g| g.get("thinkingConfig"))
        .and_then(Value::as_object);
    // Some clients send `1024.0`; the upstream field is an integer.
    let mut budget = client
        .and_then(|c| c.get("thinkingBudget"))
        .and_then(|b| b.as_i64().or_else(|| b.as_f64().map(|f| f as i64)));
    let mut level = client
        .and_then(|c| c.get("thinkingLevel"))
        .and_then(Value::as_str)
        .map(str::to_string);
    if budget.is_some() && level.is_some() {
        // Gemini 3 speaks levels; everything else budgets.
        if matches!(model.family(), Family::Gemini3 { .. }) {
            budget = None;
        } else {
            level = None;
        }
    }
    let explicit_include = client
        .and_then(|c| c.get("includeThoughts"))
        .and_then(Value::as_bool);
    let name_include = match model.thinking {
        Thinking::IncludeOnly(i) => Some(i),
        _ => None,
    };
    let thinking_on = level.is_some() || budget.is_some_and(|b| b != 0);
    // Budget 0 with thoughts is an upstream 400; an explicit `false` is the client's choice.
    let include = if budget == Some(0) || explicit_include == Some(false) {
        Some(false)
    } else if thinking_on || explicit_include == Some(true) {
        Some(return_thoughts)
    } else {
        name_include.map(|i| i && return_thoughts)
    };

    let mut out = Map::new();
    // Unknown keys of the client's thinkingConfig are kept (forward compatibility).
    if let Some(c) = client {
        for (k, v) in c {
            if !matches!(
                k.as_str(),
                "thinkingBudget" | "thinkingLevel" | "includeThoughts"
            ) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(b) = budget {
        out.insert("thinkingBudget".into(), json!(b));
    }
    if let Some(l) = level {
        out.insert("thinkingLevel".into(), json!(l));
    }
    if let Some(i) = include {
        out.insert("includeThoughts".into(), json!(i));
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

fn add_search_tool(req: &mut Map<String, Value>) {
    let tools = req
        .entry("tools")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !tools.is_array() {
        *tools = Value::Array(Vec::new());
    }
    let Some(list) = tools.as_array_mut() else {
        return;
    };
    let present = list
        .iter()
        .any(|t| t.get("googleSearch").is_some() || t.get("google_search").is_some());
    if !present {
        list.push(json!({"googleSearch": {}}));
    }
}
