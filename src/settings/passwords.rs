//! The API key and the panel password.
//!
//! API key = API_PASSWORD, else PASSWORD; panel password = PANEL_PASSWORD, else PASSWORD. Each of
//! the three comes from env/file (plaintext, locked) or was saved through the management API (an
//! argon2id hash in the `secrets` table). When PASSWORD is unset and the API key or the panel
//! password would resolve to nothing (in particular when none of the three is set anywhere), a
//! random PASSWORD is generated on first start and only its hash is kept: no surface is ever left
//! without a password, and none falls back to a well-known default.
//!
//! Checks are constant time: plaintext passwords are compared as SHA-256 digests (so the length
//! does not leak), and after one successful argon2 verification the digest of the accepted key is
//! cached, so the per-request cost is one SHA-256 instead of tens of milliseconds of argon2.
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use parking_lot::{Mutex, RwLock};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::{SettingsError, SettingsService};
use crate::store::{self, Store};

pub const MIN_PASSWORD_LEN: usize = 8;
/// 24 random bytes, base64url: 32 characters, 192 bits.
const GENERATED_BYTES: usize = 24;
/// Concurrent argon2 verifications; each takes ~19 MiB and a core for tens of ms, so a flood of
/// wrong keys must queue rather than exhaust CPU and memory.
const ARGON2_PERMITS: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PasswordKind {
    /// API_PASSWORD.
    Api,
    /// PANEL_PASSWORD.
    Panel,
    /// PASSWORD, the fallback for both.
    Shared,
}

impl PasswordKind {
    /// The setting key, also the row name in `secrets`.
    pub fn key(self) -> &'static str {
        match self {
            PasswordKind::Api => "api_password",
            PasswordKind::Panel => "panel_password",
            PasswordKind::Shared => "password",
        }
    }
}

type Digest32 = [u8; 32];

fn sha256(s: &str) -> Digest32 {
    Sha256::digest(s.as_bytes()).into()
}

fn ct_eq(a: &Digest32, b: &Digest32) -> bool {
    bool::from(a.ct_eq(b))
}

/// A saved hash plus the digest of the key that last verified against it. A new password
/// replaces the whole `Arc`, which drops the cache with it.
struct SavedHash {
    phc: String,
    accepted: Mutex<Option<Digest32>>,
}

enum Slot {
    Plain(Digest32),
    Saved(Arc<SavedHash>),
}

#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    /// Digests of env/file passwords; fixed for the life of the process.
    plain: HashMap<PasswordKind, Digest32>,
    saved: RwLock<HashMap<PasswordKind, Arc<SavedHash>>>,
    argon2_permits: Semaphore,
    store: Option<Store>,
    settings: Option<SettingsService>,
    /// See [`Passwords::same_for_api_and_panel`].
    same: AtomicBool,
}

const API_CHAIN: &[PasswordKind] = &[PasswordKind::Api, PasswordKind::Shared];
const PANEL_CHAIN: &[PasswordKind] = &[PasswordKind::Panel, PasswordKind::Shared];

/// Secrets generated on the first start, to be shown once.
#[derive(Default)]
pub struct Generated {
    pub api: Option<String>,
    pub panel: Option<String>,
}

impl Generated {
    pub fn is_empty(&self) -> bool {
        self.api.is_none() && self.panel.is_none()
    }
}

/// Generates a password for `kind` and saves its hash unless another process did first; the
/// plaintext is returned only when this call's hash is the one in force.
async fn generate_and_store(
    store: &Store,
    kind: PasswordKind,
) -> Result<(String, Option<String>), SettingsError> {
    let password = generate_password();
    let phc = hash_blocking_task(password.clone()).await?;
    let stored = phc.clone();
    let key = kind.key();
    // Inserted only if still absent, so two processes racing on a fresh file cannot each
    // believe their own password is the one in force.
    let inserted = store
        .run_tx(move |mut tx| {
            let now = store::now_ms();
            if !store::secrets::insert_if_absent(tx.reborrow(), key, &stored, now)? {
                return Ok(false);
            }
            store::audit::append(
                tx.reborrow(),
                &store::audit::NewAuditEvent {
                    kind: "password.generated".into(),
                    actor: "system".into(),
                    origin: None,
                    subject: Some(key.into()),
                    detail: json!({}),
                },
                now,
            )?;
            Ok(true)
        })
        .await?;
    if inserted {
        return Ok((phc, Some(password)));
    }
    let phc = store
        .run(move |db| store::secrets::get(db, key))
        .await?
        .ok_or_else(|| SettingsError::Hash("generated password vanished".into()))?;
    Ok((phc, None))
}

impl Passwords {
    /// Resolve the passwords. [`Generated`] holds the secrets generated on this start (the
    /// first one), returned exactly once so the caller can print them.
    pub async fn load(
        settings: &SettingsService,
        store: &Store,
    ) -> Result<(Passwords, Generated), SettingsError> {
        let mut plain = HashMap::new();
        let mut plaintext = HashMap::new();
        for kind in [PasswordKind::Api, PasswordKind::Panel, PasswordKind::Shared] {
            if let Some(p) = settings.locked_value(kind.key()) {
                plain.insert(kind, sha256(p));
                plaintext.insert(kind, p.to_string());
            }
        }
        let rows = store.run(|db| store::secrets::get_all(db)).await?;
        let mut saved = HashMap::new();
        for (name, phc) in rows {
            let Some(kind) = kind_of(&name) else { continue };
            saved.insert(kind, saved_hash(phc));
        }

        // Two different secrets, never one for both roles: with one, every API client could
        // also open the panel and export refresh tokens.
        let mut generated = Generated::default();
        for kind in [PasswordKind::Api, PasswordKind::Panel] {
            let has = |k: PasswordKind| plain.contains_key(&k) || saved.contains_key(&k);
            if has(kind) || has(PasswordKind::Shared) {
                continue;
            }
            let (phc, fresh) = generate_and_store(store, kind).await?;
            saved.insert(kind, saved_hash(phc));
            settings.note_secret_saved(kind.key(), true);
            match kind {
                PasswordKind::Api => generated.api = fresh,
                _ => generated.panel = fresh,
            }
        }

        let passwords = Passwords {
            inner: Arc::new(Inner {
                plain,
                saved: RwLock::new(saved),
                argon2_permits: Semaphore::new(ARGON2_PERMITS),
                store: Some(store.clone()),
                settings: Some(settings.clone()),
                same: AtomicBool::new(false),
            }),
        };
        let same = passwords.compute_same(&plaintext).await;
        passwords.inner.same.store(same, Ordering::Release);
        Ok((passwords, generated))
    }

    /// Re-reads the saved hashes another instance may have changed in a shared database: a
    /// password changed on one instance stops working on the others within one resync.
    pub async fn resync(&self) -> Result<(), SettingsError> {
        let Some(store) = &self.inner.store else {
            return Ok(());
        };
        let rows = store.run(|db| store::secrets::get_all(db)).await?;
        let mut now: HashMap<PasswordKind, String> = HashMap::new();
        for (name, phc) in rows {
            if let Some(kind) = kind_of(&name) {
                now.insert(kind, phc);
            }
        }
        let mut saved = self.inner.saved.write();
        saved.retain(|k, _| now.contains_key(k));
        for (kind, phc) in now {
            // An unchanged hash keeps its cache of the digest it accepted.
            if saved.get(&kind).is_none_or(|h| h.phc != phc) {
                saved.insert(kind, saved_hash(phc));
            }
        }
        Ok(())
    }

    /// Whether the API key and the panel password are known to be the same secret: then
    /// every API client can also sign in to the panel.
    pub fn same_for_api_and_panel(&self) -> bool {
        if self.inner.same.load(Ordering::Acquire) {
            return true;
        }
        // Two saved hashes cannot be compared, but once each has accepted a key, their
        // cached digests can.
        let (Some(Slot::Saved(a)), Some(Slot::Saved(p))) =
            (self.slot(API_CHAIN), self.slot(PANEL_CHAIN))
        else {
            return false;
        };
        let (a, p) = (*a.accepted.lock(), *p.accepted.lock());
        matches!((a, p), (Some(a), Some(p)) if ct_eq(&a, &p))
    }

    /// What can be told at startup: the same setting serves both roles, both come from
    /// env/file and are equal, or one from env/file verifies against the other's hash.
    async fn compute_same(&self, plaintext: &HashMap<PasswordKind, String>) -> bool {
        let which = |chain: &[PasswordKind]| {
            chain.iter().copied().find(|k| {
                self.inner.plain.contains_key(k) || self.inner.saved.read().contains_key(k)
            })
        };
        let (Some(api), Some(panel)) = (which(API_CHAIN), which(PANEL_CHAIN)) else {
            return false;
        };
        if api == panel {
            return true;
        }
        match (plaintext.get(&api), plaintext.get(&panel)) {
            (Some(a), Some(p)) => ct_eq(&sha256(a), &sha256(p)),
            (Some(a), None) => self.verify(PANEL_CHAIN, a).await,
            (None, Some(p)) => self.verify(API_CHAIN, p).await,
            (None, None) => false,
        }
    }

    /// Passwords from a plaintext API key only, with no store (tests and tools; also what the
    /// skeleton's `AppState::new` uses until it is wired to `load`).
    pub fn from_plain(api: Option<String>) -> Self {
        let plain = api
            .filter(|p| !p.is_empty())
            .map(|p| (PasswordKind::Api, sha256(&p)))
            .into_iter()
            .collect();
        Passwords {
            inner: Arc::new(Inner {
                plain,
                saved: RwLock::new(HashMap::new()),
                argon2_permits: Semaphore::new(ARGON2_PERMITS),
                store: None,
                settings: None,
                same: AtomicBool::new(false),
            }),
        }
    }

    pub async fn verify_api(&self, candidate: &str) -> bool {
        self.verify(API_CHAIN, candidate).await
    }

    pub async fn verify_panel(&self, candidate: &str) -> bool {
        self.verify(PANEL_CHAIN, candidate).await
    }

    /// Whether env/file sets this password (then `set` refuses).
    pub fn locked(&self, which: PasswordKind) -> bool {
        self.inner.plain.contains_key(&which)
    }

    /// The first of `chain` that is set anywhere decides; the others are not consulted.
    fn slot(&self, chain: &[PasswordKind]) -> Option<Slot> {
        let saved = self.inner.saved.read();
        chain.iter().find_map(|k| {
            self.inner
                .plain
                .get(k)
                .map(|d| Slot::Plain(*d))
                .or_else(|| saved.get(k).map(|s| Slot::Saved(s.clone())))
        })
    }

    async fn verify(&self, chain: &[PasswordKind], candidate: &str) -> bool {
        if candidate.is_empty() {
            return false;
        }
        let digest = sha256(candidate);
        let saved = match self.slot(chain) {
            None => return false,
            Some(Slot::Plain(expected)) => return ct_eq(&expected, &digest),
            Some(Slot::Saved(s)) => s,
        };
        let cached = *saved.accepted.lock();
        if let Some(accepted) = cached {
            // Only one key verifies against a hash, so a different digest is wrong without
            // running argon2: floods of wrong keys cost one SHA-256 each.
            return ct_eq(&accepted, &digest);
        }
        let Ok(_permit) = self.inner.argon2_permits.acquire().await else {
            return false;
        };
        let phc = saved.phc.clone();
        let candidate = candidate.to_string();
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&phc)
                .map(|h| {
                    Argon2::default()
                        .verify_password(candidate.as_bytes(), &h)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        if ok {
            *saved.accepted.lock() = Some(digest);
        }
        ok
    }

    /// Save a new password as an argon2id hash (in a transaction, with an audit event).
    /// Changes whenever the panel or shared password hash is saved, so sessions signed before
    /// a password change stop validating. Env passwords are fixed for the life of the process,
    /// so only the stored hashes can move.
    pub async fn panel_epoch(&self) -> Result<String, store::StoreError> {
        let rows = match &self.inner.store {
            Some(s) => s.run(|db| store::secrets::get_all(db)).await?,
            None => Vec::new(),
        };
        let mut h = Sha256::new();
        for (name, phc) in rows {
            if name == "panel_password" || name == "password" {
                h.update(name.as_bytes());
                h.update([0]);
                h.update(phc.as_bytes());
                h.update([0]);
            }
        }
        Ok(hex::encode(&h.finalize()[..12]))
    }

    pub async fn set(&self, which: PasswordKind, new: &str) -> Result<(), SettingsError> {
        if self.locked(which) {
            let (source, origin) = self
                .inner
                .settings
                .as_ref()
                .and_then(|s| s.locked_origin(which.key()))
                .unwrap_or((super::Source::Env, "the environment".into()));
            return Err(SettingsError::Locked {
                key: which.key().into(),
                layer: source,
                origin,
            });
        }
        if new.chars().count() < MIN_PASSWORD_LEN {
            return Err(SettingsError::PasswordTooShort {
                min: MIN_PASSWORD_LEN,
            });
        }
        let Some(store) = &self.inner.store else {
            return Err(SettingsError::NotWritable {
                key: which.key().into(),
                reason: "these passwords were built without a store".into(),
            });
        };
        let phc = {
            let _permit = self
                .inner
                .argon2_permits
                .acquire()
                .await
                .map_err(|e| SettingsError::Hash(e.to_string()))?;
            hash_blocking_task(new.to_string()).await?
        };
        let stored = phc.clone();
        let key = which.key();
        let event = crate::security::audit::event("password.set", Some(key.into()), json!({}));
        store
            .run_tx(move |mut tx| {
                let now = store::now_ms();
                store::secrets::put(tx.reborrow(), key, &stored, now)?;
                store::audit::append(tx.reborrow(), &event, now)?;
                Ok(())
            })
            .await?;
        self.inner.saved.write().insert(which, saved_hash(phc));
        if let Some(s) = &self.inner.settings {
            s.note_secret_saved(key, true);
        }
        tracing::info!(password = key, "password changed");
        let same = self.verify(API_CHAIN, new).await && self.verify(PANEL_CHAIN, new).await;
        self.inner.same.store(same, Ordering::Release);
        if same {
            warn_same();
        }
        Ok(())
    }
}

/// Said at startup and whenever a change makes the two secrets equal.
pub fn warn_same() {
    tracing::warn!(
        "the API key and the panel password are the same: every API client can open the panel and export credentials; set API_PASSWORD and PANEL_PASSWORD to different values"
    );
}

/// The password a `secrets` row holds, by the row's name.
fn kind_of(name: &str) -> Option<PasswordKind> {
    match name {
        "api_password" => Some(PasswordKind::Api),
        "panel_password" => Some(PasswordKind::Panel),
        "password" => Some(PasswordKind::Shared),
        _ => None,
    }
}

fn saved_hash(phc: String) -> Arc<SavedHash> {
    Arc::new(SavedHash {
        phc,
        accepted: Mutex::new(None),
    })
}

fn generate_password() -> String {
    use base64::Engine;
    let bytes: [u8; GENERATED_BYTES] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn hash_blocking_task(password: String) -> Result<String, SettingsError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| SettingsError::Hash(e.to_string()))?
}

/// argon2id with the crate's default (OWASP-recommended) parameters.
fn hash_password(password: &str) -> Result<String, SettingsError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|e| SettingsError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| SettingsError::Hash(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn plain_api_key_is_checked_by_digest() {
        let p = Passwords::from_plain(Some("correct horse".into()));
        assert!(p.verify_api("correct horse").await);
        assert!(!p.verify_api("correct hors").await);
        assert!(!p.verify_api("").await);
        assert!(!p.verify_panel("correct horse").await);
        assert!(p.locked(PasswordKind::Api));
    }

    #[test]
    fn generated_passwords_are_long_and_url_safe() {
        let a = generate_password();
        assert!(a.len() >= 24);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(a, generate_password());
    }

    #[test]
    fn hashes_are_argon2id() {
        let h = hash_password("hunter22").unwrap();
        assert!(h.starts_with("$argon2id$"));
        let parsed = PasswordHash::new(&h).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"hunter22", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"hunter23", &parsed)
                .is_err()
        );
    }
}
