//! The official upstreams over real sockets: Gemini API keys, Vertex service accounts and
//! Vertex express keys, each through the OpenAI, Gemini and Anthropic surfaces, streamed and
//! not, against the simulator (which checks auth, paths and each dialect's fields).
use gcli2api::google::kind::CredentialKind;
use gcli2api::simulator::{ApiKeySpec, ServiceAccountSpec, Upstream};
use serde_json::{Value, json};

use crate::support::{TestApp, builder, sse_payloads, stream_text, user_text};

/// A gateway whose only credential is one of `kind`.
pub async fn app_with(kind: CredentialKind) -> TestApp {
    let app = builder().no_users().spawn().await;
    match kind {
        CredentialKind::VertexServiceAccount => {
            app.add_service_account(ServiceAccountSpec::new()).await;
        }
        CredentialKind::GeminiApiKey => {
            app.add_key(kind, ApiKeySpec::gemini()).await;
        }
        CredentialKind::VertexExpressKey => {
            app.add_key(kind, ApiKeySpec::express()).await;
        }
        CredentialKind::CodeAssist => unreachable!("the other tests cover Code Assist"),
    }
    app
}

fn upstream_of(kind: CredentialKind) -> Upstream {
    match kind {
        CredentialKind::GeminiApiKey => Upstream::GeminiApi,
        CredentialKind::VertexServiceAccount => Upstream::Vertex,
        CredentialKind::VertexExpressKey => Upstream::VertexExpress,
        CredentialKind::CodeAssist => Upstream::CodeAssist,
    }
}

async fn json_post(app: &TestApp, path: &str, body: Value) -> (u16, Value, String) {
    let r = app.post(path, &body).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, v, text)
}

fn anthropic(app: &TestApp, body: &Value) -> reqwest::RequestBuilder {
    app.http
        .post(format!("{}/v1/messages", app.url))
        .header("x-api-key", crate::support::KEY)
        .header("anthropic-version", "2023-06-01")
        .json(body)
}

async fn every_surface(kind: CredentialKind) {
    let app = app_with(kind).await;
    let model = "gemini-2.5-flash";

    // OpenAI, non-stream and stream.
    let (status, c) = app
        .chat(json!({"model": model, "messages": [
            {"role": "system", "content": "be brief"}, user_text("openai unary")]}))
        .await;
    assert_eq!(status, 200, "{kind}: {c}");
    assert_eq!(c["choices"][0]["message"]["content"], "Echo: openai unary");
    assert!(c["usage"]["prompt_tokens"].as_u64().unwrap() > 0, "{c}");
    let (status, chunks, raw) = app
        .chat_stream(
            json!({"model": model, "stream": true, "messages": [user_text("openai stream")]}),
        )
        .await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!(stream_text(&chunks), "Echo: openai stream");
    assert!(raw.trim_end().ends_with("data: [DONE]"), "{raw}");

    // Gemini native: generateContent, SSE stream, JSON-array stream, countTokens.
    let native = json!({"contents": [{"parts": [{"text": "gemini unary"}]}]});
    let (status, g, text) = json_post(
        &app,
        &format!("/v1beta/models/{model}:generateContent"),
        native,
    )
    .await;
    assert_eq!(status, 200, "{kind}: {text}");
    assert_eq!(
        g["candidates"][0]["content"]["parts"][0]["text"],
        "Echo: gemini unary"
    );
    let (status, _, text) = json_post(
        &app,
        &format!("/v1beta/models/{model}:streamGenerateContent?alt=sse"),
        json!({"contents": [{"role": "user", "parts": [{"text": "gemini stream"}]}]}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let said: String = sse_payloads(&text)
        .iter()
        .filter_map(|e| {
            e.pointer("/candidates/0/content/parts/0/text")
                .and_then(Value::as_str)
        })
        .collect();
    assert_eq!(said, "Echo: gemini stream");
    let (status, arr, text) = json_post(
        &app,
        &format!("/v1/models/{model}:streamGenerateContent"),
        json!({"contents": [{"role": "user", "parts": [{"text": "array"}]}]}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(arr.as_array().is_some_and(|a| !a.is_empty()), "{text}");
    let (status, count, text) = json_post(
        &app,
        &format!("/v1beta/models/{model}:countTokens"),
        json!({"contents": [{"role": "user", "parts": [{"text": "count these words"}]}]}),
    )
    .await;
    assert_eq!(status, 200, "{kind}: {text}");
    assert!(count["totalTokens"].as_u64().unwrap() > 0, "{count}");

    // Anthropic, non-stream, stream and count_tokens.
    let r = anthropic(
        &app,
        &json!({"model": model, "max_tokens": 100, "messages": [user_text("anthropic unary")]}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["content"][0]["text"], "Echo: anthropic unary", "{m}");
    let r = anthropic(
        &app,
        &json!({"model": model, "max_tokens": 100, "stream": true, "messages": [user_text("anthropic stream")]}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let said: String = sse_payloads(&text)
        .iter()
        .filter_map(|e| e.pointer("/delta/text").and_then(Value::as_str))
        .collect();
    assert_eq!(said, "Echo: anthropic stream", "{text}");
    let r = app
        .http
        .post(format!("{}/v1/messages/count_tokens", app.url))
        .header("x-api-key", crate::support::KEY)
        .json(&json!({"model": model, "messages": [user_text("count me")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let n: Value = r.json().await.unwrap();
    assert!(n["input_tokens"].as_u64().unwrap() > 0, "{n}");

    // Every call went to this kind's upstream, authenticated as it expects; keys travel in
    // the header, never in the URL.
    let sent = app.official_requests();
    assert_eq!(sent.len(), 9, "{kind}: {sent:#?}");
    for r in &sent {
        assert_eq!(r.upstream, Some(upstream_of(kind)), "{}", r.path);
        assert!(r.query_param("key").is_none(), "{:?}", r.query);
        match kind {
            CredentialKind::VertexServiceAccount => {
                assert!(
                    r.header("authorization")
                        .is_some_and(|h| h.starts_with("Bearer "))
                );
                assert!(r.path.starts_with("/v1/projects/"), "{}", r.path);
            }
            _ => assert!(r.header("x-goog-api-key").is_some(), "{}", r.path),
        }
        // No Code Assist envelope on the official upstreams.
        if let Some(body) = r.json() {
            assert!(body.get("request").is_none() && body.get("project").is_none());
            // Generation requests carry the default safety settings (the clients sent none);
            // countTokens takes no such field, and the official upstreams refuse unknown ones.
            let safety = body["safetySettings"].as_array().map(Vec::len);
            if r.path.contains("enerateContent") {
                assert_eq!(safety, Some(10), "{kind} {}: {body}", r.path);
            } else {
                assert_eq!(safety, None, "{kind} {}: {body}", r.path);
            }
        }
    }
    let id = app
        .state
        .store
        .call(|c| gcli2api::store::credentials::list(c))
        .await
        .unwrap()[0]
        .id;
    let usage = app.state.usage.credential_stats(id);
    assert_eq!(
        usage.calls, 9,
        "every call is counted on the one credential"
    );
}

#[tokio::test]
async fn gemini_api_key_serves_every_surface() {
    every_surface(CredentialKind::GeminiApiKey).await;
}

#[tokio::test]
async fn vertex_service_account_serves_every_surface() {
    every_surface(CredentialKind::VertexServiceAccount).await;
}

#[tokio::test]
async fn vertex_express_key_serves_every_surface() {
    every_surface(CredentialKind::VertexExpressKey).await;
}

/// The service account's token is granted once and reused; a 401 gets a new one.
#[tokio::test]
async fn service_account_token_is_cached_and_granted_again_after_401() {
    use gcli2api::simulator::{Fault, FaultMatch, FaultRule};
    let app = builder().no_users().spawn().await;
    let (sa, _) = app.add_service_account(ServiceAccountSpec::new()).await;
    for i in 0..3 {
        let (status, _) = app
            .chat(json!({"model": "gemini-2.5-pro", "messages": [user_text(&format!("n{i}"))]}))
            .await;
        assert_eq!(status, 200);
    }
    let grants = app.token_requests(&sa.client_email);
    assert_eq!(grants.len(), 1, "one grant serves many calls");
    app.sim.push_fault(FaultRule::new(
        FaultMatch::any().upstream(Upstream::Vertex),
        1,
        Fault::Unauthenticated,
    ));
    let (status, c) = app
        .chat(json!({"model": "gemini-2.5-pro", "messages": [user_text("after 401")]}))
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(app.token_requests(&sa.client_email).len(), 2);
}

/// A pool of all four kinds, keys imported through the real import (so the Gemini API key's
/// models are discovered). CALLS_PER_ROTATION=1 spreads requests over every credential.
pub async fn mixed_pool() -> TestApp {
    let app = builder()
        .users(1)
        .env("CALLS_PER_ROTATION", "1")
        .spawn()
        .await;
    for (kind, spec) in [
        (CredentialKind::GeminiApiKey, ApiKeySpec::gemini()),
        (CredentialKind::VertexExpressKey, ApiKeySpec::express()),
    ] {
        let key = app.sim.add_api_key(spec);
        let out = gcli2api::onboarding::official::import_keys(
            &app.state.pool,
            kind,
            &key.key,
            None,
            gcli2api::store::credentials::CredentialSource::Upload,
            "gemini-2.5-flash",
        )
        .await
        .unwrap();
        assert_eq!(out.imported.len(), 1, "{out:?}");
    }
    app.add_service_account(ServiceAccountSpec::new()).await;
    app
}

fn upstreams_since(app: &TestApp, before: usize) -> Vec<Upstream> {
    app.sim.requests()[before..]
        .iter()
        .filter(|r| r.path.contains("enerateContent"))
        .filter_map(|r| r.upstream)
        .collect()
}

#[tokio::test]
async fn kind_pins_choose_the_upstream_and_models_follow_each_kind() {
    let app = mixed_pool().await;
    let ask = |model: &str| {
        let model = model.to_string();
        let app = &app;
        async move {
            app.chat(json!({"model": model, "messages": [user_text("pinned")]}))
                .await
        }
    };
    for (model, wanted) in [
        (
            "vertex/gemini-2.5-flash",
            &[Upstream::Vertex, Upstream::VertexExpress][..],
        ),
        ("aistudio/gemini-2.5-flash", &[Upstream::GeminiApi][..]),
        ("code-assist/gemini-2.5-flash", &[Upstream::CodeAssist][..]),
        (
            "假流式/vertex/gemini-2.5-pro-high",
            &[Upstream::Vertex, Upstream::VertexExpress][..],
        ),
        (
            "aistudio/anti-truncation/gemini-2.5-flash",
            &[Upstream::GeminiApi][..],
        ),
    ] {
        for _ in 0..3 {
            let before = app.sim.requests().len();
            let (status, c) = ask(model).await;
            assert_eq!(status, 200, "{model}: {c}");
            let used = upstreams_since(&app, before);
            assert!(
                !used.is_empty() && used.iter().all(|u| wanted.contains(u)),
                "{model}: {used:?}"
            );
        }
    }
    // Vertex serves only VERTEX_MODELS: gemma goes to the others, never to Vertex.
    for _ in 0..6 {
        let before = app.sim.requests().len();
        let (status, c) = ask("gemma-4-31b-it").await;
        assert_eq!(status, 200, "{c}");
        let used = upstreams_since(&app, before);
        assert!(
            !used.contains(&Upstream::Vertex) && !used.contains(&Upstream::VertexExpress),
            "{used:?}"
        );
    }
    let (status, c) = ask("vertex/gemma-4-31b-it").await;
    assert_eq!(status, 503, "{c}");
    let msg = c["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("vertex/gemma-4-31b-it") && msg.contains("not offering this model"),
        "{msg}"
    );

    // The list shows each pin, since the pool mixes upstreams.
    let list: Value = app
        .http
        .get(format!("{}/v1/models", app.url))
        .bearer_auth(crate::support::KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    for pinned in [
        "vertex/gemini-2.5-pro",
        "aistudio/gemini-2.5-pro",
        "code-assist/gemini-2.5-flash",
    ] {
        assert!(ids.contains(&pinned), "{pinned}");
    }

    // VERTEX_MODELS is hot: without gemini-2.5-flash, Vertex stops serving it.
    let r = app
        .http
        .patch(format!("{}/api/v1/settings", app.url))
        .bearer_auth(crate::support::KEY)
        .json(&json!({"vertex_models": "gemini-2.5-pro"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let (status, _) = ask("vertex/gemini-2.5-flash").await;
    assert_eq!(status, 503);
    let (status, _) = ask("vertex/gemini-2.5-pro").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_pool_of_one_upstream_lists_no_pins() {
    let app = app_with(CredentialKind::GeminiApiKey).await;
    let list: Value = app
        .http
        .get(format!("{}/v1beta/models", app.url))
        .bearer_auth(crate::support::KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!list.to_string().contains("aistudio/"), "{list}");
}
