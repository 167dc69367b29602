//! Adding Gemini API keys, Vertex express keys and service accounts: pasted, uploaded, from
//! the environment; each checked with Google first, dead ones refused in plain words.
use base64::Engine;
use gcli2api::simulator::{ApiKeySpec, KeyState, ServiceAccountSpec, ServiceAccountState};
use reqwest::Method;
use serde_json::{Value, json};

use super::{api, code, get, send, upload};
use crate::support::{self, user_text};

async fn add_keys(app: &support::TestApp, body: Value) -> (u16, Value) {
    send(api(app, Method::POST, "/credentials/keys").json(&body)).await
}

fn reasons(report: &Value, field: &str) -> Vec<String> {
    report[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reason"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn pasted_keys_are_checked_and_dead_ones_refused_plainly() {
    crate::support::init_logs();
    let app = support::builder().no_users().spawn().await;
    let good = app.sim.add_api_key(ApiKeySpec::gemini().project("proj-a"));
    let second = app.sim.add_api_key(ApiKeySpec::gemini().project("proj-b"));
    let standard = app.sim.add_api_key(ApiKeySpec::gemini().standard());
    let express = app.sim.add_api_key(ApiKeySpec::express());
    let text = format!(
        "{}@proj-a\n{}, {}\nAQ.never-issued-by-google-0000\n# comment\n{}",
        good.key, second.key, standard.key, good.key
    );
    let (status, report) = add_keys(
        &app,
        json!({"kind": "gemini_api_key", "keys": text, "group": "fallback"}),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["imported"].as_array().unwrap().len(), 2, "{report}");
    let rejected = reasons(&report, "rejected");
    assert_eq!(rejected.len(), 2, "{report}");
    assert!(
        rejected.iter().any(|r| r
            == "the Gemini API no longer accepts standard keys: create an auth key in AI Studio"),
        "{rejected:?}"
    );
    assert!(
        rejected.iter().any(|r| r.contains("not valid")),
        "{rejected:?}"
    );
    assert_eq!(reasons(&report, "duplicates").len(), 1, "{report}");
    // Nothing in the report or the list shows a key.
    assert!(!report.to_string().contains(&good.key[5..]), "{report}");
    let (_, list) = get(&app, "/credentials?kind=gemini_api_key").await;
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    assert!(
        !Value::from(list.clone())
            .to_string()
            .contains(&good.key[5..])
    );
    let groups: Vec<&str> = list
        .iter()
        .map(|c| c["quota_group"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["proj-a", "fallback"]);
    // The model list was discovered at import.
    let models = list[0]["models"].as_array().unwrap();
    assert!(models.iter().any(|m| m == "gemini-2.5-pro"), "{models:?}");

    // The kind is where the key was pasted: a Gemini API key pasted as express is refused by
    // Vertex, with the reason.
    let (_, report) = add_keys(
        &app,
        json!({"kind": "vertex_express_key", "keys": format!("{}\n{}", express.key, second.key)}),
    )
    .await;
    assert_eq!(report["imported"].as_array().unwrap().len(), 1, "{report}");
    let rejected = reasons(&report, "rejected");
    assert!(rejected[0].contains("API restrictions"), "{rejected:?}");

    // Not a key kind, a bad group: refused as a whole.
    let (status, body) = add_keys(&app, json!({"kind": "code_assist", "keys": good.key})).await;
    assert_eq!((status, code(&body)), (400, "bad_request"), "{body}");
    let (status, body) = add_keys(
        &app,
        json!({"kind": "gemini_api_key", "keys": good.key, "group": "bad group"}),
    )
    .await;
    assert_eq!((status, code(&body)), (422, "invalid"), "{body}");

    // The added keys serve.
    let (status, c) = app
        .chat(json!({"model": "gemini-2.5-flash", "messages": [user_text("pasted")]}))
        .await;
    assert_eq!(status, 200, "{c}");
}

#[tokio::test]
async fn service_account_files_are_sorted_by_content_and_granted() {
    crate::support::init_logs();
    let app = support::builder().no_users().spawn().await;
    let alive = app.sim.add_service_account(ServiceAccountSpec::new());
    let dead = app.sim.add_service_account(ServiceAccountSpec::new());
    app.sim
        .set_service_account_state(&dead.client_email, ServiceAccountState::KeyDeleted);
    let user = app
        .sim
        .add_user(gcli2api::simulator::UserSpec::new("mixed@sim.test"));
    let a = serde_json::to_vec(&alive.key_json()).unwrap();
    let d = serde_json::to_vec(&dead.key_json()).unwrap();
    let u = serde_json::to_vec(&user.credential_json()).unwrap();
    let (status, report) = upload(
        &app,
        &[("key.json", &a), ("old.json", &d), ("oauth_creds.json", &u)],
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["imported"].as_array().unwrap().len(), 2, "{report}");
    let rejected = reasons(&report, "rejected");
    assert!(
        rejected[0].contains("Invalid JWT Signature"),
        "{rejected:?}"
    );
    let (_, vertex) = get(&app, "/credentials?kind=vertex_service_account").await;
    let vertex = vertex.as_array().unwrap();
    assert_eq!(vertex.len(), 1);
    assert_eq!(vertex[0]["email"], alive.client_email.as_str());
    assert_eq!(vertex[0]["project_id"], alive.project_id.as_str());
    assert!(!vertex.iter().any(|c| c.to_string().contains("PRIVATE KEY")));
    let (_, oauth) = get(&app, "/credentials?kind=code_assist").await;
    assert_eq!(oauth.as_array().unwrap().len(), 1);
    // The same file again is a duplicate, not a second credential.
    let (_, again) = upload(&app, &[("copy.json", &a)]).await;
    assert_eq!(reasons(&again, "duplicates").len(), 1, "{again}");
}

#[tokio::test]
async fn export_gives_back_keys_and_key_files() {
    crate::support::init_logs();
    let app = support::builder().no_users().spawn().await;
    let key = app.sim.add_api_key(ApiKeySpec::gemini());
    let sa = app.sim.add_service_account(ServiceAccountSpec::new());
    add_keys(
        &app,
        json!({"kind": "gemini_api_key", "keys": format!("{}@grp", key.key)}),
    )
    .await;
    upload(
        &app,
        &[("sa.json", &serde_json::to_vec(&sa.key_json()).unwrap())],
    )
    .await;
    let zip = api(&app, Method::GET, "/credentials/export")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let other = support::builder()
        .no_users()
        .reuse_sim(app.sim.clone())
        .spawn()
        .await;
    let (status, report) = upload(&other, &[("all.zip", &zip)]).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["imported"].as_array().unwrap().len(), 2, "{report}");
    let (_, list) = get(&other, "/credentials").await;
    let mut kinds: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["gemini_api_key", "vertex_service_account"]);
    let key = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "gemini_api_key")
        .unwrap();
    assert_eq!(key["quota_group"], "grp");
}

#[tokio::test]
async fn environment_keys_load_at_every_start_idempotently() {
    crate::support::init_logs();
    let sim = gcli2api::simulator::Simulator::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .await
    .unwrap();
    let k1 = sim.add_api_key(ApiKeySpec::gemini());
    let k2 = sim.add_api_key(ApiKeySpec::gemini());
    let x = sim.add_api_key(ApiKeySpec::express());
    let sa = sim.add_service_account(ServiceAccountSpec::new());
    let b64 = base64::engine::general_purpose::STANDARD.encode(sa.key_json().to_string());
    let env = |b: support::Builder, keys: &str| {
        b.no_users()
            .env("GEMINI_API_KEYS", keys)
            .env("VERTEX_EXPRESS_KEYS", &x.key)
            .env("VERTEX_CREDS_1", &b64)
    };
    let groups = |list: &Value| -> Vec<Value> {
        let mut keys: Vec<&Value> = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["kind"] == "gemini_api_key")
            .collect();
        keys.sort_by_key(|c| c["id"].as_i64());
        keys.iter().map(|c| c["quota_group"].clone()).collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let app = env(
        support::builder().reuse(sim.clone(), dir),
        &format!("{}@shared,\n{}@shared", k1.key, k2.key),
    )
    .spawn()
    .await;
    let (_, list) = get(&app, "/credentials").await;
    assert_eq!(groups(&list), [json!("shared"), json!("shared")]);
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 4, "{list:?}");
    assert!(list.iter().all(|c| c["source"] == "env"));
    let (sim, dir) = app.stop().await;
    // The same keys with other groups: nothing is added, and the groups follow the
    // environment (one moved to another project, one's label removed).
    let app = env(
        support::builder().reuse(sim.clone(), dir),
        &format!("{}@proj-b\n{}", k1.key, k2.key),
    )
    .spawn()
    .await;
    let (_, again) = get(&app, "/credentials").await;
    assert_eq!(
        again.as_array().unwrap().len(),
        4,
        "loading twice adds nothing"
    );
    assert_eq!(groups(&again), [json!("proj-b"), Value::Null]);
    let ids: Vec<i64> = app
        .state
        .pool
        .list()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.kind == gcli2api::google::kind::CredentialKind::GeminiApiKey)
        .map(|r| r.id)
        .collect();
    let in_pool: Vec<Option<String>> = ids
        .iter()
        .map(|id| app.state.pool.profile(*id).unwrap().group)
        .collect();
    assert_eq!(
        in_pool,
        [Some("proj-b".to_string()), None],
        "the pool shares cooldowns by the new groups"
    );
    // A key revoked since import is disabled on first use, with the reason.
    sim.set_api_key_state(&k1.key, KeyState::Deleted);
    sim.set_api_key_state(&k2.key, KeyState::Deleted);
    let (status, c) = app
        .chat(json!({"model": "gemini-2.5-flash", "messages": [user_text("after revoke")]}))
        .await;
    assert_eq!(status, 200, "another kind serves: {c}");
    let (_, keys) = get(&app, "/credentials?kind=gemini_api_key").await;
    let banned: Vec<&Value> = keys
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "banned")
        .collect();
    assert!(!banned.is_empty(), "{keys}");
    assert_eq!(banned[0]["ban"]["kind"], "rejected");
    assert!(
        banned[0]["ban"]["reason"]
            .as_str()
            .unwrap()
            .contains("not valid"),
        "{keys}"
    );
}
