//! SQL for the usage tables (migrations/0003_usage.sql and its PostgreSQL counterpart), both
//! backends side by side: plain functions on a `Db`, which `UsageService` runs through
//! `Store::run` / `Store::run_tx`.
//!
//! The one difference in kind between the backends is how the flush writes the call counters
//! and today's quota windows: SQLite (one instance) writes the absolute values from memory of
//! the rows that changed;
//! PostgreSQL (shared by instances) adds this instance's deltas with one atomic upsert per row
//! and hands back the shared totals, which the instance adopts (see `memory::Synced`).
use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};

use super::memory::{Batch, CLASSES, MinuteKey, class_str, parse_class, slot};
use super::series::Point;
use super::types::{
    AggregatedStats, CredentialPeriodStats, DayStats, KeyPeriodStats, LimitOverride, ModelStats,
    Outcome, PruneReport, Totals,
};
use crate::pool::{CredId, ModelClass};
use crate::store::StoreError;
use crate::store::db::Db;

/// Everything loaded at start.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub counters: Vec<(CredId, ModelClass, Outcome, u64)>,
    /// (credential, class, window_start ms, used)
    pub quota: Vec<(CredId, ModelClass, i64, u64)>,
    pub limits: Vec<(CredId, LimitOverride)>,
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

type CounterRow = (i64, String, String, i64);
type QuotaRow = (i64, String, i64, i64);
type LimitRow = (i64, String, i64);

const LOAD_COUNTERS: &str = "SELECT credential_id, class, outcome, calls FROM usage_counters";
const LOAD_QUOTA: &str = "SELECT credential_id, class, window_start, used FROM quota_windows";
const LOAD_LIMITS: &str =
    "SELECT credential_id, class, daily_limit FROM quota_limits WHERE credential_id IS NOT NULL";

pub(crate) fn load<'c, 't: 'c>(db: impl Into<Db<'c, 't>>) -> Result<Loaded, StoreError> {
    let (counters, quota, limit_rows): (Vec<CounterRow>, Vec<QuotaRow>, Vec<LimitRow>) =
        match db.into() {
            Db::Sqlite(conn) => {
                let mut st = conn.prepare(LOAD_COUNTERS)?;
                let counters = st
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect::<Result<_, _>>()?;
                let mut st = conn.prepare(LOAD_QUOTA)?;
                let quota = st
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect::<Result<_, _>>()?;
                let mut st = conn.prepare(LOAD_LIMITS)?;
                let limits = st
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<Result<_, _>>()?;
                (counters, quota, limits)
            }
            Db::Postgres(tx) => {
                let counters = tx
                    .query(LOAD_COUNTERS, &[])?
                    .iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                    .collect();
                let quota = tx
                    .query(LOAD_QUOTA, &[])?
                    .iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                    .collect();
                let limits = tx
                    .query(LOAD_LIMITS, &[])?
                    .iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2)))
                    .collect();
                (counters, quota, limits)
            }
        };
    let mut out = Loaded::default();
    for (id, class, outcome, calls) in counters {
        match (parse_class(&class), Outcome::parse(&outcome)) {
            (Some(c), Some(o)) => out.counters.push((id, c, o, to_u64(calls))),
            _ => tracing::warn!(
                credential_id = id,
                class,
                outcome,
                "skipping unknown usage counter row"
            ),
        }
    }
    for (id, class, window, used) in quota {
        if let Some(c) = parse_class(&class) {
            out.quota.push((id, c, window, to_u64(used)));
        }
    }
    out.limits = limits_of(limit_rows).into_iter().collect();
    Ok(out)
}

fn limits_of(rows: Vec<LimitRow>) -> BTreeMap<CredId, LimitOverride> {
    let mut limits: BTreeMap<CredId, LimitOverride> = BTreeMap::new();
    for (id, class, limit) in rows {
        let e = limits.entry(id).or_default();
        match class.as_str() {
            "total" => e.total = Some(to_u64(limit)),
            "pro" => e.pro = Some(to_u64(limit)),
            _ => tracing::warn!(
                credential_id = id,
                class,
                "skipping unknown quota limit class"
            ),
        }
    }
    limits
}

/// Keep a row's failure from sinking its batch. SQLite backs out only the failed statement on a
/// constraint error (a CHECK, a type, a trigger's RAISE) and keeps the transaction, so such a
/// row is logged with its reason and set aside; any other error (I/O, busy) fails the batch,
/// which the caller keeps in memory for the next flush.
fn row_written(
    result: rusqlite::Result<usize>,
    table: &'static str,
    key: &dyn std::fmt::Debug,
    rejected: &mut usize,
) -> Result<(), StoreError> {
    match result {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, msg))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            *rejected += 1;
            tracing::error!(
                table,
                row = ?key,
                reason = msg.as_deref().unwrap_or("constraint violation"),
                "usage row refused by the database; set aside so the rest of the batch is kept"
            );
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// What a flush wrote.
#[derive(Debug, Default)]
pub(crate) struct Written {
    /// Rows the schema refused and that were set aside (each logged); every other row landed.
    pub rejected: usize,
    /// PostgreSQL only, one per `Batch::cells` entry: the shared totals to adopt.
    pub totals: Vec<CellTotals>,
    /// PostgreSQL only: every instance's use of the batch's window, per credential and class.
    pub shared: Vec<(CredId, [u64; 3])>,
    /// PostgreSQL only: every credential's overrides as the database has them (another
    /// instance may have changed them).
    pub limits: Option<BTreeMap<CredId, LimitOverride>>,
}

/// The shared totals after one cell's deltas: per class (`None`: not written, or refused as
/// of an older window than the database's) and per entry of the snapshot's `counts`.
#[derive(Debug, Default)]
pub(crate) struct CellTotals {
    pub used: [Option<u64>; 3],
    pub counts: Vec<Option<u64>>,
}

/// Write one flush batch inside the caller's transaction (`Store::run_tx`).
pub(crate) fn write_batch<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    b: &Batch,
) -> Result<Written, StoreError> {
    match db.into() {
        Db::Sqlite(tx) => Ok(Written {
            rejected: write_batch_sqlite(tx, b)?,
            ..Written::default()
        }),
        Db::Postgres(tx) => write_batch_pg(tx, b),
    }
}

fn write_batch_sqlite(tx: &rusqlite::Connection, b: &Batch) -> Result<usize, StoreError> {
    let mut rejected = 0;
    {
        // Only what changed since the last write goes out (counters whose delta against
        // `memory::Synced` is not zero, quota classes whose row says something else about
        // the window, `CredData::stored`): with requests spread over 10,000
        // credentials each flush touches thousands of cells, and rewriting every class and
        // counter of each was most of the flusher's work. The values are absolute, so a
        // write can be repeated and the last one wins.
        let mut counter = tx.prepare_cached(
            "INSERT INTO usage_counters (credential_id, class, outcome, calls) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (credential_id, class, outcome) DO UPDATE SET calls = excluded.calls",
        )?;
        let mut quota = tx.prepare_cached(
            "INSERT INTO quota_windows (credential_id, class, window_start, used) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (credential_id, class)
             DO UPDATE SET window_start = excluded.window_start, used = excluded.used",
        )?;
        for c in &b.cells {
            for (class, outcome, n, delta) in &c.counts {
                if *delta != 0 {
                    let r = counter.execute(params![
                        c.id,
                        class_str(*class),
                        outcome.key(),
                        to_i64(*n)
                    ]);
                    row_written(r, "usage_counters", &(c.id, class, outcome), &mut rejected)?;
                }
            }
            for class in CLASSES {
                if !c.quota_changed[slot(class)] {
                    continue;
                }
                let r = quota.execute(params![
                    c.id,
                    class_str(class),
                    c.window,
                    to_i64(c.used[slot(class)])
                ]);
                row_written(r, "quota_windows", &(c.id, class), &mut rejected)?;
            }
        }
    }
    let mut calls = tx.prepare_cached(
        "INSERT INTO usage_daily (day, credential_id, model, outcome, calls) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (day, credential_id, model, outcome) DO UPDATE SET calls = calls + excluded.calls",
    )?;
    for (k, n) in &b.pending.calls {
        let r = calls.execute(params![
            &*k.day,
            k.credential_id,
            k.model,
            k.outcome.key(),
            to_i64(*n)
        ]);
        row_written(r, "usage_daily", k, &mut rejected)?;
    }
    let mut daily = tx.prepare_cached(
        "INSERT INTO usage_daily_requests (day, credential_id, model, requests, successes, failures,
             prompt_tokens, completion_tokens, reasoning_tokens)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (day, credential_id, model) DO UPDATE SET
             requests = requests + excluded.requests,
             successes = successes + excluded.successes,
             failures = failures + excluded.failures,
             prompt_tokens = prompt_tokens + excluded.prompt_tokens,
             completion_tokens = completion_tokens + excluded.completion_tokens,
             reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens",
    )?;
    for (k, v) in &b.pending.daily_requests {
        let r = daily.execute(params![
            &*k.day,
            k.credential_id,
            k.model,
            to_i64(v.requests),
            to_i64(v.successes),
            to_i64(v.failures),
            to_i64(v.prompt_tokens),
            to_i64(v.completion_tokens),
            to_i64(v.reasoning_tokens)
        ]);
        row_written(r, "usage_daily_requests", k, &mut rejected)?;
    }
    let mut keys = tx.prepare_cached(
        "INSERT INTO usage_key_daily (day, key_id, model, requests, successes, failures,
             prompt_tokens, completion_tokens, reasoning_tokens)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (day, key_id, model) DO UPDATE SET
             requests = requests + excluded.requests,
             successes = successes + excluded.successes,
             failures = failures + excluded.failures,
             prompt_tokens = prompt_tokens + excluded.prompt_tokens,
             completion_tokens = completion_tokens + excluded.completion_tokens,
             reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens",
    )?;
    for (k, v) in &b.pending.key_daily {
        let r = keys.execute(params![
            &*k.day,
            k.key_id,
            k.model,
            to_i64(v.requests),
            to_i64(v.successes),
            to_i64(v.failures),
            to_i64(v.prompt_tokens),
            to_i64(v.completion_tokens),
            to_i64(v.reasoning_tokens)
        ]);
        row_written(r, "usage_key_daily", k, &mut rejected)?;
    }
    let mut minute = tx.prepare_cached(
        "INSERT INTO usage_minute (bucket_start, credential_id, base_model, requested_model, surface,
             stream, outcome, requests, prompt_tokens, completion_tokens, reasoning_tokens,
             latency_ms_sum, ttfb_ms_sum, ttfb_count, retries)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
         ON CONFLICT (bucket_start, credential_id, base_model, requested_model, surface, stream, outcome)
         DO UPDATE SET
             requests = requests + excluded.requests,
             prompt_tokens = prompt_tokens + excluded.prompt_tokens,
             completion_tokens = completion_tokens + excluded.completion_tokens,
             reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
             latency_ms_sum = latency_ms_sum + excluded.latency_ms_sum,
             ttfb_ms_sum = ttfb_ms_sum + excluded.ttfb_ms_sum,
             ttfb_count = ttfb_count + excluded.ttfb_count,
             retries = retries + excluded.retries",
    )?;
    for (k, v) in &b.pending.minute {
        let r = minute.execute(params![
            k.bucket_start,
            k.credential_id,
            k.base_model,
            k.requested_model,
            k.surface.as_str(),
            k.stream,
            k.outcome.key(),
            to_i64(v.requests),
            to_i64(v.prompt_tokens),
            to_i64(v.completion_tokens),
            to_i64(v.reasoning_tokens),
            to_i64(v.latency_ms_sum),
            to_i64(v.ttfb_ms_sum),
            to_i64(v.ttfb_count),
            to_i64(v.retries)
        ]);
        row_written(r, "usage_minute", k, &mut rejected)?;
    }
    Ok(rejected)
}

/// Why a PostgreSQL row did not land: refused by the schema (the row is at fault), or any
/// other failure (the connection, the server), which fails the whole batch.
enum PgWriteError {
    Refused(String),
    Failed(StoreError),
}

impl From<::postgres::Error> for PgWriteError {
    fn from(e: ::postgres::Error) -> Self {
        // Class 22 (data exception: a value out of range) and 23 (integrity: a CHECK, a key),
        // and a trigger's RAISE: the row is at fault, not the database.
        let refused = e.code().is_some_and(|c| {
            let c = c.code();
            c.starts_with("22") || c.starts_with("23") || c == "P0001"
        });
        let text = crate::store::postgres::describe(&e);
        if refused {
            PgWriteError::Refused(text)
        } else {
            PgWriteError::Failed(StoreError::Postgres(text))
        }
    }
}

impl From<crate::store::postgres::PgError> for PgWriteError {
    fn from(e: crate::store::postgres::PgError) -> Self {
        match e {
            crate::store::postgres::PgError::Query(e) => e.into(),
            e => PgWriteError::Failed(e.into()),
        }
    }
}

/// PostgreSQL aborts the whole transaction at a failed statement, so a refused row cannot just
/// be stepped over as on SQLite. The batch is first written whole inside a savepoint (one pass,
/// the normal case); if a row is refused, that savepoint is rolled back and the batch is written
/// again with a savepoint per row, setting the refused ones aside. Then, in the same
/// transaction, every instance's use of the current window is read for the instance to adopt.
fn write_batch_pg(tx: &mut ::postgres::Transaction<'_>, b: &Batch) -> Result<Written, StoreError> {
    for (old, new) in &b.moves {
        // Idempotent: the first instance to apply a rule change moves the rows, the others
        // find none left on the old window.
        tx.execute(
            "UPDATE quota_windows SET window_start = $2 WHERE window_start = $1",
            &[old, new],
        )?;
    }
    let whole = {
        let mut sp = tx.transaction()?;
        match write_pg(&mut sp, b, false) {
            Ok(w) => {
                sp.commit()?;
                Some(w)
            }
            Err(PgWriteError::Refused(reason)) => {
                tracing::warn!(
                    reason,
                    "a usage row was refused; writing the batch row by row to set it aside"
                );
                None
            }
            Err(PgWriteError::Failed(e)) => return Err(e),
        }
    };
    let mut written = match whole {
        Some(w) => w,
        None => match write_pg(tx, b, true) {
            Ok(w) => w,
            Err(PgWriteError::Failed(e)) => return Err(e),
            Err(PgWriteError::Refused(reason)) => return Err(StoreError::Postgres(reason)),
        },
    };
    written.shared = shared_use(tx, b.window)?;
    let rows = tx
        .query(LOAD_LIMITS, &[])?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    written.limits = Some(limits_of(rows));
    Ok(written)
}

/// Every credential's use of `window` on PostgreSQL (0 for a class without a row).
fn shared_use(
    tx: &mut ::postgres::Transaction<'_>,
    window: i64,
) -> Result<Vec<(CredId, [u64; 3])>, StoreError> {
    let mut out: BTreeMap<CredId, [u64; 3]> = BTreeMap::new();
    for r in tx.query(
        "SELECT credential_id, class, used FROM quota_windows WHERE window_start = $1",
        &[&window],
    )? {
        let class: String = r.get(1);
        if let Some(c) = parse_class(&class) {
            out.entry(r.get(0)).or_default()[slot(c)] = to_u64(r.get(2));
        }
    }
    Ok(out.into_iter().collect())
}

/// One row of a PostgreSQL batch; in `careful` mode inside its own savepoint, a refused row
/// counted in `rejected` and logged, and `None` returned.
fn pg_row<T>(
    tx: &mut ::postgres::Transaction<'_>,
    careful: bool,
    table: &'static str,
    key: &dyn std::fmt::Debug,
    rejected: &mut usize,
    f: impl FnOnce(&mut ::postgres::Transaction<'_>) -> Result<T, PgWriteError>,
) -> Result<Option<T>, PgWriteError> {
    if !careful {
        return f(tx).map(Some);
    }
    let mut sp = tx.transaction()?;
    match f(&mut sp) {
        Ok(v) => {
            sp.commit()?;
            Ok(Some(v))
        }
        Err(PgWriteError::Refused(reason)) => {
            // Dropping the savepoint rolls it back; the transaction goes on.
            drop(sp);
            *rejected += 1;
            tracing::error!(
                table,
                row = ?key,
                reason,
                "usage row refused by the database; set aside so the rest of the batch is kept"
            );
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

const PG_DAILY: &str = "INSERT INTO usage_daily AS u (day, credential_id, model, outcome, calls)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (day, credential_id, model, outcome) DO UPDATE SET calls = u.calls + EXCLUDED.calls";

const PG_DAILY_REQUESTS: &str = "INSERT INTO usage_daily_requests AS u (day, credential_id, model,
         requests, successes, failures, prompt_tokens, completion_tokens, reasoning_tokens)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (day, credential_id, model) DO UPDATE SET
         requests = u.requests + EXCLUDED.requests,
         successes = u.successes + EXCLUDED.successes,
         failures = u.failures + EXCLUDED.failures,
         prompt_tokens = u.prompt_tokens + EXCLUDED.prompt_tokens,
         completion_tokens = u.completion_tokens + EXCLUDED.completion_tokens,
         reasoning_tokens = u.reasoning_tokens + EXCLUDED.reasoning_tokens";

const PG_KEY_DAILY: &str = "INSERT INTO usage_key_daily AS u (day, key_id, model, requests,
         successes, failures, prompt_tokens, completion_tokens, reasoning_tokens)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (day, key_id, model) DO UPDATE SET
         requests = u.requests + EXCLUDED.requests,
         successes = u.successes + EXCLUDED.successes,
         failures = u.failures + EXCLUDED.failures,
         prompt_tokens = u.prompt_tokens + EXCLUDED.prompt_tokens,
         completion_tokens = u.completion_tokens + EXCLUDED.completion_tokens,
         reasoning_tokens = u.reasoning_tokens + EXCLUDED.reasoning_tokens";

const PG_MINUTE: &str = "INSERT INTO usage_minute AS u (bucket_start, credential_id, base_model,
         requested_model, surface, stream, outcome, requests, prompt_tokens, completion_tokens,
         reasoning_tokens, latency_ms_sum, ttfb_ms_sum, ttfb_count, retries)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
     ON CONFLICT (bucket_start, credential_id, base_model, requested_model, surface, stream, outcome)
     DO UPDATE SET
         requests = u.requests + EXCLUDED.requests,
         prompt_tokens = u.prompt_tokens + EXCLUDED.prompt_tokens,
         completion_tokens = u.completion_tokens + EXCLUDED.completion_tokens,
         reasoning_tokens = u.reasoning_tokens + EXCLUDED.reasoning_tokens,
         latency_ms_sum = u.latency_ms_sum + EXCLUDED.latency_ms_sum,
         ttfb_ms_sum = u.ttfb_ms_sum + EXCLUDED.ttfb_ms_sum,
         ttfb_count = u.ttfb_count + EXCLUDED.ttfb_count,
         retries = u.retries + EXCLUDED.retries";

fn minute_order(k: &MinuteKey) -> (i64, i64, &str, &str, &str, bool, Outcome) {
    (
        k.bucket_start,
        k.credential_id,
        &k.base_model,
        &k.requested_model,
        k.surface.as_str(),
        k.stream,
        k.outcome,
    )
}

/// The batch's rows on PostgreSQL: deltas everywhere (`pg_counters` for the shared counters
/// and windows, which return the totals to adopt).
fn write_pg(
    tx: &mut ::postgres::Transaction<'_>,
    b: &Batch,
    careful: bool,
) -> Result<Written, PgWriteError> {
    use crate::store::pg_counters::{add_counter, add_quota_used};
    let mut rejected = 0;
    let mut totals = Vec::with_capacity(b.cells.len());
    for c in &b.cells {
        let mut t = CellTotals {
            used: [None; 3],
            counts: Vec::with_capacity(c.counts.len()),
        };
        for (class, outcome, _, delta) in &c.counts {
            let key = (c.id, class, outcome);
            let total = if *delta > 0 {
                pg_row(tx, careful, "usage_counters", &key, &mut rejected, |tx| {
                    Ok(add_counter(
                        tx,
                        c.id,
                        class_str(*class),
                        &outcome.key(),
                        *delta,
                    )?)
                })?
            } else {
                None
            };
            t.counts.push(total.map(to_u64));
        }
        for class in CLASSES {
            let delta = c.used_delta[slot(class)];
            if delta == 0 {
                continue;
            }
            let total = pg_row(
                tx,
                careful,
                "quota_windows",
                &(c.id, class),
                &mut rejected,
                |tx| Ok(add_quota_used(tx, c.id, class_str(class), c.window, delta)?),
            )?;
            t.used[slot(class)] = total.flatten().map(to_u64);
        }
        totals.push(t);
    }
    // Rows go out in one fixed order (credentials by id, then each table by key): two
    // instances flushing at once then lock shared rows in the same order and never deadlock.
    let mut calls: Vec<_> = b.pending.calls.iter().collect();
    calls.sort_unstable_by(|(a, _), (b, _)| {
        (&*a.day, a.credential_id, &a.model, a.outcome).cmp(&(
            &*b.day,
            b.credential_id,
            &b.model,
            b.outcome,
        ))
    });
    let st = tx.prepare(PG_DAILY)?;
    for (k, n) in calls {
        pg_row(tx, careful, "usage_daily", k, &mut rejected, |tx| {
            tx.execute(
                &st,
                &[
                    &&*k.day,
                    &k.credential_id,
                    &k.model,
                    &k.outcome.key(),
                    &to_i64(*n),
                ],
            )?;
            Ok(())
        })?;
    }
    let mut daily: Vec<_> = b.pending.daily_requests.iter().collect();
    daily.sort_unstable_by(|(a, _), (b, _)| {
        (&*a.day, a.credential_id, &a.model).cmp(&(&*b.day, b.credential_id, &b.model))
    });
    let st = tx.prepare(PG_DAILY_REQUESTS)?;
    for (k, v) in daily {
        pg_row(
            tx,
            careful,
            "usage_daily_requests",
            k,
            &mut rejected,
            |tx| {
                tx.execute(
                    &st,
                    &[
                        &&*k.day,
                        &k.credential_id,
                        &k.model,
                        &to_i64(v.requests),
                        &to_i64(v.successes),
                        &to_i64(v.failures),
                        &to_i64(v.prompt_tokens),
                        &to_i64(v.completion_tokens),
                        &to_i64(v.reasoning_tokens),
                    ],
                )?;
                Ok(())
            },
        )?;
    }
    let mut keys: Vec<_> = b.pending.key_daily.iter().collect();
    keys.sort_unstable_by(|(a, _), (b, _)| {
        (&*a.day, a.key_id, &a.model).cmp(&(&*b.day, b.key_id, &b.model))
    });
    let st = tx.prepare(PG_KEY_DAILY)?;
    for (k, v) in keys {
        pg_row(tx, careful, "usage_key_daily", k, &mut rejected, |tx| {
            tx.execute(
                &st,
                &[
                    &&*k.day,
                    &k.key_id,
                    &k.model,
                    &to_i64(v.requests),
                    &to_i64(v.successes),
                    &to_i64(v.failures),
                    &to_i64(v.prompt_tokens),
                    &to_i64(v.completion_tokens),
                    &to_i64(v.reasoning_tokens),
                ],
            )?;
            Ok(())
        })?;
    }
    let mut minute: Vec<_> = b.pending.minute.iter().collect();
    minute.sort_unstable_by(|(a, _), (b, _)| minute_order(a).cmp(&minute_order(b)));
    let st = tx.prepare(PG_MINUTE)?;
    for (k, v) in minute {
        pg_row(tx, careful, "usage_minute", k, &mut rejected, |tx| {
            tx.execute(
                &st,
                &[
                    &k.bucket_start,
                    &k.credential_id,
                    &k.base_model,
                    &k.requested_model,
                    &k.surface.as_str(),
                    &i64::from(k.stream),
                    &k.outcome.key(),
                    &to_i64(v.requests),
                    &to_i64(v.prompt_tokens),
                    &to_i64(v.completion_tokens),
                    &to_i64(v.reasoning_tokens),
                    &to_i64(v.latency_ms_sum),
                    &to_i64(v.ttfb_ms_sum),
                    &to_i64(v.ttfb_count),
                    &to_i64(v.retries),
                ],
            )?;
            Ok(())
        })?;
    }
    Ok(Written {
        rejected,
        totals,
        shared: Vec::new(),
        limits: None,
    })
}

/// Zero the call counters and today's use of one credential or of all.
pub(crate) fn reset_shared<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    id: Option<CredId>,
) -> Result<(), StoreError> {
    match db.into() {
        Db::Sqlite(tx) => {
            tx.execute(
                "DELETE FROM usage_counters WHERE ?1 IS NULL OR credential_id = ?1",
                [id],
            )?;
            tx.execute(
                "UPDATE quota_windows SET used = 0 WHERE ?1 IS NULL OR credential_id = ?1",
                [id],
            )?;
        }
        Db::Postgres(tx) => {
            tx.execute(
                "DELETE FROM usage_counters WHERE $1::BIGINT IS NULL OR credential_id = $1",
                &[&id],
            )?;
            tx.execute(
                "UPDATE quota_windows SET used = 0 WHERE $1::BIGINT IS NULL OR credential_id = $1",
                &[&id],
            )?;
        }
    }
    Ok(())
}

/// Replace a credential's overrides. `NotFound` when the credential does not exist (the
/// foreign key would refuse it anyway; checking first gives a clear error).
pub(crate) fn set_limits<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    id: CredId,
    limits: LimitOverride,
) -> Result<(), StoreError> {
    let missing = || StoreError::NotFound {
        what: format!("credential {id}"),
    };
    let rows = [("total", limits.total), ("pro", limits.pro)];
    match db.into() {
        Db::Sqlite(tx) => {
            let exists = tx
                .query_row("SELECT 1 FROM credentials WHERE id = ?1", [id], |_| Ok(()))
                .optional()?
                .is_some();
            if !exists {
                return Err(missing());
            }
            tx.execute("DELETE FROM quota_limits WHERE credential_id = ?1", [id])?;
            let mut ins = tx.prepare_cached(
                "INSERT INTO quota_limits (credential_id, class, daily_limit) VALUES (?1, ?2, ?3)",
            )?;
            for (class, v) in rows {
                if let Some(v) = v {
                    ins.execute(params![id, class, to_i64(v)])?;
                }
            }
        }
        Db::Postgres(tx) => {
            if tx
                .query_opt("SELECT 1 FROM credentials WHERE id = $1", &[&id])?
                .is_none()
            {
                return Err(missing());
            }
            tx.execute("DELETE FROM quota_limits WHERE credential_id = $1", &[&id])?;
            for (class, v) in rows {
                if let Some(v) = v {
                    tx.execute(
                        "INSERT INTO quota_limits (credential_id, class, daily_limit) VALUES ($1, $2, $3)",
                        &[&id, &class, &to_i64(v)],
                    )?;
                }
            }
        }
    }
    Ok(())
}

/// Drop minute rows older than `minute_cutoff_ms` and fold daily rows before `day_cutoff` into
/// the `'total'` row of their key, preserving every sum.
pub(crate) fn prune<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    minute_cutoff_ms: i64,
    day_cutoff: &str,
) -> Result<PruneReport, StoreError> {
    let (minute_rows_deleted, rolled_up) = match db.into() {
        Db::Sqlite(tx) => prune_sqlite(tx, minute_cutoff_ms, day_cutoff)?,
        Db::Postgres(tx) => prune_pg(tx, minute_cutoff_ms, day_cutoff)?,
    };
    Ok(PruneReport {
        minute_rows_deleted,
        daily_rows_rolled_up: rolled_up,
    })
}

/// The daily tables' roll-up into `'total'` rows on PostgreSQL: the SQLite statements with
/// qualified columns (PostgreSQL finds a bare `calls` ambiguous next to `EXCLUDED`), sums cast
/// back to BIGINT (`sum(bigint)` is NUMERIC there), and day keys compared bytewise.
fn prune_pg(
    tx: &mut ::postgres::Transaction<'_>,
    minute_cutoff_ms: i64,
    day_cutoff: &str,
) -> Result<(u64, u64), StoreError> {
    let minutes = tx.execute(
        "DELETE FROM usage_minute WHERE bucket_start < $1",
        &[&minute_cutoff_ms],
    )?;
    let old = "day COLLATE \"C\" < $1 AND day <> 'total'";
    tx.execute(
        &format!(
            "INSERT INTO usage_daily AS u (day, credential_id, model, outcome, calls)
             SELECT 'total', credential_id, model, outcome, sum(calls)::BIGINT FROM usage_daily
             WHERE {old} GROUP BY credential_id, model, outcome
             ON CONFLICT (day, credential_id, model, outcome)
             DO UPDATE SET calls = u.calls + EXCLUDED.calls"
        ),
        &[&day_cutoff],
    )?;
    let calls = tx.execute(
        &format!("DELETE FROM usage_daily WHERE {old}"),
        &[&day_cutoff],
    )?;
    let sums = "sum(requests)::BIGINT, sum(successes)::BIGINT, sum(failures)::BIGINT,
         sum(prompt_tokens)::BIGINT, sum(completion_tokens)::BIGINT, sum(reasoning_tokens)::BIGINT";
    let add = "requests = u.requests + EXCLUDED.requests,
         successes = u.successes + EXCLUDED.successes,
         failures = u.failures + EXCLUDED.failures,
         prompt_tokens = u.prompt_tokens + EXCLUDED.prompt_tokens,
         completion_tokens = u.completion_tokens + EXCLUDED.completion_tokens,
         reasoning_tokens = u.reasoning_tokens + EXCLUDED.reasoning_tokens";
    tx.execute(
        &format!(
            "INSERT INTO usage_daily_requests AS u (day, credential_id, model, requests, successes,
                 failures, prompt_tokens, completion_tokens, reasoning_tokens)
             SELECT 'total', credential_id, model, {sums}
             FROM usage_daily_requests WHERE {old} GROUP BY credential_id, model
             ON CONFLICT (day, credential_id, model) DO UPDATE SET {add}"
        ),
        &[&day_cutoff],
    )?;
    let requests = tx.execute(
        &format!("DELETE FROM usage_daily_requests WHERE {old}"),
        &[&day_cutoff],
    )?;
    tx.execute(
        &format!(
            "INSERT INTO usage_key_daily AS u (day, key_id, model, requests, successes, failures,
                 prompt_tokens, completion_tokens, reasoning_tokens)
             SELECT 'total', key_id, model, {sums}
             FROM usage_key_daily WHERE {old} GROUP BY key_id, model
             ON CONFLICT (day, key_id, model) DO UPDATE SET {add}"
        ),
        &[&day_cutoff],
    )?;
    let keys = tx.execute(
        &format!("DELETE FROM usage_key_daily WHERE {old}"),
        &[&day_cutoff],
    )?;
    Ok((minutes, calls + requests + keys))
}

fn prune_sqlite(
    tx: &rusqlite::Connection,
    minute_cutoff_ms: i64,
    day_cutoff: &str,
) -> Result<(u64, u64), StoreError> {
    let minute_rows_deleted = tx.execute(
        "DELETE FROM usage_minute WHERE bucket_start < ?1",
        [minute_cutoff_ms],
    )? as u64;
    // `WHERE ... AND day <> 'total'` also keeps the upsert's SELECT unambiguous for SQLite's parser.
    tx.execute(
        "INSERT INTO usage_daily (day, credential_id, model, outcome, calls)
         SELECT 'total', credential_id, model, outcome, sum(calls) FROM usage_daily
         WHERE day < ?1 AND day <> 'total' GROUP BY credential_id, model, outcome
         ON CONFLICT (day, credential_id, model, outcome) DO UPDATE SET calls = calls + excluded.calls",
        [day_cutoff],
    )?;
    let calls = tx.execute(
        "DELETE FROM usage_daily WHERE day < ?1 AND day <> 'total'",
        [day_cutoff],
    )?;
    tx.execute(
        "INSERT INTO usage_daily_requests (day, credential_id, model, requests, successes, failures,
             prompt_tokens, completion_tokens, reasoning_tokens)
         SELECT 'total', credential_id, model, sum(requests), sum(successes), sum(failures),
             sum(prompt_tokens), sum(completion_tokens), sum(reasoning_tokens)
         FROM usage_daily_requests WHERE day < ?1 AND day <> 'total' GROUP BY credential_id, model
         ON CONFLICT (day, credential_id, model) DO UPDATE SET
             requests = requests + excluded.requests,
             successes = successes + excluded.successes,
             failures = failures + excluded.failures,
             prompt_tokens = prompt_tokens + excluded.prompt_tokens,
             completion_tokens = completion_tokens + excluded.completion_tokens,
             reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens",
        [day_cutoff],
    )?;
    let requests = tx.execute(
        "DELETE FROM usage_daily_requests WHERE day < ?1 AND day <> 'total'",
        [day_cutoff],
    )?;
    tx.execute(
        "INSERT INTO usage_key_daily (day, key_id, model, requests, successes, failures,
             prompt_tokens, completion_tokens, reasoning_tokens)
         SELECT 'total', key_id, model, sum(requests), sum(successes), sum(failures),
             sum(prompt_tokens), sum(completion_tokens), sum(reasoning_tokens)
         FROM usage_key_daily WHERE day < ?1 AND day <> 'total' GROUP BY key_id, model
         ON CONFLICT (day, key_id, model) DO UPDATE SET
             requests = requests + excluded.requests,
             successes = successes + excluded.successes,
             failures = failures + excluded.failures,
             prompt_tokens = prompt_tokens + excluded.prompt_tokens,
             completion_tokens = completion_tokens + excluded.completion_tokens,
             reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens",
        [day_cutoff],
    )?;
    let keys = tx.execute(
        "DELETE FROM usage_key_daily WHERE day < ?1 AND day <> 'total'",
        [day_cutoff],
    )?;
    Ok((minute_rows_deleted, (calls + requests + keys) as u64))
}

type CallsRow = (String, CredId, String, String, i64);
type RequestsRow = (String, CredId, String, [i64; 6]);
type KeyRow = (i64, [i64; 6]);
type AggregateRows = (Vec<CallsRow>, Vec<RequestsRow>, Vec<KeyRow>);

/// The three reads behind `aggregate`, on either backend.
fn aggregate_rows(
    db: Db<'_, '_>,
    first_day: &str,
    last_day: &str,
) -> Result<AggregateRows, StoreError> {
    const CALLS: &str = "SELECT day, credential_id, model, outcome, calls FROM usage_daily
         WHERE day >= $1 AND day <= $2 AND day <> 'total'";
    const REQUESTS: &str = "SELECT day, credential_id, model, requests, successes, failures,
             prompt_tokens, completion_tokens, reasoning_tokens
         FROM usage_daily_requests WHERE day >= $1 AND day <= $2 AND day <> 'total'";
    const KEYS: &str = "SELECT key_id, sum(requests), sum(successes), sum(failures),
             sum(prompt_tokens), sum(completion_tokens), sum(reasoning_tokens)
         FROM usage_key_daily WHERE day >= $1 AND day <= $2 AND day <> 'total' GROUP BY key_id";
    // `sum(bigint)` is NUMERIC on PostgreSQL: cast back.
    const PG_KEYS: &str = "SELECT key_id, sum(requests)::BIGINT, sum(successes)::BIGINT,
             sum(failures)::BIGINT, sum(prompt_tokens)::BIGINT, sum(completion_tokens)::BIGINT,
             sum(reasoning_tokens)::BIGINT
         FROM usage_key_daily WHERE day >= $1 AND day <= $2 AND day <> 'total' GROUP BY key_id";
    match db {
        Db::Sqlite(conn) => {
            // SQLite reads `$1` as a named parameter, bound by position like `?1`.
            let days = [first_day, last_day];
            let six = |r: &rusqlite::Row<'_>, at: usize| -> rusqlite::Result<[i64; 6]> {
                Ok([
                    r.get(at)?,
                    r.get(at + 1)?,
                    r.get(at + 2)?,
                    r.get(at + 3)?,
                    r.get(at + 4)?,
                    r.get(at + 5)?,
                ])
            };
            let calls = conn
                .prepare(CALLS)?
                .query_map(days, |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?
                .collect::<Result<_, _>>()?;
            let requests = conn
                .prepare(REQUESTS)?
                .query_map(days, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, six(r, 3)?)))?
                .collect::<Result<_, _>>()?;
            let keys = conn
                .prepare(KEYS)?
                .query_map(days, |r| Ok((r.get(0)?, six(r, 1)?)))?
                .collect::<Result<_, _>>()?;
            Ok((calls, requests, keys))
        }
        Db::Postgres(tx) => {
            let six = |r: &::postgres::Row, at: usize| -> [i64; 6] {
                std::array::from_fn(|i| r.get(at + i))
            };
            let days: [&(dyn ::postgres::types::ToSql + Sync); 2] = [&first_day, &last_day];
            let calls = tx
                .query(CALLS, &days)?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
                .collect();
            let requests = tx
                .query(REQUESTS, &days)?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), six(r, 3)))
                .collect();
            let keys = tx
                .query(PG_KEYS, &days)?
                .iter()
                .map(|r| (r.get(0), six(r, 1)))
                .collect();
            Ok((calls, requests, keys))
        }
    }
}

/// Daily history between `first_day` and `last_day` inclusive (never the `'total'` roll-up).
pub(crate) fn aggregate<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    days: u32,
    first_day: String,
    last_day: String,
    next_reset: chrono::DateTime<chrono::Utc>,
) -> Result<AggregatedStats, StoreError> {
    let mut overall = Totals::default();
    let mut days_map: BTreeMap<String, Totals> = BTreeMap::new();
    let mut models: BTreeMap<String, Totals> = BTreeMap::new();
    let mut creds: BTreeMap<CredId, Totals> = BTreeMap::new();
    let (calls, requests, key_rows) = aggregate_rows(db.into(), &first_day, &last_day)?;

    for (day, id, model, outcome, n) in calls {
        let n = to_u64(n);
        let ok = outcome == "success";
        for t in [
            &mut overall,
            days_map.entry(day).or_default(),
            models.entry(model).or_default(),
            creds.entry(id).or_default(),
        ] {
            t.calls += n;
            if ok {
                t.call_successes += n;
            } else {
                t.call_failures += n;
            }
        }
    }

    for (day, id, model, v) in requests {
        let [req, ok, fail, p, c, r] = v.map(to_u64);
        for t in [
            &mut overall,
            days_map.entry(day).or_default(),
            models.entry(model).or_default(),
            creds.entry(id).or_default(),
        ] {
            t.requests += req;
            t.request_successes += ok;
            t.request_failures += fail;
            t.prompt_tokens += p;
            t.completion_tokens += c;
            t.reasoning_tokens += r;
        }
    }

    // Requests per client key: the same request counts as the credential rows above, split
    // by the key it came with instead.
    let mut keys: BTreeMap<i64, Totals> = BTreeMap::new();
    for (id, v) in key_rows {
        let [req, ok, fail, p, c, r] = v.map(to_u64);
        let t = keys.entry(id).or_default();
        t.requests += req;
        t.request_successes += ok;
        t.request_failures += fail;
        t.prompt_tokens += p;
        t.completion_tokens += c;
        t.reasoning_tokens += r;
    }

    overall.finish();
    let finish = |mut t: Totals| {
        t.finish();
        t
    };
    Ok(AggregatedStats {
        days,
        first_day,
        last_day,
        overall,
        per_day: days_map
            .into_iter()
            .map(|(day, t)| DayStats {
                day,
                totals: finish(t),
            })
            .collect(),
        per_model: models
            .into_iter()
            .map(|(model, t)| ModelStats {
                model,
                totals: finish(t),
            })
            .collect(),
        per_credential: creds
            .into_iter()
            .map(|(credential_id, t)| CredentialPeriodStats {
                credential_id,
                totals: finish(t),
            })
            .collect(),
        per_kind: Vec::new(),
        per_key: keys
            .into_iter()
            .map(|(key_id, t)| KeyPeriodStats {
                key_id,
                name: None,
                totals: finish(t),
            })
            .collect(),
        next_reset,
    })
}

/// The panel's hourly series: per (hour since `start_ms`, credential, model, outcome), from the
/// minute rows. Buckets past the 48 hours are left out.
pub(crate) fn hourly_points<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    start_ms: i64,
) -> Result<Vec<Point>, StoreError> {
    type Row = (i64, CredId, String, String, i64, i64);
    let rows: Vec<Row> = match db.into() {
        Db::Sqlite(conn) => {
            let mut st = conn.prepare_cached(
                "SELECT (bucket_start - ?1) / 3600000, credential_id, base_model, outcome,
                        sum(requests), sum(prompt_tokens + completion_tokens)
                 FROM usage_minute WHERE bucket_start >= ?1
                 GROUP BY 1, 2, 3, 4",
            )?;
            st.query_map([start_ms], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?
            .collect::<Result<_, _>>()?
        }
        Db::Postgres(tx) => tx
            .query(
                "SELECT (bucket_start - $1) / 3600000, credential_id, base_model, outcome,
                        sum(requests)::BIGINT, sum(prompt_tokens + completion_tokens)::BIGINT
                 FROM usage_minute WHERE bucket_start >= $1
                 GROUP BY 1, 2, 3, 4",
                &[&start_ms],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
            .collect(),
    };
    Ok(rows
        .into_iter()
        .filter_map(
            |(bucket, credential_id, model, outcome, requests, tokens)| {
                let bucket = usize::try_from(bucket).ok().filter(|b| *b < super::HOURS)?;
                Some(Point {
                    bucket,
                    credential_id,
                    kind: None,
                    model,
                    outcome,
                    requests: to_u64(requests),
                    tokens: to_u64(tokens),
                })
            },
        )
        .collect())
}

/// The panel's daily series over `days` (quota day keys, oldest first). Daily requests carry
/// successes and failures but not codes; the codes of failed upstream calls per day come from
/// `usage_daily`. Requests appear as outcome `success` / `failure`, calls that failed as
/// `call:<code>` with `requests` = calls and no tokens.
pub(crate) fn daily_points<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    days: &[String],
) -> Result<Vec<Point>, StoreError> {
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return Ok(Vec::new());
    };
    const REQUESTS: &str = "SELECT day, credential_id, model, successes, failures,
             prompt_tokens + completion_tokens
         FROM usage_daily_requests WHERE day >= $1 AND day <= $2 AND day <> 'total'";
    const CALLS: &str = "SELECT day, credential_id, model, outcome, calls FROM usage_daily
         WHERE day >= $1 AND day <= $2 AND day <> 'total' AND outcome <> 'success'";
    type Req = (String, CredId, String, i64, i64, i64);
    type Call = (String, CredId, String, String, i64);
    let (requests, calls): (Vec<Req>, Vec<Call>) = match db.into() {
        Db::Sqlite(conn) => {
            let requests = conn
                .prepare_cached(REQUESTS)?
                .query_map([first, last], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })?
                .collect::<Result<_, _>>()?;
            let calls = conn
                .prepare_cached(CALLS)?
                .query_map([first, last], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?
                .collect::<Result<_, _>>()?;
            (requests, calls)
        }
        Db::Postgres(tx) => {
            let requests = tx
                .query(REQUESTS, &[first, last])?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
                .collect();
            let calls = tx
                .query(CALLS, &[first, last])?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
                .collect();
            (requests, calls)
        }
    };
    let index = |d: &str| days.iter().position(|x| x == d);
    let mut out = Vec::new();
    for (day, cred, model, ok, failed, tokens) in requests {
        let Some(bucket) = index(&day) else { continue };
        for (outcome, n, t) in [("success", ok, tokens), ("failure", failed, 0)] {
            if n > 0 || t > 0 {
                out.push(Point {
                    bucket,
                    credential_id: cred,
                    kind: None,
                    model: model.clone(),
                    outcome: outcome.into(),
                    requests: to_u64(n),
                    tokens: to_u64(t),
                });
            }
        }
    }
    for (day, cred, model, outcome, calls) in calls {
        let Some(bucket) = index(&day) else { continue };
        out.push(Point {
            bucket,
            credential_id: cred,
            kind: None,
            model,
            outcome: format!("call:{outcome}"),
            requests: to_u64(calls),
            tokens: 0,
        });
    }
    Ok(out)
}
