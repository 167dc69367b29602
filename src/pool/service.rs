//! The pool at run time: the pure [`Pool`] behind one mutex, plus what it needs from the world —
//! access tokens (refreshed single-flight), persistence (batched off the hot path, except
//! refresh tokens, which are written before they are used), and the usage module's quota view.
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use super::{
    Change, Clock, CredId, CredentialState, Failure, Pool, PoolConfig, Reaction, SingleFlight,
    model_class,
};
use crate::google::client::Upstream;
use crate::google::errors::{ErrorClass, UpstreamError, classify};
use crate::google::oauth;
use crate::settings::{Settings, SettingsService};
use crate::store::credentials::{self as repo, StatePatch};
use crate::store::{Store, StoreError, now_ms};

/// Refresh this long before expiry, so no request goes out with a token about to lapse.
const REFRESH_MARGIN: chrono::Duration = chrono::Duration::minutes(5);
/// How often batched state changes are written.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

type QuotaFn = dyn Fn(CredId, super::ModelClass) -> Option<DateTime<Utc>> + Send + Sync;

/// Secrets of one credential; only the pool service holds them in memory.
#[derive(Clone)]
struct Tokens {
    client_id: String,
    client_secret: String,
    refresh_token: String,
    access_token: Option<String>,
    expiry: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("expiry", &self.expiry)
            .finish_non_exhaustive()
    }
}

/// A credential handed to one upstream call. Dropping it ends the in-flight count.
pub struct Lease {
    pub id: CredId,
    pub access_token: String,
    pub project_id: String,
    _hold: super::Hold,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
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
    tokens: RwLock<HashMap<CredId, Tokens>>,
    refresh: SingleFlight<CredId, String, TokenError>,
    discover: SingleFlight<CredId, String, TokenError>,
    dirty: Mutex<HashSet<CredId>>,
    wake: Notify,
    store: Store,
    upstream: Upstream,
    clock: Arc<dyn Clock>,
    quota: RwLock<Option<Arc<QuotaFn>>>,
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

fn parse_expiry(payload: &serde_json::Value) -> Option<DateTime<Utc>> {
    if let Some(s) = payload.get("expiry").and_then(|v| v.as_str()) {
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Some(t.with_timezone(&Utc));
        }
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
            return Some(t.and_utc());
        }
    }
    payload
        .get("expiry_date")
        .and_then(|v| v.as_i64())
        .and_then(DateTime::from_timestamp_millis)
}

fn tokens_of(payload: &serde_json::Value) -> Option<Tokens> {
    let s = |k: &str| {
        payload
            .get(k)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Some(Tokens {
        client_id: s("client_id").unwrap_or_else(|| oauth::GEMINI_CLI_CLIENT_ID.to_string()),
        client_secret: s("client_secret")
            .unwrap_or_else(|| oauth::GEMINI_CLI_CLIENT_SECRET.to_string()),
        refresh_token: s("refresh_token")?,
        access_token: s("access_token").or_else(|| s("token")),
        expiry: parse_expiry(payload),
    })
}

fn register_secrets(t: &Tokens) {
    crate::logs::register_secret(&t.refresh_token);
    crate::logs::register_secret(&t.client_secret);
    if let Some(a) = &t.access_token {
        crate::logs::register_secret(a);
    }
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// How an upstream error changes the credential that got it.
pub fn failure_of(err: &UpstreamError, base_model: &str) -> Failure {
    match classify(err) {
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
        let rows = store.call(repo::list).await?;
        let states: HashMap<i64, Option<String>> =
            store.call(repo::pool_states).await?.into_iter().collect();
        let mut pool = Pool::new(pool_config(&settings.get()), Arc::clone(&clock));
        let mut tokens = HashMap::new();
        for row in rows {
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
            match tokens_of(&row.payload) {
                Some(t) => {
                    register_secrets(&t);
                    tokens.insert(row.id, t);
                }
                None => {
                    tracing::warn!(credential = row.id, name = %row.name, "credential has no refresh token; disabled");
                    state.enabled = false;
                }
            }
            pool.upsert(row.id, state);
        }
        tracing::info!(credentials = pool.len(), "credential pool loaded");
        let svc = Self {
            inner: Arc::new(Inner {
                core: Mutex::new(pool),
                tokens: RwLock::new(tokens),
                refresh: SingleFlight::new(),
                discover: SingleFlight::new(),
                dirty: Mutex::new(HashSet::new()),
                wake: Notify::new(),
                store,
                upstream,
                clock,
                quota: RwLock::new(None),
            }),
        };
        svc.spawn_writer();
        Ok(svc)
    }

    fn core(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.inner.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_quota_view(&self, f: Arc<QuotaFn>) {
        *self.inner.quota.write().unwrap_or_else(|e| e.into_inner()) = Some(f);
    }

    /// Applies hot settings (rotation, cap, auto-ban); returns nothing because changed states
    /// are persisted by the writer.
    pub fn reconfigure(&self, s: &Settings) {
        let changes = self.core().set_config(pool_config(s));
        self.mark(changes.into_iter().map(|c| c.id));
    }

    fn mark(&self, ids: impl IntoIterator<Item = CredId>) {
        let mut d = self.inner.dirty.lock().unwrap_or_else(|e| e.into_inner());
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

    /// A credential for one call to `base_model`, with a fresh access token and its project.
    pub async fn acquire(
        &self,
        base_model: &str,
        exclude: &[CredId],
    ) -> Result<Lease, AcquireError> {
        let class = model_class(base_model);
        let mut skip: Vec<CredId> = exclude.to_vec();
        // Credentials whose token cannot be had are skipped for this request, bounded so a
        // pool full of broken credentials still answers quickly.
        for _ in 0..8 {
            let hold = {
                let quota = self
                    .inner
                    .quota
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                let view =
                    move |id: CredId, c: super::ModelClass| quota.as_ref().and_then(|q| q(id, c));
                self.core().pick(base_model, class, &skip, &view)
            };
            let hold = hold.map_err(AcquireError::Unavailable)?;
            let id = hold.id;
            match self.ready(id).await {
                Ok((access_token, project_id)) => {
                    return Ok(Lease {
                        id,
                        access_token,
                        project_id,
                        _hold: hold,
                    });
                }
                Err(e) => {
                    tracing::warn!(credential = id, error = %e, "credential not usable right now");
                    skip.push(id);
                }
            }
        }
        Err(AcquireError::NoToken)
    }

    async fn ready(&self, id: CredId) -> Result<(String, String), TokenError> {
        let token = self.access_token(id).await?;
        let known = self.core().state(id).and_then(|s| s.project_id);
        let project = match known {
            Some(p) => p,
            None => self.discover_project(id).await?,
        };
        Ok((token, project))
    }

    fn tokens(&self, id: CredId) -> Option<Tokens> {
        self.inner
            .tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    /// A valid access token, refreshing (once, whoever asks) when it is missing or expiring.
    pub async fn access_token(&self, id: CredId) -> Result<String, TokenError> {
        let now = self.inner.clock.now();
        let t = self
            .tokens(id)
            .ok_or_else(|| TokenError::Permanent("credential has no refresh token".into()))?;
        if let (Some(a), Some(exp)) = (&t.access_token, t.expiry)
            && exp - REFRESH_MARGIN > now
        {
            return Ok(a.clone());
        }
        let me = self.clone();
        self.inner
            .refresh
            .run(id, || async move { me.do_refresh(id).await })
            .await
    }

    /// After an upstream 401: drop the rejected token and refresh, unless someone already did.
    pub async fn force_refresh(&self, lease: &Lease) -> Result<String, TokenError> {
        {
            let mut all = self.inner.tokens.write().unwrap_or_else(|e| e.into_inner());
            if let Some(t) = all.get_mut(&lease.id)
                && t.access_token.as_deref() == Some(lease.access_token.as_str())
            {
                t.access_token = None;
            }
        }
        self.access_token(lease.id).await
    }

    async fn do_refresh(&self, id: CredId) -> Result<String, TokenError> {
        let t = self
            .tokens(id)
            .ok_or_else(|| TokenError::Permanent("credential was removed".into()))?;
        // Another flight may have finished between our check and this one starting.
        if let (Some(a), Some(exp)) = (&t.access_token, t.expiry)
            && exp - REFRESH_MARGIN > self.inner.clock.now()
        {
            return Ok(a.clone());
        }
        let up = self.inner.upstream.clone();
        match oauth::refresh(&up, &t.client_id, &t.client_secret, &t.refresh_token).await {
            Ok(tr) => {
                let expiry = self.inner.clock.now()
                    + chrono::Duration::seconds(tr.expires_in.unwrap_or(3599));
                let rotated = tr.refresh_token.clone().filter(|r| *r != t.refresh_token);
                crate::logs::register_secret(&tr.access_token);
                if let Some(r) = &rotated {
                    crate::logs::register_secret(r);
                }
                // Written before use: a rotated refresh token must never exist only in memory.
                let (access, exp_s) = (tr.access_token.clone(), expiry.to_rfc3339());
                let rot = rotated.clone().map(|r| {
                    let sha = sha256_hex(&r);
                    (r, sha)
                });
                let write = self
                    .inner
                    .store
                    .tx(move |tx| {
                        repo::update_tokens(
                            tx,
                            id,
                            &access,
                            Some(&exp_s),
                            rot.as_ref().map(|(r, s)| (r.as_str(), s.as_str())),
                            now_ms(),
                        )
                    })
                    .await;
                if let Err(e) = write {
                    tracing::error!(credential = id, error = %e, "could not save refreshed tokens");
                    if rotated.is_some() {
                        return Err(TokenError::Transient(
                            "could not save the rotated refresh token".into(),
                        ));
                    }
                }
                let mut all = self.inner.tokens.write().unwrap_or_else(|e| e.into_inner());
                if let Some(slot) = all.get_mut(&id) {
                    if let Some(old) = slot.access_token.replace(tr.access_token.clone()) {
                        crate::logs::forget_secret(&old);
                    }
                    slot.expiry = Some(expiry);
                    if let Some(r) = rotated {
                        slot.refresh_token = r;
                    }
                }
                tracing::info!(credential = id, "access token refreshed");
                Ok(tr.access_token)
            }
            Err(e) if e.is_permanent() => {
                let reason = e.to_string();
                tracing::warn!(credential = id, reason = %reason, "refresh token rejected; disabling credential");
                let out = self.core().record_failure(
                    id,
                    "*",
                    400,
                    &reason,
                    Failure::AuthFailed {
                        permanent: true,
                        reason: reason.clone(),
                    },
                );
                self.mark_change(out.change);
                Err(TokenError::Permanent(reason))
            }
            Err(e) => Err(TokenError::Transient(e.to_string())),
        }
    }

    /// Finds the project on first use of a credential imported without one (single-flight,
    /// so a burst of requests runs discovery once).
    async fn discover_project(&self, id: CredId) -> Result<String, TokenError> {
        let me = self.clone();
        self.inner
            .discover
            .run(id, || async move {
                me.identify(id).await?;
                me.state(id)
                    .and_then(|s| s.project_id)
                    .ok_or_else(|| TokenError::NoProject("no project found".into()))
            })
            .await
    }

    async fn persist_now(&self, change: Option<Change>) {
        if let Some(c) = change {
            if let Err(e) = write_states(&self.inner.store, vec![(c.id, c.state)]).await {
                tracing::error!(error = %e, "could not persist credential state");
                self.mark([c.id]);
            }
        }
    }

    pub fn report_success(&self, lease: &Lease, base_model: &str) {
        let c = self.core().record_success(lease.id, base_model);
        self.mark(c.map(|c| c.id).into_iter().chain([lease.id]));
    }

    /// Applies an upstream error to the credential and says what the request should do next.
    pub fn report_failure(&self, lease: &Lease, base_model: &str, err: &UpstreamError) -> Reaction {
        let failure = failure_of(err, base_model);
        let out =
            self.core()
                .record_failure(lease.id, base_model, err.status, &err.message, failure);
        self.mark([lease.id]);
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

    pub fn in_flight(&self, id: CredId) -> Option<u32> {
        self.core().in_flight(id)
    }

    /// Adds (or replaces) a credential that is already in SQLite.
    pub fn insert_loaded(&self, id: CredId, payload: &serde_json::Value, state: CredentialState) {
        if let Some(t) = tokens_of(payload) {
            register_secrets(&t);
            self.inner
                .tokens
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, t);
        }
        self.core().upsert(id, state);
        self.mark([id]);
    }

    pub fn remove(&self, id: CredId) {
        self.core().remove(id);
        if let Some(t) = self
            .inner
            .tokens
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id)
        {
            crate::logs::forget_secret(&t.refresh_token);
            if let Some(a) = &t.access_token {
                crate::logs::forget_secret(a);
            }
        }
    }

    pub async fn set_enabled(&self, id: CredId, enabled: bool) -> Result<bool, StoreError> {
        let c = self.core().set_enabled(id, enabled);
        let found = c.is_some();
        if let Some(c) = c {
            write_states(&self.inner.store, vec![(c.id, c.state)]).await?;
        }
        Ok(found)
    }

    pub async fn clear_errors_and_unban(&self, id: CredId) -> Result<bool, StoreError> {
        let c = self.core().clear_errors_and_unban(id);
        let found = c.is_some();
        if let Some(c) = c {
            write_states(&self.inner.store, vec![(c.id, c.state)]).await?;
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
                drop(inner);
                tokio::time::sleep(FLUSH_EVERY).await;
                let Some(inner) = weak.upgrade() else { return };
                let svc = PoolService { inner };
                if let Err(e) = svc.flush().await {
                    tracing::error!(error = %e, "could not write credential states");
                }
            }
        });
    }

    /// Writes every changed credential state in one transaction (the batched path; graceful
    /// shutdown calls it so nothing is lost).
    pub async fn flush(&self) -> Result<(), StoreError> {
        let ids: Vec<CredId> =
            std::mem::take(&mut *self.inner.dirty.lock().unwrap_or_else(|e| e.into_inner()))
                .into_iter()
                .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let states: Vec<(CredId, CredentialState)> = {
            let core = self.core();
            ids.iter()
                .filter_map(|id| core.state(*id).map(|s| (*id, s)))
                .collect()
        };
        if let Err(e) = write_states(&self.inner.store, states).await {
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
        .tx(move |tx| {
            let now = now_ms();
            for (id, s) in &states {
                let json = serde_json::to_string(s).map_err(|e| StoreError::Data(e.to_string()))?;
                repo::set_pool_state(tx, *id, &json)?;
                let patch = StatePatch {
                    enabled: Some(s.enabled),
                    disabled_reason: None,
                    ban_reason: Some(s.ban.as_ref().map(|b| b.reason.clone())),
                    ban_link: Some(s.ban.as_ref().and_then(|b| b.link.clone())),
                    preview_ok: Some(Some(s.preview)),
                    email: s.email.clone().map(Some),
                    project_id: s.project_id.clone().map(Some),
                    tier: s.tier.clone().map(Some),
                    last_success_at: ms(s.last_success),
                    last_used_at: ms(s.last_used),
                };
                repo::set_state(tx, *id, &patch, now)?;
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
        let id = self
            .inner
            .store
            .tx(move |tx| {
                let id = repo::insert(tx, &new, now_ms())?;
                repo::set_pool_state(tx, id, &json)?;
                Ok(id)
            })
            .await?;
        self.insert_loaded(id, &payload, state);
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
        let change = self.core().set_identity(id, email, project, tier);
        self.persist_now(change).await;
    }
}
