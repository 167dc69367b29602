//! `UsageService`: the hot-path recorders, the quota check, the flusher and the admin operations.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::memory::{
    Batch, CallKey, Cell, CredData, DailyRequestAgg, DailyRequestKey, KeyDailyKey, MinuteAgg,
    MinuteKey, Pending, Window, clamp_model, slot,
};
use super::persist;
use super::types::{CallRecord, DefaultLimits, OfficialLimits, RequestRecord};
use super::window::ResetRule;
use super::{UsageError, UsageOptions};
use crate::google::kind::{CredentialKind, Pin};
use crate::pool::{Clock, CredId, ModelClass, model_class};
use crate::store::Store;

/// The quota window containing "now" (see [`UsageService::day_window`]).
#[derive(Clone, Debug)]
pub struct DayWindow {
    pub start_ms: i64,
    pub next: DateTime<Utc>,
    pub day: Arc<str>,
}

type ReleaseHook = Arc<dyn Fn(Option<CredId>) + Send + Sync>;

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Usage counters and daily quotas. Cheap to clone; all clones share one state and one flusher.
#[derive(Clone)]
pub struct UsageService {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for UsageService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageService")
            .field("credentials", &self.inner.cells.read().len())
            .finish()
    }
}

pub(super) struct Inner {
    pub(super) store: Store,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) opts: UsageOptions,
    /// Lock order everywhere: `window`, then one cell. `cells` is never held while taking
    /// `window`.
    pub(super) window: RwLock<Window>,
    pub(super) cells: RwLock<HashMap<CredId, Arc<Cell>>>,
    default_total: AtomicU64,
    default_pro: AtomicU64,
    official: RwLock<OfficialLimits>,
    pending: Mutex<Pending>,
    /// Window moves from rule changes not yet written (PostgreSQL only; see `Batch::moves`).
    moves: Mutex<Vec<(i64, i64)>>,
    /// Serialises flushes and limit writes: snapshots are absolute values, so two flushes
    /// committing out of order could write an older value last.
    pub(super) writer: tokio::sync::Mutex<()>,
    release: RwLock<Option<ReleaseHook>>,
    task: Mutex<Option<JoinHandle<()>>>,
    cancel: CancellationToken,
    /// Rows the database refused since start (each logged once, then dropped).
    rejected_rows: AtomicU64,
    /// Records (calls and requests) counted in memory and not yet written: one relaxed add per
    /// record on the hot path, settled by each successful flush.
    unflushed: AtomicU64,
    /// Set when `unflushed` passes `UsageOptions::max_unflushed` (the database has been away
    /// too long): the proxy refuses requests rather than serve them uncounted. Cleared by the
    /// flush that brings the buffer back under the bound.
    refusing: AtomicBool,
    /// The bound `unflushed` may reach (from `UsageOptions::max_unflushed`).
    max_unflushed: AtomicU64,
    /// Whether the last flush reached the database (PostgreSQL only; SQLite stays `true`).
    healthy: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Inner {
    pub(super) fn defaults(&self) -> DefaultLimits {
        DefaultLimits {
            total: self.default_total.load(Ordering::Relaxed),
            pro: self.default_pro.load(Ordering::Relaxed),
        }
    }

    /// The default limits of a credential of upstream `pin`.
    pub(super) fn defaults_for(&self, pin: Pin) -> DefaultLimits {
        match pin {
            Pin::CodeAssist => self.defaults(),
            Pin::AiStudio => self.official.read().ai_studio,
            Pin::Vertex => self.official.read().vertex,
        }
    }

    /// Run `f` with the window containing `now`, refreshing the cache at a boundary. Records
    /// hold the read lock while they count, so a rule change (write lock) never interleaves
    /// with a count.
    pub(super) fn with_window<R>(&self, now: DateTime<Utc>, f: impl FnOnce(&Window) -> R) -> R {
        {
            let w = self.window.read();
            if w.contains(now) {
                return f(&w);
            }
        }
        let mut w = self.window.write();
        if !w.contains(now) {
            *w = Window::at(w.rule, now);
        }
        f(&w)
    }

    pub(super) fn find(&self, id: CredId) -> Option<Arc<Cell>> {
        self.cells.read().get(&id).cloned()
    }

    pub(super) fn cell(&self, id: CredId) -> Arc<Cell> {
        if let Some(c) = self.find(id) {
            return c;
        }
        Arc::clone(self.cells.write().entry(id).or_default())
    }

    pub(super) fn all_cells(&self) -> Vec<(CredId, Arc<Cell>)> {
        let mut v: Vec<_> = self
            .cells
            .read()
            .iter()
            .map(|(id, c)| (*id, Arc::clone(c)))
            .collect();
        v.sort_unstable_by_key(|(id, _)| *id);
        v
    }

    fn take_batch(&self) -> Batch {
        let window = self.with_window(self.clock.now(), |w| w.start_ms);
        let pending = std::mem::take(&mut *self.pending.lock());
        let cells = self
            .all_cells()
            .into_iter()
            .filter(|(_, c)| c.dirty.swap(false, Ordering::AcqRel))
            .map(|(id, c)| c.snapshot(id))
            .collect();
        Batch {
            pending,
            cells,
            window,
            moves: std::mem::take(&mut *self.moves.lock()),
        }
    }

    /// Put a batch that failed to commit back, so the next flush retries it. (On PostgreSQL the
    /// cells' deltas need nothing: they are computed against what was last written, which a
    /// failed flush did not change.)
    fn restore(&self, batch: Arc<Batch>) {
        let batch = Arc::try_unwrap(batch).unwrap_or_else(|shared| Batch {
            pending: shared.pending.clone(),
            cells: shared.cells.clone(),
            window: shared.window,
            moves: shared.moves.clone(),
        });
        if !batch.moves.is_empty() {
            let mut moves = self.moves.lock();
            let later = std::mem::replace(&mut *moves, batch.moves);
            moves.extend(later);
        }
        self.pending.lock().merge(batch.pending);
        for snap in batch.cells {
            if let Some(c) = self.find(snap.id) {
                c.dirty.store(true, Ordering::Release);
            }
        }
    }

    /// Counts one record into the outage buffer; past the bound, starts refusing. The hot
    /// path's whole share of the outage handling: one relaxed add and, rarely, a store.
    fn buffered_one(&self) {
        let n = self.unflushed.fetch_add(1, Ordering::Relaxed) + 1;
        let bound = self.max_unflushed.load(Ordering::Relaxed);
        if n > bound && !self.refusing.load(Ordering::Relaxed) {
            self.refusing.store(true, Ordering::Relaxed);
            tracing::error!(
                unflushed = n,
                bound,
                "usage records could not be written for too long; refusing proxy requests with \
                 503 until the database is back"
            );
        }
    }

    /// Settles the outage state after a flush (`reached`: it committed).
    fn settle(&self, reached: bool) {
        if self.store.is_postgres() {
            let was = self.healthy.swap(reached, Ordering::Relaxed);
            if was && !reached {
                tracing::error!(
                    "the database is unreachable; serving from memory and buffering usage until \
                     it is back"
                );
            } else if reached && !was {
                tracing::info!("the database is reachable again; buffered usage written");
            }
        }
        let over =
            self.unflushed.load(Ordering::Relaxed) > self.max_unflushed.load(Ordering::Relaxed);
        if over {
            self.refusing.store(true, Ordering::Relaxed);
        } else if self.refusing.swap(false, Ordering::Relaxed) {
            tracing::info!("usage buffer back under its bound; serving proxy requests again");
        }
    }

    /// Adopts the shared totals a PostgreSQL flush returned (see `memory::Synced`).
    fn adopt(&self, batch: &Batch, written: &persist::Written) {
        for (snap, totals) in batch.cells.iter().zip(&written.totals) {
            if let Some(c) = self.find(snap.id) {
                c.adopt(snap, &totals.used, &totals.counts);
            }
        }
        // Then every instance's use of today's window (read after this flush's own writes),
        // which also brings in the classes this flush did not write.
        for (id, used) in &written.shared {
            self.cell(*id).adopt_shared(batch.window, *used);
        }
        // And the overrides, which another instance may have changed: a changed one may
        // have grown, so the pool drops its parks for that credential.
        if let Some(limits) = &written.limits {
            for id in limits.keys() {
                self.cell(*id);
            }
            for (id, c) in self.all_cells() {
                let want = limits.get(&id).copied().unwrap_or_default();
                let changed = {
                    let mut d = c.data.lock();
                    std::mem::replace(&mut d.limits, want) != want
                };
                if changed {
                    self.release(Some(id));
                }
            }
        }
    }

    pub(super) fn release(&self, id: Option<CredId>) {
        let hook = self.release.read().clone();
        if let Some(hook) = hook {
            hook(id);
        }
    }
}

impl UsageService {
    /// Load counters, today's window and the overrides from SQLite, then start the flusher.
    pub async fn start(
        store: Store,
        rule: ResetRule,
        limits: DefaultLimits,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, UsageError> {
        Self::start_with(store, rule, limits, clock, UsageOptions::default()).await
    }

    pub async fn start_with(
        store: Store,
        rule: ResetRule,
        limits: DefaultLimits,
        clock: Arc<dyn Clock>,
        opts: UsageOptions,
    ) -> Result<Self, UsageError> {
        let loaded = store.run(|db| persist::load(db)).await?;
        let window = Window::at(rule, clock.now());
        let mut data: HashMap<CredId, CredData> = HashMap::new();
        for (id, class, outcome, n) in loaded.counters {
            data.entry(id)
                .or_default()
                .counts
                .insert((class, outcome), n);
        }
        let shared = store.is_postgres();
        for (id, class, start, used) in loaded.quota {
            if start == window.start_ms {
                let d = data.entry(id).or_default();
                d.window = start;
                d.used[slot(class)] = used;
                if shared {
                    d.synced.window = start;
                    d.synced.used[slot(class)] = used;
                }
            }
            if !shared {
                // Rows of older windows too: what each row holds decides what SQLite rewrites.
                data.entry(id).or_default().stored[slot(class)] = (start, used);
            }
        }
        // What was loaded is what the database holds: only later changes are written.
        for d in data.values_mut() {
            d.synced.counts = d.counts.clone();
        }
        for (id, l) in loaded.limits {
            data.entry(id).or_default().limits = l;
        }
        let cells = data
            .into_iter()
            .map(|(id, d)| {
                let cell = Cell {
                    data: Mutex::new(d),
                    ..Cell::default()
                };
                (id, Arc::new(cell))
            })
            .collect();
        let inner = Arc::new(Inner {
            store,
            clock,
            opts: opts.clone(),
            window: RwLock::new(window),
            cells: RwLock::new(cells),
            default_total: AtomicU64::new(limits.total),
            default_pro: AtomicU64::new(limits.pro),
            official: RwLock::new(OfficialLimits::default()),
            pending: Mutex::new(Pending::default()),
            moves: Mutex::new(Vec::new()),
            writer: tokio::sync::Mutex::new(()),
            release: RwLock::new(None),
            task: Mutex::new(None),
            rejected_rows: AtomicU64::new(0),
            unflushed: AtomicU64::new(0),
            refusing: AtomicBool::new(false),
            max_unflushed: AtomicU64::new(opts.max_unflushed),
            healthy: AtomicBool::new(true),
            cancel: CancellationToken::new(),
        });
        let handle = tokio::spawn(run_flusher(
            Arc::downgrade(&inner),
            inner.cancel.clone(),
            opts,
        ));
        *inner.task.lock() = Some(handle);
        Ok(Self { inner })
    }

    /// Called with `Some(id)` or `None` (all) whenever an allowance may have grown outside a
    /// window rollover (limits raised, counters reset, rule changed), so the pool can drop the
    /// parks it made from earlier `over_quota` answers: wire it to `Pool::release_quota`.
    pub fn on_quota_release(&self, hook: impl Fn(Option<CredId>) + Send + Sync + 'static) {
        *self.inner.release.write() = Some(Arc::new(hook));
    }

    /// Hot setting. Today's counts carry over into the window that contains "now" under the new
    /// rule (a rule change never hands out a fresh allowance) and reset at its next boundary.
    pub fn set_rule(&self, rule: ResetRule) {
        let now = self.inner.clock.now();
        {
            let mut w = self.inner.window.write();
            if w.rule == rule {
                return;
            }
            let next = Window::at(rule, now);
            let old = w.start_ms;
            if next.start_ms != old {
                let shared = self.inner.store.is_postgres();
                for (_, c) in self.inner.all_cells() {
                    let mut d = c.data.lock();
                    if d.window == old {
                        d.window = next.start_ms;
                        c.dirty.store(true, Ordering::Release);
                    }
                    // What the database holds moves with it (`Batch::moves`), so only what
                    // this instance counted since its last flush goes out as a delta; sending
                    // the whole carried count would add it once per instance.
                    if shared && d.synced.window == old {
                        d.synced.window = next.start_ms;
                    }
                }
                if shared {
                    self.inner.moves.lock().push((old, next.start_ms));
                }
            }
            *w = next;
        }
        self.inner.release(None);
    }

    /// Hot setting.
    pub fn set_default_limits(&self, limits: DefaultLimits) {
        let old_total = self
            .inner
            .default_total
            .swap(limits.total, Ordering::Relaxed);
        let old_pro = self.inner.default_pro.swap(limits.pro, Ordering::Relaxed);
        if (old_total, old_pro) != (limits.total, limits.pro) {
            self.inner.release(None);
        }
    }

    /// Hot setting: the official upstreams' default limits.
    pub fn set_official_limits(&self, limits: OfficialLimits) {
        let old = std::mem::replace(&mut *self.inner.official.write(), limits);
        if old != limits {
            self.inner.release(None);
        }
    }

    /// The kind of `id`: its upstream's default limits apply, and aggregates break down by
    /// it. Called when a credential is loaded or added.
    pub fn set_kind(&self, id: CredId, kind: CredentialKind) {
        let cell = self.inner.cell(id);
        let changed = {
            let mut d = cell.data.lock();
            std::mem::replace(&mut d.kind, kind) != kind
        };
        if changed {
            self.inner.release(Some(id));
        }
    }

    /// Moves today's use of `from` (deleted credentials with the same identity) onto `to`, so
    /// deleting and re-importing a credential keeps its count for the day and cannot reset its
    /// daily limit. Moved, not copied: doing it twice counts nothing twice.
    pub fn carry_over(&self, from: &[CredId], to: CredId) {
        let sources: Vec<Arc<Cell>> = from
            .iter()
            .filter(|id| **id != to)
            .filter_map(|id| self.inner.find(*id))
            .collect();
        if sources.is_empty() {
            return;
        }
        let target = self.inner.cell(to);
        let now = self.inner.clock.now();
        self.inner.with_window(now, |w| {
            for src in &sources {
                let used = {
                    let mut d = src.data.lock();
                    let used = d.used_in(w.start_ms);
                    d.used = [0; 3];
                    used
                };
                if used.iter().all(|u| *u == 0) {
                    continue;
                }
                src.dirty.store(true, Ordering::Release);
                let mut t = target.data.lock();
                if t.window != w.start_ms {
                    t.window = w.start_ms;
                    t.used = [0; 3];
                }
                for (acc, u) in t.used.iter_mut().zip(used) {
                    *acc += u;
                }
                target.dirty.store(true, Ordering::Release);
            }
        });
    }

    /// The kind recorded for each credential with a cell.
    pub(super) fn kinds(&self) -> HashMap<CredId, CredentialKind> {
        self.inner
            .all_cells()
            .into_iter()
            .map(|(id, c)| (id, c.data.lock().kind))
            .collect()
    }

    /// Today's quota window: its start (ms), its end and its `day` key. Client keys' daily
    /// limits count in the same window as the credentials' allowances.
    pub fn day_window(&self) -> DayWindow {
        let now = self.inner.clock.now();
        self.inner.with_window(now, |w| DayWindow {
            start_ms: w.start_ms,
            next: w.next,
            day: Arc::clone(&w.day),
        })
    }

    /// One upstream attempt. Every call counts toward the credential's daily window, whatever
    /// its outcome: a failed call still spent an upstream request, and counting it errs on the
    /// side of not overrunning Google's own allowance.
    pub fn record_call(&self, rec: CallRecord) {
        let class = model_class(&rec.base_model);
        let now = self.inner.clock.now();
        let cell = self.inner.cell(rec.credential_id);
        let day = self.inner.with_window(now, |w| {
            cell.count(w.start_ms, class, rec.outcome);
            Arc::clone(&w.day)
        });
        let key = CallKey {
            day,
            credential_id: rec.credential_id,
            model: clamp_model(&rec.base_model),
            outcome: rec.outcome,
        };
        *self.inner.pending.lock().calls.entry(key).or_insert(0) += 1;
        self.inner.buffered_one();
    }

    /// One client request, once, when it ends (its calls are recorded separately).
    pub fn record_request(&self, rec: RequestRecord) {
        let now = self.inner.clock.now();
        let day = self.inner.with_window(now, |w| Arc::clone(&w.day));
        let now_ms = now.timestamp_millis();
        let credential_id = rec.credential_id.unwrap_or(0);
        let base_model = clamp_model(&rec.base_model);
        let ok = rec.outcome.is_success();
        let key_daily = KeyDailyKey {
            day: Arc::clone(&day),
            key_id: rec.key_id,
            model: base_model.clone(),
        };
        let daily_key = DailyRequestKey {
            day,
            credential_id,
            model: base_model.clone(),
        };
        let minute_key = MinuteKey {
            bucket_start: now_ms - now_ms.rem_euclid(60_000),
            credential_id,
            base_model,
            requested_model: clamp_model(&rec.requested_model),
            surface: rec.surface,
            stream: rec.stream,
            outcome: rec.outcome,
        };
        let minute = MinuteAgg {
            requests: 1,
            prompt_tokens: rec.prompt_tokens,
            completion_tokens: rec.completion_tokens,
            reasoning_tokens: rec.reasoning_tokens,
            latency_ms_sum: millis(rec.latency),
            ttfb_ms_sum: rec.ttfb.map_or(0, millis),
            ttfb_count: u64::from(rec.ttfb.is_some()),
            retries: u64::from(rec.retries),
        };
        let daily = DailyRequestAgg {
            requests: 1,
            successes: u64::from(ok),
            failures: u64::from(!ok),
            prompt_tokens: rec.prompt_tokens,
            completion_tokens: rec.completion_tokens,
            reasoning_tokens: rec.reasoning_tokens,
        };
        let mut p = self.inner.pending.lock();
        p.daily_requests.entry(daily_key).or_default().add(&daily);
        p.key_daily.entry(key_daily).or_default().add(&daily);
        p.minute.entry(minute_key).or_default().add(&minute);
        drop(p);
        self.inner.buffered_one();
    }

    /// `Some(next reset)` when `id` has used its daily allowance for `class`: the total limit
    /// counts every call, the pro limit only pro-class calls. O(1): two short locks.
    pub fn over_quota(&self, id: CredId, class: ModelClass) -> Option<DateTime<Utc>> {
        let cell = self.inner.find(id)?;
        let now = self.inner.clock.now();
        self.inner.with_window(now, |w| {
            let d = cell.data.lock();
            let defaults = self.inner.defaults_for(d.kind.pin());
            let used = d.used_in(w.start_ms);
            let total = d.limits.total.unwrap_or(defaults.total);
            if total > 0 && used.iter().sum::<u64>() >= total {
                return Some(w.next);
            }
            let pro = d.limits.pro.unwrap_or(defaults.pro);
            (class == ModelClass::Pro && pro > 0 && used[slot(ModelClass::Pro)] >= pro)
                .then_some(w.next)
        })
    }

    /// The pool's `QuotaView`.
    pub fn quota_view(
        &self,
    ) -> impl Fn(CredId, ModelClass) -> Option<DateTime<Utc>> + Send + Sync + 'static {
        let svc = self.clone();
        move |id, class| svc.over_quota(id, class)
    }

    /// Write everything recorded so far in one transaction. Exact: every record that returned
    /// before this call is persisted when it returns Ok; on error nothing is lost from memory.
    /// On PostgreSQL it also adopts every instance's use of today's window (so it runs even
    /// with nothing to write), and its outcome is the store's health.
    pub async fn flush(&self) -> Result<(), UsageError> {
        let _writer = self.inner.writer.lock().await;
        let shared = self.inner.store.is_postgres();
        // Read before the batch is taken and settled only once it is written: a record landing
        // in between is in the batch and still counted as buffered until the next flush, which
        // errs on the safe side of the bound; a batch in flight stays counted.
        let taken = self.inner.unflushed.load(Ordering::Relaxed);
        let batch = self.inner.take_batch();
        if batch.is_empty() && !shared {
            return Ok(());
        }
        let batch = Arc::new(batch);
        let sent = Arc::clone(&batch);
        let written = self
            .inner
            .store
            .run_tx(move |db| persist::write_batch(db, &sent))
            .await;
        match written {
            Ok(w) => {
                self.inner
                    .rejected_rows
                    .fetch_add(w.rejected as u64, Ordering::Relaxed);
                if shared {
                    self.inner.adopt(&batch, &w);
                } else {
                    for snap in &batch.cells {
                        if let Some(c) = self.inner.find(snap.id) {
                            c.written(snap);
                        }
                    }
                }
                self.inner.unflushed.fetch_sub(taken, Ordering::Relaxed);
                self.inner.settle(true);
                Ok(())
            }
            Err(e) => {
                self.inner.restore(batch);
                self.inner.settle(false);
                Err(e.into())
            }
        }
    }

    /// Whether the database answered the last flush. Always `true` on SQLite (a local file);
    /// on PostgreSQL the flusher's once-a-second round trip keeps it current. `/healthz`
    /// reports it.
    pub fn store_healthy(&self) -> bool {
        self.inner.healthy.load(Ordering::Relaxed)
    }

    /// Whether usage records have gone unwritten past `UsageOptions::max_unflushed`: the
    /// proxy then refuses every request with 503 rather than serve it uncounted. One relaxed
    /// load, for the hot path.
    pub fn refusing(&self) -> bool {
        self.inner.refusing.load(Ordering::Relaxed)
    }

    /// Changes the outage buffer's bound (`UsageOptions::max_unflushed`); takes effect with
    /// the next record or flush.
    pub fn set_max_unflushed(&self, bound: u64) {
        self.inner.max_unflushed.store(bound, Ordering::Relaxed);
    }

    /// Records counted in memory and not written yet.
    pub fn unflushed(&self) -> u64 {
        self.inner.unflushed.load(Ordering::Relaxed)
    }

    /// Rows the database refused since start; each was logged with its reason.
    pub fn rejected_rows(&self) -> u64 {
        self.inner.rejected_rows.load(Ordering::Relaxed)
    }

    /// Stop the flusher and write what is left. Records made afterwards stay in memory until
    /// an explicit `flush`.
    pub async fn shutdown(&self) -> Result<(), UsageError> {
        self.inner.cancel.cancel();
        let handle = self.inner.task.lock().take();
        if let Some(h) = handle
            && let Err(e) = h.await
        {
            tracing::error!(error = %e, "usage flusher task failed");
        }
        self.flush().await
    }
}

/// Flush every `flush_interval` and prune every `prune_interval` until cancelled or until the
/// service is dropped (it holds only a weak reference, so dropping the service stops it).
async fn run_flusher(weak: Weak<Inner>, cancel: CancellationToken, opts: UsageOptions) {
    // `interval` panics on zero; a zero setting means "as often as sensible".
    let mut tick = tokio::time::interval(opts.flush_interval.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first pass waits a full interval: retention is not urgent, and starting up stays fast.
    let mut last_prune = Instant::now();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {}
        }
        let Some(inner) = weak.upgrade() else { break };
        let svc = UsageService { inner };
        if let Err(e) = svc.flush().await {
            tracing::warn!(error = %e, "usage flush failed; it is retried next interval");
        }
        if last_prune.elapsed() >= opts.prune_interval {
            last_prune = Instant::now();
            match svc.prune().await {
                Ok(r) => tracing::debug!(
                    minute_rows_deleted = r.minute_rows_deleted,
                    daily_rows_rolled_up = r.daily_rows_rolled_up,
                    "usage retention pass"
                ),
                Err(e) => tracing::warn!(error = %e, "usage retention pass failed"),
            }
        }
    }
}
