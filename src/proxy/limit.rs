//! MAX_CONCURRENT_REQUESTS: a global cap on proxy requests in flight, with a bounded wait
//! queue. Beyond it a request waits up to MAX_QUEUE_WAIT for a slot, then gets a clear 429.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::GatewayError;

/// Waiting requests allowed per slot; past that, new arrivals are refused at once instead of
/// piling up memory and timing out later anyway.
const QUEUE_PER_SLOT: usize = 4;

#[derive(Clone)]
pub struct Limiter {
    slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    wait: Duration,
}

pub struct Permit {
    _permit: OwnedSemaphorePermit,
}

impl Limiter {
    pub fn new(max: usize, wait: Duration) -> Self {
        let max = max.max(1);
        Self {
            slots: Arc::new(Semaphore::new(max)),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting: max * QUEUE_PER_SLOT,
            wait,
        }
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
