//! Bearer checks, session tokens and the brute-force lockout.
use reqwest::Method;
use serde_json::json;

use super::{api, api_as, code, send, spawn};
use crate::support::KEY;

#[tokio::test]
async fn missing_wrong_and_right_bearer() {
    let app = spawn().await;
    let url = format!("{}/api/v1/system/info", app.url);

    let r = app.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(code(&body), "unauthorized", "{body}");

    let (status, body) = send(api_as(&app, Method::GET, "/system/info", "wrong-password")).await;
    assert_eq!((status, code(&body)), (401, "unauthorized"), "{body}");

    // The API key is not the panel password when they differ; here both are PASSWORD.
    let (status, body) = send(api(&app, Method::GET, "/system/info")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["pool"]["total"], 3);
    assert_eq!(body["pool"]["active"], 3);
    assert!(body["uptime_seconds"].is_u64());

    // Unknown paths under /api answer with the same JSON error shape.
    let (status, body) = send(api(&app, Method::GET, "/nope")).await;
    assert_eq!((status, code(&body)), (404, "not_found"));
    // A malformed body too.
    let (status, body) = send(
        api(&app, Method::PATCH, "/settings")
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_eq!((status, code(&body)), (400, "bad_request"), "{body}");
}

#[tokio::test]
async fn session_tokens_work_until_sign_out_or_password_change() {
    let app = spawn().await;
    let (status, body) = send(
        app.http
            .post(format!("{}/api/v1/session", app.url))
            .json(&json!({"password": "not it"})),
    )
    .await;
    assert_eq!((status, code(&body)), (401, "unauthorized"));

    let login = || async {
        let (status, body) = send(
            app.http
                .post(format!("{}/api/v1/session", app.url))
                .json(&json!({"password": KEY})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        assert!(body["expires_at"].is_string());
        body["token"].as_str().unwrap().to_string()
    };
    let token = login().await;
    assert_ne!(token, KEY);
    let (status, _) = send(api_as(&app, Method::GET, "/system/info", &token)).await;
    assert_eq!(status, 200);

    // A forged token (right shape, wrong key) is refused.
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[2] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let forged = parts.join(".");
    let (status, _) = send(api_as(&app, Method::GET, "/system/info", &forged)).await;
    assert_eq!(status, 401);

    // Sign-out revokes exactly that token.
    let other = login().await;
    let (status, _) = send(api_as(&app, Method::DELETE, "/session", &token)).await;
    assert_eq!(status, 204);
    let (status, _) = send(api_as(&app, Method::GET, "/system/info", &token)).await;
    assert_eq!(status, 401);
    let (status, _) = send(api_as(&app, Method::GET, "/system/info", &other)).await;
    assert_eq!(status, 200);

    // Changing the panel password invalidates every session.
    let (status, body) = send(
        api_as(&app, Method::PUT, "/passwords/panel", &other)
            .json(&json!({"password": "a-new-panel-password"})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = send(api_as(&app, Method::GET, "/system/info", &other)).await;
    assert_eq!(status, 401);
    let (status, _) = send(api_as(
        &app,
        Method::GET,
        "/system/info",
        "a-new-panel-password",
    ))
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn ten_failures_lock_the_address_out_for_a_minute() {
    let app = spawn().await;
    for i in 0..10 {
        let (status, _) = send(api_as(
            &app,
            Method::GET,
            "/system/info",
            &format!("guess-{i}"),
        ))
        .await;
        assert_eq!(status, 401, "attempt {i}");
    }
    // Now even the right password is refused from this address, with a retry hint.
    let r = api(&app, Method::GET, "/system/info").send().await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(code(&body), "too_many_attempts");
    // Sign-in is throttled too.
    let (status, body) = send(
        app.http
            .post(format!("{}/api/v1/session", app.url))
            .json(&json!({"password": KEY})),
    )
    .await;
    assert_eq!((status, code(&body)), (429, "too_many_attempts"));
}
