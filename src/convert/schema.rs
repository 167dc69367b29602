//! JSON-Schema cleaner for tool `parametersJsonSchema`.
//!
//! Real clients send raw JSON Schema (`$schema`, `$ref`/`$defs`, type lists, `anyOf`, `strict`,
//! vendor `x-` keys...) that the upstream rejects with 400 "Unknown name" or "Proto field is
//! not repeating" errors. The cleaner reduces a schema to the subset the upstream accepts,
//! moving dropped constraints into `description` hints so the model still sees them.
//!
//! Differences from the reference cleaner, all deliberate:
//! - a `$ref` used twice is inlined twice; only a true cycle gives "(circular reference)";
//! - choosing an `anyOf`/`oneOf` branch keeps the node's own description instead of
//!   duplicating it (`"U (U)"`);
//! - a `null` branch of `anyOf`/`oneOf` marks the property nullable like a `["x","null"]` type;
//! - CLIProxyAPI's extra deletions (`$comment`, `deprecated`, ...) and `const` → `enum` are
//!   included;
//! - depth and size are bounded, so a hostile schema cannot blow up memory.
use std::collections::HashSet;

use serde_json::{Map, Value, json};

const MAX_DEPTH: usize = 48;
const MAX_NODES: usize = 20_000;

const KNOWN_TYPES: &[&str] = &["string", "number", "integer", "boolean", "array", "object"];

/// Removed from a node and, when non-empty, appended to its description as `key: value`.
const HINT_KEYS: &[&str] = &[
    "default",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "pattern",
    "format",
    "uniqueItems",
];

const DELETED_KEYS: &[&str] = &[
    "title",
    "$schema",
    "$id",
    "$ref",
    "ref",
    "strict",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "additionalProperties",
    "allOf",
    "anyOf",
    "oneOf",
    "$defs",
    "definitions",
    "example",
    "examples",
    "readOnly",
    "writeOnly",
    "const",
    "additionalItems",
    "contains",
    "patternProperties",
    "dependencies",
    "propertyNames",
    "if",
    "then",
    "else",
    "contentEncoding",
    "contentMediaType",
    "prefixItems",
    "unevaluatedProperties",
    "unevaluatedItems",
    "dependentRequired",
    "dependentSchemas",
    "$comment",
    "$anchor",
    "enumDescriptions",
    "enumTitles",
    "prefill",
    "deprecated",
    "encrypted",
    "not",
    "multipleOf",
    "minProperties",
    "maxProperties",
];

/// Clean a tool's `parameters` schema for `parametersJsonSchema`.
pub fn clean_parameters_schema(schema: &Value) -> Value {
    let mut cleaner = Cleaner {
        root: schema,
        ref_stack: Vec::new(),
        depth: 0,
        nodes: 0,
    };
    cleaner.clean(schema).0
}

struct Cleaner<'a> {
    root: &'a Value,
    /// Refs being expanded on the current path: seeing one again is a cycle.
    ref_stack: Vec<String>,
    depth: usize,
    nodes: usize,
}

fn circular() -> Value {
    json!({"type": "object", "description": "(circular reference)"})
}

fn add_hint(node: &mut Map<String, Value>, hint: &str) {
    let desc = match node.get("description") {
        Some(Value::String(d)) if !d.is_empty() => format!("{d} ({hint})"),
        _ => hint.to_string(),
    };
    node.insert("description".into(), Value::String(desc));
}

fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn is_null_branch(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null")
}

fn const_as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl<'a> Cleaner<'a> {
    /// Returns the cleaned node and whether it was nullable (for `required` filtering).
    fn clean(&mut self, node: &Value) -> (Value, bool) {
        let Value::Object(obj) = node else {
            // `true`/`false` schemas and junk: "anything" is the closest the upstream accepts.
            return (json!({}), false);
        };
        self.nodes += 1;
        if self.depth >= MAX_DEPTH || self.nodes > MAX_NODES {
            return (
                json!({"type": "object", "description": "(schema too large, simplified)"}),
                false,
            );
        }
        self.depth += 1;
        let out = self.clean_object(obj);
        self.depth -= 1;
        out
    }

    fn resolve_ref(&self, reference: &str) -> Option<&'a Value> {
        if reference == "#" {
            return Some(self.root);
        }
        if let Some(pointer) = reference.strip_prefix('#') {
            return self.root.pointer(pointer);
        }
        if reference.contains('/') || reference.contains(':') {
            return None;
        }
        ["$defs", "definitions"]
            .iter()
            .find_map(|k| self.root.get(k)?.get(reference))
    }

    fn clean_object(&mut self, obj: &Map<String, Value>) -> (Value, bool) {
        // 1. Local references are inlined; the referring node keeps its description/default.
        let reference = ["$ref", "ref"]
            .iter()
            .find_map(|k| obj.get(*k).and_then(Value::as_str));
        if let Some(reference) = reference {
            if self.ref_stack.iter().any(|r| r == reference) {
                return (circular(), false);
            }
            if let Some(Value::Object(target)) = self.resolve_ref(reference) {
                let mut merged = target.clone();
                for key in ["description", "default"] {
                    if let Some(v) = obj.get(key) {
                        merged.insert(key.into(), v.clone());
                    }
                }
                self.ref_stack.push(reference.to_string());
                let out = self.clean(&Value::Object(merged));
                self.ref_stack.pop();
                return out;
            }
        }
        let mut node = obj.clone();

        // 2. allOf: union of properties and required, other keys from later members win,
        //    the node's own keys win over all members.
        if let Some(Value::Array(members)) = node.shift_remove("allOf") {
            node = self.merge_all_of(&members, node);
        }

        // 3. type
        let mut nullable = node.get("nullable") == Some(&Value::Bool(true));
        match node.shift_remove("type") {
            Some(Value::Array(types)) => {
                if types.iter().any(|t| t == "null") {
                    nullable = true;
                    add_hint(&mut node, "nullable");
                }
                let first = types
                    .iter()
                    .filter_map(Value::as_str)
                    .find(|t| *t != "null")
                    .unwrap_or("string");
                insert_type(&mut node, first);
            }
            Some(Value::String(t)) => insert_type(&mut node, &t),
            _ => {}
        }

        // 4. anyOf / oneOf
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = node.shift_remove(key) {
                nullable |= self.collapse_union(&branches, &mut node);
            }
        }

        // 5. items
        match node.shift_remove("items") {
            Some(Value::Array(tuple)) => {
                if let Some(first) = tuple.first() {
                    let cleaned = self.clean(first).0;
                    node.insert("items".into(), cleaned);
                    add_hint(&mut node, "tuple schema simplified");
                }
            }
            Some(items @ Value::Object(_)) => {
                let cleaned = self.clean(&items).0;
                node.insert("items".into(), cleaned);
            }
            _ => {
                let first = node
                    .get("prefixItems")
                    .and_then(Value::as_array)
                    .and_then(|p| p.first())
                    .cloned();
                if let Some(first) = first {
                    let cleaned = self.clean(&first).0;
                    node.insert("items".into(), cleaned);
                    add_hint(&mut node, "tuple schema simplified");
                }
            }
        }

        // 6. validation keywords become description hints
        for key in HINT_KEYS {
            match node.shift_remove(*key) {
                Some(v) if !is_empty_value(&v) => add_hint(&mut node, &format!("{key}: {v}")),
                _ => {}
            }
        }

        // 7. const → enum (string consts only), then unsupported keys go
        if let Some(c) = node
            .get("const")
            .filter(|_| !node.contains_key("enum"))
            .cloned()
        {
            match c {
                Value::String(s) if !s.is_empty() => {
                    node.insert("enum".into(), json!([s]));
                    node.entry("type").or_insert_with(|| json!("string"));
                }
                Value::Null => {}
                other => add_hint(&mut node, &format!("const: {other}")),
            }
        }
        node.retain(|k, _| !DELETED_KEYS.contains(&k.as_str()) && !k.starts_with("x-"));
        if node.get("enum").is_some_and(|e| !e.is_array()) {
            node.shift_remove("enum");
        }

        // 8. properties (names are data, never filtered)
        let mut nullable_props = HashSet::new();
        if let Some(Value::Object(props)) = node.shift_remove("properties") {
            let mut out = Map::new();
            for (name, prop) in props {
                let (cleaned, prop_nullable) = self.clean(&prop);
                if prop_nullable {
                    nullable_props.insert(name.clone());
                }
                out.insert(name, cleaned);
            }
            node.insert("properties".into(), Value::Object(out));
        }

        // 9. properties imply an object
        if node.contains_key("properties") && !node.contains_key("type") {
            node.insert("type".into(), json!("object"));
        }

        // 10. required: only existing, non-nullable property names, once each
        if let Some(required) = node.shift_remove("required") {
            let props = node.get("properties").and_then(Value::as_object);
            let mut seen = HashSet::new();
            let kept: Vec<Value> = required
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter(|name| props.is_some_and(|p| p.contains_key(*name)))
                .filter(|name| !nullable_props.contains(*name))
                .filter(|name| seen.insert(name.to_string()))
                .map(|name| Value::String(name.to_string()))
                .collect();
            if !kept.is_empty() {
                node.insert("required".into(), Value::Array(kept));
            }
        }
        (Value::Object(node), nullable)
    }

    fn merge_all_of(&mut self, members: &[Value], own: Map<String, Value>) -> Map<String, Value> {
        let mut merged = Map::new();
        let mut props = Map::new();
        let mut required: Vec<Value> = Vec::new();
        let mut absorb = |map: Map<String, Value>, merged: &mut Map<String, Value>| {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("properties", Value::Object(p)) => props.extend(p),
                    ("required", Value::Array(r)) => required.extend(r),
                    (_, v) => {
                        merged.insert(k, v);
                    }
                }
            }
        };
        for member in members {
            if let (Value::Object(cleaned), _) = self.clean(member) {
                absorb(cleaned, &mut merged);
            }
        }
        absorb(own, &mut merged);
        if !props.is_empty() {
            merged.insert("properties".into(), Value::Object(props));
        }
        if !required.is_empty() {
            merged.insert("required".into(), Value::Array(required));
        }
        merged
    }

    /// Collapse `anyOf`/`oneOf` into the node. Returns whether a `null` branch was present.
    fn collapse_union(&mut self, branches: &[Value], node: &mut Map<String, Value>) -> bool {
        let has_null = branches.iter().any(is_null_branch);
        let candidates: Vec<&Value> = branches.iter().filter(|b| !is_null_branch(b)).collect();
        let already_marked = node
            .get("description")
            .and_then(Value::as_str)
            .is_some_and(|d| d.contains("nullable"));
        if has_null && !already_marked {
            add_hint(node, "nullable");
        }
        let consts: Option<Vec<String>> = candidates
            .iter()
            .map(|b| b.get("const").and_then(const_as_string))
            .collect();
        if let Some(consts) = consts.filter(|c| !c.is_empty()) {
            node.insert("type".into(), json!("string"));
            node.insert("enum".into(), json!(consts));
            return has_null;
        }
        let cleaned: Vec<Map<String, Value>> = candidates
            .iter()
            .filter_map(|b| match self.clean(b).0 {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .collect();
        let structured = |b: &&Map<String, Value>| {
            matches!(
                b.get("type").and_then(Value::as_str),
                Some("object" | "array")
            ) || b.contains_key("properties")
        };
        let typed = |b: &&Map<String, Value>| b.contains_key("type") || b.contains_key("enum");
        let pick = cleaned
            .iter()
            .find(structured)
            .or_else(|| cleaned.iter().find(typed));
        if let Some(branch) = pick {
            for (k, v) in branch {
                if k == "description" && node.contains_key("description") {
                    continue;
                }
                node.insert(k.clone(), v.clone());
            }
        }
        has_null
    }
}

fn insert_type(node: &mut Map<String, Value>, t: &str) {
    let t = t.to_ascii_lowercase();
    let t = if t == "null" { "string".to_string() } else { t };
    if KNOWN_TYPES.contains(&t.as_str()) {
        node.insert("type".into(), Value::String(t));
    }
}

#[cfg(test)]
mod tests;
