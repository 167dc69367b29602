//! At most one refresh per key at a time; everyone waiting gets that one result.
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::OnceCell;

type Flight<V, E> = Arc<OnceCell<Result<V, E>>>;

/// Coalesces concurrent calls per key. A flight lives only while callers wait on it: the next
/// call after it lands starts a new one, so a failure is never served from a cache (and neither
/// is a success: the refreshed token's freshness is the store's business; `f` should re-check
/// it before calling Google).
///
/// If the caller running the flight is cancelled, one of the waiters runs its own `f` in its
/// place (tokio's `OnceCell` initialisation is cancel-safe), so nobody waits forever.
pub struct SingleFlight<K, V, E> {
    flights: Mutex<HashMap<K, Flight<V, E>>>,
}

impl<K, V, E> Default for SingleFlight<K, V, E> {
    fn default() -> Self {
        Self {
            flights: Mutex::new(HashMap::new()),
        }
    }
}

impl<K, V, E> SingleFlight<K, V, E>
where
    K: Eq + Hash + Clone,
    V: Clone,
    E: Clone,
{
    pub fn new() -> Self {
        Self::default()
    }

    /// Run `f` for `key` unless a flight for `key` is already out; then wait for its result.
    pub async fn run<F, Fut>(&self, key: K, f: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let flight = {
            let mut flights = self.flights.lock();
            Arc::clone(flights.entry(key.clone()).or_default())
        };
        let result = flight.get_or_init(f).await.clone();
        let mut flights = self.flights.lock();
        if flights.get(&key).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
            flights.remove(&key);
        }
        result
    }

    /// Keys with a flight out (for tests and diagnostics).
    pub fn in_flight(&self) -> usize {
        self.flights.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn fifty_concurrent_callers_share_one_call() {
        let sf: Arc<SingleFlight<i64, String, String>> = Arc::new(SingleFlight::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(tokio::sync::Barrier::new(50));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (sf, calls, barrier) = (sf.clone(), calls.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                sf.run(7, || async {
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok(format!("token-{n}"))
                })
                .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.expect("task"), Ok("token-0".to_owned()));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(sf.in_flight(), 0);
    }

    #[tokio::test]
    async fn failure_is_shared_but_not_cached() {
        let sf: SingleFlight<&str, u32, String> = SingleFlight::new();
        let calls = AtomicUsize::new(0);
        let fail = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err::<u32, _>("invalid_grant".to_owned())
        };
        let (a, b) = tokio::join!(sf.run("k", fail), sf.run("k", fail));
        assert_eq!(a, Err("invalid_grant".to_owned()));
        assert_eq!(b, a);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // The next caller retries instead of getting the old error.
        let ok = sf.run("k", || async { Ok(5) }).await;
        assert_eq!(ok, Ok(5));
        // Different keys do not wait on each other.
        let (x, y) = tokio::join!(
            sf.run("x", || async { Ok(1) }),
            sf.run("y", || async { Ok(2) })
        );
        assert_eq!((x, y), (Ok(1), Ok(2)));
    }

    #[tokio::test]
    async fn a_cancelled_leader_hands_over_to_a_waiter() {
        let sf: Arc<SingleFlight<u8, u8, ()>> = Arc::new(SingleFlight::new());
        let leader = {
            let sf = sf.clone();
            tokio::spawn(async move {
                sf.run(1, || async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok(0)
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let waiter = {
            let sf = sf.clone();
            tokio::spawn(async move { sf.run(1, || async { Ok(9) }).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        leader.abort();
        let got = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("waiter not stuck")
            .expect("task");
        assert_eq!(got, Ok(9));
    }
}
