//! No response of the read operations ever carries a token, a client secret or a password.
use reqwest::Method;
use serde_json::json;

use super::{api, get, send, spawn};
use crate::support::{KEY, user_text};

#[tokio::test]
async fn no_secret_in_any_listing() {
    let app = spawn().await;
    // Traffic, an error and a session, so every field has something in it.
    let (status, _) = app
        .chat(json!({"model": "gemini-2.5-flash", "messages": [user_text("hello")]}))
        .await;
    assert_eq!(status, 200);
    let (status, body) = send(
        app.http
            .post(format!("{}/api/v1/session", app.url))
            .json(&json!({"password": KEY})),
    )
    .await;
    assert_eq!(status, 201);
    let token = body["token"].as_str().unwrap().to_string();

    let mut secrets: Vec<String> = vec![KEY.to_string()];
    for u in &app.users {
        secrets.push(u.refresh_token.clone());
        secrets.push(u.access_token.clone());
        secrets.push(u.client_secret.clone());
    }
    // Whatever access tokens the pool holds now (after refreshes) count too.
    for id in &app.ids {
        if let Ok(t) = app.state.pool.access_token(*id).await {
            secrets.push(t);
        }
    }
    let mut bodies = Vec::new();
    let mut paths = vec![
        "/system/info".to_string(),
        "/settings".into(),
        "/credentials".into(),
        "/usage".into(),
        "/usage/aggregated?days=3".into(),
        "/logs?n=2000".into(),
    ];
    for id in &app.ids {
        paths.push(format!("/credentials/{id}"));
        paths.push(format!("/credentials/{id}/usage"));
    }
    for p in &paths {
        let (status, body) = get(&app, p).await;
        assert_eq!(status, 200, "{p}: {body}");
        bodies.push((p.clone(), body.to_string()));
    }
    let (status, body) = send(api(
        &app,
        Method::POST,
        &format!("/credentials/{}/identify", app.ids[0]),
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    bodies.push(("identify".into(), body.to_string()));
    for (p, text) in &bodies {
        for s in &secrets {
            assert!(s.len() >= 8, "secret too short to test: {s}");
            assert!(!text.contains(s.as_str()), "{p} leaks a secret");
        }
        assert!(!text.contains(&token), "{p} leaks the session token");
    }
}
