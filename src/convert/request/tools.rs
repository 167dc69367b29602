//! Tools, tool names, `tool_choice`, and argument type repair.
use std::collections::HashMap;

use pinyin::ToPinyin;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::ConvertError;
use crate::convert::schema::clean_parameters_schema;
use crate::wire::openai::{Tool, json_kind};

const MAX_NAME_LEN: usize = 64;

/// Gemini's function-name rule: `[A-Za-z_][A-Za-z0-9_.-]{0,63}`. CJK ideographs become
/// toneless pinyin (the reference's rule, so `获取 天气` → `huoqu_tianqi`), anything else
/// outside the set becomes `_`.
pub fn sanitize_tool_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let pinyin = if ('\u{4E00}'..='\u{9FFF}').contains(&c) {
            c.to_pinyin()
        } else {
            None
        };
        if let Some(p) = pinyin {
            out.push_str(p.plain());
        } else if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
            out.push(c);
        } else {
            out.push('_');
        }
    }
    if out.is_empty() {
        return "_unnamed_function".to_string();
    }
    if !out.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        out.insert(0, '_');
    }
    // Everything left is ASCII, so byte truncation is on a char boundary.
    out.truncate(MAX_NAME_LEN);
    out
}

/// Every tool name seen in one request, sanitised consistently. Two different originals that
/// sanitise to the same name get distinct names (`_2`, `_3`, ...), so mapping back is exact.
#[derive(Debug, Default)]
pub(crate) struct ToolNames {
    to_original: HashMap<String, String>,
    by_original: HashMap<String, String>,
}

impl ToolNames {
    pub fn sanitize(&mut self, original: &str) -> String {
        if let Some(done) = self.by_original.get(original) {
            return done.clone();
        }
        let base = sanitize_tool_name(original);
        let mut candidate = base.clone();
        let mut n = 2;
        while self.to_original.contains_key(&candidate) {
            let suffix = format!("_{n}");
            let keep = base.len().min(MAX_NAME_LEN - suffix.len());
            candidate = format!("{}{suffix}", &base[..keep]);
            n += 1;
        }
        self.to_original
            .insert(candidate.clone(), original.to_string());
        self.by_original
            .insert(original.to_string(), candidate.clone());
        candidate
    }

    pub fn get(&self, original: &str) -> Option<&String> {
        self.by_original.get(original)
    }

    pub fn into_map(self) -> HashMap<String, String> {
        self.to_original
    }
}

/// The converted `tools` entries plus what later steps need from the declarations.
#[derive(Debug, Default)]
pub(super) struct Declared {
    pub entries: Vec<Value>,
    /// Original function name → its raw `parameters` schema (for argument repair).
    pub schemas: HashMap<String, Value>,
    pub has_functions: bool,
}

pub(super) fn convert_tools(
    tools: &Value,
    names: &mut ToolNames,
) -> Result<Declared, ConvertError> {
    let Value::Array(items) = tools else {
        return Err(ConvertError::invalid(
            "tools",
            format!("must be an array, got {}", json_kind(tools)),
        ));
    };
    let mut declared = Declared::default();
    let mut declarations = Vec::new();
    let mut builtins = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = format!("tools[{i}]");
        let tool =
            Tool::deserialize(item).map_err(|e| ConvertError::invalid(&field, e.to_string()))?;
        match tool.kind.as_str() {
            "function" => {
                let f = tool.function.ok_or_else(|| {
                    ConvertError::invalid(&field, "a function tool needs a 'function' object")
                })?;
                if f.name.trim().is_empty() {
                    return Err(ConvertError::invalid(
                        format!("{field}.function.name"),
                        "must not be empty",
                    ));
                }
                if declared.schemas.contains_key(&f.name) {
                    return Err(ConvertError::invalid(
                        format!("{field}.function.name"),
                        format!("duplicate function name '{}'", f.name),
                    ));
                }
                let params = f.parameters.unwrap_or(Value::Null);
                declarations.push(function_declaration(
                    names,
                    &f.name,
                    f.description.as_deref().unwrap_or_default(),
                    &params,
                ));
                declared.schemas.insert(f.name, params);
            }
            // Gemini's built-in tools under the names OpenAI-style clients use (as CLIProxyAPI
            // maps them).
            "google_search" | "googleSearch" | "web_search" => {
                builtins.push(json!({"googleSearch": {}}))
            }
            "code_execution" | "codeExecution" => builtins.push(json!({"codeExecution": {}})),
            "url_context" | "urlContext" => builtins.push(json!({"urlContext": {}})),
            other => {
                return Err(ConvertError::invalid(
                    format!("{field}.type"),
                    format!(
                        "unsupported tool type '{other}'; use 'function', 'google_search', 'code_execution' or 'url_context'"
                    ),
                ));
            }
        }
    }
    if !declarations.is_empty() {
        declared.has_functions = true;
        declared
            .entries
            .push(json!({"functionDeclarations": declarations}));
    }
    declared.entries.extend(builtins);
    Ok(declared)
}

/// One Gemini function declaration: the sanitised name, the description, and the cleaned
/// JSON Schema of the parameters (left out when there is none, or nothing is left of it).
pub(crate) fn function_declaration(
    names: &mut ToolNames,
    original: &str,
    description: &str,
    parameters: &Value,
) -> Value {
    let mut decl = Map::new();
    decl.insert("name".into(), Value::String(names.sanitize(original)));
    decl.insert("description".into(), Value::String(description.to_string()));
    if !parameters.is_null() {
        let cleaned = clean_parameters_schema(parameters);
        if cleaned.as_object().is_some_and(|o| !o.is_empty()) {
            decl.insert("parametersJsonSchema".into(), cleaned);
        }
    }
    Value::Object(decl)
}

/// `tool_choice` → `toolConfig`. Only sent when functions are declared: a function-calling
/// config without functions is meaningless and some models reject it.
pub(super) fn tool_config(
    choice: &Value,
    declared: &Declared,
    names: &ToolNames,
) -> Result<Option<Value>, ConvertError> {
    let mode = |m: &str| json!({"functionCallingConfig": {"mode": m}});
    let by_keyword = |s: &str| -> Result<Value, ConvertError> {
        match s {
            "auto" => Ok(mode("AUTO")),
            "none" => Ok(mode("NONE")),
            "required" | "any" => Ok(mode("ANY")),
            other => Err(ConvertError::invalid(
                "tool_choice",
                format!("'{other}' is not one of auto, none, required, or a function choice"),
            )),
        }
    };
    let config = match choice {
        Value::Null => return Ok(None),
        Value::String(s) => by_keyword(s)?,
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function") => {
                let name = o
                    .get("function")
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        ConvertError::invalid("tool_choice", "function choice needs function.name")
                    })?;
                let sanitized = names
                    .get(name)
                    .filter(|_| declared.schemas.contains_key(name));
                let Some(sanitized) = sanitized else {
                    return Err(ConvertError::invalid(
                        "tool_choice",
                        format!("function '{name}' is not declared in tools"),
                    ));
                };
                json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [sanitized]}})
            }
            Some(kind) => by_keyword(kind)?,
            None => {
                return Err(ConvertError::invalid(
                    "tool_choice",
                    "object needs a 'type'",
                ));
            }
        },
        other => {
            return Err(ConvertError::invalid(
                "tool_choice",
                format!("must be a string or an object, got {}", json_kind(other)),
            ));
        }
    };
    Ok(declared.has_functions.then_some(config))
}

/// Coerce top-level call arguments to the declared property types: models and clients often
/// stringify numbers and booleans. Values that do not convert are left alone.
pub(crate) fn repair_arg_types(args: &mut Map<String, Value>, schema: &Value) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (key, value) in args.iter_mut() {
        let Some(declared) = props.get(key).and_then(|p| declared_type(p)) else {
            continue;
        };
        let repaired = match (declared, &*value) {
            ("integer", Value::String(s)) => s.trim().parse::<i64>().ok().map(Value::from),
            ("number", Value::String(s)) => s.trim().parse::<f64>().ok().and_then(|f| {
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    Some(Value::from(f as i64))
                } else {
                    serde_json::Number::from_f64(f).map(Value::Number)
                }
            }),
            ("boolean", Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Some(Value::Bool(true)),
                "false" | "0" | "no" => Some(Value::Bool(false)),
                _ => None,
            },
            // JSON text, not a language-specific rendering (the reference gave "True").
            ("string", v) if !v.is_string() && !v.is_null() => Some(Value::String(v.to_string())),
            _ => None,
        };
        if let Some(r) = repaired {
            *value = r;
        }
    }
}

fn declared_type(prop: &Value) -> Option<&str> {
    match prop.get("type")? {
        Value::String(t) => Some(t.as_str()),
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ => None,
    }
}
