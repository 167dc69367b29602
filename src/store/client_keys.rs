//! Rows of `client_keys` and the server key of their keyed hash (migrations/0010). The
//! registry in `keys` loads every row at start and after each change; requests never read here.
use rusqlite::{ErrorCode, OptionalExtension, Row, params};

use super::StoreError;
use super::db::Db;
use crate::google::kind::CredentialKind;

/// A stored key: its limits and the hash of its secret (never the secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRow {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub secret_hash: [u8; 32],
    pub fields: KeyFields,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What an operator sets on a key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyFields {
    pub note: String,
    pub enabled: bool,
    /// ms; `None`: never expires.
    pub expires_at: Option<i64>,
    /// Model patterns (`gemini-2.5-*`); empty: every model.
    pub models: Vec<String>,
    /// Credential kinds that may serve the key's requests; empty: every kind.
    pub kinds: Vec<CredentialKind>,
    /// 0: no limit.
    pub daily_requests: u64,
    pub daily_tokens: u64,
    pub rpm: u64,
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn from_row(r: &Row) -> rusqlite::Result<KeyRow> {
    let hash: Vec<u8> = r.get("secret_hash")?;
    let mut secret_hash = [0u8; 32];
    if hash.len() == 32 {
        secret_hash.copy_from_slice(&hash);
    }
    let models: String = r.get("models")?;
    let kinds: String = r.get("kinds")?;
    let kinds: Vec<String> = serde_json::from_str(&kinds).unwrap_or_default();
    Ok(KeyRow {
        id: r.get("id")?,
        name: r.get("name")?,
        prefix: r.get("prefix")?,
        secret_hash,
        fields: KeyFields {
            note: r.get("note")?,
            enabled: r.get::<_, i64>("enabled")? != 0,
            expires_at: r.get("expires_at")?,
            models: serde_json::from_str(&models).unwrap_or_default(),
            kinds: kinds
                .iter()
                .filter_map(|k| CredentialKind::parse(k))
                .collect(),
            daily_requests: to_u64(r.get("daily_requests")?),
            daily_tokens: to_u64(r.get("daily_tokens")?),
            rpm: to_u64(r.get("rpm")?),
        },
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

/// The PostgreSQL counterpart of `from_row`.
fn from_pg_row(r: &postgres::Row) -> Result<KeyRow, StoreError> {
    let get_err = |e: postgres::Error| StoreError::from(e);
    let hash: Vec<u8> = r.try_get("secret_hash").map_err(get_err)?;
    let mut secret_hash = [0u8; 32];
    if hash.len() == 32 {
        secret_hash.copy_from_slice(&hash);
    }
    let models: String = r.try_get("models").map_err(get_err)?;
    let kinds: String = r.try_get("kinds").map_err(get_err)?;
    let kinds: Vec<String> = serde_json::from_str(&kinds).unwrap_or_default();
    Ok(KeyRow {
        id: r.try_get("id").map_err(get_err)?,
        name: r.try_get("name").map_err(get_err)?,
        prefix: r.try_get("prefix").map_err(get_err)?,
        secret_hash,
        fields: KeyFields {
            note: r.try_get("note").map_err(get_err)?,
            enabled: r.try_get::<_, i64>("enabled").map_err(get_err)? != 0,
            expires_at: r.try_get("expires_at").map_err(get_err)?,
            models: serde_json::from_str(&models).unwrap_or_default(),
            kinds: kinds
                .iter()
                .filter_map(|k| CredentialKind::parse(k))
                .collect(),
            daily_requests: to_u64(r.try_get("daily_requests").map_err(get_err)?),
            daily_tokens: to_u64(r.try_get("daily_tokens").map_err(get_err)?),
            rpm: to_u64(r.try_get("rpm").map_err(get_err)?),
        },
        created_at: r.try_get("created_at").map_err(get_err)?,
        updated_at: r.try_get("updated_at").map_err(get_err)?,
    })
}

const COLUMNS: &str = "id, name, prefix, secret_hash, note, enabled, expires_at, models, kinds, \
                       daily_requests, daily_tokens, rpm, created_at, updated_at";

pub fn list<'c, 't: 'c>(db: impl Into<Db<'c, 't>>) -> Result<Vec<KeyRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM client_keys ORDER BY id");
    match db.into() {
        Db::Sqlite(conn) => {
            let mut st = conn.prepare(&sql)?;
            let rows = st.query_map([], from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        }
        Db::Postgres(tx) => tx.query(&sql, &[])?.iter().map(from_pg_row).collect(),
    }
}

pub fn get<'c, 't: 'c>(db: impl Into<Db<'c, 't>>, id: i64) -> Result<Option<KeyRow>, StoreError> {
    match db.into() {
        Db::Sqlite(conn) => Ok(conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM client_keys WHERE id = ?1"),
                [id],
                from_row,
            )
            .optional()?),
        Db::Postgres(tx) => tx
            .query_opt(
                &format!("SELECT {COLUMNS} FROM client_keys WHERE id = $1"),
                &[&id],
            )?
            .as_ref()
            .map(from_pg_row)
            .transpose(),
    }
}

fn json_list<T: serde::Serialize>(v: &[T]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn conflict(e: rusqlite::Error, name: &str) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => {
            StoreError::Conflict {
                what: format!("a client key named '{name}'"),
            }
        }
        _ => e.into(),
    }
}

/// The PostgreSQL counterpart of `conflict`: any integrity violation (class 23: the unique
/// name, the name's length check), as SQLite reports every constraint alike.
fn pg_conflict(e: postgres::Error, name: &str) -> StoreError {
    match e.code() {
        Some(code) if code.code().starts_with("23") => StoreError::Conflict {
            what: format!("a client key named '{name}'"),
        },
        _ => e.into(),
    }
}

/// Insert a key; a taken name is a `Conflict`.
pub fn insert<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    name: &str,
    prefix: &str,
    secret_hash: &[u8; 32],
    f: &KeyFields,
    now: i64,
) -> Result<KeyRow, StoreError> {
    let (enabled, models, kinds) = (
        i64::from(f.enabled),
        json_list(&f.models),
        json_list(&f.kinds),
    );
    let (daily_requests, daily_tokens, rpm) = (
        to_i64(f.daily_requests),
        to_i64(f.daily_tokens),
        to_i64(f.rpm),
    );
    match db.into() {
        Db::Sqlite(conn) => {
            conn.execute(
                "INSERT INTO client_keys (name, prefix, secret_hash, note, enabled, expires_at, models,
                     kinds, daily_requests, daily_tokens, rpm, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
                params![
                    name,
                    prefix,
                    &secret_hash[..],
                    f.note,
                    enabled,
                    f.expires_at,
                    models,
                    kinds,
                    daily_requests,
                    daily_tokens,
                    rpm,
                    now
                ],
            )
            .map_err(|e| conflict(e, name))?;
            let id = conn.last_insert_rowid();
            get(conn, id)?.ok_or_else(|| StoreError::NotFound {
                what: format!("client key {id}"),
            })
        }
        Db::Postgres(tx) => {
            let row = tx
                .query_one(
                    &format!(
                        "INSERT INTO client_keys (name, prefix, secret_hash, note, enabled,
                             expires_at, models, kinds, daily_requests, daily_tokens, rpm,
                             created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
                         RETURNING {COLUMNS}"
                    ),
                    &[
                        &name,
                        &prefix,
                        &&secret_hash[..],
                        &f.note,
                        &enabled,
                        &f.expires_at,
                        &models,
                        &kinds,
                        &daily_requests,
                        &daily_tokens,
                        &rpm,
                        &now,
                    ],
                )
                .map_err(|e| pg_conflict(e, name))?;
            from_pg_row(&row)
        }
    }
}

/// Replace a key's name and fields; `None` when there is no such key.
pub fn update<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    id: i64,
    name: &str,
    f: &KeyFields,
    now: i64,
) -> Result<Option<KeyRow>, StoreError> {
    let (enabled, models, kinds) = (
        i64::from(f.enabled),
        json_list(&f.models),
        json_list(&f.kinds),
    );
    let (daily_requests, daily_tokens, rpm) = (
        to_i64(f.daily_requests),
        to_i64(f.daily_tokens),
        to_i64(f.rpm),
    );
    match db.into() {
        Db::Sqlite(conn) => {
            let n = conn
                .execute(
                    "UPDATE client_keys SET name = ?2, note = ?3, enabled = ?4, expires_at = ?5,
                         models = ?6, kinds = ?7, daily_requests = ?8, daily_tokens = ?9, rpm = ?10,
                         updated_at = ?11
                     WHERE id = ?1",
                    params![
                        id,
                        name,
                        f.note,
                        enabled,
                        f.expires_at,
                        models,
                        kinds,
                        daily_requests,
                        daily_tokens,
                        rpm,
                        now
                    ],
                )
                .map_err(|e| conflict(e, name))?;
            if n == 0 {
                return Ok(None);
            }
            get(conn, id)
        }
        Db::Postgres(tx) => tx
            .query_opt(
                &format!(
                    "UPDATE client_keys SET name = $2, note = $3, enabled = $4, expires_at = $5,
                         models = $6, kinds = $7, daily_requests = $8, daily_tokens = $9,
                         rpm = $10, updated_at = $11
                     WHERE id = $1 RETURNING {COLUMNS}"
                ),
                &[
                    &id,
                    &name,
                    &f.note,
                    &enabled,
                    &f.expires_at,
                    &models,
                    &kinds,
                    &daily_requests,
                    &daily_tokens,
                    &rpm,
                    &now,
                ],
            )
            .map_err(|e| pg_conflict(e, name))?
            .as_ref()
            .map(from_pg_row)
            .transpose(),
    }
}

/// Delete a key; returns whether it existed.
pub fn delete<'c, 't: 'c>(db: impl Into<Db<'c, 't>>, id: i64) -> Result<bool, StoreError> {
    match db.into() {
        Db::Sqlite(conn) => Ok(conn.execute("DELETE FROM client_keys WHERE id = ?1", [id])? > 0),
        Db::Postgres(tx) => Ok(tx.execute("DELETE FROM client_keys WHERE id = $1", &[&id])? > 0),
    }
}

fn key_of(k: &[u8]) -> Option<[u8; 32]> {
    <[u8; 32]>::try_from(k).ok()
}

/// The server key of the keyed hash, made on first use.
pub fn server_secret<'c, 't: 'c>(db: impl Into<Db<'c, 't>>) -> Result<[u8; 32], StoreError> {
    match db.into() {
        Db::Sqlite(conn) => {
            let existing: Option<Vec<u8>> = conn
                .query_row(
                    "SELECT key FROM client_key_server_secret WHERE id = 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(k) = existing.as_deref().and_then(key_of) {
                return Ok(k);
            }
            let key: [u8; 32] = rand::random();
            conn.execute(
                "INSERT INTO client_key_server_secret (id, key) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET key = excluded.key",
                [&key[..]],
            )?;
            Ok(key)
        }
        // Instances starting together on an empty database must end up with one key: the
        // first insert wins and everyone reads back what is stored.
        Db::Postgres(tx) => {
            let key: [u8; 32] = rand::random();
            tx.execute(
                "INSERT INTO client_key_server_secret (id, key) VALUES (1, $1)
                 ON CONFLICT (id) DO NOTHING",
                &[&&key[..]],
            )?;
            let stored: Vec<u8> = tx
                .query_one("SELECT key FROM client_key_server_secret WHERE id = 1", &[])?
                .get(0);
            key_of(&stored).ok_or_else(|| {
                StoreError::Data("client_key_server_secret: the key is not 32 bytes".into())
            })
        }
    }
}

/// Requests and tokens per key on quota day `day` (rows of `usage_key_daily`): where the
/// daily limits start from after a restart.
pub fn usage_on<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    day: &str,
) -> Result<Vec<(i64, u64, u64)>, StoreError> {
    match db.into() {
        Db::Sqlite(conn) => {
            let mut st = conn.prepare(
                "SELECT key_id, SUM(requests), SUM(prompt_tokens + completion_tokens)
                 FROM usage_key_daily WHERE day = ?1 GROUP BY key_id",
            )?;
            let rows = st.query_map([day], |r| {
                Ok((r.get::<_, i64>(0)?, to_u64(r.get(1)?), to_u64(r.get(2)?)))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        }
        // SUM of a BIGINT is NUMERIC here: back to BIGINT, as SQLite's integer sum.
        Db::Postgres(tx) => Ok(tx
            .query(
                "SELECT key_id, SUM(requests)::BIGINT,
                     SUM(prompt_tokens + completion_tokens)::BIGINT
                 FROM usage_key_daily WHERE day = $1 GROUP BY key_id ORDER BY key_id",
                &[&day],
            )?
            .iter()
            .map(|r| (r.get(0), to_u64(r.get(1)), to_u64(r.get(2))))
            .collect()),
    }
}
