//! Errors and quotas of the official upstreams, per kind: per-minute throttles move to another
//! key, a spent day cools every key of the quota group until midnight Pacific, limit 0 takes the
//! model off a key, an overloaded model rests briefly, re-checks put keys back, and a mixed
//! pool of all four kinds counts usage exactly under load.
use std::collections::HashMap;

use gcli2api::google::kind::CredentialKind;
use gcli2api::onboarding::official::import_keys;
use gcli2api::pool::{BanKind, CooldownReason};
use gcli2api::simulator::{
    ApiKeySpec, Fault, FaultMatch, FaultRule, KeyState, ModelQuota, QuotaKind, QuotaViolation,
    SeededApiKey,
};
use gcli2api::store::credentials::CredentialSource;
use serde_json::{Value, json};

use crate::official::mixed_pool;
use crate::support::{TestApp, builder, user_text};

/// Keys imported as an operator would (checked, models discovered), in order; `KEY@group`.
async fn keys(app: &TestApp, specs: &[(ApiKeySpec, Option<&str>)]) -> Vec<(SeededApiKey, i64)> {
    let mut out = Vec::new();
    for (spec, group) in specs {
        let k = app.sim.add_api_key(spec.clone());
        let text = match group {
            Some(g) => format!("{}@{g}", k.key),
            None => k.key.clone(),
        };
        let report = import_keys(
            &app.state.pool,
            CredentialKind::GeminiApiKey,
            &text,
            None,
            CredentialSource::Upload,
            "gemini-2.5-flash",
        )
        .await
        .unwrap();
        assert_eq!(report.imported.len(), 1, "{report:?}");
        out.push((k, report.imported[0].id));
    }
    out
}

async fn chat(app: &TestApp, model: &str) -> (u16, Value) {
    app.chat(json!({"model": model, "messages": [user_text("quota")]}))
        .await
}

/// Successful calls per credential so far.
async fn successes(app: &TestApp) -> HashMap<i64, u64> {
    app.state
        .pool
        .list()
        .await
        .unwrap()
        .iter()
        .map(|r| (r.id, app.state.usage.credential_stats(r.id).successes))
        .collect()
}

/// A chat, and the credential whose call succeeded.
async fn served(app: &TestApp, model: &str) -> (u16, Option<i64>) {
    let before = successes(app).await;
    let (status, _) = chat(app, model).await;
    let after = successes(app).await;
    let by = after
        .iter()
        .find(|(id, n)| before.get(*id).copied().unwrap_or(0) < **n)
        .map(|(id, _)| *id);
    (status, by)
}

#[tokio::test]
async fn a_per_minute_429_cools_that_key_for_the_retry_delay_and_another_serves() {
    let app = builder().no_users().spawn().await;
    let ks = keys(
        &app,
        &[
            (ApiKeySpec::gemini().project("rpm-a"), None),
            (ApiKeySpec::gemini().project("rpm-b"), None),
        ],
    )
    .await;
    app.sim
        .set_project_quota("rpm-a", vec![ModelQuota::all_models().per_minute(1)]);
    assert_eq!(served(&app, "gemini-2.5-flash").await, (200, Some(ks[0].1)));
    assert_eq!(served(&app, "gemini-2.5-flash").await, (200, Some(ks[1].1)));
    let st = app.state.pool.state(ks[0].1).unwrap();
    let cd = &st.cooldowns["gemini-2.5-flash"];
    assert_eq!(cd.reason, CooldownReason::RateLimited);
    let left = (cd.until - chrono::Utc::now()).num_seconds();
    assert!(
        (1..=60).contains(&left),
        "cooled for Google's retryDelay, {left}s left"
    );
    assert!(app.state.pool.state(ks[1].1).unwrap().cooldowns.is_empty());
}

#[tokio::test]
async fn a_spent_day_cools_every_key_of_the_group_until_midnight_pacific() {
    let app = builder().no_users().spawn().await;
    let ks = keys(
        &app,
        &[
            (ApiKeySpec::gemini().project("day-p"), Some("day-p")),
            (ApiKeySpec::gemini().project("day-p"), Some("day-p")),
            (ApiKeySpec::gemini().project("day-q"), Some("day-q")),
        ],
    )
    .await;
    app.sim
        .set_project_quota("day-p", vec![ModelQuota::all_models().per_day(1)]);
    assert_eq!(served(&app, "gemini-2.5-flash").await, (200, Some(ks[0].1)));
    assert_eq!(served(&app, "gemini-2.5-flash").await, (200, Some(ks[2].1)));
    let midnight = {
        use chrono::TimeZone;
        let la = chrono::Utc::now().with_timezone(&chrono_tz::America::Los_Angeles);
        let next = la
            .date_naive()
            .succ_opt()
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        chrono_tz::America::Los_Angeles
            .from_local_datetime(&next)
            .earliest()
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    for (_, id) in &ks[..2] {
        let st = app.state.pool.state(*id).unwrap();
        let cd = &st.cooldowns["gemini-2.5-flash"];
        assert_eq!(cd.reason, CooldownReason::DailyExhausted, "{id}");
        assert_eq!(cd.until, midnight, "until the Pacific day ends");
    }
    assert!(app.state.pool.state(ks[2].1).unwrap().cooldowns.is_empty());
    // Only the other group serves that model now; other models still go to the group.
    for _ in 0..3 {
        assert_eq!(served(&app, "gemini-2.5-flash").await, (200, Some(ks[2].1)));
    }
    // The re-check probes spent models: Google's reset (simulated) brings them back.
    app.sim.reset_quota_usage();
    app.sim.set_project_quota("day-p", Vec::new());
    gcli2api::onboarding::keeper::pass(&app.state.pool, true)
        .await
        .unwrap();
    let st = app.state.pool.state(ks[0].1).unwrap();
    assert!(st.cooldowns.is_empty(), "{:?}", st.cooldowns);
    assert!(st.recheck.unwrap().message.contains("quota is back"));
}

#[tokio::test]
async fn limit_zero_takes_only_that_model_off_the_key() {
    let app = builder().no_users().spawn().await;
    let ks = keys(
        &app,
        &[
            (ApiKeySpec::gemini().project("free-tier"), None),
            (ApiKeySpec::gemini().project("paid-tier"), None),
        ],
    )
    .await;
    app.sim
        .set_project_quota("free-tier", vec![ModelQuota::never("gemini-2.5-pro")]);
    assert_eq!(served(&app, "gemini-2.5-pro").await, (200, Some(ks[1].1)));
    let st = app.state.pool.state(ks[0].1).unwrap();
    assert!(st.unable_models.contains("gemini-2.5-pro"), "{st:?}");
    assert!(st.cooldowns.is_empty() && st.ban.is_none());
    // Flash still goes to the free-tier key (rotation starts from it again).
    let (status, _) = chat(&app, "code-assist/gemini-2.5-pro").await;
    assert_eq!(status, 503, "no Code Assist credential here");
    app.sim.push_fault(FaultRule::new(
        FaultMatch::any().api_key(&ks[1].0.key),
        0,
        Fault::Internal,
    ));
    assert_eq!(served(&app, "gemini-2.5-flash").await, (200, Some(ks[0].1)));
}

/// Vertex outside `global` lacks the newest models ("Publisher Model ... was not found"): the
/// 404 takes that model off the service account, which keeps serving the others, and another
/// credential serves the request.
#[tokio::test]
async fn a_404_for_a_model_takes_that_model_off_that_credential() {
    let app = builder()
        .no_users()
        .env("VERTEX_LOCATION", "europe-west4")
        .spawn()
        .await;
    let (_, sa) = app
        .add_service_account(gcli2api::simulator::ServiceAccountSpec::new())
        .await;
    let ks = keys(&app, &[(ApiKeySpec::gemini(), None)]).await;
    assert_eq!(
        served(&app, "gemini-3-pro-preview").await,
        (200, Some(ks[0].1))
    );
    let sent: Vec<_> = app
        .official_requests()
        .into_iter()
        .filter(|r| r.path.contains("gemini-3-pro-preview:generateContent"))
        .collect();
    assert!(
        sent[0].path.starts_with("/v1/projects/")
            && sent[0].path.contains("/locations/europe-west4/"),
        "the service account was tried first, in its location: {sent:#?}"
    );
    let st = app.state.pool.state(sa).unwrap();
    assert!(st.unable_models.contains("gemini-3-pro-preview"), "{st:?}");
    assert!(st.cooldowns.is_empty() && st.ban.is_none(), "{st:?}");
    let (status, c) = chat(&app, "vertex/gemini-2.5-flash").await;
    assert_eq!(status, 200, "the other models stay: {c}");
    let (status, c) = chat(&app, "vertex/gemini-3-pro-preview").await;
    assert_eq!(status, 503, "{c}");
    assert!(
        c["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1 unable to use this model"),
        "{c}"
    );
}

#[tokio::test]
async fn an_overloaded_model_rests_briefly_and_legacy_429s_get_a_default_cooldown() {
    let app = builder().no_users().spawn().await;
    let ks = keys(
        &app,
        &[(ApiKeySpec::gemini(), None), (ApiKeySpec::gemini(), None)],
    )
    .await;
    app.sim.push_fault(FaultRule::new(
        FaultMatch::any().api_key(&ks[0].0.key),
        1,
        Fault::Unavailable {
            retry_delay_ms: None,
        },
    ));
    let (status, _) = chat(&app, "gemini-2.5-flash").await;
    assert_eq!(status, 200);
    let cd = app.state.pool.state(ks[0].1).unwrap().cooldowns["gemini-2.5-flash"].clone();
    assert_eq!(cd.reason, CooldownReason::Overloaded);
    assert!((cd.until - chrono::Utc::now()).num_seconds() <= 5);
    app.sim.push_fault(FaultRule::new(
        FaultMatch::any().api_key(&ks[1].0.key),
        1,
        Fault::LegacyRateLimit,
    ));
    app.sim.push_fault(FaultRule::new(
        FaultMatch::any().api_key(&ks[0].0.key),
        1,
        Fault::QuotaViolations {
            violations: vec![QuotaViolation::new(QuotaKind::RequestsPerMinute, 15)],
            retry_delay_ms: 30_000,
            omit_quota_value: false,
        },
    ));
    let (status, c) = chat(&app, "gemini-2.5-pro").await;
    assert_eq!(
        status, 429,
        "both throttled: Google's last answer is relayed: {c}"
    );
    let legacy = app.state.pool.state(ks[1].1).unwrap().cooldowns["gemini-2.5-pro"].clone();
    assert_eq!(legacy.reason, CooldownReason::RateLimited);
    let left = (legacy.until - chrono::Utc::now()).num_seconds();
    assert!((50..=60).contains(&left), "the default cooldown: {left}s");
}

#[tokio::test]
async fn a_revoked_key_is_disabled_with_the_reason_and_put_back_by_a_recheck() {
    let app = builder().no_users().spawn().await;
    let ks = keys(
        &app,
        &[(ApiKeySpec::gemini(), None), (ApiKeySpec::gemini(), None)],
    )
    .await;
    app.sim.set_api_key_state(&ks[0].0.key, KeyState::Suspended);
    let (status, _) = chat(&app, "gemini-2.5-flash").await;
    assert_eq!(status, 200, "the other key serves");
    let ban = app.state.pool.state(ks[0].1).unwrap().ban.unwrap();
    assert_eq!(ban.kind, BanKind::Rejected);
    assert!(ban.reason.contains("suspended"), "{}", ban.reason);
    // Still suspended: the re-check says so and leaves it out.
    gcli2api::onboarding::keeper::pass(&app.state.pool, true)
        .await
        .unwrap();
    let st = app.state.pool.state(ks[0].1).unwrap();
    assert!(st.ban.is_some());
    assert!(st.recheck.unwrap().message.contains("still refused"));
    app.sim.set_api_key_state(&ks[0].0.key, KeyState::Active);
    gcli2api::onboarding::keeper::pass(&app.state.pool, true)
        .await
        .unwrap();
    let st = app.state.pool.state(ks[0].1).unwrap();
    assert!(st.ban.is_none() && st.errors.is_empty(), "{st:?}");
    assert!(st.recheck.unwrap().message.contains("accepts it again"));
}

#[tokio::test]
async fn official_credentials_have_no_daily_limit_unless_set() {
    let app = builder()
        .env("AISTUDIO_DAILY_LIMIT_TOTAL", "2")
        .spawn()
        .await;
    let ks = keys(&app, &[(ApiKeySpec::gemini(), None)]).await;
    let (_, express) = app
        .add_key(CredentialKind::VertexExpressKey, ApiKeySpec::express())
        .await;
    let stats = |id| app.state.usage.credential_stats(id).today.total.limit;
    assert_eq!(
        stats(app.ids[0]),
        Some(1000),
        "Code Assist keeps its numbers"
    );
    assert_eq!(stats(express), None, "Vertex: off by default");
    assert_eq!(stats(ks[0].1), Some(2), "AISTUDIO_DAILY_LIMIT_TOTAL");
    for _ in 0..2 {
        let (status, _) = chat(&app, "aistudio/gemini-2.5-flash").await;
        assert_eq!(status, 200);
    }
    let (status, c) = chat(&app, "aistudio/gemini-2.5-flash").await;
    assert_eq!(status, 503, "over its own daily limit: {c}");
}

/// Every kind at once, 200 requests in parallel: every one answered, every call counted once,
/// and the aggregates add up by kind.
#[tokio::test]
async fn a_mixed_pool_serves_200_concurrent_requests_with_exact_usage() {
    let app = mixed_pool().await;
    let before = app.sim.requests().len();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let http = app.http.clone();
            let url = format!("{}/v1/chat/completions", app.url);
            let stream = i % 2 == 0;
            tokio::spawn(async move {
                let r = http
                    .post(url)
                    .bearer_auth(crate::support::KEY)
                    .json(&json!({"model": "gemini-2.5-flash", "stream": stream,
                        "messages": [{"role": "user", "content": format!("n{i}")}]}))
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let text = r.text().await.unwrap();
                (
                    status,
                    text.contains(&format!("Echo: n{i}")) || text.contains(&format!("n{i}")),
                )
            })
        })
        .collect();
    for t in tasks {
        let (status, ok) = t.await.unwrap();
        assert_eq!(status, 200);
        assert!(ok);
    }
    let generations = app.sim.requests()[before..]
        .iter()
        .filter(|r| r.path.contains("enerateContent"))
        .count();
    assert_eq!(generations, 200, "one upstream call per request");
    let rows = app.state.pool.list().await.unwrap();
    let mut by_kind: HashMap<CredentialKind, u64> = HashMap::new();
    let mut total = 0;
    for row in &rows {
        let calls = app.state.usage.credential_stats(row.id).calls;
        *by_kind.entry(row.kind).or_default() += calls;
        total += calls;
    }
    assert_eq!(total, 200, "{by_kind:?}");
    assert_eq!(by_kind.len(), 4, "every kind served: {by_kind:?}");
    let agg = app.state.usage.aggregated(1).await.unwrap();
    assert_eq!(agg.overall.requests, 200);
    assert_eq!(agg.overall.calls, 200);
    let kinds: u64 = agg.per_kind.iter().map(|k| k.totals.calls).sum();
    assert_eq!(kinds, 200);
    for k in &agg.per_kind {
        assert_eq!(k.totals.calls, by_kind[&k.kind], "{:?}", k.kind);
    }
    // The management API shows the same breakdown.
    let api: Value = app
        .http
        .get(format!("{}/api/v1/usage/aggregated?days=1", app.url))
        .bearer_auth(crate::support::KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds = api["per_kind"].as_array().unwrap();
    assert_eq!(kinds.len(), 4, "{api}");
    let sum: u64 = kinds
        .iter()
        .map(|k| k["totals"]["calls"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, 200);
}

/// Google quotes a suspended key in its message; neither the client nor the import report nor
/// the API ever sees it.
#[tokio::test]
async fn a_key_quoted_by_google_never_reaches_a_client() {
    let app = builder().no_users().spawn().await;
    let ks = keys(&app, &[(ApiKeySpec::gemini(), None)]).await;
    let key = ks[0].0.key.clone();
    app.sim.set_api_key_state(&key, KeyState::Suspended);
    for path in [
        "/v1/chat/completions",
        "/v1beta/models/gemini-2.5-flash:generateContent",
    ] {
        let body = if path.starts_with("/v1/chat") {
            json!({"model": "gemini-2.5-flash", "messages": [user_text("x")]})
        } else {
            json!({"contents": [{"role": "user", "parts": [{"text": "x"}]}]})
        };
        let r = app.post(path, &body).send().await.unwrap();
        assert!(r.status().is_client_error() || r.status().is_server_error());
        let text = r.text().await.unwrap();
        assert!(!text.contains(&key), "{path}: {text}");
    }
    let suspended = app
        .sim
        .add_api_key(ApiKeySpec::gemini().state(KeyState::Suspended));
    let report = import_keys(
        &app.state.pool,
        CredentialKind::GeminiApiKey,
        &suspended.key,
        None,
        CredentialSource::Upload,
        "gemini-2.5-flash",
    )
    .await
    .unwrap();
    assert_eq!(report.rejected.len(), 1);
    let reason = &report.rejected[0].reason;
    assert!(
        reason.contains("suspended") && !reason.contains(&suspended.key),
        "{reason}"
    );
}

/// A Gemini API key's model list is discovered again once it is a day old (Google adds models
/// and a key's tier changes), and what it newly lists is served at once; a fresh list is left
/// alone.
#[tokio::test]
async fn a_keys_model_list_is_found_again_after_a_day() {
    let app = builder().no_users().spawn().await;
    let ks = keys(&app, &[(ApiKeySpec::gemini(), None)]).await;
    let id = ks[0].1;
    // As if the key had listed only one model a day and a bit ago.
    app.state
        .pool
        .set_models(id, vec!["gemini-2.5-flash".to_string()])
        .await
        .unwrap();
    let day_ago = chrono::Utc::now().timestamp_millis() - 25 * 3600 * 1000;
    let only = vec!["gemini-2.5-flash".to_string()];
    app.state
        .store
        .tx(move |tx| gcli2api::store::credentials::set_models(tx, id, &only, day_ago))
        .await
        .unwrap();
    let embed = json!({"model": "gemini-embedding-001", "input": "x"});
    let r = app.post("/v1/embeddings", &embed).send().await.unwrap();
    assert_eq!(r.status(), 503, "not listed: {}", r.text().await.unwrap());
    let lists = |app: &TestApp| {
        app.sim
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path == "/v1beta/models")
            .count()
    };
    let before = lists(&app);
    gcli2api::onboarding::keeper::pass(&app.state.pool, false)
        .await
        .unwrap();
    assert_eq!(lists(&app), before + 1, "the stale list was read again");
    let r = app.post("/v1/embeddings", &embed).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    gcli2api::onboarding::keeper::pass(&app.state.pool, false)
        .await
        .unwrap();
    assert_eq!(lists(&app), before + 1, "a fresh list is not read again");
}
