//! The checked-in spec matches the code, and documents what clients rely on.
use serde_json::Value;

#[test]
fn checked_in_spec_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/management.json");
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    let generated = gcli2api::api::spec_json();
    assert!(
        on_disk.trim_end() == generated.trim_end(),
        "openapi/management.json is stale: run `cargo run -- openapi > openapi/management.json` \
         and commit the result"
    );
}

#[test]
fn every_operation_has_an_id_a_tag_and_json_errors() {
    let spec: Value = serde_json::from_str(&gcli2api::api::spec_json()).unwrap();
    let paths = spec["paths"].as_object().unwrap();
    assert!(
        paths.keys().all(|p| p.starts_with("/api/v1/")),
        "{:?}",
        paths.keys()
    );
    let mut ids = std::collections::HashSet::new();
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}"));
            assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
            assert_eq!(op["tags"].as_array().map(Vec::len), Some(1), "{id}");
            let public = id == "create_session";
            assert_eq!(op.get("security").is_none(), public, "{id}: security");
            if !public {
                assert!(op["responses"]["401"].is_object(), "{id} documents 401");
            }
            for (status, resp) in op["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &resp["content"]["application/json; charset=utf-8"]["schema"];
                    assert_eq!(
                        schema["$ref"], "#/components/schemas/ApiError",
                        "{id} {status}: {resp}"
                    );
                }
            }
        }
    }
    assert!(spec["components"]["securitySchemes"]["PanelAuth"]["scheme"] == "bearer");
}
