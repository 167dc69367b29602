use gcli2api::simulator::{Endpoint, Fault, FaultMatch, FaultRule, UserSpec};
use serde_json::json;

use crate::support::{TestApp, builder, user_text};

fn ask() -> serde_json::Value {
    json!({"model": "gemini-2.5-flash", "messages": [user_text("pool test")]})
}

#[tokio::test]
async fn rate_limit_on_a_moves_to_b_and_cools_a_for_that_model_only() {
    let app = TestApp::spawn().await;
    let a = &app.users[0];
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::GenerateContent).email(&a.email),
        1,
        Fault::RateLimitExceeded {
            retry_delay_ms: 30_000,
        },
    ));
    let (status, _) = app.chat(ask()).await;
    assert_eq!(status, 200);
    let reqs = app.generation_requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].email.as_deref(), Some(a.email.as_str()));
    assert_ne!(reqs[1].email.as_deref(), Some(a.email.as_str()));
    let st = app.state.pool.state(app.ids[0]).unwrap();
    assert!(st.cooldowns.contains_key("gemini-2.5-flash"), "{st:?}");
    assert!(!st.cooldowns.contains_key("gemini-2.5-pro"));
    // Another model still uses A.
    app.sim.reset();
    let (status, _) = app
        .chat(json!({"model": "gemini-2.5-pro", "messages": [user_text("x")]}))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn quota_exhausted_skips_a_until_reset() {
    let app = builder().env("CALLS_PER_ROTATION", "1").spawn().await;
    let a = app.users[0].email.clone();
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::GenerateContent).email(&a),
        1,
        Fault::QuotaExhausted {
            reset_after_secs: 3 * 3600,
        },
    ));
    for _ in 0..6 {
        let (status, _) = app.chat(ask()).await;
        assert_eq!(status, 200);
    }
    let hits_on_a = app
        .generation_requests()
        .iter()
        .filter(|r| r.email.as_deref() == Some(a.as_str()))
        .count();
    assert_eq!(hits_on_a, 1, "A is skipped after its quota ran out");
    let cd = app.state.pool.state(app.ids[0]).unwrap().cooldowns["gemini-2.5-flash"].clone();
    let left = cd.until - chrono::Utc::now();
    assert!(
        left > chrono::Duration::hours(2),
        "cooling until the reset: {left}"
    );
}

#[tokio::test]
async fn forbidden_with_auto_ban_bans_a_with_the_reason_and_b_serves() {
    let app = TestApp::spawn().await;
    let a = app.users[0].email.clone();
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::GenerateContent).email(&a),
        1,
        Fault::ValidationRequired,
    ));
    let (status, b) = app.chat(ask()).await;
    assert_eq!(status, 200, "{b}");
    let st = app.state.pool.state(app.ids[0]).unwrap();
    let ban = st.ban.expect("banned");
    assert!(ban.reason.contains("VALIDATION_REQUIRED"), "{}", ban.reason);
    assert!(
        ban.link.is_some(),
        "the validation link is kept for the user"
    );
    // Un-ban through the service function.
    assert!(
        app.state
            .pool
            .clear_errors_and_unban(app.ids[0])
            .await
            .unwrap()
    );
    assert!(app.state.pool.state(app.ids[0]).unwrap().ban.is_none());
}

#[tokio::test]
async fn auth_failure_refreshes_once_under_fifty_concurrent_requests() {
    let app = builder().users(1).spawn().await;
    let email = app.users[0].email.clone();
    // Warm up so the gateway holds the seeded access token, then revoke it upstream.
    assert_eq!(app.chat(ask()).await.0, 200);
    app.sim.revoke_access_tokens(&email);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (http, url) = (app.http.clone(), app.url.clone());
        tasks.push(tokio::spawn(async move {
            http.post(format!("{url}/v1/chat/completions"))
                .bearer_auth(crate::support::KEY)
                .json(&ask())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(app.token_requests(&email).len(), 1, "exactly one refresh");
}

#[tokio::test]
async fn expiring_tokens_are_refreshed_before_use() {
    let app = builder()
        .user(UserSpec::new("short@sim.test").token_lifetime_secs(60))
        .spawn()
        .await;
    assert_eq!(app.chat(ask()).await.0, 200);
    assert_eq!(
        app.token_requests("short@sim.test").len(),
        1,
        "a token with < 5 min left is refreshed first"
    );
}

#[tokio::test]
async fn invalid_grant_disables_the_credential_and_b_serves() {
    let app = TestApp::spawn().await;
    let a = app.users[0].email.clone();
    app.sim.revoke_refresh_token(&a);
    app.sim.expire_access_tokens(&a);
    // The seeded expiry is still in the future, so make the gateway find out through a 401.
    let (status, b) = app.chat(ask()).await;
    assert_eq!(status, 200, "{b}");
    let st = app.state.pool.state(app.ids[0]).unwrap();
    assert!(
        st.ban.is_some() || !st.enabled,
        "disabled after invalid_grant: {st:?}"
    );
    let reason = st.ban.map(|b| b.reason).unwrap_or_default();
    assert!(reason.contains("invalid_grant"), "{reason}");
}

#[tokio::test]
async fn transient_refresh_failures_keep_the_credential() {
    let app = builder().users(1).spawn().await;
    let a = app.users[0].email.clone();
    app.sim.expire_access_tokens(&a);
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::Token),
        0,
        Fault::TokenServerError,
    ));
    let (status, _) = app.chat(ask()).await;
    assert_ne!(status, 200);
    assert!(!app.token_requests(&a).is_empty());
    app.sim.reset();
    let st = app.state.pool.state(app.ids[0]).unwrap();
    assert!(
        st.enabled && st.ban.is_none(),
        "a 500 from /token must not disable: {st:?}"
    );
    assert_eq!(app.chat(ask()).await.0, 200, "works once /token recovers");
}

#[tokio::test]
async fn every_credential_cooling_gives_a_clear_error_with_the_retry_time() {
    let app = builder().users(2).spawn().await;
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::GenerateContent),
        2,
        Fault::RateLimitExceeded {
            retry_delay_ms: 40_000,
        },
    ));
    let (status, _) = app.chat(ask()).await;
    assert!(status == 429 || status == 503, "{status}");
    let r = app
        .post("/v1/chat/completions", &ask())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((30..=41).contains(&retry), "{retry}");
    let b: serde_json::Value = r.json().await.unwrap();
    let msg = b["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("cooling") && msg.contains("next frees"),
        "{msg}"
    );
    assert_eq!(
        app.generation_requests().len(),
        2,
        "no request waits on a cooling credential"
    );
}

#[tokio::test]
async fn state_and_rotated_refresh_tokens_survive_a_restart() {
    let app = builder()
        .user(
            UserSpec::new("rot@sim.test")
                .rotate_refresh_token(true)
                .token_lifetime_secs(60),
        )
        .user(UserSpec::new("b@sim.test"))
        .spawn()
        .await;
    let ids = app.ids.clone();
    // A refresh rotates the refresh token (the old one stops working upstream).
    assert_eq!(app.chat(ask()).await.0, 200);
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::GenerateContent).email("b@sim.test"),
        1,
        Fault::QuotaExhausted {
            reset_after_secs: 7200,
        },
    ));
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::GenerateContent).email("b@sim.test"),
        1,
        Fault::Banned,
    ));
    let _ = app
        .chat(json!({"model": "gemini-2.5-pro", "messages": [user_text("x")]}))
        .await;
    let _ = app
        .chat(json!({"model": "gemini-2.5-pro", "messages": [user_text("y")]}))
        .await;
    let before: Vec<_> = ids
        .iter()
        .map(|id| app.state.pool.state(*id).unwrap())
        .collect();
    let (sim, dir) = app.stop().await;
    let app = builder().reuse(sim, dir).spawn().await;
    let after: Vec<_> = ids
        .iter()
        .map(|id| app.state.pool.state(*id).unwrap())
        .collect();
    assert_eq!(before, after, "pool state identical after restart");
    // The rotated refresh token was saved: another refresh after restart still works.
    app.sim.expire_access_tokens("rot@sim.test");
    app.sim.reset();
    let (status, b) = app.chat(ask()).await;
    assert_eq!(status, 200, "{b}");
}

#[tokio::test]
async fn a_preview_404_marks_only_that_model_unable_and_b_serves() {
    let app = builder()
        .user(UserSpec::new("nopreview@sim.test").preview(false))
        .user(UserSpec::new("preview@sim.test"))
        .spawn()
        .await;
    let (status, b) = app
        .chat(json!({"model": "gemini-3-flash-preview", "messages": [user_text("new model")]}))
        .await;
    assert_eq!(status, 200, "{b}");
    let st = app.state.pool.state(app.ids[0]).unwrap();
    assert!(
        st.unable_models.contains("gemini-3-flash-preview"),
        "{st:?}"
    );
    assert!(st.ban.is_none() && st.enabled);
    // It keeps serving other models, and is not asked for the preview model again.
    app.sim.reset();
    assert_eq!(
        app.chat(json!({"model": "gemini-2.5-flash", "messages": [user_text("old model")]}))
            .await
            .0,
        200
    );
    assert_eq!(
        app.chat(json!({"model": "gemini-3-flash-preview", "messages": [user_text("again")]}))
            .await
            .0,
        200
    );
    let preview_on_a = app
        .generation_requests()
        .iter()
        .filter(|r| {
            r.email.as_deref() == Some("nopreview@sim.test")
                && r.json().unwrap()["model"] == "gemini-3-flash-preview"
        })
        .count();
    assert_eq!(preview_on_a, 0);
}

#[tokio::test]
async fn a_non_preview_404_goes_back_to_the_client() {
    let app = TestApp::spawn().await;
    let (status, b) = app
        .chat(json!({"model": "gemini-9-ultra", "messages": [user_text("x")]}))
        .await;
    assert_eq!(status, 404, "{b}");
    assert_eq!(app.generation_requests().len(), 1, "not retried elsewhere");
}

/// A success changes only a credential's activity counters. Those are written every 10 s and
/// at a graceful stop, not within the second: with requests rotating over many credentials,
/// that would be one row written per request. A change of health is still written at once.
#[tokio::test]
async fn successes_are_written_in_batches_and_health_changes_at_once() {
    let app = builder().env("CALLS_PER_ROTATION", "1").spawn().await;
    let stored = |id: i64| {
        let store = app.state.store.clone();
        async move {
            let text = store
                .run(move |db| gcli2api::store::credentials::pool_state(db, id, false))
                .await
                .unwrap()
                .flatten()
                .unwrap_or_else(|| "{}".into());
            serde_json::from_str::<gcli2api::pool::CredentialState>(&text).unwrap()
        }
    };
    // Successes summed over every credential: as written in the database, and in memory.
    let written = || async {
        let mut sum = 0;
        for id in &app.ids {
            sum += stored(*id).await.successes;
        }
        sum
    };
    let successes = || -> u64 {
        app.ids
            .iter()
            .map(|id| app.state.pool.state(*id).unwrap().successes)
            .sum()
    };
    // Each credential's first use refreshes its token, a change that is written with the
    // next flush; let those land first.
    for _ in 0..app.ids.len() {
        assert_eq!(app.chat(ask()).await.0, 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let written_before = written().await;
    let before = successes();
    for _ in 0..4 {
        assert_eq!(app.chat(ask()).await.0, 200);
    }
    // Longer than the one-second flush of state changes.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(successes(), before + 4);
    assert_eq!(
        written().await,
        written_before,
        "successes alone are not written every second"
    );

    // A cooldown is a change of health: in the database within about a second.
    let a = app.users[0].email.clone();
    app.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::GenerateContent).email(&a),
        1,
        Fault::RateLimitExceeded {
            retry_delay_ms: 60_000,
        },
    ));
    let mut cooled = false;
    for _ in 0..3 {
        assert_eq!(app.chat(ask()).await.0, 200);
        if app
            .state
            .pool
            .state(app.ids[0])
            .unwrap()
            .cooldowns
            .contains_key("gemini-2.5-flash")
        {
            cooled = true;
            break;
        }
    }
    assert!(cooled, "A met its rate limit");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while !stored(app.ids[0])
        .await
        .cooldowns
        .contains_key("gemini-2.5-flash")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the cooldown was not written"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // A graceful stop (or any full flush) writes every success.
    app.state.pool.flush().await.unwrap();
    let written = written().await;
    assert_eq!(written, successes());
    assert!(written >= before + 5, "{written}");
}
