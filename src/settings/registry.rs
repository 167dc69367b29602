//! The list of settings: one `SettingDef` per key, each with its env name, default, validator and
//! flags. Everything else (resolution, the management view, the README table) is derived from it.
use std::path::Path;

use serde_json::{Value, json};

/// How a value is validated and what canonical JSON it is stored as.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// Non-empty string.
    Str,
    /// Integer within the inclusive range.
    Int { min: i64, max: i64 },
    /// Number within the inclusive range.
    Float { min: f64, max: f64 },
    /// `true/1/yes/on` or `false/0/no/off` (anything else is an error, not `false`).
    Bool,
    /// Comma list (or array) of HTTP status codes 400-599.
    StatusCodes,
    /// Empty (no proxy) or an http/https/socks5/socks5h URL.
    ProxyUrl,
    /// A Google upstream base URL: https, or http only to a loopback host (a local simulator
    /// or test double), so credentials and tokens never cross a network in clear text. A
    /// trailing slash is stripped.
    UpstreamUrl,
    /// Empty (derived) or an upstream URL as above.
    OptionalUpstreamUrl,
    /// Empty (disabled) or an http(s) URL.
    OptionalHttpUrl,
    /// trace|debug|info|warn|error.
    LogLevel,
    /// An IANA time zone name.
    TimeZone,
    /// Empty or an IANA time zone name.
    OptionalTimeZone,
    /// A cloud location: lowercase letters, digits and '-' (`global`, `us`, `europe-west4`).
    Location,
    /// A filesystem path.
    Path,
    /// A password: write-only, never shown.
    Secret,
    /// Comma list (or array) of non-empty names.
    List,
    /// Comma list (or array) of `pattern=target` model aliases, in order; may be empty.
    ModelAliases,
    /// Comma list (or array) of host names, IP addresses and CIDR ranges; may be empty.
    AddressList,
    /// Comma list (or array) of IP addresses and CIDR ranges, no host names; may be empty.
    NetList,
    /// Empty (none) or an `ip:port` socket address to listen on.
    OptionalListen,
}

/// A default value; `DataDir` defaults are relative to the resolved data directory.
#[derive(Clone, Copy, Debug)]
pub enum DefaultValue {
    Str(&'static str),
    Int(i64),
    Float(f64),
    Bool(bool),
    Codes(&'static [u16]),
    List(&'static [&'static str]),
    /// No value (secrets).
    Unset,
    /// `DATA_DIR/<relative>`.
    DataDir(&'static str),
}

impl DefaultValue {
    pub fn to_json(self, data_dir: &Path) -> Value {
        match self {
            DefaultValue::Str(s) => json!(s),
            DefaultValue::Int(i) => json!(i),
            DefaultValue::Float(f) => json!(f),
            DefaultValue::Bool(b) => json!(b),
            DefaultValue::Codes(c) => json!(c),
            DefaultValue::List(l) => json!(l),
            DefaultValue::Unset => Value::Null,
            DefaultValue::DataDir(rel) => json!(data_dir.join(rel).display().to_string()),
        }
    }

    /// How the default is written in documentation.
    pub fn doc(self) -> String {
        match self {
            DefaultValue::Str("") => "(empty)".into(),
            DefaultValue::Str(s) => format!("`{s}`"),
            DefaultValue::Int(i) => format!("`{i}`"),
            DefaultValue::Float(f) => format!("`{f}`"),
            DefaultValue::Bool(b) => format!("`{b}`"),
            DefaultValue::Codes(c) => format!(
                "`{}`",
                c.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
            ),
            DefaultValue::List([]) => "(empty)".into(),
            DefaultValue::List(l) => format!("`{}`", l.join(",")),
            DefaultValue::Unset => "(unset)".into(),
            DefaultValue::DataDir(rel) => format!("`DATA_DIR/{rel}`"),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct SettingDef {
    /// snake_case key: the config-file key and the management API key.
    pub key: &'static str,
    pub env: &'static str,
    /// Older env names still honoured when `env` is unset.
    pub legacy_env: &'static [&'static str],
    pub kind: Kind,
    pub default: DefaultValue,
    /// Write-only: the value is never returned, only whether it is set.
    pub secret: bool,
    /// Takes effect without a restart.
    pub hot: bool,
    /// Can be saved through the management API (`update`). False for DATA_DIR (it locates the
    /// database holding saved values) and for passwords (they have their own operation).
    pub api_writable: bool,
    pub description: &'static str,
}

const fn def(
    key: &'static str,
    env: &'static str,
    kind: Kind,
    default: DefaultValue,
    hot: bool,
    description: &'static str,
) -> SettingDef {
    SettingDef {
        key,
        env,
        legacy_env: &[],
        kind,
        default,
        secret: false,
        hot,
        api_writable: true,
        description,
    }
}

const fn secret(key: &'static str, env: &'static str, description: &'static str) -> SettingDef {
    SettingDef {
        key,
        env,
        legacy_env: &[],
        kind: Kind::Secret,
        default: DefaultValue::Unset,
        secret: true,
        hot: true,
        api_writable: false,
        description,
    }
}

const HOT: bool = true;
const RESTART: bool = false;

pub const DEFAULT_BASE_MODELS: &[&str] = &[
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-3-flash-preview",
    "gemini-3.1-pro-preview",
    "gemini-3.1-flash-lite",
    "gemini-3.5-flash",
];

/// Models a Vertex credential serves unless VERTEX_MODELS says otherwise: Vertex publishes
/// no per-project model list, so it is configured. The first is what an express key's import
/// check counts tokens with.
pub const DEFAULT_VERTEX_MODELS: &[&str] = &[
    "gemini-2.5-flash",
    "gemini-2.5-pro",
    "gemini-2.5-flash-lite",
    "gemini-3-flash",
    "gemini-3-flash-preview",
    "gemini-3-pro-preview",
    "gemini-3.1-pro-preview",
    "gemini-3.1-flash-lite",
];

static REGISTRY: &[SettingDef] = &[
    def(
        "host",
        "HOST",
        Kind::Str,
        DefaultValue::Str("0.0.0.0"),
        RESTART,
        "Address to listen on.",
    ),
    def(
        "port",
        "PORT",
        Kind::Int { min: 1, max: 65535 },
        DefaultValue::Int(7861),
        RESTART,
        "Port to listen on.",
    ),
    SettingDef {
        api_writable: false,
        ..def(
            "data_dir",
            "DATA_DIR",
            Kind::Path,
            DefaultValue::Str("./data"),
            RESTART,
            "Directory of the database, logs and default config file (env or --config file only).",
        )
    },
    // Paths are the operator's: an API caller that could point them anywhere could make the
    // gateway write its log over any file it may write, or import from any folder it may read.
    SettingDef {
        api_writable: false,
        ..def(
            "credentials_dir",
            "CREDENTIALS_DIR",
            Kind::Path,
            DefaultValue::DataDir("creds"),
            RESTART,
            "Folder whose credential JSON files are imported at startup.",
        )
    },
    secret(
        "password",
        "PASSWORD",
        "Shared password: the API key and panel password when the dedicated ones are unset.",
    ),
    secret(
        "api_password",
        "API_PASSWORD",
        "API key for the proxy routes (falls back to PASSWORD).",
    ),
    secret(
        "panel_password",
        "PANEL_PASSWORD",
        "Panel password (falls back to PASSWORD).",
    ),
    def(
        "calls_per_rotation",
        "CALLS_PER_ROTATION",
        Kind::Int {
            min: 1,
            max: 1_000_000,
        },
        DefaultValue::Int(10),
        HOT,
        "Requests served by one credential before rotating to the next.",
    ),
    def(
        "retry_429_enabled",
        "RETRY_429_ENABLED",
        Kind::Bool,
        DefaultValue::Bool(true),
        HOT,
        "Retry rate-limited and retryable upstream errors on another credential.",
    ),
    def(
        "retry_429_max_retries",
        "RETRY_429_MAX_RETRIES",
        Kind::Int { min: 0, max: 20 },
        DefaultValue::Int(3),
        HOT,
        "Retries after the first attempt.",
    ),
    def(
        "retry_429_interval",
        "RETRY_429_INTERVAL",
        Kind::Float {
            min: 0.01,
            max: 10.0,
        },
        DefaultValue::Float(1.0),
        HOT,
        "Seconds to wait between retries.",
    ),
    def(
        "anti_truncation_max_attempts",
        "ANTI_TRUNCATION_MAX_ATTEMPTS",
        Kind::Int { min: 1, max: 10 },
        DefaultValue::Int(3),
        HOT,
        "Continuation attempts for anti-truncation models.",
    ),
    def(
        "auto_ban",
        "AUTO_BAN",
        Kind::Bool,
        DefaultValue::Bool(true),
        HOT,
        "Disable a credential when upstream answers with one of AUTO_BAN_ERROR_CODES.",
    ),
    def(
        "auto_ban_error_codes",
        "AUTO_BAN_ERROR_CODES",
        Kind::StatusCodes,
        DefaultValue::Codes(&[403]),
        HOT,
        "Comma list of HTTP status codes (400-599) that ban a credential.",
    ),
    def(
        "auto_load_env_creds",
        "AUTO_LOAD_ENV_CREDS",
        Kind::Bool,
        DefaultValue::Bool(false),
        RESTART,
        "Import GCLI_CREDS_* environment credentials at startup.",
    ),
    def(
        "compatibility_mode",
        "COMPATIBILITY_MODE",
        Kind::Bool,
        DefaultValue::Bool(false),
        HOT,
        "Send system messages as user messages for clients that need it.",
    ),
    def(
        "access_log",
        "ACCESS_LOG",
        Kind::Bool,
        DefaultValue::Bool(true),
        HOT,
        "Log one INFO line per proxied request (surface, models, credential, status, latency, tokens, client address).",
    ),
    SettingDef {
        legacy_env: &["RETURN_THOUGHTS_TO_FRONTEND"],
        ..def(
            "return_thoughts",
            "RETURN_THOUGHTS",
            Kind::Bool,
            DefaultValue::Bool(true),
            HOT,
            "Return model thoughts to the client (legacy env: RETURN_THOUGHTS_TO_FRONTEND).",
        )
    },
    def(
        "proxy",
        "PROXY",
        Kind::ProxyUrl,
        DefaultValue::Str(""),
        HOT,
        "Outbound proxy: empty, or an http://, https:// or socks5:// URL.",
    ),
    def(
        "code_assist_endpoint",
        "CODE_ASSIST_ENDPOINT",
        Kind::UpstreamUrl,
        DefaultValue::Str("https://cloudcode-pa.googleapis.com"),
        HOT,
        "Code Assist API base URL.",
    ),
    def(
        "oauth_proxy_url",
        "OAUTH_PROXY_URL",
        Kind::UpstreamUrl,
        DefaultValue::Str("https://oauth2.googleapis.com"),
        HOT,
        "OAuth token server base URL (/token is appended).",
    ),
    def(
        "googleapis_proxy_url",
        "GOOGLEAPIS_PROXY_URL",
        Kind::UpstreamUrl,
        DefaultValue::Str("https://www.googleapis.com"),
        HOT,
        "Google APIs base URL (userinfo).",
    ),
    def(
        "resource_manager_api_url",
        "RESOURCE_MANAGER_API_URL",
        Kind::UpstreamUrl,
        DefaultValue::Str("https://cloudresourcemanager.googleapis.com"),
        HOT,
        "Cloud Resource Manager base URL (project listing).",
    ),
    def(
        "service_usage_api_url",
        "SERVICE_USAGE_API_URL",
        Kind::UpstreamUrl,
        DefaultValue::Str("https://serviceusage.googleapis.com"),
        HOT,
        "Service Usage base URL (enabling APIs).",
    ),
    def(
        "metadata_service_url",
        "METADATA_SERVICE_URL",
        Kind::UpstreamUrl,
        DefaultValue::Str("https://cloudaicompanion.googleapis.com"),
        HOT,
        "Cloud AI Companion base URL (release-channel settings).",
    ),
    def(
        "oauth_auth_url",
        "OAUTH_AUTH_URL",
        Kind::UpstreamUrl,
        DefaultValue::Str("https://accounts.google.com/o/oauth2/v2/auth"),
        HOT,
        "Google authorization page for the browser consent.",
    ),
    def(
        "gemini_api_url",
        "GEMINI_API_URL",
        Kind::UpstreamUrl,
        DefaultValue::Str("https://generativelanguage.googleapis.com"),
        HOT,
        "Gemini API base URL (AI Studio keys).",
    ),
    def(
        "vertex_location",
        "VERTEX_LOCATION",
        Kind::Location,
        DefaultValue::Str("global"),
        HOT,
        "Vertex AI location of service-account calls: `global` (where the newest models are), `us`, `eu` or a region such as `europe-west4`.",
    ),
    def(
        "vertex_api_url",
        "VERTEX_API_URL",
        Kind::OptionalUpstreamUrl,
        DefaultValue::Str(""),
        HOT,
        "Vertex AI base URL (empty: derived from VERTEX_LOCATION; express keys use the global host).",
    ),
    def(
        "vertex_models",
        "VERTEX_MODELS",
        Kind::List,
        DefaultValue::List(DEFAULT_VERTEX_MODELS),
        HOT,
        "Comma list of the models Vertex credentials (service accounts and express keys) serve; a request for another model never goes to them.",
    ),
    def(
        "log_level",
        "LOG_LEVEL",
        Kind::LogLevel,
        DefaultValue::Str("info"),
        HOT,
        "trace, debug, info, warn or error.",
    ),
    SettingDef {
        api_writable: false,
        ..def(
            "log_file",
            "LOG_FILE",
            Kind::Path,
            DefaultValue::DataDir("logs/gcli2api.log"),
            RESTART,
            "Log file (rotated daily).",
        )
    },
    def(
        "log_retention_days",
        "LOG_RETENTION_DAYS",
        Kind::Int { min: 1, max: 3650 },
        DefaultValue::Int(7),
        RESTART,
        "Days of rotated log files to keep.",
    ),
    def(
        "log_file_max_mb",
        "LOG_FILE_MAX_MB",
        Kind::Int {
            min: 0,
            max: 1_000_000,
        },
        DefaultValue::Int(256),
        HOT,
        "Largest size of one day's log file in megabytes; past it the rest of the day's lines are left out of the file (0 = no cap). The log takes at most about LOG_RETENTION_DAYS times this.",
    ),
    def(
        "quota_reset_timezone",
        "QUOTA_RESET_TIMEZONE",
        Kind::TimeZone,
        DefaultValue::Str("UTC"),
        HOT,
        "IANA time zone of the daily quota reset.",
    ),
    def(
        "panel_timezone",
        "PANEL_TIMEZONE",
        Kind::OptionalTimeZone,
        DefaultValue::Str(""),
        HOT,
        "IANA time zone the panel shows times in; empty = each browser's own zone. Only for display: the quota reset follows QUOTA_RESET_TIMEZONE.",
    ),
    def(
        "quota_reset_hour",
        "QUOTA_RESET_HOUR",
        Kind::Int { min: 0, max: 23 },
        DefaultValue::Int(7),
        HOT,
        "Hour (in QUOTA_RESET_TIMEZONE) at which daily quotas reset.",
    ),
    def(
        "connect_timeout",
        "CONNECT_TIMEOUT",
        Kind::Int { min: 1, max: 600 },
        DefaultValue::Int(10),
        HOT,
        "Seconds to establish an upstream connection.",
    ),
    def(
        "read_timeout",
        "READ_TIMEOUT",
        Kind::Int { min: 1, max: 3600 },
        DefaultValue::Int(300),
        HOT,
        "Seconds without upstream data (per read gap on streams) before giving up.",
    ),
    def(
        "max_concurrent_requests",
        "MAX_CONCURRENT_REQUESTS",
        Kind::Int {
            min: 0,
            max: 100_000,
        },
        DefaultValue::Int(0),
        RESTART,
        "Proxy requests served at once; more wait in a queue. 0: as many as the open-file limit allows (two descriptors each, 64 to 10,000), since a held stream costs little else.",
    ),
    def(
        "max_queue_wait",
        "MAX_QUEUE_WAIT",
        Kind::Int { min: 0, max: 3600 },
        DefaultValue::Int(30),
        HOT,
        "Seconds a request may wait for a free slot before 503.",
    ),
    def(
        "base_models",
        "BASE_MODELS",
        Kind::List,
        DefaultValue::List(DEFAULT_BASE_MODELS),
        HOT,
        "Comma list of base models offered (variants are derived).",
    ),
    def(
        "model_aliases",
        "MODEL_ALIASES",
        Kind::ModelAliases,
        DefaultValue::List(crate::models::DEFAULT_MODEL_ALIASES),
        HOT,
        "Comma list of `pattern=target` model aliases, first match wins; a pattern may end in `*`. Applied to the base name after prefixes and suffixes, so clients' default names (`claude-*`, `gpt-5*`) work. Empty: none.",
    ),
    def(
        "max_body_bytes",
        "MAX_BODY_BYTES",
        Kind::Int {
            min: 1024,
            max: 1 << 30,
        },
        DefaultValue::Int(20 * 1024 * 1024),
        RESTART,
        "Largest accepted request body, in bytes.",
    ),
    def(
        "daily_limit_total",
        "DAILY_LIMIT_TOTAL",
        Kind::Int {
            min: 0,
            max: 1_000_000_000,
        },
        DefaultValue::Int(1000),
        HOT,
        "Default daily request limit per Code Assist credential (0 = unlimited).",
    ),
    def(
        "daily_limit_pro",
        "DAILY_LIMIT_PRO",
        Kind::Int {
            min: 0,
            max: 1_000_000_000,
        },
        DefaultValue::Int(100),
        HOT,
        "Default daily limit per Code Assist credential for pro models (0 = unlimited).",
    ),
    def(
        "aistudio_daily_limit_total",
        "AISTUDIO_DAILY_LIMIT_TOTAL",
        Kind::Int {
            min: 0,
            max: 1_000_000_000,
        },
        DefaultValue::Int(0),
        HOT,
        "Default daily request limit per Gemini API key (0 = off: Google enforces its own quota).",
    ),
    def(
        "aistudio_daily_limit_pro",
        "AISTUDIO_DAILY_LIMIT_PRO",
        Kind::Int {
            min: 0,
            max: 1_000_000_000,
        },
        DefaultValue::Int(0),
        HOT,
        "Default daily limit per Gemini API key for pro models (0 = off).",
    ),
    def(
        "vertex_daily_limit_total",
        "VERTEX_DAILY_LIMIT_TOTAL",
        Kind::Int {
            min: 0,
            max: 1_000_000_000,
        },
        DefaultValue::Int(0),
        HOT,
        "Default daily request limit per Vertex service account or express key (0 = off).",
    ),
    def(
        "vertex_daily_limit_pro",
        "VERTEX_DAILY_LIMIT_PRO",
        Kind::Int {
            min: 0,
            max: 1_000_000_000,
        },
        DefaultValue::Int(0),
        HOT,
        "Default daily limit per Vertex credential for pro models (0 = off).",
    ),
    def(
        "cooldown_cap",
        "COOLDOWN_CAP",
        Kind::Int {
            min: 1,
            max: 7 * 86400,
        },
        DefaultValue::Int(6 * 3600),
        HOT,
        "Longest cooldown in seconds before one probe request is let through.",
    ),
    def(
        "key_recheck_interval",
        "KEY_RECHECK_INTERVAL",
        Kind::Int {
            min: 0,
            max: 7 * 86400,
        },
        DefaultValue::Int(3600),
        HOT,
        "Seconds between re-checks of the keys and service accounts Google refused (put back when they work again) and of models spent for the day (a one-token probe); 0 = never.",
    ),
    def(
        "keepalive_url",
        "KEEPALIVE_URL",
        Kind::OptionalHttpUrl,
        DefaultValue::Str(""),
        HOT,
        "URL fetched with a GET every KEEPALIVE_INTERVAL seconds to keep a free host awake, e.g. this gateway's public `/healthz` (empty = off).",
    ),
    def(
        "keepalive_interval",
        "KEEPALIVE_INTERVAL",
        Kind::Int { min: 5, max: 86400 },
        DefaultValue::Int(60),
        HOT,
        "Seconds between keep-alive requests.",
    ),
    def(
        "oauth_callback_port",
        "OAUTH_CALLBACK_PORT",
        Kind::Int { min: 1, max: 65535 },
        DefaultValue::Int(11451),
        HOT,
        "Port of the loopback OAuth callback listener.",
    ),
    def(
        "remote_fetch_enabled",
        "REMOTE_FETCH_ENABLED",
        Kind::Bool,
        DefaultValue::Bool(true),
        HOT,
        "Fetch http(s) image and document URLs in requests and send them inline (off: such URLs are refused with a 400).",
    ),
    def(
        "remote_fetch_max_bytes",
        "REMOTE_FETCH_MAX_BYTES",
        Kind::Int {
            min: 1024,
            max: 1 << 30,
        },
        DefaultValue::Int(10 * 1024 * 1024),
        HOT,
        "Largest file fetched from a URL, in bytes (all files of one request together: MAX_BODY_BYTES).",
    ),
    def(
        "remote_fetch_timeout",
        "REMOTE_FETCH_TIMEOUT",
        Kind::Int { min: 1, max: 600 },
        DefaultValue::Int(15),
        HOT,
        "Seconds one URL fetch may take in total, redirects and body included.",
    ),
    def(
        "remote_fetch_allowlist",
        "REMOTE_FETCH_ALLOWLIST",
        Kind::AddressList,
        DefaultValue::List(&[]),
        HOT,
        "Comma list of host names, IPs and CIDR ranges that URL fetches may reach although private, loopback or link-local (empty: public addresses only).",
    ),
    def(
        "responses_store_days",
        "RESPONSES_STORE_DAYS",
        Kind::Int { min: 0, max: 365 },
        DefaultValue::Int(30),
        HOT,
        "Days a Responses API answer sent with store: true is kept for previous_response_id and GET /v1/responses/{id} (0: store nothing, and drop what was stored).",
    ),
    def(
        "responses_store_max_mb",
        "RESPONSES_STORE_MAX_MB",
        Kind::Int {
            min: 1,
            max: 1_000_000,
        },
        DefaultValue::Int(256),
        HOT,
        "Megabytes of stored Responses API answers kept in the database (oldest dropped first); memory keeps at most 64 of them.",
    ),
    secret(
        "metrics_token",
        "METRICS_TOKEN",
        "Bearer token for `GET /metrics`. On the main port /metrics is served only when this is set; on METRICS_LISTEN it is required when set.",
    ),
    def(
        "metrics_listen",
        "METRICS_LISTEN",
        Kind::OptionalListen,
        DefaultValue::Str(""),
        RESTART,
        "A separate `ip:port` serving only `GET /metrics` (e.g. `127.0.0.1:9464`), for a scraper on a private network. Empty: none.",
    ),
    def(
        "metrics_credential_labels_max",
        "METRICS_CREDENTIAL_LABELS_MAX",
        Kind::Int {
            min: 0,
            max: 10_000,
        },
        DefaultValue::Int(50),
        HOT,
        "Per-credential metric series (quota used and left) carry the credential's account name only while the pool has at most this many credentials; beyond it they are summed by kind, so label sets stay bounded.",
    ),
    def(
        "request_log",
        "REQUEST_LOG",
        Kind::Bool,
        DefaultValue::Bool(true),
        HOT,
        "Keep one row per proxied request (time, surface, models, credential, status, latency, tokens, error reason) for the panel's request log; written in batches in the background.",
    ),
    def(
        "request_log_days",
        "REQUEST_LOG_DAYS",
        Kind::Int { min: 0, max: 365 },
        DefaultValue::Int(7),
        HOT,
        "Days request log rows are kept (0: no age limit, only REQUEST_LOG_MAX_ROWS).",
    ),
    def(
        "request_log_max_rows",
        "REQUEST_LOG_MAX_ROWS",
        Kind::Int {
            min: 100,
            max: 100_000_000,
        },
        DefaultValue::Int(100_000),
        HOT,
        "Most request log rows kept (oldest purged first, in the background).",
    ),
    def(
        "request_log_prompts",
        "REQUEST_LOG_PROMPTS",
        Kind::Bool,
        DefaultValue::Bool(false),
        HOT,
        "PRIVACY: also store the first 1,000 characters of each request's prompt text in the request log and show them in the panel. Off by default; prompts may hold personal or confidential data.",
    ),
    def(
        "trusted_proxies",
        "TRUSTED_PROXIES",
        Kind::NetList,
        DefaultValue::List(&[]),
        HOT,
        "Comma list of IP addresses and CIDR ranges of reverse proxies in front of the gateway. Only for a peer on this list is the client address read from `Forwarded` / `X-Forwarded-For` (from the right, past trusted hops); it is what failure limits, connection caps and the logs use. Empty: the socket's peer.",
    ),
    def(
        "header_read_timeout",
        "HEADER_READ_TIMEOUT",
        Kind::Int { min: 1, max: 3600 },
        DefaultValue::Int(30),
        HOT,
        "Seconds a client has to send a request's headers, counted from the connection's opening (first request) or from the first byte (later requests); slower connections are closed.",
    ),
    def(
        "idle_timeout",
        "IDLE_TIMEOUT",
        Kind::Int { min: 1, max: 86400 },
        DefaultValue::Int(75),
        HOT,
        "Seconds a kept-alive connection may wait for its next request before it is closed. A request in progress (a stream included) is never cut by it.",
    ),
    def(
        "body_read_timeout",
        "BODY_READ_TIMEOUT",
        Kind::Int { min: 1, max: 86400 },
        DefaultValue::Int(120),
        HOT,
        "Seconds a client has to send a whole request body once its headers are in; a slower upload fails and its connection is closed.",
    ),
    def(
        "max_connections",
        "MAX_CONNECTIONS",
        Kind::Int {
            min: 0,
            max: 1_000_000,
        },
        DefaultValue::Int(0),
        HOT,
        "Most client connections open at once; more are closed as soon as accepted (0 = half the process's open-file limit, which leaves room for the upstream connections).",
    ),
    def(
        "max_connections_per_address",
        "MAX_CONNECTIONS_PER_ADDRESS",
        Kind::Int {
            min: 1,
            max: 1_000_000,
        },
        DefaultValue::Int(4096),
        HOT,
        "Most connections open at once from one client address; more are closed as soon as accepted. A peer listed in TRUSTED_PROXIES is only held to MAX_CONNECTIONS.",
    ),
];

/// Every setting, in documentation order.
pub fn registry() -> &'static [SettingDef] {
    REGISTRY
}

pub fn find(key: &str) -> Option<&'static SettingDef> {
    REGISTRY.iter().find(|d| d.key == key)
}

/// The README configuration table.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| Env var | Config key | Default | Applies | Description |\n|---|---|---|---|---|\n",
    );
    for d in REGISTRY {
        let applies = if d.hot { "live" } else { "restart" };
        let extra = if d.secret && !d.key.ends_with("password") {
            " Write-only; env or config file only."
        } else if d.secret {
            " Write-only; stored as an argon2id hash when set through the panel."
        } else if !d.api_writable {
            " Env or config file only."
        } else {
            ""
        };
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} | {}{} |\n",
            d.env,
            d.key,
            d.default.doc(),
            applies,
            d.description,
            extra
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_lowercase_env_names_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for d in registry() {
            assert_eq!(d.key, d.env.to_ascii_lowercase(), "{}", d.env);
            assert!(seen.insert(d.key), "duplicate {}", d.key);
        }
    }

    #[test]
    fn defaults_pass_their_own_validators() {
        let dir = Path::new("/data");
        for d in registry() {
            let v = d.default.to_json(dir);
            if v.is_null() {
                assert!(d.secret, "{} has no default", d.key);
                continue;
            }
            assert_eq!(
                crate::settings::validate::parse(d.kind, &v).as_ref(),
                Ok(&v),
                "{}",
                d.key
            );
        }
    }
}
