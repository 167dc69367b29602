//! Settings and passwords.
use reqwest::Method;
use serde_json::{Value, json};

use super::{api, api_as, code, get, send, spawn};
use crate::support::{self, KEY};

fn find<'a>(list: &'a Value, key: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == key)
        .unwrap_or_else(|| panic!("no setting {key}"))
}

#[tokio::test]
async fn list_patch_reset_and_locks() {
    crate::support::init_logs();
    let app = support::builder().env("AUTO_BAN", "true").spawn().await;
    let (status, list) = get(&app, "/settings").await;
    assert_eq!(status, 200);
    let auto_ban = find(&list, "auto_ban");
    assert_eq!(auto_ban["locked"], true);
    assert_eq!(auto_ban["source"], "env");
    assert_eq!(auto_ban["value"], true);
    assert_eq!(auto_ban["env"], "AUTO_BAN");
    let password = find(&list, "password");
    assert_eq!(password["secret"], true);
    assert_eq!(password["value"], Value::Null);
    assert_eq!(password["is_set"], true);
    let retries = find(&list, "retry_429_max_retries");
    assert_eq!(retries["source"], "default");
    assert_eq!(retries["hot"], true);

    // A hot key applies at once.
    let (status, body) =
        send(api(&app, Method::PATCH, "/settings").json(&json!({"retry_429_max_retries": 2})))
            .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["applied"], json!(["retry_429_max_retries"]));
    assert_eq!(app.state.settings.get().retry_429_max_retries, 2);
    let (_, list) = get(&app, "/settings").await;
    assert_eq!(find(&list, "retry_429_max_retries")["value"], 2);
    assert_eq!(find(&list, "retry_429_max_retries")["source"], "saved");

    // A locked key is refused with 409, and nothing of the batch is saved.
    let (status, body) = send(
        api(&app, Method::PATCH, "/settings")
            .json(&json!({"retry_429_max_retries": 4, "auto_ban": false})),
    )
    .await;
    assert_eq!((status, code(&body)), (409, "locked"), "{body}");
    assert_eq!(body["error"]["target"], "auto_ban");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("AUTO_BAN")
    );
    assert_eq!(app.state.settings.get().retry_429_max_retries, 2);
    assert!(app.state.settings.get().auto_ban);

    // An invalid value names the key and the reason.
    let (status, body) =
        send(api(&app, Method::PATCH, "/settings").json(&json!({"retry_429_max_retries": "many"})))
            .await;
    assert_eq!((status, code(&body)), (422, "invalid"), "{body}");
    assert_eq!(body["error"]["target"], "retry_429_max_retries");
    assert!(!body["error"]["message"].as_str().unwrap().is_empty());

    // Unknown keys and passwords are refused too.
    let (status, body) =
        send(api(&app, Method::PATCH, "/settings").json(&json!({"calls_per_rotatoin": 3}))).await;
    assert_eq!((status, code(&body)), (400, "unknown_setting"), "{body}");
    let (status, body) =
        send(api(&app, Method::PATCH, "/settings").json(&json!({"api_password": "abcdefghi"})))
            .await;
    assert_eq!((status, code(&body)), (409, "not_writable"), "{body}");

    // Reset: back to the default.
    let (status, body) = send(api(&app, Method::DELETE, "/settings/retry_429_max_retries")).await;
    assert_eq!(status, 200, "{body}");
    let (_, list) = get(&app, "/settings").await;
    assert_eq!(find(&list, "retry_429_max_retries")["source"], "default");
    let (status, body) = send(api(&app, Method::DELETE, "/settings/auto_ban")).await;
    assert_eq!((status, code(&body)), (409, "locked"));
    let (status, body) = send(api(&app, Method::DELETE, "/settings/no_such_thing")).await;
    assert_eq!((status, code(&body)), (404, "not_found"));
}

async fn models_status(app: &support::TestApp, key: &str) -> u16 {
    app.http
        .get(format!("{}/v1/models", app.url))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn passwords_are_write_only_and_take_effect_at_once() {
    let app = spawn().await;
    assert_eq!(models_status(&app, KEY).await, 200);

    // PASSWORD comes from the environment: locked.
    let (status, body) = send(
        api(&app, Method::PUT, "/passwords/shared")
            .json(&json!({"current_password": KEY, "password": "whatever-long"})),
    )
    .await;
    assert_eq!((status, code(&body)), (409, "locked"), "{body}");
    let (status, body) = send(
        api(&app, Method::PUT, "/passwords/api")
            .json(&json!({"current_password": KEY, "password": "short"})),
    )
    .await;
    assert_eq!((status, code(&body)), (422, "invalid"), "{body}");
    let (status, _) = send(
        api(&app, Method::PUT, "/passwords/nonsense")
            .json(&json!({"current_password": KEY, "password": "x"})),
    )
    .await;
    assert_eq!(status, 400);

    // A new API key: the old one stops working for the proxy, the new one works; the panel
    // password (still PASSWORD) is unaffected.
    let (status, body) = send(
        api(&app, Method::PUT, "/passwords/api")
            .json(&json!({"current_password": KEY, "password": "new-api-key-123"})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(models_status(&app, "new-api-key-123").await, 200);
    assert!(matches!(models_status(&app, KEY).await, 401 | 403));
    let (status, _) = get(&app, "/system/info").await;
    assert_eq!(status, 200);

    // A new panel password: the old one is refused by the API, the new one accepted.
    let (status, _) = send(
        api(&app, Method::PUT, "/passwords/panel")
            .json(&json!({"current_password": KEY, "password": "new-panel-pw-1"})),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = get(&app, "/system/info").await;
    assert_eq!(status, 401);
    let (status, _) = send(api_as(&app, Method::GET, "/system/info", "new-panel-pw-1")).await;
    assert_eq!(status, 200);

    // Never shown: the settings list says "set", without a value.
    let (_, list) = send(api_as(&app, Method::GET, "/settings", "new-panel-pw-1")).await;
    for key in ["api_password", "panel_password"] {
        let s = find(&list, key);
        assert_eq!(
            (s["is_set"].clone(), s["value"].clone()),
            (json!(true), Value::Null)
        );
        assert_eq!(s["source"], "saved");
    }
    let text = list.to_string();
    assert!(!text.contains("new-api-key-123") && !text.contains("new-panel-pw-1"));
}
