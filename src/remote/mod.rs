//! Fetching the remote `http(s)` images and files that clients put in requests (OpenAI
//! `image_url`, Anthropic `source: {type: "url"}`), so they reach Google inline.
//!
//! Fetching a URL chosen by a client is server-side request forgery waiting to happen, so:
//! - only public addresses are connected to; private, loopback, link-local, CGNAT, ULA,
//!   multicast and similar ranges are refused unless `REMOTE_FETCH_ALLOWLIST` names the host,
//!   address or range. The check runs in the HTTP client's resolver, on the address actually
//!   connected to, so redirects and DNS rebinding cannot get around it; IP-literal URLs skip
//!   resolvers and are checked on the first URL and on every redirect hop (`guard`);
//! - only http and https, at most 5 redirects;
//! - size (`REMOTE_FETCH_MAX_BYTES`, also per request: `MAX_BODY_BYTES` in total) and time
//!   (`REMOTE_FETCH_TIMEOUT`, for the whole exchange) are capped, and the media type must fit
//!   where the URL stood (`media`);
//! - the gateway's `PROXY` is not used: a proxy would resolve and connect itself, out of the
//!   check's reach.
//!
//! With `REMOTE_FETCH_ENABLED=false` the pre-pass does nothing and the converters refuse remote
//! URLs with a clear 400, as before.
mod addr;
mod allow;
mod cache;
mod fetch;
mod guard;
mod inline;
mod media;

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde_json::Value;
use url::Url;

pub use addr::non_public;
pub use allow::{AllowList, Entry, parse_entry};
pub use cache::Fetched;
pub use fetch::{FetchError, Limits};
pub use guard::Refused;
pub use inline::{Format, Target, anthropic_targets, openai_targets, responses_targets};
pub use media::Purpose;

use crate::error::GatewayError;
use crate::settings::Settings;

/// How long a fetched file is reused for the same URL.
pub const CACHE_TTL: Duration = Duration::from_secs(300);
const CACHE_ENTRIES: usize = 64;
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// The remote-fetch settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchConfig {
    pub enabled: bool,
    pub limits: Limits,
    pub allow: Vec<String>,
    /// Bytes all files of one request may add up to.
    pub max_total_bytes: u64,
}

impl FetchConfig {
    pub fn from_settings(s: &Settings) -> Self {
        Self {
            enabled: s.remote_fetch_enabled,
            limits: Limits {
                max_bytes: s.remote_fetch_max_bytes,
                timeout: s.remote_fetch_timeout,
            },
            allow: s.remote_fetch_allowlist.clone(),
            max_total_bytes: s.max_body_bytes as u64,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot build the remote-fetch HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("cannot build the remote-fetch HTTP client: {0}")]
    Tls(#[from] crate::outbound::TlsSetupError),
}

/// A client is built for one allow-list: its resolver and redirect policy hold that list, and
/// rebuilding on a change also drops pooled connections opened under the old one.
struct Current {
    config: FetchConfig,
    allow: Arc<AllowList>,
    client: reqwest::Client,
}

/// Part of the app state; cheap to clone.
#[derive(Clone)]
pub struct RemoteFetcher {
    current: Arc<ArcSwap<Current>>,
    cache: Arc<cache::Cache>,
}

impl RemoteFetcher {
    pub fn new(config: FetchConfig) -> Result<Self, BuildError> {
        Ok(Self {
            current: Arc::new(ArcSwap::from_pointee(Self::build(config)?)),
            cache: Arc::new(cache::Cache::new(CACHE_TTL, CACHE_ENTRIES, CACHE_BYTES)),
        })
    }

    fn build(config: FetchConfig) -> Result<Current, BuildError> {
        let allow = Arc::new(AllowList::new(&config.allow));
        let client = fetch::client(Arc::clone(&allow))?;
        Ok(Current {
            config,
            allow,
            client,
        })
    }

    /// Applies changed settings; a new allow-list gets a new client and an empty cache.
    pub fn reconfigure(&self, config: FetchConfig) -> Result<(), BuildError> {
        let cur = self.current.load();
        if cur.config == config {
            return Ok(());
        }
        if cur.config.allow == config.allow {
            self.current.store(Arc::new(Current {
                config,
                allow: Arc::clone(&cur.allow),
                client: cur.client.clone(),
            }));
            return Ok(());
        }
        self.current.store(Arc::new(Self::build(config)?));
        self.cache.clear();
        Ok(())
    }

    pub fn enabled(&self) -> bool {
        self.current.load().config.enabled
    }

    /// One URL, from the cache when it was fetched recently.
    pub async fn fetch(&self, url: &str, purpose: Purpose) -> Result<Fetched, FetchError> {
        let cur = self.current.load_full();
        let url = Url::parse(url.trim()).map_err(|_| FetchError::BadUrl)?;
        let limits = cur.config.limits;
        if let Some(f) = self.cache.get(url.as_str(), Instant::now()) {
            tracing::debug!(
                host = url.host_str().unwrap_or(""),
                bytes = f.bytes.len(),
                "remote fetch: cache hit"
            );
            // The file passed for its first use; this use may want another type or less size.
            if !purpose.accepts(&f.mime) {
                return Err(FetchError::WrongType {
                    found: f.mime,
                    expected: purpose.expected(),
                });
            }
            if f.bytes.len() as u64 > limits.max_bytes {
                return Err(FetchError::TooLarge {
                    limit: limits.max_bytes,
                });
            }
            return Ok(f);
        }
        let started = Instant::now();
        let f = fetch::fetch(&cur.client, &cur.allow, &url, purpose, limits).await?;
        tracing::debug!(
            host = url.host_str().unwrap_or(""),
            bytes = f.bytes.len(),
            mime = %f.mime,
            ms = started.elapsed().as_millis() as u64,
            "remote fetch: fetched"
        );
        self.cache.put(url.as_str(), f.clone(), Instant::now());
        Ok(f)
    }

    /// The OpenAI chat pre-pass: remote `image_url`s become `data:` URLs.
    pub async fn inline_openai(&self, body: Value) -> Result<Value, GatewayError> {
        if !self.enabled() {
            return Ok(body);
        }
        let targets = openai_targets(&body);
        self.inline(body, targets, Format::OpenAi).await
    }

    /// The Responses pre-pass: remote `image_url` / `file_url` become `data:` URLs.
    pub async fn inline_responses(&self, body: Value) -> Result<Value, GatewayError> {
        if !self.enabled() {
            return Ok(body);
        }
        let targets = responses_targets(&body);
        self.inline(body, targets, Format::OpenAi).await
    }

    /// The Anthropic pre-pass: `url` sources become `base64` sources.
    pub async fn inline_anthropic(&self, body: Value) -> Result<Value, GatewayError> {
        if !self.enabled() {
            return Ok(body);
        }
        let targets = anthropic_targets(&body)?;
        self.inline(body, targets, Format::Anthropic).await
    }

    async fn inline(
        &self,
        body: Value,
        targets: Vec<Target>,
        format: Format,
    ) -> Result<Value, GatewayError> {
        if targets.is_empty() {
            return Ok(body);
        }
        let max_total = self.current.load().config.max_total_bytes;
        inline::inline(
            body,
            targets,
            format,
            max_total,
            |url, purpose| async move { self.fetch(&url, purpose).await },
        )
        .await
    }
}
