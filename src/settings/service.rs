//! The live settings: resolved once at startup, changed through `update` / `reset`, published as
//! lock-free snapshots (arc-swap) plus a watch channel for components that react to changes.
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::{Mutex, MutexGuard};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::registry::{self, registry};
use super::sources::{self, Locked};
use super::{Settings, SettingsError, SettingsHandle, Source, Sources};
use crate::store::{self, Store};

/// One setting as the management API and the panel show it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SettingView {
    pub key: &'static str,
    pub env: &'static str,
    /// The stored/effective value; always null for secrets (see `is_set`).
    pub value: Value,
    pub is_set: bool,
    /// Null for secrets.
    pub default: Value,
    pub source: Source,
    /// Where a locked value comes from, e.g. "environment variable PORT".
    pub origin: Option<String>,
    pub locked: bool,
    pub hot: bool,
    pub secret: bool,
    /// Can be saved through `update` (false for DATA_DIR and passwords).
    pub writable: bool,
    /// A saved value that differs from the one the running process uses (restart needed).
    pub restart_pending: bool,
    pub description: &'static str,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct UpdateOutcome {
    /// Keys whose new value is already in effect.
    pub applied: Vec<String>,
    /// Keys saved but used only after a restart.
    pub restart_required: Vec<String>,
}

#[derive(Clone)]
pub struct SettingsService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    data_dir: PathBuf,
    locked: HashMap<&'static str, Locked>,
    snapshot: Arc<ArcSwap<Settings>>,
    notify: watch::Sender<Arc<Settings>>,
    /// Serialises writers across the await on SQLite, so the saved map matches the database.
    write: tokio::sync::Mutex<()>,
    view: Mutex<View>,
}

struct View {
    /// Valid values currently saved in SQLite.
    saved: HashMap<&'static str, Value>,
    /// Values the running snapshot was built from.
    running: HashMap<&'static str, Value>,
    /// Secret names with a saved hash.
    saved_secrets: HashSet<&'static str>,
}

/// Precedence: locked (env/file) > saved > default. Secrets resolve only from the locked layer:
/// saved passwords are hashes, handled by `passwords`.
pub(crate) fn resolve_values(
    locked: &HashMap<&'static str, Locked>,
    saved: &HashMap<&'static str, Value>,
    data_dir: &Path,
) -> HashMap<&'static str, Value> {
    registry()
        .iter()
        .map(|d| {
            let v = locked
                .get(d.key)
                .map(|l| l.value.clone())
                .or_else(|| (!d.secret).then(|| saved.get(d.key).cloned()).flatten())
                .unwrap_or_else(|| d.default.to_json(data_dir));
            (d.key, v)
        })
        .collect()
}

impl SettingsService {
    /// The data directory, resolved before the store is opened (it locates the database).
    pub fn data_dir(sources: &Sources) -> Result<PathBuf, SettingsError> {
        sources::data_dir(sources)
    }

    pub async fn load(sources: &Sources, store: &Store) -> Result<Self, SettingsError> {
        let data_dir = sources::data_dir(sources)?;
        let locked = sources::read_locked(sources, &data_dir)?;
        let (rows, secret_rows) = store
            .run(|mut db| {
                let settings = store::settings::get_all(db.reborrow())?;
                Ok((settings, store::secrets::get_all(db)?))
            })
            .await?;

        let saved = read_saved(rows);
        let saved_secrets = secret_rows
            .iter()
            .filter_map(|(name, _)| registry::find(name).filter(|d| d.secret).map(|d| d.key))
            .collect();

        let running = resolve_values(&locked, &saved, &data_dir);
        let settings = Arc::new(Settings::from_values(&running, data_dir.clone())?);
        let (notify, _) = watch::channel(settings.clone());
        for (key, l) in &locked {
            if !registry::find(key).is_some_and(|d| d.secret) {
                tracing::debug!(key, origin = %l.origin, "setting locked");
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                store: store.clone(),
                data_dir,
                locked,
                snapshot: Arc::new(ArcSwap::new(settings)),
                notify,
                write: tokio::sync::Mutex::new(()),
                view: Mutex::new(View {
                    saved,
                    running,
                    saved_secrets,
                }),
            }),
        })
    }

    /// The current snapshot; lock-free, for the hot path.
    pub fn get(&self) -> Arc<Settings> {
        self.inner.snapshot.load_full()
    }

    /// A cheap handle sharing the live snapshot.
    pub fn handle(&self) -> SettingsHandle {
        SettingsHandle(self.inner.snapshot.clone())
    }

    /// Notified with the new snapshot whenever a hot setting changes.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Settings>> {
        self.inner.notify.subscribe()
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    fn view(&self) -> MutexGuard<'_, View> {
        self.inner.view.lock()
    }

    /// The effective value of `key` as stored (unmasked), or null for an unknown key.
    fn get_value_json(&self, key: &str) -> Value {
        if let Some(l) = self.inner.locked.get(key) {
            return l.value.clone();
        }
        if let Some(v) = self.view().saved.get(key) {
            return v.clone();
        }
        registry::find(key).map_or(Value::Null, |d| d.default.to_json(&self.inner.data_dir))
    }

    /// The keys among `changes` that would point the gateway somewhere else: an upstream
    /// URL or the forward proxy. Changing one can send every refresh token to another host,
    /// so callers must confirm such a change with the current panel password. A value equal
    /// to the current one (or to its masked form) is no change; a removal always is one.
    pub fn redirecting_changes(&self, changes: &[(String, Value)]) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (k, v) in changes {
            let Some(def) = registry::find(k).or_else(|| registry().iter().find(|d| d.env == k))
            else {
                continue;
            };
            if !matches!(
                def.kind,
                registry::Kind::UpstreamUrl
                    | registry::Kind::OptionalUpstreamUrl
                    | registry::Kind::ProxyUrl
            ) {
                continue;
            }
            let current = self.get_value_json(def.key);
            let current = current.as_str().unwrap_or_default();
            let unchanged = v.as_str().is_some_and(|s| {
                let s = s.trim();
                s == current
                    || s.trim_end_matches('/') == current
                    || crate::security::mask_userinfo(current) == s
            });
            if !unchanged && !out.contains(&def.key) {
                out.push(def.key);
            }
        }
        out
    }

    pub fn describe(&self) -> Vec<SettingView> {
        let view = self.view();
        registry()
            .iter()
            .map(|d| {
                let locked = self.inner.locked.get(d.key);
                let (source, origin) = match locked {
                    Some(l) => (l.source, Some(l.origin.clone())),
                    None if d.secret && view.saved_secrets.contains(d.key) => (Source::Saved, None),
                    None if !d.secret && view.saved.contains_key(d.key) => (Source::Saved, None),
                    None => (Source::Default, None),
                };
                let current = if d.secret {
                    Value::Null
                } else {
                    match (locked, view.saved.get(d.key)) {
                        (Some(l), _) => l.value.clone(),
                        (None, Some(v)) => v.clone(),
                        (None, None) => d.default.to_json(&self.inner.data_dir),
                    }
                };
                // A proxy's password is shown masked; saving the masked text back is a no-op.
                let current = match (&d.kind, current.as_str()) {
                    (registry::Kind::ProxyUrl, Some(url)) => {
                        json!(crate::security::mask_userinfo(url))
                    }
                    _ => current,
                };
                let is_set = if d.secret {
                    source != Source::Default
                } else {
                    !(current.is_null() || current == json!(""))
                };
                let restart_pending =
                    !d.secret && view.running.get(d.key).is_some_and(|r| *r != current);
                SettingView {
                    key: d.key,
                    env: d.env,
                    value: current,
                    is_set,
                    default: if d.secret {
                        Value::Null
                    } else {
                        d.default.to_json(&self.inner.data_dir)
                    },
                    source,
                    origin,
                    locked: locked.is_some(),
                    hot: d.hot,
                    secret: d.secret,
                    writable: d.api_writable && locked.is_none(),
                    restart_pending,
                    description: d.description,
                }
            })
            .collect()
    }

    /// Save several values at once. All are validated first; any error leaves everything
    /// unchanged. A JSON null removes the saved value (back to the default).
    pub async fn update(
        &self,
        changes: Vec<(String, Value)>,
    ) -> Result<UpdateOutcome, SettingsError> {
        let mut unknown: Vec<String> = changes
            .iter()
            .filter(|(k, _)| registry::find(k).is_none())
            .map(|(k, _)| k.clone())
            .collect();
        if !unknown.is_empty() {
            unknown.sort();
            unknown.dedup();
            return Err(SettingsError::UnknownKeys {
                origin: "the update".into(),
                keys: unknown,
            });
        }
        // Later entries for the same key win, as in a JSON object merge.
        let mut validated: Vec<(&'static str, Option<Value>)> = Vec::new();
        for (key, raw) in &changes {
            let Some(def) = registry::find(key) else {
                continue;
            };
            if def.secret {
                return Err(SettingsError::NotWritable {
                    key: def.key.into(),
                    reason:
                        "passwords are set with the password operation, which stores only a hash"
                            .into(),
                });
            }
            if !def.api_writable {
                return Err(SettingsError::NotWritable {
                    key: def.key.into(),
                    reason: format!("set {} in the environment or the config file", def.env),
                });
            }
            if let Some(l) = self.inner.locked.get(def.key) {
                return Err(SettingsError::Locked {
                    key: def.key.into(),
                    layer: l.source,
                    origin: l.origin.clone(),
                });
            }
            if def.kind == registry::Kind::ProxyUrl
                && let (Some(submitted), Some(current)) =
                    (raw.as_str(), self.get_value_json(def.key).as_str())
                && current != submitted
                && crate::security::mask_userinfo(current) == submitted.trim()
            {
                // The masked form that GET returned, sent back unchanged.
                continue;
            }
            let value = if raw.is_null() {
                None
            } else {
                Some(sources::parse_with_origin(def, raw, || {
                    format!("value for {}", def.key)
                })?)
            };
            validated.retain(|(k, _)| *k != def.key);
            validated.push((def.key, value));
        }

        let _writer = self.inner.write.lock().await;
        let rows = validated.clone();
        // Captured here: the transaction runs on a blocking thread, outside the request.
        let keys: Vec<&str> = rows.iter().map(|(k, _)| *k).collect();
        let event = crate::security::audit::event("settings.update", None, json!({ "keys": keys }));
        self.inner
            .store
            .run_tx(move |mut tx| {
                let now = store::now_ms();
                let puts: Vec<(String, Value)> = rows
                    .iter()
                    .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v)))
                    .collect();
                store::settings::put_many(tx.reborrow(), &puts, now)?;
                for (k, v) in &rows {
                    if v.is_none() {
                        store::settings::delete(tx.reborrow(), k)?;
                    }
                }
                store::audit::append(tx.reborrow(), &event, now)?;
                Ok(())
            })
            .await?;
        self.apply(validated)
    }

    /// Re-reads the saved values another instance may have changed in a shared database and
    /// applies the differences as if they were saved here (hot settings go live; the others
    /// wait for a restart, as on the instance that saved them).
    pub async fn resync(&self) -> Result<(), SettingsError> {
        let _writer = self.inner.write.lock().await;
        let rows = self
            .inner
            .store
            .run(|db| store::settings::get_all(db))
            .await?;
        let now = read_saved(rows);
        let changes: Vec<(&'static str, Option<Value>)> = {
            let view = self.view();
            let mut keys: Vec<&'static str> =
                view.saved.keys().chain(now.keys()).copied().collect();
            keys.sort_unstable();
            keys.dedup();
            keys.into_iter()
                .filter(|k| !self.inner.locked.contains_key(*k))
                .filter(|k| view.saved.get(k) != now.get(k))
                .map(|k| (k, now.get(k).cloned()))
                .collect()
        };
        if !changes.is_empty() {
            self.apply(changes)?;
        }
        Ok(())
    }

    /// Delete the saved value of `key` (it falls back to its default).
    pub async fn reset(&self, key: &str) -> Result<(), SettingsError> {
        self.update(vec![(key.to_string(), Value::Null)]).await?;
        Ok(())
    }

    /// Mirror a committed change in memory: hot keys go live, the others wait for a restart.
    fn apply(
        &self,
        changes: Vec<(&'static str, Option<Value>)>,
    ) -> Result<UpdateOutcome, SettingsError> {
        let mut outcome = UpdateOutcome::default();
        let mut view = self.view();
        let mut running = view.running.clone();
        for (key, value) in changes {
            let Some(def) = registry::find(key) else {
                continue;
            };
            let effective = value
                .clone()
                .unwrap_or_else(|| def.default.to_json(&self.inner.data_dir));
            match value {
                Some(v) => view.saved.insert(key, v),
                None => view.saved.remove(key),
            };
            if def.hot {
                running.insert(key, effective);
                outcome.applied.push(key.to_string());
            } else if running.get(key) != Some(&effective) {
                outcome.restart_required.push(key.to_string());
            }
        }
        if running != view.running {
            let settings = Arc::new(Settings::from_values(
                &running,
                self.inner.data_dir.clone(),
            )?);
            view.running = running;
            self.inner.snapshot.store(settings.clone());
            self.inner.notify.send_replace(settings);
            tracing::info!(keys = ?outcome.applied, "settings applied");
        }
        if !outcome.restart_required.is_empty() {
            tracing::info!(keys = ?outcome.restart_required, "settings saved; restart to apply");
        }
        Ok(outcome)
    }

    /// The plaintext of a secret from env or file (locked), if any.
    pub(crate) fn locked_value(&self, key: &str) -> Option<&str> {
        self.inner.locked.get(key).and_then(|l| l.value.as_str())
    }

    /// Source and description of a locked key.
    pub(crate) fn locked_origin(&self, key: &str) -> Option<(Source, String)> {
        self.inner
            .locked
            .get(key)
            .map(|l| (l.source, l.origin.clone()))
    }

    /// Called by `passwords` after it stored or removed a hash, so `describe` stays accurate.
    pub(crate) fn note_secret_saved(&self, key: &'static str, saved: bool) {
        let mut view = self.view();
        if saved {
            view.saved_secrets.insert(key);
        } else {
            view.saved_secrets.remove(key);
        }
    }
}

/// The saved rows as values by setting. Saved values are data, not a typo in a file the
/// operator controls: a bad one is reported and skipped so the panel can still start and fix it.
fn read_saved(rows: Vec<(String, Value)>) -> HashMap<&'static str, Value> {
    let mut saved = HashMap::new();
    for (key, value) in rows {
        let Some(def) = registry::find(&key).filter(|d| d.api_writable) else {
            tracing::warn!(key = %key, "ignoring saved value for an unknown or non-writable setting");
            continue;
        };
        match super::validate::parse(def.kind, &value) {
            Ok(v) => {
                saved.insert(def.key, v);
            }
            Err(reason) => {
                tracing::warn!(key = def.key, %reason, "ignoring invalid saved setting")
            }
        }
    }
    saved
}
