//! A key's live counters: today's requests and tokens, and the instants of the requests of
//! the last minute. One short mutex per key; nothing here touches the database (the usage
//! rows that persist a key's day are written by the usage flusher).
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::store::client_keys::KeyFields;
use crate::usage::DayWindow;

const MINUTE: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct Counters {
    m: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Start (ms) of the quota window `requests` and `tokens` belong to.
    window: i64,
    requests: u64,
    tokens: u64,
    /// Instants of the requests let in during the last minute (kept only with a per-minute
    /// limit), oldest first.
    recent: VecDeque<Instant>,
}

impl State {
    fn roll(&mut self, window: i64) {
        if self.window != window {
            self.window = window;
            self.requests = 0;
            self.tokens = 0;
        }
    }
}

/// A request refused by a limit: which one, and when to come back.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("API key '{key}' is over its {what} limit ({limit}); retry in {retry_after_secs} s")]
pub struct Limited {
    pub key: String,
    /// `daily request`, `daily token` or `per-minute request`.
    pub what: &'static str,
    pub limit: u64,
    pub retry_after_secs: u64,
}

impl Counters {
    /// Starts today's counts from what was written before a restart.
    pub fn seed(&self, window: i64, requests: u64, tokens: u64) {
        let mut s = self.m.lock();
        s.window = window;
        s.requests = requests;
        s.tokens = tokens;
    }

    /// Raises today's counts to what the shared database holds for the key (all instances'
    /// flushed counts), never lowering what this instance counted itself.
    pub fn raise_to(&self, window: i64, requests: u64, tokens: u64) {
        let mut s = self.m.lock();
        if s.window > window {
            return;
        }
        s.roll(window);
        s.requests = s.requests.max(requests);
        s.tokens = s.tokens.max(tokens);
    }

    #[cfg(test)]
    fn snapshot_for_test(&self) -> (i64, u64, u64) {
        let s = self.m.lock();
        (s.window, s.requests, s.tokens)
    }

    /// Lets one request in under `f`'s limits, counting it, or says which limit refuses it.
    /// Checks and count happen under one lock, so concurrent requests never overshoot.
    pub fn admit(
        &self,
        name: &str,
        f: &KeyFields,
        w: &DayWindow,
        now: Instant,
        now_ms: i64,
    ) -> Result<(), Limited> {
        let until_reset = || {
            let secs = (w.next.timestamp_millis() - now_ms).max(0) as u64;
            secs.div_ceil(1000).max(1)
        };
        let limited = |what, limit, retry_after_secs| Limited {
            key: name.to_string(),
            what,
            limit,
            retry_after_secs,
        };
        let mut s = self.m.lock();
        s.roll(w.start_ms);
        if f.daily_requests > 0 && s.requests >= f.daily_requests {
            return Err(limited("daily request", f.daily_requests, until_reset()));
        }
        if f.daily_tokens > 0 && s.tokens >= f.daily_tokens {
            return Err(limited("daily token", f.daily_tokens, until_reset()));
        }
        if f.rpm > 0 {
            while s
                .recent
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= MINUTE)
            {
                s.recent.pop_front();
            }
            // A lowered limit leaves more instants than it allows: the oldest go first.
            let cap = usize::try_from(f.rpm).unwrap_or(usize::MAX);
            while s.recent.len() > cap {
                s.recent.pop_front();
            }
            if s.recent.len() >= cap {
                let oldest = s.recent.front().copied().unwrap_or(now);
                let wait = MINUTE.saturating_sub(now.saturating_duration_since(oldest));
                let secs = wait.as_millis().div_ceil(1000).max(1) as u64;
                return Err(limited("per-minute request", f.rpm, secs));
            }
            s.recent.push_back(now);
        } else if !s.recent.is_empty() {
            s.recent = VecDeque::new();
        }
        s.requests += 1;
        Ok(())
    }

    /// Takes back a request `admit` let in at `at` in the window starting at `window`.
    pub fn refund(&self, window: i64, at: Instant) {
        let mut s = self.m.lock();
        if s.window == window {
            s.requests = s.requests.saturating_sub(1);
        }
        if let Some(i) = s.recent.iter().rposition(|t| *t == at) {
            s.recent.remove(i);
        }
    }

    /// Adds the tokens of a request that ended.
    pub fn add_tokens(&self, w: &DayWindow, tokens: u64) {
        if tokens == 0 {
            return;
        }
        let mut s = self.m.lock();
        s.roll(w.start_ms);
        s.tokens += tokens;
    }

    /// Today's (requests, tokens).
    pub fn today(&self, w: &DayWindow) -> (u64, u64) {
        let s = self.m.lock();
        if s.window == w.start_ms {
            (s.requests, s.tokens)
        } else {
            (0, 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start: i64) -> DayWindow {
        DayWindow {
            start_ms: start,
            next: chrono::DateTime::from_timestamp_millis(start + 86_400_000).unwrap(),
            day: "2026-01-01".into(),
        }
    }

    #[test]
    fn shared_counts_raise_but_never_lower_todays_and_an_old_window_is_ignored() {
        let c = Counters::default();
        c.seed(100, 5, 50);
        c.raise_to(100, 3, 70);
        assert_eq!(c.snapshot_for_test(), (100, 5, 70));
        c.raise_to(100, 9, 10);
        assert_eq!(c.snapshot_for_test(), (100, 9, 70));
        // A newer window starts from the shared count; an older one changes nothing.
        c.raise_to(200, 2, 1);
        assert_eq!(c.snapshot_for_test(), (200, 2, 1));
        c.raise_to(100, 99, 99);
        assert_eq!(c.snapshot_for_test(), (200, 2, 1));
    }

    #[test]
    fn a_refund_gives_back_the_slot_and_the_days_count() {
        let c = Counters::default();
        let f = KeyFields {
            rpm: 1,
            daily_requests: 5,
            ..KeyFields::default()
        };
        let (w, t) = (window(0), Instant::now());
        c.admit("k", &f, &w, t, 1).unwrap();
        assert!(c.admit("k", &f, &w, t, 1).is_err());
        c.refund(0, t);
        assert_eq!(c.today(&w), (0, 0));
        c.admit("k", &f, &w, t, 1).unwrap();
        // A refund for yesterday's window leaves today's count alone.
        c.refund(-86_400_000, Instant::now());
        assert_eq!(c.today(&w), (1, 0));
    }

    #[test]
    fn per_minute_limit_slides() {
        let c = Counters::default();
        let f = KeyFields {
            rpm: 3,
            ..KeyFields::default()
        };
        let w = window(0);
        let t0 = Instant::now();
        for i in 0..3 {
            c.admit("k", &f, &w, t0 + Duration::from_secs(i * 10), 1)
                .unwrap();
        }
        let e = c
            .admit("k", &f, &w, t0 + Duration::from_secs(30), 1)
            .unwrap_err();
        assert_eq!(
            (e.what, e.limit, e.retry_after_secs),
            ("per-minute request", 3, 30)
        );
        // The first request leaves the window 60 s after it was let in.
        c.admit("k", &f, &w, t0 + Duration::from_secs(60), 1)
            .unwrap();
        assert!(
            c.admit("k", &f, &w, t0 + Duration::from_secs(61), 1)
                .is_err()
        );
        assert_eq!(c.today(&w).0, 4, "refusals are not counted");
    }

    #[test]
    fn daily_limits_reset_with_the_window() {
        let c = Counters::default();
        let f = KeyFields {
            daily_requests: 2,
            daily_tokens: 100,
            ..KeyFields::default()
        };
        let w = window(0);
        let now = Instant::now();
        c.admit("k", &f, &w, now, 1000).unwrap();
        c.admit("k", &f, &w, now, 1000).unwrap();
        let e = c.admit("k", &f, &w, now, 1000).unwrap_err();
        assert_eq!(e.what, "daily request");
        assert_eq!(e.retry_after_secs, 86_399);
        let next = window(86_400_000);
        c.admit("k", &f, &next, now, 86_400_001).unwrap();
        c.add_tokens(&next, 150);
        let e = c.admit("k", &f, &next, now, 86_400_001).unwrap_err();
        assert_eq!(e.what, "daily token");
        assert_eq!(c.today(&next), (1, 150));
        assert_eq!(c.today(&w), (0, 0));
    }
}
