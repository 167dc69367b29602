//! `GET /v1/models[/{id}]` answers in the caller's format: Google's to `x-goog-api-key` /
//! `?key=` callers, Anthropic's to callers sending `anthropic-version`, OpenAI's to the rest.
//! `/v1beta/models` is always Google's.
use reqwest::RequestBuilder;
use serde_json::Value;

use crate::support::{KEY, TestApp};

enum Caller {
    OpenAi,
    GoogleHeader,
    GoogleQuery,
    Anthropic,
}

fn get(app: &TestApp, path: &str, caller: &Caller) -> RequestBuilder {
    let url = format!("{}{path}", app.url);
    match caller {
        Caller::OpenAi => app.http.get(url).bearer_auth(KEY),
        Caller::GoogleHeader => app.http.get(url).header("x-goog-api-key", KEY),
        Caller::GoogleQuery => {
            let sep = if path.contains('?') { '&' } else { '?' };
            app.http.get(format!("{url}{sep}key={KEY}"))
        }
        Caller::Anthropic => app
            .http
            .get(url)
            .header("x-api-key", KEY)
            .header("anthropic-version", "2023-06-01"),
    }
}

async fn json(req: RequestBuilder) -> (u16, Value) {
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(ctype.starts_with("application/json"), "{status}: {ctype}");
    (status, r.json().await.unwrap())
}

fn strings(v: &Value, list: &str, field: &str) -> Vec<String> {
    v[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list}[] in {v}"))
        .iter()
        .map(|m| m[field].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn openai_callers_get_openai_shapes() {
    let app = TestApp::spawn().await;
    let (status, v) = json(get(&app, "/v1/models", &Caller::OpenAi)).await;
    assert_eq!(status, 200);
    assert_eq!(v["object"], "list");
    let first = &v["data"][0];
    assert_eq!(first["object"], "model");
    assert!(first["created"].is_i64());
    assert_eq!(first["owned_by"], "google");
    let ids = strings(&v, "data", "id");
    assert!(ids.contains(&"gemini-2.5-pro".to_string()));
    assert!(ids.contains(&"假流式/gemini-2.5-pro".to_string()));

    let (status, one) = json(get(&app, "/v1/models/gemini-2.5-pro", &Caller::OpenAi)).await;
    assert_eq!(status, 200);
    assert_eq!(one["id"], "gemini-2.5-pro");
    assert_eq!(one["object"], "model");
    assert_eq!(one["owned_by"], "google");
    assert!(one.get("name").is_none(), "not Google's shape: {one}");
    // Ids with a feature prefix contain '/', percent-encoded or not.
    for path in [
        "/v1/models/%E5%81%87%E6%B5%81%E5%BC%8F%2Fgemini-2.5-pro",
        "/v1/models/假流式/gemini-2.5-pro",
    ] {
        let (status, one) = json(get(&app, path, &Caller::OpenAi)).await;
        assert_eq!(status, 200, "{path}: {one}");
        assert_eq!(one["id"], "假流式/gemini-2.5-pro");
    }

    let (status, e) = json(get(&app, "/v1/models/gpt-unknown", &Caller::OpenAi)).await;
    assert_eq!(status, 404);
    assert_eq!(e["error"]["type"], "not_found_error", "{e}");
    assert_eq!(e["error"]["code"], "model_not_found");
}

#[tokio::test]
async fn google_callers_get_google_shapes_on_v1() {
    let app = TestApp::spawn().await;
    for caller in [Caller::GoogleHeader, Caller::GoogleQuery] {
        let (status, v) = json(get(&app, "/v1/models", &caller)).await;
        assert_eq!(status, 200);
        let names = strings(&v, "models", "name");
        assert!(names.contains(&"models/gemini-2.5-pro".to_string()), "{v}");
        assert!(v.get("data").is_none());
        let (status, one) = json(get(&app, "/v1/models/gemini-2.5-flash", &caller)).await;
        assert_eq!(status, 200);
        assert_eq!(one["name"], "models/gemini-2.5-flash");
        assert!(one["supportedGenerationMethods"].is_array());
        // google-genai asks for `models/{name}` paths too.
        let (status, one) = json(get(&app, "/v1/models/models/gemini-2.5-flash", &caller)).await;
        assert_eq!(status, 200);
        assert_eq!(one["name"], "models/gemini-2.5-flash");
        let (status, e) = json(get(&app, "/v1/models/nope-1", &caller)).await;
        assert_eq!(status, 404);
        assert_eq!(e["error"]["code"], 404, "{e}");
        assert_eq!(e["error"]["status"], "NOT_FOUND");
    }
}

#[tokio::test]
async fn google_pages_cover_the_whole_list() {
    let app = TestApp::spawn().await;
    let (_, all) = json(get(&app, "/v1beta/models", &Caller::GoogleHeader)).await;
    let all = strings(&all, "models", "name");
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let path = format!("/v1/models?pageSize=7&pageToken={token}");
        let (status, page) = json(get(&app, &path, &Caller::GoogleHeader)).await;
        assert_eq!(status, 200, "{page}");
        let names = strings(&page, "models", "name");
        assert!(names.len() <= 7);
        seen.extend(names);
        match page["nextPageToken"].as_str() {
            Some(t) => token = t.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, all);
    let (status, e) = json(get(
        &app,
        "/v1beta/models?pageToken=bogus",
        &Caller::GoogleHeader,
    ))
    .await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["status"], "INVALID_ARGUMENT");
}

#[tokio::test]
async fn anthropic_callers_get_anthropic_shapes() {
    let app = TestApp::spawn().await;
    let (status, v) = json(get(&app, "/v1/models", &Caller::Anthropic)).await;
    assert_eq!(status, 200);
    assert_eq!(v["has_more"], false);
    let ids = strings(&v, "data", "id");
    assert_eq!(v["first_id"], ids[0].as_str());
    assert_eq!(v["last_id"], ids.last().unwrap().as_str());
    let first = &v["data"][0];
    assert_eq!(first["type"], "model");
    assert!(first["display_name"].is_string());
    let created = first["created_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "{created}"
    );

    let (_, page) = json(get(&app, "/v1/models?limit=3", &Caller::Anthropic)).await;
    assert_eq!(strings(&page, "data", "id"), ids[..3]);
    assert_eq!(page["has_more"], true);
    let after = format!(
        "/v1/models?limit=3&after_id={}",
        urlencode(page["last_id"].as_str().unwrap())
    );
    let (_, next) = json(get(&app, &after, &Caller::Anthropic)).await;
    assert_eq!(strings(&next, "data", "id"), ids[3..6]);

    let (status, one) = json(get(&app, "/v1/models/gemini-2.5-pro", &Caller::Anthropic)).await;
    assert_eq!(status, 200);
    assert_eq!(one["type"], "model");
    assert_eq!(one["id"], "gemini-2.5-pro");
    let (status, e) = json(get(&app, "/v1/models/claude-nope", &Caller::Anthropic)).await;
    assert_eq!(status, 404);
    assert_eq!(e["type"], "error", "{e}");
    assert_eq!(e["error"]["type"], "not_found_error");
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn every_format_lists_the_same_models() {
    let app = TestApp::spawn().await;
    let (_, o) = json(get(&app, "/v1/models", &Caller::OpenAi)).await;
    let (_, g) = json(get(&app, "/v1/models", &Caller::GoogleHeader)).await;
    let (_, a) = json(get(&app, "/v1/models", &Caller::Anthropic)).await;
    let openai = strings(&o, "data", "id");
    let google: Vec<String> = strings(&g, "models", "name")
        .into_iter()
        .map(|n| n.trim_start_matches("models/").to_string())
        .collect();
    assert_eq!(openai, google);
    assert_eq!(openai, strings(&a, "data", "id"));
}

#[tokio::test]
async fn v1beta_stays_google_whoever_asks() {
    let app = TestApp::spawn().await;
    for caller in [Caller::OpenAi, Caller::Anthropic] {
        let (status, v) = json(get(&app, "/v1beta/models", &caller)).await;
        assert_eq!(status, 200);
        assert!(v["models"].is_array(), "{v}");
        let (_, one) = json(get(&app, "/v1beta/models/gemini-2.5-pro", &caller)).await;
        assert_eq!(one["name"], "models/gemini-2.5-pro");
    }
}

#[tokio::test]
async fn auth_errors_on_the_model_list_use_the_negotiated_format() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v1/models", app.url);
    let (status, e) = json(app.http.get(&url).header("anthropic-version", "2023-06-01")).await;
    assert_eq!(status, 401);
    assert_eq!(e["type"], "error", "{e}");
    assert_eq!(e["error"]["type"], "authentication_error");
    let (status, e) = json(
        app.http
            .get(&url)
            .header("anthropic-version", "2023-06-01")
            .header("x-api-key", "wrong"),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(e["type"], "error", "{e}");
    let (status, e) = json(app.http.get(&url).header("x-goog-api-key", "wrong")).await;
    assert_eq!(status, 403);
    assert_eq!(e["error"]["status"], "PERMISSION_DENIED", "{e}");
    let (status, e) = json(app.http.get(&url)).await;
    assert_eq!(status, 401);
    assert_eq!(e["error"]["type"], "authentication_error", "{e}");
}

/// Aliases are listed in every format, and one picked from the list is served by its target.
#[tokio::test]
async fn aliases_are_listed_and_servable() {
    let app = TestApp::spawn().await;
    let (status, list) = json(get(&app, "/v1/models", &Caller::OpenAi)).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(ids.contains(&"claude-sonnet-*"), "{ids:?}");
    assert!(ids.contains(&"gpt-5*"), "{ids:?}");
    let (_, g) = json(get(
        &app,
        "/v1beta/models/claude-haiku-*",
        &Caller::GoogleHeader,
    ))
    .await;
    assert_eq!(g["baseModelId"], "gemini-2.5-flash", "{g}");
    let (status, b) = app
        .chat(serde_json::json!({"model": "claude-sonnet-*",
            "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["model"], "claude-sonnet-*");
    let sent = app.generation_requests().pop().unwrap();
    assert_eq!(sent.json().unwrap()["model"], "gemini-2.5-pro");
}
