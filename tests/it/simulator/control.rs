use gcli2api::simulator::{Fault, FaultRule, RecordedBody, UserSpec};
use serde_json::{Value, json};

use super::{client, env, envelope, start};

#[tokio::test]
async fn request_log_records_everything_and_reset_keeps_users() {
    let e = env().await;
    let body = envelope(&e.user, "gemini-2.5-flash", "logged");
    let resp = e
        .http
        .post(e.url("/v1internal:generateContent"))
        .bearer_auth(&e.user.access_token)
        .header(
            "user-agent",
            "GeminiCLI/0.35.2/gemini-2.5-flash (win32; x64; cloud-shell)",
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let log = e.sim.requests();
    assert_eq!(log.len(), 1);
    let r = &log[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1internal:generateContent")
    );
    assert_eq!(
        r.header("User-Agent"),
        Some("GeminiCLI/0.35.2/gemini-2.5-flash (win32; x64; cloud-shell)")
    );
    assert_eq!(r.json(), Some(&body));
    assert_eq!(r.email.as_deref(), Some("alice@example.com"));

    let form = "grant_type=refresh_token&client_id=x&client_secret=y&refresh_token=z";
    e.http
        .post(e.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    let log = e.sim.requests();
    let f = log[1].form().unwrap();
    assert_eq!(f["grant_type"], "refresh_token");

    e.sim.push_fault(FaultRule::once(Fault::Internal));
    e.sim.reset();
    assert!(e.sim.requests().is_empty());
    assert_eq!(e.generate(&body).await.0, 200, "fault cleared, user kept");
    e.sim.reset_all();
    assert_eq!(e.generate(&body).await.0, 401, "users and tokens gone");
}

#[tokio::test]
async fn http_control_api_mirrors_the_rust_api() {
    let sim = start().await;
    let http = client();
    let url = |p: &str| format!("{}/__sim/{p}", sim.base_url());
    let seeded: Value = http
        .post(url("users"))
        .json(&UserSpec::new("ctl@example.com"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seeded["email"], "ctl@example.com");
    let cred = &seeded["credential_json"];
    for key in [
        "client_id",
        "client_secret",
        "token",
        "refresh_token",
        "scopes",
        "token_uri",
        "project_id",
        "expiry",
    ] {
        assert!(cred.get(key).is_some(), "{key}");
    }
    assert_eq!(cred["token_uri"], format!("{}/token", sim.base_url()));
    let users: Value = http
        .get(url("users"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users[0]["refresh_token"], seeded["refresh_token"]);

    let rule = json!({"when": {"endpoint": "generate_content"}, "times": 1, "fault": {"kind": "unavailable"}});
    assert_eq!(
        http.post(url("faults"))
            .json(&rule)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        204
    );
    let pacing = json!({"chunk_chars": 5, "line_ending": "lf"});
    assert_eq!(
        http.post(url("pacing"))
            .json(&pacing)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        204
    );
    let bad = http
        .post(url("pacing"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);

    let body = json!({"model": "gemini-2.5-flash", "project": seeded["project_id"], "request": {"contents": [{"role": "user", "parts": [{"text": "via http"}]}]}});
    let token = seeded["access_token"].as_str().unwrap();
    let call_gen = |path: &'static str| {
        http.post(format!("{}{path}", sim.base_url()))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    assert_eq!(
        call_gen("/v1internal:generateContent")
            .await
            .unwrap()
            .status()
            .as_u16(),
        503
    );
    let sse = call_gen("/v1internal:streamGenerateContent?alt=sse")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(sse.starts_with("data: ") && !sse.contains('\r'));
    assert_eq!(
        sse.matches("\n\n").count(),
        3,
        "\"Echo: via http\" in chunks of 5"
    );

    let log: Vec<gcli2api::simulator::RecordedRequest> = http
        .get(url("requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log.len(), 2);
    assert!(matches!(log[0].body, RecordedBody::Json(_)));
    http.delete(url("requests")).send().await.unwrap();
    assert_eq!(sim.requests().len(), 0);

    http.post(url("tokens/revoke"))
        .json(&json!({"email": "ctl@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        call_gen("/v1internal:generateContent")
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    http.post(url("reset?all=true")).send().await.unwrap();
    assert!(sim.users().is_empty());
    sim.shutdown();
}
