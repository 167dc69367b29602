//! The request log: one row per proxied client request, kept in SQLite (migrations/0008) for the
//! panel's request log page, its filters and CSV download.
//!
//! # Hot path
//! [`RequestLog::record`] pushes the finished row onto an in-memory queue under one short mutex
//! and returns; it never touches SQLite. A background task writes the queue in one transaction
//! every `flush_interval` (1 s) and purges rows past the retention (`REQUEST_LOG_DAYS`,
//! `REQUEST_LOG_MAX_ROWS`) every `purge_interval`. The queue is bounded: when the database
//! cannot keep up, new rows are dropped and counted rather than growing memory.
//!
//! # Privacy
//! Prompt text is stored only with `REQUEST_LOG_PROMPTS` on, and then only a bounded excerpt
//! ([`excerpt`]). Error reasons pass through the log redaction, like log lines.
mod csv;
mod excerpt;
mod persist;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use self::csv::to_csv;
pub use self::excerpt::{EXCERPT_CHARS, excerpt};
pub use self::persist::{Filter, Page, Row, StatusFilter};

use crate::pool::CredId;
use crate::store::{Store, StoreError};

/// Rows waiting for the writer at most; beyond this, rows are dropped and counted.
pub const MAX_PENDING: usize = 50_000;
/// Longest error reason kept, in characters.
pub const ERROR_CHARS: usize = 500;

/// One finished request, as the request path hands it over.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub surface: &'static str,
    pub stream: bool,
    pub client_model: String,
    pub served_model: String,
    pub credential_id: Option<CredId>,
    /// The HTTP status the client got.
    pub status: u16,
    /// Kept as the enum: its text form is made by the writer, off the request path.
    pub outcome: crate::usage::Outcome,
    pub latency_ms: u64,
    pub ttfb_ms: Option<u64>,
    pub attempts: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub reasoning_tokens: u64,
    pub client: String,
    pub error: Option<String>,
    pub prompt_excerpt: Option<String>,
}

/// Retention, from settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// 0: no age limit.
    pub days: u64,
    pub max_rows: u64,
}

impl Retention {
    pub fn from_settings(s: &crate::Settings) -> Self {
        Self {
            days: s.request_log_days,
            max_rows: s.request_log_max_rows,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    pub flush_interval: Duration,
    pub purge_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            flush_interval: Duration::from_secs(1),
            purge_interval: Duration::from_secs(600),
        }
    }
}

/// What one purge pass removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub by_age: u64,
    pub by_count: u64,
}

/// Cheap to clone; all clones share one queue and one writer task.
#[derive(Clone)]
pub struct RequestLog {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    enabled: AtomicBool,
    prompts: AtomicBool,
    retention: Mutex<Retention>,
    queue: Mutex<Vec<Entry>>,
    dropped: AtomicU64,
    /// Serialises flushes so rows land in the order they were recorded.
    writer: tokio::sync::Mutex<()>,
    task: Mutex<Option<JoinHandle<()>>>,
    cancel: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl std::fmt::Debug for RequestLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestLog")
            .field("pending", &self.inner.queue.lock().len())
            .finish()
    }
}

impl RequestLog {
    /// Starts the writer task; configure with [`RequestLog::configure`].
    pub fn start(store: Store, s: &crate::Settings) -> Self {
        Self::start_with(store, s, Options::default())
    }

    pub fn start_with(store: Store, s: &crate::Settings, opts: Options) -> Self {
        let inner = Arc::new(Inner {
            store,
            enabled: AtomicBool::new(s.request_log),
            prompts: AtomicBool::new(s.request_log_prompts),
            retention: Mutex::new(Retention::from_settings(s)),
            queue: Mutex::new(Vec::new()),
            dropped: AtomicU64::new(0),
            writer: tokio::sync::Mutex::new(()),
            task: Mutex::new(None),
            cancel: CancellationToken::new(),
        });
        let handle = tokio::spawn(run_writer(
            Arc::downgrade(&inner),
            inner.cancel.clone(),
            opts,
        ));
        *inner.task.lock() = Some(handle);
        Self { inner }
    }

    /// Hot settings.
    pub fn configure(&self, s: &crate::Settings) {
        self.inner.enabled.store(s.request_log, Ordering::Relaxed);
        self.inner
            .prompts
            .store(s.request_log_prompts, Ordering::Relaxed);
        *self.inner.retention.lock() = Retention::from_settings(s);
    }

    /// Whether rows are kept at all (`REQUEST_LOG`).
    pub fn enabled(&self) -> bool {
        self.inner.enabled.load(Ordering::Relaxed)
    }

    /// Whether prompt excerpts are kept (`REQUEST_LOG_PROMPTS`).
    pub fn prompts(&self) -> bool {
        self.inner.prompts.load(Ordering::Relaxed)
    }

    /// Queue one row; never waits on the database.
    pub fn record(&self, mut e: Entry) {
        if !self.enabled() {
            return;
        }
        if !self.prompts() {
            e.prompt_excerpt = None;
        }
        let mut q = self.inner.queue.lock();
        if q.len() >= MAX_PENDING {
            drop(q);
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        q.push(e);
    }

    /// Rows dropped since start because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Write the queue now. On error the rows go back to the front of the queue (bounded).
    pub async fn flush(&self) -> Result<usize, StoreError> {
        let _w = self.inner.writer.lock().await;
        let batch = std::mem::take(&mut *self.inner.queue.lock());
        if batch.is_empty() {
            return Ok(0);
        }
        let n = batch.len();
        let batch = Arc::new(batch);
        let shared = Arc::clone(&batch);
        match self
            .inner
            .store
            .run_tx(move |db| persist::insert(db, &shared))
            .await
        {
            Ok(()) => Ok(n),
            Err(e) => {
                let mut back = Arc::try_unwrap(batch).unwrap_or_else(|a| (*a).clone());
                let mut q = self.inner.queue.lock();
                back.append(&mut q);
                let over = back.len().saturating_sub(MAX_PENDING);
                if over > 0 {
                    back.drain(..over);
                    self.inner.dropped.fetch_add(over as u64, Ordering::Relaxed);
                }
                *q = back;
                Err(e)
            }
        }
    }

    /// Apply the retention now; with REQUEST_LOG_PROMPTS off, also erase stored excerpts.
    pub async fn purge(&self) -> Result<Purged, StoreError> {
        let r = *self.inner.retention.lock();
        let erase_prompts = !self.prompts();
        let cutoff = (r.days > 0).then(|| {
            let days = i64::try_from(r.days).unwrap_or(i64::MAX / 86_400_000);
            crate::store::now_ms().saturating_sub(days.saturating_mul(86_400_000))
        });
        self.inner
            .store
            .run_tx(move |db| persist::purge(db, cutoff, r.max_rows, erase_prompts))
            .await
    }

    pub async fn list(&self, f: Filter) -> Result<Page, StoreError> {
        self.inner.store.run(move |db| persist::list(db, &f)).await
    }

    pub async fn get(&self, id: i64) -> Result<Option<Row>, StoreError> {
        self.inner.store.run(move |db| persist::get(db, id)).await
    }

    /// Stop the writer and write what is left.
    pub async fn shutdown(&self) -> Result<(), StoreError> {
        self.inner.cancel.cancel();
        let handle = self.inner.task.lock().take();
        if let Some(h) = handle
            && let Err(e) = h.await
        {
            tracing::error!(error = %e, "request log writer task failed");
        }
        self.flush().await.map(|_| ())
    }
}

/// Bounds an error reason and strips any registered secret from it.
pub fn error_reason(text: &str) -> String {
    let redacted = crate::logs::redact(text);
    truncate_chars(&redacted, ERROR_CHARS)
}

pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

async fn run_writer(weak: std::sync::Weak<Inner>, cancel: CancellationToken, opts: Options) {
    let mut tick = tokio::time::interval(opts.flush_interval.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_purge: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {}
        }
        let Some(inner) = weak.upgrade() else { break };
        let log = RequestLog { inner };
        if let Err(e) = log.flush().await {
            tracing::warn!(error = %e, "request log write failed; retried next interval");
        }
        // The first purge runs soon after start, so a lowered retention applies without waiting
        // a full interval.
        if last_purge.is_none_or(|t| t.elapsed() >= opts.purge_interval) {
            last_purge = Some(Instant::now());
            match log.purge().await {
                Ok(p) if p.by_age + p.by_count > 0 => tracing::debug!(
                    by_age = p.by_age,
                    by_count = p.by_count,
                    "request log retention pass"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "request log retention pass failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate_chars("héllo", 10), "héllo");
        assert_eq!(truncate_chars("héllo", 2), "hé…");
        assert_eq!(truncate_chars("", 0), "");
    }
}
