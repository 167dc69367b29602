//! Time series for the panel's charts: requests, tokens and errors per hour over the last 48
//! hours (from the per-minute rows) and per quota day over the last 30 days (from the daily
//! rows), each row keeping its credential, kind and model so the caller can group by any.
use chrono::{DateTime, Days, NaiveDate, Utc};

use super::UsageError;
use super::persist::{daily_points, hourly_points};
use super::service::UsageService;
use crate::google::kind::CredentialKind;
use crate::pool::CredId;

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

pub(super) const HOUR_MS: i64 = 3_600_000;

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
            .run(move |db| hourly_points(db, start))
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
        let mut points = self
            .inner
            .store
            .run(move |db| daily_points(db, &keys))
            .await?;
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
