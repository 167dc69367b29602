//! Typed settings. Sources, by precedence: environment, TOML config file, values saved through the
//! management API (SQLite), defaults. Env and file values lock their key. The registry
//! (`registry.rs`) is the single list of settings; `Settings` is the typed snapshot the rest of the
//! code reads through `SettingsService::get` / `SettingsHandle::get` without locking.
pub mod passwords;
mod registry;
mod service;
mod sources;
mod validate;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::Serialize;
use serde_json::Value;

use crate::store::StoreError;

pub use registry::{DefaultValue, Kind, SettingDef, markdown_table, registry};

/// Checks one value as `update` would, without saving: lets a form report every invalid
/// field at once instead of the first.
pub fn check_value(key: &str, raw: &Value) -> Result<(), String> {
    let def = registry::find(key).ok_or_else(|| format!("unknown setting {key}"))?;
    validate::parse(def.kind, raw).map(|_| ())
}
pub use service::{SettingView, SettingsService, UpdateOutcome};

/// Raw inputs the settings are resolved from: an env-like map (the process environment in
/// production, a plain map in tests) and an optional TOML config file path.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    pub env: HashMap<String, String>,
    pub config_file: Option<PathBuf>,
}

impl Sources {
    pub fn from_process_env(config_file: Option<PathBuf>) -> Self {
        Self {
            // vars_os: a non-UTF-8 variable elsewhere in the environment must not abort startup.
            env: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            config_file,
        }
    }
}

/// Where a setting's effective value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Env,
    File,
    Saved,
    Default,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// `origin` names where the value came from, e.g. "environment variable PORT".
    #[error("invalid {origin}: {reason}")]
    Invalid {
        key: String,
        origin: String,
        reason: String,
    },
    #[error("unknown setting(s) in {origin}: {}", keys.join(", "))]
    UnknownKeys { origin: String, keys: Vec<String> },
    #[error("{key} is locked by {origin}; change it there and restart")]
    Locked {
        key: String,
        layer: Source,
        origin: String,
    },
    #[error("{key} cannot be changed here: {reason}")]
    NotWritable { key: String, reason: String },
    #[error("cannot read config file {path}: {reason}")]
    ConfigFile { path: String, reason: String },
    #[error("password must be at least {min} characters")]
    PasswordTooShort { min: usize },
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The effective settings. A plain struct: readers hold an `Arc<Settings>` snapshot.
#[derive(Clone)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub data_dir: PathBuf,
    pub credentials_dir: PathBuf,
    /// Plaintext passwords from env or config file only; saved passwords exist only as hashes
    /// (see `passwords`).
    pub password: Option<String>,
    pub api_password: Option<String>,
    pub panel_password: Option<String>,
    pub calls_per_rotation: u32,
    pub retry_429_enabled: bool,
    pub retry_429_max_retries: u32,
    pub retry_429_interval: Duration,
    pub anti_truncation_max_attempts: u32,
    pub auto_ban: bool,
    pub auto_ban_error_codes: Vec<u16>,
    pub auto_load_env_creds: bool,
    pub compatibility_mode: bool,
    pub return_thoughts: bool,
    pub proxy: Option<String>,
    pub code_assist_endpoint: String,
    pub oauth_proxy_url: String,
    pub googleapis_proxy_url: String,
    pub resource_manager_api_url: String,
    pub service_usage_api_url: String,
    pub metadata_service_url: String,
    pub oauth_auth_url: String,
    pub gemini_api_url: String,
    /// `None`: derived from `vertex_location`.
    pub vertex_api_url: Option<String>,
    pub vertex_location: String,
    pub vertex_models: Vec<String>,
    /// One of trace, debug, info, warn, error.
    pub log_level: String,
    pub log_file: PathBuf,
    pub log_retention_days: u32,
    /// 0: no cap.
    pub log_file_max_mb: u64,
    pub quota_reset_timezone: chrono_tz::Tz,
    pub quota_reset_hour: u32,
    /// The panel's display zone; `None`: each browser's own.
    pub panel_timezone: Option<chrono_tz::Tz>,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub max_concurrent_requests: usize,
    pub max_queue_wait: Duration,
    pub base_models: Vec<String>,
    /// Parsed once per settings change, not per request.
    pub model_aliases: Arc<crate::models::Aliases>,
    pub access_log: bool,
    /// `GET /metrics`: its bearer token, its own listen address, the credential label cap.
    pub metrics_token: Option<String>,
    pub metrics_listen: Option<std::net::SocketAddr>,
    pub metrics_credential_labels_max: usize,
    pub max_body_bytes: usize,
    pub daily_limit_total: u64,
    pub daily_limit_pro: u64,
    pub aistudio_daily_limit_total: u64,
    pub aistudio_daily_limit_pro: u64,
    pub vertex_daily_limit_total: u64,
    pub vertex_daily_limit_pro: u64,
    pub cooldown_cap: Duration,
    /// 0: never.
    pub key_recheck_interval: Duration,
    pub keepalive_url: Option<String>,
    pub keepalive_interval: Duration,
    pub oauth_callback_port: u16,
    pub remote_fetch_enabled: bool,
    pub remote_fetch_max_bytes: u64,
    pub remote_fetch_timeout: Duration,
    /// Validated entries of REMOTE_FETCH_ALLOWLIST (hosts, IPs, CIDR ranges).
    pub remote_fetch_allowlist: Vec<String>,
    /// 0: Responses API answers are not stored.
    pub responses_store_days: u64,
    pub responses_store_max_mb: u64,
    /// REQUEST_LOG: keep one row per proxied request for the panel's request log.
    pub request_log: bool,
    /// Days request log rows are kept (0: only the row cap applies).
    pub request_log_days: u64,
    pub request_log_max_rows: u64,
    /// Store a bounded excerpt of each request's prompt text (off by default).
    pub request_log_prompts: bool,
    /// `TRUSTED_PROXIES`: addresses and CIDR ranges whose forwarding headers are believed.
    pub trusted_proxies: Vec<String>,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_read_timeout: Duration,
    /// 0: half the open-file limit.
    pub max_connections: usize,
    pub max_connections_per_address: usize,
}

// Hand-written so the passwords can never reach a log through `{:?}`.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("Settings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("data_dir", &self.data_dir)
            .field("password", &redact(&self.password))
            .field("api_password", &redact(&self.api_password))
            .field("panel_password", &redact(&self.panel_password))
            .field("metrics_token", &redact(&self.metrics_token))
            .field("log_level", &self.log_level)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Env, config file and defaults only (no saved values), for code that runs before the store
    /// is open. Transitional for the skeleton's `lib.rs`: startup should use
    /// `SettingsService::load`, which reports invalid values as errors. Here an invalid source
    /// is logged and the defaults are used.
    pub fn resolve(sources: &Sources) -> Self {
        match Self::from_sources(sources) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "invalid settings; using defaults");
                let data_dir = PathBuf::from("./data");
                let values = service::resolve_values(&HashMap::new(), &HashMap::new(), &data_dir);
                match Self::from_values(&values, data_dir) {
                    Ok(s) => s,
                    // The registry's defaults are checked by a unit test.
                    Err(e) => unreachable!("registry defaults are valid: {e}"),
                }
            }
        }
    }

    /// Env, config file and defaults, with errors; no saved values.
    pub fn from_sources(sources: &Sources) -> Result<Self, SettingsError> {
        let data_dir = sources::data_dir(sources)?;
        let locked = sources::read_locked(sources, &data_dir)?;
        let values = service::resolve_values(&locked, &HashMap::new(), &data_dir);
        Self::from_values(&values, data_dir)
    }

    /// Build the typed struct from canonical values (already validated by the registry).
    fn from_values(
        values: &HashMap<&'static str, Value>,
        data_dir: PathBuf,
    ) -> Result<Self, SettingsError> {
        let v = Values(values);
        Ok(Settings {
            host: v.string("host")?,
            port: v.int("port")?,
            data_dir,
            credentials_dir: PathBuf::from(v.string("credentials_dir")?),
            password: v.opt_string("password")?,
            api_password: v.opt_string("api_password")?,
            panel_password: v.opt_string("panel_password")?,
            calls_per_rotation: v.int("calls_per_rotation")?,
            retry_429_enabled: v.bool("retry_429_enabled")?,
            retry_429_max_retries: v.int("retry_429_max_retries")?,
            retry_429_interval: Duration::from_secs_f64(v.float("retry_429_interval")?),
            anti_truncation_max_attempts: v.int("anti_truncation_max_attempts")?,
            auto_ban: v.bool("auto_ban")?,
            auto_ban_error_codes: v.list("auto_ban_error_codes")?,
            auto_load_env_creds: v.bool("auto_load_env_creds")?,
            compatibility_mode: v.bool("compatibility_mode")?,
            return_thoughts: v.bool("return_thoughts")?,
            proxy: v.opt_string("proxy")?,
            code_assist_endpoint: v.string("code_assist_endpoint")?,
            oauth_proxy_url: v.string("oauth_proxy_url")?,
            googleapis_proxy_url: v.string("googleapis_proxy_url")?,
            resource_manager_api_url: v.string("resource_manager_api_url")?,
            service_usage_api_url: v.string("service_usage_api_url")?,
            metadata_service_url: v.string("metadata_service_url")?,
            oauth_auth_url: v.string("oauth_auth_url")?,
            gemini_api_url: v.string("gemini_api_url")?,
            vertex_api_url: v.opt_string("vertex_api_url")?,
            vertex_location: v.string("vertex_location")?,
            vertex_models: v.list("vertex_models")?,
            log_level: v.string("log_level")?,
            log_file: PathBuf::from(v.string("log_file")?),
            log_retention_days: v.int("log_retention_days")?,
            log_file_max_mb: v.int("log_file_max_mb")?,
            quota_reset_timezone: v
                .string("quota_reset_timezone")?
                .parse()
                .map_err(|_| internal("quota_reset_timezone"))?,
            quota_reset_hour: v.int("quota_reset_hour")?,
            panel_timezone: v
                .opt_string("panel_timezone")?
                .map(|z| z.parse().map_err(|_| internal("panel_timezone")))
                .transpose()?,
            connect_timeout: Duration::from_secs(v.int("connect_timeout")?),
            read_timeout: Duration::from_secs(v.int("read_timeout")?),
            max_concurrent_requests: v.int("max_concurrent_requests")?,
            max_queue_wait: Duration::from_secs(v.int("max_queue_wait")?),
            base_models: v.list("base_models")?,
            model_aliases: Arc::new(
                crate::models::Aliases::parse(
                    v.list::<String>("model_aliases")?
                        .iter()
                        .map(String::as_str),
                )
                .map_err(|_| internal("model_aliases"))?,
            ),
            access_log: v.bool("access_log")?,
            metrics_token: v.opt_string("metrics_token")?,
            metrics_listen: v
                .opt_string("metrics_listen")?
                .filter(|s| !s.is_empty())
                .map(|s| s.parse())
                .transpose()
                .map_err(|_| internal("metrics_listen"))?,
            metrics_credential_labels_max: v.int("metrics_credential_labels_max")?,
            max_body_bytes: v.int("max_body_bytes")?,
            daily_limit_total: v.int("daily_limit_total")?,
            daily_limit_pro: v.int("daily_limit_pro")?,
            aistudio_daily_limit_total: v.int("aistudio_daily_limit_total")?,
            aistudio_daily_limit_pro: v.int("aistudio_daily_limit_pro")?,
            vertex_daily_limit_total: v.int("vertex_daily_limit_total")?,
            vertex_daily_limit_pro: v.int("vertex_daily_limit_pro")?,
            cooldown_cap: Duration::from_secs(v.int("cooldown_cap")?),
            key_recheck_interval: Duration::from_secs(v.int("key_recheck_interval")?),
            keepalive_url: v.opt_string("keepalive_url")?,
            keepalive_interval: Duration::from_secs(v.int("keepalive_interval")?),
            oauth_callback_port: v.int("oauth_callback_port")?,
            remote_fetch_enabled: v.bool("remote_fetch_enabled")?,
            remote_fetch_max_bytes: v.int("remote_fetch_max_bytes")?,
            remote_fetch_timeout: Duration::from_secs(v.int("remote_fetch_timeout")?),
            remote_fetch_allowlist: v.list("remote_fetch_allowlist")?,
            responses_store_days: v.int("responses_store_days")?,
            responses_store_max_mb: v.int("responses_store_max_mb")?,
            request_log: v.bool("request_log")?,
            request_log_days: v.int("request_log_days")?,
            request_log_max_rows: v.int("request_log_max_rows")?,
            request_log_prompts: v.bool("request_log_prompts")?,
            trusted_proxies: v.list("trusted_proxies")?,
            header_read_timeout: Duration::from_secs(v.int("header_read_timeout")?),
            idle_timeout: Duration::from_secs(v.int("idle_timeout")?),
            body_read_timeout: Duration::from_secs(v.int("body_read_timeout")?),
            max_connections: v.int("max_connections")?,
            max_connections_per_address: v.int("max_connections_per_address")?,
        })
    }
}

/// Only reachable if the registry's validator and the typed field disagree: a programming error,
/// reported as an error rather than a panic.
fn internal(key: &str) -> SettingsError {
    SettingsError::Invalid {
        key: key.to_string(),
        origin: format!("setting {key}"),
        reason: "value does not fit the typed field".into(),
    }
}

struct Values<'a>(&'a HashMap<&'static str, Value>);

impl Values<'_> {
    fn get(&self, key: &str) -> Result<&Value, SettingsError> {
        self.0.get(key).ok_or_else(|| internal(key))
    }
    fn string(&self, key: &str) -> Result<String, SettingsError> {
        self.get(key)?
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| internal(key))
    }
    /// Null or "" mean unset.
    fn opt_string(&self, key: &str) -> Result<Option<String>, SettingsError> {
        match self.get(key)? {
            Value::Null => Ok(None),
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            _ => Err(internal(key)),
        }
    }
    fn int<T: TryFrom<i64>>(&self, key: &str) -> Result<T, SettingsError> {
        let n = self.get(key)?.as_i64().ok_or_else(|| internal(key))?;
        T::try_from(n).map_err(|_| internal(key))
    }
    fn float(&self, key: &str) -> Result<f64, SettingsError> {
        self.get(key)?.as_f64().ok_or_else(|| internal(key))
    }
    fn bool(&self, key: &str) -> Result<bool, SettingsError> {
        self.get(key)?.as_bool().ok_or_else(|| internal(key))
    }
    fn list<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Vec<T>, SettingsError> {
        serde_json::from_value(self.get(key)?.clone()).map_err(|_| internal(key))
    }
}

/// Shared, hot-swappable view of the effective settings; readers never block.
#[derive(Clone)]
pub struct SettingsHandle(Arc<ArcSwap<Settings>>);

impl SettingsHandle {
    /// A handle on a fixed snapshot (tests, tools). The live handle comes from
    /// `SettingsService::handle`.
    pub fn new(s: Settings) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(s)))
    }
    pub fn get(&self) -> Arc<Settings> {
        self.0.load_full()
    }
}
