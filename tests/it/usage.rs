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
