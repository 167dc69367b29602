//! The credential pool core: which credential serves the next request, and how upstream
//! failures change that. Pure logic with an injected [`Clock`]: no I/O, no locks, no awaits.
//!
//! # State machine, per (credential, base model)
//!
//! ```text
//!   healthy ──429/quota──▶ cooling(model, until) ──until passes──▶ healthy
//!      │                      │ (cut at COOLDOWN_CAP)
//!      │                      └─cap passes─▶ one probe out ──success──▶ healthy
//!      │                                          └──fails again──▶ cooling (≤ cap)
//!      ├──403 in AUTO_BAN_ERROR_CODES (AUTO_BAN on), revoked refresh──▶ banned(reason, link)
//!      ├──404 on a preview model──▶ unable(model)
//!      └──operator──▶ disabled / "clear errors and un-ban" back to healthy
//! ```
//! A success clears the model's cooldown, any "unable" mark for it and the error streak.
//!
//! # Selection and cost
//!
//! Rotation is round-robin in id order with one global cursor: the current credential serves
//! `calls_per_rotation` picks, then the cursor moves to the next eligible id (wrapping).
//! Each base model has an index (see `index.rs`): an ordered set of eligible ids, an ordered set
//! of (frees-at, id) for cooling and over-quota credentials, and counts. Disabled and banned
//! credentials are in no index. So a pick costs O(log n + k·log n) where k is the number of
//! candidates skipped because the caller excluded them (bounded by the request's retries) or
//! because the [`QuotaView`] newly reports them over quota (each is then parked until its window
//! resets, so it is skipped once per window, not once per pick). Cooling, banned, disabled and
//! unable credentials are never visited, however many there are. Expiry is lazy: a pick first
//! re-slots the credentials whose wait is over, O(log n) each, and each expiry happens once.
//! A mutation re-slots one credential in every model index: O(m·log n), m ≤ [`MAX_MODEL_INDEXES`].
//! An index is built on first use of a model in O(n). The "unavailable" answer is O(k log n) too.
//!
//! # Concurrency
//!
//! [`Pool`] takes `&mut self`; the service keeps it behind one `std::sync::Mutex`. Every method
//! is short CPU work with nothing to await, so a plain lock held for microseconds is cheaper and
//! simpler than inner locking, and a single writer rules out the reference's lost updates.
//! In-flight counts are atomics held by the [`Hold`], so dropping one needs no lock.
//! Token refreshes, which do await, go through [`SingleFlight`] outside the lock.
//!
//! # Persistence
//!
//! Every mutation returns a [`Change`] with the credential's new [`CredentialState`] for the
//! caller to write. Activity counters (`calls`, `successes`, `last_used`, `last_success`) move on
//! every request without a `Change`; flush them in batches from [`Pool::state`] or
//! [`Pool::export`] (the service writes a credential whose only change is a success every 10 s
//! and at a graceful stop, so that rotating over many credentials costs no row per request). [`Pool::restore`] rebuilds a pool that picks exactly as the exported one.
pub mod admin;
pub mod bulk;
pub(crate) mod clock;
mod engine;
mod failure;
mod hold;
mod index;
mod profile;
mod secrets;
pub mod service;
pub(crate) mod shared;
mod single_flight;
mod state;
mod unavailable;
pub mod view;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};

pub use self::clock::{Clock, ManualClock, SystemClock};
pub use self::engine::{
    Change, FailureOutcome, MAX_MODEL_INDEXES, MetricEntry, MetricState, Pool, PoolSummary,
    Rotation, Snapshot,
};
pub use self::failure::{Failure, PoolConfig, Reaction};
pub use self::hold::Hold;
pub use self::profile::Profile;
pub use self::single_flight::SingleFlight;
pub use self::state::{
    Ban, BanKind, Cooldown, CooldownReason, CredentialState, ErrorRecord, Health,
    MAX_ERROR_MESSAGE_CHARS, RecheckNote,
};
pub use self::unavailable::Unavailable;

pub type CredId = i64;

/// Which daily allowance a model draws on. Pro models are counted apart, as the original did
/// for gemini-2.5-pro.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelClass {
    Pro,
    Flash,
    Other,
}

impl ModelClass {
    pub(crate) fn slot(self) -> usize {
        match self {
            ModelClass::Pro => 0,
            ModelClass::Flash => 1,
            ModelClass::Other => 2,
        }
    }
}

/// Class of a base model name (`gemini-2.5-pro`, `gemini-3.1-flash-lite`, ...).
pub fn model_class(base_model: &str) -> ModelClass {
    let lower = base_model.to_ascii_lowercase();
    let has = |word: &str| lower.split(['-', '/', '_']).any(|t| t == word);
    if has("pro") {
        ModelClass::Pro
    } else if has("flash") {
        ModelClass::Flash
    } else {
        ModelClass::Other
    }
}

/// The usage module's view of daily allowances. Called during a pick, so it must be O(1)
/// (a lookup in counters it already keeps).
pub trait QuotaView {
    /// `Some(reset)` when `id` has used up its allowance for `class`; `reset` is when the
    /// window rolls over. The pool then skips it for that class until `reset`.
    fn over_quota(&self, id: CredId, class: ModelClass) -> Option<DateTime<Utc>>;
}

/// No daily limits.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoQuota;

impl QuotaView for NoQuota {
    fn over_quota(&self, _: CredId, _: ModelClass) -> Option<DateTime<Utc>> {
        None
    }
}

impl<F> QuotaView for F
where
    F: Fn(CredId, ModelClass) -> Option<DateTime<Utc>>,
{
    fn over_quota(&self, id: CredId, class: ModelClass) -> Option<DateTime<Utc>> {
        self(id, class)
    }
}
