//! Credential management as service functions: import (uploads, env, the credentials
//! directory), export, delete, identify (project + e-mail). The management API and the panel
//! call these; no logic lives in handlers.
use std::collections::HashMap;

use serde::Serialize;

use super::CredId;
use super::service::PoolService;
use crate::google::code_assist;
use crate::google::discovery;
use crate::onboarding::import::{
    Duplicate, ExistingKey, ImportReport, ImportedCredential, ZipLimits, dedup_batch,
    find_duplicate, merge_sources, parse_env, parse_upload, scan_dir,
};
use crate::settings::Settings;
use crate::store::credentials::{self as repo, CredentialRow, CredentialSource};
use crate::store::{StoreError, now_ms};

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
        let rows = self.store().call(repo::list).await?;
        let mut existing: Vec<ExistingKey> = rows.iter().map(key_of).collect();
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
                    out.imported.push(ImportedItem { id, name });
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
            .tx(move |tx| repo::replace_payload(tx, id, &p2, CredentialSource::Env, &sha, now_ms()))
            .await?;
        let state = self.state(id).unwrap_or_default();
        self.insert_loaded(id, &payload, state);
        Ok(true)
    }

    /// An uploaded `.json` or `.zip`.
    pub async fn import_upload(
        &self,
        filename: &str,
        bytes: &[u8],
    ) -> Result<ImportOutcome, AdminError> {
        let report = parse_upload(filename, bytes, &ZipLimits::default())?;
        Ok(self.import_report(report, CredentialSource::Upload).await?)
    }

    /// `GCLI_CREDS_*` / `GOOGLE_CREDENTIALS` from an environment map (on demand, or at start
    /// when AUTO_LOAD_ENV_CREDS is on).
    pub async fn import_env(
        &self,
        env: &HashMap<String, String>,
    ) -> Result<ImportOutcome, StoreError> {
        self.import_report(parse_env(env), CredentialSource::Env)
            .await
    }

    /// Startup import: the credentials directory, plus env credentials when enabled; env wins
    /// over the directory for the same account.
    pub async fn import_at_start(
        &self,
        s: &Settings,
        env: &HashMap<String, String>,
    ) -> Result<ImportOutcome, StoreError> {
        let dir = if s.credentials_dir.is_dir() {
            scan_dir(&s.credentials_dir, &ZipLimits::default())
        } else {
            ImportReport::default()
        };
        let envs = if s.auto_load_env_creds {
            parse_env(env)
        } else {
            ImportReport::default()
        };
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
                        rejected: Vec::new(),
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
        Ok(out)
    }

    pub async fn export_one(&self, id: CredId) -> Result<(String, serde_json::Value), AdminError> {
        let row = self
            .store()
            .call(move |c| repo::get(c, id))
            .await?
            .ok_or(AdminError::NotFound(id))?;
        let cred = ImportedCredential::from_payload(&row.name, &with_identity(&row))?;
        Ok((row.name, cred.export_json()))
    }

    /// Every credential as a ZIP that `import_upload` accepts.
    pub async fn export_all(&self) -> Result<Vec<u8>, AdminError> {
        let rows = self.store().call(repo::list).await?;
        let creds = rows
            .iter()
            .map(|r| ImportedCredential::from_payload(&r.name, &with_identity(r)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(crate::onboarding::import::export_zip(&creds)?)
    }

    /// Every stored credential, for listings that need names next to ids.
    pub async fn list(&self) -> Result<Vec<repo::CredentialRow>, StoreError> {
        self.store().call(repo::list).await
    }

    /// One stored credential, or `None` when it does not exist.
    pub async fn get(&self, id: CredId) -> Result<Option<repo::CredentialRow>, StoreError> {
        self.store().call(move |c| repo::get(c, id)).await
    }

    pub async fn delete(&self, id: CredId) -> Result<bool, StoreError> {
        let gone = self.store().tx(move |tx| repo::delete(tx, id)).await?;
        if gone {
            self.remove(id);
        }
        Ok(gone)
    }

    /// Learns the account's project (Gemini CLI's discovery flow) and e-mail (userinfo).
    pub async fn identify(&self, id: CredId) -> Result<(), super::service::TokenError> {
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
