//! Per-project quota of the official upstreams ("Rate limits are applied per project, not per
//! API key"): every key and service account of a project shares these counters. Pure logic
//! with an injected clock; the HTTP side turns an [`Exceeded`] into the upstream's 429.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use chrono_tz::America::Los_Angeles;

use super::types::{ModelQuota, ModelUsage};
use crate::simulator::faults::{QuotaKind, QuotaViolation};

const WINDOW: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// The limits that apply to one model after merging the general and model-specific entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    pub per_minute: Option<u32>,
    pub per_day: Option<u32>,
    pub tokens_per_minute: Option<u64>,
}

pub(crate) fn limits_for(quotas: &[ModelQuota], model: &str) -> Limits {
    let general = quotas.iter().filter(|q| q.model.is_none());
    let specific = quotas.iter().filter(|q| q.model.as_deref() == Some(model));
    general
        .chain(specific)
        .fold(Limits::default(), |acc, q| Limits {
            per_minute: q.requests_per_minute.or(acc.per_minute),
            per_day: q.requests_per_day.or(acc.per_day),
            tokens_per_minute: q.input_tokens_per_minute.or(acc.tokens_per_minute),
        })
}

/// A refused call: every limit it would break, and the delay Google's RetryInfo carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Exceeded {
    /// In [`QuotaKind`] order: tokens per minute, requests per minute, requests per day.
    pub violations: Vec<QuotaViolation>,
    pub retry_after: Duration,
}

/// The calendar day Google's daily quotas count in: it starts at midnight Pacific time.
pub(crate) fn pacific_day(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&Los_Angeles).date_naive()
}

#[derive(Default)]
pub(crate) struct Usage {
    /// Admitted calls of the last minute per model: when, and their input tokens.
    minute: HashMap<String, VecDeque<(DateTime<Utc>, u64)>>,
    /// Admitted calls per model in the Pacific day they were counted in.
    day: HashMap<String, (NaiveDate, u32)>,
}

impl Usage {
    fn prune(&mut self, now: DateTime<Utc>) {
        for calls in self.minute.values_mut() {
            while calls.front().is_some_and(|(at, _)| *at + WINDOW <= now) {
                calls.pop_front();
            }
        }
    }

    fn today(&self, model: &str, now: DateTime<Utc>) -> u32 {
        match self.day.get(model) {
            Some((day, n)) if *day == pacific_day(now) => *n,
            _ => 0,
        }
    }

    /// Count the call if every limit allows it; otherwise count nothing and say why.
    pub fn admit(
        &mut self,
        limits: Limits,
        model: &str,
        tokens: u64,
        now: DateTime<Utc>,
    ) -> Result<(), Exceeded> {
        self.prune(now);
        let recent = self.minute.get(model);
        let calls = recent.map_or(0, VecDeque::len);
        let recent_tokens: u64 = recent.map_or(0, |c| c.iter().map(|(_, t)| t).sum());
        let today = self.today(model, now);
        let mut violations = Vec::new();
        if let Some(limit) = limits.tokens_per_minute {
            if recent_tokens + tokens > limit {
                violations.push(QuotaViolation::new(QuotaKind::InputTokensPerMinute, limit));
            }
        }
        if let Some(limit) = limits.per_minute {
            if calls as u64 >= u64::from(limit) {
                violations.push(QuotaViolation::new(
                    QuotaKind::RequestsPerMinute,
                    limit.into(),
                ));
            }
        }
        if let Some(limit) = limits.per_day {
            if today >= limit {
                violations.push(QuotaViolation::new(QuotaKind::RequestsPerDay, limit.into()));
            }
        }
        if !violations.is_empty() {
            let retry_after = retry_after(&violations, recent.and_then(VecDeque::front), now);
            return Err(Exceeded {
                violations,
                retry_after,
            });
        }
        self.minute
            .entry(model.to_string())
            .or_default()
            .push_back((now, tokens));
        let day = pacific_day(now);
        self.day.insert(model.to_string(), (day, today + 1));
        Ok(())
    }

    pub fn view(&mut self, now: DateTime<Utc>) -> Vec<ModelUsage> {
        self.prune(now);
        let mut models: Vec<&String> = self.minute.keys().chain(self.day.keys()).collect();
        models.sort();
        models.dedup();
        models
            .into_iter()
            .map(|m| {
                let recent = self.minute.get(m);
                ModelUsage {
                    model: m.clone(),
                    requests_last_minute: recent
                        .map_or(0, |c| u32::try_from(c.len()).unwrap_or(u32::MAX)),
                    input_tokens_last_minute: recent.map_or(0, |c| c.iter().map(|(_, t)| t).sum()),
                    requests_today: self.today(m, now),
                }
            })
            .collect()
    }
}

/// A per-minute limit above 0 frees up when the oldest call of the window leaves it. Limit 0
/// and per-day exhaustion get what Google sends then: a short delay to the next minute that
/// says nothing about when the model will serve again (`retryDelay` is not the reset time).
fn retry_after(
    violations: &[QuotaViolation],
    oldest: Option<&(DateTime<Utc>, u64)>,
    now: DateTime<Utc>,
) -> Duration {
    let per_minute = violations.iter().any(|v| {
        v.limit > 0
            && matches!(
                v.quota,
                QuotaKind::RequestsPerMinute | QuotaKind::InputTokensPerMinute
            )
    });
    let until = match oldest {
        Some((at, _)) if per_minute => *at + WINDOW - now,
        _ => {
            let into_minute = chrono::TimeDelta::seconds(i64::from(now.second()))
                + chrono::TimeDelta::nanoseconds(i64::from(now.nanosecond() % 1_000_000_000));
            WINDOW - into_minute
        }
    };
    until.to_std().unwrap_or(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn model_specific_limits_override_the_general_ones_field_by_field() {
        let quotas = vec![
            ModelQuota::all_models().per_minute(10).per_day(100),
            ModelQuota::model("gemini-2.5-pro").per_day(5),
        ];
        let pro = limits_for(&quotas, "gemini-2.5-pro");
        assert_eq!((pro.per_minute, pro.per_day), (Some(10), Some(5)));
        let flash = limits_for(&quotas, "gemini-2.5-flash");
        assert_eq!((flash.per_minute, flash.per_day), (Some(10), Some(100)));
        assert_eq!(limits_for(&[], "x"), Limits::default());
    }

    #[test]
    fn per_minute_window_slides_and_retry_is_when_the_oldest_call_leaves() {
        let mut u = Usage::default();
        let limits = Limits {
            per_minute: Some(2),
            ..Limits::default()
        };
        let t0 = at("2026-03-01T10:00:05Z");
        assert!(u.admit(limits, "m", 1, t0).is_ok());
        let t1 = at("2026-03-01T10:00:20Z");
        assert!(u.admit(limits, "m", 1, t1).is_ok());
        let err = u
            .admit(limits, "m", 1, at("2026-03-01T10:00:30Z"))
            .unwrap_err();
        assert_eq!(
            err.violations,
            vec![QuotaViolation::new(QuotaKind::RequestsPerMinute, 2)]
        );
        assert_eq!(err.retry_after, Duration::from_secs(35));
        assert!(u.admit(limits, "other", 1, t1).is_ok(), "per model");
        assert!(u.admit(limits, "m", 1, at("2026-03-01T10:01:05Z")).is_ok());
    }

    #[test]
    fn per_day_resets_at_midnight_pacific_not_utc() {
        let mut u = Usage::default();
        let limits = Limits {
            per_day: Some(1),
            ..Limits::default()
        };
        // 07:30 UTC in March (PST, UTC-8) is 23:30 the day before in California.
        assert!(u.admit(limits, "m", 1, at("2026-03-02T07:30:00Z")).is_ok());
        let err = u
            .admit(limits, "m", 1, at("2026-03-02T07:59:10Z"))
            .unwrap_err();
        assert_eq!(err.violations[0].quota, QuotaKind::RequestsPerDay);
        assert_eq!(
            err.retry_after,
            Duration::from_secs(50),
            "not the reset time"
        );
        assert!(u.admit(limits, "m", 1, at("2026-03-02T08:00:01Z")).is_ok());
        // In July (PDT, UTC-7) the day turns at 07:00 UTC.
        assert_eq!(
            pacific_day(at("2026-07-02T06:59:59Z")),
            NaiveDate::from_ymd_opt(2026, 7, 1).unwrap()
        );
        assert_eq!(
            pacific_day(at("2026-07-02T07:00:00Z")),
            NaiveDate::from_ymd_opt(2026, 7, 2).unwrap()
        );
    }

    #[test]
    fn limit_zero_reports_every_zero_violation_in_order_and_counts_nothing() {
        let mut u = Usage::default();
        let limits = limits_for(&[ModelQuota::never("p")], "p");
        let err = u
            .admit(limits, "p", 10, at("2026-03-01T10:00:00.25Z"))
            .unwrap_err();
        let kinds: Vec<_> = err.violations.iter().map(|v| (v.quota, v.limit)).collect();
        assert_eq!(
            kinds,
            vec![
                (QuotaKind::InputTokensPerMinute, 0),
                (QuotaKind::RequestsPerMinute, 0),
                (QuotaKind::RequestsPerDay, 0)
            ]
        );
        assert_eq!(err.retry_after, Duration::from_millis(59_750));
        assert!(u.view(at("2026-03-01T10:00:01Z")).is_empty());
    }

    #[test]
    fn tokens_per_minute_and_the_usage_view() {
        let mut u = Usage::default();
        let limits = Limits {
            tokens_per_minute: Some(100),
            ..Limits::default()
        };
        let t = at("2026-03-01T10:00:00Z");
        assert!(u.admit(limits, "m", 60, t).is_ok());
        let err = u.admit(limits, "m", 50, t).unwrap_err();
        assert_eq!(err.violations[0].quota, QuotaKind::InputTokensPerMinute);
        assert_eq!(
            u.view(t),
            vec![ModelUsage {
                model: "m".into(),
                requests_last_minute: 1,
                input_tokens_last_minute: 60,
                requests_today: 1
            }]
        );
    }
}
