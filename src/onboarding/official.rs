//! Adding keys and service accounts to the pool: pasted keys (the kind is where they were
//! pasted), service-account files (uploads sorted by content), and the environment
//! (`GEMINI_API_KEYS`, `VERTEX_EXPRESS_KEYS`, `VERTEX_CREDS_<n>`), which loads at every start
//! whenever set. Each new one is checked with Google first (`check.rs`); a dead one is refused
//! with the reason, a duplicate (same key, or same account and key id) is skipped, so loading
//! the same environment again changes nothing.
use std::collections::HashMap;

use futures_util::StreamExt;

use super::check::{Checked, check_key, check_service_account};
use super::import::official::{KeyError, PastedKey, ServiceAccountFile, key_label, parse_keys};
use crate::google::kind::CredentialKind;
use crate::pool::admin::{ImportOutcome, ImportedItem, SkippedItem};
use crate::pool::service::PoolService;
use crate::store::StoreError;
use crate::store::credentials::{self as repo, CredentialSource, NewCredential};

/// Checks run at once: enough to import hundreds of keys quickly, few enough to stay polite.
const CHECKS_AT_ONCE: usize = 8;
pub const GEMINI_KEYS_ENV: &str = "GEMINI_API_KEYS";
pub const EXPRESS_KEYS_ENV: &str = "VERTEX_EXPRESS_KEYS";
pub const VERTEX_CREDS_PREFIX: &str = "VERTEX_CREDS_";

/// One credential to add, with what identifies it for the report.
struct Candidate {
    /// Shown in the report (a key label or a file name), never the secret.
    shown: String,
    fingerprint: String,
    kind: CredentialKind,
    secret: Secret,
}

enum Secret {
    Key(PastedKey),
    File(Box<ServiceAccountFile>),
}

impl Candidate {
    fn new_credential(
        &self,
        source: CredentialSource,
        models: Option<Vec<String>>,
    ) -> NewCredential {
        match &self.secret {
            Secret::Key(k) => k.to_new_credential(source, models),
            Secret::File(f) => f.to_new_credential(source),
        }
    }
}

async fn check(pool: &PoolService, probe_model: &str, c: &Candidate) -> Checked {
    let up = pool.upstream();
    match &c.secret {
        Secret::Key(k) => check_key(up, c.kind, &k.key, probe_model).await,
        Secret::File(f) => check_service_account(up, &f.key).await,
    }
}

/// Checks and stores candidates not already in the pool; everything is reported.
async fn add_checked(
    pool: &PoolService,
    candidates: Vec<Candidate>,
    source: CredentialSource,
    probe_model: &str,
) -> Result<ImportOutcome, StoreError> {
    let mut out = ImportOutcome::default();
    let rows = pool.store().run(|db| repo::list(db)).await?;
    let mut seen: HashMap<String, String> = rows
        .iter()
        .filter_map(|r| Some((r.secret_sha256.clone()?, r.name.clone())))
        .collect();
    let mut fresh = Vec::new();
    for c in candidates {
        match seen.get(&c.fingerprint) {
            Some(existing) => out.duplicates.push(SkippedItem {
                name: c.shown.clone(),
                reason: format!("already in the pool as \"{existing}\""),
            }),
            None => {
                seen.insert(c.fingerprint.clone(), c.shown.clone());
                fresh.push(c);
            }
        }
    }
    let checked: Vec<(Candidate, Checked)> = futures_util::stream::iter(fresh)
        .map(|c| async move {
            let verdict = check(pool, probe_model, &c).await;
            (c, verdict)
        })
        .buffered(CHECKS_AT_ONCE)
        .collect()
        .await;
    for (c, verdict) in checked {
        let (models, note) = match verdict {
            Checked::Dead(reason) => {
                tracing::warn!(credential = %c.shown, kind = %c.kind, reason = %reason, "credential refused at import");
                out.rejected.push(SkippedItem {
                    name: c.shown,
                    reason,
                });
                continue;
            }
            Checked::Alive { models } => (models, None),
            Checked::Unchecked(why) => {
                tracing::warn!(credential = %c.shown, kind = %c.kind, why = %why, "credential stored without a check");
                (None, Some(format!("not checked: {why}")))
            }
        };
        let new = c.new_credential(source, models);
        let name = new.name.clone();
        match pool.add(new).await {
            Ok(id) => out.imported.push(ImportedItem { id, name, note }),
            Err(e) => out.rejected.push(SkippedItem {
                name: c.shown,
                reason: e.to_string(),
            }),
        }
    }
    tracing::info!(
        source = source.as_str(),
        imported = out.imported.len(),
        duplicates = out.duplicates.len(),
        rejected = out.rejected.len(),
        "keys and service accounts imported"
    );
    Ok(out)
}

fn key_candidates(
    parsed: Vec<super::import::official::ParsedEntry>,
    out: &mut ImportOutcome,
) -> Vec<Candidate> {
    parsed
        .into_iter()
        .filter_map(|entry| match entry {
            Ok(k) => Some(Candidate {
                shown: key_label(&k.key),
                fingerprint: k.fingerprint(),
                kind: k.kind,
                secret: Secret::Key(k),
            }),
            Err((at, e)) => {
                out.rejected.push(SkippedItem {
                    name: at,
                    reason: e.to_string(),
                });
                None
            }
        })
        .collect()
}

/// Pasted API keys of `kind` (many at once; `KEY@group` names a key's quota group, `group`
/// applies to the others).
pub async fn import_keys(
    pool: &PoolService,
    kind: CredentialKind,
    text: &str,
    group: Option<&str>,
    source: CredentialSource,
    probe_model: &str,
) -> Result<ImportOutcome, ImportKeysError> {
    if !kind.is_api_key() {
        return Err(ImportKeysError::NotAKeyKind(kind));
    }
    let parsed = parse_keys(kind, text, group)?;
    let mut out = ImportOutcome::default();
    let candidates = key_candidates(parsed, &mut out);
    let added = add_checked(pool, candidates, source, probe_model).await?;
    out.merge(added);
    Ok(out)
}

/// Keys read from exported key files.
pub async fn import_key_list(
    pool: &PoolService,
    keys: Vec<PastedKey>,
    source: CredentialSource,
    probe_model: &str,
) -> Result<ImportOutcome, StoreError> {
    let mut out = ImportOutcome::default();
    let candidates = key_candidates(keys.into_iter().map(Ok).collect(), &mut out);
    out.merge(add_checked(pool, candidates, source, probe_model).await?);
    Ok(out)
}

/// Service-account key files (each with the file name it came under).
pub async fn import_service_accounts(
    pool: &PoolService,
    files: Vec<(String, ServiceAccountFile)>,
    source: CredentialSource,
) -> Result<ImportOutcome, StoreError> {
    let candidates = files
        .into_iter()
        .map(|(shown, f)| Candidate {
            shown,
            fingerprint: f.fingerprint(),
            kind: CredentialKind::VertexServiceAccount,
            secret: Secret::File(Box::new(f)),
        })
        .collect();
    add_checked(pool, candidates, source, "").await
}

/// `GEMINI_API_KEYS`, `VERTEX_EXPRESS_KEYS` and `VERTEX_CREDS_<n>` (raw or base64 JSON).
pub async fn import_env(
    pool: &PoolService,
    env: &HashMap<String, String>,
    probe_model: &str,
) -> Result<ImportOutcome, StoreError> {
    let mut out = ImportOutcome::default();
    let mut candidates = Vec::new();
    for (var, kind) in [
        (GEMINI_KEYS_ENV, CredentialKind::GeminiApiKey),
        (EXPRESS_KEYS_ENV, CredentialKind::VertexExpressKey),
    ] {
        let Some(text) = env.get(var).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        match parse_keys(kind, text, None) {
            Ok(parsed) => candidates.extend(key_candidates(parsed, &mut out)),
            Err(e) => out.rejected.push(SkippedItem {
                name: var.to_string(),
                reason: e.to_string(),
            }),
        }
    }
    let mut vars: Vec<&String> = env
        .keys()
        .filter(|k| k.starts_with(VERTEX_CREDS_PREFIX) && k.len() > VERTEX_CREDS_PREFIX.len())
        .filter(|k| !env[*k].trim().is_empty())
        .collect();
    vars.sort();
    for var in vars {
        let file = super::import::decode_env_json(&env[var])
            .map_err(|e| e.to_string())
            .and_then(|v| ServiceAccountFile::parse(v).map_err(|e| e.to_string()));
        match file {
            Ok(f) => candidates.push(Candidate {
                shown: var.clone(),
                fingerprint: f.fingerprint(),
                kind: CredentialKind::VertexServiceAccount,
                secret: Secret::File(Box::new(f)),
            }),
            Err(reason) => out.rejected.push(SkippedItem {
                name: var.clone(),
                reason,
            }),
        }
    }
    if candidates.is_empty() && out.rejected.is_empty() {
        return Ok(out);
    }
    regroup(pool, &candidates).await?;
    let added = add_checked(pool, candidates, CredentialSource::Env, probe_model).await?;
    out.merge(added);
    Ok(out)
}

/// A key stored from the environment takes the quota group the environment gives it now (an
/// `@group` added, changed or removed since the last start), as settings from the environment
/// do. A key added through the panel or the API keeps the group set there.
async fn regroup(pool: &PoolService, candidates: &[Candidate]) -> Result<(), StoreError> {
    let rows = pool.store().run(|db| repo::list(db)).await?;
    for c in candidates {
        let Secret::Key(k) = &c.secret else {
            continue;
        };
        let stored = rows
            .iter()
            .find(|r| r.secret_sha256.as_deref() == Some(c.fingerprint.as_str()));
        let Some(row) = stored else { continue };
        if row.source != CredentialSource::Env || row.quota_group == k.group {
            continue;
        }
        pool.set_quota_group(row.id, k.group.clone()).await?;
        tracing::info!(credential = row.id, from = ?row.quota_group, to = ?k.group,
            "quota group taken from the environment");
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum ImportKeysError {
    #[error("{0} is not a kind of API key: paste Gemini API keys or Vertex express keys")]
    NotAKeyKind(CredentialKind),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
