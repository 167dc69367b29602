use serde_json::Value;

use crate::support::{KEY, TestApp};

#[tokio::test]
async fn all_four_key_forms_are_accepted_on_both_surfaces() {
    let app = TestApp::spawn().await;
    for path in ["/v1/models", "/v1beta/models"] {
        let url = format!("{}{path}", app.url);
        let forms = [
            app.http.get(&url).bearer_auth(KEY),
            app.http.get(&url).header("x-goog-api-key", KEY),
            app.http.get(&url).header("x-api-key", KEY),
            app.http.get(format!("{url}?key={KEY}")),
        ];
        for (i, req) in forms.into_iter().enumerate() {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 200, "{path} form #{i}");
        }
    }
}

#[tokio::test]
async fn missing_and_wrong_keys_get_errors_in_the_route_format() {
    let app = TestApp::spawn().await;
    // OpenAI surface.
    let r = app
        .http
        .post(format!("{}/v1/chat/completions", app.url))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["type"], "authentication_error");
    assert!(b["error"]["message"].as_str().unwrap().contains("Bearer"));
    let r = app
        .http
        .get(format!("{}/v1/models", app.url))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "invalid_api_key");
    // Gemini surface, under both prefixes.
    for path in [
        "/v1beta/models/gemini-2.5-flash:generateContent",
        "/v1/models/gemini-2.5-flash:generateContent",
    ] {
        let r = app
            .http
            .post(format!("{}{path}", app.url))
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["error"]["status"], "UNAUTHENTICATED");
        assert_eq!(b["error"]["code"], 401);
        let r = app
            .http
            .post(format!("{}{path}?key=wrong", app.url))
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["error"]["status"], "PERMISSION_DENIED");
    }
    // A key sent with a non-Bearer scheme is not accepted.
    let r = app
        .http
        .get(format!("{}/v1/models", app.url))
        .header("authorization", format!("Basic {KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        app.generation_requests().is_empty(),
        "nothing reached upstream"
    );
}

#[tokio::test]
async fn bad_bodies_get_clear_errors_in_the_callers_format() {
    let app = TestApp::spawn().await;
    let r = app
        .http
        .post(format!("{}/v1/chat/completions", app.url))
        .bearer_auth(KEY)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["type"], "invalid_request_error");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    let (status, b) = app.chat(serde_json::json!({"model": "gemini-2.5-flash", "messages": [{"role": "wizard", "content": "x"}]})).await;
    assert_eq!(status, 400);
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("messages[0]"),
        "{b}"
    );
    let big = "x".repeat(21 * 1024 * 1024);
    let r = app.post("/v1/chat/completions", &serde_json::json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": big}]})).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let r = app
        .http
        .post(format!(
            "{}/v1beta/models/gemini-2.5-flash:generateContent?key={KEY}",
            app.url
        ))
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["status"], "INVALID_ARGUMENT");
    assert!(app.generation_requests().is_empty());
}

#[tokio::test]
async fn browsers_get_cors_preflight_answers() {
    let app = TestApp::spawn().await;
    let r = app
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/chat/completions", app.url),
        )
        .header("origin", "https://chat.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert!(r.headers().get("access-control-allow-origin").is_some());
    let r = app
        .http
        .get(format!("{}/v1/models", app.url))
        .bearer_auth(KEY)
        .header("origin", "https://chat.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("access-control-allow-origin").is_some());
}
