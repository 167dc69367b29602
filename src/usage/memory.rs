//! In-memory counters: what the hot path touches. Per-credential cells behind a short
//! `parking_lot::Mutex` each (so the pool's quota check contends only with records for the same
//! credential), and one pending batch of history deltas for the flusher.
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use parking_lot::Mutex;

use super::types::{LimitOverride, Outcome, Surface};
use super::window::ResetRule;
use crate::google::kind::CredentialKind;
use crate::pool::{CredId, ModelClass};

pub(crate) const CLASSES: [ModelClass; 3] = [ModelClass::Pro, ModelClass::Flash, ModelClass::Other];

pub(crate) fn slot(class: ModelClass) -> usize {
    match class {
        ModelClass::Pro => 0,
        ModelClass::Flash => 1,
        ModelClass::Other => 2,
    }
}

pub(crate) fn class_str(class: ModelClass) -> &'static str {
    match class {
        ModelClass::Pro => "pro",
        ModelClass::Flash => "flash",
        ModelClass::Other => "other",
    }
}

pub(crate) fn parse_class(s: &str) -> Option<ModelClass> {
    CLASSES.into_iter().find(|c| class_str(*c) == s)
}

/// The daily window containing "now" under the current rule, cached until it ends.
#[derive(Clone, Debug)]
pub(crate) struct Window {
    pub rule: ResetRule,
    pub start: DateTime<Utc>,
    pub next: DateTime<Utc>,
    pub start_ms: i64,
    /// Local date (in the rule's zone) on which the window started: the history `day` key.
    pub day: Arc<str>,
}

impl Window {
    pub fn at(rule: ResetRule, now: DateTime<Utc>) -> Window {
        let start = rule.window_start(now);
        Window {
            rule,
            start,
            next: rule.next_reset(now),
            start_ms: start.timestamp_millis(),
            day: day_of(rule, start).into(),
        }
    }

    pub fn contains(&self, now: DateTime<Utc>) -> bool {
        self.start <= now && now < self.next
    }
}

pub(crate) fn day_of(rule: ResetRule, t: DateTime<Utc>) -> String {
    t.with_timezone(&rule.tz).format("%Y-%m-%d").to_string()
}

/// One credential's live counters.
#[derive(Debug, Default)]
pub(crate) struct CredData {
    /// Start (ms) of the window `used` belongs to; any other value means "zero today".
    pub window: i64,
    pub used: [u64; 3],
    /// Calls since the last reset, by class and outcome.
    pub counts: HashMap<(ModelClass, Outcome), u64>,
    pub limits: LimitOverride,
    /// The credential's kind: its upstream's default limits apply, and aggregates break
    /// down by it (Code Assist unless told otherwise).
    pub kind: CredentialKind,
}

impl CredData {
    /// Today's use per class, treating a stale window as empty.
    pub fn used_in(&self, window_ms: i64) -> [u64; 3] {
        if self.window == window_ms {
            self.used
        } else {
            [0; 3]
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Cell {
    pub data: Mutex<CredData>,
    /// Set under `data`'s lock whenever it changes; the flusher clears it and writes a snapshot.
    pub dirty: AtomicBool,
}

impl Cell {
    /// Count one call in `window`. Rolling over here (rather than on a timer) is what keeps a
    /// window exact: the increment and the rollover happen under the same lock.
    pub fn count(&self, window_ms: i64, class: ModelClass, outcome: Outcome) {
        let mut d = self.data.lock();
        if d.window != window_ms {
            d.window = window_ms;
            d.used = [0; 3];
        }
        d.used[slot(class)] += 1;
        *d.counts.entry((class, outcome)).or_insert(0) += 1;
        self.dirty.store(true, Ordering::Release);
    }

    pub fn snapshot(&self, id: CredId) -> CellSnapshot {
        let d = self.data.lock();
        CellSnapshot {
            id,
            window: d.window,
            used: d.used,
            counts: d.counts.iter().map(|(k, v)| (k.0, k.1, *v)).collect(),
        }
    }
}

/// What the flusher writes for one dirty credential: absolute values, so a write can be repeated
/// and the last one wins.
#[derive(Clone, Debug)]
pub(crate) struct CellSnapshot {
    pub id: CredId,
    pub window: i64,
    pub used: [u64; 3],
    pub counts: Vec<(ModelClass, Outcome, u64)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CallKey {
    pub day: Arc<str>,
    pub credential_id: CredId,
    pub model: String,
    pub outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct DailyRequestKey {
    pub day: Arc<str>,
    pub credential_id: CredId,
    pub model: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DailyRequestAgg {
    pub requests: u64,
    pub successes: u64,
    pub failures: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub reasoning_tokens: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct MinuteKey {
    pub bucket_start: i64,
    pub credential_id: CredId,
    pub base_model: String,
    pub requested_model: String,
    pub surface: Surface,
    pub stream: bool,
    pub outcome: Outcome,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MinuteAgg {
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub reasoning_tokens: u64,
    pub latency_ms_sum: u64,
    pub ttfb_ms_sum: u64,
    pub ttfb_count: u64,
    pub retries: u64,
}

/// Client requests per day, client key and base model (`usage_key_daily`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct KeyDailyKey {
    pub day: Arc<str>,
    pub key_id: i64,
    pub model: String,
}

/// History deltas not yet written. Deltas add up, so a failed write is merged back untouched.
#[derive(Clone, Debug, Default)]
pub(crate) struct Pending {
    pub calls: HashMap<CallKey, u64>,
    pub daily_requests: HashMap<DailyRequestKey, DailyRequestAgg>,
    pub key_daily: HashMap<KeyDailyKey, DailyRequestAgg>,
    pub minute: HashMap<MinuteKey, MinuteAgg>,
}

impl DailyRequestAgg {
    pub fn add(&mut self, v: &DailyRequestAgg) {
        self.requests += v.requests;
        self.successes += v.successes;
        self.failures += v.failures;
        self.prompt_tokens += v.prompt_tokens;
        self.completion_tokens += v.completion_tokens;
        self.reasoning_tokens += v.reasoning_tokens;
    }
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
            && self.daily_requests.is_empty()
            && self.key_daily.is_empty()
            && self.minute.is_empty()
    }

    pub fn merge(&mut self, other: Pending) {
        for (k, v) in other.calls {
            *self.calls.entry(k).or_insert(0) += v;
        }
        for (k, v) in other.daily_requests {
            self.daily_requests.entry(k).or_default().add(&v);
        }
        for (k, v) in other.key_daily {
            self.key_daily.entry(k).or_default().add(&v);
        }
        for (k, v) in other.minute {
            let e = self.minute.entry(k).or_default();
            e.add(&v);
        }
    }
}

impl MinuteAgg {
    pub fn add(&mut self, v: &MinuteAgg) {
        self.requests += v.requests;
        self.prompt_tokens += v.prompt_tokens;
        self.completion_tokens += v.completion_tokens;
        self.reasoning_tokens += v.reasoning_tokens;
        self.latency_ms_sum += v.latency_ms_sum;
        self.ttfb_ms_sum += v.ttfb_ms_sum;
        self.ttfb_count += v.ttfb_count;
        self.retries += v.retries;
    }
}

/// One flush: the history deltas taken out of `Pending` plus snapshots of the dirty cells.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub pending: Pending,
    pub cells: Vec<CellSnapshot>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.cells.is_empty()
    }
}

/// Model names can come from clients; cap them so a hostile name cannot bloat rows.
pub(crate) fn clamp_model(s: &str) -> String {
    const MAX: usize = 128;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => s[..cut].to_string(),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_rolls_over_when_the_window_changes() {
        let c = Cell::default();
        c.count(1, ModelClass::Pro, Outcome::Success);
        c.count(1, ModelClass::Flash, Outcome::UpstreamError(429));
        assert_eq!(c.data.lock().used_in(1), [1, 1, 0]);
        c.count(2, ModelClass::Pro, Outcome::Success);
        let d = c.data.lock();
        assert_eq!(d.used_in(2), [1, 0, 0]);
        assert_eq!(d.used_in(1), [0; 3], "a stale window reads as empty");
        assert_eq!(
            d.counts[&(ModelClass::Pro, Outcome::Success)],
            2,
            "lifetime kept"
        );
    }

    #[test]
    fn clamp_model_cuts_on_char_boundaries() {
        assert_eq!(clamp_model("gemini-2.5-pro"), "gemini-2.5-pro");
        let long = "é".repeat(300);
        assert_eq!(clamp_model(&long).chars().count(), 128);
    }

    #[test]
    fn pending_merge_adds() {
        let key = CallKey {
            day: "2026-01-01".into(),
            credential_id: 1,
            model: "m".into(),
            outcome: Outcome::Success,
        };
        let mut a = Pending::default();
        a.calls.insert(key.clone(), 2);
        let mut b = Pending::default();
        b.calls.insert(key.clone(), 3);
        a.merge(b);
        assert_eq!(a.calls[&key], 5);
    }
}
