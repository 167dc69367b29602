//! SQLite store. PLACEHOLDER: the store owner replaces this module.
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {reason}")]
    Open { path: String, reason: String },
}

#[derive(Clone)]
pub struct Store;

impl Store {
    pub async fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Open {
            path: data_dir.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(Store)
    }
}
