//! Time series for the panel's charts: requests, tokens and errors per hour over the last 48
//! hours (from the per-minute rows) and per quota day over the last 30 days (from the daily
//! rows), each row keeping its credential, kind and model so the caller can group by any.
use chrono::{DateTime, Days, NaiveDate, Utc};
use rusqlite::Connection;

use super::UsageError;
use super::service::UsageService;
use crate::google::kind::CredentialKind;
use crate::pool::CredId;
use crate::store::StoreError;

pub const HOURS: usize = 48;
pub const DAYS: usize = 30;

/// One (bucket, credential, model, outcome) cell.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Index into the buckets, oldest first.
    pub bucket: usize,
    /// 0: no credential served the request.
    pub credential_id: CredId,
    /// `None` for credential 0 and for credentials deleted since.
    pub kind: Option<CredentialKind>,
    pub model: String,
    /// `success`, `upstream_<code>`, `client_<code>` or `transport`.
    pub outcome: String,
    pub requests: u64,
    /// Prompt plus completion tokens (completion includes thinking).
    pub tokens: u64,
}

/// Buckets and the points in them.
#[derive(Clone, Debug, Default)]
pub struct TimeSeries {
    /// Hour starts (UTC) or quota days, oldest first.
    pub hours: Vec<DateTime<Utc>>,
    pub days: Vec<NaiveDate>,
    pub points: Vec<Point>,
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

const HOUR_MS: i64 = 3_600_000;

fn hourly_rows(conn: &Connection, start_ms: i64) -> Result<Vec<Point>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT (bucket_start - ?1) / 3600000, credential_id, base_model, outcome, sum(requests),
                sum(prompt_tokens + completion_tokens)
         FROM usage_minute WHERE bucket_start >= ?1
         GROUP BY 1, 2, 3, 4",
    )?;
    let rows = st.query_map([start_ms], |r| {
        Ok(Point {
            bucket: usize::try_from(r.get::<_, i64>(0)?).unwrap_or(usize::MAX),
            credential_id: r.get(1)?,
            kind: None,
            model: r.get(2)?,
            outcome: r.get(3)?,
            requests: to_u64(r.get(4)?),
            tokens: to_u64(r.get(5)?),
        })
    })?;
    Ok(rows
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|p| p.bucket < HOURS)
        .collect())
}

/// Daily requests carry successes and failures but not codes; the codes of failed upstream
/// calls per day come from `usage_daily`. Requests appear as outcome `success` / `failure`,
/// calls that failed as their code with `requests` = calls and no tokens.
fn daily_rows(conn: &Connection, days: &[String]) -> Result<Vec<Point>, StoreError> {
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return Ok(Vec::new());
    };
    let index = |d: &str| days.iter().position(|x| x == d);
    let mut out = Vec::new();
    let mut st = conn.prepare_cached(
        "SELECT day, credential_id, model, successes, failures, prompt_tokens + completion_tokens
         FROM usage_daily_requests WHERE day >= ?1 AND day <= ?2 AND day <> 'total'",
    )?;
    let rows = st.query_map([first, last], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
        ))
    })?;
    for row in rows {
        let (day, cred, model, ok, failed, tokens) = row?;
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
    let mut st = conn.prepare_cached(
        "SELECT day, credential_id, model, outcome, calls FROM usage_daily
         WHERE day >= ?1 AND day <= ?2 AND day <> 'total' AND outcome <> 'success'",
    )?;
    let rows = st.query_map([first, last], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    for row in rows {
        let (day, cred, model, outcome, calls) = row?;
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

impl UsageService {
    /// The last 48 hours, hour by hour (the current hour last, partial).
    pub async fn hourly_series(&self) -> Result<TimeSeries, UsageError> {
        self.flush().await?;
        let now = self.inner.clock.now().timestamp_millis();
        let this_hour = now - now.rem_euclid(HOUR_MS);
        let start = this_hour - HOUR_MS * (HOURS as i64 - 1);
        let mut points = self
            .inner
            .store
            .call(move |c| hourly_rows(c, start))
            .await?;
        self.set_kinds(&mut points);
        let hours = (0..HOURS as i64)
            .filter_map(|i| DateTime::from_timestamp_millis(start + i * HOUR_MS))
            .collect();
        Ok(TimeSeries {
            hours,
            days: Vec::new(),
            points,
        })
    }

    /// The last 30 quota days, today last. Outcomes are `success` / `failure` for requests
    /// and `call:<outcome>` for failed upstream calls (the daily rows keep codes per call).
    pub async fn daily_series(&self) -> Result<TimeSeries, UsageError> {
        self.flush().await?;
        let now = self.inner.clock.now();
        let today = self
            .inner
            .with_window(now, |w| w.start.with_timezone(&w.rule.tz).date_naive());
        let days: Vec<NaiveDate> = (0..DAYS as u64)
            .rev()
            .filter_map(|back| today.checked_sub_days(Days::new(back)))
            .collect();
        let keys: Vec<String> = days.iter().map(NaiveDate::to_string).collect();
        let mut points = self.inner.store.call(move |c| daily_rows(c, &keys)).await?;
        self.set_kinds(&mut points);
        Ok(TimeSeries {
            hours: Vec::new(),
            days,
            points,
        })
    }

    fn set_kinds(&self, points: &mut [Point]) {
        let kinds = self.kinds();
        for p in points {
            p.kind = kinds.get(&p.credential_id).copied();
        }
    }
}
