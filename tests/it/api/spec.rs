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

/// serde_json keeps the last of duplicate keys; a spec with two `401`s under one operation
/// would silently lose one.
#[test]
fn spec_has_no_duplicate_keys() {
    fn check(v: &str) -> Result<(), String> {
        struct NoDup;
        impl<'de> serde::de::DeserializeSeed<'de> for NoDup {
            type Value = ();
            fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_any(NoDup)
            }
        }
        impl<'de> serde::de::Visitor<'de> for NoDup {
            type Value = ();
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
                let mut seen = std::collections::HashSet::new();
                while let Some(k) = m.next_key::<String>()? {
                    if !seen.insert(k.clone()) {
                        return Err(serde::de::Error::custom(format!("duplicate key {k}")));
                    }
                    m.next_value_seed(NoDup)?;
                }
                Ok(())
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
                while s.next_element_seed(NoDup)?.is_some() {}
                Ok(())
            }
            fn visit_str<E>(self, _: &str) -> Result<(), E> {
                Ok(())
            }
            fn visit_bool<E>(self, _: bool) -> Result<(), E> {
                Ok(())
            }
            fn visit_i64<E>(self, _: i64) -> Result<(), E> {
                Ok(())
            }
            fn visit_u64<E>(self, _: u64) -> Result<(), E> {
                Ok(())
            }
            fn visit_f64<E>(self, _: f64) -> Result<(), E> {
                Ok(())
            }
            fn visit_unit<E>(self) -> Result<(), E> {
                Ok(())
            }
        }
        let mut d = serde_json::Deserializer::from_str(v);
        serde::de::DeserializeSeed::deserialize(NoDup, &mut d).map_err(|e| e.to_string())
    }
    assert_eq!(
        check(r#"{"a": 1, "a": 2}"#).map_err(|e| e.contains("duplicate")),
        Err(true)
    );
    check(&gcli2api::api::spec_json()).unwrap();
}

/// The running server serves the spec, byte for byte the checked-in file, without credentials.
#[tokio::test]
async fn the_server_serves_the_checked_in_spec() {
    let app = super::spawn().await;
    let r = app
        .http
        .get(format!("{}/api/v1/openapi.json", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ctype = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ctype.starts_with("application/json"), "{ctype}");
    let served = r.text().await.unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/management.json");
    let on_disk = std::fs::read_to_string(path).unwrap();
    assert!(
        served == on_disk,
        "served spec differs from openapi/management.json"
    );
    let v: Value = serde_json::from_str(&served).unwrap();
    assert_eq!(v["info"]["title"], "gcli2api management API");
}

/// The explorer page works offline: Swagger UI's script and styles are in the page, and nothing
/// is loaded from another origin.
#[tokio::test]
async fn the_explorer_page_is_self_contained() {
    let app = super::spawn().await;
    let r = app
        .http
        .get(format!("{}/api/v1/docs", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ctype = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ctype.starts_with("text/html"), "{ctype}");
    let page = r.text().await.unwrap();
    assert!(page.contains("SwaggerUIBundle("), "Swagger UI is inlined");
    assert!(
        page.contains("\"/api/v1/credentials\""),
        "the spec is inlined"
    );
    let lower = page.to_ascii_lowercase();
    for external in [
        "<script src=",
        "<link href=\"http",
        "<link rel=\"stylesheet\" href=\"http",
        "@import url(http",
    ] {
        assert!(!lower.contains(external), "the page loads {external}…");
    }
}

/// The two documentation routes are public; everything else under `/api/v1` still needs auth.
#[tokio::test]
async fn docs_are_public_and_the_api_is_not() {
    let app = super::spawn().await;
    for path in ["/api/v1/openapi.json", "/api/v1/docs"] {
        let r = app
            .http
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let r = app
        .http
        .get(format!("{}/api/v1/credentials", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .http
        .get(format!("{}/api/v1/nope", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}
