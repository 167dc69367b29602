//! One word per state, the same in the overview counts, the list and each credential: a
//! cooling credential is not "active", and a revoked refresh token asks for a new sign-in
//! instead of showing "banned" with an Unban that cannot help.
use gcli2api::simulator::{Endpoint, Fault, FaultMatch, FaultRule};
use reqwest::Method;
use serde_json::json;

use super::{credential, system_pool};
use crate::api::{api, send};
use crate::support::{self, user_text};

fn ask() -> serde_json::Value {
    json!({"model": "gemini-2.5-pro", "messages": [user_text("hi")]})
}

#[tokio::test]
async fn the_summary_counts_each_credential_once_and_cooling_apart_from_active() {
    support::init_logs();
    let app = support::builder().users(3).spawn().await;
    let pool = system_pool(&app).await;
    assert_eq!(
        (pool["total"].as_u64(), pool["active"].as_u64()),
        (Some(3), Some(3))
    );
    let a = app.users[0].clone();
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::GenerateContent).email(&a.email),
        1,
        Fault::RateLimitExceeded {
            retry_delay_ms: 60_000,
        },
    ));
    // Rotation starts with the first credential: it cools, the request moves on.
    let (status, body) = app.chat(ask()).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = send(api(
        &app,
        Method::POST,
        &format!("/credentials/{}/disable", app.ids[2]),
    ))
    .await;
    assert_eq!(status, 200);
    let pool = system_pool(&app).await;
    assert_eq!(pool["cooling"], 1, "{pool}");
    assert_eq!(pool["disabled"], 1, "{pool}");
    assert_eq!(pool["active"], 1, "cooling is not active: {pool}");
    let sum: u64 = ["active", "cooling", "disabled", "banned", "needs_sign_in"]
        .iter()
        .map(|k| pool[*k].as_u64().unwrap())
        .sum();
    assert_eq!(sum, 3, "{pool}");
    assert_eq!(credential(&app, app.ids[0]).await["status"], "cooling");
}

#[tokio::test]
async fn a_revoked_refresh_token_needs_a_sign_in_and_signing_in_again_lifts_it() {
    support::init_logs();
    let app = support::builder().users(1).spawn().await;
    let u = app.users[0].clone();
    let id = app.ids[0];
    app.sim.revoke_refresh_token(&u.email);
    app.sim.expire_access_tokens(&u.email);
    let (status, _) = app.chat(ask()).await;
    assert_ne!(status, 200);
    let c = credential(&app, id).await;
    assert_eq!(c["status"], "needs_sign_in", "{c}");
    assert_eq!(c["ban"]["kind"], "refresh_revoked", "{c}");
    let pool = system_pool(&app).await;
    assert_eq!(
        (pool["needs_sign_in"].as_u64(), pool["banned"].as_u64()),
        (Some(1), Some(0)),
        "{pool}"
    );

    // Signing in again through the OAuth flow takes the same row back into rotation.
    let (status, started) = send(api(&app, Method::POST, "/oauth/start").json(&json!({}))).await;
    assert_eq!(status, 200, "{started}");
    app.sim.set_default_login(&u.email);
    let auth = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(started["auth_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let callback = auth.headers()["location"].to_str().unwrap().to_string();
    let (status, done) =
        send(api(&app, Method::POST, "/oauth/complete").json(&json!({"callback_url": callback})))
            .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["id"], id, "{done}");
    let c = credential(&app, id).await;
    assert_eq!(c["status"], "active", "{c}");
    let (status, body) = app.chat(ask()).await;
    assert_eq!(status, 200, "{body}");
}
