//! Which key the request being served came with. The proxy's guard sets it around the handler
//! and around every poll of the response body (a stream's later upstream calls, such as
//! anti-truncation continuations, run there), so the meter and the dispatcher read it without
//! every handler passing it along.
use std::sync::Arc;
use std::time::Instant;

use super::ClientKey;

/// Who sent a proxy request.
#[derive(Clone, Debug, Default)]
pub enum Caller {
    /// The built-in `API_PASSWORD` key: no limits, no allow-lists. Also what code outside a
    /// proxy request sees.
    #[default]
    Builtin,
    Key(Arc<ClientKey>, Option<Admission>),
}

/// When the guard let a client key's request in under its limits, so a request refused later
/// (by the key's allow-list, once the model is known) gives its slot back.
#[derive(Clone, Copy, Debug)]
pub struct Admission {
    /// Start (ms) of the quota window the request was counted in.
    pub window: i64,
    pub at: Instant,
}

impl Caller {
    /// 0 for the built-in key.
    pub fn id(&self) -> i64 {
        match self {
            Self::Builtin => 0,
            Self::Key(k, _) => k.id,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Self::Builtin => super::BUILTIN_NAME,
            Self::Key(k, _) => &k.name,
        }
    }

    /// Gives back what the guard counted for this request: it was refused before reaching
    /// the upstream, so it must not use up the key's limits.
    pub fn refund(&self) {
        if let Self::Key(k, Some(a)) = self {
            k.counters.refund(a.window, a.at);
        }
    }

    pub fn key(&self) -> Option<&Arc<ClientKey>> {
        match self {
            Self::Builtin => None,
            Self::Key(k, _) => Some(k),
        }
    }
}

tokio::task_local! {
    static CALLER: Caller;
}

/// The caller of the request this task serves.
pub fn current() -> Caller {
    CALLER.try_with(Caller::clone).unwrap_or_default()
}

/// Runs `f` as `caller`'s request.
pub async fn scope<F: std::future::Future>(caller: Caller, f: F) -> F::Output {
    CALLER.scope(caller, f).await
}

/// Runs the synchronous `f` (one poll of a response body) as `caller`'s request.
pub fn sync_scope<R>(caller: Caller, f: impl FnOnce() -> R) -> R {
    CALLER.sync_scope(caller, f)
}
