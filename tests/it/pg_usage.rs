//! Usage counters and quotas on PostgreSQL (the throwaway cluster of `pg_cluster`): the same
//! operations give the same results as on SQLite; two instances sharing one database count
//! exactly; a database outage loses no count, and past the outage buffer the service says it
//! refuses rather than serve uncounted.
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use gcli2api::pool::{Clock, CredId, ManualClock, ModelClass};
use gcli2api::store::Store;
use gcli2api::store::db::Db;
use gcli2api::store::location::PgUrl;
use gcli2api::usage::{
    CallRecord, DefaultLimits, LimitOverride, Outcome, RequestRecord, ResetRule, Surface,
    UsageError, UsageOptions, UsageService,
};

use crate::pg_cluster;

const PRO: &str = "gemini-2.5-pro";
const FLASH: &str = "gemini-2.5-flash";

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn unlimited() -> DefaultLimits {
    DefaultLimits { total: 0, pro: 0 }
}

/// Only explicit flushes write.
fn quiet() -> UsageOptions {
    UsageOptions {
        flush_interval: Duration::from_secs(3600),
        prune_interval: Duration::from_secs(1 << 30),
        ..UsageOptions::default()
    }
}

async fn pg_store(url: &str) -> Store {
    Store::open_postgres(PgUrl::parse(url, "test").unwrap())
        .await
        .unwrap()
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

/// Runs SQL text that both backends read alike.
async fn exec(store: &Store, sql: &'static str) {
    store
        .run_tx(move |db| {
            match db {
                Db::Sqlite(c) => c.execute_batch(sql)?,
                Db::Postgres(tx) => tx.batch_execute(sql)?,
            }
            Ok(())
        })
        .await
        .unwrap()
}

/// One integer from SQL text that both backends read alike (NULL reads as 0).
async fn scalar(store: &Store, sql: &'static str) -> i64 {
    store
        .run(move |db| {
            Ok(match db {
                Db::Sqlite(c) => c.query_row(sql, [], |r| r.get::<_, Option<i64>>(0))?,
                Db::Postgres(tx) => tx.query_one(sql, &[])?.get::<_, Option<i64>>(0),
            }
            .unwrap_or(0))
        })
        .await
        .unwrap()
}

async fn add_credentials(store: &Store) {
    exec(
        store,
        "INSERT INTO credentials (id, name, source, payload_json, created_at, updated_at)
         VALUES (1, 'c1', 'upload', '{}', 0, 0), (2, 'c2', 'upload', '{}', 0, 0),
                (3, 'c3', 'upload', '{}', 0, 0)",
    )
    .await;
}

fn call(id: CredId, model: &str, outcome: Outcome) -> CallRecord {
    CallRecord {
        credential_id: id,
        base_model: model.into(),
        outcome,
    }
}

fn request(id: Option<CredId>, model: &str, outcome: Outcome, i: usize) -> RequestRecord {
    RequestRecord {
        credential_id: id,
        base_model: model.into(),
        requested_model: format!("{model}-search"),
        surface: [
            Surface::OpenAi,
            Surface::Gemini,
            Surface::Anthropic,
            Surface::Responses,
        ][i % 4],
        stream: i % 2 == 0,
        outcome,
        prompt_tokens: 10 + i as u64,
        completion_tokens: 5,
        reasoning_tokens: 2,
        latency: Duration::from_millis(100 + i as u64),
        ttfb: (i % 3 != 0).then(|| Duration::from_millis(20)),
        retries: u32::from(i % 5 == 0),
        key_id: (i % 3) as i64,
    }
}

/// Request `i`: every fifth fails with a 429 on one credential and is retried on the next.
fn record(usage: &UsageService, i: usize) {
    let model = if i % 2 == 0 { PRO } else { FLASH };
    let first = (i % 3) as CredId + 1;
    if i % 5 == 0 {
        let second = first % 3 + 1;
        usage.record_call(call(first, model, Outcome::UpstreamError(429)));
        usage.record_call(call(second, model, Outcome::Success));
        usage.record_request(request(Some(second), model, Outcome::Success, i));
    } else if i % 7 == 0 {
        usage.record_call(call(first, model, Outcome::Transport));
        usage.record_request(request(Some(first), model, Outcome::Transport, i));
    } else {
        usage.record_call(call(first, model, Outcome::Success));
        usage.record_request(request(Some(first), model, Outcome::Success, i));
    }
}

/// Everything the usage service answers, as text to compare across backends.
async fn observe(usage: &UsageService, out: &mut Vec<String>) {
    for (id, s) in usage.all_stats() {
        out.push(format!("stats {id}: {s:?}"));
    }
    out.push(format!(
        "aggregated: {:?}",
        usage.aggregated(7).await.unwrap()
    ));
    for series in [
        usage.hourly_series().await.unwrap(),
        usage.daily_series().await.unwrap(),
    ] {
        let mut points: Vec<String> = series.points.iter().map(|p| format!("{p:?}")).collect();
        points.sort();
        out.push(format!(
            "series {:?} {:?}: {points:?}",
            series.hours, series.days
        ));
    }
    for id in 1..=3 {
        for class in [ModelClass::Pro, ModelClass::Flash] {
            out.push(format!(
                "over {id} {class:?}: {:?}",
                usage.over_quota(id, class)
            ));
        }
    }
}

/// The whole usage life cycle on one store: records over two days, limits, reset, restart,
/// retention. Returns what the service answered at each step.
async fn exercise(store: &Store) -> Vec<String> {
    add_credentials(store).await;
    let clock = Arc::new(ManualClock::new(utc("2026-03-10T12:00:00Z")));
    let opts = UsageOptions {
        daily_retention_days: 1,
        minute_retention: Duration::from_secs(24 * 3600),
        ..quiet()
    };
    let limits = DefaultLimits { total: 40, pro: 15 };
    let usage = start(store, &clock, limits, opts.clone()).await;
    let mut out = Vec::new();
    for i in 0..60 {
        record(&usage, i);
    }
    usage.flush().await.unwrap();
    usage
        .set_limits(
            2,
            LimitOverride {
                total: Some(100),
                pro: None,
            },
        )
        .await
        .unwrap();
    let unknown = usage.set_limits(9, LimitOverride::default()).await;
    out.push(format!(
        "unknown: {}",
        matches!(unknown, Err(UsageError::UnknownCredential(9)))
    ));
    observe(&usage, &mut out).await;

    clock.set(utc("2026-03-10T15:30:00Z"));
    for i in 60..90 {
        record(&usage, i);
    }
    usage.reset(Some(1)).await.unwrap();
    for i in 90..100 {
        record(&usage, i);
    }
    observe(&usage, &mut out).await;

    // Restart: counters, today's window and overrides come back as they were.
    usage.shutdown().await.unwrap();
    drop(usage);
    let usage = start(store, &clock, limits, opts.clone()).await;
    observe(&usage, &mut out).await;

    // The next days: a new window, then retention folds the first day into totals.
    clock.set(utc("2026-03-11T09:00:00Z"));
    for i in 100..120 {
        record(&usage, i);
    }
    observe(&usage, &mut out).await;
    clock.set(utc("2026-03-13T09:00:00Z"));
    out.push(format!("prune: {:?}", usage.prune().await.unwrap()));
    out.push(format!("prune again: {:?}", usage.prune().await.unwrap()));
    observe(&usage, &mut out).await;
    for sql in [
        "SELECT count(*) FROM usage_minute",
        "SELECT CAST(sum(calls) AS BIGINT) FROM usage_daily WHERE day = 'total'",
        "SELECT CAST(sum(requests) AS BIGINT) FROM usage_daily_requests WHERE day = 'total'",
        "SELECT CAST(sum(requests) AS BIGINT) FROM usage_key_daily WHERE day = 'total'",
        "SELECT CAST(sum(calls) AS BIGINT) FROM usage_counters",
        "SELECT CAST(sum(used) AS BIGINT) FROM quota_windows",
    ] {
        out.push(format!("{sql}: {}", scalar(store, sql).await));
    }
    usage.shutdown().await.unwrap();
    out
}

/// The same life cycle on SQLite and on PostgreSQL answers the same, step by step.
#[tokio::test(flavor = "multi_thread")]
async fn usage_alike_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(dir.path()).await.unwrap();
    let postgres = pg_store(&pg_cluster::fresh_database("usage_alike")).await;
    let a = exercise(&sqlite).await;
    let b = exercise(&postgres).await;
    assert!(a.len() > 20, "{a:?}");
    assert!(
        a.iter().any(|l| l.contains("over") && l.contains("Some(")),
        "a limit is reached in the scenario: {a:#?}"
    );
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y);
    }
    assert_eq!(a.len(), b.len());
}

/// Two instances (two stores, two usage services, each with its own flusher running every
/// 5 ms) on one database take 400 requests split between them, concurrently: every total in
/// the database is exact, and after one more flush each both instances see the shared count
/// of every credential in memory, so a limit reached through one instance's calls is
/// enforced by the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_sharing_one_database_count_exactly() {
    let url = pg_cluster::fresh_database("usage_two");
    let (sa, sb) = (pg_store(&url).await, pg_store(&url).await);
    let clock = Arc::new(ManualClock::new(utc("2026-03-10T12:00:00Z")));
    let opts = UsageOptions {
        flush_interval: Duration::from_millis(5),
        ..quiet()
    };
    let a = start(&sa, &clock, unlimited(), opts.clone()).await;
    let b = start(&sb, &clock, unlimited(), opts).await;

    let mut tasks = Vec::new();
    for i in 0..400 {
        let usage = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            if i % 10 == 0 {
                tokio::task::yield_now().await;
            }
            let id = (i % 3) as CredId + 1;
            let model = if i % 4 < 2 { PRO } else { FLASH };
            usage.record_call(call(id, model, Outcome::Success));
            usage.record_request(request(Some(id), model, Outcome::Success, i));
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    a.flush().await.unwrap();
    b.flush().await.unwrap();
    a.flush().await.unwrap();

    for (sql, want) in [
        ("SELECT CAST(sum(calls) AS BIGINT) FROM usage_counters", 400),
        ("SELECT CAST(sum(used) AS BIGINT) FROM quota_windows", 400),
        ("SELECT CAST(sum(calls) AS BIGINT) FROM usage_daily", 400),
        (
            "SELECT CAST(sum(requests) AS BIGINT) FROM usage_daily_requests",
            400,
        ),
        (
            "SELECT CAST(sum(requests) AS BIGINT) FROM usage_minute",
            400,
        ),
        (
            "SELECT CAST(sum(requests) AS BIGINT) FROM usage_key_daily",
            400,
        ),
    ] {
        assert_eq!(scalar(&sa, sql).await, want, "{sql}");
    }
    let per_cred = [134u64, 133, 133];
    for (usage, name) in [(&a, "a"), (&b, "b")] {
        for (i, want) in per_cred.iter().enumerate() {
            let s = usage.credential_stats(i as CredId + 1);
            assert_eq!(s.today.total.used, *want, "{name}: credential {}", i + 1);
        }
    }
    assert_eq!(a.unflushed(), 0);
    assert_eq!(b.unflushed(), 0);

    // A limit of 150 on credential 1: instance A makes 20 more calls, and instance B, which
    // made none of them, refuses the credential after its next flush.
    b.set_default_limits(DefaultLimits { total: 150, pro: 0 });
    assert_eq!(b.over_quota(1, ModelClass::Flash), None);
    for _ in 0..20 {
        a.record_call(call(1, FLASH, Outcome::Success));
    }
    a.flush().await.unwrap();
    b.flush().await.unwrap();
    assert!(b.over_quota(1, ModelClass::Flash).is_some());
    assert_eq!(b.credential_stats(1).today.total.used, 154);
    assert_eq!(b.over_quota(2, ModelClass::Flash), None);

    // An override set through one instance reaches the other on its next flush (a raised
    // limit lets the credential serve again there).
    a.set_limits(
        1,
        LimitOverride {
            total: Some(1000),
            pro: None,
        },
    )
    .await
    .unwrap_err();
    exec(
        &sa,
        "INSERT INTO credentials (id, name, source, payload_json, created_at, updated_at)
         VALUES (1, 'c1', 'upload', '{}', 0, 0)",
    )
    .await;
    let raised = LimitOverride {
        total: Some(1000),
        pro: None,
    };
    a.set_limits(1, raised).await.unwrap();
    b.flush().await.unwrap();
    assert_eq!(b.over_quota(1, ModelClass::Flash), None);
    assert_eq!(b.credential_stats(1).today.total.limit, Some(1000));

    // A reset through one instance zeroes the shared rows; the other sees it on its next flush.
    a.reset(Some(1)).await.unwrap();
    b.flush().await.unwrap();
    assert_eq!(b.credential_stats(1).today.total.used, 0);
    assert_eq!(b.over_quota(1, ModelClass::Flash), None);
    assert_eq!(
        scalar(&sa, "SELECT CAST(sum(used) AS BIGINT) FROM quota_windows").await,
        266
    );
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// Admin connection to the cluster (the blocking client, on its own thread).
fn admin(sql: String) {
    let url = pg_cluster::cluster().url("postgres");
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute(&sql).unwrap();
    })
    .join()
    .unwrap();
}

/// Takes database `db` away: no new connection is accepted and the open ones are closed.
fn outage(db: &str) {
    admin(format!(
        "ALTER DATABASE {db} ALLOW_CONNECTIONS false;
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = '{db}' AND pid <> pg_backend_pid();"
    ));
}

fn recover(db: &str) {
    admin(format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true"));
}

async fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The database goes away mid-load: counting goes on in memory, the store reports unhealthy,
/// and past the buffer's bound the service refuses (never counts silently). When the
/// database is back, every count lands, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_loses_no_count_and_past_the_bound_refuses() {
    let url = pg_cluster::fresh_database("usage_outage");
    let db = url.rsplit('/').next().unwrap().to_string();
    let store = pg_store(&url).await;
    let clock = Arc::new(ManualClock::new(utc("2026-03-10T12:00:00Z")));
    let opts = UsageOptions {
        flush_interval: Duration::from_millis(50),
        max_unflushed: 120,
        ..quiet()
    };
    let usage = start(&store, &clock, unlimited(), opts).await;
    for _ in 0..100 {
        usage.record_call(call(1, PRO, Outcome::Success));
    }
    wait_for("the first flush", Duration::from_secs(10), || {
        usage.unflushed() == 0
    })
    .await;
    assert!(usage.store_healthy());

    outage(&db);
    // Counted while the database is away (one record each): under the bound, served.
    for _ in 0..100 {
        usage.record_call(call(1, PRO, Outcome::Success));
    }
    wait_for(
        "the store to report unhealthy",
        Duration::from_secs(30),
        || !usage.store_healthy(),
    )
    .await;
    assert!(!usage.refusing(), "100 records are within the bound of 120");
    assert_eq!(usage.credential_stats(1).today.total.used, 200);
    for _ in 0..30 {
        usage.record_call(call(2, FLASH, Outcome::Success));
    }
    assert!(usage.refusing(), "130 unwritten records are past the bound");
    assert!(usage.unflushed() >= 130);

    recover(&db);
    wait_for("the buffer to be written", Duration::from_secs(30), || {
        usage.store_healthy() && usage.unflushed() == 0
    })
    .await;
    assert!(!usage.refusing(), "serving again once written");
    usage.flush().await.unwrap();
    for (sql, want) in [
        ("SELECT CAST(sum(calls) AS BIGINT) FROM usage_counters", 230),
        (
            "SELECT CAST(sum(used) AS BIGINT) FROM quota_windows WHERE credential_id = 1",
            200,
        ),
        ("SELECT CAST(sum(used) AS BIGINT) FROM quota_windows", 230),
        ("SELECT CAST(sum(calls) AS BIGINT) FROM usage_daily", 230),
    ] {
        assert_eq!(scalar(&store, sql).await, want, "{sql}");
    }
    assert_eq!(usage.credential_stats(1).today.total.used, 200);
    usage.shutdown().await.unwrap();
}

/// A row the schema refuses (here a trigger's RAISE) is set aside on PostgreSQL as on
/// SQLite: the rest of the batch lands, and the refused row is not retried forever.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_row_is_set_aside_on_postgres() {
    let store = pg_store(&pg_cluster::fresh_database("usage_poison")).await;
    exec(
        &store,
        "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.base_model = 'poison' THEN RAISE EXCEPTION 'poisoned row'; END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER poison BEFORE INSERT ON usage_minute
           FOR EACH ROW EXECUTE FUNCTION poison();",
    )
    .await;
    let clock = Arc::new(ManualClock::new(utc("2026-03-10T12:00:00Z")));
    let usage = start(&store, &clock, unlimited(), quiet()).await;
    usage.record_request(request(Some(1), "poison", Outcome::Success, 1));
    for i in 0..4 {
        usage.record_call(call(1, PRO, Outcome::Success));
        usage.record_request(request(Some(1), PRO, Outcome::Success, i));
    }
    usage.flush().await.unwrap();
    assert_eq!(usage.rejected_rows(), 1, "only the poisoned row is refused");
    let minute = "SELECT CAST(sum(requests) AS BIGINT) FROM usage_minute";
    assert_eq!(scalar(&store, minute).await, 4);
    assert_eq!(
        scalar(
            &store,
            "SELECT CAST(sum(used) AS BIGINT) FROM quota_windows"
        )
        .await,
        4
    );
    usage.record_request(request(Some(1), PRO, Outcome::Success, 9));
    usage.flush().await.unwrap();
    assert_eq!(usage.rejected_rows(), 1);
    assert_eq!(scalar(&store, minute).await, 5);
    assert_eq!(usage.credential_stats(1).today.total.used, 4);
    usage.shutdown().await.unwrap();
}

/// Two instances under steady load (a record every millisecond or so on each, flushing every
/// 20 ms) while their shared database goes away and comes back: every record lands exactly
/// once, and both instances end with the same, exact view of every credential.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_loaded_through_an_outage_lose_nothing() {
    let url = pg_cluster::fresh_database("usage_outage_load");
    let db = url.rsplit('/').next().unwrap().to_string();
    let (sa, sb) = (pg_store(&url).await, pg_store(&url).await);
    let clock = Arc::new(ManualClock::new(utc("2026-03-10T12:00:00Z")));
    let opts = UsageOptions {
        flush_interval: Duration::from_millis(20),
        ..quiet()
    };
    let a = start(&sa, &clock, unlimited(), opts.clone()).await;
    let b = start(&sb, &clock, unlimited(), opts).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = |usage: UsageService, seed: usize| {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut n = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let id = ((n + seed) % 3) as CredId + 1;
                usage.record_call(call(
                    id,
                    if n % 2 == 0 { PRO } else { FLASH },
                    Outcome::Success,
                ));
                n += 1;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            n
        })
    };
    let (la, lb) = (load(a.clone(), 0), load(b.clone(), 1));
    tokio::time::sleep(Duration::from_millis(300)).await;
    outage(&db);
    wait_for(
        "both stores to report unhealthy",
        Duration::from_secs(30),
        || !a.store_healthy() && !b.store_healthy(),
    )
    .await;
    recover(&db);
    wait_for("both stores to recover", Duration::from_secs(30), || {
        a.store_healthy() && b.store_healthy()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let total = (la.await.unwrap() + lb.await.unwrap()) as i64;
    for u in [&a, &b, &a] {
        u.flush().await.unwrap();
    }
    assert!(total > 100, "the load ran throughout: {total}");
    for sql in [
        "SELECT CAST(sum(calls) AS BIGINT) FROM usage_counters",
        "SELECT CAST(sum(used) AS BIGINT) FROM quota_windows",
        "SELECT CAST(sum(calls) AS BIGINT) FROM usage_daily",
    ] {
        // Nothing is lost. Not asserted: exactly once. A flush whose COMMIT reached the
        // server but whose answer was cut off by the outage is sent again by the next flush
        // (the instance cannot tell it landed), so that one flush counts twice; this test
        // cuts connections every few milliseconds and meets that now and then.
        let stored = scalar(&sa, sql).await;
        assert!(stored >= total, "{sql}: {stored} stored, {total} counted");
    }
    let used = scalar(&sa, "SELECT CAST(sum(used) AS BIGINT) FROM quota_windows").await;
    let view = |u: &UsageService| -> Vec<u64> {
        (1..=3)
            .map(|id| u.credential_stats(id).today.total.used)
            .collect()
    };
    assert_eq!(view(&a), view(&b));
    assert_eq!(view(&a).iter().sum::<u64>() as i64, used);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// A reset rule change applied on both instances carries today's shared count into the new
/// window once, not once per instance: the rows move in the database (an idempotent move
/// both flushes apply), and each instance then sends only what it counted since.
#[tokio::test(flavor = "multi_thread")]
async fn a_rule_change_on_two_instances_carries_the_count_once() {
    let url = pg_cluster::fresh_database("usage_rule");
    let (sa, sb) = (pg_store(&url).await, pg_store(&url).await);
    let clock = Arc::new(ManualClock::new(utc("2026-03-10T12:00:00Z")));
    let a = start(&sa, &clock, unlimited(), quiet()).await;
    let b = start(&sb, &clock, unlimited(), quiet()).await;
    for _ in 0..10 {
        a.record_call(call(1, PRO, Outcome::Success));
        b.record_call(call(1, FLASH, Outcome::Success));
    }
    for u in [&a, &b, &a] {
        u.flush().await.unwrap();
    }
    assert_eq!(a.credential_stats(1).today.total.used, 20);
    // Reset at 10:00 UTC instead of 07:00: today's window now starts three hours later.
    let rule = ResetRule {
        tz: chrono_tz::UTC,
        hour: 10,
    };
    a.set_rule(rule);
    b.set_rule(rule);
    a.record_call(call(1, PRO, Outcome::Success));
    b.record_call(call(1, PRO, Outcome::Success));
    for u in [&a, &b, &a] {
        u.flush().await.unwrap();
    }
    for (u, name) in [(&a, "a"), (&b, "b")] {
        let s = u.credential_stats(1);
        assert_eq!(s.today.total.used, 22, "{name}");
        assert_eq!(s.today.window_start, utc("2026-03-10T10:00:00Z"), "{name}");
    }
    assert_eq!(
        scalar(
            &sa,
            "SELECT CAST(sum(used) AS BIGINT) FROM quota_windows WHERE window_start = 1773136800000"
        )
        .await,
        22
    );
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}
