//! Credential management as service functions: import (uploads, env, the credentials
//! directory), export, delete, identify (project + e-mail). The management API and the panel
//! call these; no logic lives in handlers.
use crate::store::pg_coord::PoolChange;
use std::collections::HashMap;

use futures_util::StreamExt;
use serde::Serialize;

use super::CredId;
use super::service::PoolService;
use crate::google::code_assist;
use crate::google::discovery;
use crate::onboarding::check::{Checked, check_code_assist};
use crate::onboarding::import::{
    Duplicate, ExistingKey, ImportReport, ImportedCredential, ZipLimits, dedup_batch,
    find_duplicate, merge_sources, parse_env, parse_upload, scan_dir,
};
use crate::onboarding::official;

/// Uploaded files checked with Google at once.
const CHECKS_AT_ONCE: usize = 8;
use crate::security::audit;
use crate::settings::Settings;
use crate::store::credentials::{self as repo, CredentialRow, CredentialSource};
use crate::store::{StoreError, now_ms};
use serde_json::json;

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ImportOutcome {
    pub imported: Vec<ImportedItem>,
    /// Already present (same refresh token, or same e-mail and project); not added twice.
    pub duplicates: Vec<SkippedItem>,
    pub rejected: Vec<SkippedItem>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ImportedItem {
    pub id: CredId,
    pub name: String,
    /// Something the operator should know (a key stored without a check, say).
    pub note: Option<String>,
}

impl ImportOutcome {
    pub fn merge(&mut self, other: ImportOutcome) {
        self.imported.extend(other.imported);
        self.duplicates.extend(other.duplicates);
        self.rejected.extend(other.rejected);
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SkippedItem {
    pub name: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Import(#[from] crate::onboarding::import::ImportError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("credential {0} not found")]
    NotFound(CredId),
}

/// Longest quota-group label; it names a Google project, which has at most 30 characters, but
/// operators may use their own names.
pub const MAX_GROUP_LEN: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaGroupError {
    #[error("a quota group has at most {MAX_GROUP_LEN} characters")]
    TooLong,
    #[error("a quota group uses letters, digits, '.', '-', '_' and ':' only")]
    BadChar,
}

/// A quota-group label as typed: trimmed; empty means none.
pub fn parse_quota_group(s: &str) -> Result<Option<String>, QuotaGroupError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().count() > MAX_GROUP_LEN {
        return Err(QuotaGroupError::TooLong);
    }
    if !s
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
    {
        return Err(QuotaGroupError::BadChar);
    }
    Ok(Some(s.to_string()))
}

fn key_of(row: &CredentialRow) -> ExistingKey {
    ExistingKey {
        name: row.name.clone(),
        refresh_token_sha256: row.refresh_token_sha256.clone().unwrap_or_default(),
        email: row.email.clone(),
        project_id: row.project_id.clone(),
    }
}

impl PoolService {
    /// Stores every credential of `report` that is not already present. Each one is written
    /// in its own transaction: one bad row never blocks the others.
    pub async fn import_report(
        &self,
        report: ImportReport,
        source: CredentialSource,
    ) -> Result<ImportOutcome, StoreError> {
        let mut out = ImportOutcome {
            rejected: report
                .rejected
                .into_iter()
                .map(|(name, reason)| SkippedItem { name, reason })
                .collect(),
            ..Default::default()
        };
        let (kept, batch_dups) = dedup_batch(report.imported);
        out.duplicates
            .extend(batch_dups.into_iter().map(|(name, d)| SkippedItem {
                name,
                reason: d.to_string(),
            }));
        let rows = self.store().run(|db| repo::list(db)).await?;
        let mut existing: Vec<ExistingKey> = rows.iter().map(key_of).collect();
        // An upload is checked with Google before it is stored: a dead file is refused with
        // the reason instead of joining the pool to fail on first use. Files already in the
        // pool are not asked about again. (Startup imports are not checked: the pool finds out
        // on first use, and a start does not wait on Google.)
        let mut notes: HashMap<String, String> = HashMap::new();
        let kept = if source == CredentialSource::Upload {
            let (fresh, dups): (Vec<_>, Vec<_>) = kept
                .into_iter()
                .partition(|c| find_duplicate(c, &existing).is_none());
            let up = self.upstream().clone();
            let checked: Vec<(ImportedCredential, Checked)> = futures_util::stream::iter(fresh)
                .map(|mut c| {
                    let up = up.clone();
                    async move {
                        let verdict = check_code_assist(&up, &mut c).await;
                        (c, verdict)
                    }
                })
                .buffered(CHECKS_AT_ONCE)
                .collect()
                .await;
            let mut alive = dups;
            for (c, verdict) in checked {
                match verdict {
                    Checked::Dead(reason) => {
                        tracing::warn!(credential = %c.name, reason = %reason, "credential refused at import");
                        out.rejected.push(SkippedItem {
                            name: c.name,
                            reason,
                        });
                    }
                    Checked::Unchecked(why) => {
                        tracing::warn!(credential = %c.name, why = %why, "credential stored without a check");
                        notes.insert(c.name.clone(), format!("not checked: {why}"));
                        alive.push(c);
                    }
                    Checked::Alive { .. } => {
                        if c.project_id.is_none() {
                            notes.insert(
                                c.name.clone(),
                                "the sign-in works, but Google has no Code Assist project for \
                                 this account yet: see its status"
                                    .into(),
                            );
                        }
                        alive.push(c);
                    }
                }
            }
            alive
        } else {
            kept
        };
        for cred in kept {
            if let Some(dup) = find_duplicate(&cred, &existing) {
                if source == CredentialSource::Env
                    && self.take_over_dir_copy(&rows, &dup, &cred).await?
                {
                    continue;
                }
                out.duplicates.push(SkippedItem {
                    name: cred.name.clone(),
                    reason: dup.to_string(),
                });
                continue;
            }
            let mut new = cred.to_new_credential(source);
            let names: Vec<&str> = existing.iter().map(|k| k.name.as_str()).collect();
            new.name = unique_name(&new.name, &names);
            let name = new.name.clone();
            match self.add(new).await {
                Ok(id) => {
                    existing.push(ExistingKey {
                        name: name.clone(),
                        ..ExistingKey::from(&cred)
                    });
                    out.imported.push(ImportedItem {
                        id,
                        note: notes.remove(&cred.name),
                        name,
                    });
                    if cred.project_id.is_none() || cred.email.is_none() {
                        self.spawn_identify(id);
                    }
                }
                Err(e) => out.rejected.push(SkippedItem {
                    name,
                    reason: e.to_string(),
                }),
            }
        }
        tracing::info!(
            source = source.as_str(),
            imported = out.imported.len(),
            duplicates = out.duplicates.len(),
            rejected = out.rejected.len(),
            "credentials imported"
        );
        Ok(out)
    }

    /// Env credentials win over directory files for the same account: the row keeps its id
    /// and history, and takes the env secrets.
    async fn take_over_dir_copy(
        &self,
        rows: &[CredentialRow],
        dup: &Duplicate,
        cred: &ImportedCredential,
    ) -> Result<bool, StoreError> {
        let Some(row) = rows
            .iter()
            .find(|r| r.name == dup.existing() && r.source == CredentialSource::Dir)
        else {
            return Ok(false);
        };
        let (id, payload, sha) = (row.id, cred.payload(), cred.refresh_token_sha256());
        let p2 = payload.clone();
        self.store()
            .run_tx(move |db| {
                repo::replace_payload(db, id, &p2, CredentialSource::Env, &sha, now_ms())
            })
            .await?;
        let state = self.state(id).unwrap_or_default();
        let profile = self.profile(id).unwrap_or_default();
        self.insert_loaded(id, profile, &payload, state);
        Ok(true)
    }

    /// An uploaded `.json` or `.zip`.
    pub async fn import_upload(
        &self,
        filename: &str,
        bytes: &[u8],
    ) -> Result<ImportOutcome, AdminError> {
        let mut report = parse_upload(filename, bytes, &ZipLimits::default())?;
        let files = std::mem::take(&mut report.service_accounts);
        let keys = std::mem::take(&mut report.keys);
        let mut out = self.import_report(report, CredentialSource::Upload).await?;
        if !files.is_empty() {
            out.merge(
                official::import_service_accounts(self, files, CredentialSource::Upload).await?,
            );
        }
        if !keys.is_empty() {
            let probe = self.probe_model();
            out.merge(
                official::import_key_list(self, keys, CredentialSource::Upload, &probe).await?,
            );
        }
        Ok(out)
    }

    /// `GCLI_CREDS_*` / `GOOGLE_CREDENTIALS`, and the keys and service accounts of
    /// `GEMINI_API_KEYS`, `VERTEX_EXPRESS_KEYS` and `VERTEX_CREDS_*`, from an environment map.
    pub async fn import_env(
        &self,
        env: &HashMap<String, String>,
    ) -> Result<ImportOutcome, StoreError> {
        let mut out = self
            .import_report(parse_env(env), CredentialSource::Env)
            .await?;
        out.merge(official::import_env(self, env, &self.probe_model()).await?);
        Ok(out)
    }

    /// Startup import: the credentials directory, plus env credentials when enabled; env wins
    /// over the directory for the same account. Keys and service accounts in the environment
    /// (`GEMINI_API_KEYS`, `VERTEX_EXPRESS_KEYS`, `VERTEX_CREDS_*`) load whenever they are set:
    /// setting them is the opt-in. Service-account files in the directory load too.
    pub async fn import_at_start(
        &self,
        s: &Settings,
        env: &HashMap<String, String>,
    ) -> Result<ImportOutcome, StoreError> {
        let mut dir = if s.credentials_dir.is_dir() {
            scan_dir(&s.credentials_dir, &ZipLimits::default())
        } else {
            ImportReport::default()
        };
        let dir_accounts = std::mem::take(&mut dir.service_accounts);
        let dir_keys = std::mem::take(&mut dir.keys);
        let mut envs = if s.auto_load_env_creds {
            parse_env(env)
        } else {
            ImportReport::default()
        };
        // GCLI_CREDS_* holding a service-account key is a Vertex credential.
        let env_accounts = std::mem::take(&mut envs.service_accounts);
        let mut out = ImportOutcome::default();
        for (name, reason) in dir.rejected.iter().chain(envs.rejected.iter()) {
            out.rejected.push(SkippedItem {
                name: name.clone(),
                reason: reason.clone(),
            });
        }
        let (merged, notes) = merge_sources(envs, dir);
        for n in notes {
            tracing::info!(note = %n, "credential source precedence");
        }
        for source in [CredentialSource::Env, CredentialSource::Dir] {
            let imported = merged
                .iter()
                .filter(|(s, _)| *s == source)
                .map(|(_, c)| c.clone())
                .collect();
            let part = self
                .import_report(
                    ImportReport {
                        imported,
                        ..ImportReport::default()
                    },
                    source,
                )
                .await?;
            out.imported.extend(part.imported);
            out.rejected.extend(part.rejected);
            // Re-reading the same files on every start is normal; only report new duplicates.
            out.duplicates.extend(
                part.duplicates
                    .into_iter()
                    .filter(|d| !d.reason.contains("same refresh token")),
            );
        }
        let probe = self.probe_model();
        let official = official::import_env(self, env, &probe).await?;
        let files =
            official::import_service_accounts(self, env_accounts, CredentialSource::Env).await?;
        let dir_files =
            official::import_service_accounts(self, dir_accounts, CredentialSource::Dir).await?;
        let dir_keys =
            official::import_key_list(self, dir_keys, CredentialSource::Dir, &probe).await?;
        for part in [official, files, dir_files, dir_keys] {
            out.imported.extend(part.imported);
            out.rejected.extend(part.rejected);
            // The same keys at every start are normal, not news.
        }
        Ok(out)
    }

    pub async fn export_one(&self, id: CredId) -> Result<(String, serde_json::Value), AdminError> {
        let row = self
            .store()
            .run(move |db| repo::get(db, id))
            .await?
            .ok_or(AdminError::NotFound(id))?;
        let doc = export_document(&row)?;
        let detail = json!({ "name": row.name });
        audit::record(
            self.store(),
            "credential.export",
            Some(id.to_string()),
            detail,
        )
        .await;
        Ok((row.name, doc))
    }

    /// Every credential as a ZIP that `import_upload` accepts.
    pub async fn export_all(&self) -> Result<Vec<u8>, AdminError> {
        let rows = self.store().run(|db| repo::list(db)).await?;
        let docs = rows
            .iter()
            .map(|r| Ok((r.name.clone(), export_document(r)?)))
            .collect::<Result<Vec<_>, AdminError>>()?;
        let zip = crate::onboarding::import::export_zip_documents(&docs)?;
        let detail = json!({ "count": docs.len() });
        audit::record(self.store(), "credential.export_all", None, detail).await;
        Ok(zip)
    }

    /// Names the Google project a credential's quota belongs to (`None`: its own group).
    pub async fn set_quota_group(
        &self,
        id: CredId,
        group: Option<String>,
    ) -> Result<bool, StoreError> {
        let g = group.clone();
        let origin = self.origin();
        let found = self
            .store()
            .run_tx(move |mut db| {
                let found = repo::set_quota_group(db.reborrow(), id, g.as_deref(), now_ms())?;
                if let (true, Some(origin)) = (found, &origin) {
                    let change = PoolChange::Reload { credential_id: id };
                    super::service::publish(db, origin, change)?;
                }
                Ok(found)
            })
            .await?;
        if found {
            let detail = json!({ "group": group });
            audit::record(
                self.store(),
                "credential.quota_group",
                Some(id.to_string()),
                detail,
            )
            .await;
            self.set_group_in_memory(id, group);
        }
        Ok(found)
    }

    /// Every stored credential, for listings that need names next to ids.
    pub async fn list(&self) -> Result<Vec<repo::CredentialRow>, StoreError> {
        self.store().run(|db| repo::list(db)).await
    }

    /// One stored credential, or `None` when it does not exist.
    pub async fn get(&self, id: CredId) -> Result<Option<repo::CredentialRow>, StoreError> {
        self.store().run(move |db| repo::get(db, id)).await
    }

    pub async fn delete(&self, id: CredId) -> Result<bool, StoreError> {
        let origin = self.origin();
        let gone = self
            .store()
            .run_tx(move |mut db| {
                let gone = repo::delete(db.reborrow(), id)?;
                if let (true, Some(origin)) = (gone, &origin) {
                    let change = PoolChange::Reload { credential_id: id };
                    super::service::publish(db, origin, change)?;
                }
                Ok(gone)
            })
            .await?;
        if gone {
            self.remove(id);
            audit::record(
                self.store(),
                "credential.delete",
                Some(id.to_string()),
                json!({}),
            )
            .await;
        }
        Ok(gone)
    }

    /// Learns the account's project (Gemini CLI's discovery flow) and e-mail (userinfo). Keys
    /// and service accounts have nothing to discover: their project is the operator's group or
    /// the key file's.
    pub async fn identify(&self, id: CredId) -> Result<(), super::service::TokenError> {
        if self
            .profile(id)
            .is_some_and(|p| p.kind != crate::google::kind::CredentialKind::CodeAssist)
        {
            return Ok(());
        }
        let token = self.access_token(id).await?;
        let current = self.state(id).unwrap_or_default();
        let up = self.upstream().clone();
        let project = match current.project_id.clone() {
            Some(p) => Some(p),
            None => {
                match discovery::discover(&up, &token, None, std::time::Duration::from_secs(2), 30)
                    .await
                {
                    Ok(found) => Some(found.project_id),
                    Err(e) => {
                        let link = match &e {
                            discovery::DiscoveryError::ValidationRequired { link, .. } => {
                                link.clone()
                            }
                            _ => None,
                        };
                        // Only what the account owner must fix is kept on the credential; a
                        // network failure is simply retried on next use.
                        if !matches!(
                            e,
                            discovery::DiscoveryError::Upstream(_)
                                | discovery::DiscoveryError::OnboardingTimeout
                        ) {
                            self.ban(
                                id,
                                super::BanKind::Ineligible,
                                &e.to_string(),
                                link.as_deref(),
                            )
                            .await;
                        }
                        return Err(super::service::TokenError::NoProject(e.to_string()));
                    }
                }
            }
        };
        let email = match current.email.clone() {
            Some(e) => Some(e),
            None => code_assist::user_email(&up, &token).await.ok().flatten(),
        };
        self.set_identity(id, email, project, current.tier).await;
        Ok(())
    }

    fn spawn_identify(&self, id: CredId) {
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.identify(id).await {
                tracing::warn!(credential = id, error = %e, "could not identify imported credential");
            }
        });
    }
}

/// The file an export holds for a row: Gemini CLI's format for Code Assist, the key file for a
/// service account, `{type, api_key, quota_group}` for an API key. Each is read back by an
/// upload (sorted by content).
pub(crate) fn export_document(row: &CredentialRow) -> Result<serde_json::Value, AdminError> {
    use crate::google::kind::CredentialKind;
    Ok(match row.kind {
        CredentialKind::CodeAssist => {
            ImportedCredential::from_payload(&row.name, &with_identity(row))?.export_json()
        }
        CredentialKind::VertexServiceAccount => row.payload.clone(),
        kind => crate::onboarding::import::official::key_document(
            kind,
            row.payload
                .get("api_key")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default(),
            row.quota_group.as_deref(),
        ),
    })
}

/// The row's payload with the e-mail and project learned since import, so an export carries them.
fn with_identity(row: &CredentialRow) -> serde_json::Value {
    let mut p = row.payload.clone();
    if let Some(obj) = p.as_object_mut() {
        if let Some(e) = &row.email {
            obj.entry("email").or_insert_with(|| e.clone().into());
        }
        if let Some(pr) = &row.project_id {
            obj.entry("project_id").or_insert_with(|| pr.clone().into());
        }
    }
    p
}

fn unique_name(wanted: &str, taken: &[&str]) -> String {
    if !taken.contains(&wanted) {
        return wanted.to_string();
    }
    let (stem, ext) = wanted
        .rsplit_once('.')
        .map(|(s, e)| (s, format!(".{e}")))
        .unwrap_or((wanted, String::new()));
    (2..)
        .map(|n| format!("{stem}-{n}{ext}"))
        .find(|n| !taken.contains(&n.as_str()))
        .expect("an unused name exists")
}
