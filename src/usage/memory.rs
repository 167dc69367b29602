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
    /// What the database is known to hold: on PostgreSQL the shared totals as of this
    /// instance's last flush, on SQLite the counters the last flush wrote.
    pub synced: Synced,
    /// SQLite: the window start and use of each class's quota row, as loaded or last
    /// written ((0, 0): no row). A flush writes a class only when memory differs from what
    /// that row says about the current window, which with rows of older windows is zero.
    pub stored: [(i64, u64); 3],
}

/// The part of a credential's counts that the database already holds, as of this instance's
/// last successful flush (on SQLite, the values that flush wrote). Only the flusher reads or writes it (under the cell's
/// lock, like everything in `CredData`), so the hot path pays nothing for it: what an
/// instance counted since is `used - synced.used` (same window) and `counts - synced.counts`,
/// computed when a flush takes its snapshot. A flush that fails changes nothing here, so
/// its deltas are simply computed again, larger, by the next one.
#[derive(Debug, Default)]
pub(crate) struct Synced {
    /// Start (ms) of the window `used` belongs to; any other value means "nothing of the
    /// current window was written yet".
    pub window: i64,
    pub used: [u64; 3],
    pub counts: HashMap<(ModelClass, Outcome), u64>,
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
        let base = if d.synced.window == d.window {
            d.synced.used
        } else {
            [0; 3]
        };
        let mut counts: Vec<_> = d
            .counts
            .iter()
            .map(|(k, v)| {
                let sent = d.synced.counts.get(k).copied().unwrap_or(0);
                (k.0, k.1, *v, signed(*v) - signed(sent))
            })
            .collect();
        // A fixed order, so instances flushing at once lock shared rows alike (no deadlock).
        counts.sort_unstable_by_key(|(class, outcome, _, _)| (slot(*class), *outcome));
        CellSnapshot {
            id,
            window: d.window,
            quota_changed: std::array::from_fn(|i| {
                let (window, used) = d.stored[i];
                let held = if window == d.window { used } else { 0 };
                held != d.used[i]
            }),
            used: d.used,
            used_delta: std::array::from_fn(|i| signed(d.used[i]) - signed(base[i])),
            counts,
        }
    }

    /// Adopts the shared totals a delta flush got back for `snap` (see [`Synced`]): the
    /// database's total becomes the base, and whatever this instance counted since the
    /// snapshot stays on top of it. `used[i]` is `None` for a class that was not written
    /// (no delta) or whose row is on a newer window than the snapshot's; `counts[j]` goes
    /// with `snap.counts[j]`.
    pub fn adopt(&self, snap: &CellSnapshot, used: &[Option<u64>; 3], counts: &[Option<u64>]) {
        let mut d = self.data.lock();
        if d.window == snap.window {
            let base = if d.synced.window == snap.window {
                d.synced.used
            } else {
                [0; 3]
            };
            let mut synced = base;
            for i in 0..3 {
                match used[i] {
                    Some(total) => {
                        let since = signed(d.used[i]) - signed(snap.used[i]);
                        d.used[i] = unsigned(signed(total) + since);
                        synced[i] = total;
                    }
                    // Nothing sent, or refused as stale: what was counted is settled.
                    None => synced[i] = snap.used[i],
                }
            }
            d.synced.window = snap.window;
            d.synced.used = synced;
        }
        // (A window that rolled over since the snapshot leaves `synced` on the old one, so
        // the new window's count goes out whole next time.)
        for ((class, outcome, at, _), total) in snap.counts.iter().zip(counts) {
            let Some(total) = *total else { continue };
            let key = (*class, *outcome);
            let now = d.counts.get(&key).copied().unwrap_or(0);
            let since = signed(now) - signed(*at);
            d.counts.insert(key, unsigned(signed(total) + since));
            d.synced.counts.insert(key, total);
        }
    }

    /// Records that a SQLite flush stored `snap`'s absolute values: the file holds them
    /// now, so the next flush writes only what changes after them. (The flusher holds the
    /// writer lock from snapshot to here, so a reset cannot come in between.)
    pub fn written(&self, snap: &CellSnapshot) {
        let mut d = self.data.lock();
        for i in 0..3 {
            if snap.quota_changed[i] {
                d.stored[i] = (snap.window, snap.used[i]);
            }
        }
        for (class, outcome, n, _) in &snap.counts {
            d.synced.counts.insert((*class, *outcome), *n);
        }
    }

    /// Adopts another instance's view of window `window` for a credential this flush did
    /// not write: `shared` is the database's use per class (0 where it has no row).
    pub fn adopt_shared(&self, window: i64, shared: [u64; 3]) {
        let mut d = self.data.lock();
        if d.window > window {
            // Rolled over since the flush began: the shared rows are of a finished window.
            return;
        }
        let base = if d.synced.window == window {
            d.synced.used
        } else {
            [0; 3]
        };
        let mine = if d.window == window { d.used } else { [0; 3] };
        d.window = window;
        for i in 0..3 {
            let unsent = signed(mine[i]) - signed(base[i]);
            d.used[i] = unsigned(signed(shared[i]) + unsent);
        }
        d.synced.window = window;
        d.synced.used = shared;
    }
}

fn signed(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn unsigned(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// What the flusher writes for one dirty credential. SQLite (one instance) writes the absolute
/// values of the rows whose delta is not zero, so a write can be repeated and the last one
/// wins; PostgreSQL (shared by instances)
/// adds the deltas, counted by this instance since its last successful flush, to the shared
/// rows (see [`Synced`]).
#[derive(Clone, Debug)]
pub(crate) struct CellSnapshot {
    pub id: CredId,
    pub window: i64,
    /// SQLite: per class, whether the stored quota row says something else about `window`
    /// than `used` (see `CredData::stored`).
    pub quota_changed: [bool; 3],
    pub used: [u64; 3],
    /// Per class, what `used` holds beyond what the database has for `window`. Negative
    /// after `carry_over` moved use away from this credential.
    pub used_delta: [i64; 3],
    /// (class, outcome, absolute, delta since the last successful flush).
    pub counts: Vec<(ModelClass, Outcome, u64, i64)>,
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
    /// Start (ms) of the current window when the batch was taken: on PostgreSQL the flush
    /// also reads every instance's use of it.
    pub window: i64,
    /// Rule changes since the last flush, as (old window start, new window start): on
    /// PostgreSQL the shared rows of the old window move to the new one before the deltas go
    /// out (idempotent, so every instance may apply the same move).
    pub moves: Vec<(i64, i64)>,
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

    const OK: Outcome = Outcome::Success;

    fn written(
        snap: &CellSnapshot,
        db: &mut [i64; 3],
        counts: &mut HashMap<(ModelClass, Outcome), i64>,
    ) -> ([Option<u64>; 3], Vec<Option<u64>>) {
        // A shared database: adds each delta, returns the totals.
        let used = std::array::from_fn(|i| {
            (snap.used_delta[i] != 0).then(|| {
                db[i] = (db[i] + snap.used_delta[i]).max(0);
                db[i] as u64
            })
        });
        let counts = snap
            .counts
            .iter()
            .map(|(c, o, _, delta)| {
                (*delta > 0).then(|| {
                    let e = counts.entry((*c, *o)).or_insert(0);
                    *e += delta;
                    *e as u64
                })
            })
            .collect();
        (used, counts)
    }

    #[test]
    fn deltas_are_what_was_counted_since_the_last_successful_flush() {
        let c = Cell::default();
        let (mut db, mut db_counts) = ([0i64; 3], HashMap::new());
        for _ in 0..3 {
            c.count(1, ModelClass::Pro, OK);
        }
        let s1 = c.snapshot(7);
        assert_eq!(s1.used_delta, [3, 0, 0]);
        assert_eq!(s1.counts, vec![(ModelClass::Pro, OK, 3, 3)]);

        // The flush fails: nothing changes, the next snapshot carries everything.
        c.count(1, ModelClass::Flash, OK);
        let s2 = c.snapshot(7);
        assert_eq!(s2.used_delta, [3, 1, 0]);

        // Another instance wrote 10 pro calls meanwhile; this flush succeeds, and one more
        // call lands between the snapshot and the adoption.
        db[0] = 10;
        let (used, counts) = written(&s2, &mut db, &mut db_counts);
        assert_eq!(used, [Some(13), Some(1), None]);
        c.count(1, ModelClass::Pro, OK);
        c.adopt(&s2, &used, &counts);
        {
            let d = c.data.lock();
            assert_eq!(d.used, [14, 1, 0], "shared total plus the call made since");
            assert_eq!(d.synced.used, [13, 1, 0]);
            assert_eq!(d.synced.window, 1);
        }
        // Only the call made after the snapshot is left to send.
        let s3 = c.snapshot(7);
        assert_eq!(s3.used_delta, [1, 0, 0]);
        let pro_ok = s3.counts.iter().find(|e| e.0 == ModelClass::Pro).unwrap();
        assert_eq!(pro_ok.3, 1);
        let (used, counts) = written(&s3, &mut db, &mut db_counts);
        c.adopt(&s3, &used, &counts);
        assert_eq!(db, [14, 1, 0]);
        assert_eq!(c.snapshot(7).used_delta, [0; 3], "all settled");
        assert_eq!(db_counts[&(ModelClass::Pro, OK)], 4);
    }

    #[test]
    fn a_new_window_sends_its_whole_count_and_a_late_answer_is_ignored() {
        let c = Cell::default();
        let (mut db, mut db_counts) = ([0i64; 3], HashMap::new());
        c.count(1, ModelClass::Pro, OK);
        let s = c.snapshot(7);
        let (used, counts) = written(&s, &mut db, &mut db_counts);
        c.adopt(&s, &used, &counts);
        // Rollover: the new window starts at 0 here, and its first delta is its whole count.
        c.count(2, ModelClass::Pro, OK);
        let s = c.snapshot(7);
        assert_eq!((s.window, s.used_delta), (2, [1, 0, 0]));
        // A snapshot of window 2 answered after the cell rolled to window 3: not adopted.
        c.count(3, ModelClass::Flash, OK);
        c.adopt(&s, &[Some(50), None, None], &[None, None]);
        let d = c.data.lock();
        assert_eq!((d.window, d.used), (3, [0, 1, 0]));
        assert_eq!(d.synced.window, 1, "window 3 not written yet");
    }

    #[test]
    fn shared_use_is_adopted_under_the_unsent_count() {
        let c = Cell::default();
        // Nothing here yet: another instance's use becomes this one's view.
        c.adopt_shared(5, [4, 2, 0]);
        assert_eq!(c.data.lock().used_in(5), [4, 2, 0]);
        assert_eq!(c.snapshot(1).used_delta, [0; 3]);
        // Two calls here, not written yet, when the others reach 9 pro calls.
        c.count(5, ModelClass::Pro, OK);
        c.count(5, ModelClass::Pro, OK);
        c.adopt_shared(5, [9, 2, 0]);
        assert_eq!(c.data.lock().used_in(5), [11, 2, 0]);
        assert_eq!(c.snapshot(1).used_delta, [2, 0, 0], "still to send");
        // An older window's rows never overwrite a newer one.
        c.count(6, ModelClass::Flash, OK);
        c.adopt_shared(5, [100, 100, 100]);
        assert_eq!(c.data.lock().used_in(6), [0, 1, 0]);
    }

    #[test]
    fn moved_use_is_a_negative_delta() {
        let c = Cell::default();
        c.adopt_shared(1, [3, 0, 0]);
        c.data.lock().used = [0; 3];
        assert_eq!(c.snapshot(1).used_delta, [-3, 0, 0]);
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
