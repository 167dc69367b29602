//! Actions on many credentials at once, for the management API and the panel alike: enable,
//! disable and delete in one transaction each (one audit event naming the ids), re-check a
//! few at a time against Google, and export as one ZIP. Each id gets its own result, so a
//! missing one never fails the rest.
use crate::store::pg_coord::PoolChange;
use futures_util::StreamExt;
use serde_json::json;

use super::CredId;
use super::admin::AdminError;
use super::service::PoolService;
use crate::onboarding::recheck::{Verdict, recheck};
use crate::security::audit;
use crate::store::StoreError;
use crate::store::credentials as repo;

/// Most ids one bulk call takes: the pool is sized for about this many.
pub const MAX_BULK_IDS: usize = 10_000;
/// Re-checks sent to Google at once.
const RECHECKS_AT_ONCE: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkAction {
    Enable,
    Disable,
    Delete,
    Recheck,
}

impl BulkAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enable => "enable",
            Self::Disable => "disable",
            Self::Delete => "delete",
            Self::Recheck => "recheck",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Enable, Self::Disable, Self::Delete, Self::Recheck]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkOutcome {
    /// Done (re-check: Google accepts it).
    Done,
    NotFound,
    /// Re-check: Google refused it; the credential is set aside with the reason.
    Refused,
    /// Re-check: Google could not be asked; nothing changed.
    Unchecked,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulkItem {
    pub id: CredId,
    pub outcome: BulkOutcome,
    pub message: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    #[error("no credential ids given")]
    Empty,
    #[error("at most {MAX_BULK_IDS} credentials at once")]
    TooMany,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Admin(#[from] AdminError),
}

fn checked_ids(ids: &[CredId]) -> Result<Vec<CredId>, BulkError> {
    if ids.is_empty() {
        return Err(BulkError::Empty);
    }
    if ids.len() > MAX_BULK_IDS {
        return Err(BulkError::TooMany);
    }
    let mut v = ids.to_vec();
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

impl PoolService {
    pub async fn bulk(
        &self,
        action: BulkAction,
        ids: &[CredId],
    ) -> Result<Vec<BulkItem>, BulkError> {
        let ids = checked_ids(ids)?;
        let items = match action {
            BulkAction::Enable => self.bulk_enabled(&ids, true).await?,
            BulkAction::Disable => self.bulk_enabled(&ids, false).await?,
            BulkAction::Delete => self.bulk_delete(&ids).await?,
            BulkAction::Recheck => self.bulk_recheck(&ids).await,
        };
        let done = items
            .iter()
            .filter(|i| i.outcome == BulkOutcome::Done)
            .count();
        tracing::info!(
            action = action.as_str(),
            asked = ids.len(),
            done,
            "bulk credential action"
        );
        Ok(items)
    }

    async fn bulk_enabled(
        &self,
        ids: &[CredId],
        enabled: bool,
    ) -> Result<Vec<BulkItem>, BulkError> {
        let mut changes = Vec::new();
        let items = {
            let mut core = self.core_mut();
            ids.iter()
                .map(|id| {
                    let outcome = match core.set_enabled(*id, enabled) {
                        Some(c) => {
                            changes.push((c.id, c.state));
                            BulkOutcome::Done
                        }
                        None => BulkOutcome::NotFound,
                    };
                    BulkItem {
                        id: *id,
                        outcome,
                        message: None,
                    }
                })
                .collect()
        };
        let done: Vec<CredId> = changes.iter().map(|(id, _)| *id).collect();
        self.write_now(changes).await?;
        if !done.is_empty() {
            let kind = if enabled {
                "credential.bulk_enable"
            } else {
                "credential.bulk_disable"
            };
            audit::record(self.store(), kind, None, json!({ "ids": done })).await;
        }
        Ok(items)
    }

    async fn bulk_delete(&self, ids: &[CredId]) -> Result<Vec<BulkItem>, BulkError> {
        let wanted = ids.to_vec();
        let origin = self.origin();
        let gone: Vec<CredId> = self
            .store()
            .run_tx(move |mut tx| {
                let mut gone = Vec::new();
                for id in &wanted {
                    if repo::delete(tx.reborrow(), *id)? {
                        gone.push(*id);
                        if let Some(origin) = &origin {
                            let change = PoolChange::Reload { credential_id: *id };
                            crate::pool::service::publish(tx.reborrow(), origin, change)?;
                        }
                    }
                }
                Ok(gone)
            })
            .await?;
        for id in &gone {
            self.remove(*id);
        }
        if !gone.is_empty() {
            audit::record(
                self.store(),
                "credential.bulk_delete",
                None,
                json!({ "ids": gone }),
            )
            .await;
        }
        Ok(ids
            .iter()
            .map(|id| BulkItem {
                id: *id,
                outcome: if gone.binary_search(id).is_ok() {
                    BulkOutcome::Done
                } else {
                    BulkOutcome::NotFound
                },
                message: None,
            })
            .collect())
    }

    async fn bulk_recheck(&self, ids: &[CredId]) -> Vec<BulkItem> {
        futures_util::stream::iter(ids.iter().copied())
            .map(|id| async move {
                match recheck(self, id).await {
                    None => BulkItem {
                        id,
                        outcome: BulkOutcome::NotFound,
                        message: None,
                    },
                    Some(r) => BulkItem {
                        id,
                        outcome: match r.verdict {
                            Verdict::Alive => BulkOutcome::Done,
                            Verdict::Dead => BulkOutcome::Refused,
                            Verdict::Unchecked => BulkOutcome::Unchecked,
                        },
                        message: Some(crate::logs::redact(&r.message).into_owned()),
                    },
                }
            })
            .buffered(RECHECKS_AT_ONCE)
            .collect()
            .await
    }

    /// The credentials of `ids` as one ZIP that an upload accepts (unknown ids are skipped).
    pub async fn export_some(&self, ids: &[CredId]) -> Result<Vec<u8>, BulkError> {
        let ids = checked_ids(ids)?;
        let wanted = ids.clone();
        let rows = self
            .store()
            .run(move |db| repo::get_many(db, &wanted))
            .await?;
        let docs = rows
            .iter()
            .map(|r| Ok((r.name.clone(), super::admin::export_document(r)?)))
            .collect::<Result<Vec<_>, AdminError>>()?;
        let zip =
            crate::onboarding::import::export_zip_documents(&docs).map_err(AdminError::from)?;
        let exported: Vec<CredId> = rows.iter().map(|r| r.id).collect();
        audit::record(
            self.store(),
            "credential.export_some",
            None,
            json!({ "ids": exported }),
        )
        .await;
        Ok(zip)
    }
}
