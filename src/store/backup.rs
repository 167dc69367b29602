//! Consistent copies of the live database, taken while the gateway serves.
//!
//! `VACUUM INTO` reads the whole database inside one read transaction, so the copy is a single
//! point-in-time snapshot even while other connections write (WAL lets the writers go on), and
//! the result is a compact, self-contained file with no `-wal` companion: restoring is copying
//! it back as `gcli2api.db` while the gateway is stopped.
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::{CONNECTION_PRAGMAS, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path} already exists; choose a new file name (a backup never overwrites a file)")]
    Exists { path: String },
    #[error("cannot create {path}: {reason}")]
    Create { path: String, reason: String },
    #[error("no database at {path}: check DATA_DIR (or --config)")]
    NoDatabase { path: String },
    #[error("copying the database into {path} failed: {source}")]
    Copy {
        path: String,
        #[source]
        source: StoreError,
    },
}

/// Create `dest` empty and owner-only (the copy holds refresh tokens and password hashes), so
/// the secrets are never readable by others, not even for the length of the copy.
pub fn create_private(dest: &Path) -> Result<(), BackupError> {
    let shown = dest.display().to_string();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(dest) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(BackupError::Exists { path: shown })
        }
        Err(e) => Err(BackupError::Create {
            path: shown,
            reason: e.to_string(),
        }),
    }
}

/// Copy the database open on `conn` into `dest`, which must not exist yet. On failure the
/// partial file is removed.
pub fn vacuum_into(conn: &Connection, dest: &Path) -> Result<(), BackupError> {
    create_private(dest)?;
    let shown = dest.display().to_string();
    // VACUUM INTO accepts an empty existing file; the path is bound, never spliced into SQL.
    let r = conn
        .execute("VACUUM INTO ?1", [shown.as_str()])
        .map(|_| ())
        .map_err(|e| BackupError::Copy {
            path: shown.clone(),
            source: e.into(),
        });
    if r.is_err() {
        let _ = std::fs::remove_file(dest);
    }
    r
}

/// Copy the database file at `db` into `dest` from another process (`gcli2api backup`): the
/// file is opened without creating or migrating anything, and the running gateway keeps
/// serving (the copy only takes a read transaction).
pub fn backup_file(db: &Path, dest: &Path) -> Result<(), BackupError> {
    if !db.is_file() {
        return Err(BackupError::NoDatabase {
            path: db.display().to_string(),
        });
    }
    let copy_err = |e: rusqlite::Error| BackupError::Copy {
        path: dest.display().to_string(),
        source: e.into(),
    };
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(copy_err)?;
    conn.execute_batch(CONNECTION_PRAGMAS).map_err(copy_err)?;
    vacuum_into(&conn, dest)
}

/// Records a backup taken by `gcli2api backup` in the audit log of the database at `db`: the
/// command runs in its own process, outside any API caller, so the event names the command
/// line as both actor and origin. Written after the copy, so it is not in the copy.
pub fn audit_cli_backup(db: &Path, dest: &Path) -> Result<(), StoreError> {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch(CONNECTION_PRAGMAS)?;
    let event = super::audit::NewAuditEvent {
        kind: "database.backup".into(),
        actor: "cli".into(),
        origin: Some("cli".into()),
        subject: None,
        detail: serde_json::json!({ "via": "cli", "file": dest.display().to_string() }),
    };
    super::audit::append(&conn, &event, super::now_ms())?;
    Ok(())
}

/// A fresh copy of the live database for a download: written next to it (same filesystem,
/// same private directory), opened, then unlinked, so nothing is left behind however the
/// download ends. The returned file reads from the start.
pub async fn snapshot_for_download(store: &super::Store) -> Result<tokio::fs::File, BackupError> {
    let dir = store
        .path()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let tag: [u8; 8] = rand::random();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    let dest = dir.join(format!(".backup-{hex}.db"));
    store.backup_to(dest.clone()).await?;
    let opened = tokio::fs::File::open(&dest).await;
    // Unlinked before the first byte is sent: an aborted download leaves no copy of the
    // secrets on disk (the open handle keeps the data readable until it is dropped).
    let _ = tokio::fs::remove_file(&dest).await;
    opened.map_err(|e| BackupError::Create {
        path: dest.display().to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_copy_has_the_rows_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).await.unwrap();
        store
            .tx(|tx| {
                crate::store::settings::put_many(tx, &[("port".into(), serde_json::json!(9))], 1)
            })
            .await
            .unwrap();
        let dest = dir.path().join("copy.db");
        backup_file(store.path(), &dest).unwrap();
        let copy = Connection::open(&dest).unwrap();
        let n: i64 = copy
            .query_row("SELECT count(*) FROM settings", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dest).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            backup_file(store.path(), &dest),
            Err(BackupError::Exists { .. })
        ));
        assert!(matches!(
            backup_file(&dir.path().join("none.db"), &dir.path().join("x.db")),
            Err(BackupError::NoDatabase { .. })
        ));
    }
}
