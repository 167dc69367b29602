//! Responses `tools` and `tool_choice` → Gemini `tools` and `toolConfig`.
//!
//! Every tool the client runs itself becomes a function declaration, and the model's calls
//! go back as the client's own item type ([`ToolKind`]):
//! - `function` → `function_call`;
//! - `custom` (free-form text input, e.g. Codex's `apply_patch`) → a function with one string
//!   parameter `input` (its grammar, if any, in the description) → `custom_tool_call`;
//! - `local_shell` → a function taking the command as an argv list → `local_shell_call`;
//! - `namespace` groups → their functions and custom tools under `<namespace>__<name>`, called
//!   back with `namespace` set.
//!
//! Hosted tools: `web_search*` is Google Search grounding and `code_interpreter` Gemini's code
//! execution (left out beside function declarations before Gemini 3, which cannot combine them). `file_search` and computer use cannot be served at all and are refused by name;
//! other hosted kinds (`image_generation`, `mcp`, ...) are left out with a warning, so a
//! client offering them still gets answers.
use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::convert::request::{ConvertError, ToolNames, function_declaration};
use crate::models::Family;
use crate::wire::openai::json_kind;

/// What kind of item a declared tool's calls are answered as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolKind {
    Function,
    Custom,
    LocalShell,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTool {
    pub kind: ToolKind,
    /// The name as the client declared it (without the namespace).
    pub name: String,
    pub namespace: Option<String>,
}

/// Declared tools by their key (see [`tool_key`]), which is also the name the model's calls
/// are mapped back to.
pub type ClientTools = HashMap<String, ClientTool>;

/// The one name a tool is known by inside a request: `name`, or `namespace__name`.
pub fn tool_key(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}__{name}"),
        _ => name.to_string(),
    }
}

pub const LOCAL_SHELL: &str = "local_shell";

#[derive(Debug, Default)]
pub(super) struct Declared {
    pub entries: Vec<Value>,
    pub tools: ClientTools,
    /// Tool key → its raw parameter schema, for repairing replayed arguments.
    pub schemas: HashMap<String, Value>,
}

impl Declared {
    fn has_functions(&self) -> bool {
        !self.tools.is_empty()
    }

    /// Before Gemini 3 a request cannot combine built-in tools with function declarations
    /// (Google answers 400 "Tool use with function calling is unsupported"). Agents such as
    /// Codex offer `web_search` beside their own tools in every request; their own tools are
    /// what they cannot work without, so the built-ins give way.
    pub(super) fn fit_family(&mut self, family: Family) {
        if matches!(family, Family::Gemini3 { .. }) || !self.has_functions() {
            return;
        }
        let before = self.entries.len();
        self.entries
            .retain(|e| e.get("functionDeclarations").is_some());
        if self.entries.len() < before {
            tracing::info!(
                "leaving out built-in tools (web search, code execution): this model cannot combine them with functions"
            );
        }
    }
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
    let mut d = Declared::default();
    let mut declarations = Vec::new();
    let mut builtins: Vec<Value> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = format!("tools[{i}]");
        declare(
            item,
            &field,
            None,
            names,
            &mut d,
            &mut declarations,
            &mut builtins,
        )?;
    }
    if !declarations.is_empty() {
        d.entries
            .push(json!({"functionDeclarations": declarations}));
    }
    d.entries.extend(builtins);
    Ok(d)
}

fn str_field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

fn required_name(obj: &Map<String, Value>, field: &str) -> Result<String, ConvertError> {
    match obj.get("name") {
        Some(Value::String(n)) if !n.trim().is_empty() => Ok(n.clone()),
        _ => Err(ConvertError::invalid(
            format!("{field}.name"),
            "must be a non-empty string",
        )),
    }
}

fn declare(
    item: &Value,
    field: &str,
    namespace: Option<&str>,
    names: &mut ToolNames,
    d: &mut Declared,
    declarations: &mut Vec<Value>,
    builtins: &mut Vec<Value>,
) -> Result<(), ConvertError> {
    let Some(obj) = item.as_object() else {
        return Err(ConvertError::invalid(field, "must be an object"));
    };
    let kind = str_field(obj, "type").ok_or_else(|| {
        ConvertError::invalid(format!("{field}.type"), "is required (e.g. \"function\")")
    })?;
    let description = str_field(obj, "description").unwrap_or_default();
    let mut add = |d: &mut Declared, key: String, tool: ClientTool, decl: Value, schema: Value| {
        if d.tools.contains_key(&key) {
            return Err(ConvertError::invalid(
                format!("{field}.name"),
                format!("duplicate tool name '{key}'"),
            ));
        }
        d.tools.insert(key.clone(), tool);
        d.schemas.insert(key, schema);
        declarations.push(decl);
        Ok(())
    };
    match kind {
        "function" => {
            let name = required_name(obj, field)?;
            let params = obj.get("parameters").cloned().unwrap_or(Value::Null);
            if !params.is_null() && !params.is_object() {
                return Err(ConvertError::invalid(
                    format!("{field}.parameters"),
                    format!("must be a JSON Schema object, got {}", json_kind(&params)),
                ));
            }
            let key = tool_key(namespace, &name);
            let decl = function_declaration(names, &key, description, &params);
            let tool = ClientTool {
                kind: ToolKind::Function,
                name,
                namespace: namespace.map(str::to_string),
            };
            add(d, key, tool, decl, params)
        }
        "custom" => {
            let name = required_name(obj, field)?;
            let key = tool_key(namespace, &name);
            let description = custom_description(description, obj.get("format"));
            let params = custom_parameters();
            let decl = function_declaration(names, &key, &description, &params);
            let tool = ClientTool {
                kind: ToolKind::Custom,
                name,
                namespace: namespace.map(str::to_string),
            };
            add(d, key, tool, decl, params)
        }
        LOCAL_SHELL if namespace.is_none() => {
            let params = local_shell_parameters();
            let decl = function_declaration(
                names,
                LOCAL_SHELL,
                "Runs a shell command on the user's machine and returns its output.",
                &params,
            );
            let tool = ClientTool {
                kind: ToolKind::LocalShell,
                name: LOCAL_SHELL.to_string(),
                namespace: None,
            };
            add(d, LOCAL_SHELL.to_string(), tool, decl, params)
        }
        "namespace" if namespace.is_none() => {
            let ns = required_name(obj, field)?;
            let Some(Value::Array(inner)) = obj.get("tools") else {
                return Err(ConvertError::invalid(
                    format!("{field}.tools"),
                    "must be an array of function or custom tools",
                ));
            };
            for (j, t) in inner.iter().enumerate() {
                let f = format!("{field}.tools[{j}]");
                declare(t, &f, Some(&ns), names, d, declarations, builtins)?;
            }
            Ok(())
        }
        k if namespace.is_none() && k.starts_with("web_search") => {
            push_builtin(builtins, json!({"googleSearch": {}}));
            Ok(())
        }
        "code_interpreter" if namespace.is_none() => {
            push_builtin(builtins, json!({"codeExecution": {}}));
            Ok(())
        }
        "file_search" => Err(ConvertError::invalid(
            format!("{field}.type"),
            "the hosted 'file_search' tool is not available here (there is no vector store); \
             search your files yourself and send the results as input",
        )),
        k if k.starts_with("computer") => Err(ConvertError::invalid(
            format!("{field}.type"),
            format!("the hosted '{k}' (computer use) tool is not available here"),
        )),
        other if namespace.is_some() => Err(ConvertError::invalid(
            format!("{field}.type"),
            format!("'{other}' cannot be part of a namespace; use function or custom tools"),
        )),
        other => {
            tracing::warn!(
                field,
                kind = other,
                "leaving out a hosted tool that cannot run here"
            );
            Ok(())
        }
    }
}

fn push_builtin(builtins: &mut Vec<Value>, b: Value) {
    if !builtins.contains(&b) {
        builtins.push(b);
    }
}

/// The model writes a custom tool's raw input as one string argument; the grammar it must
/// follow goes into the description, where the model reads it.
fn custom_description(description: &str, format: Option<&Value>) -> String {
    let mut out = description.to_string();
    let Some(f) = format.and_then(Value::as_object) else {
        return out;
    };
    if f.get("type").and_then(Value::as_str) != Some("grammar") {
        return out;
    }
    let syntax = f.get("syntax").and_then(Value::as_str).unwrap_or("lark");
    if let Some(def) = f.get("definition").and_then(Value::as_str) {
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(&format!(
            "Put the tool's raw input (plain text, not JSON) in `input`; it must match this {syntax} grammar:\n{def}"
        ));
    }
    out
}

fn custom_parameters() -> Value {
    json!({
        "type": "object",
        "properties": {"input": {"type": "string", "description": "The raw input for the tool, passed to it verbatim."}},
        "required": ["input"],
    })
}

fn local_shell_parameters() -> Value {
    json!({
        "type": "object",
        "properties": {
            "command": {"type": "array", "items": {"type": "string"}, "description": "The program and its arguments, e.g. [\"bash\", \"-lc\", \"ls -la\"]."},
            "working_directory": {"type": "string", "description": "Directory to run the command in."},
            "timeout_ms": {"type": "integer", "description": "Time limit in milliseconds."},
        },
        "required": ["command"],
    })
}

/// `tool_choice` → `toolConfig`; only sent when functions are declared (a calling config
/// without functions is meaningless and some models reject it). Hosted tool choices cannot
/// force anything on Gemini and mean `auto`.
pub(super) fn tool_config(
    choice: &Value,
    d: &Declared,
    names: &mut ToolNames,
) -> Result<Option<Value>, ConvertError> {
    let mode = |m: &str| json!({"functionCallingConfig": {"mode": m}});
    let forced = |key: String, names: &mut ToolNames| -> Result<Value, ConvertError> {
        if !d.tools.contains_key(&key) {
            return Err(ConvertError::invalid(
                "tool_choice",
                format!("tool '{key}' is not declared in tools"),
            ));
        }
        Ok(
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [names.sanitize(&key)]}}),
        )
    };
    let config = match choice {
        Value::Null => return Ok(None),
        Value::String(s) => match s.as_str() {
            "auto" => mode("AUTO"),
            "none" => mode("NONE"),
            "required" => mode("ANY"),
            other => {
                return Err(ConvertError::invalid(
                    "tool_choice",
                    format!(
                        "'{other}' is not one of auto, none, required, or a tool choice object"
                    ),
                ));
            }
        },
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function" | "custom") => {
                let name = o.get("name").and_then(Value::as_str).ok_or_else(|| {
                    ConvertError::invalid("tool_choice.name", "is required for this choice")
                })?;
                let ns = o.get("namespace").and_then(Value::as_str);
                forced(tool_key(ns, name), names)?
            }
            Some(LOCAL_SHELL) => forced(LOCAL_SHELL.to_string(), names)?,
            Some("allowed_tools") => allowed_tools(o, d, names)?,
            Some(_) => mode("AUTO"),
            None => return Err(ConvertError::invalid("tool_choice", "needs a 'type'")),
        },
        other => {
            return Err(ConvertError::invalid(
                "tool_choice",
                format!("must be a string or an object, got {}", json_kind(other)),
            ));
        }
    };
    Ok(d.has_functions().then_some(config))
}

/// `{"type": "allowed_tools", "mode": "auto"|"required", "tools": [...]}`. Gemini restricts
/// the callable functions only in mode ANY, so `auto` keeps them all callable.
fn allowed_tools(
    o: &Map<String, Value>,
    d: &Declared,
    names: &mut ToolNames,
) -> Result<Value, ConvertError> {
    let required = match o.get("mode").and_then(Value::as_str) {
        None | Some("auto") => false,
        Some("required") => true,
        Some(other) => {
            return Err(ConvertError::invalid(
                "tool_choice.mode",
                format!("'{other}' is not one of auto, required"),
            ));
        }
    };
    if !required {
        return Ok(json!({"functionCallingConfig": {"mode": "AUTO"}}));
    }
    let mut allowed = Vec::new();
    for t in o
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = match t.get("type").and_then(Value::as_str) {
            Some(LOCAL_SHELL) => LOCAL_SHELL.to_string(),
            _ => match t.get("name").and_then(Value::as_str) {
                Some(n) => tool_key(t.get("namespace").and_then(Value::as_str), n),
                None => continue,
            },
        };
        if d.tools.contains_key(&key) {
            allowed.push(Value::String(names.sanitize(&key)));
        }
    }
    Ok(if allowed.is_empty() {
        json!({"functionCallingConfig": {"mode": "ANY"}})
    } else {
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": allowed}})
    })
}
