//! Client API keys: named keys with their own limits, beside the built-in `API_PASSWORD` key
//! (which has none).
//!
//! # Secrets
//! A key is `gk-` plus 43 characters of base64url (32 random bytes). Its first 11 characters
//! (the prefix) are stored in clear: they find the key and let an operator recognise it in a
//! list. The whole key is stored only as HMAC-SHA256 under a server key kept in the database,
//! and compared in constant time. A fast keyed hash is enough for 256-bit random secrets
//! (nobody can guess one to test it against a hash); argon2 stays for human passwords.
//!
//! # Hot path
//! Every key lives in memory ([`KeyService`]); a request reads one `ArcSwap`ed map and one
//! short per-key mutex, never SQLite. A change through the API or the panel writes the row,
//! then swaps in a new map: the next request sees it, with no restart. A key's counters
//! (today's requests and tokens, the last minute's requests) survive such changes.
//!
//! # Limits
//! Per instance. Checked when a request is let in: the daily request limit, the daily token
//! limit (tokens of requests that ended today; the request that crosses it is still served)
//! and requests per minute (a sliding window over the last 60 s). A refusal carries the
//! seconds until a request would be let in again, for `Retry-After`. Days are the credentials'
//! quota days (`QUOTA_RESET_HOUR` in `QUOTA_RESET_TIMEZONE`); after a restart the day's counts
//! start from the key's usage rows already written.
//!
//! # Allow-lists
//! Model patterns (`gemini-2.5-flash`, `gemini-2.5-*`) are matched against the base model the
//! upstream would see, after aliases, prefixes and suffixes are resolved, so neither
//! `gemini-2.5-pro-high` nor an alias to it slips past a list without `gemini-2.5-pro`. Kinds
//! restrict which credentials may serve the key's requests (see `proxy::dispatch`).
mod caller;
mod limits;
mod pattern;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use base64::Engine;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub use self::caller::{Admission, Caller, current, scope, sync_scope};
pub use self::limits::{Counters, Limited};
pub use self::pattern::{ModelPattern, PatternError};
use crate::google::kind::{CredentialKind, Pin};
use crate::store::client_keys::{self as repo, KeyFields, KeyRow};
use crate::store::{Store, StoreError, now_ms};
use crate::usage::UsageService;

/// Every client key starts with this.
pub const KEY_PREFIX: &str = "gk-";
/// Characters of a key kept in clear (`gk-` and 8 more).
const SHOWN: usize = 11;
/// `gk-` + base64url of 32 bytes without padding.
const KEY_LEN: usize = 3 + 43;
/// The most a per-minute limit may be: the window keeps one instant per request.
pub const MAX_RPM: u64 = 100_000;
pub const MAX_NAME: usize = 64;
pub const MAX_NOTE: usize = 500;
pub const MAX_PATTERNS: usize = 100;

/// The name the built-in `API_PASSWORD` key goes by in usage and metrics; its id is 0.
pub const BUILTIN_NAME: &str = "api-password";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
    #[error("client key {0} not found")]
    NotFound(i64),
}

/// One key as the hot path sees it.
#[derive(Debug)]
pub struct ClientKey {
    pub id: i64,
    pub name: Arc<str>,
    /// The first characters of the secret, for recognising the key.
    pub prefix: String,
    pub fields: KeyFields,
    pub created_at: i64,
    pub updated_at: i64,
    hash: [u8; 32],
    models: Vec<ModelPattern>,
    pub counters: Arc<Counters>,
}

/// Why a known key is not let in.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("API key '{0}' is disabled")]
    Disabled(String),
    #[error("API key '{0}' has expired")]
    Expired(String),
}

impl ClientKey {
    /// Enabled and not expired at `now` (ms).
    pub fn usable(&self, now: i64) -> Result<(), Refusal> {
        if !self.fields.enabled {
            return Err(Refusal::Disabled(self.name.to_string()));
        }
        if self.fields.expires_at.is_some_and(|t| t <= now) {
            return Err(Refusal::Expired(self.name.to_string()));
        }
        Ok(())
    }

    /// Whether the key may use base model `base` (empty list: every model).
    pub fn allows_model(&self, base: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|p| p.matches(base))
    }

    /// Whether credentials of `kind` may serve this key (empty list: every kind).
    pub fn allows_kind(&self, kind: CredentialKind) -> bool {
        self.fields.kinds.is_empty() || self.fields.kinds.contains(&kind)
    }

    /// Whether some allowed kind is reached through `pin`'s upstream.
    pub fn allows_pin(&self, pin: Pin) -> bool {
        self.fields.kinds.is_empty() || self.fields.kinds.iter().any(|k| pin.admits(*k))
    }

    /// The upstreams to try for a request that names none: `None` when every kind is
    /// allowed (no restriction), else the pins of the allowed kinds, in `Pin::ALL` order.
    pub fn pins(&self) -> Option<Vec<Pin>> {
        if self.fields.kinds.is_empty() {
            return None;
        }
        Some(
            Pin::ALL
                .into_iter()
                .filter(|p| self.allows_pin(*p))
                .collect(),
        )
    }

    /// The allow-list as written, for messages.
    pub fn model_list(&self) -> String {
        self.fields.models.join(", ")
    }
}

/// The keys, in memory, and the operations that change them.
#[derive(Clone)]
pub struct KeyService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    usage: UsageService,
    server_key: [u8; 32],
    /// By prefix: what a request looks up.
    by_prefix: ArcSwap<HashMap<Box<str>, Arc<ClientKey>>>,
    /// Counters by id, kept across reloads so a change never resets a key's day.
    counters: Mutex<HashMap<i64, Arc<Counters>>>,
    /// Serialises writes, so two changes cannot swap in maps out of order.
    writer: tokio::sync::Mutex<()>,
}

type HmacSha256 = Hmac<Sha256>;

fn keyed_hash(server_key: &[u8; 32], secret: &str) -> [u8; 32] {
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(server_key).expect("HMAC takes any key length");
    mac.update(secret.as_bytes());
    mac.finalize().into_bytes().into()
}

/// A new secret: `gk-` and 32 random bytes in base64url.
fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Checks what an operator sets, before anything is written.
pub fn validate(name: &str, f: &KeyFields) -> Result<(), KeyError> {
    let bad = |m: String| Err(KeyError::Invalid(m));
    let n = name.trim();
    if n.is_empty() || n.chars().count() > MAX_NAME || n != name {
        return bad(format!(
            "a key name is 1 to {MAX_NAME} characters without leading or trailing spaces"
        ));
    }
    if !n
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ' | '@'))
    {
        return bad("a key name uses letters, digits, spaces and '-', '_', '.', '@'".into());
    }
    if n == BUILTIN_NAME {
        return bad(format!("'{BUILTIN_NAME}' is the built-in key's name"));
    }
    if f.note.chars().count() > MAX_NOTE {
        return bad(format!("a note is at most {MAX_NOTE} characters"));
    }
    if f.models.len() > MAX_PATTERNS {
        return bad(format!("at most {MAX_PATTERNS} model patterns"));
    }
    for p in &f.models {
        ModelPattern::parse(p).map_err(|e| KeyError::Invalid(e.to_string()))?;
    }
    if f.rpm > MAX_RPM {
        return bad(format!("requests per minute is at most {MAX_RPM}"));
    }
    Ok(())
}

impl KeyService {
    /// Loads every key and the server key, and today's counts from the usage rows.
    pub async fn load(store: Store, usage: UsageService) -> Result<Self, StoreError> {
        let server_key = store.run(|db| repo::server_secret(db)).await?;
        let window = usage.day_window();
        let day = window.day.to_string();
        let used = store.run(move |db| repo::usage_on(db, &day)).await?;
        let mut counters = HashMap::new();
        // The built-in key (0) has no limits to start from.
        for (id, requests, tokens) in used.into_iter().filter(|u| u.0 != 0) {
            let c = Counters::default();
            c.seed(window.start_ms, requests, tokens);
            counters.insert(id, Arc::new(c));
        }
        let svc = Self {
            inner: Arc::new(Inner {
                store,
                usage,
                server_key,
                by_prefix: ArcSwap::from_pointee(HashMap::new()),
                counters: Mutex::new(counters),
                writer: tokio::sync::Mutex::new(()),
            }),
        };
        svc.reload().await?;
        Ok(svc)
    }

    /// Reads every row and swaps in a new map.
    async fn reload(&self) -> Result<(), StoreError> {
        let rows = self.inner.store.run(|db| repo::list(db)).await?;
        let mut map = HashMap::with_capacity(rows.len());
        let mut counters = self.inner.counters.lock();
        for row in rows {
            let c = Arc::clone(
                counters
                    .entry(row.id)
                    .or_insert_with(|| Arc::new(Counters::default())),
            );
            let key = live(row, c);
            map.insert(key.prefix.clone().into_boxed_str(), Arc::new(key));
        }
        // Counters of deleted keys go with them.
        let live: std::collections::HashSet<i64> = map.values().map(|k| k.id).collect();
        counters.retain(|id, _| live.contains(id));
        drop(counters);
        self.inner.by_prefix.store(Arc::new(map));
        Ok(())
    }

    /// Re-reads the keys another instance may have created, changed or revoked in a shared
    /// database. Serialised with this instance's own writes, so it never swaps in a map older
    /// than one a write just stored.
    ///
    /// Today's counts are raised to the database's too (every instance's flushed counts), so
    /// a key's daily limits hold across instances, overshot at most by what they count
    /// between two flushes.
    pub async fn resync(&self) -> Result<(), StoreError> {
        let _w = self.inner.writer.lock().await;
        self.reload().await?;
        let window = self.inner.usage.day_window();
        let day = window.day.to_string();
        let used = self
            .inner
            .store
            .run(move |db| repo::usage_on(db, &day))
            .await?;
        let counters = self.inner.counters.lock();
        for (id, requests, tokens) in used {
            if let Some(c) = counters.get(&id) {
                c.raise_to(window.start_ms, requests, tokens);
            }
        }
        Ok(())
    }

    /// The key `presented` is, if it is one of ours (disabled and expired keys included:
    /// the caller decides, see [`ClientKey::usable`]).
    pub fn authenticate(&self, presented: &str) -> Option<Arc<ClientKey>> {
        if presented.len() != KEY_LEN || !presented.starts_with(KEY_PREFIX) {
            return None;
        }
        let prefix = presented.get(..SHOWN)?;
        let map = self.inner.by_prefix.load();
        let key = map.get(prefix)?;
        let digest = keyed_hash(&self.inner.server_key, presented);
        bool::from(digest.ct_eq(&key.hash)).then(|| Arc::clone(key))
    }

    /// Every key, by id.
    pub fn list(&self) -> Vec<Arc<ClientKey>> {
        let mut v: Vec<_> = self.inner.by_prefix.load().values().cloned().collect();
        v.sort_unstable_by_key(|k| k.id);
        v
    }

    pub fn get(&self, id: i64) -> Option<Arc<ClientKey>> {
        self.inner
            .by_prefix
            .load()
            .values()
            .find(|k| k.id == id)
            .cloned()
    }

    /// Today's quota window (for the counters).
    pub fn window(&self) -> crate::usage::DayWindow {
        self.inner.usage.day_window()
    }

    /// Creates a key; returns it with its secret, which is never stored or shown again.
    pub async fn create(
        &self,
        name: String,
        fields: KeyFields,
    ) -> Result<(Arc<ClientKey>, String), KeyError> {
        validate(&name, &fields)?;
        let _w = self.inner.writer.lock().await;
        let secret = new_secret();
        let prefix = secret[..SHOWN].to_string();
        let hash = keyed_hash(&self.inner.server_key, &secret);
        let row = self
            .inner
            .store
            .run(move |db| repo::insert(db, &name, &prefix, &hash, &fields, now_ms()))
            .await?;
        let id = row.id;
        self.reload().await?;
        let key = self.get(id).ok_or(KeyError::NotFound(id))?;
        Ok((key, secret))
    }

    /// Replaces a key's name and fields; effective from the next request.
    pub async fn update(
        &self,
        id: i64,
        name: String,
        fields: KeyFields,
    ) -> Result<Arc<ClientKey>, KeyError> {
        validate(&name, &fields)?;
        let _w = self.inner.writer.lock().await;
        let row = self
            .inner
            .store
            .run(move |db| repo::update(db, id, &name, &fields, now_ms()))
            .await?;
        if row.is_none() {
            return Err(KeyError::NotFound(id));
        }
        self.reload().await?;
        self.get(id).ok_or(KeyError::NotFound(id))
    }

    /// Deletes (revokes) a key; the next request with it is refused.
    pub async fn delete(&self, id: i64) -> Result<(), KeyError> {
        let _w = self.inner.writer.lock().await;
        let gone = self.inner.store.run(move |db| repo::delete(db, id)).await?;
        if !gone {
            return Err(KeyError::NotFound(id));
        }
        self.reload().await?;
        Ok(())
    }
}

/// Puts the keys' names on a usage breakdown (the usage tables know only ids).
pub fn name_usage(keys: &KeyService, stats: &mut crate::usage::AggregatedStats) {
    for k in &mut stats.per_key {
        k.name = match k.key_id {
            0 => Some(BUILTIN_NAME.to_string()),
            id => keys.get(id).map(|k| k.name.to_string()),
        };
    }
}

fn live(row: KeyRow, counters: Arc<Counters>) -> ClientKey {
    let models = row
        .fields
        .models
        .iter()
        .filter_map(|p| match ModelPattern::parse(p) {
            Ok(p) => Some(p),
            Err(e) => {
                // Validated when saved; a row edited by hand loses only the bad pattern, and
                // a list left empty by that would allow everything, so it allows nothing.
                tracing::warn!(key = row.id, error = %e, "ignoring an invalid model pattern");
                None
            }
        })
        .collect::<Vec<_>>();
    let models = if models.is_empty() && !row.fields.models.is_empty() {
        vec![ModelPattern::nothing()]
    } else {
        models
    };
    ClientKey {
        id: row.id,
        name: Arc::from(row.name.as_str()),
        prefix: row.prefix,
        fields: row.fields,
        created_at: row.created_at,
        updated_at: row.updated_at,
        hash: row.secret_hash,
        models,
        counters,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_the_documented_shape_and_hash_by_server_key() {
        let s = new_secret();
        assert_eq!(s.len(), KEY_LEN);
        assert!(s.starts_with(KEY_PREFIX));
        assert_ne!(new_secret(), s);
        let a = keyed_hash(&[1; 32], &s);
        assert_eq!(a, keyed_hash(&[1; 32], &s));
        assert_ne!(
            a,
            keyed_hash(&[2; 32], &s),
            "the server key changes the hash"
        );
    }

    #[test]
    fn names_and_fields_are_validated() {
        let ok = KeyFields {
            enabled: true,
            models: vec!["gemini-2.5-*".into()],
            ..KeyFields::default()
        };
        assert!(validate("team-a", &ok).is_ok());
        assert!(validate("", &ok).is_err());
        assert!(validate(" x", &ok).is_err());
        assert!(validate(BUILTIN_NAME, &ok).is_err());
        assert!(validate("a<b", &ok).is_err());
        let bad = KeyFields {
            models: vec!["gemini*pro".into()],
            ..ok.clone()
        };
        assert!(validate("x", &bad).is_err());
        let bad = KeyFields {
            rpm: MAX_RPM + 1,
            ..ok
        };
        assert!(validate("x", &bad).is_err());
    }
}
