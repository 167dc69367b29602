//! The PostgreSQL side of the store: connecting, and the embedded migrations
//! (`migrations/postgres/`), the counterparts of the SQLite ones with the same numbers.
//!
//! The schema version lives in `schema_migrations` (one row per applied migration), the
//! counterpart of SQLite's `PRAGMA user_version`. Pending migrations are applied in one
//! transaction under an advisory lock, so instances starting together against one database
//! apply each migration once: the second waits for the first and then finds nothing to do.
use std::time::Duration;

use super::location::PgUrl;

/// Embedded migrations, in order; entry N-1 is version N, as in `super::MIGRATION_SQL`.
const MIGRATION_SQL: &[&str] = &[
    include_str!("../../migrations/postgres/0001_init.sql"),
    include_str!("../../migrations/postgres/0002_pool_state.sql"),
    include_str!("../../migrations/postgres/0003_usage.sql"),
    include_str!("../../migrations/postgres/0004_usage_surfaces.sql"),
    include_str!("../../migrations/postgres/0005_credential_kinds.sql"),
    include_str!("../../migrations/postgres/0006_responses.sql"),
    include_str!("../../migrations/postgres/0007_audit_origin.sql"),
    include_str!("../../migrations/postgres/0008_request_log.sql"),
    include_str!("../../migrations/postgres/0009_credential_identities.sql"),
    include_str!("../../migrations/postgres/0010_client_keys.sql"),
    include_str!("../../migrations/postgres/0011_secrets_at_rest.sql"),
];

/// The version table: not part of the compared schema, it is the counterpart of a pragma.
pub const VERSION_TABLE: &str = "schema_migrations";

/// Key of the advisory lock held while migrating ("gcli2api" read as 8 ASCII bytes).
const MIGRATION_LOCK: i64 = 0x6763_6c69_3261_7069;

/// How long a connection attempt may take before it is reported as unreachable.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("cannot connect to PostgreSQL at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error(
        "the PostgreSQL database at {url} has schema version {found}, newer than this build \
         supports ({supported}); run a newer gcli2api"
    )]
    SchemaTooNew {
        url: String,
        found: i64,
        supported: usize,
    },
    #[error("PostgreSQL migration {version} failed: {reason}")]
    Migration { version: usize, reason: String },
    #[error("PostgreSQL: {0}")]
    Query(#[from] postgres::Error),
    #[error("cannot encode a pool notification: {0}")]
    Payload(String),
    #[error("cannot take the refresh lock of credential {credential_id}: {reason}")]
    Lock { credential_id: i64, reason: String },
}

/// Number of PostgreSQL migrations this build knows.
pub fn schema_version() -> usize {
    MIGRATION_SQL.len()
}

/// Opens one connection (blocking; call it on the blocking pool).
pub fn connect(url: &PgUrl) -> Result<postgres::Client, PgError> {
    let mut config = url.config();
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config.application_name("gcli2api");
    config
        .connect(postgres::NoTls)
        .map_err(|e| PgError::Connect {
            url: url.to_string(),
            reason: describe(&e),
        })
}

/// A driver error as one line: the server's message when there is one (the driver's own
/// `Display` says only "db error"), else the I/O cause.
pub fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The schema version of the database (0 when nothing was applied yet).
pub fn current_version(client: &mut impl postgres::GenericClient) -> Result<i64, PgError> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass(current_schema() || '.' || $1) IS NOT NULL",
            &[&VERSION_TABLE],
        )?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let v: Option<i64> = client
        .query_one(&format!("SELECT max(version) FROM {VERSION_TABLE}"), &[])?
        .get(0);
    Ok(v.unwrap_or(0))
}

/// Applies the pending migrations in one transaction; returns how many ran.
pub fn migrate(client: &mut postgres::Client, url: &PgUrl) -> Result<usize, PgError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
             version    BIGINT PRIMARY KEY,
             applied_at BIGINT NOT NULL
         )"
    ))?;
    let found = current_version(&mut tx)?;
    let supported = schema_version();
    if found < 0 || found as u64 > supported as u64 {
        return Err(PgError::SchemaTooNew {
            url: url.to_string(),
            found,
            supported,
        });
    }
    let mut applied = 0;
    for (i, sql) in MIGRATION_SQL.iter().enumerate().skip(found as usize) {
        let version = i + 1;
        tx.batch_execute(sql).map_err(|e| PgError::Migration {
            version,
            reason: describe(&e),
        })?;
        tx.execute(
            &format!("INSERT INTO {VERSION_TABLE} (version, applied_at) VALUES ($1, $2)"),
            &[&(version as i64), &super::now_ms()],
        )?;
        applied += 1;
    }
    tx.commit()?;
    if applied > 0 {
        tracing::info!(url = %url, applied, schema_version = supported, "PostgreSQL schema migrated");
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_postgres_migration_per_sqlite_migration() {
        assert_eq!(super::schema_version(), super::super::schema_version());
    }
}
