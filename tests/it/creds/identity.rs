//! Usage belongs to what a credential is, not to its row: deleting a credential and importing
//! it again keeps today's count, so a re-import cannot reset the daily limit.
use gcli2api::simulator::ApiKeySpec;
use reqwest::Method;
use serde_json::json;

use super::{credential, delete};
use crate::api::{api, send, upload};
use crate::support::{self, user_text};

fn chat_body() -> serde_json::Value {
    json!({"model": "gemini-2.5-flash", "messages": [user_text("hi")]})
}

#[tokio::test]
async fn a_reimported_key_keeps_todays_count_and_its_limit() {
    support::init_logs();
    let app = support::builder()
        .no_users()
        .env("AISTUDIO_DAILY_LIMIT_TOTAL", "2")
        .spawn()
        .await;
    let key = app.sim.add_api_key(ApiKeySpec::gemini().project("proj-a"));
    let add = |app: &support::TestApp| {
        send(
            api(app, Method::POST, "/credentials/keys")
                .json(&json!({"kind": "gemini_api_key", "keys": key.key.clone()})),
        )
    };
    let (status, report) = add(&app).await;
    assert_eq!(status, 200, "{report}");
    let id = report["imported"][0]["id"].as_i64().expect("imported");
    for _ in 0..2 {
        let (status, body) = app.chat(chat_body()).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _) = app.chat(chat_body()).await;
    assert_ne!(status, 200, "the daily limit of 2 is reached");
    assert_eq!(credential(&app, id).await["quota"]["total"]["used"], 2);

    delete(&app, id).await;
    let (status, report) = add(&app).await;
    assert_eq!(status, 200, "{report}");
    let again = report["imported"][0]["id"]
        .as_i64()
        .expect("imported again");
    assert_ne!(again, id, "a new row");
    let c = credential(&app, again).await;
    assert_eq!(c["quota"]["total"]["used"], 2, "{c}");
    assert_eq!(c["quota"]["total"]["exhausted"], true, "{c}");
    let (status, body) = app.chat(chat_body()).await;
    assert_ne!(status, 200, "re-importing does not lift the limit: {body}");
    // A different key is a different identity: it starts from zero.
    let other = app.sim.add_api_key(ApiKeySpec::gemini().project("proj-b"));
    let (_, report) = send(
        api(&app, Method::POST, "/credentials/keys")
            .json(&json!({"kind": "gemini_api_key", "keys": other.key})),
    )
    .await;
    let fresh = report["imported"][0]["id"].as_i64().expect("imported");
    assert_eq!(credential(&app, fresh).await["quota"]["total"]["used"], 0);
}

#[tokio::test]
async fn a_reuploaded_code_assist_file_keeps_todays_count_across_a_restart() {
    support::init_logs();
    let app = support::builder()
        .users(1)
        .env("DAILY_LIMIT_TOTAL", "3")
        .spawn()
        .await;
    let id = app.ids[0];
    for _ in 0..3 {
        let (status, body) = app.chat(chat_body()).await;
        assert_eq!(status, 200, "{body}");
    }
    let r = api(&app, Method::GET, &format!("/credentials/{id}/export"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let file = r.bytes().await.unwrap();
    delete(&app, id).await;
    app.state.usage.flush().await.unwrap();
    // Across a restart: the link and the counts come back from the database.
    let (sim, dir) = app.stop().await;
    let app = support::builder()
        .reuse(sim, dir)
        .env("DAILY_LIMIT_TOTAL", "3")
        .spawn()
        .await;
    let (status, report) = upload(&app, &[("again.json", &file)]).await;
    assert_eq!(status, 200, "{report}");
    let again = report["imported"][0]["id"].as_i64().expect("imported");
    let c = credential(&app, again).await;
    assert_eq!(c["quota"]["total"]["used"], 3, "{c}");
    let (status, _) = app.chat(chat_body()).await;
    assert_ne!(status, 200, "still over today's limit");
}

#[tokio::test]
async fn a_key_loaded_again_from_the_environment_at_start_keeps_todays_count() {
    support::init_logs();
    let sim = gcli2api::simulator::Simulator::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .await
    .unwrap();
    let key = sim.add_api_key(ApiKeySpec::gemini());
    let dir = tempfile::tempdir().unwrap();
    let app = support::builder()
        .reuse(sim, dir)
        .env("GEMINI_API_KEYS", &key.key)
        .spawn()
        .await;
    let (_, list) = crate::api::get(&app, "/credentials").await;
    let id = list[0]["id"].as_i64().expect("loaded from the environment");
    for _ in 0..2 {
        let (status, body) = app.chat(chat_body()).await;
        assert_eq!(status, 200, "{body}");
    }
    delete(&app, id).await;
    app.state.usage.flush().await.unwrap();
    let (sim, dir) = app.stop().await;
    let app = support::builder()
        .reuse(sim, dir)
        .env("GEMINI_API_KEYS", &key.key)
        .spawn()
        .await;
    let (_, list) = crate::api::get(&app, "/credentials").await;
    let again = list[0]["id"].as_i64().expect("loaded again");
    assert_ne!(again, id);
    let c = credential(&app, again).await;
    assert_eq!(c["quota"]["total"]["used"], 2, "{c}");
}
