//! Stored Responses API answers (`store: true`): kept in memory for follow-ups
//! (`previous_response_id`) and `GET` / `DELETE /v1/responses/{id}`, and written behind to
//! SQLite, so a follow-up reads the database only for a response that is no longer in memory
//! (after a restart, or once newer ones pushed it out).
//!
//! Bounds: responses older than `RESPONSES_STORE_DAYS` are gone everywhere; the database holds
//! at most `RESPONSES_STORE_MAX_MB` (oldest dropped first) and memory at most a slice of it
//! ([`MEMORY_MAX_BYTES`]). `RESPONSES_STORE_DAYS=0` stores nothing.
//!
//! Rows stay JSON text in memory too: the write-behind queue and the cache share them, their
//! size is what is counted, and a follow-up parses only the one it continues from.
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::settings::Settings;
use crate::store::responses::{self as sql, StoredRow, Write};
use crate::store::{Store, StoreError, now_ms};

/// Memory holds at most this much (or the database cap, if smaller).
pub const MEMORY_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Writes wait this long to be batched into one transaction.
const BATCH_WINDOW: Duration = Duration::from_millis(200);
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// Writes queued while the database is unavailable; beyond this the oldest are dropped.
const MAX_PENDING: usize = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `None`: storing is off.
    pub max_age: Option<Duration>,
    pub max_bytes: u64,
    pub memory_bytes: u64,
}

impl Limits {
    pub fn from_settings(s: &Settings) -> Self {
        let max_bytes = s.responses_store_max_mb.saturating_mul(1024 * 1024);
        Self {
            max_age: (s.responses_store_days > 0)
                .then(|| Duration::from_secs(s.responses_store_days.saturating_mul(86_400))),
            max_bytes,
            memory_bytes: max_bytes.min(MEMORY_MAX_BYTES),
        }
    }

    fn cutoff_ms(&self, now: i64) -> i64 {
        let age = self.max_age.unwrap_or_default();
        now.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX))
    }
}

#[derive(Default)]
struct Mem {
    rows: HashMap<String, Arc<StoredRow>>,
    /// Ids oldest first; may name rows already removed.
    order: VecDeque<String>,
    bytes: u64,
    /// Deleted, with the delete not yet written: the database copy must not be served.
    tombstones: HashSet<String>,
}

impl Mem {
    fn remove(&mut self, id: &str) -> Option<Arc<StoredRow>> {
        let row = self.rows.remove(id)?;
        self.bytes = self.bytes.saturating_sub(row.bytes() as u64);
        Some(row)
    }

    fn insert(&mut self, row: Arc<StoredRow>, cap: u64) {
        self.remove(&row.id);
        self.bytes += row.bytes() as u64;
        self.order.push_back(row.id.clone());
        self.rows.insert(row.id.clone(), row);
        while self.bytes > cap {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.remove(&oldest);
        }
        // Ids of rows removed otherwise (deleted, replaced) are dropped lazily.
        if self.order.len() > 2 * self.rows.len() + 64 {
            let rows = &self.rows;
            self.order.retain(|id| rows.contains_key(id));
        }
    }
}

struct Inner {
    store: Store,
    limits: Mutex<Limits>,
    mem: Mutex<Mem>,
    pending: Mutex<Vec<Write>>,
    wake: Notify,
    closing: AtomicBool,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[derive(Clone)]
pub struct ResponseStore {
    inner: Arc<Inner>,
}

impl ResponseStore {
    /// Starts the write-behind task.
    pub fn start(store: Store, limits: Limits) -> Self {
        let inner = Arc::new(Inner {
            store,
            limits: Mutex::new(limits),
            mem: Mutex::new(Mem::default()),
            pending: Mutex::new(Vec::new()),
            wake: Notify::new(),
            closing: AtomicBool::new(false),
            writer: Mutex::new(None),
        });
        let this = Self { inner };
        let task = tokio::spawn(run_writer(this.clone()));
        *this.inner.writer.lock() = Some(task);
        this
    }

    pub fn set_limits(&self, limits: Limits) {
        *self.inner.limits.lock() = limits;
        let mut mem = self.inner.mem.lock();
        if mem.bytes > limits.memory_bytes {
            while mem.bytes > limits.memory_bytes {
                let Some(oldest) = mem.order.pop_front() else {
                    break;
                };
                mem.remove(&oldest);
            }
        }
    }

    pub fn enabled(&self) -> bool {
        self.inner.limits.lock().max_age.is_some()
    }

    /// Keeps a response: in memory at once, in the database shortly after.
    pub fn put(&self, row: StoredRow) {
        let limits = *self.inner.limits.lock();
        if limits.max_age.is_none() {
            return;
        }
        let size = row.bytes() as u64;
        if size > limits.max_bytes {
            tracing::warn!(
                id = %row.id,
                bytes = size,
                "response is larger than RESPONSES_STORE_MAX_MB; not stored"
            );
            return;
        }
        let row = Arc::new(row);
        {
            let mut mem = self.inner.mem.lock();
            mem.tombstones.remove(&row.id);
            if size <= limits.memory_bytes {
                mem.insert(row.clone(), limits.memory_bytes);
            }
        }
        self.queue(Write::Put(row));
    }

    fn queue(&self, w: Write) {
        {
            let mut pending = self.inner.pending.lock();
            pending.push(w);
            if pending.len() > MAX_PENDING {
                let excess = pending.len() - MAX_PENDING;
                pending.drain(..excess);
                tracing::warn!(
                    dropped = excess,
                    "stored responses are not reaching the database; dropping the oldest writes"
                );
            }
        }
        self.inner.wake.notify_one();
    }

    /// A stored response: from memory, else from the database. `None` when unknown, deleted
    /// or too old.
    pub async fn get(&self, id: &str) -> Result<Option<Arc<StoredRow>>, StoreError> {
        let limits = *self.inner.limits.lock();
        if limits.max_age.is_none() {
            return Ok(None);
        }
        let cutoff = limits.cutoff_ms(now_ms());
        {
            let mem = self.inner.mem.lock();
            if mem.tombstones.contains(id) {
                return Ok(None);
            }
            if let Some(row) = mem.rows.get(id) {
                return Ok((row.created_at >= cutoff).then(|| row.clone()));
            }
        }
        let key = id.to_string();
        let row = self.inner.store.run(move |db| sql::get(db, &key)).await?;
        let Some(row) = row.filter(|r| r.created_at >= cutoff) else {
            return Ok(None);
        };
        let row = Arc::new(row);
        let mut mem = self.inner.mem.lock();
        // A delete may have come in while the database was read.
        if mem.tombstones.contains(id) {
            return Ok(None);
        }
        if (row.bytes() as u64) <= limits.memory_bytes {
            mem.insert(row.clone(), limits.memory_bytes);
        }
        Ok(Some(row))
    }

    /// Deletes a stored response; `false` when there was none.
    pub async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        if self.get(id).await?.is_none() {
            return Ok(false);
        }
        {
            let mut mem = self.inner.mem.lock();
            mem.remove(id);
            mem.tombstones.insert(id.to_string());
        }
        self.queue(Write::Delete(id.to_string()));
        Ok(true)
    }

    /// Writes everything queued, in one transaction.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let writes = std::mem::take(&mut *self.inner.pending.lock());
        if writes.is_empty() {
            return Ok(());
        }
        let batch = writes.clone();
        match self
            .inner
            .store
            .run_tx(move |db| sql::apply(db, &batch))
            .await
        {
            Ok(()) => {
                let mut mem = self.inner.mem.lock();
                for w in &writes {
                    if let Write::Delete(id) = w {
                        mem.tombstones.remove(id);
                    }
                }
                Ok(())
            }
            Err(e) => {
                // Back in front of anything queued since, to keep the order.
                let mut pending = self.inner.pending.lock();
                let newer = std::mem::take(&mut *pending);
                *pending = writes;
                pending.extend(newer);
                Err(e)
            }
        }
    }

    /// Drops what is too old or over the size cap, in memory and in the database.
    pub async fn prune(&self) -> Result<usize, StoreError> {
        let limits = *self.inner.limits.lock();
        let cutoff = limits.cutoff_ms(now_ms());
        {
            let mut mem = self.inner.mem.lock();
            let old: Vec<String> = mem
                .rows
                .values()
                .filter(|r| r.created_at < cutoff)
                .map(|r| r.id.clone())
                .collect();
            for id in old {
                mem.remove(&id);
            }
        }
        let max = if limits.max_age.is_some() {
            limits.max_bytes
        } else {
            0
        };
        let cutoff = if limits.max_age.is_some() {
            cutoff
        } else {
            i64::MAX
        };
        self.inner
            .store
            .run_tx(move |db| sql::prune(db, cutoff, max))
            .await
    }

    /// Stops the writer task (letting a write in progress finish) and writes what is left.
    pub async fn shutdown(&self) -> Result<(), StoreError> {
        self.inner.closing.store(true, Ordering::SeqCst);
        self.inner.wake.notify_one();
        let task = self.inner.writer.lock().take();
        if let Some(t) = task
            && let Err(e) = t.await
            && e.is_panic()
        {
            tracing::error!("the stored-responses writer panicked");
        }
        self.flush().await
    }
}

async fn run_writer(rs: ResponseStore) {
    let mut last_prune = Instant::now();
    let closing = || rs.inner.closing.load(Ordering::SeqCst);
    loop {
        let _ = tokio::time::timeout(PRUNE_EVERY, rs.inner.wake.notified()).await;
        if closing() {
            return;
        }
        tokio::time::sleep(BATCH_WINDOW).await;
        if let Err(e) = rs.flush().await {
            tracing::warn!(error = %e, "could not write stored responses; retrying");
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = Instant::now();
            match rs.prune().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "pruned stored responses"),
                Err(e) => tracing::warn!(error = %e, "could not prune stored responses"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, at: i64, size: usize) -> StoredRow {
        StoredRow {
            id: id.into(),
            created_at: at,
            response_json: "x".repeat(size),
            conversation_json: "[]".into(),
            output_json: "[]".into(),
        }
    }

    fn limits(mem: u64) -> Limits {
        Limits {
            max_age: Some(Duration::from_secs(3600)),
            max_bytes: 1 << 20,
            memory_bytes: mem,
        }
    }

    #[tokio::test]
    async fn memory_first_then_database_after_eviction_and_deletes_win() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let rs = ResponseStore::start(store.clone(), limits(250));
        let now = now_ms();
        rs.put(row("r1", now, 100));
        rs.put(row("r2", now, 100));
        let reads = store.read_count();
        assert!(rs.get("r1").await.unwrap().is_some());
        assert_eq!(store.read_count(), reads, "served from memory");
        // r3 pushes r1 out of memory; it is still in the database once flushed.
        rs.put(row("r3", now, 100));
        rs.flush().await.unwrap();
        assert!(rs.get("r1").await.unwrap().is_some());
        assert_eq!(store.read_count(), reads + 1, "read from the database");
        // Deleted before the delete is written: gone at once, and after the flush too.
        assert!(rs.delete("r2").await.unwrap());
        assert!(rs.get("r2").await.unwrap().is_none());
        assert!(!rs.delete("r2").await.unwrap());
        rs.flush().await.unwrap();
        let fresh = ResponseStore::start(store, limits(250));
        assert!(fresh.get("r2").await.unwrap().is_none());
        assert!(fresh.get("r3").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn too_old_is_gone_and_zero_days_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let rs = ResponseStore::start(store.clone(), limits(1 << 20));
        rs.put(row("old", now_ms() - 2 * 3600 * 1000, 10));
        assert!(rs.get("old").await.unwrap().is_none());
        rs.set_limits(Limits {
            max_age: None,
            ..limits(1 << 20)
        });
        assert!(!rs.enabled());
        rs.put(row("off", now_ms(), 10));
        assert!(rs.get("off").await.unwrap().is_none());
        rs.flush().await.unwrap();
        assert!(store.call(|c| sql::get(c, "off")).await.unwrap().is_none());
    }
}
