//! The `UsageService` operations behind the management API: stats, limits, reset, history
//! and retention.
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{Days, NaiveDate};

use super::UsageError;
use super::memory::{Cell, CredData, Window, slot};
use super::persist;
use super::service::UsageService;
use super::types::{
    AggregatedStats, ClassCalls, CredentialUsage, LimitOverride, PruneReport, QuotaStatus,
    TodayQuota, rate,
};
use crate::pool::{CredId, ModelClass};
use crate::store::StoreError;

impl UsageService {
    pub fn credential_stats(&self, id: CredId) -> CredentialUsage {
        let cell = self.inner.find(id);
        self.stats_of(cell.as_deref())
    }

    /// Every credential with counters, a window or an override, by id.
    pub fn all_stats(&self) -> Vec<(CredId, CredentialUsage)> {
        self.inner
            .all_cells()
            .into_iter()
            .map(|(id, c)| (id, self.stats_of(Some(&c))))
            .collect()
    }

    fn stats_of(&self, cell: Option<&Cell>) -> CredentialUsage {
        let now = self.inner.clock.now();
        self.inner.with_window(now, |w| {
            let empty = CredData::default();
            let guard = cell.map(|c| c.data.lock());
            let d = guard.as_deref().unwrap_or(&empty);
            let defaults = self.inner.defaults_for(d.kind.pin());
            let used = d.used_in(w.start_ms);
            let mut out = CredentialUsage {
                calls: 0,
                successes: 0,
                failures: 0,
                success_rate: None,
                by_class: ClassCalls::default(),
                errors: Default::default(),
                today: TodayQuota {
                    window_start: w.start,
                    next_reset: w.next,
                    total: QuotaStatus::new(
                        used.iter().sum(),
                        d.limits.total.unwrap_or(defaults.total),
                        d.limits.total.is_some(),
                    ),
                    pro: QuotaStatus::new(
                        used[slot(ModelClass::Pro)],
                        d.limits.pro.unwrap_or(defaults.pro),
                        d.limits.pro.is_some(),
                    ),
                },
            };
            for (&(class, outcome), &n) in &d.counts {
                out.calls += n;
                match class {
                    ModelClass::Pro => out.by_class.pro += n,
                    ModelClass::Flash => out.by_class.flash += n,
                    ModelClass::Other => out.by_class.other += n,
                }
                if outcome.is_success() {
                    out.successes += n;
                } else {
                    out.failures += n;
                    *out.errors.entry(outcome.key()).or_insert(0) += n;
                }
            }
            out.success_rate = rate(out.successes, out.calls);
            out
        })
    }

    /// Replace `id`'s overrides (both classes at once; `None` = follow the default).
    pub async fn set_limits(&self, id: CredId, limits: LimitOverride) -> Result<(), UsageError> {
        {
            let _writer = self.inner.writer.lock().await;
            self.inner
                .store
                .run_tx(move |db| persist::set_limits(db, id, limits))
                .await
                .map_err(|e| match e {
                    StoreError::NotFound { .. } => UsageError::UnknownCredential(id),
                    e => e.into(),
                })?;
            self.inner.cell(id).data.lock().limits = limits;
        }
        self.inner.release(Some(id));
        Ok(())
    }

    /// Zero the call counters and today's window of one credential, or of all. History
    /// (daily and minute rows) is kept. Persisted before this returns.
    pub async fn reset(&self, id: Option<CredId>) -> Result<(), UsageError> {
        {
            // The rows are zeroed in the database first (on PostgreSQL a delta cannot say
            // "zero", and other instances must see it), then here, including what this
            // instance had not written yet.
            let _writer = self.inner.writer.lock().await;
            self.inner
                .store
                .run_tx(move |db| persist::reset_shared(db, id))
                .await?;
            // Taken under the writer lock, after the rows are gone: a cell a flush wrote while
            // this waited for the lock is cleared too, so memory never keeps counts that the
            // flusher believes are stored (it writes only what changes after them).
            let targets: Vec<Arc<Cell>> = match id {
                Some(id) => self.inner.find(id).into_iter().collect(),
                None => self.inner.all_cells().into_iter().map(|(_, c)| c).collect(),
            };
            for c in targets {
                let mut d = c.data.lock();
                d.counts.clear();
                d.used = [0; 3];
                d.synced.counts.clear();
                d.synced.used = [0; 3];
                // `reset_shared` zeroed the rows and kept their windows.
                for (_, used) in &mut d.stored {
                    *used = 0;
                }
                c.dirty.store(true, Ordering::Release);
            }
        }
        // History recorded before the reset is persisted before this returns, as before.
        self.flush().await?;
        self.inner.release(id);
        Ok(())
    }

    /// History over the last `days` quota days, today included (clamped to the retention).
    pub async fn aggregated(&self, days: u32) -> Result<AggregatedStats, UsageError> {
        self.flush().await?;
        let days = days.clamp(1, self.inner.opts.daily_retention_days.max(1));
        let now = self.inner.clock.now();
        let (today, next_reset) = self.inner.with_window(now, |w| (today_of(w), w.next));
        let first = today
            .checked_sub_days(Days::new(u64::from(days - 1)))
            .unwrap_or(today);
        let (first_day, last_day) = (first.to_string(), today.to_string());
        let mut stats = self
            .inner
            .store
            .run(move |db| persist::aggregate(db, days, first_day, last_day, next_reset))
            .await?;
        stats.per_kind = per_kind(&stats.per_credential, &self.kinds());
        Ok(stats)
    }

    /// Retention: drop minute rows older than `minute_retention`, fold daily rows older than
    /// `daily_retention_days` into per-key totals. The flusher runs this every `prune_interval`.
    pub async fn prune(&self) -> Result<PruneReport, UsageError> {
        self.flush().await?;
        let now = self.inner.clock.now();
        let today = self.inner.with_window(now, today_of);
        let cutoff = today
            .checked_sub_days(Days::new(u64::from(self.inner.opts.daily_retention_days)))
            .unwrap_or(today)
            .to_string();
        let minute_cutoff = now.timestamp_millis()
            - i64::try_from(self.inner.opts.minute_retention.as_millis()).unwrap_or(i64::MAX);
        let _writer = self.inner.writer.lock().await;
        Ok(self
            .inner
            .store
            .run_tx(move |db| persist::prune(db, minute_cutoff, &cutoff))
            .await?)
    }
}

fn today_of(w: &Window) -> NaiveDate {
    w.start.with_timezone(&w.rule.tz).date_naive()
}

/// The per-credential totals folded by credential kind. Requests no credential served (id 0)
/// and credentials deleted since (no kind known) are left out.
fn per_kind(
    per_credential: &[super::types::CredentialPeriodStats],
    kinds: &std::collections::HashMap<CredId, crate::google::kind::CredentialKind>,
) -> Vec<super::types::KindStats> {
    let mut out: std::collections::BTreeMap<_, super::types::Totals> = Default::default();
    for c in per_credential {
        let Some(kind) = kinds.get(&c.credential_id) else {
            continue;
        };
        out.entry(*kind).or_default().add(&c.totals);
    }
    out.into_iter()
        .map(|(kind, mut totals)| {
            totals.finish();
            super::types::KindStats { kind, totals }
        })
        .collect()
}
