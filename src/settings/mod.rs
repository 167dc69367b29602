//! Typed settings registry. PLACEHOLDER written by the skeleton commit: the settings owner replaces
//! this module, keeping the public names used elsewhere (`Sources`, `Settings` fields,
//! `SettingsHandle::get`).
pub mod passwords;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;

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
            env: std::env::vars().collect(),
            config_file,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub data_dir: PathBuf,
    pub password: Option<String>,
    pub api_password: Option<String>,
    pub panel_password: Option<String>,
    pub code_assist_endpoint: String,
    pub oauth_proxy_url: String,
    pub googleapis_proxy_url: String,
    pub resource_manager_api_url: String,
    pub service_usage_api_url: String,
    pub log_level: String,
}

impl Settings {
    pub fn resolve(sources: &Sources) -> Self {
        let get = |k: &str| sources.env.get(k).filter(|v| !v.is_empty()).cloned();
        Self {
            host: get("HOST").unwrap_or_else(|| "0.0.0.0".into()),
            port: get("PORT").and_then(|p| p.parse().ok()).unwrap_or(7861),
            data_dir: get("DATA_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| "./data".into()),
            password: get("PASSWORD"),
            api_password: get("API_PASSWORD"),
            panel_password: get("PANEL_PASSWORD"),
            code_assist_endpoint: get("CODE_ASSIST_ENDPOINT")
                .unwrap_or_else(|| "https://cloudcode-pa.googleapis.com".into()),
            oauth_proxy_url: get("OAUTH_PROXY_URL")
                .unwrap_or_else(|| "https://oauth2.googleapis.com".into()),
            googleapis_proxy_url: get("GOOGLEAPIS_PROXY_URL")
                .unwrap_or_else(|| "https://www.googleapis.com".into()),
            resource_manager_api_url: get("RESOURCE_MANAGER_API_URL")
                .unwrap_or_else(|| "https://cloudresourcemanager.googleapis.com".into()),
            service_usage_api_url: get("SERVICE_USAGE_API_URL")
                .unwrap_or_else(|| "https://serviceusage.googleapis.com".into()),
            log_level: get("LOG_LEVEL").unwrap_or_else(|| "info".into()),
        }
    }
}

/// Shared, hot-swappable view of the effective settings; readers never block.
#[derive(Clone)]
pub struct SettingsHandle(Arc<ArcSwap<Settings>>);

impl SettingsHandle {
    pub fn new(s: Settings) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(s)))
    }
    pub fn get(&self) -> Arc<Settings> {
        self.0.load_full()
    }
}
