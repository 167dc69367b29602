//! Google sign-in end to end through the simulator's consent endpoint, both ways back.
use gcli2api::simulator::UserSpec;
use reqwest::Method;
use serde_json::{Value, json};

use super::{api, code, get, send, spawn};
use crate::support::TestApp;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Starts a sign-in and lets the simulated consent page answer; returns where it redirects.
async fn consent(app: &TestApp, redirect_uri: Option<&str>) -> (Value, String) {
    let body = match redirect_uri {
        Some(r) => json!({"redirect_uri": r}),
        None => json!({}),
    };
    let (status, started) = send(api(app, Method::POST, "/oauth/start").json(&body)).await;
    assert_eq!(status, 200, "{started}");
    let auth_url = started["auth_url"].as_str().unwrap();
    assert!(auth_url.starts_with(&app.sim.base_url()), "{auth_url}");
    assert!(auth_url.contains(&format!("state={}", started["state"].as_str().unwrap())));
    let r = no_redirects().get(auth_url).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    (started, location)
}

fn credential_of<'a>(list: &'a Value, email: &str) -> Option<&'a Value> {
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["email"] == email)
}

#[tokio::test]
async fn local_callback_stores_the_credential() {
    let app = spawn().await;
    let user = app.sim.add_user(UserSpec::new("signin-local@sim.test"));
    app.sim.set_default_login(&user.email);
    let redirect = format!("{}/oauth2callback", app.url);
    let (started, location) = consent(&app, Some(&redirect)).await;
    assert_eq!(started["redirect_uri"], redirect);
    assert!(location.starts_with(&redirect), "{location}");

    let page = no_redirects().get(&location).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Signed in"), "{html}");

    let (_, list) = get(&app, "/credentials").await;
    let c = credential_of(&list, &user.email).expect("credential stored");
    assert_eq!(c["project_id"], user.project_id);
    assert_eq!(c["source"], "oauth");
    // The one-time state cannot be used twice.
    let (status, body) =
        send(api(&app, Method::POST, "/oauth/complete").json(&json!({"callback_url": location})))
            .await;
    assert_eq!((status, code(&body)), (400, "bad_request"), "{body}");
}

#[tokio::test]
async fn pasted_address_completes_the_sign_in() {
    let app = spawn().await;
    let user = app.sim.add_user(UserSpec::new("signin-pasted@sim.test"));
    app.sim.set_default_login(&user.email);
    // Default redirect: localhost on the configured port, which nothing here listens on; the
    // user copies the address from the browser instead.
    let (started, location) = consent(&app, None).await;
    let redirect = started["redirect_uri"].as_str().unwrap();
    assert!(redirect.starts_with("http://localhost:") && redirect.ends_with("/oauth2callback"));
    assert!(location.starts_with(redirect), "{location}");

    let (status, body) =
        send(api(&app, Method::POST, "/oauth/complete").json(&json!({"callback_url": location})))
            .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["email"], user.email);
    assert_eq!(body["project_id"], user.project_id);
    assert_eq!(body["replaced"], false);
    let id = body["id"].as_i64().unwrap();
    let (status, c) = get(&app, &format!("/credentials/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(c["email"], user.email);

    // Garbage and bad redirect addresses are explained, not stored.
    let (status, body) =
        send(api(&app, Method::POST, "/oauth/complete").json(&json!({"callback_url": "hello"})))
            .await;
    assert_eq!((status, code(&body)), (400, "bad_request"));
    assert!(
        body["error"]["message"].as_str().unwrap().contains("paste"),
        "{body}"
    );
    let (status, body) = send(
        api(&app, Method::POST, "/oauth/start").json(&json!({"redirect_uri": "javascript:x"})),
    )
    .await;
    assert_eq!((status, code(&body)), (422, "invalid"));
}

#[tokio::test]
async fn consent_refused_is_reported_with_googles_words() {
    use gcli2api::simulator::{Endpoint, Fault, FaultMatch, FaultRule};
    let app = spawn().await;
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::Authorize),
        1,
        Fault::AccessDenied,
    ));
    let (_, location) = consent(&app, None).await;
    let (status, body) =
        send(api(&app, Method::POST, "/oauth/complete").json(&json!({"callback_url": location})))
            .await;
    assert_eq!((status, code(&body)), (400, "bad_request"), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("access_denied"),
        "{body}"
    );
}
