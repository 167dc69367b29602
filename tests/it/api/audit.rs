//! The audit log over real sockets: who (session or password), when, from where and what, for
//! credential changes, settings, sign-ins and failed sign-ins; read with filters and paging.
use reqwest::Method;
use serde_json::{Value, json};

use super::{api, api_as, send, spawn};
use crate::support::KEY;

async fn events(app: &crate::support::TestApp, query: &str) -> (Vec<Value>, Value) {
    let (s, b) = send(api(app, Method::GET, &format!("/audit{query}"))).await;
    assert_eq!(s, 200, "{b}");
    (
        b["events"].as_array().unwrap().clone(),
        b["next_before_id"].clone(),
    )
}

fn actions(evs: &[Value]) -> Vec<&str> {
    evs.iter().map(|e| e["action"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn management_changes_and_sign_ins_are_recorded_with_actor_and_origin() {
    let app = spawn().await;
    // A failed and a successful sign-in.
    let (s, _) = send(
        app.http
            .post(format!("{}/api/v1/session", app.url))
            .json(&json!({"password": "wrong"})),
    )
    .await;
    assert_eq!(s, 401);
    let (s, b) = send(
        app.http
            .post(format!("{}/api/v1/session", app.url))
            .json(&json!({"password": KEY})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let token = b["token"].as_str().unwrap().to_string();
    let id = app.ids[0];
    for action in ["disable", "enable"] {
        let (s, b) = send(api_as(
            &app,
            Method::POST,
            &format!("/credentials/{id}/{action}"),
            &token,
        ))
        .await;
        assert_eq!(s, 200, "{b}");
    }
    let r = api_as(
        &app,
        Method::GET,
        &format!("/credentials/{id}/export"),
        &token,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let (s, b) =
        send(api(&app, Method::PATCH, "/settings").json(&json!({"retry_429_max_retries": 2})))
            .await;
    assert_eq!(s, 200, "{b}");
    let (s, _) = send(api(
        &app,
        Method::DELETE,
        &format!("/credentials/{}", app.ids[1]),
    ))
    .await;
    assert!(s == 200 || s == 204, "{s}");

    let (all, _) = events(&app, "").await;
    let acts = actions(&all);
    for want in [
        "signin.failed",
        "signin",
        "credential.disable",
        "credential.enable",
        "credential.export",
        "settings.update",
        "credential.delete",
    ] {
        assert!(acts.contains(&want), "{want} missing from {acts:?}");
    }
    // Newest first, every event from this client's address.
    assert_eq!(acts[0], "credential.delete");
    let by_action = |a: &str| all.iter().find(|e| e["action"] == a).unwrap().clone();
    for e in all.iter().filter(|e| e["actor"] != "system") {
        assert_eq!(e["origin"], "127.0.0.1", "{e}");
    }
    let session_actor = by_action("credential.disable")["actor"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(session_actor.starts_with("api-session:"), "{session_actor}");
    assert_eq!(by_action("signin")["actor"], session_actor.as_str());
    assert_eq!(by_action("signin.failed")["actor"], "anonymous");
    assert_eq!(by_action("settings.update")["actor"], "api-password");
    assert_eq!(
        by_action("settings.update")["detail"]["keys"],
        json!(["retry_429_max_retries"])
    );
    assert_eq!(by_action("credential.disable")["subject"], id.to_string());
    // Seeded credentials were added by the system before serving.
    assert!(
        all.iter()
            .any(|e| e["action"] == "credential.add" && e["actor"] == "system")
    );
    // No secret in any event.
    let text = serde_json::to_string(&all).unwrap();
    assert!(!text.contains(KEY) && !text.contains(&token));
    for u in &app.users {
        assert!(!text.contains(&u.refresh_token));
    }

    // Filters: an action family, an exact action, an actor, a time range.
    let (creds, _) = events(&app, "?action=credential.").await;
    assert!(!creds.is_empty());
    assert!(
        creds
            .iter()
            .all(|e| e["action"].as_str().unwrap().starts_with("credential."))
    );
    let (one, _) = events(&app, "?action=credential.disable").await;
    assert_eq!(actions(&one), ["credential.disable"]);
    let (mine, _) = events(&app, &format!("?actor={session_actor}")).await;
    assert_eq!(
        actions(&mine),
        [
            "credential.export",
            "credential.enable",
            "credential.disable",
            "signin"
        ]
    );
    let (future, _) = events(&app, "?from=2999-01-01T00:00:00Z").await;
    assert!(future.is_empty());
    let (past, _) = events(&app, "?to=2000-01-01T00:00:00Z").await;
    assert!(past.is_empty());

    // Paging: two at a time, no gaps or repeats, same order as the whole list.
    let mut paged = Vec::new();
    let mut query = "?limit=2".to_string();
    loop {
        let (page, next) = events(&app, &query).await;
        assert!(page.len() <= 2);
        paged.extend(page.iter().map(|e| e["id"].as_i64().unwrap()));
        match next.as_i64() {
            Some(n) => query = format!("?limit=2&before_id={n}"),
            None => break,
        }
    }
    let whole: Vec<i64> = all.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(paged, whole);

    // Bad filters are typed errors; no password, no log.
    let (s, _) = send(api(&app, Method::GET, "/audit?limit=0")).await;
    assert_eq!(s, 400);
    let (s, _) = send(api_as(&app, Method::GET, "/audit", "nope")).await;
    assert_eq!(s, 401);
}
