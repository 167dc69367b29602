//! The one SQLite file (`DATA_DIR/gcli2api.db`): WAL, an r2d2 pool with per-connection pragmas,
//! embedded forward-only migrations, and async entry points that run every blocking call on the
//! blocking thread pool so async workers never wait on disk or on SQLite locks.
pub mod at_rest;
pub mod audit;
pub mod backup;
pub mod cipher;
pub mod client_keys;
pub mod credentials;
pub mod db;
pub mod location;
pub mod migrate;
pub mod pg_coord;
pub mod pg_counters;
pub mod postgres;
pub mod responses;
pub mod schema;
pub mod secrets;
pub mod settings;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};
use rusqlite_migration::{M, Migrations};

/// File name of the database inside the data directory.
pub const DB_FILE_NAME: &str = "gcli2api.db";

/// Embedded migrations, applied in order; the schema version lives in `PRAGMA user_version`, so
/// nothing else may touch that pragma.
const MIGRATION_SQL: &[&str] = &[
    include_str!("../../migrations/0001_init.sql"),
    include_str!("../../migrations/0002_pool_state.sql"),
    include_str!("../../migrations/0003_usage.sql"),
    include_str!("../../migrations/0004_usage_surfaces.sql"),
    include_str!("../../migrations/0005_credential_kinds.sql"),
    include_str!("../../migrations/0006_responses.sql"),
    include_str!("../../migrations/0007_audit_origin.sql"),
    include_str!("../../migrations/0008_request_log.sql"),
    include_str!("../../migrations/0009_credential_identities.sql"),
    include_str!("../../migrations/0010_client_keys.sql"),
    include_str!("../../migrations/0011_secrets_at_rest.sql"),
];

/// Pragmas for every pooled connection: `foreign_keys` and `busy_timeout` are per connection, and
/// NORMAL sync is durable against process crashes in WAL mode (only an OS crash can lose the last
/// commits), which is the right trade for counters and state. Temporary tables and sort spills
/// stay in memory: they are small here, and the container image has no /tmp for them.
const CONNECTION_PRAGMAS: &str = "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
     PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;";

const POOL_SIZE: u32 = 8;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("database {path} is corrupt or not a SQLite database: {reason}")]
    Corrupt { path: String, reason: String },
    #[error(
        "database {path} has schema version {found}, newer than this build supports ({supported}); \
         run a newer gcli2api or restore a backup"
    )]
    SchemaTooNew {
        path: String,
        found: i64,
        supported: usize,
    },
    #[error("migrating database {path} failed: {reason}")]
    Migration { path: String, reason: String },
    /// A SQLite-only operation asked of a PostgreSQL store (the domain is not ported yet).
    #[error("{what} is not available on PostgreSQL yet")]
    NotPorted { what: &'static str },
    #[error("database connection pool: {0}")]
    Pool(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A PostgreSQL error, as one line with the server's message (`postgres::describe`).
    #[error("database error: {0}")]
    Postgres(String),
    #[error("{what} already exists")]
    Conflict { what: String },
    #[error("{what} not found")]
    NotFound { what: String },
    /// A stored value could not be decoded (e.g. a JSON column edited by hand).
    #[error("invalid stored data: {0}")]
    Data(String),
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        StoreError::Pool(e.to_string())
    }
}

impl From<postgres::PgError> for StoreError {
    fn from(e: postgres::PgError) -> Self {
        StoreError::Postgres(e.to_string())
    }
}

impl From<::postgres::Error> for StoreError {
    fn from(e: ::postgres::Error) -> Self {
        StoreError::Postgres(postgres::describe(&e))
    }
}

/// Current Unix time in milliseconds, the unit of every timestamp column.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATION_SQL.iter().map(|sql| M::up(sql)).collect())
}

/// Number of migrations this build knows, i.e. the schema version after `open`.
pub fn schema_version() -> usize {
    MIGRATION_SQL.len()
}

/// The database behind a `Store`.
#[derive(Clone)]
enum Backend {
    Sqlite(Pool<SqliteConnectionManager>),
    Postgres(Arc<PgOwner>),
}

/// Owns the PostgreSQL pool. The blocking client closes a connection with a blocking call,
/// which panics on an async worker thread (where the last `Store` is often dropped), so the
/// last owner hands the pool to a short-lived plain thread to close.
struct PgOwner(Option<pg_counters::PgPool>, location::PgUrl);

impl PgOwner {
    fn pool(&self) -> Result<&pg_counters::PgPool, StoreError> {
        self.0
            .as_ref()
            .ok_or_else(|| StoreError::Pool("the PostgreSQL pool is closed".into()))
    }
}

impl Drop for PgOwner {
    fn drop(&mut self) {
        if let Some(pool) = self.0.take() {
            let closing = std::thread::Builder::new()
                .name("pg-pool-close".into())
                .spawn(move || drop(pool));
            if let Err(e) = closing {
                tracing::warn!(error = %e, "cannot start a thread to close the PostgreSQL pool");
            }
        }
    }
}

#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// The SQLite file; empty on PostgreSQL.
    path: Arc<PathBuf>,
    /// `call` invocations (reads and single statements): a test and the benchmark check that
    /// serving a request never waits on one.
    reads: Arc<std::sync::atomic::AtomicU64>,
    /// The key credential payloads are sealed with; empty when they are stored in plain text.
    secrets_key: at_rest::Slot,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        };
        f.debug_struct("Store")
            .field("backend", &backend)
            .field("path", &self.path)
            .finish()
    }
}

impl Store {
    /// Open (creating if needed) `data_dir/gcli2api.db`.
    pub async fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let dir = data_dir.to_path_buf();
        let created = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir).map_err(|e| StoreError::Open {
                path: dir.display().to_string(),
                reason: format!("cannot create the data directory: {e}"),
            })
        });
        join(created).await??;
        Self::open_in(&data_dir.join(DB_FILE_NAME)).await
    }

    /// Open an explicit database file; its parent directory must exist or be creatable.
    pub async fn open_in(path: &Path) -> Result<Store, StoreError> {
        let path = path.to_path_buf();
        join(tokio::task::spawn_blocking(move || open_blocking(path))).await?
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` with a pooled connection on the blocking thread pool.
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pool = self.sqlite("this operation")?;
        join(tokio::task::spawn_blocking(move || {
            let conn = pool.get()?;
            f(&conn)
        }))
        .await?
    }

    /// Write a consistent copy of the database to `dest` (which must not exist) while other
    /// connections keep reading and writing.
    pub async fn backup_to(&self, dest: PathBuf) -> Result<(), backup::BackupError> {
        let pool = self
            .sqlite("a backup")
            .map_err(|source| backup::BackupError::Copy {
                path: dest.display().to_string(),
                source,
            })?;
        let r = join(tokio::task::spawn_blocking(move || {
            let conn = pool.get().map_err(|e| backup::BackupError::Copy {
                path: dest.display().to_string(),
                source: e.into(),
            })?;
            backup::vacuum_into(&conn, &dest)
        }))
        .await;
        match r {
            Ok(r) => r,
            Err(e) => Err(backup::BackupError::Copy {
                path: String::new(),
                source: e,
            }),
        }
    }

    /// Checks `keys` against the database and brings every credential payload under the
    /// current key (sealing plain rows, re-sealing rows of the previous key), in one
    /// transaction; from then on payloads are sealed on write and opened on read. Refuses a
    /// wrong or missing key without writing anything.
    pub async fn unlock(
        &self,
        keys: cipher::Keys,
    ) -> Result<at_rest::Unlocked, at_rest::AtRestError> {
        let current = keys.current.clone();
        if let Backend::Postgres(owner) = &self.backend {
            // One transaction, serialized across starting instances by an advisory lock taken
            // in `unlock`. Old row versions are PostgreSQL's to reclaim (autovacuum).
            let owner = Arc::clone(owner);
            let done = join(tokio::task::spawn_blocking(move || {
                let mut conn = owner.pool()?.get().map_err(StoreError::from)?;
                let mut tx = conn.transaction().map_err(StoreError::from)?;
                let out = at_rest::unlock(&mut tx, &keys, now_ms())?;
                tx.commit().map_err(StoreError::from)?;
                Ok::<_, at_rest::AtRestError>(out)
            }))
            .await??;
            self.secrets_key.store(current.map(Arc::new));
            return Ok(done);
        }
        let pool = self.sqlite("encryption at rest")?;
        let done = join(tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(StoreError::from)?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = at_rest::unlock(&tx, &keys, now_ms())?;
            tx.commit()?;
            if out.sealed_now + out.rotated + out.decrypted > 0 {
                // SQLite leaves an overwritten value's old bytes in free space and in older WAL
                // frames: rebuild the file and empty the WAL so no plain (or old-key) secret
                // stays behind on disk.
                conn.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")?;
            }
            Ok::<_, at_rest::AtRestError>(out)
        }))
        .await??;
        self.secrets_key.store(current.map(Arc::new));
        Ok(done)
    }

    /// Whether credential payloads are sealed on write (a key is in use).
    pub fn encrypts_secrets(&self) -> bool {
        self.secrets_key.load().is_some()
    }

    /// How many times `call` ran since the store was opened.
    pub fn read_count(&self) -> u64 {
        self.reads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Run `f` inside an IMMEDIATE transaction (the write lock is taken up front, so two writers
    /// never deadlock on a read-to-write upgrade); commits when `f` returns Ok, rolls back otherwise.
    pub async fn tx<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&rusqlite::Transaction) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.sqlite("this operation")?;
        join(tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        }))
        .await?
    }
}

/// The backend-neutral entry points: the storage boundary. Code that goes through them (and
/// the domain functions taking `db::Db`) runs on either backend; `call` and `tx` above hand
/// out a SQLite connection and are for the domains not ported yet.
impl Store {
    /// Opens the store on PostgreSQL: applies the pending migrations (under an advisory lock,
    /// so instances starting together apply each once), then opens the pool.
    pub async fn open_postgres(url: location::PgUrl) -> Result<Store, StoreError> {
        join(tokio::task::spawn_blocking(move || {
            let mut client = postgres::connect(&url)?;
            postgres::migrate(&mut client, &url)?;
            drop(client);
            let pool = pg_counters::open_pool(&url, POOL_SIZE)?;
            tracing::info!(url = %url, schema_version = postgres::schema_version(), "database ready");
            Ok(Store {
                backend: Backend::Postgres(Arc::new(PgOwner(Some(pool), url))),
                path: Arc::new(PathBuf::new()),
                reads: Arc::default(),
                secrets_key: at_rest::Slot::default(),
            })
        }))
        .await?
    }

    /// Whether this store is on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// The PostgreSQL URL the store was opened with (a listener opens its own connection).
    pub fn postgres_url(&self) -> Option<&location::PgUrl> {
        match &self.backend {
            Backend::Postgres(owner) => Some(&owner.1),
            Backend::Sqlite(_) => None,
        }
    }

    /// PostgreSQL only: holds the credential's cross-instance refresh lock (waiting at most
    /// `wait` for it) while `decide` runs with the stored row as it is under the lock. When
    /// `decide` returns tokens to write, they are written in the lock's transaction, so the
    /// next holder reads them. Answers what `decide` returned and whether the write committed
    /// (its tokens are the caller's to keep either way: a rotated refresh token already spent
    /// the old one upstream); an error alone when the lock or the read failed before `decide`.
    pub async fn with_refresh_lock<T, Fut>(
        &self,
        credential_id: i64,
        wait: std::time::Duration,
        decide: impl FnOnce(Option<credentials::CredentialRow>) -> Fut,
    ) -> Result<(T, Result<(), StoreError>), StoreError>
    where
        Fut: std::future::Future<Output = (T, Option<credentials::TokenWrite>)>,
    {
        let Backend::Postgres(owner) = &self.backend else {
            return Err(StoreError::NotPorted {
                what: "the cross-instance refresh lock (PostgreSQL only)",
            });
        };
        let owner = Arc::clone(owner);
        let key = self.secrets_key.load_full();
        type RowResult = Result<Option<credentials::CredentialRow>, StoreError>;
        let (row_tx, row_rx) = tokio::sync::oneshot::channel::<RowResult>();
        let (write_tx, write_rx) = tokio::sync::oneshot::channel::<credentials::TokenWrite>();
        // The lock lives in a transaction on a blocking thread; the row goes out to `decide`
        // and the tokens come back over channels. A dropped caller rolls the transaction back.
        let held = tokio::task::spawn_blocking(move || {
            at_rest::with_pg_key(key, || -> Result<(), StoreError> {
                let mut conn = owner.pool()?.get()?;
                pg_coord::with_refresh_lock(&mut conn, credential_id, wait, |tx| {
                    let row = credentials::get(&mut *tx, credential_id);
                    let failed = row.is_err();
                    if row_tx.send(row).is_err() || failed {
                        return Err(StoreError::Pool("refresh abandoned".into()));
                    }
                    match write_rx.blocking_recv() {
                        Ok(w) => {
                            credentials::write_tokens(&mut *tx, credential_id, &w, now_ms())?;
                            Ok(())
                        }
                        // Nothing to write (the stored token was fresh, or the refresh failed).
                        Err(_) => Ok(()),
                    }
                })
            })
        });
        let row = match row_rx.await {
            Ok(row) => row?,
            Err(_) => {
                join(held).await??;
                return Err(StoreError::Pool("the refresh lock ended early".into()));
            }
        };
        let (out, write) = decide(row).await;
        if let Some(w) = write {
            let _ = write_tx.send(w);
        } else {
            drop(write_tx);
        }
        let committed = join(held).await.and_then(|r| r);
        Ok((out, committed))
    }

    /// Runs `f` on the blocking pool with a connection of either backend (on PostgreSQL, in a
    /// transaction committed when `f` returns Ok). Counts as a read, like `call`.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(db::Db<'_, '_>) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.run_in(false, f).await
    }

    /// Runs `f` in a transaction of either backend (IMMEDIATE on SQLite, as `tx`); commits
    /// when `f` returns Ok, rolls back otherwise.
    pub async fn run_tx<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(db::Db<'_, '_>) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_in(true, f).await
    }

    async fn run_in<T, F>(&self, in_tx: bool, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(db::Db<'_, '_>) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let backend = self.backend.clone();
        let key = self.secrets_key.load_full();
        join(tokio::task::spawn_blocking(move || match backend {
            Backend::Sqlite(pool) => {
                let mut conn = pool.get()?;
                if !in_tx {
                    return f(db::Db::Sqlite(&conn));
                }
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let out = f(db::Db::Sqlite(&tx))?;
                tx.commit()?;
                Ok(out)
            }
            Backend::Postgres(owner) => {
                let mut conn = owner.pool()?.get()?;
                let mut tx = conn.transaction()?;
                let out = at_rest::with_pg_key(key, || f(db::Db::Postgres(&mut tx)))?;
                tx.commit()?;
                Ok(out)
            }
        }))
        .await?
    }

    /// The SQLite pool, or a clear error naming what is not available on PostgreSQL yet.
    fn sqlite(&self, what: &'static str) -> Result<Pool<SqliteConnectionManager>, StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => Ok(pool.clone()),
            Backend::Postgres(_) => Err(StoreError::NotPorted { what }),
        }
    }
}

/// Await a blocking task; a panic inside it is a bug and is re-raised rather than hidden.
async fn join<T>(handle: tokio::task::JoinHandle<T>) -> Result<T, StoreError> {
    match handle.await {
        Ok(v) => Ok(v),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(StoreError::Pool(format!("blocking task cancelled: {e}"))),
    }
}

fn open_blocking(path: PathBuf) -> Result<Store, StoreError> {
    let shown = path.display().to_string();
    let open_err = |reason: String| StoreError::Open {
        path: shown.clone(),
        reason,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| open_err(format!("cannot create the directory: {e}")))?;
    }
    let mut conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| classify(&shown, e))?;
    restrict_permissions(&path);

    // journal_mode is persistent in the file and a no-op inside a transaction, so it is set here,
    // once, outside the migrations. It is also the first statement that reads the header, so a
    // garbage file fails here with NotADatabase.
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(|e| classify(&shown, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(open_err(format!(
            "cannot switch to WAL journal mode (got {mode})"
        )));
    }
    conn.execute_batch(CONNECTION_PRAGMAS)
        .map_err(|e| classify(&shown, e))?;

    let found: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| classify(&shown, e))?;
    let supported = schema_version();
    if found < 0 || found as u64 > supported as u64 {
        return Err(StoreError::SchemaTooNew {
            path: shown,
            found,
            supported,
        });
    }
    migrations()
        .to_latest(&mut conn)
        .map_err(|e| migration_error(&shown, e))?;
    drop(conn);

    let secrets_key = at_rest::Slot::default();
    let slot = Arc::clone(&secrets_key);
    let manager = SqliteConnectionManager::file(&path)
        .with_flags(OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .with_init(move |c| {
            c.execute_batch(CONNECTION_PRAGMAS)?;
            at_rest::register(c, &slot)
        });
    let pool = Pool::builder()
        .max_size(POOL_SIZE)
        .min_idle(Some(1))
        .build(manager)?;
    tracing::info!(path = %shown, schema_version = supported, "database ready");
    Ok(Store {
        backend: Backend::Sqlite(pool),
        path: Arc::new(path),
        reads: Arc::default(),
        secrets_key,
    })
}

/// Map an open-time SQLite error to the variant an operator can act on.
fn classify(path: &str, e: rusqlite::Error) -> StoreError {
    let code = e.sqlite_error_code();
    match code {
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path: path.to_string(),
            reason: e.to_string(),
        },
        _ => StoreError::Open {
            path: path.to_string(),
            reason: e.to_string(),
        },
    }
}

fn migration_error(path: &str, e: rusqlite_migration::Error) -> StoreError {
    if let rusqlite_migration::Error::RusqliteError { err, .. } = &e
        && matches!(
            err.sqlite_error_code(),
            Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt)
        )
    {
        return StoreError::Corrupt {
            path: path.to_string(),
            reason: err.to_string(),
        };
    }
    StoreError::Migration {
        path: path.to_string(),
        reason: e.to_string(),
    }
}

/// The file holds refresh tokens and password hashes: keep it owner-only. Best effort, because
/// some filesystems (bind mounts from other OSes) cannot change modes.
fn restrict_permissions(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!(path = %path.display(), error = %e, "cannot restrict database file permissions");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        assert!(migrations().validate().is_ok());
    }

    #[tokio::test]
    async fn tx_rolls_back_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let r: Result<(), StoreError> = store
            .tx(|tx| {
                settings::put_many(tx, &[("port".into(), serde_json::json!(1))], 1)?;
                Err(StoreError::Data("boom".into()))
            })
            .await;
        assert!(r.is_err());
        let all = store.call(|c| settings::get_all(c)).await.unwrap();
        assert!(all.is_empty());
    }
}
