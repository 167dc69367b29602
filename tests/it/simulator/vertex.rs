//! Vertex AI on the simulator: the service-account JWT-bearer grant, generation on project
//! paths, embeddings through `:predict` and `:embedContent`, and express mode.

use chrono::Utc;
use gcli2api::simulator::{
    ApiKeySpec, CLOUD_PLATFORM_SCOPE, Fault, FaultMatch, FaultRule, JWT_BEARER_GRANT, ModelQuota,
    SeededServiceAccount, ServiceAccountSpec, ServiceAccountState, SimHandle, Upstream,
    VERTEX_SERVICE, embedding_values,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::gemini_api::{detail, user_turn};
use super::{client, post_form, read_all, start};

/// A key the simulator never issued, to sign assertions it must refuse.
const STRANGER_KEY: &str = include_str!("testdata/stranger_key.pem");

struct Vx {
    sim: SimHandle,
    http: reqwest::Client,
    sa: SeededServiceAccount,
}

async fn vx() -> Vx {
    let sim = start().await;
    let sa = sim.add_service_account(ServiceAccountSpec::new().project("vx-proj"));
    Vx {
        sim,
        http: client(),
        sa,
    }
}

fn assertion(sa: &SeededServiceAccount, pem: &str, claims: Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(sa.private_key_id.clone());
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

fn claims(sa: &SeededServiceAccount) -> Value {
    let now = Utc::now().timestamp();
    json!({"iss": sa.client_email, "scope": CLOUD_PLATFORM_SCOPE, "aud": sa.token_uri, "iat": now, "exp": now + 3600})
}

impl Vx {
    async fn grant(&self, jwt: &str) -> (u16, Value) {
        let resp = post_form(
            &self.http,
            self.sa.token_uri.clone(),
            &[("grant_type", JWT_BEARER_GRANT), ("assertion", jwt)],
        )
        .await;
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    async fn token(&self) -> String {
        let (status, v) = self
            .grant(&assertion(&self.sa, &self.sa.private_key, claims(&self.sa)))
            .await;
        assert_eq!(status, 200, "{v}");
        v["access_token"].as_str().unwrap().to_string()
    }

    fn model_path(&self, location: &str, model: &str, method: &str) -> String {
        format!(
            "{}/v1/projects/{}/locations/{location}/publishers/google/models/{model}:{method}",
            self.sim.base_url(),
            self.sa.project_id
        )
    }

    async fn call(&self, token: &str, url: String, body: &Value) -> (u16, Value) {
        let resp = self
            .http
            .post(url)
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn express(&self, key: &str, model: &str, method: &str, body: &Value) -> (u16, Value) {
        let url = format!(
            "{}/v1/publishers/google/models/{model}:{method}",
            self.sim.base_url()
        );
        let resp = self
            .http
            .post(url)
            .header("x-goog-api-key", key)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn key_file_has_googles_fields_and_the_fixture_key() {
    let v = vx().await;
    let file = v.sa.key_json();
    assert_eq!(file["type"], "service_account");
    assert_eq!(file["project_id"], "vx-proj");
    assert_eq!(file["token_uri"], format!("{}/token", v.sim.base_url()));
    assert!(
        file["client_email"]
            .as_str()
            .unwrap()
            .ends_with("@vx-proj.iam.gserviceaccount.com")
    );
    assert!(
        file["private_key"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    assert_eq!(file["private_key_id"].as_str().unwrap().len(), 40);
    for k in [
        "client_id",
        "auth_uri",
        "auth_provider_x509_cert_url",
        "client_x509_cert_url",
    ] {
        assert!(file[k].is_string(), "{k}");
    }
    assert_eq!(v.sim.service_accounts(), vec![v.sa.clone()]);
}

#[tokio::test]
async fn jwt_grant_accepts_a_good_signature_and_refuses_the_rest() {
    let v = vx().await;
    let good = assertion(&v.sa, &v.sa.private_key, claims(&v.sa));
    let (status, body) = v.grant(&good).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert!(body["access_token"].as_str().unwrap().starts_with("ya29."));
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh token: re-sign instead"
    );
    let logged = v.sim.requests();
    assert_eq!(logged[0].email.as_deref(), Some(v.sa.client_email.as_str()));
    assert_eq!(logged[0].form().unwrap()["grant_type"], JWT_BEARER_GRANT);

    let refused = async |jwt: String| {
        let (status, b) = v.grant(&jwt).await;
        (
            status,
            b["error"].as_str().unwrap_or_default().to_string(),
            b["error_description"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    let (status, error, desc) = refused(assertion(&v.sa, STRANGER_KEY, claims(&v.sa))).await;
    assert_eq!(
        (status, error.as_str(), desc.as_str()),
        (400, "invalid_grant", "Invalid JWT Signature.")
    );

    let now = Utc::now().timestamp();
    let mut expired = claims(&v.sa);
    expired["iat"] = json!(now - 7200);
    expired["exp"] = json!(now - 3600);
    let (status, error, desc) = refused(assertion(&v.sa, &v.sa.private_key, expired)).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    assert!(desc.contains("short-lived token"), "{desc}");

    let mut too_long = claims(&v.sa);
    too_long["exp"] = json!(now + 7200);
    assert_eq!(
        refused(assertion(&v.sa, &v.sa.private_key, too_long))
            .await
            .1,
        "invalid_grant"
    );

    let mut wrong_aud = claims(&v.sa);
    wrong_aud["aud"] = json!("https://oauth2.googleapis.com/token");
    let (_, error, desc) = refused(assertion(&v.sa, &v.sa.private_key, wrong_aud)).await;
    assert_eq!(error, "invalid_grant");
    assert!(desc.contains("audience"));

    let mut no_scope = claims(&v.sa);
    no_scope.as_object_mut().unwrap().remove("scope");
    assert_eq!(
        refused(assertion(&v.sa, &v.sa.private_key, no_scope))
            .await
            .1,
        "invalid_scope"
    );

    let mut stranger = claims(&v.sa);
    stranger["iss"] = json!("nobody@vx-proj.iam.gserviceaccount.com");
    let (_, _, desc) = refused(assertion(&v.sa, &v.sa.private_key, stranger)).await;
    assert_eq!(desc, "Invalid grant: account not found");

    let mut wrong_kid = Header::new(Algorithm::RS256);
    wrong_kid.kid = Some("0123".into());
    let key = EncodingKey::from_rsa_pem(v.sa.private_key.as_bytes()).unwrap();
    let jwt = jsonwebtoken::encode(&wrong_kid, &claims(&v.sa), &key).unwrap();
    assert_eq!(refused(jwt).await.2, "Invalid JWT Signature.");

    assert!(
        v.sim
            .set_service_account_state(&v.sa.client_email, ServiceAccountState::KeyDeleted)
    );
    assert_eq!(refused(good.clone()).await.2, "Invalid JWT Signature.");
    assert!(
        v.sim
            .set_service_account_state(&v.sa.client_email, ServiceAccountState::Active)
    );
    assert_eq!(v.grant(&good).await.0, 200);

    let (status, b) = v.grant("not.a.jwt").await;
    assert_eq!((status, b["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn generation_on_project_paths_needs_the_accounts_token() {
    let v = vx().await;
    let token = v.token().await;
    let (status, body) = v
        .call(
            &token,
            v.model_path("global", "gemini-2.5-pro", "generateContent"),
            &user_turn("hi"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["text"],
        "Echo: hi"
    );
    assert!(body.get("response").is_none() && body["createTime"].is_string());
    assert_eq!(body["usageMetadata"]["trafficType"], "ON_DEMAND");
    let r = &v.sim.requests()[1];
    assert_eq!(r.upstream, Some(Upstream::Vertex));
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    assert_eq!(r.email.as_deref(), Some(v.sa.client_email.as_str()));

    let (status, body) = v
        .call(
            &token,
            v.model_path("us-central1", "gemini-2.5-flash", "countTokens"),
            &user_turn("12345678"),
        )
        .await;
    assert_eq!((status, body["totalTokens"].as_u64()), (200, Some(2)));
    assert_eq!(body["totalBillableCharacters"], 8);

    let resp = v
        .http
        .post(format!(
            "{}?alt=sse",
            v.model_path("europe-west4", "gemini-2.5-flash", "streamGenerateContent")
        ))
        .bearer_auth(&token)
        .json(&user_turn("stream on vertex"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let (raw, _) = read_all(resp).await;
    let raw = String::from_utf8(raw).unwrap();
    assert!(raw.starts_with("data: {\"candidates\": ["));
    assert!(raw.ends_with("\r\n\r\n"));
    let (status, arr) = v
        .call(
            &token,
            v.model_path("global", "gemini-2.5-flash", "streamGenerateContent"),
            &user_turn("x"),
        )
        .await;
    assert_eq!(status, 200);
    assert!(arr.is_array());

    let (status, body) = v
        .call(
            &token,
            v.model_path("us-central1", "gemini-3-pro-preview", "generateContent"),
            &user_turn("x"),
        )
        .await;
    assert_eq!(status, 404, "global-only model outside global");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Publisher Model `projects/vx-proj/locations/us-central1/")
    );
    let (status, _) = v
        .call(
            &token,
            v.model_path("global", "gemini-3-pro-preview", "generateContent"),
            &user_turn("x"),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = v
        .call(
            &token,
            v.model_path("global", "gemma-4-31b-it", "generateContent"),
            &user_turn("x"),
        )
        .await;
    assert_eq!(status, 404, "gemma is no Vertex publisher model");

    let no_role = json!({"contents": [{"parts": [{"text": "hi"}]}]});
    let (status, body) = v
        .call(
            &token,
            v.model_path("global", "gemini-2.5-pro", "generateContent"),
            &no_role,
        )
        .await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (400, Some("Please use a valid role: user, model."))
    );
    let mut civic = user_turn("x");
    civic["generationConfig"] = json!({"enableEnhancedCivicAnswers": true});
    assert_eq!(
        v.call(
            &token,
            v.model_path("global", "gemini-2.5-pro", "generateContent"),
            &civic
        )
        .await
        .0,
        400
    );
    let mut labelled = user_turn("x");
    labelled["labels"] = json!({"team": "a"});
    assert_eq!(
        v.call(
            &token,
            v.model_path("global", "gemini-2.5-pro", "generateContent"),
            &labelled
        )
        .await
        .0,
        200
    );
}

#[tokio::test]
async fn bearer_errors_on_vertex() {
    let v = vx().await;
    let url = v.model_path("global", "gemini-2.5-pro", "generateContent");
    let resp = v
        .http
        .post(url.clone())
        .json(&user_turn("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(detail(&body, "ErrorInfo")["reason"], "CREDENTIALS_MISSING");
    assert_eq!(
        detail(&body, "ErrorInfo")["metadata"]["service"],
        VERTEX_SERVICE
    );
    assert_eq!(
        v.call("ya29.bogus", url.clone(), &user_turn("x")).await.0,
        401
    );

    let token = v.token().await;
    let other = v
        .sim
        .add_service_account(ServiceAccountSpec::new().project("other-proj"));
    let foreign = format!(
        "{}/v1/projects/other-proj/locations/global/publishers/google/models/gemini-2.5-pro:generateContent",
        v.sim.base_url()
    );
    let (status, body) = v.call(&token, foreign, &user_turn("x")).await;
    assert_eq!(status, 403, "another project's path");
    assert_eq!(
        detail(&body, "ErrorInfo")["reason"],
        "IAM_PERMISSION_DENIED"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Permission 'aiplatform.endpoints.predict' denied")
    );

    let mut narrow = claims(&other);
    narrow["scope"] = json!("https://www.googleapis.com/auth/userinfo.email");
    let (_, granted) = v
        .grant(&assertion(&other, &other.private_key, narrow))
        .await;
    let other_url = format!(
        "{}/v1/projects/other-proj/locations/global/publishers/google/models/gemini-2.5-pro:generateContent",
        v.sim.base_url()
    );
    let (status, body) = v
        .call(
            granted["access_token"].as_str().unwrap(),
            other_url,
            &user_turn("x"),
        )
        .await;
    assert_eq!(
        (status, detail(&body, "ErrorInfo")["reason"].as_str()),
        (403, Some("ACCESS_TOKEN_SCOPE_INSUFFICIENT"))
    );

    v.sim.set_project_service("vx-proj", VERTEX_SERVICE, false);
    let (status, body) = v.call(&token, url.clone(), &user_turn("x")).await;
    assert_eq!(
        (status, detail(&body, "ErrorInfo")["reason"].as_str()),
        (403, Some("SERVICE_DISABLED"))
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Vertex AI API has not been used")
    );
    v.sim.set_project_service("vx-proj", VERTEX_SERVICE, true);

    v.sim.revoke_access_tokens(&v.sa.client_email);
    let (status, body) = v.call(&token, url.clone(), &user_turn("x")).await;
    assert_eq!(
        (status, detail(&body, "ErrorInfo")["reason"].as_str()),
        (401, Some("ACCESS_TOKEN_EXPIRED"))
    );
    let token = v.token().await;
    assert!(
        v.sim
            .set_service_account_state(&v.sa.client_email, ServiceAccountState::Deleted)
    );
    assert_eq!(
        v.call(&token, url, &user_turn("x")).await.0,
        401,
        "a deleted account's tokens die"
    );
    let (_, b) = v
        .grant(&assertion(&v.sa, &v.sa.private_key, claims(&v.sa)))
        .await;
    assert_eq!(b["error_description"], "Invalid grant: account not found");
}

#[tokio::test]
async fn vertex_quota_429_has_no_details_and_faults_match_the_account() {
    let v = vx().await;
    let token = v.token().await;
    let url = v.model_path("global", "gemini-2.5-pro", "generateContent");
    v.sim
        .set_project_quota("vx-proj", vec![ModelQuota::all_models().per_minute(1)]);
    assert_eq!(v.call(&token, url.clone(), &user_turn("x")).await.0, 200);
    let (status, body) = v.call(&token, url.clone(), &user_turn("x")).await;
    assert_eq!(status, 429);
    assert_eq!(
        body,
        json!({"error": {"code": 429, "message": "Resource exhausted. Please try again later. Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.", "status": "RESOURCE_EXHAUSTED"}})
    );
    v.sim.reset_quota_usage();
    let when = FaultMatch::any()
        .email(v.sa.client_email.clone())
        .upstream(Upstream::Vertex);
    v.sim.push_fault(FaultRule::new(
        when,
        1,
        Fault::VertexResourceExhausted { with_errors: true },
    ));
    let (status, body) = v.call(&token, url, &user_turn("x")).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["errors"][0]["reason"], "rateLimitExceeded");
}

#[tokio::test]
async fn predict_embeds_with_vertex_limits() {
    let v = vx().await;
    let token = v.token().await;
    let instances = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| json!({"content": format!("doc {i}"), "task_type": "RETRIEVAL_DOCUMENT"}))
            .collect()
    };
    let url = v.model_path("us-central1", "text-embedding-005", "predict");
    let (status, body) = v
        .call(
            &token,
            url.clone(),
            &json!({"instances": instances(250), "parameters": {"outputDimensionality": 16}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let predictions = body["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), 250);
    for (i, p) in predictions.iter().enumerate() {
        let values: Vec<f64> = serde_json::from_value(p["embeddings"]["values"].clone()).unwrap();
        assert_eq!(values, embedding_values(&format!("doc {i}"), 16));
        assert_eq!(p["embeddings"]["statistics"]["truncated"], false);
        assert!(
            p["embeddings"]["statistics"]["token_count"]
                .as_u64()
                .unwrap()
                > 0
        );
    }
    assert!(body["metadata"]["billableCharacterCount"].as_u64().unwrap() > 0);
    let (status, body) = v
        .call(&token, url.clone(), &json!({"instances": instances(251)}))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("batchSize value of 251")
    );
    let (status, body) = v
        .call(
            &token,
            url.clone(),
            &json!({"instances": [{"content": "x"}]}),
        )
        .await;
    assert_eq!(
        (
            status,
            body["predictions"][0]["embeddings"]["values"]
                .as_array()
                .unwrap()
                .len()
        ),
        (200, 768)
    );

    let long = "y".repeat(4 * 2048 + 40);
    let (_, body) = v
        .call(
            &token,
            url.clone(),
            &json!({"instances": [{"content": long}]}),
        )
        .await;
    assert_eq!(
        body["predictions"][0]["embeddings"]["statistics"]["truncated"],
        true
    );
    assert_eq!(
        body["predictions"][0]["embeddings"]["statistics"]["token_count"],
        2048
    );
    let strict = json!({"instances": [{"content": long}], "parameters": {"autoTruncate": false}});
    assert_eq!(v.call(&token, url.clone(), &strict).await.0, 400);
    let heavy: Vec<Value> = (0..11)
        .map(|_| json!({"content": "z".repeat(4 * 2000)}))
        .collect();
    let (status, body) = v.call(&token, url, &json!({"instances": heavy})).await;
    assert_eq!(status, 400, "over 20k tokens in one request");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("supports up to 20000")
    );

    let g1 = v.model_path("global", "gemini-embedding-001", "predict");
    let (status, body) = v
        .call(&token, g1.clone(), &json!({"instances": instances(1)}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["predictions"][0]["embeddings"]["values"]
            .as_array()
            .unwrap()
            .len(),
        3072
    );
    let (status, body) = v
        .call(&token, g1, &json!({"instances": instances(2)}))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("batchSize must be 1 but the entered value was 2")
    );

    let (status, body) = v
        .call(
            &token,
            v.model_path("global", "gemini-embedding-2", "predict"),
            &json!({"instances": instances(1)}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["status"].as_str()),
        (400, Some("FAILED_PRECONDITION"))
    );
}

#[tokio::test]
async fn embed_content_serves_gemini_embedding_2_one_content_at_a_time() {
    let v = vx().await;
    let token = v.token().await;
    let body = json!({"content": {"role": "user", "parts": [{"text": "one"}, {"text": "two"}]}, "outputDimensionality": 32});
    let (status, out) = v
        .call(
            &token,
            v.model_path("global", "gemini-embedding-2", "embedContent"),
            &body,
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let values: Vec<f64> = serde_json::from_value(out["embedding"]["values"].clone()).unwrap();
    assert_eq!(
        values,
        embedding_values("one\ntwo", 32),
        "parts fuse into one embedding"
    );
    assert!(out["usageMetadata"]["promptTokenCount"].as_u64().unwrap() > 0);
    // The options' current home, `embedContentConfig`, wins over the deprecated top level.
    let configured = json!({"content": {"parts": [{"text": "one"}]}, "outputDimensionality": 32,
        "embedContentConfig": {"outputDimensionality": 8, "taskType": "RETRIEVAL_QUERY"}});
    let (status, out) = v
        .call(
            &token,
            v.model_path("global", "gemini-embedding-2", "embedContent"),
            &configured,
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["embedding"]["values"].as_array().unwrap().len(), 8);
    let titled =
        json!({"content": {"parts": [{"text": "one"}]}, "embedContentConfig": {"title": "T"}});
    let (status, out) = v
        .call(
            &token,
            v.model_path("global", "gemini-embedding-2", "embedContent"),
            &titled,
        )
        .await;
    assert_eq!(status, 400, "a title needs RETRIEVAL_DOCUMENT: {out}");
    let (status, out) = v
        .call(
            &token,
            v.model_path("global", "gemini-embedding-001", "embedContent"),
            &body,
        )
        .await;
    assert_eq!(
        (status, out["error"]["status"].as_str()),
        (400, Some("FAILED_PRECONDITION"))
    );
}

#[tokio::test]
async fn express_mode_serves_generation_with_its_own_keys_and_no_embeddings() {
    let v = vx().await;
    let express = v.sim.add_api_key(ApiKeySpec::express());
    assert!(express.key.starts_with("AQ."));
    let (status, body) = v
        .express(
            &express.key,
            "gemini-2.5-flash",
            "generateContent",
            &user_turn("hey"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["text"],
        "Echo: hey"
    );
    assert_eq!(body["usageMetadata"]["trafficType"], "ON_DEMAND");
    let r = v.sim.requests().pop().unwrap();
    assert_eq!(
        (r.upstream, r.api_key.as_deref()),
        (Some(Upstream::VertexExpress), Some(express.key.as_str()))
    );
    assert_eq!(
        r.path,
        "/v1/publishers/google/models/gemini-2.5-flash:generateContent"
    );
    let (status, body) = v
        .express(
            &express.key,
            "gemini-2.5-flash",
            "countTokens",
            &user_turn("abcd"),
        )
        .await;
    assert_eq!((status, body["totalTokens"].as_u64()), (200, Some(1)));
    let (status, body) = v
        .express(
            &express.key,
            "gemini-2.5-flash",
            "streamGenerateContent",
            &user_turn("x"),
        )
        .await;
    assert_eq!(status, 200);
    assert!(body.is_array());

    for (model, method, payload) in [
        (
            "text-embedding-005",
            "predict",
            json!({"instances": [{"content": "x"}]}),
        ),
        (
            "gemini-embedding-2",
            "embedContent",
            json!({"content": {"parts": [{"text": "x"}]}}),
        ),
    ] {
        assert_eq!(
            v.express(&express.key, model, method, &payload).await.0,
            404,
            "{method}"
        );
    }

    let (status, body) = v
        .express("", "gemini-2.5-flash", "generateContent", &user_turn("x"))
        .await;
    assert_eq!(
        (status, detail(&body, "ErrorInfo")["reason"].as_str()),
        (401, Some("CREDENTIALS_MISSING"))
    );
    let aistudio = v.sim.add_api_key(ApiKeySpec::gemini());
    let (status, body) = v
        .express(
            &aistudio.key,
            "gemini-2.5-flash",
            "generateContent",
            &user_turn("x"),
        )
        .await;
    assert_eq!(
        (status, detail(&body, "ErrorInfo")["reason"].as_str()),
        (403, Some("API_KEY_SERVICE_BLOCKED"))
    );
    assert_eq!(
        detail(&body, "ErrorInfo")["metadata"]["service"],
        VERTEX_SERVICE
    );
    let (status, body) = v
        .express(
            "AQ.unknown",
            "gemini-2.5-flash",
            "generateContent",
            &user_turn("x"),
        )
        .await;
    assert_eq!(
        (status, detail(&body, "ErrorInfo")["reason"].as_str()),
        (400, Some("API_KEY_INVALID"))
    );
    v.sim.set_project_quota(
        &express.project_id,
        vec![ModelQuota::all_models().per_day(0)],
    );
    let (status, body) = v
        .express(
            &express.key,
            "gemini-2.5-flash",
            "generateContent",
            &user_turn("x"),
        )
        .await;
    assert_eq!(status, 429);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Resource exhausted.")
    );
}
