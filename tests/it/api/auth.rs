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
            .json(&json!({"current_password": KEY, "password": "a-new-panel-password"})),
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
    for i in 0..9 {
        let (status, _) = send(api_as(
            &app,
            Method::GET,
            "/system/info",
            &format!("guess-{i}"),
        ))
        .await;
        assert_eq!(status, 401, "attempt {i}");
    }
    // The tenth wrong one is over the limit: 429 with a retry hint.
    let r = api_as(&app, Method::GET, "/system/info", "guess-9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(code(&body), "too_many_attempts");
    // Sign-in with a wrong password is throttled too; so are wrong API keys on the proxy.
    let (status, body) = send(
        app.http
            .post(format!("{}/api/v1/session", app.url))
            .json(&json!({"password": "still-guessing"})),
    )
    .await;
    assert_eq!((status, code(&body)), (429, "too_many_attempts"));
    for path in ["/v1/models", "/v1beta/models"] {
        let r = app
            .http
            .get(format!("{}{path}", app.url))
            .header("x-goog-api-key", "proxy-guess")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429, "{path}");
        assert!(r.headers().contains_key("retry-after"), "{path}");
    }
    // The right password still gets in from the locked-out address, and resets its count.
    let (status, _) = send(api(&app, Method::GET, "/system/info")).await;
    assert_eq!(status, 200);
    let (status, _) = send(api_as(&app, Method::GET, "/system/info", "guess-again")).await;
    assert_eq!(status, 401, "counting starts again after a success");
}

#[tokio::test]
async fn wrong_api_keys_on_the_proxy_are_throttled_per_address() {
    let app = spawn().await;
    let models = |key: &'static str| {
        app.http
            .get(format!("{}/v1/models", app.url))
            .bearer_auth(key)
            .send()
    };
    for i in 0..9 {
        let r = models("wrong-key").await.unwrap();
        assert_eq!(r.status(), 403, "attempt {i}");
    }
    let r = models("wrong-key").await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    // Anthropic clients get their own error shape.
    let r = app
        .http
        .post(format!("{}/v1/messages", app.url))
        .header("x-api-key", "wrong-key")
        .json(&json!({"model": "gemini-2.5-flash", "max_tokens": 5, "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    // The panel sign-in from the same address is locked out for wrong passwords as well.
    let (status, _) = send(
        app.http
            .post(format!("{}/api/v1/session", app.url))
            .json(&json!({"password": "a-guess"})),
    )
    .await;
    assert_eq!(status, 429);
    // The right key is served, and a flood of wrong keys stays cheap (no argon2 per key:
    // PASSWORD is plain here, and a saved hash is checked once, then by its cached digest).
    assert_eq!(models(KEY).await.unwrap().status(), 200);
    let t = std::time::Instant::now();
    for _ in 0..200 {
        let s = models("wrong-key").await.unwrap().status();
        assert!(s == 403 || s == 429, "{s}");
    }
    assert!(
        t.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn a_key_in_the_query_and_a_different_one_in_a_header_is_refused() {
    let app = spawn().await;
    let get = |url: String, header: &'static str, value: &'static str| {
        app.http.get(url).header(header, value).send()
    };
    let url = format!("{}/v1beta/models?key={KEY}", app.url);
    for header in ["x-goog-api-key", "x-api-key"] {
        let r = get(url.clone(), header, "something-else").await.unwrap();
        assert_eq!(r.status(), 400, "{header}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(
            body["error"]["message"].as_str().unwrap().contains("?key="),
            "{body}"
        );
    }
    let r = get(url.clone(), "authorization", "Bearer something-else")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // The same key twice is fine; so is either alone.
    assert_eq!(
        get(url.clone(), "x-goog-api-key", KEY)
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(app.http.get(url).send().await.unwrap().status(), 200);
    let r = get(format!("{}/v1beta/models", app.url), "x-goog-api-key", KEY)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A refused pair is a malformed request, not a failed guess: no lockout builds up.
    for _ in 0..12 {
        let r = get(
            format!("{}/v1beta/models?key=wrong", app.url),
            "x-goog-api-key",
            "other",
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 400);
    }
}
