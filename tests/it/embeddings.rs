//! Embeddings over real sockets: OpenAI's `/v1/embeddings` and Gemini's `:embedContent` /
//! `:batchEmbedContents` on `/v1beta` and `/v1`, served by Gemini API keys (batches of at most
//! 100) and Vertex service accounts (`:predict`, `:embedContent`), never by Code Assist or
//! express keys; the simulator's request log shows what went upstream.
use base64::Engine;
use gcli2api::google::kind::CredentialKind;
use gcli2api::simulator::{
    ApiKeySpec, Endpoint, Fault, FaultMatch, FaultRule, RecordedRequest, Upstream, embedding_values,
};
use serde_json::{Value, json};

use crate::official::{app_with, mixed_pool};
use crate::support::{TestApp, builder, user_text};

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let r = app.post(path, &body).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Embedding calls the simulator received (any upstream), oldest first.
fn embed_calls(app: &TestApp) -> Vec<RecordedRequest> {
    app.sim
        .requests()
        .into_iter()
        .filter(|r| {
            ["embedContent", "batchEmbedContents", "predict"]
                .iter()
                .any(|m| r.path.ends_with(&format!(":{m}")))
        })
        .collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Same vector, to float32 precision (base64 answers are float32).
fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() < 1e-6, "{what}[{i}]: {g} != {w}");
    }
}

fn texts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("input number {i}")).collect()
}

/// Tokens the gateway reports when Google gives no count: four characters a token.
fn estimated(texts: &[String]) -> u64 {
    texts
        .iter()
        .map(|t| (t.chars().count() as u64).div_ceil(4))
        .sum()
}

/// (surface, requests, prompt tokens) of the stored usage rows of `model`.
async fn usage_rows(app: &TestApp, model: &'static str) -> Vec<(String, i64, i64)> {
    app.state.usage.flush().await.unwrap();
    app.state
        .store
        .call(move |c| {
            let mut st = c.prepare(
                "SELECT surface, sum(requests), sum(prompt_tokens) FROM usage_minute \
                 WHERE base_model = ?1 GROUP BY surface ORDER BY surface",
            )?;
            let rows = st
                .query_map([model], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn openai_embeddings_on_a_gemini_api_key_split_150_inputs_into_two_batches_in_order() {
    let app = app_with(CredentialKind::GeminiApiKey).await;
    let inputs = texts(150);
    let (status, v) = post(
        &app,
        "/v1/embeddings",
        json!({"model": "gemini-embedding-001", "input": inputs, "dimensions": 8}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "gemini-embedding-001");
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 150);
    for (i, d) in data.iter().enumerate() {
        assert_eq!(d["object"], "embedding");
        assert_eq!(d["index"], i);
        assert_close(
            &floats(&d["embedding"]),
            &embedding_values(&inputs[i], 8),
            &format!("data[{i}]"),
        );
    }
    let tokens = estimated(&inputs);
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": tokens, "total_tokens": tokens})
    );

    // Two upstream batches, of 100 and 50, each in input order, each naming its model.
    let calls = embed_calls(&app);
    assert_eq!(calls.len(), 2, "{calls:#?}");
    let mut batches: Vec<Vec<String>> = calls
        .iter()
        .map(|r| {
            assert_eq!(r.upstream, Some(Upstream::GeminiApi));
            assert_eq!(
                r.path,
                "/v1beta/models/gemini-embedding-001:batchEmbedContents"
            );
            assert!(r.header("x-goog-api-key").is_some() && r.query_param("key").is_none());
            let body = r.json().unwrap();
            body["requests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|q| {
                    assert_eq!(q["model"], "models/gemini-embedding-001");
                    assert_eq!(q["outputDimensionality"], 8);
                    q["content"]["parts"][0]["text"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect()
        })
        .collect();
    batches.sort_by_key(Vec::len);
    assert_eq!(batches[0], inputs[100..]);
    assert_eq!(batches[1], inputs[..100]);

    // One string, base64 (what OpenAI's SDKs ask for): one `:embedContent`, float32s.
    let (status, v) = post(
        &app,
        "/v1/embeddings",
        json!({"model": "gemini-embedding-001", "input": "just one", "encoding_format": "base64"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    let got: Vec<f64> = bytes
        .chunks(4)
        .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap())))
        .collect();
    assert_close(&got, &embedding_values("just one", 3072), "base64");
    let last = embed_calls(&app).pop().unwrap();
    assert_eq!(
        last.path,
        "/v1beta/models/gemini-embedding-001:embedContent"
    );

    // Counted like any request: two OpenAI requests, three upstream calls.
    let rows = usage_rows(&app, "gemini-embedding-001").await;
    assert_eq!(
        rows,
        [("openai".to_string(), 2, (tokens + 2) as i64)],
        "{rows:?}"
    );
    let id = app.state.pool.list().await.unwrap()[0].id;
    let stats = app.state.usage.credential_stats(id);
    assert_eq!((stats.calls, stats.successes), (3, 3));
}

#[tokio::test]
async fn gemini_native_embeddings_on_v1beta_and_v1() {
    let app = app_with(CredentialKind::GeminiApiKey).await;
    let (status, v) = post(
        &app,
        "/v1beta/models/gemini-embedding-001:embedContent",
        json!({"content": {"parts": [{"text": "native one"}]}, "outputDimensionality": 16, "taskType": "RETRIEVAL_QUERY"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_close(
        &floats(&v["embedding"]["values"]),
        &embedding_values("native one", 16),
        "embedContent",
    );
    let last = embed_calls(&app).pop().unwrap();
    let sent = last.json().unwrap();
    assert_eq!(sent["taskType"], "RETRIEVAL_QUERY", "{sent}");
    let (status, v) = post(
        &app,
        "/v1/models/gemini-embedding-2:embedContent",
        json!({"content": {"parts": [{"text": "on v1"}]}}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["embedding"]["values"].as_array().unwrap().len(), 3072);

    // A batch of 150 (more than Google takes at once) comes back whole and in order.
    let inputs = texts(150);
    let requests: Vec<Value> = inputs
        .iter()
        .map(|t| json!({"model": "models/gemini-embedding-001", "content": {"parts": [{"text": t}]}, "outputDimensionality": 4}))
        .collect();
    let before = embed_calls(&app).len();
    let (status, v) = post(
        &app,
        "/v1beta/models/gemini-embedding-001:batchEmbedContents",
        json!({ "requests": requests }),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let got = v["embeddings"].as_array().unwrap();
    assert_eq!(got.len(), 150);
    for (i, e) in got.iter().enumerate() {
        assert_close(
            &floats(&e["values"]),
            &embedding_values(&inputs[i], 4),
            &format!("embeddings[{i}]"),
        );
    }
    let mut sizes: Vec<usize> = embed_calls(&app)[before..]
        .iter()
        .map(|r| r.json().unwrap()["requests"].as_array().unwrap().len())
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [50, 100]);

    // Bad requests are the client's, in Google's shape, and nothing goes upstream.
    let before = app.sim.requests().len();
    for (path, body, says) in [
        (
            "/v1beta/models/gemini-embedding-001:batchEmbedContents",
            json!({"requests": [{"model": "models/gemini-embedding-2", "content": {"parts": [{"text": "x"}]}}]}),
            "batch's model",
        ),
        (
            "/v1beta/models/gemini-2.5-flash:embedContent",
            json!({"content": {"parts": [{"text": "x"}]}}),
            "not an embedding model",
        ),
        (
            "/v1beta/models/gemini-embedding-001:embedContent",
            json!({"content": {"parts": []}}),
            "content.parts",
        ),
        (
            "/v1beta/models/gemini-embedding-001:generateContent",
            json!({"contents": [{"role": "user", "parts": [{"text": "x"}]}]}),
            "is an embedding model",
        ),
    ] {
        let (status, v) = post(&app, path, body).await;
        assert_eq!(status, 400, "{path}: {v}");
        assert_eq!(v["error"]["status"], "INVALID_ARGUMENT", "{v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(says), "{path}: {msg}");
    }
    let (status, c) = app
        .chat(json!({"model": "gemini-embedding-001", "messages": [user_text("hi")]}))
        .await;
    assert_eq!(status, 400, "{c}");
    assert_eq!(app.sim.requests().len(), before, "nothing was sent");

    // Google's own 400 (a title without RETRIEVAL_DOCUMENT) is relayed, and the key stays.
    let (status, v) = post(
        &app,
        "/v1beta/models/gemini-embedding-001:embedContent",
        json!({"content": {"parts": [{"text": "x"}]}, "title": "T"}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("RETRIEVAL_DOCUMENT"),
        "{v}"
    );
    let (status, _) = post(
        &app,
        "/v1beta/models/gemini-embedding-001:embedContent",
        json!({"content": {"parts": [{"text": "still fine"}]}}),
    )
    .await;
    assert_eq!(status, 200);
    // Every request for the model is counted on its surface, refused ones included: seven
    // Gemini-native ones and the chat completion.
    let rows = usage_rows(&app, "gemini-embedding-001").await;
    let requests: Vec<(&str, i64)> = rows.iter().map(|(s, n, _)| (s.as_str(), *n)).collect();
    assert_eq!(requests, [("gemini", 7), ("openai", 1)], "{rows:?}");
}

#[tokio::test]
async fn a_vertex_service_account_embeds_with_predict_and_embed_content() {
    let app = app_with(CredentialKind::VertexServiceAccount).await;
    // gemini-embedding-001: one instance per `:predict`.
    let mut inputs = texts(2);
    inputs.push("long ".repeat(2000));
    let (status, v) = post(
        &app,
        "/v1/embeddings",
        json!({"model": "gemini-embedding-001", "input": inputs, "dimensions": 8}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    for (i, d) in data.iter().enumerate().take(2) {
        assert_eq!(d["index"], i);
        assert_close(
            &floats(&d["embedding"]),
            &embedding_values(&inputs[i], 8),
            "predict",
        );
    }
    let calls = embed_calls(&app);
    assert_eq!(calls.len(), 3, "{calls:#?}");
    let mut seen = Vec::new();
    for r in &calls {
        assert_eq!(r.upstream, Some(Upstream::Vertex));
        assert!(
            r.path.starts_with("/v1/projects/")
                && r.path
                    .ends_with("/publishers/google/models/gemini-embedding-001:predict"),
            "{}",
            r.path
        );
        assert!(r.header("authorization").unwrap().starts_with("Bearer "));
        let body = r.json().unwrap();
        assert_eq!(body["instances"].as_array().unwrap().len(), 1, "{body}");
        assert_eq!(body["parameters"]["outputDimensionality"], 8);
        seen.push(
            body["instances"][0]["content"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    seen.sort();
    let mut want = inputs.clone();
    want.sort();
    assert_eq!(seen, want);
    // Usage is Vertex's own count: the 10 000-character input was cut to the model's 2048
    // tokens, where an estimate would say 2500.
    assert_eq!(
        v["usage"]["prompt_tokens"],
        estimated(&inputs[..2]) + 2048,
        "{}",
        v["usage"]
    );

    // text-embedding-005: up to 250 instances in one `:predict`.
    let many = texts(150);
    let before = embed_calls(&app).len();
    let (status, v) = post(
        &app,
        "/v1/embeddings",
        json!({"model": "text-embedding-005", "input": many}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"][149]["embedding"].as_array().unwrap().len(), 768);
    assert_close(
        &floats(&v["data"][149]["embedding"]),
        &embedding_values(&many[149], 768),
        "text-embedding-005",
    );
    let calls = &embed_calls(&app)[before..];
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].json().unwrap()["instances"]
            .as_array()
            .unwrap()
            .len(),
        150
    );

    // gemini-embedding-2: `:embedContent`, one content per call, from a Gemini batch.
    let before = embed_calls(&app).len();
    let (status, v) = post(
        &app,
        "/v1beta/models/gemini-embedding-2:batchEmbedContents",
        json!({"requests": [
            {"model": "models/gemini-embedding-2", "content": {"parts": [{"text": "first"}]}},
            {"model": "models/gemini-embedding-2", "content": {"parts": [{"text": "second"}]}},
        ]}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_close(
        &floats(&v["embeddings"][1]["values"]),
        &embedding_values("second", 3072),
        "embedContent",
    );
    let calls = &embed_calls(&app)[before..];
    assert_eq!(calls.len(), 2);
    assert!(
        calls
            .iter()
            .all(|r| r.path.ends_with("models/gemini-embedding-2:embedContent")),
        "{calls:#?}"
    );
}

#[tokio::test]
async fn without_a_credential_that_embeds_the_error_says_which_kinds_can() {
    // Code Assist accounts and an express key: none of them embeds.
    let app = builder().users(2).spawn().await;
    app.add_key(CredentialKind::VertexExpressKey, ApiKeySpec::express())
        .await;
    let (status, v) = post(
        &app,
        "/v1/embeddings",
        json!({"model": "gemini-embedding-001", "input": "x"}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("Gemini API keys and Vertex service accounts")
            && msg.contains("Vertex express keys"),
        "{msg}"
    );
    for path in [
        "/v1beta/models/gemini-embedding-001:embedContent",
        "/v1/models/gemini-embedding-2:embedContent",
    ] {
        let (status, v) = post(&app, path, json!({"content": {"parts": [{"text": "x"}]}})).await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["error"]["status"], "FAILED_PRECONDITION", "{v}");
    }
    assert!(embed_calls(&app).is_empty());
    assert!(app.official_requests().is_empty() && app.generation_requests().is_empty());

    // A pin that admits no kind that embeds says so too, though a Gemini API key is there.
    let app = app_with(CredentialKind::GeminiApiKey).await;
    let (status, v) = post(
        &app,
        "/v1/embeddings",
        json!({"model": "vertex/gemini-embedding-001", "input": "x"}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("under 'vertex/'") && msg.contains("Vertex service accounts only"),
        "{msg}"
    );
    let (status, v) = post(
        &app,
        "/v1/embeddings",
        json!({"model": "code-assist/gemini-embedding-001", "input": "x"}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot embed"),
        "{v}"
    );
}

#[tokio::test]
async fn a_mixed_pool_lists_and_serves_embeddings_only_on_kinds_that_embed() {
    let app = mixed_pool().await;
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
    for id in [
        "gemini-embedding-001",
        "gemini-embedding-2",
        "text-embedding-005",
        "aistudio/gemini-embedding-001",
        "vertex/gemini-embedding-2",
        "vertex/text-embedding-005",
    ] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    assert!(
        !ids.iter()
            .any(|i| i.starts_with("code-assist/") && i.contains("embedding")),
        "{ids:?}"
    );
    assert!(!ids.contains(&"aistudio/text-embedding-005"), "{ids:?}");
    let m: Value = app
        .http
        .get(format!("{}/v1beta/models/gemini-embedding-001", app.url))
        .bearer_auth(crate::support::KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        m["supportedGenerationMethods"],
        json!(["embedContent", "batchEmbedContents"])
    );

    // CALLS_PER_ROTATION=1 walks the whole pool; embeddings land on the two kinds that embed.
    for i in 0..8 {
        let (status, v) = post(
            &app,
            "/v1/embeddings",
            json!({"model": "gemini-embedding-001", "input": [format!("a{i}"), format!("b{i}")]}),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        assert_close(
            &floats(&v["data"][1]["embedding"]),
            &embedding_values(&format!("b{i}"), 3072),
            "mixed",
        );
    }
    let ups: std::collections::HashSet<_> = embed_calls(&app)
        .iter()
        .filter_map(|r| r.upstream)
        .collect();
    assert_eq!(
        ups,
        [Upstream::GeminiApi, Upstream::Vertex]
            .into_iter()
            .collect(),
        "{ups:?}"
    );
    let (status, _) = post(
        &app,
        "/v1/embeddings",
        json!({"model": "aistudio/gemini-embedding-001", "input": "pinned"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        embed_calls(&app).last().unwrap().upstream,
        Some(Upstream::GeminiApi)
    );
}

#[tokio::test]
async fn a_throttled_batch_moves_to_another_key_and_the_answer_stays_in_order() {
    // One call per credential before rotating: the two batches start on the two keys.
    let app = builder()
        .no_users()
        .env("CALLS_PER_ROTATION", "1")
        .spawn()
        .await;
    let (a, _) = app
        .add_key(CredentialKind::GeminiApiKey, ApiKeySpec::gemini())
        .await;
    app.add_key(CredentialKind::GeminiApiKey, ApiKeySpec::gemini())
        .await;
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::BatchEmbedContents).api_key(&a.key),
        1,
        Fault::RateLimitExceeded {
            retry_delay_ms: 30_000,
        },
    ));
    let inputs = texts(120);
    let (status, v) = post(
        &app,
        "/v1/embeddings",
        json!({"model": "gemini-embedding-001", "input": inputs, "dimensions": 4}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    for (i, d) in v["data"].as_array().unwrap().iter().enumerate() {
        assert_close(
            &floats(&d["embedding"]),
            &embedding_values(&inputs[i], 4),
            &format!("data[{i}]"),
        );
    }
    let calls = embed_calls(&app);
    let by_a = calls
        .iter()
        .filter(|r| r.api_key.as_deref() == Some(a.key.as_str()))
        .count();
    assert_eq!(by_a, 1, "the throttled key got one call: {calls:#?}");
    assert_eq!(calls.len(), 3, "two batches and one retry");
    let a_id = app.state.pool.list().await.unwrap()[0].id;
    let st = app.state.pool.state(a_id).unwrap();
    assert!(
        st.cooldowns.contains_key("gemini-embedding-001"),
        "the throttle cools the embedding model on that key: {st:?}"
    );
}
