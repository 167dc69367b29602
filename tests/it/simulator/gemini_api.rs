//! The Gemini API (AI Studio keys) on the simulator: endpoints, paging, stream framing,
//! embeddings, key states and quota shared per Google project.

use gcli2api::simulator::{
    ApiKeySpec, Endpoint, Fault, FaultMatch, FaultRule, GEMINI_API_SERVICE, KeyState, LineEnding,
    ModelQuota, Pacing, QuotaKind, QuotaViolation, SimHandle, Upstream, embedding_values,
};
use serde_json::{Value, json};

use super::{client, read_all, start};

pub struct Api {
    pub sim: SimHandle,
    pub http: reqwest::Client,
    pub key: String,
}

pub async fn api() -> Api {
    let sim = start().await;
    let key = sim.add_api_key(ApiKeySpec::gemini().project("proj-a")).key;
    Api {
        sim,
        http: client(),
        key,
    }
}

pub fn user_turn(text: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": text}]}]})
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    pub async fn post_with(&self, key: &str, path: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .http
            .post(self.url(path))
            .header("x-goog-api-key", key)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_with(&self.key, path, body).await
    }

    pub async fn get_with(&self, key: &str, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .header("x-goog-api-key", key)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    pub async fn generate_with(&self, key: &str, model: &str, text: &str) -> (u16, Value) {
        let path = format!("/v1beta/models/{model}:generateContent");
        self.post_with(key, &path, &user_turn(text)).await
    }
}

pub fn detail<'a>(body: &'a Value, ty: &str) -> &'a Value {
    body["error"]["details"]
        .as_array()
        .and_then(|ds| {
            ds.iter()
                .find(|d| d["@type"] == format!("type.googleapis.com/google.rpc.{ty}"))
        })
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn generate_answers_the_unwrapped_echo_and_logs_the_key_header() {
    let a = api().await;
    let (status, v) = a.generate_with(&a.key, "gemini-2.5-flash", "hello").await;
    assert_eq!(status, 200, "{v}");
    assert!(v.get("response").is_none(), "no Code Assist envelope");
    let c = &v["candidates"][0];
    assert_eq!(c["content"]["parts"][0]["text"], "Echo: hello");
    assert_eq!(c["content"]["role"], "model");
    assert_eq!(
        (c["finishReason"].as_str(), c["index"].as_u64()),
        (Some("STOP"), Some(0))
    );
    assert_eq!(v["modelVersion"], "gemini-2.5-flash");
    assert!(v["responseId"].is_string() && v.get("createTime").is_none());
    let u = &v["usageMetadata"];
    assert!(u.get("trafficType").is_none());
    assert_eq!(
        u["totalTokenCount"].as_u64().unwrap(),
        u["promptTokenCount"].as_u64().unwrap()
            + u["candidatesTokenCount"].as_u64().unwrap()
            + u["thoughtsTokenCount"].as_u64().unwrap()
    );
    let log = a.sim.requests();
    let r = &log[0];
    assert_eq!(r.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(r.header("x-goog-api-key"), Some(a.key.as_str()));
    assert_eq!(
        (r.api_key.as_deref(), r.upstream),
        (Some(a.key.as_str()), Some(Upstream::GeminiApi))
    );
    assert_eq!(r.query, None);
    assert_eq!(r.json(), Some(&user_turn("hello")));
}

#[tokio::test]
async fn query_key_works_as_upstream_and_is_visible_in_the_log() {
    let a = api().await;
    let url = a.url(&format!(
        "/v1beta/models/gemini-2.5-flash:generateContent?key={}",
        a.key
    ));
    let resp = a.http.post(url).json(&user_turn("q")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let r = &a.sim.requests()[0];
    assert_eq!(r.query_param("key").as_deref(), Some(a.key.as_str()));
    assert_eq!(r.header("x-goog-api-key"), None);
}

#[tokio::test]
async fn models_list_pages_and_models_resolve() {
    let a = api().await;
    let (status, v) = a.get_with(&a.key, "/v1beta/models").await;
    assert_eq!(status, 200);
    let all: Vec<String> = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    assert!(v.get("nextPageToken").is_none(), "one default page of 50");
    assert!(all.contains(&"models/gemini-2.5-pro".to_string()));
    assert!(all.contains(&"models/gemini-embedding-001".to_string()));
    assert!(all.contains(&"models/gemini-embedding-2".to_string()));
    assert!(!all.iter().any(|m| m.contains("text-embedding-004")));
    let pro = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "models/gemini-2.5-pro")
        .unwrap();
    assert!(
        pro["supportedGenerationMethods"]
            .as_array()
            .unwrap()
            .contains(&json!("generateContent"))
    );
    assert!(pro["inputTokenLimit"].as_u64().unwrap() > 0);
    assert_eq!(pro["thinking"], true);

    let mut paged = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &token {
            Some(t) => format!("/v1beta/models?pageSize=5&pageToken={t}"),
            None => "/v1beta/models?pageSize=5".to_string(),
        };
        let (status, v) = a.get_with(&a.key, &path).await;
        assert_eq!(status, 200);
        pages += 1;
        let models = v["models"].as_array().unwrap();
        assert!(models.len() <= 5);
        paged.extend(
            models
                .iter()
                .map(|m| m["name"].as_str().unwrap().to_string()),
        );
        match v.get("nextPageToken").and_then(Value::as_str) {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(paged, all, "pages add up to the whole list, in order");
    assert_eq!(pages, all.len().div_ceil(5));
    let (status, _) = a.get_with(&a.key, "/v1beta/models?pageSize=5000").await;
    assert_eq!(status, 200, "capped at 1000, not refused");
    let (status, v) = a.get_with(&a.key, "/v1beta/models?pageToken=garbage").await;
    assert_eq!(
        (status, v["error"]["status"].as_str()),
        (400, Some("INVALID_ARGUMENT"))
    );

    let (status, v) = a.get_with(&a.key, "/v1beta/models/gemini-2.5-flash").await;
    assert_eq!(
        (status, v["name"].as_str()),
        (200, Some("models/gemini-2.5-flash"))
    );
    let (status, v) = a
        .get_with(&a.key, "/v1beta/models/text-embedding-004")
        .await;
    assert_eq!(
        (status, v["error"]["status"].as_str()),
        (404, Some("NOT_FOUND"))
    );
    let (status, v) = a.generate_with(&a.key, "gemini-9-ultra", "x").await;
    assert_eq!(status, 404);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("models/gemini-9-ultra is not found for API version v1beta")
    );
}

#[tokio::test]
async fn stream_is_sse_with_alt_and_a_json_array_without() {
    let a = api().await;
    a.sim.set_pacing(Pacing {
        chunk_chars: 8,
        line_ending: LineEnding::Crlf,
        ..Pacing::default()
    });
    let path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent";
    let resp = a
        .http
        .post(a.url(&format!("{path}?alt=sse")))
        .header("x-goog-api-key", &a.key)
        .json(&user_turn("stream this please"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let (raw, failed) = read_all(resp).await;
    assert!(!failed);
    let raw = String::from_utf8(raw).unwrap();
    let events: Vec<&str> = raw.split_inclusive("\r\n\r\n").collect();
    assert_eq!(events.len(), 3, "24 chars in chunks of 8");
    let mut text = String::new();
    for (i, ev) in events.iter().enumerate() {
        assert!(ev.starts_with("data: {\"candidates\": ["), "{ev:?}");
        assert_eq!(ev.matches("\r\n").count(), 2, "one data line per event");
        let v: Value = serde_json::from_str(ev.trim_start_matches("data: ").trim_end()).unwrap();
        text.push_str(
            v["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap(),
        );
        assert_eq!(v["candidates"][0]["index"], 0);
        let last = i == events.len() - 1;
        assert_eq!(v["candidates"][0].get("finishReason").is_some(), last);
        assert_eq!(v.get("usageMetadata").is_some(), last);
    }
    assert_eq!(text, "Echo: stream this please");
    assert!(!raw.contains("[DONE]"));

    let (status, v) = a.post(path, &user_turn("stream this please")).await;
    assert_eq!(status, 200);
    let arr = v.as_array().expect("one JSON array without alt=sse");
    assert_eq!(arr.len(), 3);
    assert_eq!(arr[2]["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn count_tokens_takes_contents_or_a_whole_request() {
    let a = api().await;
    let path = "/v1beta/models/gemini-2.5-pro:countTokens";
    let (status, v) = a.post(path, &user_turn("12345678")).await;
    assert_eq!((status, v["totalTokens"].as_u64()), (200, Some(2)));
    assert_eq!(v["promptTokensDetails"][0]["tokenCount"], 2);
    let mut gcr = user_turn("12345678");
    gcr["model"] = json!("models/gemini-2.5-pro");
    gcr["systemInstruction"] = json!({"parts": [{"text": "abcd"}]});
    let (status, v) = a.post(path, &json!({"generateContentRequest": gcr})).await;
    assert_eq!((status, v["totalTokens"].as_u64()), (200, Some(3)));
    let both = json!({"contents": user_turn("x")["contents"], "generateContentRequest": gcr});
    assert_eq!(a.post(path, &both).await.0, 400);
    assert_eq!(a.post(path, &json!({})).await.0, 400);
}

#[tokio::test]
async fn requests_are_validated_as_the_gemini_api_does() {
    let a = api().await;
    let path = "/v1beta/models/gemini-2.5-flash:generateContent";
    let mut body = user_turn("x");
    body["labels"] = json!({"a": "b"});
    let (status, v) = a.post(path, &body).await;
    assert_eq!(status, 400);
    assert_eq!(
        v["error"]["message"],
        "Invalid JSON payload received. Unknown name \"labels\": Cannot find field."
    );
    let no_role = json!({"contents": [{"parts": [{"text": "hi"}]}]});
    assert_eq!(a.post(path, &no_role).await.0, 200, "role is optional here");
    let bad_role = json!({"contents": [{"role": "system", "parts": [{"text": "hi"}]}]});
    assert_eq!(a.post(path, &bad_role).await.0, 400);
    let mut civic = user_turn("x");
    civic["generationConfig"] = json!({"enableEnhancedCivicAnswers": true});
    assert_eq!(a.post(path, &civic).await.0, 200);
}

#[tokio::test]
async fn embeddings_are_deterministic_and_batches_hold_at_most_100() {
    let a = api().await;
    let (status, v) = a
        .post(
            "/v1beta/models/gemini-embedding-001:embedContent",
            &json!({"content": {"parts": [{"text": "alpha"}]}, "taskType": "RETRIEVAL_QUERY", "outputDimensionality": 768}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let values: Vec<f64> = serde_json::from_value(v["embedding"]["values"].clone()).unwrap();
    assert_eq!(values, embedding_values("alpha", 768));
    let (_, v) = a
        .post(
            "/v1beta/models/gemini-embedding-2:embedContent",
            &json!({"content": {"parts": [{"text": "alpha"}]}}),
        )
        .await;
    assert_eq!(v["embedding"]["values"].as_array().unwrap().len(), 3072);

    let batch = |n: usize| {
        let requests: Vec<Value> = (0..n)
            .map(|i| json!({"model": "models/gemini-embedding-001", "content": {"parts": [{"text": format!("input {i}")}]}, "outputDimensionality": 8}))
            .collect();
        json!({ "requests": requests })
    };
    let path = "/v1beta/models/gemini-embedding-001:batchEmbedContents";
    let (status, v) = a.post(path, &batch(100)).await;
    assert_eq!(status, 200);
    let embeddings = v["embeddings"].as_array().unwrap();
    assert_eq!(embeddings.len(), 100);
    for (i, e) in embeddings.iter().enumerate() {
        let values: Vec<f64> = serde_json::from_value(e["values"].clone()).unwrap();
        assert_eq!(
            values,
            embedding_values(&format!("input {i}"), 8),
            "order kept"
        );
    }
    let (status, v) = a.post(path, &batch(101)).await;
    assert_eq!(status, 400);
    assert_eq!(
        v["error"]["message"],
        "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n"
    );
    let mismatched = json!({"requests": [{"model": "models/gemini-embedding-2", "content": {"parts": [{"text": "x"}]}}]});
    assert_eq!(a.post(path, &mismatched).await.0, 400);
    let (status, _) = a
        .post(
            "/v1beta/models/gemini-2.5-flash:embedContent",
            &json!({"content": {"parts": [{"text": "x"}]}}),
        )
        .await;
    assert_eq!(status, 404, "a chat model does not embed");
    let titled = json!({"content": {"parts": [{"text": "x"}]}, "title": "t"});
    assert_eq!(
        a.post("/v1beta/models/gemini-embedding-001:embedContent", &titled)
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn every_key_state_answers_its_error_shape() {
    let a = api().await;
    let check = async |key: &str| a.generate_with(key, "gemini-2.5-flash", "x").await;

    let (status, v) = a
        .http
        .post(a.url("/v1beta/models/gemini-2.5-flash:generateContent"))
        .json(&user_turn("x"))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    let v: Value = v.json().await.unwrap();
    assert_eq!(
        (status, v["error"]["status"].as_str()),
        (403, Some("PERMISSION_DENIED"))
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unregistered callers")
    );

    let (status, v) = check("AQ.never-issued").await;
    assert_eq!(
        (status, v["error"]["status"].as_str()),
        (400, Some("INVALID_ARGUMENT"))
    );
    assert_eq!(detail(&v, "ErrorInfo")["reason"], "API_KEY_INVALID");
    assert_eq!(
        detail(&v, "ErrorInfo")["metadata"]["service"],
        GEMINI_API_SERVICE
    );
    assert_eq!(
        detail(&v, "LocalizedMessage")["message"],
        "API key not valid. Please pass a valid API key."
    );

    let standard = a.sim.add_api_key(ApiKeySpec::gemini().standard());
    assert!(standard.key.starts_with("AIza") && standard.standard);
    let (status, v) = check(&standard.key).await;
    assert_eq!(
        (status, v["error"]["status"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
    let info = detail(&v, "ErrorInfo");
    assert_eq!(info["reason"], "ACCESS_TOKEN_TYPE_UNSUPPORTED");
    assert_eq!(
        info["metadata"]["method"],
        "google.ai.generativelanguage.v1beta.GenerativeService.GenerateContent"
    );
    let (status, _) = a.get_with(&standard.key, "/v1beta/models").await;
    assert_eq!(status, 401, "the model list, the import check, fails too");

    let states = [
        (KeyState::Expired, 400, Some("API_KEY_INVALID")),
        (KeyState::Deleted, 400, Some("API_KEY_INVALID")),
        (KeyState::Leaked, 403, None),
        (KeyState::Suspended, 403, Some("CONSUMER_SUSPENDED")),
        (
            KeyState::ServiceBlocked,
            403,
            Some("API_KEY_SERVICE_BLOCKED"),
        ),
        (
            KeyState::ReferrerBlocked,
            403,
            Some("API_KEY_HTTP_REFERRER_BLOCKED"),
        ),
    ];
    for (state, code, reason) in states {
        assert!(a.sim.set_api_key_state(&a.key, state));
        let (status, v) = check(&a.key).await;
        assert_eq!(status, code, "{state:?}: {v}");
        assert_eq!(
            detail(&v, "ErrorInfo")["reason"].as_str(),
            reason,
            "{state:?}"
        );
        match state {
            KeyState::Expired => assert_eq!(
                v["error"]["message"],
                "API key expired. Please renew the API key."
            ),
            KeyState::Leaked => {
                assert_eq!(
                    v["error"]["message"],
                    "Your API key was reported as leaked. Please use another API key."
                );
                assert!(v["error"].get("details").is_none());
            }
            KeyState::Suspended => assert_eq!(
                v["error"]["message"],
                format!(
                    "Permission denied: Consumer 'api_key:{}' has been suspended.",
                    a.key
                )
            ),
            KeyState::ServiceBlocked => assert_eq!(
                detail(&v, "ErrorInfo")["metadata"]["methodName"],
                "google.ai.generativelanguage.v1beta.GenerativeService.GenerateContent"
            ),
            _ => {}
        }
    }
    assert!(a.sim.set_api_key_state(&a.key, KeyState::Active));
    assert_eq!(check(&a.key).await.0, 200, "revived");
    assert!(!a.sim.set_api_key_state("AQ.unknown", KeyState::Leaked));

    a.sim
        .set_project_service("proj-a", GEMINI_API_SERVICE, false);
    let (status, v) = check(&a.key).await;
    assert_eq!(status, 403);
    let info = detail(&v, "ErrorInfo");
    assert_eq!(info["reason"], "SERVICE_DISABLED");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Generative Language API has not been used in project")
    );
    a.sim
        .set_project_service("proj-a", GEMINI_API_SERVICE, true);

    let express = a.sim.add_api_key(ApiKeySpec::express());
    let (status, v) = check(&express.key).await;
    assert_eq!(
        (status, detail(&v, "ErrorInfo")["reason"].as_str()),
        (403, Some("API_KEY_SERVICE_BLOCKED"))
    );
}

#[tokio::test]
async fn a_denied_model_is_a_bare_403_for_that_key_only() {
    let a = api().await;
    let other = a
        .sim
        .add_api_key(ApiKeySpec::gemini().project("proj-a"))
        .key;
    assert!(
        a.sim
            .set_api_key_denied_models(&a.key, vec!["gemini-3-pro-preview".into()])
    );
    let (status, v) = a.generate_with(&a.key, "gemini-3-pro-preview", "x").await;
    assert_eq!(status, 403);
    assert_eq!(
        v,
        json!({"error": {"code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED"}})
    );
    assert_eq!(a.generate_with(&a.key, "gemini-2.5-pro", "x").await.0, 200);
    assert_eq!(
        a.generate_with(&other, "gemini-3-pro-preview", "x").await.0,
        200
    );
    let (_, list) = a.get_with(&a.key, "/v1beta/models").await;
    assert!(
        list["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "models/gemini-3-pro-preview"),
        "still listed"
    );
}

#[tokio::test]
async fn quota_is_per_project_shared_by_its_keys() {
    let a = api().await;
    let sibling = a
        .sim
        .add_api_key(ApiKeySpec::gemini().project("proj-a"))
        .key;
    let stranger = a
        .sim
        .add_api_key(ApiKeySpec::gemini().project("proj-b"))
        .key;
    a.sim.set_project_quota(
        "proj-a",
        vec![ModelQuota::model("gemini-2.5-flash").per_minute(2)],
    );
    assert_eq!(
        a.generate_with(&a.key, "gemini-2.5-flash", "1").await.0,
        200
    );
    assert_eq!(
        a.generate_with(&sibling, "gemini-2.5-flash", "2").await.0,
        200
    );
    let (status, v) = a.generate_with(&a.key, "gemini-2.5-flash", "3").await;
    assert_eq!(status, 429, "the sibling's call counted for the project");
    assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED");
    let violations = detail(&v, "QuotaFailure")["violations"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(violations.len(), 1);
    assert_eq!(
        violations[0]["quotaId"],
        "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
    );
    assert_eq!(violations[0]["quotaValue"], "2");
    assert_eq!(
        violations[0]["quotaDimensions"]["model"],
        "gemini-2.5-flash"
    );
    let delay = detail(&v, "RetryInfo")["retryDelay"]
        .as_str()
        .unwrap()
        .to_string();
    let secs: u64 = delay.trim_end_matches('s').parse().unwrap();
    assert!(
        (55..=60).contains(&secs),
        "{delay}: until the oldest call leaves the minute"
    );
    assert_eq!(
        detail(&v, "Help")["links"][0]["url"],
        "https://ai.google.dev/gemini-api/docs/rate-limits"
    );
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("limit: 2, model: gemini-2.5-flash"));
    assert!(message.contains("Please retry in "));
    assert_eq!(
        a.generate_with(&sibling, "gemini-2.5-pro", "x").await.0,
        200,
        "other model"
    );
    assert_eq!(
        a.generate_with(&stranger, "gemini-2.5-flash", "x").await.0,
        200,
        "other project"
    );
    let usage = a.sim.google_project("proj-a").unwrap().usage;
    let flash = usage
        .iter()
        .find(|u| u.model == "gemini-2.5-flash")
        .unwrap();
    assert_eq!((flash.requests_last_minute, flash.requests_today), (2, 2));
    a.sim.reset_quota_usage();
    assert_eq!(
        a.generate_with(&sibling, "gemini-2.5-flash", "4").await.0,
        200
    );

    a.sim
        .set_project_quota("proj-a", vec![ModelQuota::all_models().per_day(1)]);
    a.sim.reset_quota_usage();
    assert_eq!(a.generate_with(&a.key, "gemini-2.5-pro", "x").await.0, 200);
    let (status, v) = a.generate_with(&sibling, "gemini-2.5-pro", "x").await;
    assert_eq!(status, 429);
    let ids: Vec<&str> = detail(&v, "QuotaFailure")["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["quotaId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["GenerateRequestsPerDayPerProjectPerModel-FreeTier"]);

    a.sim
        .set_project_quota("proj-a", vec![ModelQuota::never("gemini-3-pro-preview")]);
    let (status, v) = a.generate_with(&a.key, "gemini-3-pro-preview", "x").await;
    assert_eq!(status, 429);
    let violations = detail(&v, "QuotaFailure")["violations"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(violations.len(), 3);
    assert!(violations.iter().all(|x| x["quotaValue"] == "0"));
    assert!(
        violations
            .iter()
            .all(|x| x["quotaDimensions"]["model"] == "gemini-3-pro"),
        "family id, not the requested one"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limit: 0, model: gemini-3-pro\n")
    );
}

#[tokio::test]
async fn scripted_429s_and_5xx_match_on_key_and_project() {
    let a = api().await;
    let sibling = a
        .sim
        .add_api_key(ApiKeySpec::gemini().project("proj-a"))
        .key;
    let violations = vec![
        QuotaViolation::new(QuotaKind::RequestsPerDay, 0),
        QuotaViolation::new(QuotaKind::RequestsPerDay, 250),
        QuotaViolation::new(QuotaKind::RequestsPerMinute, 10),
    ];
    let fault = Fault::QuotaViolations {
        violations,
        retry_delay_ms: 47_500,
        omit_quota_value: true,
    };
    let when = FaultMatch::endpoint(Endpoint::GenerateContent).api_key(sibling.clone());
    a.sim.push_fault(FaultRule::new(when, 1, fault));
    assert_eq!(
        a.generate_with(&a.key, "gemini-2.5-pro", "x").await.0,
        200,
        "other key"
    );
    let (status, v) = a.generate_with(&sibling, "gemini-2.5-pro", "x").await;
    assert_eq!(status, 429);
    let listed = detail(&v, "QuotaFailure")["violations"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|x| x.get("quotaValue").is_none()));
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limit: 0, model: gemini-2.5-pro")
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("Please retry in 47.5s.")
    );
    assert_eq!(detail(&v, "RetryInfo")["retryDelay"], "47s");

    let project = FaultMatch::any()
        .project("proj-a")
        .upstream(Upstream::GeminiApi);
    a.sim
        .push_fault(FaultRule::new(project.clone(), 1, Fault::LegacyRateLimit));
    let (status, v) = a.generate_with(&sibling, "gemini-2.5-pro", "x").await;
    assert_eq!(status, 429);
    let info = detail(&v, "ErrorInfo");
    assert_eq!(info["reason"], "RATE_LIMIT_EXCEEDED");
    assert!(
        info["metadata"]["quota_metric"].is_string() && info["metadata"]["quota_limit"].is_string()
    );
    assert_eq!(v["error"]["errors"][0]["reason"], "rateLimitExceeded");
    assert!(detail(&v, "RetryInfo").is_null());

    a.sim
        .push_fault(FaultRule::new(project.clone(), 1, Fault::ResourceExhausted));
    let (status, v) = a.generate_with(&a.key, "gemini-2.5-pro", "x").await;
    assert_eq!(status, 429);
    assert_eq!(
        v,
        json!({"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}})
    );
    a.sim.push_fault(FaultRule::new(
        project.clone(),
        1,
        Fault::Unavailable {
            retry_delay_ms: None,
        },
    ));
    let (status, v) = a.generate_with(&a.key, "gemini-2.5-pro", "x").await;
    assert_eq!(
        (status, v["error"]["message"].as_str()),
        (
            503,
            Some("The model is overloaded. Please try again later.")
        )
    );
    a.sim
        .push_fault(FaultRule::new(project, 1, Fault::Internal));
    assert_eq!(a.generate_with(&a.key, "gemini-2.5-pro", "x").await.0, 500);

    for (fault, code, reason) in [
        (Fault::ApiKeyExpired, 400, Some("API_KEY_INVALID")),
        (
            Fault::StandardKeyRejected,
            401,
            Some("ACCESS_TOKEN_TYPE_UNSUPPORTED"),
        ),
        (Fault::ApiKeyLeaked, 403, None),
        (Fault::ConsumerSuspended, 403, Some("CONSUMER_SUSPENDED")),
        (
            Fault::ApiKeyServiceBlocked,
            403,
            Some("API_KEY_SERVICE_BLOCKED"),
        ),
        (Fault::ServiceDisabled, 403, Some("SERVICE_DISABLED")),
        (Fault::PermissionDenied, 403, None),
    ] {
        a.sim.push_fault(FaultRule::once(fault.clone()));
        let (status, v) = a.generate_with(&a.key, "gemini-2.5-pro", "x").await;
        assert_eq!(status, code, "{fault:?}");
        assert_eq!(
            detail(&v, "ErrorInfo")["reason"].as_str(),
            reason,
            "{fault:?}"
        );
        if let Some(service) = detail(&v, "ErrorInfo")["metadata"].get("service") {
            assert_eq!(service, GEMINI_API_SERVICE, "{fault:?}");
        }
    }
}

#[tokio::test]
async fn stream_behaviour_faults_apply_to_the_gemini_api() {
    let a = api().await;
    a.sim.push_fault(FaultRule::once(Fault::StreamCut {
        after_events: 1,
        mid_event: false,
    }));
    let resp = a
        .http
        .post(a.url("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"))
        .header("x-goog-api-key", &a.key)
        .json(&user_turn("a long enough prompt to need several events"))
        .send()
        .await
        .unwrap();
    let (raw, failed) = read_all(resp).await;
    assert!(failed, "the connection is cut");
    assert_eq!(String::from_utf8(raw).unwrap().matches("data: ").count(), 1);
    a.sim
        .push_fault(FaultRule::once(Fault::EndWithoutFinish { after_events: 1 }));
    let resp = a
        .http
        .post(a.url("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"))
        .header("x-goog-api-key", &a.key)
        .json(&user_turn("hello"))
        .send()
        .await
        .unwrap();
    let (raw, failed) = read_all(resp).await;
    assert!(!failed);
    assert!(!String::from_utf8(raw).unwrap().contains("finishReason"));
}
