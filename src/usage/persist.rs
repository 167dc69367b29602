//! SQL for the usage tables (migrations/0003_usage.sql). Plain functions on a connection or a
//! transaction; `UsageService` runs them through `Store::call` / `Store::tx`.
use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::memory::{Batch, CLASSES, class_str, parse_class, slot};
use super::types::{
    AggregatedStats, CredentialPeriodStats, DayStats, KeyPeriodStats, LimitOverride, ModelStats,
    Outcome, PruneReport, Totals,
};
use crate::pool::{CredId, ModelClass};
use crate::store::StoreError;

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

pub(crate) fn load(conn: &Connection) -> Result<Loaded, StoreError> {
    let mut out = Loaded::default();
    let mut st = conn.prepare("SELECT credential_id, class, outcome, calls FROM usage_counters")?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    for row in rows {
        let (id, class, outcome, calls) = row?;
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
    let mut st =
        conn.prepare("SELECT credential_id, class, window_start, used FROM quota_windows")?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    for row in rows {
        let (id, class, window, used) = row?;
        if let Some(c) = parse_class(&class) {
            out.quota.push((id, c, window, to_u64(used)));
        }
    }
    let mut limits: BTreeMap<CredId, LimitOverride> = BTreeMap::new();
    let mut st = conn.prepare(
        "SELECT credential_id, class, daily_limit FROM quota_limits WHERE credential_id IS NOT NULL",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (id, class, limit) = row?;
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
    out.limits = limits.into_iter().collect();
    Ok(out)
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

/// Write one flush batch inside the caller's transaction. Returns how many rows the schema
/// refused and were set aside; every other row lands.
pub(crate) fn write_batch(tx: &Transaction, b: &Batch) -> Result<usize, StoreError> {
    let mut rejected = 0;
    {
        let mut del = tx.prepare_cached("DELETE FROM usage_counters WHERE credential_id = ?1")?;
        let mut ins = tx.prepare_cached(
            "INSERT INTO usage_counters (credential_id, class, outcome, calls) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut quota = tx.prepare_cached(
            "INSERT INTO quota_windows (credential_id, class, window_start, used) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (credential_id, class)
             DO UPDATE SET window_start = excluded.window_start, used = excluded.used",
        )?;
        for c in &b.cells {
            del.execute([c.id])?;
            for (class, outcome, n) in &c.counts {
                if *n > 0 {
                    let r =
                        ins.execute(params![c.id, class_str(*class), outcome.key(), to_i64(*n)]);
                    row_written(r, "usage_counters", &(c.id, class, outcome), &mut rejected)?;
                }
            }
            for class in CLASSES {
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

/// Replace a credential's overrides. `NotFound` when the credential does not exist (the
/// foreign key would refuse it anyway; checking first gives a clear error).
pub(crate) fn set_limits(
    tx: &Transaction,
    id: CredId,
    limits: LimitOverride,
) -> Result<(), StoreError> {
    let exists = tx
        .query_row("SELECT 1 FROM credentials WHERE id = ?1", [id], |_| Ok(()))
        .optional()?
        .is_some();
    if !exists {
        return Err(StoreError::NotFound {
            what: format!("credential {id}"),
        });
    }
    tx.execute("DELETE FROM quota_limits WHERE credential_id = ?1", [id])?;
    let mut ins = tx.prepare_cached(
        "INSERT INTO quota_limits (credential_id, class, daily_limit) VALUES (?1, ?2, ?3)",
    )?;
    for (class, v) in [("total", limits.total), ("pro", limits.pro)] {
        if let Some(v) = v {
            ins.execute(params![id, class, to_i64(v)])?;
        }
    }
    Ok(())
}

/// Drop minute rows older than `minute_cutoff_ms` and fold daily rows before `day_cutoff` into
/// the `'total'` row of their key, preserving every sum.
pub(crate) fn prune(
    tx: &Transaction,
    minute_cutoff_ms: i64,
    day_cutoff: &str,
) -> Result<PruneReport, StoreError> {
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
    Ok(PruneReport {
        minute_rows_deleted,
        daily_rows_rolled_up: (calls + requests + keys) as u64,
    })
}

/// Daily history between `first_day` and `last_day` inclusive (never the `'total'` roll-up).
pub(crate) fn aggregate(
    conn: &Connection,
    days: u32,
    first_day: String,
    last_day: String,
    next_reset: chrono::DateTime<chrono::Utc>,
) -> Result<AggregatedStats, StoreError> {
    let mut overall = Totals::default();
    let mut days_map: BTreeMap<String, Totals> = BTreeMap::new();
    let mut models: BTreeMap<String, Totals> = BTreeMap::new();
    let mut creds: BTreeMap<CredId, Totals> = BTreeMap::new();

    let mut st = conn.prepare(
        "SELECT day, credential_id, model, outcome, calls FROM usage_daily
         WHERE day >= ?1 AND day <= ?2 AND day <> 'total'",
    )?;
    let rows = st.query_map([&first_day, &last_day], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    for row in rows {
        let (day, id, model, outcome, n) = row?;
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

    let mut st = conn.prepare(
        "SELECT day, credential_id, model, requests, successes, failures, prompt_tokens,
             completion_tokens, reasoning_tokens
         FROM usage_daily_requests WHERE day >= ?1 AND day <= ?2 AND day <> 'total'",
    )?;
    let rows = st.query_map([&first_day, &last_day], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            [
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, i64>(7)?,
                r.get::<_, i64>(8)?,
            ],
        ))
    })?;
    for row in rows {
        let (day, id, model, v) = row?;
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
    let mut st = conn.prepare(
        "SELECT key_id, sum(requests), sum(successes), sum(failures), sum(prompt_tokens),
             sum(completion_tokens), sum(reasoning_tokens)
         FROM usage_key_daily WHERE day >= ?1 AND day <= ?2 AND day <> 'total' GROUP BY key_id",
    )?;
    let rows = st.query_map([&first_day, &last_day], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            [
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
            ],
        ))
    })?;
    for row in rows {
        let (id, v) = row?;
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
