//! Anthropic `tools` and `tool_choice` → Gemini `tools` and `toolConfig`.

use serde_json::{Map, Value, json};

use crate::convert::request::{ConvertError, ToolNames};
use crate::convert::schema::clean_parameters_schema;
use crate::wire::openai::json_kind;

#[derive(Debug, Default)]
pub(super) struct Declared {
    pub entries: Vec<Value>,
    /// Original names of the declared functions.
    pub functions: Vec<String>,
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
    for (i, tool) in items.iter().enumerate() {
        let field = format!("tools[{i}]");
        let Some(obj) = tool.as_object() else {
            return Err(ConvertError::invalid(field, "must be an object"));
        };
        let kind = obj.get("type").and_then(Value::as_str).unwrap_or("custom");
        // Anthropic's server tools have dated type names (`web_search_20250305`).
        let builtin = match kind {
            "custom" => None,
            k if k.starts_with("web_search") => Some(json!({"googleSearch": {}})),
            k if k.starts_with("code_execution") => Some(json!({"codeExecution": {}})),
            k if k.starts_with("web_fetch") => Some(json!({"urlContext": {}})),
            other => {
                return Err(ConvertError::invalid(
                    format!("{field}.type"),
                    format!(
                        "tool type '{other}' is not supported; declare it as a custom tool with an input_schema"
                    ),
                ));
            }
        };
        if let Some(b) = builtin {
            if !builtins.contains(&b) {
                builtins.push(b);
            }
            continue;
        }
        let name = match obj.get("name") {
            Some(Value::String(n)) if !n.trim().is_empty() => n.clone(),
            _ => {
                return Err(ConvertError::invalid(
                    format!("{field}.name"),
                    "must be a non-empty string",
                ));
            }
        };
        if declared.functions.contains(&name) {
            return Err(ConvertError::invalid(
                format!("{field}.name"),
                format!("duplicate tool name '{name}'"),
            ));
        }
        let mut decl = Map::new();
        decl.insert("name".into(), Value::String(names.sanitize(&name)));
        decl.insert(
            "description".into(),
            obj.get("description").cloned().unwrap_or(json!("")),
        );
        match obj.get("input_schema") {
            Some(s @ Value::Object(_)) => {
                let cleaned = clean_parameters_schema(s);
                if cleaned.as_object().is_some_and(|o| !o.is_empty()) {
                    decl.insert("parametersJsonSchema".into(), cleaned);
                }
            }
            None | Some(Value::Null) => {}
            Some(other) => {
                return Err(ConvertError::invalid(
                    format!("{field}.input_schema"),
                    format!("must be a JSON Schema object, got {}", json_kind(other)),
                ));
            }
        }
        declared.functions.push(name);
        declarations.push(Value::Object(decl));
    }
    if !declarations.is_empty() {
        declared
            .entries
            .push(json!({"functionDeclarations": declarations}));
    }
    declared.entries.extend(builtins);
    Ok(declared)
}

/// `tool_choice` → `toolConfig`; only sent when functions are declared (a calling config
/// without functions is meaningless and some models reject it).
pub(super) fn tool_config(
    choice: &Value,
    declared: &Declared,
    names: &mut ToolNames,
) -> Result<Option<Value>, ConvertError> {
    let mode = |m: &str| json!({"functionCallingConfig": {"mode": m}});
    let obj = match choice {
        Value::Null => return Ok(None),
        Value::Object(o) => o,
        other => {
            return Err(ConvertError::invalid(
                "tool_choice",
                format!("must be an object, got {}", json_kind(other)),
            ));
        }
    };
    let config = match obj.get("type").and_then(Value::as_str) {
        Some("auto") => mode("AUTO"),
        Some("any") => mode("ANY"),
        Some("none") => mode("NONE"),
        Some("tool") => {
            let name = obj.get("name").and_then(Value::as_str).ok_or_else(|| {
                ConvertError::invalid("tool_choice.name", "required for type 'tool'")
            })?;
            if !declared.functions.iter().any(|f| f == name) {
                return Err(ConvertError::invalid(
                    "tool_choice.name",
                    format!("tool '{name}' is not declared in tools"),
                ));
            }
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [names.sanitize(name)]}})
        }
        Some(other) => {
            return Err(ConvertError::invalid(
                "tool_choice.type",
                format!("'{other}' is not one of auto, any, tool, none"),
            ));
        }
        None => return Err(ConvertError::invalid("tool_choice", "needs a 'type'")),
    };
    Ok((!declared.functions.is_empty()).then_some(config))
}
