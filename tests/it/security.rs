//! Hardening over real sockets: the real client address behind trusted proxies, masked proxy
//! passwords, environment-only paths, and the warning when both secrets are the same.
use reqwest::Method;
use serde_json::{Value, json};

use crate::api::{api, code, send};
use crate::support::{KEY, TestApp, builder, init_logs};

async fn wrong_key_from(app: &TestApp, forwarded_for: Option<&str>) -> u16 {
    let mut r = app
        .http
        .get(format!("{}/v1/models", app.url))
        .bearer_auth("a-wrong-key");
    if let Some(f) = forwarded_for {
        r = r.header("x-forwarded-for", f);
    }
    r.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_count() {
    init_logs();
    let app = builder().env("TRUSTED_PROXIES", "127.0.0.1").spawn().await;
    // One guesser behind the proxy reaches the limit...
    for _ in 0..9 {
        assert_eq!(wrong_key_from(&app, Some("203.0.113.1")).await, 403);
    }
    assert_eq!(wrong_key_from(&app, Some("203.0.113.1")).await, 429);
    // ...a forged left-hand entry does not escape it (the proxy appended the real one)...
    assert_eq!(
        wrong_key_from(&app, Some("198.51.100.77, 203.0.113.1")).await,
        429
    );
    // ...and another client behind the same proxy is not locked out.
    assert_eq!(wrong_key_from(&app, Some("203.0.113.2")).await, 403);
    let r = app
        .http
        .get(format!("{}/v1/models", app.url))
        .bearer_auth(KEY)
        .header("x-forwarded-for", "203.0.113.3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The Forwarded header is read as well.
    let r = app
        .http
        .get(format!("{}/v1/models", app.url))
        .bearer_auth("a-wrong-key")
        .header("forwarded", "for=203.0.113.1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
}

#[tokio::test]
async fn without_trusted_proxies_forwarding_headers_are_ignored() {
    init_logs();
    let app = builder().spawn().await;
    for i in 0..9 {
        // A guesser cannot spread its attempts over made-up addresses.
        let forged = format!("203.0.113.{i}");
        assert_eq!(wrong_key_from(&app, Some(&forged)).await, 403);
    }
    assert_eq!(wrong_key_from(&app, Some("203.0.113.200")).await, 429);
    assert_eq!(wrong_key_from(&app, None).await, 429);
}

fn find<'a>(list: &'a Value, key: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == key)
        .unwrap()
}

#[tokio::test]
async fn a_proxy_password_is_masked_and_survives_a_round_trip() {
    init_logs();
    let app = builder().spawn().await;
    let (status, body) = send(
        api(&app, Method::PATCH, "/settings")
            .json(&json!({"proxy": "http://user:s3cret-proxy-pw@127.0.0.1:9"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, list) = send(api(&app, Method::GET, "/settings")).await;
    assert_eq!(
        find(&list, "proxy")["value"],
        "http://user:***@127.0.0.1:9",
        "the password is masked"
    );
    assert!(!list.to_string().contains("s3cret-proxy-pw"));
    // Sending the masked value back (as a form that saves everything does) keeps the real one.
    let (status, body) = send(
        api(&app, Method::PATCH, "/settings")
            .json(&json!({"proxy": "http://user:***@127.0.0.1:9", "access_log": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        app.state.settings.get().proxy.as_deref(),
        Some("http://user:s3cret-proxy-pw@127.0.0.1:9")
    );
    // The password is registered for redaction: a log line quoting the URL shows no secret.
    let line = gcli2api::logs::redact("via http://user:s3cret-proxy-pw@127.0.0.1:9").into_owned();
    assert!(!line.contains("s3cret"), "{line}");
}

#[tokio::test]
async fn log_file_and_credentials_dir_cannot_be_set_through_the_api() {
    init_logs();
    let app = builder().spawn().await;
    for (key, value) in [
        ("log_file", "/tmp/gcli2api-elsewhere.log"),
        ("credentials_dir", "/etc"),
    ] {
        let (status, body) =
            send(api(&app, Method::PATCH, "/settings").json(&json!({ key: value }))).await;
        assert_eq!(
            (status, code(&body)),
            (409, "not_writable"),
            "{key}: {body}"
        );
        let (status, body) = send(api(&app, Method::DELETE, &format!("/settings/{key}"))).await;
        assert_eq!(status, 409, "{key}: {body}");
        let (_, list) = send(api(&app, Method::GET, "/settings")).await;
        assert_eq!(find(&list, key)["writable"], false, "{key}");
    }
}

#[tokio::test]
async fn equal_secrets_are_flagged_and_different_ones_are_not() {
    init_logs();
    // PASSWORD serves both roles in the default test setup.
    let shared = builder().spawn().await;
    assert!(shared.state.passwords.same_for_api_and_panel());
    let apart = builder()
        .env("API_PASSWORD", "an-api-key-123")
        .env("PANEL_PASSWORD", "a-panel-password-456")
        .spawn()
        .await;
    assert!(!apart.state.passwords.same_for_api_and_panel());
    // An API key of its own; the panel falls back to PASSWORD and can be changed.
    let saved = builder()
        .env("API_PASSWORD", "an-api-key-123")
        .spawn()
        .await;
    assert!(!saved.state.passwords.same_for_api_and_panel());
    let equal = builder()
        .env("API_PASSWORD", "one-secret-789")
        .env("PANEL_PASSWORD", "one-secret-789")
        .spawn()
        .await;
    assert!(equal.state.passwords.same_for_api_and_panel());
    // A change through the API that makes them equal is noticed at once.
    let (status, body) = send(
        api(&saved, Method::PUT, "/passwords/panel")
            .json(&json!({"current_password": KEY, "password": "an-api-key-123"})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert!(saved.state.passwords.same_for_api_and_panel());
}

#[tokio::test]
async fn a_password_change_needs_the_current_password() {
    init_logs();
    let app = builder().spawn().await;
    let (status, body) = send(
        api(&app, Method::PUT, "/passwords/api")
            .json(&json!({"current_password": "not-it", "password": "new-api-key-123"})),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (403, "wrong_current_password"),
        "{body}"
    );
    assert!(!app.state.passwords.verify_api("new-api-key-123").await);
    let (status, body) = send(
        api(&app, Method::PUT, "/passwords/api").json(&json!({"password": "new-api-key-123"})),
    )
    .await;
    assert_eq!(status, 400, "missing current_password: {body}");
    let (status, body) = send(
        api(&app, Method::PUT, "/passwords/api")
            .json(&json!({"current_password": KEY, "password": "new-api-key-123"})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert!(app.state.passwords.verify_api("new-api-key-123").await);
}

#[tokio::test]
async fn keepalive_url_is_fetched_periodically() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    init_logs();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/wake-up", listener.local_addr().unwrap());
    let _app = builder()
        .env("KEEPALIVE_URL", &url)
        .env("KEEPALIVE_INTERVAL", "5")
        .spawn()
        .await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (mut sock, _) =
            tokio::time::timeout(std::time::Duration::from_secs(8), listener.accept())
                .await
                .expect("a keep-alive request arrives")
                .unwrap();
        let mut buf = [0u8; 1024];
        let n = sock.read(&mut buf).await.unwrap();
        seen.push(String::from_utf8_lossy(&buf[..n]).to_string());
        sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            .await
            .unwrap();
    }
    for req in &seen {
        assert!(req.starts_with("GET /wake-up HTTP/1.1"), "{req}");
    }
}

#[tokio::test]
async fn a_new_data_directory_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    init_logs();
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("fresh-data");
    let app = builder()
        .env("DATA_DIR", &data.display().to_string())
        .spawn()
        .await;
    let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{mode:o}");
    let db = std::fs::metadata(data.join("gcli2api.db")).unwrap();
    assert_eq!(
        db.permissions().mode() & 0o077,
        0,
        "the database is owner-only"
    );
    assert_eq!(
        wrong_key_from(&app, None).await,
        403,
        "and the gateway serves from it"
    );
}
