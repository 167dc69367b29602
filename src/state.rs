//! Shared application state handed to every handler.
use std::time::Duration;

use crate::google::client::{Upstream, UpstreamConfig};
use crate::onboarding::login::LoginService;
use crate::pool::service::PoolService;
use crate::settings::passwords::Passwords;
use crate::settings::{Settings, SettingsService};
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub settings: SettingsService,
    pub store: Store,
    pub passwords: Passwords,
    pub upstream: Upstream,
    pub pool: PoolService,
    pub login: LoginService,
    pub usage: crate::usage::UsageService,
    pub limiter: crate::proxy::limit::Limiter,
    pub logs: Option<crate::logs::LogHub>,
    /// Fetches remote image and file URLs before conversion (`remote`).
    pub remote: crate::remote::RemoteFetcher,
    /// Responses API answers kept for `previous_response_id` (`store: true`).
    pub responses: crate::responses_store::ResponseStore,
    /// One row per proxied request, written behind (`reqlog`).
    pub reqlog: crate::reqlog::RequestLog,
    /// Failed secrets per client address, shared by the proxy, the API and the panel.
    pub attempts: crate::security::FailureLimiter,
    /// Client API keys with their limits (the built-in `API_PASSWORD` key aside).
    pub keys: crate::keys::KeyService,
    /// The per-request series of `GET /metrics`.
    pub metrics: crate::metrics::Metrics,
    /// `TRUSTED_PROXIES`, to find the real client address.
    pub client_addrs: crate::security::ClientAddrs,
}

/// Every outbound URL and transport option, read from settings in one place.
pub fn upstream_config(s: &Settings) -> UpstreamConfig {
    UpstreamConfig {
        code_assist: s.code_assist_endpoint.clone(),
        oauth: s.oauth_proxy_url.clone(),
        oauth_auth_url: s.oauth_auth_url.clone(),
        googleapis: s.googleapis_proxy_url.clone(),
        resource_manager: s.resource_manager_api_url.clone(),
        service_usage: s.service_usage_api_url.clone(),
        gemini_api: s.gemini_api_url.clone(),
        vertex_api: s.vertex_api_url.clone(),
        vertex_location: s.vertex_location.clone(),
        proxy: s.proxy.clone(),
        connect_timeout: s.connect_timeout,
        read_timeout: s.read_timeout.max(Duration::from_secs(1)),
    }
}

impl AppState {
    /// Applies hot settings to the parts that cache them; called on every settings change.
    pub fn apply_settings(&self, s: &Settings) {
        crate::logs::set_file_max_bytes(s.log_file_max_mb.saturating_mul(1024 * 1024));
        // A proxy password never reaches a log line, whatever error quotes the URL.
        if let Some(p) = s
            .proxy
            .as_deref()
            .and_then(crate::security::userinfo_password)
        {
            crate::logs::register_secrets([p.as_str()]);
        }
        if let Err(e) = self.upstream.reconfigure(upstream_config(s)) {
            tracing::warn!(error = %e, "keeping the previous upstream client");
        }
        self.pool.reconfigure(s);
        self.client_addrs
            .set(crate::security::TrustedProxies::new(&s.trusted_proxies));
        if let Err(e) = self
            .remote
            .reconfigure(crate::remote::FetchConfig::from_settings(s))
        {
            tracing::warn!(error = %e, "keeping the previous remote-fetch client");
        }
        self.usage
            .set_rule(crate::usage::ResetRule::from_settings(s));
        self.usage
            .set_default_limits(crate::usage::DefaultLimits::from_settings(s));
        self.usage
            .set_official_limits(crate::usage::OfficialLimits::from_settings(s));
        self.reqlog.configure(s);
        self.responses
            .set_limits(crate::responses_store::Limits::from_settings(s));
        if let Some(h) = &self.logs
            && h.level() != s.log_level
            && let Err(e) = h.set_level(&s.log_level)
        {
            tracing::warn!(error = %e, "invalid LOG_LEVEL");
        }
    }
}
