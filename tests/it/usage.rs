use gcli2api::simulator::{Endpoint, Fault, FaultMatch, FaultRule};
use gcli2api::usage::LimitOverride;
use serde_json::json;

use crate::support::{KEY, builder, user_text};

#[tokio::test]
async fn concurrent_requests_are_counted_exactly_and_survive_shutdown() {
    let app = builder().env("CALLS_PER_ROTATION", "1").spawn().await;
    let a = app.users[0].email.clone();
    // One retry: A answers 500 once, so that request calls two credentials.
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::GenerateContent).email(&a),
        1,
        Fault::Internal,
    ));
    let mut tasks = Vec::new();
    for i in 0..60 {
        let (http, url) = (app.http.clone(), app.url.clone());
        tasks.push(tokio::spawn(async move {
            let model = if i % 2 == 0 {
                "gemini-2.5-pro"
            } else {
                "gemini-2.5-flash"
            };
            let r = http
                .post(format!("{url}/v1/chat/completions"))
                .bearer_auth(KEY)
                .json(&json!({"model": model, "messages": [user_text("count me")]}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let stats: Vec<_> = app
        .ids
        .iter()
        .map(|id| app.state.usage.credential_stats(*id))
        .collect();
    let calls: u64 = stats.iter().map(|s| s.calls).sum();
    assert_eq!(
        calls, 61,
        "one call per credential actually called: 60 + 1 retry"
    );
    assert_eq!(stats.iter().map(|s| s.successes).sum::<u64>(), 60);
    let pro: u64 = stats.iter().map(|s| s.by_class.pro).sum();
    let flash: u64 = stats.iter().map(|s| s.by_class.flash).sum();
    assert_eq!(pro + flash, 61);
    assert!(pro == 30 || pro == 31, "pro counted apart: {pro}");
    assert_eq!(
        stats[0].errors.get("upstream_500"),
        Some(&1),
        "{:?}",
        stats[0].errors
    );
    let ids = app.ids.clone();
    let (sim, dir) = app.stop().await;
    let app = builder().reuse(sim, dir).spawn().await;
    let after: Vec<_> = ids
        .iter()
        .map(|id| app.state.usage.credential_stats(*id))
        .collect();
    assert_eq!(
        after.iter().map(|s| s.calls).sum::<u64>(),
        61,
        "graceful shutdown persisted every counter"
    );
    let agg = app.state.usage.aggregated(1).await.unwrap();
    assert_eq!(agg.overall.requests, 60, "once per client request");
}

#[tokio::test]
async fn a_credential_at_its_pro_limit_is_skipped_for_pro_but_not_flash() {
    let app = builder()
        .users(2)
        .env("CALLS_PER_ROTATION", "1")
        .spawn()
        .await;
    let (a, b) = (app.ids[0], app.ids[1]);
    app.state
        .usage
        .set_limits(
            a,
            LimitOverride {
                total: None,
                pro: Some(1),
            },
        )
        .await
        .unwrap();
    for _ in 0..4 {
        assert_eq!(
            app.chat(json!({"model": "gemini-2.5-pro", "messages": [user_text("pro")]}))
                .await
                .0,
            200
        );
    }
    let sa = app.state.usage.credential_stats(a);
    assert_eq!(
        sa.by_class.pro, 1,
        "A served one pro call, then was skipped"
    );
    assert_eq!(app.state.usage.credential_stats(b).by_class.pro, 3);
    assert!(sa.today.pro.remaining == Some(0), "{:?}", sa.today.pro);
    for _ in 0..2 {
        assert_eq!(
            app.chat(json!({"model": "gemini-2.5-flash", "messages": [user_text("flash")]}))
                .await
                .0,
            200
        );
    }
    assert_eq!(
        app.state.usage.credential_stats(a).by_class.flash,
        1,
        "flash still uses A"
    );
}

/// While usage cannot be written (here the SQLite table is away), requests are served and
/// counted in memory up to the outage buffer's bound; past it every proxied request is
/// refused with 503 in its own surface's error format and nothing reaches upstream; once the
/// buffer is written, requests are served again and every served request was counted once.
#[tokio::test]
async fn past_the_outage_buffer_requests_are_refused_in_their_own_format() {
    let app = builder().spawn().await;
    let rename = |sql: &'static str| {
        let store = app.state.store.clone();
        async move {
            store
                .call(move |c| Ok(c.execute_batch(sql)?))
                .await
                .unwrap()
        }
    };
    rename("ALTER TABLE usage_daily RENAME TO usage_daily_away").await;
    // Each served request is two records: its upstream call and itself.
    app.state.usage.set_max_unflushed(5);
    let chat = json!({"model": "gemini-2.5-flash", "messages": [user_text("count me")]});
    for _ in 0..2 {
        assert_eq!(app.chat(chat.clone()).await.0, 200);
    }
    assert!(!app.state.usage.refusing(), "4 records are within 5");
    assert_eq!(app.chat(chat.clone()).await.0, 200);
    let t = std::time::Instant::now();
    while !app.state.usage.refusing() {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "never refusing"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let served = app.generation_requests().len();

    let (status, body) = app.chat(chat.clone()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["type"], "api_error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("usage cannot be recorded"),
        "{body}"
    );
    let r = app
        .http
        .post(format!("{}/v1/messages", app.url))
        .bearer_auth(KEY)
        .json(&json!({"model": "gemini-2.5-flash", "max_tokens": 16,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "overloaded_error", "{body}");
    let r = app
        .http
        .post(format!(
            "{}/v1beta/models/gemini-2.5-flash:generateContent",
            app.url
        ))
        .bearer_auth(KEY)
        .json(&json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], 503, "{body}");
    assert_eq!(body["error"]["status"], "UNAVAILABLE", "{body}");
    assert_eq!(
        app.generation_requests().len(),
        served,
        "refused requests never reach upstream"
    );
    // A local SQLite file has no reachability to report: /healthz stays ok.
    let health = app
        .http
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    rename("ALTER TABLE usage_daily_away RENAME TO usage_daily").await;
    app.state.usage.flush().await.unwrap();
    assert!(!app.state.usage.refusing());
    assert_eq!(app.state.usage.unflushed(), 0);
    assert_eq!(app.chat(chat).await.0, 200);
    let agg = app.state.usage.aggregated(1).await.unwrap();
    assert_eq!(agg.overall.requests, 4, "every served request counted once");
    assert_eq!(agg.overall.calls, 4);
}
