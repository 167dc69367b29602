//! Reading the locked layer: environment variables and the TOML config file. Both are validated
//! at startup; a bad or unknown entry stops the start with a message naming it.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::registry::{self, SettingDef, registry};
use super::{SettingsError, Source, Sources};

/// A value from env or file: it wins over saved values and locks the key.
#[derive(Clone, Debug)]
pub(crate) struct Locked {
    pub value: Value,
    pub source: Source,
    /// Human description of where it came from: "environment variable PORT", "/etc/x.toml".
    pub origin: String,
}

const DEFAULT_DATA_DIR: &str = "./data";
const CONFIG_FILE_NAME: &str = "config.toml";

fn env_value<'a>(sources: &'a Sources, def: &SettingDef) -> Option<(&'static str, &'a str)> {
    std::iter::once(def.env)
        .chain(def.legacy_env.iter().copied())
        .find_map(|name| {
            sources
                .env
                .get(name)
                .map(String::as_str)
                .filter(|v| !v.is_empty())
                .map(|v| (name, v))
        })
}

fn data_dir_def() -> &'static SettingDef {
    match registry::find("data_dir") {
        Some(d) => d,
        None => unreachable!("data_dir is in the registry"),
    }
}

/// DATA_DIR from env, else `data_dir` in an explicit config file, else `./data`.
pub(crate) fn data_dir(sources: &Sources) -> Result<PathBuf, SettingsError> {
    let def = data_dir_def();
    if let Some((name, raw)) = env_value(sources, def) {
        let v = parse_with_origin(def, &Value::String(raw.into()), || {
            format!("environment variable {name}")
        })?;
        return Ok(PathBuf::from(v.as_str().unwrap_or(DEFAULT_DATA_DIR)));
    }
    if let Some(path) = &sources.config_file {
        let table = read_file(path)?;
        if let Some(raw) = table.get(def.key) {
            let v = parse_with_origin(def, &toml_to_json(raw), || {
                format!("{} in {}", def.key, path.display())
            })?;
            return Ok(PathBuf::from(v.as_str().unwrap_or(DEFAULT_DATA_DIR)));
        }
    }
    Ok(PathBuf::from(DEFAULT_DATA_DIR))
}

/// The config file in use: the explicit one, else `DATA_DIR/config.toml` when it exists.
pub(crate) fn config_file(sources: &Sources, data_dir: &Path) -> Option<(PathBuf, bool)> {
    if let Some(p) = &sources.config_file {
        return Some((p.clone(), true));
    }
    let implicit = data_dir.join(CONFIG_FILE_NAME);
    implicit.is_file().then_some((implicit, false))
}

/// Validate and collect every env and file value. Env beats file.
pub(crate) fn read_locked(
    sources: &Sources,
    data_dir: &Path,
) -> Result<HashMap<&'static str, Locked>, SettingsError> {
    let mut out = HashMap::new();
    if let Some((path, explicit)) = config_file(sources, data_dir) {
        let table = read_file(&path)?;
        let mut unknown: Vec<String> = table
            .keys()
            .filter(|k| registry::find(k).is_none())
            .cloned()
            .collect();
        // The key that encrypts credential secrets is not a setting: a copy in a config file
        // (often beside the database) would protect nothing. Say so rather than "unknown".
        if let Some(k) = unknown.iter().find(|k| k.starts_with("secrets_key")) {
            return Err(SettingsError::Invalid {
                key: k.clone(),
                origin: format!("{k} in {}", path.display()),
                reason: format!(
                    "it can only be set in the environment ({})",
                    k.to_ascii_uppercase()
                ),
            });
        }
        if !unknown.is_empty() {
            unknown.sort();
            return Err(SettingsError::UnknownKeys {
                origin: format!("config file {}", path.display()),
                keys: unknown,
            });
        }
        for def in registry() {
            let Some(raw) = table.get(def.key) else {
                continue;
            };
            // The implicit file lives inside DATA_DIR, so it cannot be what moves DATA_DIR.
            if def.key == "data_dir" && !explicit {
                return Err(SettingsError::Invalid {
                    key: def.key.into(),
                    origin: format!("data_dir in {}", path.display()),
                    reason:
                        "the config file inside DATA_DIR cannot set data_dir; use the DATA_DIR \
                             environment variable or --config"
                            .into(),
                });
            }
            let value = parse_with_origin(def, &toml_to_json(raw), || {
                format!("{} in {}", def.key, path.display())
            })?;
            out.insert(
                def.key,
                Locked {
                    value,
                    source: Source::File,
                    origin: format!("config file {}", path.display()),
                },
            );
        }
    }
    for def in registry() {
        if let Some((name, raw)) = env_value(sources, def) {
            let value = parse_with_origin(def, &Value::String(raw.into()), || {
                format!("environment variable {name}")
            })?;
            out.insert(
                def.key,
                Locked {
                    value,
                    source: Source::Env,
                    origin: format!("environment variable {name}"),
                },
            );
        }
    }
    Ok(out)
}

pub(crate) fn parse_with_origin(
    def: &SettingDef,
    raw: &Value,
    origin: impl FnOnce() -> String,
) -> Result<Value, SettingsError> {
    super::validate::parse(def.kind, raw).map_err(|reason| SettingsError::Invalid {
        key: def.key.into(),
        origin: origin(),
        reason,
    })
}

fn read_file(path: &Path) -> Result<toml::Table, SettingsError> {
    let err = |reason: String| SettingsError::ConfigFile {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    // toml's message quotes the offending line, which could be a password: keep only the
    // position-free summary.
    text.parse::<toml::Table>().map_err(|e| {
        let line = e
            .span()
            .map(|s| text.get(..s.start).unwrap_or("").matches('\n').count() + 1);
        match line {
            Some(line) => err(format!("not valid TOML (line {line}): {}", e.message())),
            None => err(format!("not valid TOML: {}", e.message())),
        }
    })
}

fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}
