//! Web panel tests over real sockets: the gateway on 127.0.0.1:0 in front of the simulator,
//! driven like a browser (cookies, forms, HTMX headers) without one.

use std::time::Duration;

use crate::support::{self, KEY, TestApp, init_logs};
use futures_util::StreamExt;
use gcli2api::pool::BanKind;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::json;

/// A browser stand-in: no automatic redirects, a cookie once signed in.
struct Browser {
    base: String,
    http: reqwest::Client,
    cookie: Option<String>,
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        Browser {
            base: app.url.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    fn headers(&self, htmx: bool) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(c) = &self.cookie {
            h.insert("cookie", HeaderValue::from_str(c).unwrap());
        }
        if htmx {
            h.insert("hx-request", HeaderValue::from_static("true"));
        }
        h
    }

    async fn login(&mut self, password: &str) -> reqwest::Response {
        let r = self
            .http
            .post(format!("{}/panel/login", self.base))
            .header("origin", &self.base)
            .form(&[("password", password)])
            .send()
            .await
            .unwrap();
        if let Some(c) = r.headers().get("set-cookie") {
            let c = c.to_str().unwrap();
            self.cookie = Some(c.split(';').next().unwrap().to_string());
        }
        r
    }

    async fn signed_in(app: &TestApp) -> Self {
        let mut b = Browser::new(app);
        let r = b.login(KEY).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        b
    }

    async fn get(&self, path: &str, htmx: bool) -> (StatusCode, HeaderMap, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .headers(self.headers(htmx))
            .send()
            .await
            .unwrap();
        let (s, h) = (r.status(), r.headers().clone());
        (s, h, r.text().await.unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, HeaderMap, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .headers(self.headers(true))
            .form(form)
            .send()
            .await
            .unwrap();
        let (s, h) = (r.status(), r.headers().clone());
        (s, h, r.text().await.unwrap())
    }
}

const PAGES: [&str; 6] = [
    "/panel",
    "/panel/credentials",
    "/panel/oauth",
    "/panel/settings",
    "/panel/usage",
    "/panel/logs",
];

#[tokio::test]
async fn login_is_required_and_a_wrong_password_is_refused() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    for p in PAGES {
        let (s, h, _) = b.get(p, false).await;
        assert_eq!(s, StatusCode::SEE_OTHER, "{p}");
        assert_eq!(h["location"], "/panel/login", "{p}");
        let (s, h, _) = b.get(p, true).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{p}");
        assert_eq!(h["hx-redirect"], "/panel/login", "{p}");
    }
    // The root and the original project's /auth lead to the panel.
    for p in ["/", "/auth"] {
        let (s, h, _) = b.get(p, false).await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        assert_eq!(h["location"], "/panel");
    }
    let (s, _, body) = b.get("/panel/login", false).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("name=\"password\""));

    let r = b.login("not-the-password").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("set-cookie").is_none());
    assert!(r.text().await.unwrap().contains("Wrong password"));
    assert!(b.cookie.is_none());

    // A cross-site form post is refused before the password is even looked at.
    let r = b
        .http
        .post(format!("{}/panel/login", b.base))
        .header("origin", "http://evil.test")
        .form(&[("password", KEY)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get("set-cookie").is_none());

    let r = b.login(KEY).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/panel");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/panel"] {
        assert!(set.contains(flag), "{set}");
    }
    let (s, _, body) = b.get("/panel", false).await;
    assert_eq!(s, StatusCode::OK);
    // Each client's own setting: Anthropic and Gemini clients take the bare host.
    assert!(
        body.contains(&format!("OPENAI_BASE_URL={}/v1<", app.url)),
        "{body}"
    );
    assert!(body.contains(&format!("ANTHROPIC_BASE_URL={}<", app.url)));
    assert!(body.contains(&format!("GOOGLE_GEMINI_BASE_URL={}<", app.url)));
    assert!(!body.contains("/v1/messages") && !body.contains("/v1beta<"));

    // Signing out revokes the session: the old cookie no longer works.
    let old = b.cookie.clone();
    let (s, h, _) = b.post("/panel/logout", &[]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(h["hx-redirect"], "/panel/login");
    assert!(h["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    b.cookie = old;
    let (s, _, _) = b.get("/panel", false).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn too_many_wrong_passwords_lock_the_address_out() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    for _ in 0..9 {
        assert_eq!(b.login("wrong").await.status(), StatusCode::UNAUTHORIZED);
    }
    let r = b.login("wrong").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    assert!(b.cookie.is_none());
    // The same address guessing the API key on the proxy is refused too: one limiter.
    let r = app
        .http
        .get(format!("{}/v1/models", app.url))
        .bearer_auth("another-guess")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // The right password still gets in while locked out, and clears the count.
    let r = b.login(KEY).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(b.login("wrong").await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn pages_render_whole_or_as_htmx_partials() {
    let app = TestApp::spawn().await;
    let b = Browser::signed_in(&app).await;
    for p in PAGES {
        let (s, h, full) = b.get(p, false).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        assert!(full.starts_with("<!doctype html>"), "{p}");
        assert!(full.contains("/panel/assets/htmx-2.0.11.min.js?v="), "{p}");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("script-src 'self'")
        );
        assert_eq!(h["cache-control"], "no-store");
        let (s, _, part) = b.get(p, true).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        assert!(!part.contains("<html"), "{p}");
        assert!(part.starts_with("<title>"), "{p}");
        assert!(part.contains("hx-swap-oob=\"true\""), "{p}: nav update");
        assert!(part.contains("aria-current=\"page\""), "{p}");
    }
    // The credential table alone, for the filter form and the pager.
    let r = b
        .http
        .get(format!("{}/panel/credentials?status=all&per=20", app.url))
        .headers(b.headers(true))
        .header("hx-target", "cred-table")
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert!(body.starts_with("<div id=\"cred-table\""));
    assert_eq!(body.matches("<tr id=\"cred-").count(), 3);
    // Assets are served from the binary with long cache lifetimes.
    let (s, h, js) = b.get("/panel/assets/htmx-2.0.11.min.js", false).await;
    assert_eq!(s, StatusCode::OK);
    assert!(h["cache-control"].to_str().unwrap().contains("immutable"));
    assert!(js.contains("htmx"));
    let (s, _, _) = b.get("/panel/assets/nope.js", false).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn filters_and_paging_select_rows() {
    let app = TestApp::spawn().await;
    let b = Browser::signed_in(&app).await;
    app.state.pool.set_enabled(app.ids[1], false).await.unwrap();
    let rows = |body: &str| body.matches("<tr id=\"cred-").count();
    let (_, _, body) = b.get("/panel/credentials?status=disabled", false).await;
    assert_eq!(rows(&body), 1);
    assert!(body.contains(&format!("cred-{}", app.ids[1])));
    let (_, _, body) = b.get("/panel/credentials?status=active", false).await;
    assert_eq!(rows(&body), 2);
    let (_, _, body) = b.get("/panel/credentials?status=banned", false).await;
    assert_eq!(rows(&body), 0);
    assert!(body.contains("No credentials match."));
    // Unknown values fall back to the defaults instead of failing.
    let (s, _, body) = b
        .get("/panel/credentials?status=%3Cx%3E&per=7&page=-1", false)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(rows(&body), 3);
}

#[tokio::test]
async fn row_actions_change_the_pool() {
    let app = TestApp::spawn().await;
    let b = Browser::signed_in(&app).await;
    let id = app.ids[0];
    let enabled = || app.state.pool.state(id).unwrap().enabled;

    let (s, h, row) = b
        .post(&format!("/panel/credentials/{id}/disable"), &[])
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        row.trim_start()
            .starts_with(&format!("<tr id=\"cred-{id}\""))
    );
    assert!(row.contains("badge disabled"));
    assert!(row.contains(&format!("/panel/credentials/{id}/enable")));
    // The counts above the table come along out of band (they used to stay stale).
    let counts = &row[row
        .find(r#"id="cred-counts""#)
        .expect("counts swapped out of band")..];
    assert!(counts.contains("hx-swap-oob"), "{counts}");
    assert!(
        counts.contains(">2 active<") && counts.contains(">1 disabled<"),
        "{counts}"
    );
    assert!(h["hx-trigger"].to_str().unwrap().contains("disabled"));
    assert!(!enabled());

    // Without HX-Request and from another origin: refused, nothing changes.
    let r = b
        .http
        .post(format!("{}/panel/credentials/{id}/enable", app.url))
        .header("cookie", b.cookie.clone().unwrap())
        .header("origin", "http://evil.test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(!enabled());

    let (s, _, row) = b
        .post(&format!("/panel/credentials/{id}/enable"), &[])
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(row.contains("badge active"));
    assert!(enabled());

    app.state
        .pool
        .ban(id, BanKind::AutoBan, "403 from upstream", None)
        .await;
    let (_, _, row) = b.post(&format!("/panel/credentials/{id}/unban"), &[]).await;
    assert!(row.contains("badge active"), "{row}");
    assert!(app.state.pool.state(id).unwrap().ban.is_none());

    let (s, _, _) = b.post("/panel/credentials/999/disable", &[]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = b
        .post(&format!("/panel/credentials/{id}/explode"), &[])
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, h, body) = b
        .post(&format!("/panel/credentials/{id}/delete"), &[])
        .await;
    assert_eq!(s, StatusCode::OK);
    // No row comes back, only the counts, swapped out of band so they follow the delete.
    assert!(!body.contains("<tr"), "{body}");
    assert!(
        body.contains(r#"id="cred-counts""#) && body.contains("hx-swap-oob"),
        "{body}"
    );
    assert!(body.contains("2 credentials:"), "{body}");
    assert!(h["hx-trigger"].to_str().unwrap().contains("deleted"));
    assert!(app.state.pool.state(id).is_none());

    // The export is a download of the credential file, with its refresh token.
    let other = app.ids[1];
    let (s, h, body) = b
        .get(&format!("/panel/credentials/{other}/export"), false)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        h["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert!(body.contains(&app.users[1].refresh_token));
}

fn multipart(files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----gcli2apipaneltest7d1f";
    let mut body = Vec::new();
    for (name, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn upload_imports_and_reports_each_file() {
    let app = TestApp::spawn().await;
    let b = Browser::signed_in(&app).await;
    let good = app
        .sim
        .add_user(gcli2api::simulator::UserSpec::new("upload@sim.test"))
        .credential_json()
        .to_string();
    // A refresh token Google never issued: refused at import, with the reason.
    let dead = json!({
        "client_id": "c.apps.googleusercontent.com",
        "client_secret": "panel-upload-secret",
        "refresh_token": "panel-upload-refresh-token-0123456789",
        "project_id": "panel-project",
        "email": "dead@sim.test",
    })
    .to_string();
    let (ct, body) = multipart(&[
        ("fresh.json", good.as_bytes()),
        ("dead.json", dead.as_bytes()),
        ("broken.json", b"{not json"),
        ("notes.txt", b"hello"),
    ]);
    let r = b
        .http
        .post(format!("{}/panel/credentials/upload", app.url))
        .headers(b.headers(true))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let trigger = r.headers()["hx-trigger"].to_str().unwrap().to_string();
    assert!(trigger.contains("rows-changed"), "{trigger}");
    let html = r.text().await.unwrap();
    assert_eq!(html.matches("badge imported").count(), 1, "{html}");
    assert_eq!(html.matches("badge rejected").count(), 3, "{html}");
    assert!(html.contains("not valid JSON"));
    assert!(html.contains("sign in again"), "{html}");
    assert!(!html.contains("panel-upload-refresh-token"));
    let rows = app
        .state
        .store
        .call(|c| gcli2api::store::credentials::list(c))
        .await
        .unwrap();
    assert_eq!(rows.len(), 4);
    assert!(
        rows.iter()
            .any(|r| r.email.as_deref() == Some("upload@sim.test"))
    );

    // Nothing chosen: a clear error, not an empty success.
    let (ct, body) = multipart(&[]);
    let r = b
        .http
        .post(format!("{}/panel/credentials/upload", app.url))
        .headers(b.headers(true))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn settings_save_a_hot_key_and_show_locked_ones_disabled() {
    let app = support::builder()
        .env("RETRY_429_MAX_RETRIES", "3")
        .spawn()
        .await;
    let b = Browser::signed_in(&app).await;
    let (_, _, page) = b.get("/panel/settings", false).await;
    let locked = page
        .split("id=\"s-retry_429_max_retries\"")
        .nth(1)
        .and_then(|rest| rest.split('>').next())
        .unwrap();
    assert!(locked.contains("disabled"), "{locked}");
    assert!(page.contains("locked by environment variable RETRY_429_MAX_RETRIES"));
    let free = page
        .split("id=\"s-anti_truncation_max_attempts\"")
        .nth(1)
        .and_then(|rest| rest.split('>').next())
        .unwrap();
    assert!(!free.contains("disabled"), "{free}");

    let (s, h, form) = b
        .post("/panel/settings", &[("anti_truncation_max_attempts", "4")])
        .await;
    assert_eq!(s, StatusCode::OK, "{form}");
    assert!(h["hx-trigger"].to_str().unwrap().contains("Settings saved"));
    assert_eq!(app.state.settings.get().anti_truncation_max_attempts, 4);
    assert!(form.starts_with("<form id=\"settings-form\""));

    // Out of range: nothing saved, the message sits next to the field.
    let (s, _, form) = b
        .post("/panel/settings", &[("anti_truncation_max_attempts", "99")])
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(form.contains("id=\"err-anti_truncation_max_attempts\""));
    assert!(form.contains("value=\"99\""), "what was typed stays");
    assert_eq!(app.state.settings.get().anti_truncation_max_attempts, 4);

    // A locked key cannot be saved even when posted by hand.
    let (s, _, form) = b
        .post("/panel/settings", &[("retry_429_max_retries", "5")])
        .await;
    assert_eq!(s, StatusCode::OK, "a disabled field is ignored: {form}");
    assert_eq!(app.state.settings.get().retry_429_max_retries, 3);

    // Passwords are write-only: the form never carries a value.
    let (s, _, form) = b
        .post(
            "/panel/settings/password",
            &[
                ("kind", "api"),
                ("current", KEY),
                ("password", "short"),
                ("confirm", "short"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(form.contains("at least 8"));
    let (s, _, _) = b
        .post(
            "/panel/settings/password",
            &[
                ("kind", "api"),
                ("current", KEY),
                ("password", "abcdefgh1"),
                ("confirm", "abcdefgh2"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _, form) = b
        .post(
            "/panel/settings/password",
            &[
                ("kind", "api"),
                ("current", "not-the-current-one"),
                ("password", "new-api-key-123"),
                ("confirm", "new-api-key-123"),
            ],
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the current password is checked"
    );
    assert!(form.contains("current panel password is wrong"), "{form}");
    assert!(!app.state.passwords.verify_api("new-api-key-123").await);
    let (s, _, form) = b
        .post(
            "/panel/settings/password",
            &[
                ("kind", "api"),
                ("current", KEY),
                ("password", "new-api-key-123"),
                ("confirm", "new-api-key-123"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(!form.contains("new-api-key-123"));
    assert!(app.state.passwords.verify_api("new-api-key-123").await);
}

#[tokio::test]
async fn the_settings_page_warns_when_both_secrets_are_the_same() {
    // The default test app has one PASSWORD for both roles.
    let app = TestApp::spawn().await;
    let b = Browser::signed_in(&app).await;
    let (s, _, page) = b.get("/panel/settings", false).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("same-secret-warning"), "{page}");
    let apart = crate::support::builder()
        .env("API_PASSWORD", "an-api-key-different")
        .spawn()
        .await;
    let b = Browser::signed_in(&apart).await;
    let (_, _, page) = b.get("/panel/settings", false).await;
    assert!(!page.contains("same-secret-warning"));
}

#[tokio::test]
async fn the_settings_page_says_whether_credential_secrets_are_encrypted() {
    let plain = TestApp::spawn().await;
    let b = Browser::signed_in(&plain).await;
    let (_, _, page) = b.get("/panel/settings", false).await;
    let section = &page[page.find("id=\"at-rest\"").expect("the at-rest section")..];
    assert!(
        section.contains("plain text") && section.contains("SECRETS_KEY"),
        "{section}"
    );
    let sealed = crate::support::builder()
        .env(
            "SECRETS_KEY",
            "a9af8961ffb6658636b5efb393e964d23fcf9f73b8e6db299b19b9c0bf4f89f2",
        )
        .spawn()
        .await;
    let b = Browser::signed_in(&sealed).await;
    let (_, _, page) = b.get("/panel/settings", false).await;
    let section = &page[page.find("id=\"at-rest\"").expect("the at-rest section")..];
    assert!(
        section.contains("encrypted") && !section.contains("plain text"),
        "{section}"
    );
    // The key itself is never shown.
    assert!(!page.contains("a9af8961ffb6658636b5"));
}

#[tokio::test]
async fn changing_the_panel_password_signs_everyone_out() {
    let app = TestApp::spawn().await;
    let b = Browser::signed_in(&app).await;
    let (s, h, _) = b
        .post(
            "/panel/settings/password",
            &[
                ("kind", "panel"),
                ("current", KEY),
                ("password", "a-new-panel-pass"),
                ("confirm", "a-new-panel-pass"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["hx-redirect"], "/panel/login");
    let (s, _, _) = b.get("/panel", false).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "the old session is gone");
    let mut again = Browser::new(&app);
    assert_eq!(
        again.login("a-new-panel-pass").await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn no_secret_appears_in_any_page() {
    let app = TestApp::spawn().await;
    let (status, _) = app
        .chat(json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(status, 200);
    let b = Browser::signed_in(&app).await;
    let mut secrets = vec![
        KEY.to_string(),
        gcli2api::google::oauth::GEMINI_CLI_CLIENT_SECRET.to_string(),
    ];
    for u in &app.users {
        secrets.extend([
            u.refresh_token.clone(),
            u.access_token.clone(),
            u.client_secret.clone(),
        ]);
    }
    for id in &app.ids {
        if let Ok(t) = app.state.pool.access_token(*id).await {
            secrets.push(t);
        }
    }
    let mut bodies = Vec::new();
    for p in PAGES {
        bodies.push((p.to_string(), b.get(p, false).await.2));
        bodies.push((format!("{p} (partial)"), b.get(p, true).await.2));
    }
    bodies.push((
        "usage 30 days".into(),
        b.get("/panel/usage?days=30", false).await.2,
    ));
    let (_, _, started) = b.post("/panel/oauth/start", &[("project_id", "")]).await;
    bodies.push(("oauth start".into(), started));
    let (_, _, row) = b
        .post(&format!("/panel/credentials/{}/identify", app.ids[0]), &[])
        .await;
    bodies.push(("identify".into(), row));
    for (what, body) in &bodies {
        assert!(!body.is_empty(), "{what}");
        for s in &secrets {
            assert!(!body.contains(s.as_str()), "a secret is in {what}");
        }
    }
    let started = &bodies.iter().find(|(w, _)| w == "oauth start").unwrap().1;
    assert!(started.contains("id=\"oauth-link\""), "{started}");
}

#[tokio::test]
async fn stored_markup_is_escaped() {
    let app = TestApp::spawn().await;
    let b = Browser::signed_in(&app).await;
    let u = app
        .sim
        .add_user(gcli2api::simulator::UserSpec::new("x@sim.test"));
    let evil = "<script>alert(1)</script>.json";
    let id = app
        .state
        .pool
        .add(support::new_credential(evil, &u))
        .await
        .unwrap();
    app.state
        .pool
        .ban(
            id,
            BanKind::Ineligible,
            "<img src=x onerror=alert(2)> verify \"here\"",
            Some("javascript:alert(3)"),
        )
        .await;
    for (path, htmx) in [
        ("/panel/credentials", false),
        ("/panel/credentials?status=banned", true),
        ("/panel/usage", false),
    ] {
        let (_, _, body) = b.get(path, htmx).await;
        assert!(!body.contains("<script>alert"), "{path}");
        assert!(!body.contains("<img src=x"), "{path}");
        assert!(!body.contains("javascript:"), "{path}");
        assert!(
            body.contains("&lt;script&gt;alert(1)&lt;/script&gt;.json")
                || body.contains("&#60;script&#62;alert(1)&#60;/script&#62;.json"),
            "{path}"
        );
    }
    // Row fragments and confirm prompts are escaped too.
    let (_, _, row) = b
        .post(&format!("/panel/credentials/{id}/disable"), &[])
        .await;
    assert!(!row.contains("<script>alert"));
    assert!(!row.contains("<img src=x"));
}

#[tokio::test]
async fn the_live_log_streams_new_lines() {
    init_logs();
    let app = TestApp::spawn().await;
    let b = Browser::signed_in(&app).await;
    let (_, _, page) = b.get("/panel/logs", false).await;
    assert!(page.contains("sse-connect=\"/panel/logs/stream?level=info\""));
    let r = b
        .http
        .get(format!("{}/panel/logs/stream?level=info", app.url))
        .headers(b.headers(false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut stream = r.bytes_stream();
    // Something that logs at INFO: deleting a credential in the panel.
    let victim = app.ids[2];
    let (s, _, _) = b
        .post(&format!("/panel/credentials/{victim}/delete"), &[])
        .await;
    assert_eq!(s, StatusCode::OK);
    let mut seen = String::new();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = stream.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if seen.contains("credential deleted in the panel") {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(found, "no line in: {seen}");
    assert!(seen.contains("event: line"));
    assert!(seen.contains("<div class=\"line info\">"));

    // The level filter is applied on the server: an error-only stream replays no INFO line.
    let r = b
        .http
        .get(format!("{}/panel/logs/stream?level=error", app.url))
        .headers(b.headers(false))
        .send()
        .await
        .unwrap();
    let mut stream = r.bytes_stream();
    let mut early = String::new();
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        while let Some(Ok(chunk)) = stream.next().await {
            early.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(
        !early.contains("credential deleted in the panel"),
        "{early}"
    );
}

/// Keys pasted in the panel are checked, reported line by line, listed with their kind and
/// group, filterable by kind, and never shown.
#[tokio::test]
async fn pasted_keys_are_added_filtered_and_grouped() {
    use gcli2api::simulator::ApiKeySpec;
    let app = TestApp::spawn().await;
    let b = Browser::signed_in(&app).await;
    let good = app.sim.add_api_key(ApiKeySpec::gemini());
    let old = app.sim.add_api_key(ApiKeySpec::gemini().standard());
    let text = format!("{}@proj-x\n{}", good.key, old.key);
    let (s, _, body) = b
        .post(
            "/panel/credentials/keys",
            &[("kind", "gemini_api_key"), ("keys", &text), ("group", "")],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body.matches("badge imported").count(), 1, "{body}");
    assert!(body.contains("no longer accepts standard keys"), "{body}");
    let (_, _, page) = b.get("/panel/credentials?kind=gemini_api_key", false).await;
    assert_eq!(page.matches("<tr id=\"cred-").count(), 1, "{page}");
    assert!(page.contains("Gemini API key") && page.contains("value=\"proj-x\""));
    let (_, _, page) = b.get("/panel/credentials?kind=code_assist", false).await;
    assert_eq!(page.matches("<tr id=\"cred-").count(), 3);
    let id = app
        .state
        .store
        .call(|c| gcli2api::store::credentials::list(c))
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.kind == gcli2api::google::kind::CredentialKind::GeminiApiKey)
        .unwrap()
        .id;
    let (s, _, row) = b
        .post(
            &format!("/panel/credentials/{id}/quota-group"),
            &[("group", "proj-y")],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(row.contains("value=\"proj-y\""), "{row}");
    let (s, _, _) = b
        .post(
            "/panel/credentials/keys",
            &[("kind", "code_assist"), ("keys", &good.key)],
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    for p in ["/panel/credentials", "/panel/usage", "/panel"] {
        let (_, _, body) = b.get(p, false).await;
        assert!(!body.contains(&good.key), "the key is in {p}");
    }
}

#[tokio::test]
async fn the_audit_page_lists_panel_changes_and_sign_ins() {
    let app = TestApp::spawn().await;
    let mut wrong = Browser::new(&app);
    assert_eq!(
        wrong.login("not-it").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let b = Browser::signed_in(&app).await;
    let id = app.ids[0];
    let (s, _, _) = b
        .post(&format!("/panel/credentials/{id}/disable"), &[])
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, page) = b.get("/panel/audit", false).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("href=\"/panel/audit\""), "in the nav");
    assert!(page.contains("<td>credential.disable</td>"));
    assert!(page.contains("<td>signin.failed</td>"));
    assert!(page.contains("<td>signin</td>"));
    assert!(page.contains("panel-session:"));
    assert!(page.contains("<td>127.0.0.1</td>"));
    // Filtered by action, as an HTMX partial.
    let (s, _, part) = b.get("/panel/audit?action=signin.failed", true).await;
    assert_eq!(s, StatusCode::OK);
    assert!(part.contains("<td>signin.failed</td>"));
    assert!(!part.contains("<td>credential.disable</td>"));
    // The API sees the same events, with the panel session as the actor.
    let r: serde_json::Value = app
        .http
        .get(format!(
            "{}/api/v1/audit?action=credential.disable",
            app.url
        ))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actor = r["events"][0]["actor"].as_str().unwrap();
    assert!(actor.starts_with("panel-session:"), "{actor}");
}

#[tokio::test]
async fn changing_an_upstream_url_in_the_panel_needs_the_current_password() {
    let app = TestApp::spawn().await;
    let b = Browser::signed_in(&app).await;
    let (_, _, page) = b.get("/panel/settings", false).await;
    assert!(page.contains("name=\"current_password\""));
    let (s, _, form) = b
        .post(
            "/panel/settings",
            &[("metadata_service_url", "https://gl.example")],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(form.contains("needs the current panel password"), "{form}");
    assert_ne!(
        app.state.settings.get().metadata_service_url,
        "https://gl.example"
    );
    let (s, _, form) = b
        .post(
            "/panel/settings",
            &[
                ("metadata_service_url", "https://gl.example"),
                ("current_password", KEY),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{form}");
    assert_eq!(
        app.state.settings.get().metadata_service_url,
        "https://gl.example"
    );
    // http to a remote host is refused even with the password.
    let (s, _, _) = b
        .post(
            "/panel/settings",
            &[
                ("metadata_service_url", "http://gl.example"),
                ("current_password", KEY),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
}

/// A signed-in browser that also sends these headers (language, cookies).
async fn get_with(b: &Browser, path: &str, extra: &[(&str, &str)]) -> String {
    let mut h = b.headers(false);
    for (k, v) in extra {
        if *k == "cookie" {
            let both = format!("{}; {v}", b.cookie.clone().unwrap_or_default());
            h.insert("cookie", HeaderValue::from_str(&both).unwrap());
        } else {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap();
            h.insert(name, HeaderValue::from_str(v).unwrap());
        }
    }
    let r = b
        .http
        .get(format!("{}{path}", b.base))
        .headers(h)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.text().await.unwrap()
}

#[tokio::test]
async fn pages_follow_accept_language_then_the_remembered_switch() {
    let app = TestApp::spawn().await;
    let b = Browser::signed_in(&app).await;
    for p in PAGES {
        let zh = get_with(&b, p, &[("accept-language", "zh-CN,zh;q=0.9,en;q=0.8")]).await;
        assert!(zh.contains("<html lang=\"zh-CN\""), "{p}");
        assert!(
            zh.contains("概览") && zh.contains("退出登录"),
            "{p}: nav not in Chinese"
        );
        let en = get_with(&b, p, &[("accept-language", "en-US")]).await;
        assert!(
            en.contains("<html lang=\"en\"") && en.contains(">Overview<"),
            "{p}"
        );
        // The switch's cookie wins over the browser's language.
        let switched = get_with(
            &b,
            p,
            &[("accept-language", "zh-CN"), ("cookie", "gcli2api_lang=en")],
        )
        .await;
        assert!(switched.contains("<html lang=\"en\""), "{p}");
    }
    // The switch itself: a same-origin form post that sets the cookie and goes back.
    let r = b
        .http
        .post(format!("{}/panel/prefs", app.url))
        .header("origin", &app.url)
        .header("referer", format!("{}/panel/usage?days=7", app.url))
        .form(&[("lang", "zh-CN"), ("theme", "dark")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/panel/usage?days=7");
    let cookies: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("gcli2api_lang=zh-CN;")),
        "{cookies:?}"
    );
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("gcli2api_theme=dark;")),
        "{cookies:?}"
    );
    // A foreign Referer never becomes the redirect.
    let r = b
        .http
        .post(format!("{}/panel/prefs", app.url))
        .header("origin", &app.url)
        .header("referer", "https://evil.test/panel")
        .form(&[("lang", "en")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/panel");
}

#[tokio::test]
async fn times_show_the_display_zone_and_errors_speak_the_readers_language() {
    let app = TestApp::spawn().await;
    let b = Browser::signed_in(&app).await;
    let page = get_with(
        &b,
        "/panel/audit",
        &[("cookie", "gcli2api_tz=Asia%2FShanghai")],
    )
    .await;
    assert!(page.contains(">Asia/Shanghai<"), "zone named");
    assert!(page.contains(" CST</time>"), "times carry the zone");
    let r = b
        .http
        .get(format!("{}/panel/credentials/999999/export", app.url))
        .headers(b.headers(false))
        .header("accept-language", "zh-CN")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = b
        .http
        .post(format!("{}/panel/credentials/999999/enable", app.url))
        .headers(b.headers(true))
        .header("accept-language", "zh-CN")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("找不到凭据 999999"));
}

#[tokio::test]
async fn favicon_is_served() {
    let app = TestApp::spawn().await;
    let r = reqwest::get(format!("{}/favicon.ico", app.url))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/x-icon");
    let b = r.bytes().await.unwrap();
    assert_eq!(&b[..4], &[0, 0, 1, 0], "ICO header");
}

#[tokio::test]
async fn every_invalid_setting_is_reported_at_once_and_nothing_is_saved() {
    let app = TestApp::spawn().await;
    let b = Browser::signed_in(&app).await;
    let (s, _, form) = b
        .post(
            "/panel/settings",
            &[
                ("quota_reset_hour", "25"),
                ("panel_timezone", "Mars/Base"),
                ("cooldown_cap", "-5"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    for k in ["quota_reset_hour", "panel_timezone", "cooldown_cap"] {
        assert!(
            form.contains(&format!("id=\"err-{k}\"")),
            "{k} error missing"
        );
    }
    assert!(form.contains("value=\"Mars/Base\""), "typed value kept");
    // The same mistakes in Chinese: the validator's messages are translated too.
    let r = b
        .http
        .post(format!("{}/panel/settings", app.url))
        .headers(b.headers(true))
        .header("accept-language", "zh-CN")
        .form(&[("quota_reset_hour", "25")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("值无效：必须在 0 到 23 之间")
    );
    let (_, _, page) = b.get("/panel/settings", false).await;
    assert!(!page.contains("value=\"Mars/Base\""), "nothing saved");
    // A valid value saves, shows "Reset to default", and the reset forgets it.
    let (s, _, form) = b
        .post("/panel/settings", &[("quota_reset_hour", "9")])
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        form.contains("name=\"reset\" value=\"quota_reset_hour\""),
        "no reset button"
    );
    let (s, h, form) = b
        .post("/panel/settings", &[("reset", "quota_reset_hour")])
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        h["hx-trigger"]
            .to_str()
            .unwrap()
            .contains("back to its default")
    );
    assert!(!form.contains("name=\"reset\" value=\"quota_reset_hour\""));
    assert!(form.contains("id=\"s-quota_reset_hour\" name=\"quota_reset_hour\" type=\"number\" step=\"1\" value=\"7\""), "default back");
}

#[tokio::test]
async fn wrong_current_passwords_in_panel_forms_count_in_the_one_limiter() {
    let app = TestApp::spawn().await;
    let b = Browser::signed_in(&app).await;
    let wrong_password_form = [
        ("kind", "api"),
        ("current", "a-wrong-guess"),
        ("password", "abcdefgh1"),
        ("confirm", "abcdefgh1"),
    ];
    let wrong_settings_form = [
        ("metadata_service_url", "https://gl.example"),
        ("current_password", "another-wrong-guess"),
    ];
    for i in 0..9 {
        let (s, h, _) = if i % 2 == 0 {
            b.post("/panel/settings/password", &wrong_password_form)
                .await
        } else {
            b.post("/panel/settings", &wrong_settings_form).await
        };
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "attempt {i}");
        assert!(!h.contains_key("retry-after"));
    }
    let (s, h, form) = b.post("/panel/settings", &wrong_settings_form).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{form}");
    assert!(h.contains_key("retry-after"));
    assert!(form.contains("Too many failed attempts"), "{form}");
    let (s, h, _) = b
        .post("/panel/settings/password", &wrong_password_form)
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(h.contains_key("retry-after"));
    // The same limiter as the proxy's: this address's key guesses are refused too.
    let r = app
        .http
        .get(format!("{}/v1/models", app.url))
        .bearer_auth("a-key-guess")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_ne!(
        app.state.settings.get().metadata_service_url,
        "https://gl.example"
    );
    // The right password still gets through and clears the count.
    let (s, _, form) = b
        .post(
            "/panel/settings",
            &[
                ("metadata_service_url", "https://gl.example"),
                ("current_password", KEY),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{form}");
    let (s, _, _) = b
        .post("/panel/settings/password", &wrong_password_form)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
}
