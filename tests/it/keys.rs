//! Client API keys over real sockets: limits, allow-lists, revocation, expiry, usage per key
//! and the refusals' shapes on every surface.
use std::time::Duration;

use gcli2api::google::kind::CredentialKind;
use gcli2api::simulator::ApiKeySpec;
use reqwest::Method;
use serde_json::{Value, json};

use crate::api::{api, send};
use crate::support::{TestApp, builder, init_logs, user_text};

async fn spawn(users: usize) -> TestApp {
    init_logs();
    builder().users(users).spawn().await
}

/// Creates a key through the API; returns (id, secret).
pub async fn create_key(app: &TestApp, body: Value) -> (i64, String) {
    let (s, v) = send(api(app, Method::POST, "/client-keys").json(&body)).await;
    assert_eq!(s, 201, "{v}");
    (
        v["key"]["id"].as_i64().unwrap(),
        v["secret"].as_str().unwrap().to_string(),
    )
}

fn chat_body(model: &str) -> Value {
    json!({"model": model, "messages": [user_text("hi")]})
}

async fn chat_as(app: &TestApp, key: &str, model: &str) -> (u16, Value, Option<String>) {
    let r = app
        .http
        .post(format!("{}/v1/chat/completions", app.url))
        .bearer_auth(key)
        .json(&chat_body(model))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, r.json().await.unwrap_or(Value::Null), retry)
}

async fn gemini_as(app: &TestApp, key: &str, model: &str) -> (u16, Value, Option<String>) {
    let r = app
        .http
        .post(format!("{}/v1beta/models/{model}:generateContent", app.url))
        .header("x-goog-api-key", key)
        .json(&json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, r.json().await.unwrap_or(Value::Null), retry)
}

async fn anthropic_as(app: &TestApp, key: &str, model: &str) -> (u16, Value, Option<String>) {
    let r = app
        .http
        .post(format!("{}/v1/messages", app.url))
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": model, "max_tokens": 64,
            "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, r.json().await.unwrap_or(Value::Null), retry)
}

#[tokio::test]
async fn a_key_limited_to_three_a_minute_gets_its_fourth_refused_in_each_surfaces_format() {
    let app = spawn(1).await;
    let (_, key) = create_key(&app, json!({"name": "three", "rpm": 3})).await;
    // Key checks and limits are in memory: serving reads nothing from SQLite.
    let reads = app.state.store.read_count();
    for i in 0..3 {
        let (s, v, _) = chat_as(&app, &key, "gemini-2.5-flash").await;
        assert_eq!(s, 200, "request {i}: {v}");
    }
    let (s, v, retry) = chat_as(&app, &key, "gemini-2.5-flash").await;
    assert_eq!(
        app.state.store.read_count(),
        reads,
        "no SQLite read per request"
    );
    assert_eq!(s, 429, "{v}");
    let secs: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("'three'") && msg.contains("per-minute"),
        "{msg}"
    );

    // The same limit met on the Gemini and Anthropic surfaces answers in their shapes.
    let (_, g) = create_key(&app, json!({"name": "one-g", "rpm": 1})).await;
    assert_eq!(gemini_as(&app, &g, "gemini-2.5-flash").await.0, 200);
    let (s, v, retry) = gemini_as(&app, &g, "gemini-2.5-flash").await;
    assert_eq!(s, 429, "{v}");
    assert!(retry.is_some());
    assert_eq!(v["error"]["code"], 429);
    assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED");
    let (_, a) = create_key(&app, json!({"name": "one-a", "rpm": 1})).await;
    assert_eq!(anthropic_as(&app, &a, "gemini-2.5-flash").await.0, 200);
    let (s, v, retry) = anthropic_as(&app, &a, "gemini-2.5-flash").await;
    assert_eq!(s, 429, "{v}");
    assert!(retry.is_some());
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "rate_limit_error");
}

#[tokio::test]
async fn a_key_allowed_only_flash_is_refused_pro_whatever_the_name_says() {
    let app = spawn(1).await;
    let (_, key) = create_key(
        &app,
        json!({"name": "flash-only", "models": ["gemini-2.5-flash"]}),
    )
    .await;
    assert_eq!(chat_as(&app, &key, "gemini-2.5-flash").await.0, 200);
    // A suffix variant of the allowed model is the same base model.
    assert_eq!(chat_as(&app, &key, "gemini-2.5-flash-low").await.0, 200);
    for name in [
        "gemini-2.5-pro",
        "gemini-2.5-pro-high",
        "gemini-2.5-pro-search",
        "fake-stream/gemini-2.5-pro",
        // An alias to pro (the default MODEL_ALIASES map gpt-5 to gemini-2.5-pro).
        "gpt-5",
    ] {
        let (s, v, _) = chat_as(&app, &key, name).await;
        assert_eq!(s, 403, "{name}: {v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("'gemini-2.5-pro'") && msg.contains("flash-only"),
            "{name}: {msg}"
        );
        assert_eq!(v["error"]["type"], "permission_error");
        assert_eq!(v["error"]["code"], "model_not_allowed");
        assert_eq!(v["error"]["param"], "model");
    }
    let (s, v, _) = gemini_as(&app, &key, "gemini-2.5-pro").await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["status"], "PERMISSION_DENIED");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gemini-2.5-pro")
    );
    let (s, v, _) = anthropic_as(&app, &key, "claude-sonnet-4-5").await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["type"], "permission_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gemini-2.5-pro")
    );
    // The refusals never reached Google, and the built-in key is not restricted.
    let sent = app.generation_requests().len();
    assert_eq!(sent, 2);
    assert_eq!(app.chat(chat_body("gemini-2.5-pro")).await.0, 200);
}

#[tokio::test]
async fn a_request_refused_by_the_allow_list_does_not_use_up_the_keys_limits() {
    let app = spawn(1).await;
    let (_, key) = create_key(
        &app,
        json!({"name": "one-flash", "models": ["gemini-2.5-flash"], "rpm": 1, "daily_requests": 1}),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(chat_as(&app, &key, "gemini-2.5-pro").await.0, 403);
    }
    // The refusals gave their per-minute slot and their daily count back.
    let (s, v, _) = chat_as(&app, &key, "gemini-2.5-flash").await;
    assert_eq!(s, 200, "{v}");
    let (s, _, retry) = chat_as(&app, &key, "gemini-2.5-flash").await;
    assert_eq!(s, 429);
    assert!(retry.is_some());
}

#[tokio::test]
async fn a_revoked_or_disabled_key_fails_on_its_next_request() {
    let app = spawn(1).await;
    let (id, key) = create_key(&app, json!({"name": "short-lived"})).await;
    assert_eq!(chat_as(&app, &key, "gemini-2.5-flash").await.0, 200);

    let off = json!({"name": "short-lived", "enabled": false});
    let (s, v) = send(api(&app, Method::PUT, &format!("/client-keys/{id}")).json(&off)).await;
    assert_eq!(s, 200, "{v}");
    let (s, v, _) = chat_as(&app, &key, "gemini-2.5-flash").await;
    assert_eq!(s, 403, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("disabled"));
    let on = json!({"name": "short-lived", "enabled": true});
    send(api(&app, Method::PUT, &format!("/client-keys/{id}")).json(&on)).await;
    assert_eq!(chat_as(&app, &key, "gemini-2.5-flash").await.0, 200);

    let (s, _) = send(api(&app, Method::DELETE, &format!("/client-keys/{id}"))).await;
    assert_eq!(s, 204);
    let (s, v, _) = chat_as(&app, &key, "gemini-2.5-flash").await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "invalid_api_key");
    let (s, _) = send(api(&app, Method::DELETE, &format!("/client-keys/{id}"))).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn an_expired_key_is_refused_and_the_list_says_so() {
    let app = spawn(1).await;
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let (id, key) = create_key(
        &app,
        json!({"name": "until-soon", "expires_at": soon.to_rfc3339()}),
    )
    .await;
    assert_eq!(chat_as(&app, &key, "gemini-2.5-flash").await.0, 200);
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let (s, v, _) = chat_as(&app, &key, "gemini-2.5-flash").await;
    assert_eq!(s, 403, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("expired"));
    let (_, v) = send(api(&app, Method::GET, &format!("/client-keys/{id}"))).await;
    assert_eq!(v["expired"], true);
    assert_eq!(v["today"]["requests"], 1);
    // The list never shows a secret, only its prefix.
    let (_, list) = send(api(&app, Method::GET, "/client-keys")).await;
    let text = list.to_string();
    assert!(!text.contains(&key));
    assert!(key.starts_with(list[0]["prefix"].as_str().unwrap()));
}

#[tokio::test]
async fn daily_limits_refuse_until_the_reset_and_survive_a_restart() {
    let app = spawn(1).await;
    let (_, key) = create_key(&app, json!({"name": "two-a-day", "daily_requests": 2})).await;
    for _ in 0..2 {
        assert_eq!(chat_as(&app, &key, "gemini-2.5-flash").await.0, 200);
    }
    let (s, v, retry) = chat_as(&app, &key, "gemini-2.5-flash").await;
    assert_eq!(s, 429, "{v}");
    let secs: u64 = retry.unwrap().parse().unwrap();
    assert!(secs > 0 && secs <= 86_400 + 3600, "{secs}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("daily request")
    );

    let (_, tk) = create_key(&app, json!({"name": "few-tokens", "daily_tokens": 1})).await;
    assert_eq!(chat_as(&app, &tk, "gemini-2.5-flash").await.0, 200);
    let (s, v, _) = chat_as(&app, &tk, "gemini-2.5-flash").await;
    assert_eq!(s, 429, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("daily token")
    );

    // After a restart the day's counts start from the usage rows written before it.
    let (sim, dir) = app.stop().await;
    let app = builder().reuse(sim, dir).spawn().await;
    let (s, v, _) = chat_as(&app, &key, "gemini-2.5-flash").await;
    assert_eq!(s, 429, "{v}");
}

#[tokio::test]
async fn usage_per_key_is_exact_under_200_concurrent_requests_over_4_keys() {
    let app = spawn(3).await;
    let mut keys = Vec::new();
    for i in 0..4 {
        keys.push(create_key(&app, json!({"name": format!("team-{i}")})).await);
    }
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (_, secret) = keys[i % 4].clone();
        let http = app.http.clone();
        let url = app.url.clone();
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(format!("{url}/v1/chat/completions"))
                .bearer_auth(&secret)
                .json(&chat_body("gemini-2.5-flash"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            let v: Value = r.json().await.unwrap();
            (
                i % 4,
                v["usage"]["prompt_tokens"].as_u64().unwrap(),
                v["usage"]["completion_tokens"].as_u64().unwrap(),
            )
        }));
    }
    let mut want = [(0u64, 0u64, 0u64); 4];
    for t in tasks {
        let (k, p, c) = t.await.unwrap();
        want[k].0 += 1;
        want[k].1 += p;
        want[k].2 += c;
    }
    // In memory at once (today's counts per key), in the database after a flush.
    for (i, (id, _)) in keys.iter().enumerate() {
        let (_, v) = send(api(&app, Method::GET, &format!("/client-keys/{id}"))).await;
        assert_eq!(v["today"]["requests"], want[i].0, "{v}");
        assert_eq!(v["today"]["tokens"], want[i].1 + want[i].2, "{v}");
    }
    app.state.usage.flush().await.unwrap();
    let (_, agg) = send(api(&app, Method::GET, "/usage/aggregated?days=1")).await;
    let per_key = agg["per_key"].as_array().unwrap();
    assert_eq!(per_key.len(), 4, "{per_key:?}");
    for (i, (id, _)) in keys.iter().enumerate() {
        let row = per_key.iter().find(|r| r["key_id"] == *id).unwrap();
        assert_eq!(row["name"], format!("team-{i}"));
        assert_eq!(row["totals"]["requests"], want[i].0);
        assert_eq!(row["totals"]["request_successes"], want[i].0);
        assert_eq!(row["totals"]["prompt_tokens"], want[i].1);
        assert_eq!(row["totals"]["completion_tokens"], want[i].2);
    }
    assert_eq!(agg["overall"]["requests"], 200);
}

#[tokio::test]
async fn a_kinds_allow_list_picks_the_credentials_that_serve_the_key() {
    let app = spawn(1).await;
    app.add_key(CredentialKind::GeminiApiKey, ApiKeySpec::gemini())
        .await;
    let (_, key) = create_key(
        &app,
        json!({"name": "studio-only", "kinds": ["gemini_api_key"]}),
    )
    .await;
    let before = app.generation_requests().len();
    for _ in 0..3 {
        assert_eq!(chat_as(&app, &key, "gemini-2.5-flash").await.0, 200);
    }
    assert_eq!(
        app.generation_requests().len(),
        before,
        "no Code Assist call for a key limited to Gemini API keys"
    );
    assert_eq!(app.official_requests().len(), 3);
    let (s, v, _) = chat_as(&app, &key, "code-assist/gemini-2.5-flash").await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "upstream_not_allowed");
}

/// A stream's continuation calls are made while its body is being sent, after the handler has
/// returned: they still see the key's kinds allow-list.
#[tokio::test]
async fn anti_truncation_continuations_keep_the_kinds_allow_list() {
    use gcli2api::simulator::{Endpoint, Fault, FaultMatch, FaultRule};
    // Every call moves to the next credential, so a continuation made without the key's
    // scope would reach the Code Assist one.
    let app = builder()
        .users(1)
        .env("CALLS_PER_ROTATION", "1")
        .spawn()
        .await;
    app.add_key(CredentialKind::GeminiApiKey, ApiKeySpec::gemini())
        .await;
    let (_, key) = create_key(
        &app,
        json!({"name": "studio-stream", "kinds": ["gemini_api_key"]}),
    )
    .await;
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::StreamGenerateContent),
        2,
        Fault::IgnoreDoneMarker,
    ));
    let before = app.generation_requests().len();
    let r = app
        .http
        .post(format!("{}/v1/chat/completions", app.url))
        .bearer_auth(&key)
        .json(
            &json!({"model": "anti-truncation/gemini-2.5-flash", "stream": true,
            "messages": [user_text("go on")]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().ends_with("data: [DONE]\n\n"));
    assert_eq!(
        app.generation_requests().len(),
        before,
        "no Code Assist call for a key limited to Gemini API keys"
    );
    let streams = app
        .official_requests()
        .iter()
        .filter(|r| r.path.contains("streamGenerateContent"))
        .count();
    assert_eq!(streams, 3, "the first attempt and two continuations");
}

#[tokio::test]
async fn key_names_and_fields_are_checked_by_the_api() {
    let app = spawn(1).await;
    create_key(&app, json!({"name": "dup"})).await;
    let (s, v) = send(api(&app, Method::POST, "/client-keys").json(&json!({"name": "dup"}))).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "conflict");
    for bad in [
        json!({"name": "x", "models": ["gemini*pro"]}),
        json!({"name": "api-password"}),
        json!({"name": "x", "rpm": 1_000_000}),
    ] {
        let (s, v) = send(api(&app, Method::POST, "/client-keys").json(&bad)).await;
        assert_eq!(s, 422, "{bad}: {v}");
    }
    let (s, _) = send(api(&app, Method::GET, "/client-keys/999")).await;
    assert_eq!(s, 404);
    // Every change is in the audit log, without the secret.
    let (_, audit) = send(api(&app, Method::GET, "/audit?action=client_key.")).await;
    assert_eq!(audit["events"].as_array().unwrap().len(), 1);
}
