//! The bench machinery in a tiny configuration: structure and correctness, never timings.
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::pick::{PickCase, PickPlan, scan_pick, states};
use super::{BenchArgs, Plan, Verdict, measure};
use crate::pool::{Clock, ModelClass, NoQuota, Pool, PoolConfig, SystemClock};

fn tiny_plan() -> Plan {
    Plan {
        quick: true,
        requests: 20,
        concurrency: 4,
        stream_requests: 10,
        sequential_requests: 5,
        warmup: 4,
        pools: [3, 200],
        phase_limit: Duration::from_secs(60),
        held_streams: 20,
        gateway_exe: None,
        mute_console: false,
        pick: PickPlan {
            cases: vec![
                PickCase::healthy(10),
                PickCase::healthy(200),
                PickCase {
                    credentials: 200,
                    cooling_pct: 90,
                    banned_pct: 5,
                },
            ],
            runs: 3,
            run_time: Duration::from_millis(2),
        },
    }
}

#[test]
fn plan_follows_the_flags() {
    let full = Plan::from_args(&BenchArgs::default());
    assert_eq!((full.requests, full.concurrency), (2000, 16));
    assert_eq!(full.pools, [10, 10_000]);
    assert_eq!(full.held_streams, 1000);
    assert_eq!(full.sequential_requests, 1000);
    assert!(full.gateway_exe.is_some() && full.mute_console);
    assert_eq!(full.pick.cases.len(), 5);
    let quick = Plan::from_args(&BenchArgs {
        quick: true,
        ..Default::default()
    });
    assert_eq!(quick.requests, 300);
    assert_eq!(quick.sequential_requests, 150);
    assert!(quick.pick.run_time < full.pick.run_time);
    let custom = Plan::from_args(&BenchArgs {
        quick: true,
        requests: Some(50),
        concurrency: Some(3),
        pools: Some([100, 1000]),
    });
    assert_eq!((custom.requests, custom.concurrency), (50, 3));
    assert_eq!(custom.pools, [100, 1000]);
    assert_eq!(super::parse_pools("10, 10000"), Ok([10, 10_000]));
    for bad in ["10", "10,0", "10,x", "1,2,3", "10,100001"] {
        assert!(super::parse_pools(bad).is_err(), "{bad}");
    }
    assert_eq!(custom.stream_requests, 25);
}

/// Both selectors must work on the same eligible set, or the comparison is meaningless.
#[test]
fn pick_and_scan_choose_only_eligible_credentials() {
    let case = PickCase {
        credentials: 300,
        cooling_pct: 90,
        banned_pct: 5,
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let rows = states(&case, clock.now());
    // Buckets 0..5 banned, 5..95 cooling: only ids whose (id - 1) % 100 >= 95 may be chosen.
    let eligible = |id: i64| (id - 1) % 100 >= 95;
    let mut pool = Pool::new(PoolConfig::default(), clock);
    for (id, s) in &rows {
        pool.upsert(*id, s.clone());
    }
    let mut from_pool = std::collections::BTreeSet::new();
    let mut from_scan = std::collections::BTreeSet::new();
    let mut rng = rand::rng();
    for _ in 0..200 {
        let lease = pool
            .pick("gemini-2.5-pro", ModelClass::Pro, &[], &NoQuota)
            .expect("eligible credentials exist");
        from_pool.insert(lease.id);
        from_scan.insert(scan_pick(&rows, "gemini-2.5-pro", Utc::now(), &mut rng).expect("found"));
    }
    assert!(from_pool.iter().all(|id| eligible(*id)), "{from_pool:?}");
    assert!(from_scan.iter().all(|id| eligible(*id)), "{from_scan:?}");
    // Round-robin visits all 15 eligible credentials; the random scan reaches several.
    assert_eq!(from_pool.len(), 15);
    assert!(from_scan.len() > 1);
    // Another model is not cooling: every active credential is eligible there.
    let other = scan_pick(&rows, "gemini-2.5-flash", Utc::now(), &mut rng).expect("found");
    assert!((other - 1) % 100 >= 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_run_reports_every_section_with_finite_ratios() {
    let plan = tiny_plan();
    let report = measure(&plan).await.expect("bench runs");

    let (failed, first) = report.failures();
    assert_eq!(failed, 0, "first failure: {first:?}");
    assert_eq!(report.picks.len(), 3);
    assert_eq!(report.picks[2].eligible, 10);
    assert_eq!(report.pools.len(), 2);
    for (run, want) in report.pools.iter().zip([3, 200]) {
        assert_eq!(run.credentials, want);
        assert_eq!(run.loaded, want, "build() loads every seeded credential");
        assert_eq!(run.gateway.requests, 20);
        assert_eq!(run.gateway_stream.requests, 10);
        assert_eq!(run.direct_seq.requests, 5);
        assert_eq!(run.gateway_requests, 35);
        assert!(run.gateway_stream.cpu_per_request.is_some());
        assert_eq!(run.store_reads, 0, "serving requests must not read SQLite");
    }

    let ratios = report.ratios();
    assert_eq!(ratios.len(), 9 + 2 * 20, "{ratios:?}");
    for (name, r) in &ratios {
        assert!(r.is_finite() && *r > 0.0, "{name} = {r}");
    }

    assert!(report.footprint.is_none(), "no gateway binary in this plan");
    let budget = report.budget();
    assert_eq!(budget.len(), 7, "{budget:?}");
    for line in &budget {
        let memory = line.unit == "MB" || line.unit == "KB" || line.unit == "streams";
        if memory {
            assert_eq!(line.verdict(), Verdict::NotMeasured, "{line:?}");
        } else {
            let m = line.measured.unwrap_or(f64::NAN);
            assert!(m.is_finite(), "{line:?}");
            assert_ne!(line.verdict(), Verdict::NotMeasured, "{line:?}");
        }
    }

    let text = report.render();
    for section in [
        "Budget (issue #10)",
        "gateway CPU per non-stream chat",
        "gateway CPU per 22-event stream",
        "idle RSS of the gateway process",
        "RSS per held stream, 20 held",
        "gateway added p99 at c=1",
        "throughput with 200 credentials vs 3",
        "1. Pool::pick",
        "2. End-to-end, non-streaming",
        "Gateway added latency",
        "3. Streaming",
        "4. SQLite on the hot path",
        "Setup",
    ] {
        assert!(text.contains(section), "missing {section:?} in:\n{text}");
    }
    assert!(text.contains("0 reads over 35 requests"), "{text}");
    // Every table ratio printed is a finite number ("1.00x"); only the added-latency line may
    // say n/a, when the baseline difference is too small to divide by.
    let mut printed = 0;
    // The budget table has no ratios; the tables after it do.
    let rows = text
        .lines()
        .skip_while(|l| !l.starts_with("1. Pool::pick"))
        .filter(|l| l.starts_with("   ") && !l.contains("ratio"));
    for line in rows {
        assert!(!line.contains("n/a"), "undefined ratio in {line:?}");
        for token in line.split_whitespace() {
            if let Some(num) = token.strip_suffix('x')
                && let Ok(v) = num.parse::<f64>()
            {
                assert!(v.is_finite(), "{line}");
                printed += 1;
            }
        }
    }
    // Pick table: 3 rows × 3 ratios; e2e: 8 rows × 3; streaming: 4 rows × 4.
    assert_eq!(printed, 9 + 24 + 16, "{text}");
    assert!(!text.contains("NaN") && !text.contains("inf"), "{text}");
}
