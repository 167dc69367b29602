//! The official upstreams through the `/__sim/` control API, demo seeding and resets.

use gcli2api::simulator::{ApiKeySpec, ServiceAccountSpec};
use serde_json::{Value, json};

use super::gemini_api::user_turn;
use super::{client, start};

#[tokio::test]
async fn http_control_api_seeds_and_scripts_official_credentials() {
    let sim = start().await;
    let http = client();
    let url = |p: &str| format!("{}/__sim/{p}", sim.base_url());
    let post = async |path: &str, body: Value| {
        let resp = http.post(url(path)).json(&body).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap_or(Value::Null))
    };
    let (status, key) = post("api-keys", json!({"project": "ctl-proj"})).await;
    assert_eq!(status, 200);
    let key = key["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("AQ."));
    let generate = async || {
        http.post(format!(
            "{}/v1beta/models/gemini-2.5-flash:generateContent",
            sim.base_url()
        ))
        .header("x-goog-api-key", &key)
        .json(&user_turn("x"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
    };
    assert_eq!(generate().await, 200);
    assert_eq!(
        post("api-keys/state", json!({"key": key, "state": "leaked"}))
            .await
            .0,
        204
    );
    assert_eq!(generate().await, 403);
    assert_eq!(
        post(
            "api-keys/state",
            json!({"key": "AQ.nope", "state": "leaked"})
        )
        .await
        .0,
        404
    );
    assert_eq!(
        post("api-keys/state", json!({"key": key, "state": "active"}))
            .await
            .0,
        204
    );
    let deny = json!({"key": key, "models": ["gemini-2.5-flash"]});
    assert_eq!(post("api-keys/denied-models", deny).await.0, 204);
    assert_eq!(generate().await, 403);
    assert_eq!(
        post("api-keys/denied-models", json!({"key": key, "models": []}))
            .await
            .0,
        204
    );

    let quota = json!({"project": "ctl-proj", "quotas": [{"model": "gemini-2.5-flash", "requests_per_minute": 1}]});
    assert_eq!(post("google-projects/quota", quota).await.0, 204);
    // The first call of this test counted too: start the minute afresh.
    assert_eq!(post("google-projects/reset-usage", json!({})).await.0, 204);
    assert_eq!(generate().await, 200);
    assert_eq!(generate().await, 429);
    let (status, project) = post("google-projects/get", json!({"project": "ctl-proj"})).await;
    assert_eq!(status, 200);
    assert_eq!(project["usage"][0]["requests_last_minute"], 1);
    assert_eq!(project["quotas"][0]["requests_per_minute"], 1);
    assert_eq!(post("google-projects/reset-usage", json!({})).await.0, 204);
    assert_eq!(generate().await, 200);
    let disable = json!({"project": "ctl-proj", "service": "generativelanguage.googleapis.com", "enabled": false});
    assert_eq!(post("google-projects/service", disable).await.0, 204);
    assert_eq!(generate().await, 403);

    let rule = json!({"when": {"upstream": "gemini_api", "api_key": key}, "fault": {"kind": "quota_violations", "violations": [{"quota": "requests_per_day", "limit": 0}]}});
    assert_eq!(post("faults", rule).await.0, 204);
    let enable = json!({"project": "ctl-proj", "service": "generativelanguage.googleapis.com", "enabled": true});
    assert_eq!(post("google-projects/service", enable).await.0, 204);
    assert_eq!(generate().await, 429, "the scripted fault");
    let unlimited = json!({"project": "ctl-proj", "quotas": []});
    assert_eq!(post("google-projects/quota", unlimited).await.0, 204);
    assert_eq!(generate().await, 200);

    let (status, sa) = post("service-accounts", json!({"project_id": "ctl-vertex"})).await;
    assert_eq!(status, 200);
    assert_eq!(sa["key_json"]["type"], "service_account");
    assert_eq!(
        sa["key_json"]["token_uri"],
        format!("{}/token", sim.base_url())
    );
    let email = sa["client_email"].as_str().unwrap();
    let state = json!({"client_email": email, "state": "key_deleted"});
    assert_eq!(post("service-accounts/state", state).await.0, 204);
    assert_eq!(
        sim.service_accounts()[0].state,
        gcli2api::simulator::ServiceAccountState::KeyDeleted
    );
    assert_eq!(
        post("vertex/global-only", json!(["gemini-2.5"])).await.0,
        204
    );

    let keys: Value = http
        .get(url("api-keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 1);
    let accounts: Value = http
        .get(url("service-accounts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(accounts[0]["client_email"], email);
    let log: Value = http
        .get(url("requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .all(|r| r["upstream"] == "gemini_api")
    );
    assert_eq!(log[0]["api_key"], key);
}

#[tokio::test]
async fn demo_credentials_are_one_of_each_kind_and_all_work() {
    let sim = start().await;
    let http = client();
    let demo = sim.seed_demo_credentials();
    assert_eq!(demo.code_assist.email, "code-assist@demo.test");
    assert_eq!(
        sim.user("code-assist@demo.test").unwrap().project_id,
        demo.code_assist.project_id
    );
    let base = sim.base_url();
    let ok = |resp: reqwest::Response| resp.status().as_u16();
    let gemini = http
        .get(format!("{base}/v1beta/models"))
        .header("x-goog-api-key", &demo.gemini_api_key.key)
        .send()
        .await
        .unwrap();
    assert_eq!(ok(gemini), 200);
    let express = http
        .post(format!(
            "{base}/v1/publishers/google/models/gemini-2.5-flash:generateContent"
        ))
        .header("x-goog-api-key", &demo.vertex_express_key.key)
        .json(&user_turn("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok(express), 200);
    assert_eq!(
        demo.vertex_service_account.key_json()["project_id"],
        "demo-vertex"
    );
    let ca = http
        .post(format!("{base}/v1internal:generateContent"))
        .bearer_auth(&demo.code_assist.access_token)
        .json(&super::envelope(&demo.code_assist, "gemini-2.5-flash", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok(ca), 200);
    let over_http: Value = http
        .post(format!("{base}/__sim/demo-credentials"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        over_http["vertex_service_account"]["key_json"]["type"],
        "service_account"
    );
    assert_eq!(over_http["vertex_express_key"]["kind"], "vertex_express");
}

#[tokio::test]
async fn reset_clears_usage_and_reset_all_forgets_credentials() {
    let sim = start().await;
    let key = sim.add_api_key(ApiKeySpec::gemini().project("p"));
    sim.add_service_account(ServiceAccountSpec::new());
    sim.set_project_quota(
        "p",
        vec![gcli2api::simulator::ModelQuota::all_models().per_minute(1)],
    );
    let http = client();
    let generate = async || {
        http.post(format!(
            "{}/v1beta/models/gemini-2.5-flash:generateContent",
            sim.base_url()
        ))
        .header("x-goog-api-key", &key.key)
        .json(&user_turn("x"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
    };
    assert_eq!(generate().await, 200);
    assert_eq!(generate().await, 429);
    sim.reset();
    assert_eq!(generate().await, 200, "usage cleared, key and quota kept");
    sim.reset_all();
    assert!(sim.api_keys().is_empty() && sim.service_accounts().is_empty());
    assert!(sim.google_project("p").is_none());
    assert_eq!(generate().await, 400, "the key is gone: API_KEY_INVALID");
}
