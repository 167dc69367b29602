//! The pooled outbound HTTP client. One reqwest client is shared by every Google call; it is
//! rebuilt only when the proxy or timeouts change, because building one costs a TLS setup.
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use super::direct::Direct;

/// Everything the outbound side reads from settings. Every base URL is configurable so the
/// simulator (or a relay) can stand in for Google.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamConfig {
    pub code_assist: String,
    pub oauth: String,
    pub oauth_auth_url: String,
    pub googleapis: String,
    pub resource_manager: String,
    pub service_usage: String,
    /// Gemini API base URL (`GEMINI_API_URL`).
    pub gemini_api: String,
    /// Vertex AI base URL; `None` derives the host from the location (`VERTEX_API_URL`).
    pub vertex_api: Option<String>,
    /// `global`, a multi-region (`us`, `eu`) or a region (`VERTEX_LOCATION`).
    pub vertex_location: String,
    pub proxy: Option<String>,
    pub connect_timeout: Duration,
    /// Longest silence tolerated while reading a response (per read, so long streams live).
    pub read_timeout: Duration,
}

impl UpstreamConfig {
    /// Points every Google service at one base URL (the simulator serves them all).
    pub fn all_at(base: &str) -> Self {
        let base = base.trim_end_matches('/').to_string();
        Self {
            code_assist: base.clone(),
            oauth: base.clone(),
            oauth_auth_url: format!("{base}/o/oauth2/v2/auth"),
            googleapis: base.clone(),
            resource_manager: base.clone(),
            gemini_api: base.clone(),
            vertex_api: Some(base.clone()),
            vertex_location: "global".into(),
            service_usage: base,
            proxy: None,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error("invalid PROXY setting: {0}")]
    Proxy(String),
    #[error("cannot build HTTP client: {0}")]
    Build(String),
}

struct Built {
    config: UpstreamConfig,
    client: reqwest::Client,
    /// The generation calls' own client; `None` with a PROXY, which only reqwest speaks.
    direct: Option<Arc<Direct>>,
}

/// Hands out the current client and config; cheap to clone, lock-free to read.
#[derive(Clone)]
pub struct Upstream {
    current: Arc<ArcSwap<Built>>,
}

impl Upstream {
    pub fn new(config: UpstreamConfig) -> Result<Self, ClientBuildError> {
        let client = build_client(&config)?;
        let direct = build_direct(&config)?;
        Ok(Self {
            current: Arc::new(ArcSwap::from_pointee(Built {
                config,
                client,
                direct,
            })),
        })
    }

    /// Applies new settings; the client is rebuilt only when transport options changed.
    pub fn reconfigure(&self, config: UpstreamConfig) -> Result<(), ClientBuildError> {
        let cur = self.current.load();
        if cur.config == config {
            return Ok(());
        }
        let same_transport = cur.config.proxy == config.proxy
            && cur.config.connect_timeout == config.connect_timeout
            && cur.config.read_timeout == config.read_timeout;
        let (client, direct) = if same_transport {
            (cur.client.clone(), cur.direct.clone())
        } else {
            (build_client(&config)?, build_direct(&config)?)
        };
        self.current.store(Arc::new(Built {
            config,
            client,
            direct,
        }));
        Ok(())
    }

    /// The config of this moment and the direct client for generation calls (none with a
    /// PROXY), lent to `f` without copying the config (a copy of its URLs per request showed
    /// in profiles).
    pub fn with_direct<R>(&self, f: impl FnOnce(&UpstreamConfig, Option<&Arc<Direct>>) -> R) -> R {
        let cur = self.current.load();
        f(&cur.config, cur.direct.as_ref())
    }

    /// The direct client for generation calls, unless a PROXY is set.
    pub fn direct(&self) -> Option<Arc<Direct>> {
        self.current.load().direct.clone()
    }

    pub fn client(&self) -> reqwest::Client {
        self.current.load().client.clone()
    }

    pub fn config(&self) -> UpstreamConfig {
        self.current.load().config.clone()
    }
}

fn build_client(config: &UpstreamConfig) -> Result<reqwest::Client, ClientBuildError> {
    let mut b = crate::outbound::client_builder()
        .map_err(|e| ClientBuildError::Build(e.to_string()))?
        .connect_timeout(config.connect_timeout)
        .read_timeout(config.read_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(64);
    match config.proxy.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => {
            let proxy =
                reqwest::Proxy::all(p).map_err(|e| ClientBuildError::Proxy(e.to_string()))?;
            b = b.proxy(proxy);
        }
        // An unset PROXY means direct: ignore ambient HTTP(S)_PROXY so tests on loopback and
        // the simulator never detour through a system proxy.
        None => b = b.no_proxy(),
    }
    b.build()
        .map_err(|e| ClientBuildError::Build(e.to_string()))
}

fn build_direct(config: &UpstreamConfig) -> Result<Option<Arc<Direct>>, ClientBuildError> {
    if config.proxy.as_deref().is_some_and(|p| !p.is_empty()) {
        return Ok(None);
    }
    let tls = crate::outbound::tls_config().map_err(|e| ClientBuildError::Build(e.to_string()))?;
    Ok(Some(Direct::new(
        tls,
        config.connect_timeout,
        config.read_timeout,
    )))
}

/// A GeminiCLI-style User-Agent, as the upstream sees from the official CLI.
pub fn user_agent(model: &str) -> String {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("GeminiCLI/{CLI_VERSION}/{model} ({os}; {arch}; gcli2api)")
}

/// Version reported in the User-Agent; tracks a recent Gemini CLI release.
pub const CLI_VERSION: &str = "0.56.0";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_has_cli_shape() {
        let ua = user_agent("gemini-2.5-pro");
        assert!(ua.starts_with("GeminiCLI/0.56.0/gemini-2.5-pro ("), "{ua}");
        assert!(ua.ends_with("; gcli2api)"));
    }

    #[test]
    fn generation_has_its_own_client_unless_a_proxy_is_set() {
        let mut c = UpstreamConfig::all_at("http://127.0.0.1:1");
        let up = Upstream::new(c.clone()).unwrap();
        assert!(up.direct().is_some());
        c.proxy = Some("http://127.0.0.1:3128".into());
        up.reconfigure(c.clone()).unwrap();
        assert!(up.direct().is_none(), "only reqwest speaks to proxies");
        c.proxy = None;
        up.reconfigure(c).unwrap();
        assert!(up.direct().is_some());
    }

    #[test]
    fn reconfigure_rebuilds_only_on_transport_change() {
        let up = Upstream::new(UpstreamConfig::all_at("http://127.0.0.1:1")).unwrap();
        let mut c = up.config();
        c.code_assist = "http://127.0.0.1:2".into();
        up.reconfigure(c.clone()).unwrap();
        assert_eq!(up.config().code_assist, "http://127.0.0.1:2");
        c.proxy = Some("not a url".into());
        assert!(matches!(up.reconfigure(c), Err(ClientBuildError::Proxy(_))));
        assert_eq!(
            up.config().code_assist,
            "http://127.0.0.1:2",
            "failed rebuild keeps the old config"
        );
    }
}
