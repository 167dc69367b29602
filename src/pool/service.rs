//! The pool at run time: the pure [`Pool`] behind one mutex, plus what it needs from the world —
//! access tokens (refreshed single-flight), persistence (batched off the hot path, except
//! refresh tokens, which are written before they are used), and the usage module's quota view.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use super::secrets::{Secret, missing_reason, secret_of};
use super::{
    Change, Clock, CredId, CredentialState, Failure, Pool, PoolConfig, Profile, Reaction,
    SingleFlight,
};
use crate::google::client::Upstream;
use crate::google::errors::{ErrorClass, UpstreamError};
use crate::google::executor::Call;
use crate::google::kind::CredentialKind;
use crate::security::audit;
use crate::settings::{Settings, SettingsService};
use crate::store::credentials as repo;
use crate::store::pg_coord::PoolChange;
use crate::store::{Store, StoreError, now_ms};
use serde_json::json;

/// Refresh this long before expiry, so no request goes out with a token about to lapse.
const REFRESH_MARGIN: chrono::Duration = chrono::Duration::minutes(5);
/// How often batched state changes are written.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// The same on a store shared with other instances: a cooldown must reach them within a
/// second, write, notification and reload included.
const FLUSH_EVERY_SHARED: Duration = Duration::from_millis(100);
/// How often a credential whose only change is a success (its count and time) is written. With
/// requests rotating over 10,000 credentials nearly every request is such a change; written
/// every second, that was one row written per request. A graceful stop writes them all.
const STATS_EVERY: Duration = Duration::from_secs(10);

type QuotaFn = dyn Fn(CredId, super::ModelClass) -> Option<DateTime<Utc>> + Send + Sync;

mod access;
mod coord;
mod query;

pub(crate) use self::coord::publish;

pub use self::query::{
    CredentialQuery, ErrorFilter, MAX_PER_PAGE, QueryPage, SortKey, query_max_per,
};

/// A credential handed to one upstream call: its id and its kind's executor, holding the
/// secret the call needs. Dropping it ends the in-flight count.
pub struct Lease {
    pub id: CredId,
    pub call: Call,
    _hold: super::Hold,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("id", &self.id)
            .field("call", &self.call)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum TokenError {
    /// The token endpoint rejected the refresh token for good; the credential is disabled.
    #[error("refresh rejected: {0}")]
    Permanent(String),
    #[error("refresh failed: {0}")]
    Transient(String),
    #[error("project discovery failed: {0}")]
    NoProject(String),
}

struct Inner {
    core: Mutex<Pool>,
    secrets: RwLock<HashMap<CredId, Secret>>,
    refresh: SingleFlight<CredId, String, TokenError>,
    discover: SingleFlight<CredId, String, TokenError>,
    dirty: Mutex<HashSet<CredId>>,
    /// Credentials whose only unwritten change is a success: written every [`STATS_EVERY`].
    stats_dirty: Mutex<HashSet<CredId>>,
    stats_written: Mutex<std::time::Instant>,
    wake: Notify,
    store: Store,
    upstream: Upstream,
    settings: SettingsService,
    clock: Arc<dyn Clock>,
    quota: RwLock<Option<Arc<QuotaFn>>>,
    /// Told the kind of every credential added or loaded (the usage module picks its default
    /// daily limits by it and breaks its aggregates down by it).
    on_profile: RwLock<Option<Arc<ProfileFn>>>,
    /// Told when a credential turns out to be one that was deleted before (same identity):
    /// the usage module moves today's counts over (`new id`, `deleted ids`).
    on_successor: RwLock<Option<Arc<SuccessorFn>>>,
    /// Every credential's name, kept in memory so the credentials page can search, sort and
    /// page through thousands without reading the table (see `query.rs`).
    names: RwLock<HashMap<CredId, Arc<str>>>,
    /// On a PostgreSQL store shared with other instances: what merging with them needs.
    sync: Option<coord::SharedSync>,
}

type ProfileFn = dyn Fn(CredId, CredentialKind) + Send + Sync;
type SuccessorFn = dyn Fn(CredId, &[CredId]) + Send + Sync;

/// What the model list offers beyond the catalog (see [`PoolService::offer`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Offer {
    pub pins: Vec<crate::google::kind::Pin>,
    /// Embedding model ids, plain first, then under each listed pin.
    pub embedding: Vec<String>,
}

/// Why no credential can serve a call right now. The HTTP mapping lives in `crate::error`.
#[derive(Debug, thiserror::Error)]
pub enum AcquireError {
    #[error("{0}")]
    Unavailable(super::Unavailable),
    #[error("no credential could obtain an access token")]
    NoToken,
}

impl AcquireError {
    /// When trying again can help, as Google's or the pool's own estimate.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Unavailable(u) => u.retry_after(),
            Self::NoToken => None,
        }
    }
}

#[derive(Clone)]
pub struct PoolService {
    inner: Arc<Inner>,
}

pub fn pool_config(s: &Settings) -> PoolConfig {
    PoolConfig {
        calls_per_rotation: s.calls_per_rotation,
        cooldown_cap: s.cooldown_cap,
        auto_ban: s.auto_ban,
        auto_ban_codes: s.auto_ban_error_codes.clone(),
        ..PoolConfig::default()
    }
}

/// What a credential serves: a Gemini API key its discovered models, Vertex the configured
/// VERTEX_MODELS (it publishes no per-project list; a service account also its embedding
/// models), Code Assist whatever is asked.
fn profile_for(
    kind: CredentialKind,
    group: Option<String>,
    discovered: Option<Vec<String>>,
    s: &Settings,
) -> Profile {
    let models = match kind {
        CredentialKind::VertexServiceAccount => {
            let mut m = s.vertex_models.clone();
            m.extend(
                crate::models::embedding::VERTEX_EMBEDDING_MODELS
                    .iter()
                    .map(|e| e.to_string()),
            );
            Some(m)
        }
        CredentialKind::VertexExpressKey => Some(s.vertex_models.clone()),
        CredentialKind::GeminiApiKey => discovered,
        CredentialKind::CodeAssist => None,
    };
    Profile::of(kind).with_group(group).with_models(models)
}

fn profile_of(row: &repo::CredentialRow, s: &Settings) -> Profile {
    profile_for(row.kind, row.quota_group.clone(), row.models.clone(), s)
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// How long an official upstream's overloaded model rests on one credential.
const OVERLOAD_BACKOFF: Duration = Duration::from_secs(5);

/// How an upstream error, as read by the credential's executor (`class`), changes the
/// credential that got it.
pub fn failure_of(
    kind: CredentialKind,
    class: ErrorClass,
    err: &UpstreamError,
    base_model: &str,
) -> Failure {
    let official = kind != CredentialKind::CodeAssist;
    match class {
        ErrorClass::Capacity { retry_after } if official => Failure::Overloaded {
            after: retry_after
                .unwrap_or(OVERLOAD_BACKOFF)
                .min(Duration::from_secs(60)),
        },
        ErrorClass::ServerError if official => Failure::Overloaded {
            after: OVERLOAD_BACKOFF,
        },
        ErrorClass::RateLimited { retry_after } => Failure::RateLimited { retry_after },
        ErrorClass::QuotaExhausted {
            reset_after,
            reset_at,
        } => Failure::QuotaExhausted {
            until: reset_at,
            after: reset_after,
        },
        ErrorClass::Capacity { .. } => Failure::Capacity,
        ErrorClass::ServerError => Failure::Server(err.status),
        ErrorClass::AuthExpired => Failure::AuthFailed {
            permanent: false,
            reason: "access token rejected (401)".into(),
        },
        ErrorClass::Forbidden { reason } => Failure::Forbidden {
            status: err.status,
            reason: match reason {
                Some(r) => format!("{r}: {}", err.message),
                None => err.message.clone(),
            },
            link: err
                .validation_link
                .clone()
                .or_else(|| err.help_links.first().cloned()),
        },
        ErrorClass::ValidationRequired { link } => Failure::Forbidden {
            status: err.status,
            reason: format!("VALIDATION_REQUIRED: {}", err.message),
            link: link.or_else(|| err.validation_link.clone()),
        },
        ErrorClass::NotFound if base_model.contains("preview") => Failure::ModelUnavailable,
        ErrorClass::NotFound | ErrorClass::BadRequest => Failure::Rejected,
        ErrorClass::Other if err.status >= 500 => Failure::Server(err.status),
        ErrorClass::Other => Failure::Rejected,
        ErrorClass::CredentialRejected { reason } => Failure::CredentialRejected {
            status: err.status,
            reason,
        },
        ErrorClass::ModelDenied => Failure::ModelUnavailable,
        ErrorClass::DailyQuota => Failure::DailyExhausted,
    }
}

impl PoolService {
    /// Rebuilds the pool from SQLite and starts the batched state writer.
    pub async fn load(
        store: Store,
        settings: SettingsService,
        upstream: Upstream,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        let rows = store.run(|db| repo::list(db)).await?;
        let states: HashMap<i64, Option<String>> = store
            .run(|db| repo::pool_states(db))
            .await?
            .into_iter()
            .collect();
        let mut pool = Pool::new(pool_config(&settings.get()), Arc::clone(&clock));
        let mut secrets = HashMap::new();
        let mut names = HashMap::new();
        for row in rows {
            names.insert(row.id, Arc::<str>::from(row.name.as_str()));
            let mut state: CredentialState = states
                .get(&row.id)
                .and_then(|s| s.as_deref())
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_else(|| CredentialState {
                    enabled: row.enabled,
                    ..Default::default()
                });
            state.email = state.email.or(row.email.clone());
            state.project_id = state.project_id.or(row.project_id.clone());
            state.tier = state.tier.or(row.tier.clone());
            match secret_of(row.kind, &row.payload) {
                Some(secret) => {
                    secret.register();
                    secrets.insert(row.id, secret);
                }
                None => {
                    tracing::warn!(credential = row.id, name = %row.name, kind = %row.kind,
                        reason = missing_reason(row.kind), "credential disabled");
                    state.enabled = false;
                }
            }
            pool.upsert(row.id, state);
            pool.set_profile(row.id, profile_of(&row, &settings.get()));
        }
        tracing::info!(credentials = pool.len(), "credential pool loaded");
        let sync = store.is_postgres().then(|| {
            let states: Vec<(CredId, CredentialState)> = pool.export().credentials;
            coord::SharedSync::new(states.iter().map(|(id, s)| (*id, s)))
        });
        let svc = Self {
            inner: Arc::new(Inner {
                core: Mutex::new(pool),
                secrets: RwLock::new(secrets),
                refresh: SingleFlight::new(),
                discover: SingleFlight::new(),
                dirty: Mutex::new(HashSet::new()),
                stats_dirty: Mutex::new(HashSet::new()),
                stats_written: Mutex::new(std::time::Instant::now()),
                wake: Notify::new(),
                store,
                upstream,
                settings,
                clock,
                quota: RwLock::new(None),
                on_profile: RwLock::new(None),
                on_successor: RwLock::new(None),
                names: RwLock::new(names),
                sync,
            }),
        };
        svc.spawn_writer();
        Ok(svc)
    }

    fn core(&self) -> parking_lot::MutexGuard<'_, Pool> {
        self.inner.core.lock()
    }

    pub(super) fn core_mut(&self) -> parking_lot::MutexGuard<'_, Pool> {
        self.inner.core.lock()
    }

    /// Writes these states at once, in one transaction (bulk actions).
    pub(super) async fn write_now(
        &self,
        states: Vec<(CredId, CredentialState)>,
    ) -> Result<(), StoreError> {
        if states.is_empty() {
            return Ok(());
        }
        self.write_states(states).await
    }

    /// Writes states in one transaction: as they are on SQLite, merged with the other
    /// instances' on a shared PostgreSQL store.
    async fn write_states(&self, states: Vec<(CredId, CredentialState)>) -> Result<(), StoreError> {
        match &self.inner.sync {
            Some(sync) => self.write_shared(sync, states).await,
            None => write_states(&self.inner.store, states).await,
        }
    }

    /// The model an express key's import check counts tokens with: the first Vertex model.
    pub fn probe_model(&self) -> String {
        self.inner
            .settings
            .get()
            .vertex_models
            .first()
            .cloned()
            .unwrap_or_else(|| "gemini-2.5-flash".into())
    }

    /// Calls `f` with every credential's kind now and whenever one is added.
    pub fn on_profile(&self, f: Arc<ProfileFn>) {
        for (id, p) in self.core().profiles() {
            f(id, p.kind);
        }
        *self.inner.on_profile.write() = Some(f);
    }

    /// Calls `f(new, deleted)` whenever a credential is found to be one deleted before.
    pub fn on_successor(&self, f: Arc<SuccessorFn>) {
        *self.inner.on_successor.write() = Some(f);
    }

    /// Links `id` to `identities` and hands the usage of deleted predecessors over to it.
    pub(crate) async fn link_identities(
        &self,
        id: CredId,
        identities: Vec<String>,
    ) -> Result<(), StoreError> {
        if identities.is_empty() {
            return Ok(());
        }
        let others = self
            .inner
            .store
            .run_tx(move |db| repo::link_identities(db, id, &identities))
            .await?;
        self.succeed(id, others);
        Ok(())
    }

    fn succeed(&self, id: CredId, others: Vec<CredId>) {
        let deleted: Vec<CredId> = {
            let core = self.core();
            others.into_iter().filter(|o| !core.contains(*o)).collect()
        };
        if deleted.is_empty() {
            return;
        }
        tracing::info!(credential = id, predecessors = ?deleted, "credential imported again: today's usage carried over");
        if let Some(f) = self.inner.on_successor.read().clone() {
            f(id, &deleted);
        }
    }

    pub fn set_quota_view(&self, f: Arc<QuotaFn>) {
        *self.inner.quota.write() = Some(f);
    }

    /// Applies hot settings (rotation, cap, auto-ban); returns nothing because changed states
    /// are persisted by the writer.
    pub fn reconfigure(&self, s: &Settings) {
        self.apply_vertex_models(s);
        let changes = self.core().set_config(pool_config(s));
        self.mark(changes.into_iter().map(|c| c.id));
    }

    /// VERTEX_MODELS is hot: Vertex credentials serve the new list at once.
    fn apply_vertex_models(&self, s: &Settings) {
        let mut core = self.core();
        for (id, p) in core.profiles() {
            let vertex = matches!(
                p.kind,
                CredentialKind::VertexServiceAccount | CredentialKind::VertexExpressKey
            );
            let wanted = profile_for(p.kind, p.group.clone(), None, s);
            if vertex && p.models != wanted.models {
                core.set_profile(id, wanted);
            }
        }
    }

    /// What the model list shows beyond the catalog: the kind pins worth listing (those with
    /// at least one active credential, when the pool mixes upstreams: with one upstream a pin
    /// changes nothing) and the embedding models active credentials serve, also under each
    /// listed pin that serves them. O(n).
    pub fn offer(&self) -> Offer {
        use crate::models::embedding::{EMBEDDING_MODELS, is_embedding, listing_rank};
        let profiles = self.core().active_profiles();
        let mut pins: Vec<_> = profiles.iter().map(|p| p.kind.pin()).collect();
        pins.sort();
        pins.dedup();
        if pins.len() < 2 {
            pins.clear();
        }
        let mut plain = std::collections::BTreeSet::new();
        let mut pinned = std::collections::BTreeSet::new();
        for p in profiles.iter().filter(|p| p.kind.embeds()) {
            let models: Vec<&str> = match &p.models {
                Some(m) => m
                    .iter()
                    .map(String::as_str)
                    .filter(|m| is_embedding(m))
                    .collect(),
                None => EMBEDDING_MODELS.to_vec(),
            };
            for m in models {
                plain.insert(m);
                if pins.contains(&p.kind.pin()) {
                    pinned.insert((p.kind.pin(), m));
                }
            }
        }
        let mut plain: Vec<&str> = plain.into_iter().collect();
        plain.sort_by_key(|m| listing_rank(m));
        let mut pinned: Vec<(crate::google::kind::Pin, &str)> = pinned.into_iter().collect();
        pinned.sort_by_key(|(p, m)| (*p, listing_rank(m)));
        let embedding = plain
            .into_iter()
            .map(str::to_string)
            .chain(
                pinned
                    .into_iter()
                    .map(|(p, m)| format!("{}{m}", p.prefix())),
            )
            .collect();
        Offer { pins, embedding }
    }

    /// Whether the pool holds any credential, in any state, of a kind that embeds and that
    /// `pin` admits: when none, an embedding request is told which kinds can serve it.
    pub fn can_ever_embed(&self, pin: Option<crate::google::kind::Pin>) -> bool {
        self.core().has_kind(pin, CredentialKind::embeds)
    }

    /// Records the models a credential was found to serve (a Gemini API key's list).
    pub async fn set_models(&self, id: CredId, models: Vec<String>) -> Result<(), StoreError> {
        let m = models.clone();
        let origin = self.origin();
        self.inner
            .store
            .run_tx(move |mut db| {
                let found = repo::set_models(db.reborrow(), id, &m, now_ms())?;
                if let (true, Some(origin)) = (found, &origin) {
                    let change = PoolChange::Reload { credential_id: id };
                    coord::publish(db, origin, change)?;
                }
                Ok(found)
            })
            .await?;
        let mut core = self.core();
        if let Some(p) = core.profile(id)
            && p.kind == CredentialKind::GeminiApiKey
        {
            core.set_profile(id, p.with_models(Some(models)));
        }
        Ok(())
    }

    fn mark(&self, ids: impl IntoIterator<Item = CredId>) {
        let mut d = self.inner.dirty.lock();
        d.extend(ids);
        if !d.is_empty() {
            self.inner.wake.notify_one();
        }
    }

    fn mark_change(&self, c: Option<Change>) {
        if let Some(c) = c {
            self.mark([c.id]);
        }
    }

    async fn persist_now(&self, change: Option<Change>) {
        if let Some(c) = change {
            if let Err(e) = self.write_states(vec![(c.id, c.state)]).await {
                tracing::error!(error = %e, "could not persist credential state");
                self.mark([c.id]);
            }
        }
    }

    pub fn report_success(&self, lease: &Lease, base_model: &str) {
        match self.core().record_success(lease.id, base_model) {
            // The credential recovered (error streak, cooldown, unusable model cleared).
            Some(c) => self.mark([c.id, lease.id]),
            None => {
                self.inner.stats_dirty.lock().insert(lease.id);
            }
        }
    }

    /// Applies an upstream error to the credential and says what the request should do next.
    pub fn report_failure(&self, lease: &Lease, base_model: &str, err: &UpstreamError) -> Reaction {
        let failure = failure_of(lease.call.kind(), lease.call.classify(err), err, base_model);
        let out =
            self.core()
                .record_failure(lease.id, base_model, err.status, &err.message, failure);
        self.mark(std::iter::once(lease.id).chain(out.shared.iter().map(|c| c.id)));
        out.reaction
    }

    pub fn report_transport(&self, lease: &Lease, base_model: &str, why: &str) -> Reaction {
        let out = self
            .core()
            .record_failure(lease.id, base_model, 0, why, Failure::Transport);
        self.mark([lease.id]);
        out.reaction
    }

    /// An empty 200 reply: Google served nothing; treat like a transient server error.
    pub fn report_empty(&self, lease: &Lease, base_model: &str) -> Reaction {
        let out = self.core().record_failure(
            lease.id,
            base_model,
            200,
            "empty reply",
            Failure::Server(200),
        );
        self.mark([lease.id]);
        out.reaction
    }

    /// Takes a credential out of rotation for a reason found outside a request.
    pub async fn ban(&self, id: CredId, kind: super::BanKind, reason: &str, link: Option<&str>) {
        let change = self.core().ban(id, kind, None, reason, link);
        self.persist_now(change).await;
    }

    /// Forgets over-quota parks (one credential or all) after limits were raised or reset.
    pub fn release_quota(&self, id: Option<CredId>) {
        self.core().release_quota(id);
    }

    pub fn state(&self, id: CredId) -> Option<CredentialState> {
        self.core().state(id)
    }

    pub fn account(&self, id: CredId) -> Option<String> {
        self.core().account(id)
    }

    pub fn summary(&self) -> super::PoolSummary {
        self.core().summary()
    }

    /// Every credential's kind, name and one-word state, for the metrics.
    pub fn metric_entries(&self) -> Vec<super::engine::MetricEntry> {
        self.core().metric_entries()
    }

    pub fn in_flight(&self, id: CredId) -> Option<u32> {
        self.core().in_flight(id)
    }

    /// Adds (or replaces) a credential that is already in SQLite.
    pub fn insert_loaded(
        &self,
        id: CredId,
        profile: Profile,
        payload: &serde_json::Value,
        state: CredentialState,
    ) {
        if let Some(secret) = secret_of(profile.kind, payload) {
            secret.register();
            let old = self.inner.secrets.write().insert(id, secret);
            if let Some(old) = old {
                old.forget();
            }
        }
        let kind = profile.kind;
        {
            let mut core = self.core();
            core.upsert(id, state);
            core.set_profile(id, profile);
        }
        if let Some(f) = self.inner.on_profile.read().clone() {
            f(id, kind);
        }
        self.mark([id]);
    }

    pub fn profile(&self, id: CredId) -> Option<Profile> {
        self.core().profile(id)
    }

    /// The quota group as the pool sees it (the row is written by the caller).
    pub(crate) fn set_group_in_memory(&self, id: CredId, group: Option<String>) {
        let mut core = self.core();
        if let Some(p) = core.profile(id) {
            core.set_profile(id, p.with_group(group));
        }
    }

    pub fn remove(&self, id: CredId) {
        self.core().remove(id);
        self.inner.names.write().remove(&id);
        if let Some(secret) = self.inner.secrets.write().remove(&id) {
            secret.forget();
        }
    }

    pub async fn set_enabled(&self, id: CredId, enabled: bool) -> Result<bool, StoreError> {
        let c = self.core().set_enabled(id, enabled);
        let found = c.is_some();
        if let Some(c) = c {
            self.write_states(vec![(c.id, c.state)]).await?;
            let kind = if enabled {
                "credential.enable"
            } else {
                "credential.disable"
            };
            audit::record(&self.inner.store, kind, Some(id.to_string()), json!({})).await;
        }
        Ok(found)
    }

    pub async fn clear_errors_and_unban(&self, id: CredId) -> Result<bool, StoreError> {
        let c = self.core().clear_errors_and_unban(id);
        let found = c.is_some();
        if let Some(c) = c {
            self.write_states(vec![(c.id, c.state)]).await?;
            let subject = Some(id.to_string());
            audit::record(&self.inner.store, "credential.unban", subject, json!({})).await;
        }
        Ok(found)
    }

    fn spawn_writer(&self) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { return };
                // Wake on a change, or every 30 s as a backstop; holding the Arc while waiting
                // is fine because the service itself never ends before the process.
                let _ = tokio::time::timeout(FLUSH_EVERY * 30, inner.wake.notified()).await;
                let every = match inner.sync {
                    Some(_) => FLUSH_EVERY_SHARED,
                    None => FLUSH_EVERY,
                };
                drop(inner);
                tokio::time::sleep(every).await;
                let Some(inner) = weak.upgrade() else { return };
                let svc = PoolService { inner };
                if let Err(e) = svc.flush_due().await {
                    tracing::error!(error = %e, "could not write credential states");
                }
            }
        });
    }

    /// Writes every changed credential state in one transaction, successes included (graceful
    /// shutdown calls it so nothing is lost).
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.write_dirty(true).await
    }

    /// The writer's periodic flush: changed states, and successes once [`STATS_EVERY`] has
    /// passed since they were last written.
    async fn flush_due(&self) -> Result<(), StoreError> {
        self.write_dirty(false).await
    }

    async fn write_dirty(&self, all: bool) -> Result<(), StoreError> {
        let mut ids: HashSet<CredId> = std::mem::take(&mut *self.inner.dirty.lock());
        let stats_due = {
            let mut at = self.inner.stats_written.lock();
            let due = all || at.elapsed() >= STATS_EVERY;
            if due {
                *at = std::time::Instant::now();
            }
            due
        };
        if stats_due {
            ids.extend(std::mem::take(&mut *self.inner.stats_dirty.lock()));
        }
        let ids: Vec<CredId> = ids.into_iter().collect();
        if ids.is_empty() {
            return Ok(());
        }
        let states: Vec<(CredId, CredentialState)> = {
            let core = self.core();
            ids.iter()
                .filter_map(|id| core.state(*id).map(|s| (*id, s)))
                .collect()
        };
        if let Err(e) = self.write_states(states).await {
            self.mark(ids);
            return Err(e);
        }
        Ok(())
    }

    pub fn upstream(&self) -> &Upstream {
        &self.inner.upstream
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }
}

fn ms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp_millis())
}

async fn write_states(
    store: &Store,
    states: Vec<(CredId, CredentialState)>,
) -> Result<(), StoreError> {
    store
        .run_tx(move |mut tx| {
            let now = now_ms();
            for (id, s) in &states {
                coord::write_state(tx.reborrow(), *id, s, now)?;
            }
            Ok(())
        })
        .await
}

impl PoolService {
    /// Stores a new credential and puts it in rotation. The row and its initial state are
    /// written in one transaction, so a crash never leaves a half-written credential.
    pub async fn add(&self, new: repo::NewCredential) -> Result<CredId, StoreError> {
        let state = CredentialState {
            email: new.email.clone(),
            project_id: new.project_id.clone(),
            tier: new.tier.clone(),
            ..Default::default()
        };
        let json = serde_json::to_string(&state).map_err(|e| StoreError::Data(e.to_string()))?;
        let payload = new.payload.clone();
        let name = Arc::<str>::from(new.name.as_str());
        let profile = profile_for(
            new.kind,
            new.quota_group.clone(),
            new.models.clone(),
            &self.inner.settings.get(),
        );
        // Captured before the transaction, which runs outside the request's task. The name
        // and kind only: the payload holds the secret.
        let mut event = audit::event(
            "credential.add",
            None,
            json!({ "name": new.name, "kind": new.kind.as_str(), "source": new.source.as_str() }),
        );
        let identities = repo::identities(
            new.kind,
            new.secret_sha256.as_deref(),
            new.refresh_token_sha256.as_deref(),
            new.email.as_deref(),
            new.project_id.as_deref(),
        );
        let origin = self.origin();
        let (id, others) = self
            .inner
            .store
            .run_tx(move |mut tx| {
                let now = now_ms();
                let id = repo::insert(tx.reborrow(), &new, now)?;
                repo::set_pool_state(tx.reborrow(), id, &json)?;
                let others = repo::link_identities(tx.reborrow(), id, &identities)?;
                if let Some(origin) = &origin {
                    let change = PoolChange::Reload { credential_id: id };
                    coord::publish(tx.reborrow(), origin, change)?;
                }
                event.subject = Some(id.to_string());
                crate::store::audit::append(tx.reborrow(), &event, now)?;
                Ok((id, others))
            })
            .await?;
        self.inner.names.write().insert(id, name);
        self.insert_loaded(id, profile, &payload, state);
        self.succeed(id, others);
        Ok(id)
    }
}

impl PoolService {
    /// Records the account's identity and writes it at once (it is what the panel shows).
    pub async fn set_identity(
        &self,
        id: CredId,
        email: Option<String>,
        project: Option<String>,
        tier: Option<String>,
    ) {
        let identities = repo::identities(
            CredentialKind::CodeAssist,
            None,
            None,
            email.as_deref(),
            project.as_deref(),
        );
        let change = self.core().set_identity(id, email, project, tier);
        self.persist_now(change).await;
        // The account is known only now for an import without it: a deleted copy of the same
        // account and project hands its day over here.
        if let Err(e) = self.link_identities(id, identities).await {
            tracing::warn!(credential = id, error = %e, "could not record the credential's identity");
        }
    }
}
