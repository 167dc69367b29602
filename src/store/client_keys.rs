//! Rows of `client_keys` and the server key of their keyed hash (migrations/0010). The
//! registry in `keys` loads every row at start and after each change; requests never read here.
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, params};

use super::StoreError;
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

const COLUMNS: &str = "id, name, prefix, secret_hash, note, enabled, expires_at, models, kinds, \
                       daily_requests, daily_tokens, rpm, created_at, updated_at";

pub fn list(conn: &Connection) -> Result<Vec<KeyRow>, StoreError> {
    let mut st = conn.prepare(&format!("SELECT {COLUMNS} FROM client_keys ORDER BY id"))?;
    let rows = st.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<KeyRow>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM client_keys WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?)
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

/// Insert a key; a taken name is a `Conflict`.
pub fn insert(
    conn: &Connection,
    name: &str,
    prefix: &str,
    secret_hash: &[u8; 32],
    f: &KeyFields,
    now: i64,
) -> Result<KeyRow, StoreError> {
    conn.execute(
        "INSERT INTO client_keys (name, prefix, secret_hash, note, enabled, expires_at, models,
             kinds, daily_requests, daily_tokens, rpm, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
        params![
            name,
            prefix,
            &secret_hash[..],
            f.note,
            i64::from(f.enabled),
            f.expires_at,
            json_list(&f.models),
            json_list(&f.kinds),
            to_i64(f.daily_requests),
            to_i64(f.daily_tokens),
            to_i64(f.rpm),
            now
        ],
    )
    .map_err(|e| conflict(e, name))?;
    let id = conn.last_insert_rowid();
    get(conn, id)?.ok_or_else(|| StoreError::NotFound {
        what: format!("client key {id}"),
    })
}

/// Replace a key's name and fields; `None` when there is no such key.
pub fn update(
    conn: &Connection,
    id: i64,
    name: &str,
    f: &KeyFields,
    now: i64,
) -> Result<Option<KeyRow>, StoreError> {
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
                i64::from(f.enabled),
                f.expires_at,
                json_list(&f.models),
                json_list(&f.kinds),
                to_i64(f.daily_requests),
                to_i64(f.daily_tokens),
                to_i64(f.rpm),
                now
            ],
        )
        .map_err(|e| conflict(e, name))?;
    if n == 0 {
        return Ok(None);
    }
    get(conn, id)
}

/// Delete a key; returns whether it existed.
pub fn delete(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM client_keys WHERE id = ?1", [id])? > 0)
}

/// The server key of the keyed hash, made on first use.
pub fn server_secret(conn: &Connection) -> Result<[u8; 32], StoreError> {
    let existing: Option<Vec<u8>> = conn
        .query_row(
            "SELECT key FROM client_key_server_secret WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(k) = existing
        && k.len() == 32
    {
        let mut out = [0u8; 32];
        out.copy_from_slice(&k);
        return Ok(out);
    }
    let key: [u8; 32] = rand::random();
    conn.execute(
        "INSERT INTO client_key_server_secret (id, key) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET key = excluded.key",
        [&key[..]],
    )?;
    Ok(key)
}

/// Requests and tokens per key on quota day `day` (rows of `usage_key_daily`): where the
/// daily limits start from after a restart.
pub fn usage_on(conn: &Connection, day: &str) -> Result<Vec<(i64, u64, u64)>, StoreError> {
    let mut st = conn.prepare(
        "SELECT key_id, SUM(requests), SUM(prompt_tokens + completion_tokens)
         FROM usage_key_daily WHERE day = ?1 GROUP BY key_id",
    )?;
    let rows = st.query_map([day], |r| {
        Ok((r.get::<_, i64>(0)?, to_u64(r.get(1)?), to_u64(r.get(2)?)))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
