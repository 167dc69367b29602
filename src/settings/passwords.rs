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
}

impl Passwords {
    /// Resolve the passwords; the `Option<String>` is a freshly generated password, returned
    /// exactly once (on the first start) so the caller can print it.
    pub async fn load(
        settings: &SettingsService,
        store: &Store,
    ) -> Result<(Passwords, Option<String>), SettingsError> {
        let mut plain = HashMap::new();
        for kind in [PasswordKind::Api, PasswordKind::Panel, PasswordKind::Shared] {
            if let Some(p) = settings.locked_value(kind.key()) {
                plain.insert(kind, sha256(p));
            }
        }
        let rows = store.call(store::secrets::get_all).await?;
        let mut saved = HashMap::new();
        for (name, phc) in rows {
            let kind = match name.as_str() {
                "api_password" => PasswordKind::Api,
                "panel_password" => PasswordKind::Panel,
                "password" => PasswordKind::Shared,
                _ => continue,
            };
            saved.insert(kind, saved_hash(phc));
        }

        let mut generated = None;
        let has = |k: PasswordKind| plain.contains_key(&k) || saved.contains_key(&k);
        let covered =
            has(PasswordKind::Shared) || (has(PasswordKind::Api) && has(PasswordKind::Panel));
        if !covered {
            let password = generate_password();
            let phc = hash_blocking_task(password.clone()).await?;
            let stored = phc.clone();
            // Inserted only if still absent, so two processes racing on a fresh file cannot
            // each believe their own password is the one in force.
            let inserted = store
                .tx(move |tx| {
                    if store::secrets::get(tx, "password")?.is_some() {
                        return Ok(false);
                    }
                    let now = store::now_ms();
                    store::secrets::put(tx, "password", &stored, now)?;
                    store::audit::append(
                        tx,
                        &store::audit::NewAuditEvent {
                            kind: "password.generated".into(),
                            actor: "system".into(),
                            subject: Some("password".into()),
                            detail: json!({}),
                        },
                        now,
                    )?;
                    Ok(true)
                })
                .await?;
            let phc = if inserted {
                generated = Some(password);
                phc
            } else {
                store
                    .call(|c| store::secrets::get(c, "password"))
                    .await?
                    .ok_or_else(|| SettingsError::Hash("generated password vanished".into()))?
            };
            saved.insert(PasswordKind::Shared, saved_hash(phc));
            settings.note_secret_saved(PasswordKind::Shared.key(), true);
            tracing::warn!("no password configured: generated one (printed once at startup)");
        }

        Ok((
            Passwords {
                inner: Arc::new(Inner {
                    plain,
                    saved: RwLock::new(saved),
                    argon2_permits: Semaphore::new(ARGON2_PERMITS),
                    store: Some(store.clone()),
                    settings: Some(settings.clone()),
                }),
            },
            generated,
        ))
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
            }),
        }
    }

    pub async fn verify_api(&self, candidate: &str) -> bool {
        self.verify(&[PasswordKind::Api, PasswordKind::Shared], candidate)
            .await
    }

    pub async fn verify_panel(&self, candidate: &str) -> bool {
        self.verify(&[PasswordKind::Panel, PasswordKind::Shared], candidate)
            .await
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
            Some(s) => s.call(store::secrets::get_all).await?,
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
        store
            .tx(move |tx| {
                let now = store::now_ms();
                store::secrets::put(tx, key, &stored, now)?;
                store::audit::append(
                    tx,
                    &store::audit::NewAuditEvent {
                        kind: "password.set".into(),
                        actor: "api".into(),
                        subject: Some(key.into()),
                        detail: json!({}),
                    },
                    now,
                )?;
                Ok(())
            })
            .await?;
        self.inner.saved.write().insert(which, saved_hash(phc));
        if let Some(s) = &self.inner.settings {
            s.note_secret_saved(key, true);
        }
        tracing::info!(password = key, "password changed");
        Ok(())
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
