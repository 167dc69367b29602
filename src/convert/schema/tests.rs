use serde_json::json;

use super::clean_parameters_schema as clean;

#[test]
fn case_22_schema_keys_type_list_hints_and_required() {
    let schema = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "T",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "title": {"type": ["string", "null"], "default": "a", "minLength": 1}
        },
        "required": ["title", "missing"]
    });
    assert_eq!(
        clean(&schema),
        json!({
            "type": "object",
            "properties": {
                "title": {"type": "string", "description": "nullable (default: \"a\") (minLength: 1)"}
            }
        })
    );
}

#[test]
fn case_23_any_of_consts_become_enum() {
    let schema = json!({"type": "object", "properties": {
        "p": {"anyOf": [{"const": "a"}, {"const": "b"}]}
    }});
    assert_eq!(
        clean(&schema)["properties"]["p"],
        json!({"type": "string", "enum": ["a", "b"]})
    );
}

#[test]
fn case_24_one_of_prefers_the_object_branch() {
    let schema = json!({"type": "object", "properties": {
        "p": {"oneOf": [{"type": "string"}, {"type": "object", "properties": {"k": {"type": "number"}}}]}
    }});
    assert_eq!(
        clean(&schema)["properties"]["p"],
        json!({"type": "object", "properties": {"k": {"type": "number"}}})
    );
}

#[test]
fn case_25_tuple_items_collapse_to_first() {
    let schema = json!({"type": "array", "items": [{"type": "string"}, {"type": "number"}]});
    let out = clean(&schema);
    assert_eq!(out["items"], json!({"type": "string"}));
    assert!(
        out["description"]
            .as_str()
            .unwrap()
            .contains("tuple schema simplified")
    );
}

#[test]
fn case_26_repeated_refs_are_inlined_fully() {
    let schema = json!({
        "type": "object",
        "$defs": {"X": {"type": "object", "properties": {"v": {"type": "integer"}}, "required": ["v"]}},
        "properties": {
            "a": {"$ref": "#/$defs/X"},
            "b": {"$ref": "#/$defs/X", "description": "second"}
        }
    });
    let out = clean(&schema);
    let x = json!({"type": "object", "properties": {"v": {"type": "integer"}}, "required": ["v"]});
    assert_eq!(out["properties"]["a"], x);
    let mut b = x.clone();
    b["description"] = json!("second");
    assert_eq!(out["properties"]["b"], b);
    assert!(out.get("$defs").is_none());
    assert!(!out.to_string().contains("circular"));
}

#[test]
fn case_27_property_names_survive_vendor_keys_do_not() {
    let schema = json!({
        "type": "object",
        "x-google-foo": 1,
        "properties": {
            "x-ext": {"type": "string", "x-google-bar": true},
            "format": {"type": "string"}
        }
    });
    let out = clean(&schema);
    assert!(out.get("x-google-foo").is_none());
    assert_eq!(out["properties"]["x-ext"], json!({"type": "string"}));
    assert_eq!(out["properties"]["format"], json!({"type": "string"}));
}

#[test]
fn true_cycle_is_cut() {
    let schema = json!({
        "type": "object",
        "definitions": {"Node": {"type": "object", "properties": {"next": {"$ref": "Node"}}}},
        "properties": {"head": {"$ref": "#/definitions/Node"}}
    });
    let out = clean(&schema);
    // "Node" by bare name and by pointer are different strings: the second expansion
    // happens once, then the cycle is cut.
    let text = out.to_string();
    assert!(text.contains("(circular reference)"), "{text}");
    let root_cycle = json!({"type": "object", "properties": {"self": {"$ref": "#"}}});
    assert_eq!(
        clean(&root_cycle)["properties"]["self"]["properties"]["self"],
        json!({"type": "object", "description": "(circular reference)"})
    );
}

#[test]
fn unresolvable_ref_is_dropped() {
    let schema =
        json!({"type": "object", "properties": {"a": {"$ref": "#/nope", "description": "d"}}});
    assert_eq!(
        clean(&schema)["properties"]["a"],
        json!({"description": "d"})
    );
}

#[test]
fn all_of_merges_properties_and_required() {
    let schema = json!({
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "integer"}}, "required": ["b", "a"]}
        ],
        "description": "own"
    });
    assert_eq!(
        clean(&schema),
        json!({
            "type": "object",
            "description": "own",
            "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
            "required": ["a", "b"]
        })
    );
}

#[test]
fn any_of_keeps_own_description_once_and_null_branch_means_nullable() {
    let schema = json!({"type": "object", "properties": {
        "u": {"description": "U", "anyOf": [{"type": "string", "description": "inner"}, {"type": "null"}]}
    }, "required": ["u"]});
    let out = clean(&schema);
    assert_eq!(
        out["properties"]["u"],
        json!({"type": "string", "description": "U (nullable)"})
    );
    assert!(out.get("required").is_none());
}

#[test]
fn type_normalisation() {
    assert_eq!(clean(&json!({"type": "STRING"})), json!({"type": "string"}));
    assert_eq!(clean(&json!({"type": "null"})), json!({"type": "string"}));
    assert_eq!(clean(&json!({"type": "weird"})), json!({}));
    assert_eq!(
        clean(&json!({"type": ["null"]})),
        json!({"type": "string", "description": "nullable"})
    );
    assert_eq!(
        clean(&json!({"properties": {"a": {"type": "integer"}}})),
        json!({"properties": {"a": {"type": "integer"}}, "type": "object"})
    );
}

#[test]
fn cpa_extra_keys_removed_and_const_becomes_enum() {
    let out = clean(&json!({
        "type": "object",
        "deprecated": true,
        "$comment": "c",
        "properties": {"k": {"const": "fixed"}, "n": {"type": "integer", "const": 3}}
    }));
    assert_eq!(
        out,
        json!({
            "type": "object",
            "properties": {
                "k": {"enum": ["fixed"], "type": "string"},
                "n": {"type": "integer", "description": "const: 3"}
            }
        })
    );
}

#[test]
fn deep_or_huge_schemas_are_bounded() {
    let mut deep = json!({"type": "string"});
    for _ in 0..200 {
        deep = json!({"type": "object", "properties": {"p": deep}});
    }
    let out = clean(&deep);
    assert!(out.to_string().contains("schema too large"));

    // Exponential ref fan-out stops at the node budget instead of exhausting memory.
    let mut defs = serde_json::Map::new();
    defs.insert("D0".into(), json!({"type": "string"}));
    for i in 1..30 {
        let prev = format!("#/$defs/D{}", i - 1);
        defs.insert(
            format!("D{i}"),
            json!({"type": "object", "properties": {"a": {"$ref": prev}, "b": {"$ref": prev}}}),
        );
    }
    let bomb = json!({"$defs": defs, "$ref": "#/$defs/D29"});
    let out = clean(&bomb);
    assert!(out.to_string().len() < 5_000_000);
}

#[test]
fn non_object_nodes_become_empty_schemas() {
    assert_eq!(
        clean(&json!({"type": "object", "properties": {"a": true}})),
        json!({"type": "object", "properties": {"a": {}}})
    );
}
