//! Usage counters and daily quotas against a real SQLite file: exactness under concurrency,
//! restart, limits with the real pool, reset, retention, graceful shutdown and SIGKILL.
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use gcli2api::pool::{
    Clock, CredId, CredentialState, ManualClock, ModelClass, Pool, PoolConfig, QuotaView,
};
use gcli2api::store::Store;
use gcli2api::store::credentials::{self, CredentialSource, NewCredential};
use gcli2api::usage::{
    CallRecord, DefaultLimits, LimitOverride, Outcome, RequestRecord, ResetRule, Surface,
    UsageError, UsageOptions, UsageService,
};
use serde_json::json;

use crate::support::test_name;

const CRASH_DB_ENV: &str = "GCLI2API_TEST_USAGE_CRASH_DB";
const CRASH_MARKER_ENV: &str = "GCLI2API_TEST_USAGE_CRASH_MARKER";
const PRO: &str = "gemini-2.5-pro";
const FLASH: &str = "gemini-2.5-flash";

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn unlimited() -> DefaultLimits {
    DefaultLimits { total: 0, pro: 0 }
}

/// Long intervals: only explicit flushes write, so tests see exactly what they forced.
fn quiet() -> UsageOptions {
    UsageOptions {
        flush_interval: Duration::from_secs(3600),
        prune_interval: Duration::from_secs(1 << 30),
        ..UsageOptions::default()
    }
}

async fn open(dir: &Path) -> Store {
    Store::open_in(&dir.join("usage.db")).await.unwrap()
}

async fn start(
    store: &Store,
    clock: &Arc<ManualClock>,
    limits: DefaultLimits,
    opts: UsageOptions,
) -> UsageService {
    let clock: Arc<dyn Clock> = clock.clone();
    UsageService::start_with(store.clone(), ResetRule::default(), limits, clock, opts)
        .await
        .unwrap()
}

async fn add_credentials(store: &Store, n: usize) -> Vec<CredId> {
    store
        .tx(move |tx| {
            (0..n)
                .map(|i| {
                    credentials::insert(
                        tx,
                        &NewCredential {
                            name: format!("cred-{i}.json"),
                            source: CredentialSource::Upload,
                            payload: json!({}),
                            email: None,
                            project_id: None,
                            tier: None,
                            refresh_token_sha256: None,
                            kind: gcli2api::google::kind::CredentialKind::CodeAssist,
                            secret_sha256: None,
                            quota_group: None,
                            models: None,
                        },
                        0,
                    )
                })
                .collect()
        })
        .await
        .unwrap()
}

fn call(id: CredId, model: &str, outcome: Outcome) -> CallRecord {
    CallRecord {
        credential_id: id,
        base_model: model.into(),
        outcome,
    }
}

fn request(id: Option<CredId>, model: &str, outcome: Outcome, retries: u32) -> RequestRecord {
    RequestRecord {
        credential_id: id,
        base_model: model.into(),
        requested_model: format!("{model}-search"),
        surface: Surface::OpenAi,
        stream: true,
        outcome,
        prompt_tokens: 10,
        completion_tokens: 5,
        reasoning_tokens: 2,
        latency: Duration::from_millis(100),
        ttfb: Some(Duration::from_millis(20)),
        retries,
        key_id: 0,
    }
}

async fn scalar(store: &Store, sql: &'static str) -> i64 {
    store
        .call(move |c| {
            Ok(c.query_row(sql, [], |r| r.get::<_, Option<i64>>(0))?
                .unwrap_or(0))
        })
        .await
        .unwrap()
}

async fn per_credential(store: &Store, sql: &'static str) -> Vec<(i64, i64)> {
    store
        .call(move |c| {
            let mut st = c.prepare(sql)?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
        .unwrap()
}

/// The calls request `i` of the concurrency test makes: every fifth fails with a 429 on one
/// credential and is retried on the next; the others succeed at once.
fn plan(i: usize) -> (Vec<CallRecord>, RequestRecord) {
    let model = if i % 2 == 0 { PRO } else { FLASH };
    let first = (i % 3) as CredId + 1;
    if i % 5 == 0 {
        let second = first % 3 + 1;
        (
            vec![
                call(first, model, Outcome::UpstreamError(429)),
                call(second, model, Outcome::Success),
            ],
            request(Some(second), model, Outcome::Success, 1),
        )
    } else {
        (
            vec![call(first, model, Outcome::Success)],
            request(Some(first), model, Outcome::Success, 0),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_records_are_exact_in_memory_and_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let clock = Arc::new(ManualClock::new(utc("2026-03-10T12:00:00Z")));
    // A 5 ms flusher runs throughout, so flushes interleave with the records.
    let opts = UsageOptions {
        flush_interval: Duration::from_millis(5),
        ..quiet()
    };
    let usage = start(&store, &clock, unlimited(), opts).await;

    let mut tasks = Vec::new();
    for i in 0..200 {
        let usage = usage.clone();
        tasks.push(tokio::spawn(async move {
            tokio::task::yield_now().await;
            let (calls, req) = plan(i);
            for c in calls {
                usage.record_call(c);
                tokio::task::yield_now().await;
            }
            usage.record_request(req);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    // Expected counts, computed from the same plan.
    let mut calls = [0u64; 4];
    let mut fails = [0u64; 4];
    let mut pro = [0u64; 4];
    let mut total_calls = 0;
    for i in 0..200 {
        for c in plan(i).0 {
            let id = c.credential_id as usize;
            calls[id] += 1;
            total_calls += 1;
            fails[id] += u64::from(!c.outcome.is_success());
            pro[id] += u64::from(c.base_model == PRO);
        }
    }
    assert_eq!(total_calls, 240, "200 requests, 40 of them retried once");

    let stats = usage.all_stats();
    assert_eq!(stats.len(), 3);
    for (id, s) in &stats {
        let id = *id as usize;
        assert_eq!(s.calls, calls[id], "credential {id}");
        assert_eq!(s.failures, fails[id]);
        assert_eq!(s.successes, calls[id] - fails[id]);
        assert_eq!(s.by_class.pro, pro[id]);
        assert_eq!(s.by_class.flash, calls[id] - pro[id]);
        assert_eq!(
            s.errors.get("upstream_429").copied().unwrap_or(0),
            fails[id]
        );
        assert_eq!(s.today.total.used, calls[id]);
        assert_eq!(s.today.pro.used, pro[id]);
    }
    assert_eq!(stats.iter().map(|(_, s)| s.calls).sum::<u64>(), 240);

    usage.flush().await.unwrap();
    let counters = per_credential(
        &store,
        "SELECT credential_id, sum(calls) FROM usage_counters GROUP BY credential_id ORDER BY 1",
    )
    .await;
    assert_eq!(
        counters,
        vec![
            (1, calls[1] as i64),
            (2, calls[2] as i64),
            (3, calls[3] as i64)
        ]
    );
    let windows = per_credential(
        &store,
        "SELECT credential_id, sum(used) FROM quota_windows GROUP BY credential_id ORDER BY 1",
    )
    .await;
    assert_eq!(windows, counters, "today's window matches the counters");
    assert_eq!(
        scalar(&store, "SELECT sum(calls) FROM usage_daily").await,
        240
    );
    assert_eq!(
        scalar(
            &store,
            "SELECT sum(calls) FROM usage_daily WHERE outcome = 'upstream_429'"
        )
        .await,
        40
    );
    assert_eq!(
        scalar(&store, "SELECT sum(requests) FROM usage_daily_requests").await,
        200
    );
    assert_eq!(
        scalar(&store, "SELECT sum(requests) FROM usage_minute").await,
        200
    );
    assert_eq!(
        scalar(&store, "SELECT sum(retries) FROM usage_minute").await,
        40
    );
    assert_eq!(
        scalar(&store, "SELECT sum(prompt_tokens) FROM usage_minute").await,
        2000
    );

    let agg = usage.aggregated(7).await.unwrap();
    assert_eq!(agg.overall.requests, 200);
    assert_eq!(agg.overall.calls, 240);
    assert_eq!(agg.overall.request_success_rate, Some(1.0));
    assert_eq!(agg.overall.call_success_rate, Some(200.0 / 240.0));
    assert_eq!(agg.per_day.len(), 1);
    assert_eq!(agg.per_day[0].day, "2026-03-10");
    assert_eq!(agg.per_model.len(), 2);
    assert_eq!(
        agg.per_model.iter().map(|m| m.totals.requests).sum::<u64>(),
        200
    );
    usage.shutdown().await.unwrap();
}

#[tokio::test]
async fn restart_keeps_counters_window_and_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let ids = add_credentials(&store, 1).await;
    let id = ids[0];
    let clock = Arc::new(ManualClock::new(utc("2026-03-10T12:00:00Z")));
    let usage = start(&store, &clock, DefaultLimits::default(), quiet()).await;
    for _ in 0..3 {
        usage.record_call(call(id, PRO, Outcome::Success));
    }
    usage.record_call(call(id, FLASH, Outcome::UpstreamError(500)));
    usage
        .set_limits(
            id,
            LimitOverride {
                total: None,
                pro: Some(3),
            },
        )
        .await
        .unwrap();
    let before = usage.credential_stats(id);
    assert!(usage.over_quota(id, ModelClass::Pro).is_some());
    usage.shutdown().await.unwrap();
    drop(usage);

    let store = open(dir.path()).await;
    let usage = start(&store, &clock, DefaultLimits::default(), quiet()).await;
    assert_eq!(usage.credential_stats(id), before);
    assert_eq!(before.calls, 4);
    assert_eq!(before.today.pro.used, 3);
    assert_eq!(before.today.pro.limit, Some(3));
    assert!(before.today.pro.overridden);
    assert_eq!(
        usage.over_quota(id, ModelClass::Pro),
        Some(utc("2026-03-11T07:00:00Z"))
    );

    // A restart in the next window keeps the counters but not the window.
    usage.shutdown().await.unwrap();
    clock.set(utc("2026-03-11T07:00:00Z"));
    let usage = start(&store, &clock, DefaultLimits::default(), quiet()).await;
    let after = usage.credential_stats(id);
    assert_eq!(after.calls, 4);
    assert_eq!(after.today.total.used, 0);
    assert_eq!(usage.over_quota(id, ModelClass::Pro), None);
}

#[tokio::test]
async fn pro_limit_skips_pro_but_not_flash_until_the_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let clock = Arc::new(ManualClock::new(utc("2026-03-10T12:00:00Z")));
    let usage = start(&store, &clock, DefaultLimits { total: 0, pro: 2 }, quiet()).await;
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let mut pool = Pool::new(PoolConfig::default(), dyn_clock);
    pool.upsert(1, CredentialState::default());
    pool.upsert(2, CredentialState::default());
    let view = usage.quota_view();
    let quota: &dyn QuotaView = &view;

    usage.record_call(call(1, PRO, Outcome::Success));
    assert_eq!(usage.over_quota(1, ModelClass::Pro), None);
    usage.record_call(call(1, PRO, Outcome::UpstreamError(500)));
    let reset = utc("2026-03-11T07:00:00Z");
    assert_eq!(usage.over_quota(1, ModelClass::Pro), Some(reset));
    assert_eq!(usage.over_quota(1, ModelClass::Flash), None);
    assert_eq!(usage.over_quota(2, ModelClass::Pro), None);

    let pick = |pool: &mut Pool, model: &str, class| {
        pool.pick(model, class, &[], quota).map(|l| l.id).ok()
    };
    for _ in 0..4 {
        assert_eq!(
            pick(&mut pool, PRO, ModelClass::Pro),
            Some(2),
            "1 is over its pro limit"
        );
    }
    let flash: Vec<_> = (0..4)
        .map(|_| pick(&mut pool, FLASH, ModelClass::Flash))
        .collect();
    assert!(flash.contains(&Some(1)), "still used for flash: {flash:?}");
    // With 2 also at its pro limit nothing can serve pro.
    usage.record_call(call(2, PRO, Outcome::Success));
    usage.record_call(call(2, PRO, Outcome::Success));
    assert_eq!(pick(&mut pool, PRO, ModelClass::Pro), None);

    clock.set(utc("2026-03-11T06:59:59Z"));
    assert_eq!(usage.over_quota(1, ModelClass::Pro), Some(reset));
    clock.set(reset);
    assert_eq!(usage.over_quota(1, ModelClass::Pro), None);
    let pro: Vec<_> = (0..4)
        .map(|_| pick(&mut pool, PRO, ModelClass::Pro))
        .collect();
    assert!(pro.contains(&Some(1)) && pro.contains(&Some(2)), "{pro:?}");
    let s = usage.credential_stats(1);
    assert_eq!(
        (s.today.pro.used, s.calls),
        (0, 2),
        "new window, lifetime kept"
    );
    assert_eq!(s.today.next_reset, utc("2026-03-12T07:00:00Z"));
}

#[tokio::test]
async fn total_limit_counts_every_class_and_dst_moves_the_reset() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    // 2026-03-08 is the day DST starts in Los Angeles: midnight PDT of the 9th is 07:00 UTC.
    let clock = Arc::new(ManualClock::new(utc("2026-03-08T20:00:00Z")));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let rule = ResetRule {
        tz: chrono_tz::America::Los_Angeles,
        hour: 0,
    };
    let usage = UsageService::start_with(
        store.clone(),
        rule,
        DefaultLimits { total: 3, pro: 0 },
        dyn_clock,
        quiet(),
    )
    .await
    .unwrap();
    usage.record_call(call(1, FLASH, Outcome::Success));
    usage.record_call(call(1, "some-other-model", Outcome::Transport));
    assert_eq!(usage.over_quota(1, ModelClass::Flash), None);
    usage.record_call(call(1, PRO, Outcome::Success));
    let reset = utc("2026-03-09T07:00:00Z");
    for class in [ModelClass::Pro, ModelClass::Flash, ModelClass::Other] {
        assert_eq!(usage.over_quota(1, class), Some(reset));
    }
    let s = usage.credential_stats(1);
    assert_eq!((s.today.total.used, s.today.total.remaining), (3, Some(0)));
    assert_eq!(s.today.pro.limit, None, "0 = unlimited");
    assert_eq!(s.today.window_start, utc("2026-03-08T08:00:00Z"));

    // Raising the default frees it at once, and tells the pool to drop its parks.
    let released = Arc::new(Mutex::new(Vec::new()));
    let seen = released.clone();
    usage.on_quota_release(move |id| seen.lock().unwrap().push(id));
    usage.set_default_limits(DefaultLimits { total: 4, pro: 0 });
    assert_eq!(usage.over_quota(1, ModelClass::Flash), None);
    assert_eq!(*released.lock().unwrap(), vec![None]);
}

#[tokio::test]
async fn per_credential_override_and_unknown_credential() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let ids = add_credentials(&store, 2).await;
    let (a, b) = (ids[0], ids[1]);
    let clock = Arc::new(ManualClock::new(utc("2026-03-10T12:00:00Z")));
    let usage = start(&store, &clock, DefaultLimits::default(), quiet()).await;
    let released = Arc::new(Mutex::new(Vec::new()));
    let seen = released.clone();
    usage.on_quota_release(move |id| seen.lock().unwrap().push(id));

    let one_pro = LimitOverride {
        total: None,
        pro: Some(1),
    };
    usage.set_limits(a, one_pro).await.unwrap();
    usage.record_call(call(a, PRO, Outcome::Success));
    usage.record_call(call(b, PRO, Outcome::Success));
    assert!(usage.over_quota(a, ModelClass::Pro).is_some());
    assert_eq!(
        usage.over_quota(b, ModelClass::Pro),
        None,
        "b keeps the default 100"
    );
    assert_eq!(
        scalar(
            &store,
            "SELECT count(*) FROM quota_limits WHERE class = 'pro' AND daily_limit = 1"
        )
        .await,
        1
    );

    // Some(0) = unlimited for this credential, whatever the default.
    usage
        .set_limits(
            a,
            LimitOverride {
                total: Some(0),
                pro: Some(0),
            },
        )
        .await
        .unwrap();
    assert_eq!(usage.over_quota(a, ModelClass::Pro), None);
    // Back to the defaults: rows are gone.
    usage.set_limits(a, LimitOverride::default()).await.unwrap();
    assert_eq!(scalar(&store, "SELECT count(*) FROM quota_limits").await, 0);
    assert_eq!(*released.lock().unwrap(), vec![Some(a); 3]);

    let err = usage.set_limits(9999, one_pro).await.unwrap_err();
    assert!(matches!(err, UsageError::UnknownCredential(9999)), "{err}");
    assert_eq!(scalar(&store, "SELECT count(*) FROM quota_limits").await, 0);
}

#[tokio::test]
async fn reset_one_then_all_and_history_stays() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let clock = Arc::new(ManualClock::new(utc("2026-03-10T12:00:00Z")));
    let usage = start(&store, &clock, DefaultLimits { total: 2, pro: 0 }, quiet()).await;
    let released = Arc::new(Mutex::new(Vec::new()));
    let seen = released.clone();
    usage.on_quota_release(move |id| seen.lock().unwrap().push(id));
    for id in [1, 2] {
        usage.record_call(call(id, FLASH, Outcome::Success));
        usage.record_call(call(id, FLASH, Outcome::UpstreamError(403)));
    }
    assert!(usage.over_quota(1, ModelClass::Flash).is_some());

    usage.reset(Some(1)).await.unwrap();
    assert_eq!(usage.over_quota(1, ModelClass::Flash), None);
    assert!(usage.over_quota(2, ModelClass::Flash).is_some());
    assert_eq!(usage.credential_stats(1).calls, 0);
    assert_eq!(usage.credential_stats(2).calls, 2);
    assert_eq!(
        scalar(
            &store,
            "SELECT count(*) FROM usage_counters WHERE credential_id = 1"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(
            &store,
            "SELECT sum(calls) FROM usage_counters WHERE credential_id = 2"
        )
        .await,
        2
    );

    usage.reset(None).await.unwrap();
    assert_eq!(*released.lock().unwrap(), vec![Some(1), None]);
    usage.shutdown().await.unwrap();
    let usage = start(&store, &clock, DefaultLimits { total: 2, pro: 0 }, quiet()).await;
    for (_, s) in usage.all_stats() {
        assert_eq!((s.calls, s.today.total.used), (0, 0));
    }
    assert_eq!(
        scalar(&store, "SELECT sum(calls) FROM usage_daily").await,
        4,
        "history kept"
    );
}

#[tokio::test]
async fn retention_rolls_up_old_days_and_prunes_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let clock = Arc::new(ManualClock::new(utc("2026-01-01T12:00:00Z")));
    let usage = start(&store, &clock, unlimited(), quiet()).await;
    // Ten days of traffic, then forty days later one more.
    for day in 0..10 {
        for i in 0..3 {
            usage.record_call(call(i % 2 + 1, PRO, Outcome::Success));
            usage.record_request(request(Some(i % 2 + 1), PRO, Outcome::Success, 0));
        }
        usage.flush().await.unwrap();
        if day < 9 {
            clock.advance(Duration::from_secs(86_400));
        }
    }
    assert_eq!(
        scalar(&store, "SELECT count(DISTINCT day) FROM usage_daily").await,
        10
    );
    // 2026-01-10 is the last busy day; 41 days later the first 10 are past retention.
    clock.set(utc("2026-02-20T12:00:00Z"));
    usage.record_call(call(1, FLASH, Outcome::Success));
    usage.record_request(request(None, FLASH, Outcome::ClientError(400), 0));
    let report = usage.prune().await.unwrap();
    assert_eq!(report.minute_rows_deleted, 20, "10 minutes × 2 credentials");
    assert!(report.daily_rows_rolled_up > 0);

    let days = per_credential(
        &store,
        "SELECT day = 'total', sum(calls) FROM usage_daily GROUP BY day = 'total' ORDER BY 1",
    )
    .await;
    assert_eq!(
        days,
        vec![(0, 1), (1, 30)],
        "old rows folded into 'total', sums kept"
    );
    assert_eq!(
        scalar(
            &store,
            "SELECT count(*) FROM usage_daily WHERE day = 'total'"
        )
        .await,
        2,
        "one total row per (credential, model, outcome)"
    );
    assert_eq!(
        scalar(
            &store,
            "SELECT sum(requests) FROM usage_daily_requests WHERE day = 'total'"
        )
        .await,
        30
    );
    assert_eq!(
        scalar(&store, "SELECT sum(requests) FROM usage_minute").await,
        1
    );

    // A second pass is idempotent.
    let again = usage.prune().await.unwrap();
    assert_eq!(again.daily_rows_rolled_up, 0);
    let agg = usage.aggregated(30).await.unwrap();
    assert_eq!((agg.overall.calls, agg.overall.requests), (1, 1));
    assert_eq!(agg.overall.request_failures, 1);
    assert_eq!(
        agg.per_credential[0].credential_id, 0,
        "unserved requests count under 0"
    );
    assert_eq!(agg.first_day, "2026-01-22");
    assert_eq!(agg.last_day, "2026-02-20");
}

#[tokio::test]
async fn graceful_shutdown_persists_every_counter() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let clock = Arc::new(ManualClock::new(utc("2026-03-10T12:00:00Z")));
    let usage = start(&store, &clock, unlimited(), quiet()).await;
    for i in 0..500 {
        usage.record_call(call(i % 7 + 1, PRO, Outcome::Success));
        usage.record_request(request(Some(i % 7 + 1), PRO, Outcome::Success, 0));
    }
    assert_eq!(
        scalar(&store, "SELECT count(*) FROM usage_counters").await,
        0,
        "nothing flushed yet"
    );
    usage.shutdown().await.unwrap();
    assert_eq!(
        scalar(&store, "SELECT sum(calls) FROM usage_counters").await,
        500
    );
    assert_eq!(
        scalar(&store, "SELECT sum(used) FROM quota_windows").await,
        500
    );
    assert_eq!(
        scalar(&store, "SELECT sum(calls) FROM usage_daily").await,
        500
    );
    assert_eq!(
        scalar(&store, "SELECT sum(requests) FROM usage_minute").await,
        500
    );
}

#[tokio::test]
async fn aggregation_keeps_rows_per_key_not_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let clock = Arc::new(ManualClock::new(utc("2026-03-10T12:00:00Z")));
    let usage = start(&store, &clock, unlimited(), quiet()).await;
    // 2 000 requests over 10 minutes, 3 credentials and 2 models: 60 keys.
    for i in 0..2000u64 {
        if i % 200 == 0 && i > 0 {
            clock.advance(Duration::from_secs(60));
        }
        let model = if i % 2 == 0 { PRO } else { FLASH };
        usage.record_request(request(
            Some((i % 3) as CredId + 1),
            model,
            Outcome::Success,
            0,
        ));
    }
    usage.flush().await.unwrap();
    assert_eq!(
        scalar(&store, "SELECT count(*) FROM usage_minute").await,
        60
    );
    assert_eq!(
        scalar(&store, "SELECT sum(requests) FROM usage_minute").await,
        2000
    );
    assert_eq!(
        scalar(&store, "SELECT sum(latency_ms_sum) FROM usage_minute").await,
        200_000
    );
    assert_eq!(
        scalar(&store, "SELECT sum(ttfb_count) FROM usage_minute").await,
        2000
    );
}

/// Not a test on its own: the child process of `sigkill_loses_at_most_one_batch`. Records N
/// calls, waits until the periodic flusher has written them, records M more and signals the
/// parent, which kills it before the next flush is due.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "helper process for the SIGKILL test"]
async fn usage_crash_child() {
    let (Ok(db), Ok(marker)) = (std::env::var(CRASH_DB_ENV), std::env::var(CRASH_MARKER_ENV))
    else {
        return;
    };
    let store = Store::open_in(Path::new(&db)).await.unwrap();
    let clock = Arc::new(ManualClock::new(utc("2026-03-10T12:00:00Z")));
    let opts = UsageOptions {
        flush_interval: Duration::from_secs(3),
        ..quiet()
    };
    let usage = start(&store, &clock, unlimited(), opts).await;
    for i in 0..CRASH_N {
        usage.record_call(call(i % 3 + 1, PRO, Outcome::Success));
    }
    while scalar(&store, "SELECT sum(calls) FROM usage_counters").await < CRASH_N {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for i in 0..CRASH_M {
        usage.record_call(call(i % 3 + 1, PRO, Outcome::Success));
    }
    std::fs::write(&marker, b"recorded").unwrap();
    tokio::time::sleep(Duration::from_secs(600)).await;
}

const CRASH_N: i64 = 90;
const CRASH_M: i64 = 45;

#[tokio::test]
async fn sigkill_loses_at_most_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let marker = dir.path().join("marker");
    drop(Store::open_in(&db).await.unwrap());

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            &test_name(module_path!(), "usage_crash_child"),
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CRASH_DB_ENV, &db)
        .env(CRASH_MARKER_ENV, &marker)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !marker.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "child made no progress"
        );
        assert!(child.try_wait().unwrap().is_none(), "child exited early");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // SIGKILL: no destructors, no final flush.
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success());

    let store = Store::open_in(&db).await.unwrap();
    let counters = scalar(&store, "SELECT sum(calls) FROM usage_counters").await;
    let history = scalar(&store, "SELECT sum(calls) FROM usage_daily").await;
    let window = scalar(&store, "SELECT sum(used) FROM quota_windows").await;
    assert_eq!(
        (counters, history, window),
        (CRASH_N, CRASH_N, CRASH_N),
        "the flushed batch survives whole; the unflushed one (at most one interval) is lost"
    );
    let clock = Arc::new(ManualClock::new(utc("2026-03-10T12:30:00Z")));
    let usage = start(&store, &clock, unlimited(), quiet()).await;
    let total: u64 = usage.all_stats().iter().map(|(_, s)| s.calls).sum();
    assert_eq!(total as i64, CRASH_N);
    assert!(total as i64 <= CRASH_N + CRASH_M);
}

#[tokio::test]
async fn changing_the_reset_rule_carries_todays_counts() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    // 12:00 UTC: under the default rule the window began 07:00 UTC; under Los Angeles midnight
    // (PDT in June) it also began 07:00 UTC, so use Shanghai 07:00 (23:00 UTC the day before).
    let clock = Arc::new(ManualClock::new(utc("2026-06-10T12:00:00Z")));
    let usage = start(&store, &clock, DefaultLimits { total: 2, pro: 0 }, quiet()).await;
    usage.record_call(call(1, FLASH, Outcome::Success));
    usage.record_call(call(1, FLASH, Outcome::Success));
    assert_eq!(
        usage.over_quota(1, ModelClass::Flash),
        Some(utc("2026-06-11T07:00:00Z"))
    );
    let shanghai = ResetRule {
        tz: chrono_tz::Asia::Shanghai,
        hour: 7,
    };
    usage.set_rule(shanghai);
    assert_eq!(
        usage.over_quota(1, ModelClass::Flash),
        Some(utc("2026-06-10T23:00:00Z")),
        "no fresh allowance from a rule change; the new boundary applies"
    );
    usage.shutdown().await.unwrap();

    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let usage = UsageService::start_with(
        store.clone(),
        shanghai,
        DefaultLimits { total: 2, pro: 0 },
        dyn_clock,
        quiet(),
    )
    .await
    .unwrap();
    assert_eq!(
        usage.credential_stats(1).today.total.used,
        2,
        "persisted under the new window"
    );
    clock.set(utc("2026-06-10T23:00:00Z"));
    assert_eq!(usage.over_quota(1, ModelClass::Flash), None);
}

#[tokio::test]
async fn a_failed_flush_loses_nothing_and_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let clock = Arc::new(ManualClock::new(utc("2026-03-10T12:00:00Z")));
    let usage = start(&store, &clock, unlimited(), quiet()).await;
    for _ in 0..5 {
        usage.record_call(call(1, PRO, Outcome::Success));
        usage.record_request(request(Some(1), PRO, Outcome::Success, 0));
    }
    let rename = |sql: &'static str| {
        let store = store.clone();
        async move {
            store
                .call(move |c| Ok(c.execute_batch(sql)?))
                .await
                .unwrap()
        }
    };
    rename("ALTER TABLE usage_daily RENAME TO usage_daily_away").await;
    assert!(usage.flush().await.is_err());
    assert_eq!(
        scalar(&store, "SELECT count(*) FROM usage_counters").await,
        0,
        "the batch rolled back whole"
    );
    usage.record_call(call(1, PRO, Outcome::Success));
    rename("ALTER TABLE usage_daily_away RENAME TO usage_daily").await;
    usage.flush().await.unwrap();
    assert_eq!(
        scalar(&store, "SELECT sum(calls) FROM usage_counters").await,
        6
    );
    assert_eq!(
        scalar(&store, "SELECT sum(calls) FROM usage_daily").await,
        6
    );
    assert_eq!(
        scalar(&store, "SELECT sum(requests) FROM usage_minute").await,
        5
    );
    assert_eq!(
        scalar(&store, "SELECT sum(used) FROM quota_windows").await,
        6
    );
}

#[tokio::test]
async fn every_surface_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let clock = Arc::new(ManualClock::new(utc("2026-03-10T12:00:00Z")));
    let usage = start(&store, &clock, unlimited(), quiet()).await;
    for surface in [Surface::OpenAi, Surface::Gemini, Surface::Anthropic] {
        usage.record_request(RequestRecord {
            surface,
            ..request(Some(1), PRO, Outcome::Success, 0)
        });
    }
    usage.flush().await.unwrap();
    assert_eq!(usage.rejected_rows(), 0);
    let rows = per_credential(
        &store,
        "SELECT count(DISTINCT surface), sum(requests) FROM usage_minute",
    )
    .await;
    assert_eq!(rows, vec![(3, 3)], "one row per surface, none refused");
}

#[tokio::test]
async fn a_refused_row_is_set_aside_and_the_rest_of_the_batch_lands() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store
        .call(|c| {
            Ok(c.execute_batch(
                "CREATE TRIGGER poison BEFORE INSERT ON usage_minute
                 WHEN NEW.base_model = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END;",
            )?)
        })
        .await
        .unwrap();
    let clock = Arc::new(ManualClock::new(utc("2026-03-10T12:00:00Z")));
    let usage = start(&store, &clock, unlimited(), quiet()).await;
    usage.record_request(request(Some(1), "poison", Outcome::Success, 0));
    for _ in 0..4 {
        usage.record_call(call(1, PRO, Outcome::Success));
        usage.record_request(request(Some(1), PRO, Outcome::Success, 0));
    }
    usage.flush().await.unwrap();
    assert_eq!(usage.rejected_rows(), 1, "only the poisoned row is refused");
    assert_eq!(
        scalar(&store, "SELECT sum(requests) FROM usage_minute").await,
        4
    );
    // The refused row is not retried forever: the next flush writes new rows and nothing else fails.
    usage.record_request(request(Some(1), PRO, Outcome::Success, 0));
    usage.flush().await.unwrap();
    assert_eq!(usage.rejected_rows(), 1);
    assert_eq!(
        scalar(&store, "SELECT sum(requests) FROM usage_minute").await,
        5
    );
    assert_eq!(
        scalar(&store, "SELECT sum(calls) FROM usage_daily").await,
        4
    );
}

/// A flush writes only the rows that changed since the last one, and a row that went back to
/// zero (use carried over to a re-imported credential) is written as zero, so a restart reads
/// what memory held.
#[tokio::test]
async fn a_flush_writes_only_changed_rows_and_a_carried_over_credential_reads_zero() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let ids = add_credentials(&store, 2).await;
    let (old, new) = (ids[0], ids[1]);
    let clock = Arc::new(ManualClock::new(utc("2026-03-10T12:00:00Z")));
    let usage = start(&store, &clock, unlimited(), quiet()).await;
    usage.record_call(call(old, PRO, Outcome::Success));
    usage.record_call(call(old, FLASH, Outcome::Success));
    usage.flush().await.unwrap();

    // Marks on the stored rows: a row the next flush rewrites loses its mark.
    store
        .call(|c| {
            c.execute_batch(
                "UPDATE quota_windows SET used = 99 WHERE class = 'flash';
                 UPDATE usage_counters SET calls = 77 WHERE class = 'flash';",
            )?;
            Ok(())
        })
        .await
        .unwrap();
    usage.record_call(call(old, PRO, Outcome::Success));
    usage.flush().await.unwrap();
    let q = "SELECT class, used FROM quota_windows ORDER BY class";
    let rows: Vec<(String, i64)> = store
        .call(move |c| {
            let mut st = c.prepare(q)?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
        .unwrap();
    assert_eq!(rows, [("flash".to_string(), 99), ("pro".to_string(), 2)]);
    assert_eq!(
        scalar(
            &store,
            "SELECT calls FROM usage_counters WHERE class = 'flash'"
        )
        .await,
        77
    );
    assert_eq!(
        scalar(
            &store,
            "SELECT calls FROM usage_counters WHERE class = 'pro'"
        )
        .await,
        2
    );

    // The carried-over credential's classes go to zero in the file too.
    usage.carry_over(&[old], new);
    usage.shutdown().await.unwrap();
    drop(usage);
    let usage = start(&store, &clock, unlimited(), quiet()).await;
    assert_eq!(usage.credential_stats(old).today.total.used, 0);
    assert_eq!(usage.credential_stats(new).today.pro.used, 2);
    assert_eq!(usage.credential_stats(new).today.total.used, 3);
}

/// A class whose row holds an earlier window is not rewritten while memory agrees it is zero
/// today, and is written as zero when a rule change brings that window back: a restart never
/// revives use that was carried away.
#[tokio::test]
async fn a_row_of_an_earlier_window_is_zeroed_when_its_window_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let ids = add_credentials(&store, 2).await;
    let (old, new) = (ids[0], ids[1]);
    let clock = Arc::new(ManualClock::new(utc("2026-06-10T12:00:00Z")));
    let usage = start(&store, &clock, unlimited(), quiet()).await;
    for _ in 0..5 {
        usage.record_call(call(old, FLASH, Outcome::Success));
    }
    usage.flush().await.unwrap();
    let default_rule = ResetRule::default();
    let shanghai = ResetRule {
        tz: chrono_tz::Asia::Shanghai,
        hour: 7,
    };
    usage.set_rule(shanghai);
    usage.carry_over(&[old], new);
    usage.flush().await.unwrap();
    usage.set_rule(default_rule);
    usage.shutdown().await.unwrap();
    drop(usage);

    let usage = start(&store, &clock, unlimited(), quiet()).await;
    assert_eq!(usage.credential_stats(old).today.total.used, 0);
    assert_eq!(usage.credential_stats(new).today.total.used, 5);
}
