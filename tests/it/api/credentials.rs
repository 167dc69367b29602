//! Listing, inspecting and switching credentials.
use reqwest::Method;
use serde_json::{Value, json};

use super::{api, code, get, send, spawn};
use crate::support::user_text;

#[tokio::test]
async fn list_detail_enable_disable_unban_delete() {
    let app = spawn().await;
    // Some traffic, so the counters are not all zero.
    let (status, _) = app
        .chat(json!({"model": "gemini-2.5-flash", "messages": [user_text("hi")]}))
        .await;
    assert_eq!(status, 200);

    let (status, list) = get(&app, "/credentials").await;
    assert_eq!(status, 200);
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 3);
    for (c, (id, user)) in list.iter().zip(app.ids.iter().zip(&app.users)) {
        assert_eq!(c["id"], *id);
        assert_eq!(c["email"], user.email);
        assert_eq!(c["project_id"], user.project_id);
        assert_eq!(c["source"], "upload");
        assert_eq!(c["status"], "active");
        assert_eq!(c["enabled"], true);
        assert_eq!(c["in_flight"], 0);
        assert!(c["quota"]["next_reset"].is_string(), "{c}");
        assert!(c.get("payload").is_none() && c.get("refresh_token").is_none());
    }
    let calls: u64 = list.iter().map(|c| c["calls"].as_u64().unwrap()).sum();
    assert_eq!(calls, 1);

    let id = app.ids[0];
    let (status, one) = get(&app, &format!("/credentials/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(one["name"], "cred-1.json");
    let (status, body) = get(&app, "/credentials/999999").await;
    assert_eq!((status, code(&body)), (404, "not_found"));
    let (status, _) = get(&app, "/credentials/not-a-number").await;
    assert_eq!(status, 400);

    let post = |path: String| send(api(&app, Method::POST, &path));
    let (status, c) = post(format!("/credentials/{id}/disable")).await;
    assert_eq!(
        (status, c["enabled"].clone(), c["status"].clone()),
        (200, json!(false), json!("disabled"))
    );
    assert_eq!(app.state.pool.summary().disabled, 1);
    let (status, c) = post(format!("/credentials/{id}/enable")).await;
    assert_eq!((status, c["status"].clone()), (200, json!("active")));
    let (status, body) = post("/credentials/424242/enable".into()).await;
    assert_eq!((status, code(&body)), (404, "not_found"));

    // A ban from Google (403 with AUTO_BAN) shows its reason, and unban lifts it.
    let banned = app.ids[1];
    ban(&app, banned).await;
    let (_, c) = get(&app, &format!("/credentials/{banned}")).await;
    assert_eq!(c["status"], "banned", "{c}");
    assert!(c["ban"]["reason"].is_string());
    assert!(!c["errors"].as_array().unwrap().is_empty(), "{c}");
    let (status, c) = post(format!("/credentials/{banned}/unban")).await;
    assert_eq!(status, 200);
    assert_eq!(c["status"], "active");
    assert_eq!(c["ban"], Value::Null);
    assert_eq!(c["errors"], json!([]));

    // Identify asks the simulator for the project and e-mail.
    let (status, c) = post(format!("/credentials/{id}/identify")).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["email"], app.users[0].email);

    let (status, _) = send(api(&app, Method::DELETE, &format!("/credentials/{id}"))).await;
    assert_eq!(status, 204);
    let (status, _) = send(api(&app, Method::DELETE, &format!("/credentials/{id}"))).await;
    assert_eq!(status, 404);
    let (_, list) = get(&app, "/credentials").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(app.state.pool.summary().total, 2);
}

/// Makes the pool ban `id` the way production does: Google answers VALIDATION_REQUIRED.
async fn ban(app: &crate::support::TestApp, id: i64) {
    use gcli2api::simulator::{Endpoint, Fault, FaultMatch, FaultRule};
    let email = app.users[app.ids.iter().position(|i| *i == id).unwrap()]
        .email
        .clone();
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::GenerateContent).email(email),
        1,
        Fault::ValidationRequired,
    ));
    // Rotation is sticky; with the others switched off, the next request must use `id`.
    let others: Vec<i64> = app.ids.iter().copied().filter(|i| *i != id).collect();
    for o in &others {
        app.state.pool.set_enabled(*o, false).await.unwrap();
    }
    let _ = app
        .chat(json!({"model": "gemini-2.5-flash", "messages": [user_text("hi")]}))
        .await;
    for o in &others {
        app.state.pool.set_enabled(*o, true).await.unwrap();
    }
    assert!(
        app.state.pool.state(id).unwrap().ban.is_some(),
        "credential {id} was not banned"
    );
}

/// Credentials of every kind share the list; the kind is shown and filterable, the quota group
/// can be set, and an API key never appears in what the API answers.
#[tokio::test]
async fn kinds_are_shown_filtered_and_grouped() {
    use gcli2api::google::kind::CredentialKind;
    use gcli2api::store::credentials::{CredentialSource, NewCredential};
    let app = spawn().await;
    let mut key = NewCredential::code_assist(
        "key-1",
        CredentialSource::Upload,
        json!({"api_key": "AQ.kind-test-secret-value"}),
    );
    key.kind = CredentialKind::GeminiApiKey;
    key.models = Some(vec!["gemini-2.5-flash".into()]);
    let id = app.state.pool.add(key).await.unwrap();

    let (status, all) = get(&app, "/credentials").await;
    assert_eq!(status, 200);
    assert_eq!(all.as_array().unwrap().len(), 4);
    assert!(!all.to_string().contains("kind-test-secret"), "{all}");
    let (status, keys) = get(&app, "/credentials?kind=gemini_api_key").await;
    assert_eq!(status, 200);
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kind"], "gemini_api_key");
    assert_eq!(keys[0]["models"], json!(["gemini-2.5-flash"]));
    assert!(keys[0]["quota_group"].is_null());
    let (_, oauth) = get(&app, "/credentials?kind=code_assist").await;
    assert_eq!(oauth.as_array().unwrap().len(), 3);
    let (status, _) = get(&app, "/credentials?kind=vertex").await;
    assert_eq!(status, 400);

    let put = |body: Value| {
        send(api(&app, Method::PUT, &format!("/credentials/{id}/quota-group")).json(&body))
    };
    let (status, c) = put(json!({"group": " proj-a "})).await;
    assert_eq!((status, c["quota_group"].clone()), (200, json!("proj-a")));
    assert_eq!(
        app.state.pool.profile(id).unwrap().group.as_deref(),
        Some("proj-a")
    );
    let (status, body) = put(json!({"group": "no spaces please"})).await;
    assert_eq!((status, code(&body)), (422, "invalid"));
    let (status, c) = put(json!({"group": null})).await;
    assert_eq!((status, c["quota_group"].clone()), (200, Value::Null));
    let (status, body) = send(
        api(&app, Method::PUT, "/credentials/987654/quota-group").json(&json!({"group": "x"})),
    )
    .await;
    assert_eq!((status, code(&body)), (404, "not_found"));
}
