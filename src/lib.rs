//! gcli2api: a self-hosted gateway from OpenAI / Gemini clients to Google's Code Assist API.
//!
//! In comments, "the reference" is the original Python gcli2api (su-kaka/gcli2api) this crate
//! replaces, whose behaviour existing clients depend on; CLIProxyAPI (router-for-me) is another
//! open-source gateway to the same upstream, cited where we follow its choices.
//!
//! `build` + `App::serve` (or `run`) are shared by the binary and the integration tests.
pub mod api;
pub mod bench;
pub mod catch_panic;
pub mod convert;
pub mod demo;
pub mod error;
pub mod google;
pub mod healthcheck;
pub mod keepalive;
pub mod keys;
pub mod logs;
pub mod metrics;
pub mod models;
pub mod onboarding;
pub mod outbound;
pub mod panel;
pub mod pool;
pub mod proxy;
pub mod remote;
pub mod reqlog;
pub mod responses_store;
pub mod security;
pub mod server;
pub mod settings;
pub mod simulator;
pub mod state;
pub mod store;
pub mod usage;
pub mod wire;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use poem::{EndpointExt, Route, get, handler};

pub use crate::settings::{Settings, Sources};
pub use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Settings(#[from] settings::SettingsError),
    #[error(transparent)]
    SecretsKey(#[from] store::cipher::KeyError),
    #[error(transparent)]
    SecretsAtRest(#[from] store::at_rest::AtRestError),
    #[error(transparent)]
    Client(#[from] google::client::ClientBuildError),
    #[error(transparent)]
    Usage(#[from] usage::UsageError),
    #[error(transparent)]
    Remote(#[from] remote::BuildError),
    #[error("cannot serve: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    StoreLocation(#[from] store::location::LocationError),
    /// The data directory cannot be created, read or written.
    #[error("DATA_DIR={path} {problem}; set DATA_DIR to a readable and writable directory")]
    DataDir { path: String, problem: String },
    #[error("PORT={port} is in use (HOST={host}); set PORT to a free port")]
    PortInUse { host: String, port: u16 },
    #[error("cannot listen on HOST={host} PORT={port}: {reason}; {hint}")]
    Listen {
        host: String,
        port: u16,
        reason: String,
        hint: &'static str,
    },
}

/// Creates the data directory if needed and checks that it can be listed and written, so a bad
/// `DATA_DIR` is reported as such, not as a database error.
fn check_data_dir(dir: &std::path::Path) -> Result<(), StartupError> {
    let fail = |problem: String| StartupError::DataDir {
        path: dir.display().to_string(),
        problem,
    };
    if dir.exists() && !dir.is_dir() {
        return Err(fail("is not a directory".into()));
    }
    if !dir.exists() {
        // Owner only: it holds the database, the logs and imported credential files.
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir)
            .map_err(|e| fail(format!("cannot be created ({e})")))?;
    }
    std::fs::read_dir(dir).map_err(|e| fail(format!("cannot be read ({e})")))?;
    let probe = dir.join(format!(".gcli2api-write-check-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)
        .map_err(|e| fail(format!("is not writable ({e})")))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Binds `HOST:PORT`; failures name the setting to change.
pub async fn bind(host: &str, port: u16) -> Result<tokio::net::TcpListener, StartupError> {
    use std::io::ErrorKind;
    tokio::net::TcpListener::bind((host, port))
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::AddrInUse => StartupError::PortInUse {
                host: host.to_string(),
                port,
            },
            kind => StartupError::Listen {
                host: host.to_string(),
                port,
                reason: e.to_string(),
                hint: match kind {
                    ErrorKind::PermissionDenied => {
                        "ports below 1024 need privileges; set PORT to 1024 or above"
                    }
                    ErrorKind::AddrNotAvailable => {
                        "HOST is not an address of this machine; set HOST (e.g. 127.0.0.1 or 0.0.0.0)"
                    }
                    _ => "check HOST and PORT",
                },
            },
        })
}

/// How often an instance on a shared (PostgreSQL) database re-reads what other instances may
/// change without telling it: client keys, settings and passwords.
const SHARED_RESYNC_EVERY: Duration = Duration::from_secs(1);

/// How often an instance on a shared database compares its whole credential view with the
/// database, in case a notification was lost (they are normally heard within milliseconds).
const POOL_RESYNC_EVERY: Duration = Duration::from_secs(30);

/// A configured gateway that has not started serving yet.
pub struct App {
    state: AppState,
    generated: settings::passwords::Generated,
    /// What the start did to credential secrets at rest, told once logging runs.
    at_rest: store::at_rest::Unlocked,
}

/// Resolves settings, opens the store and loads the pool; nothing is bound yet, so the caller
/// can pick the address.
pub async fn build(sources: Sources) -> Result<App, StartupError> {
    let data_dir = settings::SettingsService::data_dir(&sources)?;
    check_data_dir(&data_dir)?;
    let keys = store::cipher::Keys::from_env(&sources.env)?;
    logs::register_secrets(
        store::cipher::Keys::texts_to_redact(&sources.env)
            .iter()
            .map(String::as_str),
    );
    let store = match store::location::Location::from_env(&sources.env, &data_dir)? {
        store::location::Location::Sqlite(path) => store::Store::open_in(&path).await?,
        store::location::Location::Postgres(url) => {
            logs::register_secrets(url.password());
            store::Store::open_postgres(url).await?
        }
    };
    // Before anything reads a credential: a wrong or missing key stops the start here.
    let at_rest = store.unlock(keys).await?;
    let settings = settings::SettingsService::load(&sources, &store).await?;
    let (passwords, generated) = settings::passwords::Passwords::load(&settings, &store).await?;
    let s = settings.get();
    let upstream = google::client::Upstream::new(state::upstream_config(&s))?;
    let clock: Arc<dyn pool::Clock> = Arc::new(pool::SystemClock);
    let pool = pool::service::PoolService::load(
        store.clone(),
        settings.clone(),
        upstream.clone(),
        Arc::clone(&clock),
    )
    .await?;
    let usage = usage::UsageService::start(
        store.clone(),
        usage::ResetRule::from_settings(&s),
        usage::DefaultLimits::from_settings(&s),
        Arc::clone(&clock),
    )
    .await?;
    usage.set_official_limits(usage::OfficialLimits::from_settings(&s));
    {
        let usage = usage.clone();
        pool.on_profile(Arc::new(move |id, kind| usage.set_kind(id, kind)));
    }
    {
        let usage = usage.clone();
        pool.on_successor(Arc::new(move |id, deleted| usage.carry_over(deleted, id)));
    }
    pool.set_quota_view(Arc::new(usage.quota_view()));
    {
        let pool = pool.clone();
        usage.on_quota_release(move |id| pool.release_quota(id));
    }
    let keys = keys::KeyService::load(store.clone(), usage.clone()).await?;
    // After the usage hooks: a credential imported again at start takes over the day's count
    // of its deleted predecessor, as an upload does.
    let imported = pool.import_at_start(&s, &sources.env).await?;
    for r in &imported.rejected {
        tracing::warn!(name = %r.name, reason = %r.reason, "credential not imported");
    }
    let login = onboarding::login::LoginService::new(pool.clone(), clock);
    let limiter = proxy::limit::Limiter::new(s.max_concurrent_requests, s.max_queue_wait);
    let responses = responses_store::ResponseStore::start(
        store.clone(),
        responses_store::Limits::from_settings(&s),
    );
    let reqlog = reqlog::RequestLog::start(store.clone(), &s);
    let state = AppState {
        settings,
        store,
        passwords,
        upstream,
        pool,
        login,
        usage,
        limiter,
        logs: logs::hub(),
        remote: remote::RemoteFetcher::new(remote::FetchConfig::from_settings(&s))?,
        responses,
        reqlog,
        attempts: security::FailureLimiter::default(),
        keys,
        metrics: metrics::Metrics::new(),
        client_addrs: security::ClientAddrs::new(security::TrustedProxies::new(&s.trusted_proxies)),
    };
    Ok(App {
        state,
        generated,
        at_rest,
    })
}

impl App {
    pub fn settings(&self) -> Arc<Settings> {
        self.state.settings.get()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The secrets generated on this first start, if any: to be shown once, never logged.
    /// Whatever is not taken is printed by [`App::serve`] at the end of startup.
    pub fn take_generated(&mut self) -> settings::passwords::Generated {
        std::mem::take(&mut self.generated)
    }

    /// Serves on an already-bound listener until `shutdown` resolves, then flushes state.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        tracing::info!(addr = ?listener.local_addr().ok(), "gcli2api listening");
        let state = self.state.clone();
        // Last of the startup output, after logging has started, so neither the secrets nor
        // the warnings about them scroll away among (or get lost before) the first log lines.
        if !self.generated.is_empty() {
            tracing::warn!(
                "no API key or panel password was configured: generated them (printed once below)"
            );
        }
        if state.passwords.same_for_api_and_panel() {
            settings::passwords::warn_same();
        }
        note_secrets_at_rest(&self.at_rest);
        print_generated(&self.generated);
        let watcher = tokio::spawn(watch_settings(state.clone()));
        let keeper = onboarding::keeper::spawn(state.pool.clone(), state.settings.clone());
        let keepalive = keepalive::spawn(state.settings.clone());
        // On a shared database: the other instances' pool changes, applied off the request path.
        let pool_listener = state.pool.listen(POOL_RESYNC_EVERY)?;
        // Another instance on the same database may change keys, settings and passwords.
        let shared_resync = state
            .store
            .is_postgres()
            .then(|| tokio::spawn(resync_shared(state.clone())));
        let metrics_port = match state.settings.get().metrics_listen {
            Some(addr) => {
                let l = bind(&addr.ip().to_string(), addr.port()).await?;
                Some(metrics::serve_separately(state.clone(), l))
            }
            None => None,
        };
        let app = routes(state.clone());
        let config = server::Config {
            limits: Box::new({
                let settings = state.settings.clone();
                move || server::Limits::from_settings(&settings.get())
            }),
            exempt_from_per_address: Box::new({
                let addrs = state.client_addrs.clone();
                move |ip| addrs.is_trusted(ip)
            }),
            grace: Duration::from_secs(10),
        };
        let served = server::serve(listener, app.map_to_response().boxed(), config, shutdown).await;
        watcher.abort();
        keeper.abort();
        keepalive.abort();
        if let Some(k) = shared_resync {
            k.abort();
        }
        if let Some(l) = pool_listener {
            // Stopping joins the listener's thread, which may wait out one poll.
            let _ = tokio::task::spawn_blocking(move || drop(l)).await;
        }
        if let Some(m) = metrics_port {
            m.abort();
        }
        if let Err(e) = state.pool.flush().await {
            tracing::error!(error = %e, "could not save credential states at shutdown");
        }
        if let Err(e) = state.usage.shutdown().await {
            tracing::error!(error = %e, "could not save usage counters at shutdown");
        }
        if let Err(e) = state.reqlog.shutdown().await {
            tracing::error!(error = %e, "could not save the request log at shutdown");
        }
        if let Err(e) = state.responses.shutdown().await {
            tracing::error!(error = %e, "could not save stored responses at shutdown");
        }
        served?;
        Ok(())
    }
}

/// Re-reads, every [`SHARED_RESYNC_EVERY`], what another instance on the same database may
/// have changed: a key revoked, a setting saved or a password changed on one instance holds
/// on all of them within that time. Small reads, off the request path.
async fn resync_shared(state: AppState) {
    let mut tick = tokio::time::interval(SHARED_RESYNC_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = state.keys.resync().await {
            tracing::warn!(error = %e, "could not re-read the client keys");
        }
        if let Err(e) = state.settings.resync().await {
            tracing::warn!(error = %e, "could not re-read the settings");
        }
        if let Err(e) = state.passwords.resync().await {
            tracing::warn!(error = %e, "could not re-read the passwords");
        }
    }
}

async fn watch_settings(state: AppState) {
    let mut rx = state.settings.subscribe();
    while rx.changed().await.is_ok() {
        let s = rx.borrow_and_update().clone();
        state.apply_settings(&s);
    }
}

/// Builds and serves in one call: what tests use with a port-0 listener.
pub async fn run(
    sources: Sources,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartupError> {
    build(sources).await?.serve(listener, shutdown).await
}

/// `ok`, or 503 while the shared database (PostgreSQL) is unreachable: the instance still
/// serves from memory then, but a load balancer or orchestrator should know. On SQLite (a
/// local file) it is always `ok` once serving.
#[handler]
fn healthz(state: poem::web::Data<&AppState>) -> poem::Response {
    use poem::IntoResponse;
    if state.usage.store_healthy() && state.pool.store_reachable() {
        "ok".into_response()
    } else {
        (
            poem::http::StatusCode::SERVICE_UNAVAILABLE,
            "store unreachable",
        )
            .into_response()
    }
}

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub fn routes(state: AppState) -> impl poem::Endpoint {
    Route::new()
        .at("/healthz", get(healthz))
        .at("/metrics", get(metrics::metrics_endpoint))
        .at("/oauth2callback", get(panel::oauth_callback))
        // Browser-based chat front ends call the proxy directly, so it answers CORS preflights.
        .nest(
            "/v1",
            proxy::v1_routes().with(poem::middleware::Cors::new()),
        )
        .nest(
            "/v1beta",
            proxy::v1beta_routes().with(poem::middleware::Cors::new()),
        )
        .nest("/api", api::routes(state.clone()))
        .nest("/panel", panel::routes(state.clone()))
        .at("/", get(panel::to_panel))
        .at("/auth", get(panel::to_panel))
        .at("/favicon.ico", get(panel::favicon))
        .data(state)
        // Outermost, so it sees every request with its full path.
        .around(catch_panic::catch)
}

/// Starts logging from the resolved settings and hands the hub to the app. Keep the returned
/// guard alive: dropping it flushes the log file.
pub fn attach_logs(app: &mut App) -> Result<logs::LogGuard, logs::LogError> {
    let s = app.settings();
    logs::set_file_max_bytes(s.log_file_max_mb.saturating_mul(1024 * 1024));
    let hub = logs::init(logs::LogConfig {
        level: s.log_level.clone(),
        file: Some(s.log_file.clone()),
        retention_days: s.log_retention_days as usize,
        console: true,
    })?;
    crate::logs::register_secrets(
        [
            &s.password,
            &s.api_password,
            &s.panel_password,
            &s.metrics_token,
        ]
        .into_iter()
        .flatten()
        .map(String::as_str),
    );
    if let Some(p) = s.proxy.as_deref().and_then(security::userinfo_password) {
        crate::logs::register_secrets([p.as_str()]);
    }
    let guard = hub.guard();
    app.state.logs = Some(hub);
    Ok(guard)
}

/// Says once, at startup, how credential secrets are kept in the database.
fn note_secrets_at_rest(u: &store::at_rest::Unlocked) {
    if !u.encrypted {
        if u.decrypted > 0 {
            tracing::warn!(
                decrypted = u.decrypted,
                "credential secrets were decrypted back to plain text with SECRETS_KEY_PREVIOUS; \
                 remove it from the environment"
            );
        }
        tracing::info!(
            "credential secrets are stored in plain text in the database (protected by its file \
             mode only); set SECRETS_KEY or SECRETS_KEY_FILE to encrypt them"
        );
        return;
    }
    tracing::info!(
        sealed_now = u.sealed_now,
        rotated = u.rotated,
        "credential secrets are encrypted at rest (XChaCha20-Poly1305)"
    );
    if u.previous_unused {
        tracing::warn!(
            "SECRETS_KEY_PREVIOUS is set but no longer needed: every secret is under SECRETS_KEY; \
             remove it from the environment"
        );
    }
}

/// Shows first-start secrets on the console exactly once. Written to stdout directly, never
/// through tracing, so they cannot reach the log file or the live log.
pub fn print_generated(g: &settings::passwords::Generated) {
    use std::io::Write;
    if g.is_empty() {
        return;
    }
    let mut text = String::from("\n  gcli2api generated its secrets on this first start:\n\n");
    if let Some(api) = &g.api {
        text.push_str(&format!("      API key (/v1, /v1beta):   {api}\n"));
    }
    if let Some(panel) = &g.panel {
        text.push_str(&format!("      panel password (/panel):  {panel}\n"));
    }
    text.push_str(
        "\n  They are shown only now; only their hashes are stored. To choose your own, set\n  API_PASSWORD and PANEL_PASSWORD (two different values) or change them in the panel.\n",
    );
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
