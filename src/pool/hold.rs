//! What a pick hands out: the credential id plus an in-flight guard. The service wraps it in
//! its `Lease`, which adds the token and project a call needs.
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use super::CredId;

/// One request's hold on a credential. Dropping it ends the in-flight count, so the count is
/// right even when a request task is cancelled midway; no pool lock is needed for that.
#[derive(Debug)]
pub struct Hold {
    pub id: CredId,
    /// This request is the single probe let through a capped cooldown: report its outcome.
    pub probe: bool,
    _in_flight: InFlight,
}

impl Hold {
    pub(crate) fn new(id: CredId, probe: bool, counter: &Arc<AtomicU32>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self {
            id,
            probe,
            _in_flight: InFlight(Arc::clone(counter)),
        }
    }
}

#[derive(Debug)]
struct InFlight(Arc<AtomicU32>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
