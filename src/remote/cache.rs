//! Recent fetches by URL. Chat clients resend the whole conversation on every turn, so the
//! same image URL arrives again and again; a short-lived cache spares the origin and the
//! latency. Bounded by entry count and total bytes, oldest evicted first.
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Mutex, MutexGuard};

/// A fetched file: its media type and raw bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    pub mime: String,
    pub bytes: Bytes,
}

pub struct Cache {
    ttl: Duration,
    max_entries: usize,
    max_bytes: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<String, (Instant, Fetched)>,
    /// Insertion order, for eviction; may hold keys already removed from `map`.
    order: VecDeque<String>,
    bytes: usize,
}

impl Cache {
    pub fn new(ttl: Duration, max_entries: usize, max_bytes: usize) -> Self {
        Self {
            ttl,
            max_entries,
            max_bytes,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock()
    }

    pub fn get(&self, url: &str, now: Instant) -> Option<Fetched> {
        let mut inner = self.lock();
        let (at, f) = inner.map.get(url)?;
        if now.saturating_duration_since(*at) < self.ttl {
            return Some(f.clone());
        }
        inner.remove(url);
        None
    }

    pub fn put(&self, url: &str, f: Fetched, now: Instant) {
        let size = f.bytes.len();
        if size > self.max_bytes || self.max_entries == 0 {
            return;
        }
        let mut inner = self.lock();
        inner.remove(url);
        while inner.map.len() >= self.max_entries || inner.bytes + size > self.max_bytes {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            inner.remove(&oldest);
        }
        inner.bytes += size;
        inner.order.push_back(url.to_string());
        inner.map.insert(url.to_string(), (now, f));
    }

    /// Forgets everything: used when the allow-list changes, so a file fetched under the old
    /// list is not served under the new one.
    pub fn clear(&self) {
        *self.lock() = Inner::default();
    }
}

impl Inner {
    fn remove(&mut self, url: &str) {
        if let Some((_, f)) = self.map.remove(url) {
            self.bytes -= f.bytes.len();
            self.order.retain(|k| k != url);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(n: usize) -> Fetched {
        Fetched {
            mime: "image/png".into(),
            bytes: Bytes::from(vec![0u8; n]),
        }
    }

    #[test]
    fn entries_expire() {
        let c = Cache::new(Duration::from_secs(60), 10, 1000);
        let t0 = Instant::now();
        c.put("u", file(3), t0);
        assert_eq!(c.get("u", t0 + Duration::from_secs(59)), Some(file(3)));
        assert_eq!(c.get("u", t0 + Duration::from_secs(60)), None);
        assert_eq!(c.lock().bytes, 0);
    }

    #[test]
    fn bounded_by_entries_and_bytes_oldest_first() {
        let t = Instant::now();
        let c = Cache::new(Duration::from_secs(60), 2, 100);
        c.put("a", file(10), t);
        c.put("b", file(10), t);
        c.put("c", file(10), t);
        assert!(c.get("a", t).is_none());
        assert!(c.get("b", t).is_some() && c.get("c", t).is_some());
        c.put("big", file(95), t);
        assert!(c.get("b", t).is_none() && c.get("c", t).is_none());
        assert!(c.get("big", t).is_some());
        assert_eq!(c.lock().bytes, 95);
        c.put("huge", file(101), t);
        assert!(c.get("huge", t).is_none(), "larger than the whole cache");
        // Replacing a key does not count it twice.
        c.put("big", file(50), t);
        assert_eq!(c.lock().bytes, 50);
        c.clear();
        assert!(c.get("big", t).is_none());
        assert_eq!(c.lock().bytes, 0);
    }
}
