//! MAX_CONCURRENT_REQUESTS: a global cap on proxy requests in flight, with a bounded wait
//! queue. Beyond it a request waits up to MAX_QUEUE_WAIT for a slot, then gets a clear 429.
//!
//! A slot is held until the answer is fully sent, so a long stream occupies one the whole
//! time, while costing almost nothing: tens of kilobytes of memory and two file descriptors
//! (the client's connection and the upstream's). The default (0) therefore sizes the cap by
//! what a held request actually uses up, the open-file limit, instead of a small fixed number
//! that would queue the 65th slow stream.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::GatewayError;

/// Waiting requests allowed per slot; past that, new arrivals are refused at once instead of
/// piling up memory and timing out later anyway.
const QUEUE_PER_SLOT: usize = 4;

/// Descriptors left for everything that is not a proxied request: the listener, SQLite,
/// log files, panel connections, token refreshes, remote fetches.
const RESERVED_FDS: u64 = 128;
/// The automatic cap stays within these bounds: never below the old fixed default, and
/// never so high that held streams alone could use gigabytes of memory.
const AUTO_MIN: usize = 64;
const AUTO_MAX: usize = 10_000;

/// The cap for MAX_CONCURRENT_REQUESTS: `configured`, or with 0 (the default) what the
/// open-file limit allows: two descriptors per request after a reserve, within
/// 64..=10,000 (64 where the limit cannot be read).
pub fn effective_max(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    auto_max(open_file_limit())
}

fn auto_max(fd_limit: Option<u64>) -> usize {
    fd_limit.map_or(AUTO_MIN, |n| {
        usize::try_from(n.saturating_sub(RESERVED_FDS) / 2)
            .unwrap_or(AUTO_MAX)
            .clamp(AUTO_MIN, AUTO_MAX)
    })
}

/// The soft open-file limit of this process (`ulimit -n`), where the platform tells it.
pub fn open_file_limit() -> Option<u64> {
    parse_open_file_limit(&std::fs::read_to_string("/proc/self/limits").ok()?)
}

fn parse_open_file_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    // "unlimited" is as good as the highest cap.
    Some(soft.parse().unwrap_or(u64::MAX))
}

#[derive(Clone)]
pub struct Limiter {
    slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    capacity: usize,
    wait: Duration,
}

pub struct Permit {
    _permit: OwnedSemaphorePermit,
}

impl Limiter {
    /// `max` as MAX_CONCURRENT_REQUESTS gives it: 0 sizes the cap automatically (see
    /// [`effective_max`]).
    pub fn new(max: usize, wait: Duration) -> Self {
        let max = effective_max(max);
        Self {
            slots: Arc::new(Semaphore::new(max)),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting: max * QUEUE_PER_SLOT,
            capacity: max,
            wait,
        }
    }

    /// Requests that may be in flight at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub async fn acquire(&self) -> Result<Permit, GatewayError> {
        if let Ok(p) = Arc::clone(&self.slots).try_acquire_owned() {
            return Ok(Permit { _permit: p });
        }
        // The guard, not straight-line code, gives the queue place back: a client that
        // disconnects while queued drops this future mid-await, and must not leak its place.
        let _queued = QueuePlace::take(&self.waiting, self.max_waiting)?;
        match tokio::time::timeout(self.wait, Arc::clone(&self.slots).acquire_owned()).await {
            Ok(Ok(p)) => Ok(Permit { _permit: p }),
            _ => Err(GatewayError::Overloaded),
        }
    }

    /// Requests waiting for a slot right now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    pub fn in_use(&self, max: usize) -> usize {
        max.saturating_sub(self.slots.available_permits())
    }
}

/// One place in the wait queue, released when dropped.
struct QueuePlace<'a>(&'a AtomicUsize);

impl<'a> QueuePlace<'a> {
    fn take(waiting: &'a AtomicUsize, max: usize) -> Result<Self, GatewayError> {
        if waiting.fetch_add(1, Ordering::AcqRel) >= max {
            waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(GatewayError::Overloaded);
        }
        Ok(Self(waiting))
    }
}

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_follows_the_open_file_limit() {
        assert_eq!(effective_max(25), 25, "a configured cap is kept");
        assert_eq!(auto_max(Some(1024)), 448);
        assert_eq!(auto_max(Some(20_000)), 9936);
        assert_eq!(auto_max(Some(256)), 64, "never below the old default");
        assert_eq!(auto_max(Some(1 << 20)), 10_000);
        assert_eq!(auto_max(Some(u64::MAX)), 10_000);
        assert_eq!(auto_max(None), 64);
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_open_file_limit(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_open_file_limit(unlimited), Some(u64::MAX));
        if cfg!(target_os = "linux") {
            let auto = Limiter::new(0, Duration::from_secs(1)).capacity();
            assert_eq!(auto, auto_max(open_file_limit()));
            assert!((AUTO_MIN..=AUTO_MAX).contains(&auto));
        }
    }

    #[tokio::test]
    async fn waits_then_refuses() {
        let l = Limiter::new(1, Duration::from_millis(50));
        let held = l.acquire().await.unwrap();
        assert!(
            matches!(l.acquire().await, Err(GatewayError::Overloaded)),
            "times out"
        );
        drop(held);
        assert!(l.acquire().await.is_ok(), "a freed slot is reused");
    }

    #[tokio::test]
    async fn queue_is_bounded() {
        let l = Limiter::new(1, Duration::from_secs(5));
        let _held = l.acquire().await.unwrap();
        let waiters: Vec<_> = (0..QUEUE_PER_SLOT)
            .map(|_| {
                let l = l.clone();
                tokio::spawn(async move { l.acquire().await.is_ok() })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let start = std::time::Instant::now();
        assert!(matches!(l.acquire().await, Err(GatewayError::Overloaded)));
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "refused at once when the queue is full"
        );
        for w in waiters {
            w.abort();
        }
    }

    #[tokio::test]
    async fn disconnected_waiters_give_their_place_back() {
        let l = Limiter::new(25, Duration::from_secs(30));
        let held: Vec<_> = futures_util::future::join_all((0..25).map(|_| l.acquire()))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        // 100 queued clients (the whole queue) that go away while waiting.
        let waiters: Vec<_> = (0..100)
            .map(|_| {
                let l = l.clone();
                tokio::spawn(async move { l.acquire().await.is_ok() })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(l.waiting(), 100);
        for w in waiters {
            w.abort();
            let _ = w.await;
        }
        assert_eq!(
            l.waiting(),
            0,
            "aborted waiters released their queue places"
        );
        drop(held);
        assert_eq!(l.in_use(25), 0);
        let next = tokio::time::timeout(Duration::from_secs(1), l.acquire()).await;
        assert!(matches!(next, Ok(Ok(_))), "the next request is served");
    }
}
