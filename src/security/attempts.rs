//! One failure limiter for every way in: wrong API keys on the proxy routes, wrong panel
//! passwords and bearers on the management API, and failed panel sign-ins all count against
//! the same client address. A guesser therefore cannot get around the panel lockout by trying
//! the API key on `/v1` instead (which matters when both secrets are the same).
//!
//! Over the limit, a wrong secret is answered with 429 and `Retry-After`; the right one is
//! still accepted (so a legitimate client behind a shared address is not locked out by a
//! stranger) and clears the address's count.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Failed attempts from one address within [`WINDOW`] before it is refused.
pub const MAX_FAILURES: u32 = 10;
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at once; past this, the stalest entries are forgotten first.
const MAX_TRACKED: usize = 10_000;

#[derive(Clone, Copy)]
struct Entry {
    window_start: Instant,
    failures: u32,
}

#[derive(Clone)]
pub struct FailureLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    map: Mutex<HashMap<IpAddr, Entry>>,
    /// Entries in `map`, readable without the lock: a success on the hot path only takes the
    /// lock when some address has failed recently.
    tracked: AtomicUsize,
    max_failures: u32,
    window: Duration,
}

impl Default for FailureLimiter {
    fn default() -> Self {
        Self::new(MAX_FAILURES, WINDOW)
    }
}

impl FailureLimiter {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                map: Mutex::new(HashMap::new()),
                tracked: AtomicUsize::new(0),
                max_failures: max_failures.max(1),
                window,
            }),
        }
    }

    /// `Err(seconds)` while `ip` is over the limit.
    pub fn throttled(&self, ip: Option<IpAddr>) -> Result<(), u64> {
        let Some(ip) = ip else { return Ok(()) };
        if self.inner.tracked.load(Ordering::Acquire) == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let map = self.inner.map.lock();
        match map.get(&ip) {
            Some(e)
                if e.failures >= self.inner.max_failures
                    && now.duration_since(e.window_start) < self.inner.window =>
            {
                let left = self
                    .inner
                    .window
                    .saturating_sub(now.duration_since(e.window_start));
                Err(left.as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    /// Counts one failure; `Err(seconds)` when the address is now over the limit.
    pub fn failure(&self, ip: Option<IpAddr>, surface: &'static str) -> Result<(), u64> {
        let Some(ip) = ip else { return Ok(()) };
        let now = Instant::now();
        {
            let mut map = self.inner.map.lock();
            if map.len() >= MAX_TRACKED && !map.contains_key(&ip) {
                let window = self.inner.window;
                map.retain(|_, e| now.duration_since(e.window_start) < window);
                if map.len() >= MAX_TRACKED
                    && let Some(oldest) = map
                        .iter()
                        .min_by_key(|(_, e)| e.window_start)
                        .map(|(ip, _)| *ip)
                {
                    map.remove(&oldest);
                }
            }
            let entry = map.entry(ip).or_insert(Entry {
                window_start: now,
                failures: 0,
            });
            if now.duration_since(entry.window_start) >= self.inner.window {
                *entry = Entry {
                    window_start: now,
                    failures: 0,
                };
            }
            entry.failures = entry.failures.saturating_add(1);
            if entry.failures == self.inner.max_failures {
                tracing::warn!(%ip, surface, "too many failed sign-ins or API keys from one address; refusing wrong ones for a minute");
            }
            self.inner.tracked.store(map.len(), Ordering::Release);
        }
        self.throttled(Some(ip))
    }

    /// The address presented the right secret: its count starts again.
    pub fn success(&self, ip: Option<IpAddr>) {
        let Some(ip) = ip else { return };
        if self.inner.tracked.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut map = self.inner.map.lock();
        map.remove(&ip);
        self.inner.tracked.store(map.len(), Ordering::Release);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.map.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_after_the_limit_and_reset_on_success() {
        let l = FailureLimiter::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..MAX_FAILURES - 1 {
            assert!(l.failure(Some(ip), "test").is_ok());
        }
        let secs = l.failure(Some(ip), "test").unwrap_err();
        assert!((1..=60).contains(&secs));
        assert!(l.throttled(Some(ip)).is_err());
        assert!(l.throttled(Some(other)).is_ok());
        assert!(l.throttled(None).is_ok());
        l.success(Some(ip));
        assert!(l.throttled(Some(ip)).is_ok(), "a success clears the count");
        assert!(l.failure(Some(ip), "test").is_ok(), "counting starts again");
    }

    #[test]
    fn a_window_that_passed_starts_a_new_count() {
        let l = FailureLimiter::new(2, Duration::from_millis(30));
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        l.failure(Some(ip), "test").ok();
        assert!(l.failure(Some(ip), "test").is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert!(l.throttled(Some(ip)).is_ok());
        assert!(l.failure(Some(ip), "test").is_ok());
    }

    #[test]
    fn tracked_addresses_are_bounded() {
        let l = FailureLimiter::default();
        for i in 0..(MAX_TRACKED as u32 + 50) {
            let _ = l.failure(Some(IpAddr::from(i.to_be_bytes())), "test");
        }
        assert!(l.len() <= MAX_TRACKED, "{}", l.len());
    }
}
