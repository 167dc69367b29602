//! Usage, quotas and limits; recent and live logs.
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::Method;
use serde_json::json;

use crate::support::user_text;
use crate::{api, code, get, send, spawn};

#[tokio::test]
async fn quota_remaining_and_next_reset_are_visible_and_limits_apply() {
    let app = spawn().await;
    let id = app.ids[0];
    let (status, body) = send(
        api(&app, Method::PUT, &format!("/credentials/{id}/limits"))
            .json(&json!({"total": 5, "pro": null})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["today"]["total"]["limit"], 5);
    assert_eq!(body["today"]["total"]["overridden"], true);

    for _ in 0..3 {
        let (status, _) = app
            .chat(json!({"model": "gemini-2.5-flash", "messages": [user_text("hi")]}))
            .await;
        assert_eq!(status, 200);
    }
    app.state.usage.flush().await.unwrap();
    let (status, u) = get(&app, &format!("/credentials/{id}/usage")).await;
    assert_eq!(status, 200, "{u}");
    let used = u["today"]["total"]["used"].as_u64().unwrap();
    assert_eq!(u["calls"].as_u64().unwrap(), used);
    assert_eq!(u["today"]["total"]["remaining"].as_u64().unwrap(), 5 - used);
    let next =
        chrono::DateTime::parse_from_rfc3339(u["today"]["next_reset"].as_str().unwrap()).unwrap();
    assert!(next > chrono::Utc::now());
    // The same quota shows in the credential list.
    let (_, list) = get(&app, "/credentials").await;
    let c = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap();
    assert_eq!(
        c["quota"]["total"]["remaining"],
        u["today"]["total"]["remaining"]
    );

    let (status, all) = get(&app, "/usage").await;
    assert_eq!(status, 200);
    let total: u64 = all
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["calls"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 3);
    let (status, agg) = get(&app, "/usage/aggregated?days=2").await;
    assert_eq!(status, 200, "{agg}");
    assert_eq!(agg["days"], 2);
    assert_eq!(agg["overall"]["requests"], 3);

    let (status, _) = send(api(
        &app,
        Method::POST,
        &format!("/usage/reset?credential_id={id}"),
    ))
    .await;
    assert_eq!(status, 204);
    let (_, u) = get(&app, &format!("/credentials/{id}/usage")).await;
    assert_eq!(u["today"]["total"]["used"], 0);
    assert_eq!(u["today"]["total"]["remaining"], 5);
    let (status, body) = send(api(&app, Method::POST, "/usage/reset?credential_id=987654")).await;
    assert_eq!((status, code(&body)), (404, "not_found"));
    let (status, body) =
        send(api(&app, Method::PUT, "/credentials/987654/limits").json(&json!({"total": 1}))).await;
    assert_eq!((status, code(&body)), (404, "not_found"));
    let (status, _) = send(api(&app, Method::POST, "/usage/reset")).await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn recent_logs_and_the_live_stream() {
    let app = spawn().await;
    let id = app.ids[2];
    let r = api(&app, Method::GET, "/logs/stream?n=0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut stream = r.bytes_stream();

    // Something that logs: deleting a credential.
    let (status, _) = send(api(&app, Method::DELETE, &format!("/credentials/{id}"))).await;
    assert_eq!(status, 204);

    let mut seen = String::new();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = stream.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if seen.contains("credential deleted through the API")
                && seen.contains(&format!("credential={id}"))
            {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "stream so far: {seen}");
    assert!(seen.contains("event: log"), "{seen}");

    let (status, lines) = get(&app, "/logs?n=2000").await;
    assert_eq!(status, 200);
    let lines = lines.as_array().unwrap();
    assert!(lines.iter().any(|l| {
        l["message"]
            .as_str()
            .unwrap()
            .contains("credential deleted through the API")
    }));
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "oldest first");
}
