//! Usage, quotas and limits; recent and live logs.
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::Method;
use serde_json::json;

use super::{api, code, get, send, spawn};
use crate::support::user_text;

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

    // Limit changes and resets are in the audit log (refused ones are not).
    let (status, log) = get(&app, "/audit?action=usage.").await;
    assert_eq!(status, 200, "{log}");
    let resets: Vec<_> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["subject"].clone(), e["detail"]["scope"].clone()))
        .collect();
    assert_eq!(
        resets,
        [
            (json!(null), json!("all")),
            (json!(id.to_string()), json!("credential"))
        ]
    );
    let (_, log) = get(&app, "/audit?action=credential.limits").await;
    let limits = log["events"].as_array().unwrap();
    assert_eq!(limits.len(), 1, "{log}");
    assert_eq!(limits[0]["subject"], id.to_string());
    assert_eq!(limits[0]["detail"], json!({"total": 5, "pro": null}));
    assert_eq!(limits[0]["actor"], "api-password");
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

/// One request on each surface, then the usage API: every surface is stored (an Anthropic row
/// once kept every later flush out of the database), aliases keep both names, and each request
/// left one access line in the log.
#[tokio::test]
async fn every_surface_is_counted_and_logged_once() {
    crate::support::init_logs();
    // Model names of this test's own, since the tests of this binary share one log.
    let app = crate::support::builder()
        .env(
            "MODEL_ALIASES",
            "surface-*=gemini-2.5-flash,claude-*=gemini-2.5-pro",
        )
        .spawn()
        .await;
    let post = |path: &str, body: serde_json::Value| {
        app.http
            .post(format!("{}{path}", app.url))
            .bearer_auth(crate::support::KEY)
            .json(&body)
            .send()
    };
    let r = post(
        "/v1/chat/completions",
        json!({"model": "surface-openai", "messages": [user_text("from openai")]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let r = post(
        "/v1beta/models/surface-gemini:generateContent",
        json!({"contents": [{"role": "user", "parts": [{"text": "from gemini"}]}]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let r = post(
        "/v1/messages",
        json!({"model": "claude-surface-test", "max_tokens": 50,
               "messages": [{"role": "user", "content": "from anthropic"}]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    app.state.usage.flush().await.unwrap();
    app.state.usage.flush().await.unwrap();
    assert_eq!(app.state.usage.rejected_rows(), 0);

    let (status, agg) = get(&app, "/usage/aggregated?days=1").await;
    assert_eq!(status, 200, "{agg}");
    assert_eq!(agg["overall"]["requests"], 3, "{agg}");
    let rows: Vec<(String, String, String)> = app
        .state
        .store
        .call(|c| {
            let mut st = c.prepare(
                "SELECT surface, requested_model, base_model FROM usage_minute ORDER BY surface",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
        .unwrap();
    let want = |s: &str, a: &str, b: &str| (s.to_string(), a.to_string(), b.to_string());
    assert_eq!(
        rows,
        vec![
            want("anthropic", "claude-surface-test", "gemini-2.5-pro"),
            want("gemini", "surface-gemini", "gemini-2.5-flash"),
            want("openai", "surface-openai", "gemini-2.5-flash"),
        ]
    );

    let (_, lines) = get(&app, "/logs?n=2000").await;
    let access: Vec<String> = lines
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["target"] == "gcli2api::access")
        .map(|l| l.to_string())
        .filter(|l| {
            l.contains("client_model=surface-") || l.contains("client_model=claude-surface-test")
        })
        .collect();
    assert_eq!(access.len(), 3, "one line per request: {access:?}");
    // The access lines' tokens add up to what usage counted (thinking counted once).
    let field = |line: &str, name: &str| -> u64 {
        line.split(&format!("{name}="))
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let logged_out: u64 = access.iter().map(|l| field(l, "tokens_out")).sum();
    let logged_in: u64 = access.iter().map(|l| field(l, "tokens_in")).sum();
    assert_eq!(
        logged_out,
        agg["overall"]["completion_tokens"].as_u64().unwrap()
    );
    assert_eq!(logged_in, agg["overall"]["prompt_tokens"].as_u64().unwrap());
    let anthropic = access
        .iter()
        .find(|l| l.contains("surface=anthropic"))
        .expect("anthropic line");
    for field in [
        "client_model=claude-surface-test",
        "served_model=gemini-2.5-pro",
        "status=200",
        "attempts=1",
        "latency_ms=",
        "tokens_in=",
        "tokens_out=",
        "client=127.0.0.1",
        "account=user",
    ] {
        assert!(anthropic.contains(field), "{field} in {anthropic}");
    }
    assert!(
        !anthropic.contains(crate::support::KEY),
        "no secret in the access line"
    );
}

#[tokio::test]
async fn the_access_log_is_turned_off_and_on_without_a_restart_and_aliases_are_editable() {
    let app = spawn().await;
    let (status, body) = send(api(&app, Method::PATCH, "/settings").json(&json!({
        "access_log": false,
        "model_aliases": "quiet-model=gemini-2.5-flash, loud-*=gemini-2.5-pro"
    })))
    .await;
    assert_eq!(status, 200, "{body}");
    let chat = |model: &'static str| {
        app.http
            .post(format!("{}/v1/chat/completions", app.url))
            .bearer_auth(crate::support::KEY)
            .json(&json!({"model": model, "messages": [user_text("hello")]}))
            .send()
    };
    let r = chat("quiet-model").await.unwrap();
    assert_eq!(r.status(), 200);
    let (status, _) =
        send(api(&app, Method::PATCH, "/settings").json(&json!({"access_log": true}))).await;
    assert_eq!(status, 200);
    let r = chat("loud-model-7").await.unwrap();
    assert_eq!(r.status(), 200);
    let served: Vec<String> = app
        .generation_requests()
        .iter()
        .filter_map(|r| r.json()?.get("model")?.as_str().map(str::to_string))
        .collect();
    assert!(
        served.contains(&"gemini-2.5-flash".to_string()),
        "{served:?}"
    );
    assert!(served.contains(&"gemini-2.5-pro".to_string()), "{served:?}");
    let (_, lines) = get(&app, "/logs?n=2000").await;
    let access = |needle: &str| {
        lines
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["target"] == "gcli2api::access")
            .filter(|l| l["message"].as_str().unwrap_or_default().contains(needle))
            .count()
    };
    assert_eq!(access("client_model=quiet-model"), 0, "off: no line");
    assert_eq!(access("client_model=loud-model-7"), 1, "on again: one line");
    // A bad alias is refused with the rule, in the management API's format.
    let (status, body) =
        send(api(&app, Method::PATCH, "/settings").json(&json!({"model_aliases": "claude"}))).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["target"], "model_aliases");
    assert!(body.to_string().contains("pattern=target"), "{body}");
}
