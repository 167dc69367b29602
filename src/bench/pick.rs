//! `Pool::pick` against pool size and pool health, next to a linear scan over the same states.
//!
//! The scan stands for what the reference does on every request (`ORDER BY RANDOM()` over all
//! enabled rows, then a filter on cooldowns). It is done here in compiled code over in-memory
//! states with one random draw per eligible row, which is far cheaper than a SQL sort plus a
//! Python filter, so the gap it shows is a lower bound.
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::Rng;

use super::BenchError;
use crate::pool::{
    Ban, BanKind, Clock, Cooldown, CooldownReason, CredId, CredentialState, ModelClass, NoQuota,
    Pool, PoolConfig, SystemClock,
};

pub const MODEL: &str = "gemini-2.5-pro";
/// Picks between two clock reads: enough that reading the clock costs nothing by comparison.
const BATCH: u64 = 64;

/// A pool shape: `cooling_pct` percent of the credentials cool for the model and `banned_pct`
/// percent are banned, spread evenly through the id range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PickCase {
    pub credentials: usize,
    pub cooling_pct: usize,
    pub banned_pct: usize,
}

impl PickCase {
    pub const fn healthy(credentials: usize) -> Self {
        Self {
            credentials,
            cooling_pct: 0,
            banned_pct: 0,
        }
    }

    pub fn describe(&self) -> String {
        if self.cooling_pct == 0 && self.banned_pct == 0 {
            "all healthy".into()
        } else {
            format!("{}% cooling, {}% banned", self.cooling_pct, self.banned_pct)
        }
    }
}

#[derive(Clone, Debug)]
pub struct PickPlan {
    /// The first case is the baseline every ratio is taken against.
    pub cases: Vec<PickCase>,
    /// Timed runs per case; the median is reported.
    pub runs: usize,
    /// Length of one timed run.
    pub run_time: Duration,
}

impl PickPlan {
    pub fn standard(quick: bool) -> Self {
        Self {
            cases: vec![
                PickCase::healthy(10),
                PickCase::healthy(100),
                PickCase::healthy(1_000),
                PickCase::healthy(10_000),
                PickCase {
                    credentials: 10_000,
                    cooling_pct: 90,
                    banned_pct: 5,
                },
            ],
            runs: if quick { 5 } else { 7 },
            run_time: Duration::from_millis(if quick { 10 } else { 30 }),
        }
    }
}

#[derive(Clone, Debug)]
pub struct PickRow {
    pub case: PickCase,
    /// Credentials a pick may choose.
    pub eligible: usize,
    /// Median ns per `Pool::pick`.
    pub index_ns: f64,
    /// Median ns per linear scan.
    pub scan_ns: f64,
}

/// A case ready to time: its states, and a pool loaded with them.
struct Prepared {
    case: PickCase,
    rows: Vec<(CredId, CredentialState)>,
    pool: Pool,
    eligible: usize,
}

/// Times every case, interleaved: run `r` of each case is taken before run `r + 1` of any, so
/// a drift in machine speed (frequency scaling, another process) spreads over all cases instead
/// of skewing the ones that happened to run first.
pub fn measure(plan: &PickPlan) -> Result<Vec<PickRow>, BenchError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut cases = Vec::new();
    for case in &plan.cases {
        let rows = states(case, clock.now());
        let eligible = rows
            .iter()
            .filter(|(_, s)| s.is_active() && !s.cooldowns.contains_key(MODEL))
            .count();
        let mut pool = Pool::new(PoolConfig::default(), Arc::clone(&clock));
        for (id, state) in &rows {
            pool.upsert(*id, state.clone());
        }
        // The first pick builds the model's index (once per model, O(n)): not the hot path.
        pick_once(&mut pool)?;
        cases.push(Prepared {
            case: *case,
            rows,
            pool,
            eligible,
        });
    }
    let runs = plan.runs.max(1);
    let mut index_runs = vec![Vec::with_capacity(runs); cases.len()];
    let mut scan_runs = vec![Vec::with_capacity(runs); cases.len()];
    let mut rng = rand::rng();
    for _ in 0..runs {
        for (i, c) in cases.iter_mut().enumerate() {
            let pool = &mut c.pool;
            index_runs[i].push(time_run(plan.run_time, || pick_once(pool))?);
            let rows = &c.rows;
            scan_runs[i].push(time_run(plan.run_time, || {
                scan_pick(rows, MODEL, Utc::now(), &mut rng)
                    .map(|id| {
                        black_box(id);
                    })
                    .ok_or_else(|| BenchError::Pick("linear scan found nothing".into()))
            })?);
        }
    }
    let rows = cases
        .iter()
        .zip(index_runs.iter_mut().zip(scan_runs.iter_mut()))
        .map(|(c, (index, scan))| {
            let row = PickRow {
                case: c.case,
                eligible: c.eligible,
                index_ns: median(index),
                scan_ns: median(scan),
            };
            tracing::info!(
                credentials = c.case.credentials,
                shape = %c.case.describe(),
                index_ns = row.index_ns.round(),
                scan_ns = row.scan_ns.round(),
                "Pool::pick measured"
            );
            row
        })
        .collect();
    Ok(rows)
}

fn pick_once(pool: &mut Pool) -> Result<(), BenchError> {
    pool.pick(MODEL, ModelClass::Pro, &[], &NoQuota)
        .map(|lease| drop(black_box(lease)))
        .map_err(|u| BenchError::Pick(u.to_string()))
}

/// Deterministic states for `case`: credential `i` is banned, cooling or healthy by `i % 100`,
/// so the eligible ones are spread through the id range rather than bunched at one end.
pub fn states(case: &PickCase, now: DateTime<Utc>) -> Vec<(CredId, CredentialState)> {
    let cooling = Cooldown {
        until: now + chrono::Duration::hours(1),
        reason: CooldownReason::QuotaExhausted,
        reset_at: None,
        probe_pending: false,
    };
    (0..case.credentials)
        .map(|i| {
            let mut s = CredentialState::default();
            let bucket = i % 100;
            if bucket < case.banned_pct {
                s.ban = Some(Ban {
                    kind: BanKind::AutoBan,
                    status: Some(403),
                    reason: "bench".into(),
                    link: None,
                    at: now,
                });
            } else if bucket < case.banned_pct + case.cooling_pct {
                s.cooldowns.insert(MODEL.into(), cooling.clone());
            }
            (i as CredId + 1, s)
        })
        .collect()
}

/// The reference's selection as one pass: every row is read and filtered, and a uniformly
/// random eligible one is kept (reservoir sampling, the single-pass form of ORDER BY RANDOM()).
pub fn scan_pick(
    rows: &[(CredId, CredentialState)],
    model: &str,
    now: DateTime<Utc>,
    rng: &mut impl Rng,
) -> Option<CredId> {
    let mut chosen = None;
    let mut seen = 0u32;
    for (id, s) in rows {
        let usable = s.is_active()
            && !s.unable_models.contains(model)
            && !s.cooldowns.get(model).is_some_and(|c| c.blocks(now));
        if usable {
            seen += 1;
            if rng.random_range(0..seen) == 0 {
                chosen = Some(*id);
            }
        }
    }
    chosen
}

/// Mean ns per call of `op` over one run of at least `run_time`.
fn time_run(
    run_time: Duration,
    mut op: impl FnMut() -> Result<(), BenchError>,
) -> Result<f64, BenchError> {
    let start = Instant::now();
    let mut ops = 0u64;
    loop {
        for _ in 0..BATCH {
            op()?;
        }
        ops += BATCH;
        if start.elapsed() >= run_time {
            break;
        }
    }
    Ok(start.elapsed().as_nanos() as f64 / ops as f64)
}

pub(super) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}
