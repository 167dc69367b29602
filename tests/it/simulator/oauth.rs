use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gcli2api::simulator::{
    Endpoint, Fault, FaultMatch, FaultRule, GEMINI_CLI_CLIENT_ID, GEMINI_CLI_CLIENT_SECRET,
    UserSpec,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{env, env_with, envelope, post_form};

const REDIRECT: &str = "http://127.0.0.1:8765/oauth2callback";

fn query_of(location: &str) -> Vec<(String, String)> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

async fn authorize(e: &super::Env, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut params = vec![
        ("client_id", GEMINI_CLI_CLIENT_ID),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "https://www.googleapis.com/auth/cloud-platform"),
        ("access_type", "offline"),
        ("prompt", "consent"),
        ("state", "st-123"),
    ];
    params.extend_from_slice(extra);
    let url = format!(
        "{}?{}",
        e.url("/o/oauth2/v2/auth"),
        super::form_body(&params)
    );
    e.http.get(url).send().await.unwrap()
}

#[tokio::test]
async fn authorization_code_flow_checks_pkce() {
    let e = env().await;
    let verifier = "a-very-long-code-verifier-string-0123456789-abcdefghijklmnop";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let resp = authorize(
        &e,
        &[
            ("login_hint", "alice@example.com"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(REDIRECT), "{location}");
    let q = query_of(&location);
    assert_eq!(get(&q, "state"), Some("st-123"));
    assert!(get(&q, "scope").unwrap().contains("openid"));
    let code = get(&q, "code").unwrap().to_string();

    let token_url = e.url("/token");
    let base = [
        ("grant_type", "authorization_code"),
        ("client_id", GEMINI_CLI_CLIENT_ID),
        ("client_secret", GEMINI_CLI_CLIENT_SECRET),
        ("redirect_uri", REDIRECT),
        ("code", code.as_str()),
    ];
    let no_verifier = post_form(&e.http, token_url.clone(), &base).await;
    assert_eq!(no_verifier.status().as_u16(), 400);
    let mut wrong = base.to_vec();
    wrong.push(("code_verifier", "not-the-verifier"));
    let resp = post_form(&e.http, token_url.clone(), &wrong).await;
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");

    let mut right = base.to_vec();
    right.push(("code_verifier", verifier));
    let resp = post_form(&e.http, token_url.clone(), &right).await;
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["refresh_token"], e.user.refresh_token.as_str());
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["id_token"].as_str().unwrap().split('.').count(), 3);
    let access = body["access_token"].as_str().unwrap();

    let info: Value = e
        .http
        .get(e.url("/oauth2/v2/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["email"], "alice@example.com");
    assert_eq!(info["verified_email"], true);

    let reuse = post_form(&e.http, token_url, &right).await;
    assert_eq!(reuse.status().as_u16(), 400, "codes are single-use");

    let auth_req = e
        .sim
        .requests()
        .into_iter()
        .find(|r| r.path == "/o/oauth2/v2/auth")
        .unwrap();
    assert_eq!(
        auth_req.query_param("access_type").as_deref(),
        Some("offline")
    );
    assert_eq!(auth_req.query_param("prompt").as_deref(), Some("consent"));
    assert_eq!(
        auth_req.query_param("code_challenge_method").as_deref(),
        Some("S256")
    );
}

#[tokio::test]
async fn authorization_can_be_denied_and_redirect_uri_must_match() {
    let e = env().await;
    e.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::Authorize),
        1,
        Fault::AccessDenied,
    ));
    let resp = authorize(&e, &[]).await;
    let q = query_of(resp.headers()["location"].to_str().unwrap());
    assert_eq!(get(&q, "error"), Some("access_denied"));
    assert_eq!(get(&q, "code"), None);

    // Legacy path, no PKCE; the code is bound to the redirect URI.
    let url = e.url("/o/oauth2/auth")
        + "?response_type=code&client_id="
        + GEMINI_CLI_CLIENT_ID
        + "&redirect_uri=http%3A%2F%2Flocalhost%3A11451&state=s";
    let resp = e.http.get(url).send().await.unwrap();
    let q = query_of(resp.headers()["location"].to_str().unwrap());
    let code = get(&q, "code").unwrap().to_string();
    let pairs = [
        ("grant_type", "authorization_code"),
        ("client_id", GEMINI_CLI_CLIENT_ID),
        ("client_secret", GEMINI_CLI_CLIENT_SECRET),
        ("redirect_uri", "http://localhost:9999"),
        ("code", code.as_str()),
    ];
    let resp = post_form(&e.http, e.url("/token"), &pairs).await;
    assert_eq!(resp.status().as_u16(), 400);
    let mut ok = pairs.to_vec();
    ok[3] = ("redirect_uri", "http://localhost:11451");
    assert_eq!(
        post_form(&e.http, e.url("/token"), &ok)
            .await
            .status()
            .as_u16(),
        200
    );
}

async fn refresh(e: &super::Env, rt: &str, secret: &str) -> (u16, Value) {
    let pairs = [
        ("grant_type", "refresh_token"),
        ("client_id", GEMINI_CLI_CLIENT_ID),
        ("client_secret", secret),
        ("refresh_token", rt),
    ];
    let resp = post_form(&e.http, e.url("/token"), &pairs).await;
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn refresh_checks_client_and_token_and_can_rotate() {
    let e = env_with(UserSpec::new("rot@example.com").rotate_refresh_token(true)).await;
    let (status, body) = refresh(&e, &e.user.refresh_token, "wrong-secret").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, body) = refresh(&e, "1//unknown", GEMINI_CLI_CLIENT_SECRET).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        body["error_description"],
        "Token has been expired or revoked."
    );

    let (status, body) = refresh(&e, &e.user.refresh_token, GEMINI_CLI_CLIENT_SECRET).await;
    assert_eq!(status, 200);
    let rotated = body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rotated, e.user.refresh_token);
    let (status, _) = refresh(&e, &e.user.refresh_token, GEMINI_CLI_CLIENT_SECRET).await;
    assert_eq!(status, 400, "the rotated-out refresh token is dead");
    assert_eq!(refresh(&e, &rotated, GEMINI_CLI_CLIENT_SECRET).await.0, 200);

    let plain = e.sim.add_user(UserSpec::new("plain@example.com"));
    let (status, body) = refresh(&e, &plain.refresh_token, GEMINI_CLI_CLIENT_SECRET).await;
    assert_eq!(status, 200);
    assert!(
        body.get("refresh_token").is_none(),
        "no rotation by default"
    );

    e.sim.revoke_refresh_token("plain@example.com");
    assert_eq!(
        refresh(&e, &plain.refresh_token, GEMINI_CLI_CLIENT_SECRET)
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn expired_and_revoked_tokens_get_401_until_refreshed() {
    let e = env().await;
    let body = envelope(&e.user, "gemini-2.5-flash", "hi there");
    assert_eq!(e.generate(&body).await.0, 200);

    for expire in [true, false] {
        let token = e.sim.user(&e.user.email).unwrap().access_token;
        assert!(!token.is_empty());
        if expire {
            e.sim.expire_access_tokens(&e.user.email);
        } else {
            e.sim.revoke_access_tokens(&e.user.email);
        }
        let resp = e
            .post_json("/v1internal:generateContent", &token, &body)
            .await;
        assert_eq!(resp.status().as_u16(), 401);
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["status"], "UNAUTHENTICATED");
        assert_eq!(
            err["error"]["details"][0]["@type"],
            "type.googleapis.com/google.rpc.ErrorInfo"
        );
        let info = e
            .http
            .get(e.url(&format!("/tokeninfo?access_token={token}")))
            .send()
            .await
            .unwrap();
        assert_eq!(info.status().as_u16(), 400);

        let (status, fresh) = refresh(&e, &e.user.refresh_token, GEMINI_CLI_CLIENT_SECRET).await;
        assert_eq!(status, 200);
        let new_token = fresh["access_token"].as_str().unwrap();
        let resp = e
            .post_json("/v1internal:generateContent", new_token, &body)
            .await;
        assert_eq!(resp.status().as_u16(), 200);
        let info: Value = e
            .http
            .get(e.url(&format!("/tokeninfo?access_token={new_token}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(info["email"], "alice@example.com");
    }
    let resp = e
        .post_json("/v1internal:generateContent", "garbage", &body)
        .await;
    assert_eq!(resp.status().as_u16(), 401);
}

#[tokio::test]
async fn token_endpoint_faults() {
    let e = env().await;
    let cases = [
        (Fault::InvalidGrant, 400, "invalid_grant"),
        (Fault::InvalidClient, 401, "invalid_client"),
        (Fault::TokenServerError, 500, "internal_failure"),
    ];
    for (fault, status, error) in cases {
        let rule = FaultRule::new(
            FaultMatch::endpoint(Endpoint::Token).email("alice@example.com"),
            1,
            fault,
        );
        e.sim.push_fault(rule);
        let (got, body) = refresh(&e, &e.user.refresh_token, GEMINI_CLI_CLIENT_SECRET).await;
        assert_eq!((got, body["error"].as_str()), (status, Some(error)));
    }
    e.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::Token),
        1,
        Fault::ConnectionDrop,
    ));
    let pairs = [
        ("grant_type", "refresh_token"),
        ("client_id", GEMINI_CLI_CLIENT_ID),
        ("client_secret", GEMINI_CLI_CLIENT_SECRET),
        ("refresh_token", e.user.refresh_token.as_str()),
    ];
    let dropped = e
        .http
        .post(e.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(super::form_body(&pairs))
        .send()
        .await;
    let failed = match dropped {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(
        failed,
        "a dropped connection must surface as a transport error"
    );
    assert_eq!(
        refresh(&e, &e.user.refresh_token, GEMINI_CLI_CLIENT_SECRET)
            .await
            .0,
        200
    );
}
