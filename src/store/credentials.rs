//! Rows of the `credentials` table. Minimal but complete CRUD; the pool builds its in-memory index
//! from `list` and writes every state change through `set_state` / `update_tokens` first.
use rusqlite::types::ToSql;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, params};
use serde_json::Value;

use super::StoreError;
use crate::google::kind::CredentialKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialSource {
    Upload,
    Env,
    Oauth,
    Dir,
    Demo,
}

impl CredentialSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Env => "env",
            Self::Oauth => "oauth",
            Self::Dir => "dir",
            Self::Demo => "demo",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "upload" => Self::Upload,
            "env" => Self::Env,
            "oauth" => Self::Oauth,
            "dir" => Self::Dir,
            "demo" => Self::Demo,
            _ => return None,
        })
    }
}

/// A credential to insert. `payload` holds its secrets: for Code Assist the OAuth fields
/// (client_id, client_secret, refresh_token, access_token, expiry, token_uri, ...), for an API
/// key `{"api_key"}`, for a service account its key file.
#[derive(Clone)]
pub struct NewCredential {
    pub name: String,
    pub source: CredentialSource,
    pub kind: CredentialKind,
    pub payload: Value,
    pub email: Option<String>,
    pub project_id: Option<String>,
    pub tier: Option<String>,
    pub refresh_token_sha256: Option<String>,
    /// Keys and service accounts: SHA-256 hex of what identifies the secret (duplicates).
    pub secret_sha256: Option<String>,
    pub quota_group: Option<String>,
    /// Models the credential was found to serve (a Gemini API key's model list).
    pub models: Option<Vec<String>>,
}

impl NewCredential {
    /// A Code Assist credential with nothing but the fields every import knows.
    pub fn code_assist(name: impl Into<String>, source: CredentialSource, payload: Value) -> Self {
        Self {
            name: name.into(),
            source,
            kind: CredentialKind::CodeAssist,
            payload,
            email: None,
            project_id: None,
            tier: None,
            refresh_token_sha256: None,
            secret_sha256: None,
            quota_group: None,
            models: None,
        }
    }
}

impl std::fmt::Debug for NewCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCredential")
            .field("name", &self.name)
            .field("source", &self.source)
            .field("kind", &self.kind)
            .field("payload", &"<redacted>")
            .field("email", &self.email)
            .field("project_id", &self.project_id)
            .field("quota_group", &self.quota_group)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq)]
pub struct CredentialRow {
    pub id: i64,
    pub name: String,
    pub source: CredentialSource,
    pub kind: CredentialKind,
    pub payload: Value,
    pub email: Option<String>,
    pub project_id: Option<String>,
    pub tier: Option<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub ban_reason: Option<String>,
    pub ban_link: Option<String>,
    pub preview_ok: Option<bool>,
    pub refresh_token_sha256: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_success_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub quota_group: Option<String>,
    /// Discovered models; `None` when never discovered (the kind's defaults apply).
    pub models: Option<Vec<String>>,
    pub models_checked_at: Option<i64>,
    pub secret_sha256: Option<String>,
}

// The payload carries refresh tokens and client secrets: never let `{:?}` print it.
impl std::fmt::Debug for CredentialRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("source", &self.source)
            .field("kind", &self.kind)
            .field("payload", &"<redacted>")
            .field("email", &self.email)
            .field("project_id", &self.project_id)
            .field("tier", &self.tier)
            .field("quota_group", &self.quota_group)
            .field("enabled", &self.enabled)
            .field("disabled_reason", &self.disabled_reason)
            .field("ban_reason", &self.ban_reason)
            .field("preview_ok", &self.preview_ok)
            .finish_non_exhaustive()
    }
}

/// Fields to change; `None` leaves a field alone, `Some(None)` clears a nullable one.
#[derive(Clone, Debug, Default)]
pub struct StatePatch {
    pub enabled: Option<bool>,
    pub disabled_reason: Option<Option<String>>,
    pub ban_reason: Option<Option<String>>,
    pub ban_link: Option<Option<String>>,
    pub preview_ok: Option<Option<bool>>,
    pub email: Option<Option<String>>,
    pub project_id: Option<Option<String>>,
    pub tier: Option<Option<String>>,
    pub last_success_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

// `secret_open` decrypts a sealed payload (see `at_rest`); plain ones pass through.
const COLUMNS: &str = "id, name, source, secret_open(id, payload_json), email, project_id, tier, enabled, \
    disabled_reason, ban_reason, ban_link, preview_ok, refresh_token_sha256, created_at, \
    updated_at, last_success_at, last_used_at, kind, quota_group, models_json, \
    models_checked_at, secret_sha256";

/// Text columns decoded by [`finish`]: source, payload, kind, models.
type RawText = (String, String, String, Option<String>);

fn from_row(r: &Row<'_>) -> rusqlite::Result<(CredentialRow, RawText)> {
    // Decoding of the text columns that can fail is done by the caller, so the error names
    // the credential instead of surfacing as an opaque rusqlite conversion error.
    let raw = (r.get(2)?, r.get(3)?, r.get(17)?, r.get(19)?);
    Ok((
        CredentialRow {
            id: r.get(0)?,
            name: r.get(1)?,
            source: CredentialSource::Demo,
            kind: CredentialKind::CodeAssist,
            payload: Value::Null,
            email: r.get(4)?,
            project_id: r.get(5)?,
            tier: r.get(6)?,
            enabled: r.get(7)?,
            disabled_reason: r.get(8)?,
            ban_reason: r.get(9)?,
            ban_link: r.get(10)?,
            preview_ok: r.get(11)?,
            refresh_token_sha256: r.get(12)?,
            created_at: r.get(13)?,
            updated_at: r.get(14)?,
            last_success_at: r.get(15)?,
            last_used_at: r.get(16)?,
            quota_group: r.get(18)?,
            models: None,
            models_checked_at: r.get(20)?,
            secret_sha256: r.get(21)?,
        },
        raw,
    ))
}

fn finish(
    (mut row, (source, payload, kind, models)): (CredentialRow, RawText),
) -> Result<CredentialRow, StoreError> {
    row.source = CredentialSource::parse(&source).ok_or_else(|| {
        StoreError::Data(format!("credential {}: unknown source {source:?}", row.id))
    })?;
    row.kind = CredentialKind::parse(&kind)
        .ok_or_else(|| StoreError::Data(format!("credential {}: unknown kind {kind:?}", row.id)))?;
    row.payload = serde_json::from_str(&payload)
        .map_err(|e| StoreError::Data(format!("credential {}: payload: {e}", row.id)))?;
    row.models = models
        .map(|m| serde_json::from_str(&m))
        .transpose()
        .map_err(|e| StoreError::Data(format!("credential {}: models: {e}", row.id)))?;
    Ok(row)
}

fn models_json(models: &Option<Vec<String>>) -> Option<String> {
    models.as_ref().map(|m| Value::from(m.clone()).to_string())
}

/// Insert a new credential; a name that already exists is a `Conflict`.
pub fn insert(conn: &Connection, c: &NewCredential, now: i64) -> Result<i64, StoreError> {
    in_savepoint(conn, |conn| {
        let id = insert_row(conn, c, now)?;
        write_payload(conn, id, &c.payload)?;
        Ok(id)
    })
}

/// Runs `f` inside a savepoint (nested in the caller's transaction, if any), so a row and the
/// payload written after it (sealing needs the row id) land together or not at all.
fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.execute_batch("SAVEPOINT credential_write")?;
    match f(conn) {
        Ok(v) => {
            conn.execute_batch("RELEASE credential_write")?;
            Ok(v)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO credential_write; RELEASE credential_write");
            Err(e)
        }
    }
}

/// Stores a payload, sealed with the row id when a key is in use (`secret_seal`). The plain
/// text is only ever a bound parameter, so it never reaches a database page.
fn write_payload(conn: &Connection, id: i64, payload: &Value) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE credentials SET payload_json = secret_seal(id, ?1) WHERE id = ?2",
        params![payload.to_string(), id],
    )?;
    Ok(())
}

/// The row without its secrets (an empty payload, filled by `write_payload`).
fn insert_row(conn: &Connection, c: &NewCredential, now: i64) -> Result<i64, StoreError> {
    let checked = c.models.as_ref().map(|_| now);
    let r = conn.execute(
        "INSERT INTO credentials (name, source, payload_json, email, project_id, tier,
             refresh_token_sha256, created_at, updated_at, kind, quota_group, models_json,
             models_checked_at, secret_sha256)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            c.name,
            c.source.as_str(),
            "{}",
            c.email,
            c.project_id,
            c.tier,
            c.refresh_token_sha256,
            now,
            c.kind.as_str(),
            c.quota_group,
            models_json(&c.models),
            checked,
            c.secret_sha256,
        ],
    );
    match r {
        Ok(_) => Ok(conn.last_insert_rowid()),
        Err(e)
            if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
                && is_name_conflict(conn, &c.name)? =>
        {
            Err(StoreError::Conflict {
                what: format!("credential {:?}", c.name),
            })
        }
        Err(e) => Err(e.into()),
    }
}

fn is_name_conflict(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    Ok(get_id_by_name(conn, name)?.is_some())
}

/// Insert, or replace the payload and identity fields of the credential with the same name
/// (re-upload of a refreshed file). State fields (enabled, bans, timestamps) are kept.
pub fn upsert_by_name(conn: &Connection, c: &NewCredential, now: i64) -> Result<i64, StoreError> {
    in_savepoint(conn, |conn| {
        let id = upsert_row(conn, c, now)?;
        write_payload(conn, id, &c.payload)?;
        Ok(id)
    })
}

fn upsert_row(conn: &Connection, c: &NewCredential, now: i64) -> Result<i64, StoreError> {
    let id = conn.query_row(
        "INSERT INTO credentials (name, source, payload_json, email, project_id, tier,
             refresh_token_sha256, created_at, updated_at, kind, secret_sha256)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)
         ON CONFLICT (name) DO UPDATE SET
             source = excluded.source,
             kind = excluded.kind,
             secret_sha256 = excluded.secret_sha256,
             payload_json = excluded.payload_json,
             email = coalesce(excluded.email, credentials.email),
             project_id = coalesce(excluded.project_id, credentials.project_id),
             tier = coalesce(excluded.tier, credentials.tier),
             refresh_token_sha256 = excluded.refresh_token_sha256,
             updated_at = excluded.updated_at
         RETURNING id",
        params![
            c.name,
            c.source.as_str(),
            "{}",
            c.email,
            c.project_id,
            c.tier,
            c.refresh_token_sha256,
            now,
            c.kind.as_str(),
            c.secret_sha256,
        ],
        |r| r.get(0),
    )?;
    Ok(id)
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<CredentialRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM credentials WHERE id = ?1");
    conn.query_row(&sql, [id], from_row)
        .optional()?
        .map(finish)
        .transpose()
}

/// The rows of `ids` (any order; missing ids are left out). Chunked under SQLite's limit on
/// bound parameters.
pub fn get_many(conn: &Connection, ids: &[i64]) -> Result<Vec<CredentialRow>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(",");
        let sql = format!("SELECT {COLUMNS} FROM credentials WHERE id IN ({marks})");
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(chunk.iter()), from_row)?;
        for r in rows {
            out.push(finish(r?)?);
        }
    }
    Ok(out)
}

pub fn get_by_name(conn: &Connection, name: &str) -> Result<Option<CredentialRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM credentials WHERE name = ?1");
    conn.query_row(&sql, [name], from_row)
        .optional()?
        .map(finish)
        .transpose()
}

pub fn get_id_by_name(conn: &Connection, name: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .query_row("SELECT id FROM credentials WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?)
}

/// Ids of credentials holding this refresh token (by its SHA-256 hex), for duplicate detection.
pub fn find_by_refresh_token_sha256(
    conn: &Connection,
    sha256_hex: &str,
) -> Result<Vec<i64>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT id FROM credentials WHERE refresh_token_sha256 = ?1 ORDER BY id")?;
    let ids = stmt.query_map([sha256_hex], |r| r.get(0))?;
    Ok(ids.collect::<Result<_, _>>()?)
}

/// Every credential, oldest first (the stable order the rotation starts from).
pub fn list(conn: &Connection) -> Result<Vec<CredentialRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM credentials ORDER BY id");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], from_row)?;
    rows.map(|r| finish(r?)).collect()
}

/// Delete a credential and (by cascade) its errors, cooldowns and capabilities.
pub fn delete(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM credentials WHERE id = ?1", [id])? > 0)
}

/// Apply a patch; returns false when no credential has this id. An empty patch only checks
/// existence.
pub fn set_state(
    conn: &Connection,
    id: i64,
    patch: &StatePatch,
    now: i64,
) -> Result<bool, StoreError> {
    let mut sets: Vec<&'static str> = Vec::new();
    let mut values: Vec<Box<dyn ToSql>> = Vec::new();
    let mut push = |col: &'static str, v: Box<dyn ToSql>| {
        sets.push(col);
        values.push(v);
    };
    if let Some(v) = patch.enabled {
        push("enabled", Box::new(v));
    }
    if let Some(v) = &patch.disabled_reason {
        push("disabled_reason", Box::new(v.clone()));
    }
    if let Some(v) = &patch.ban_reason {
        push("ban_reason", Box::new(v.clone()));
    }
    if let Some(v) = &patch.ban_link {
        push("ban_link", Box::new(v.clone()));
    }
    if let Some(v) = patch.preview_ok {
        push("preview_ok", Box::new(v));
    }
    if let Some(v) = &patch.email {
        push("email", Box::new(v.clone()));
    }
    if let Some(v) = &patch.project_id {
        push("project_id", Box::new(v.clone()));
    }
    if let Some(v) = &patch.tier {
        push("tier", Box::new(v.clone()));
    }
    if let Some(v) = patch.last_success_at {
        push("last_success_at", Box::new(v));
    }
    if let Some(v) = patch.last_used_at {
        push("last_used_at", Box::new(v));
    }
    push("updated_at", Box::new(now));
    // Column names come from the fixed list above, never from input.
    let assignments: Vec<String> = sets
        .iter()
        .enumerate()
        .map(|(i, col)| format!("{col} = ?{}", i + 1))
        .collect();
    let sql = format!(
        "UPDATE credentials SET {} WHERE id = ?{}",
        assignments.join(", "),
        values.len() + 1
    );
    values.push(Box::new(id));
    let params: Vec<&dyn ToSql> = values.iter().map(|v| v.as_ref()).collect();
    Ok(conn.execute(&sql, params.as_slice())? > 0)
}

/// New tokens after a refresh, written with json_set inside SQLite so concurrent state writes
/// cannot be lost to a read-modify-write of the payload (opened and sealed again in the same
/// statement when a key is in use). `token` mirrors `access_token` for the
/// Gemini CLI file format. A rotated refresh token also updates its digest.
pub fn update_tokens(
    conn: &Connection,
    id: i64,
    access_token: &str,
    expiry: Option<&str>,
    new_refresh_token: Option<(&str, &str)>,
    now: i64,
) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE credentials SET
             payload_json = secret_seal(id, json_set(secret_open(id, payload_json),
                 '$.access_token', ?1, '$.token', ?1, '$.expiry', ?2)),
             updated_at = ?3
         WHERE id = ?4",
        params![access_token, expiry, now, id],
    )?;
    if changed == 0 {
        return Ok(false);
    }
    if let Some((refresh_token, sha256_hex)) = new_refresh_token {
        conn.execute(
            "UPDATE credentials SET
                 payload_json = secret_seal(id,
                     json_set(secret_open(id, payload_json), '$.refresh_token', ?1)),
                 refresh_token_sha256 = ?2
             WHERE id = ?3",
            params![refresh_token, sha256_hex, id],
        )?;
    }
    Ok(true)
}

/// The pool's serialized state per credential (`None` for rows written before it existed or
/// never touched by the pool).
pub fn pool_states(conn: &Connection) -> Result<Vec<(i64, Option<String>)>, StoreError> {
    let mut stmt = conn.prepare("SELECT id, state_json FROM credentials ORDER BY id")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Writes the pool's state document; callers pair it with `set_state` for the mirrored columns
/// inside one transaction.
pub fn set_pool_state(conn: &Connection, id: i64, state_json: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE credentials SET state_json = ?1 WHERE id = ?2",
        params![state_json, id],
    )? > 0)
}

/// Names the Google project a key's quota belongs to (`None`: its own group).
pub fn set_quota_group(
    conn: &Connection,
    id: i64,
    group: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE credentials SET quota_group = ?1, updated_at = ?2 WHERE id = ?3",
        params![group, now, id],
    )? > 0)
}

/// Records the models a credential was found to serve, and when.
pub fn set_models(
    conn: &Connection,
    id: i64,
    models: &[String],
    now: i64,
) -> Result<bool, StoreError> {
    let json = Value::from(models.to_vec()).to_string();
    Ok(conn.execute(
        "UPDATE credentials SET models_json = ?1, models_checked_at = ?2 WHERE id = ?3",
        params![json, now, id],
    )? > 0)
}

/// Ids of credentials whose secret has this fingerprint (keys and service accounts).
pub fn find_by_secret_sha256(conn: &Connection, sha256_hex: &str) -> Result<Vec<i64>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT id FROM credentials WHERE secret_sha256 = ?1 ORDER BY id")?;
    let ids = stmt.query_map([sha256_hex], |r| r.get(0))?;
    Ok(ids.collect::<Result<_, _>>()?)
}

/// Replaces a credential's secrets and source in place (an env credential taking over a
/// directory copy of the same account keeps the row, its id and its history).
pub fn replace_payload(
    conn: &Connection,
    id: i64,
    payload: &Value,
    source: CredentialSource,
    refresh_token_sha256: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let json = serde_json::to_string(payload).map_err(|e| StoreError::Data(e.to_string()))?;
    Ok(conn.execute(
        "UPDATE credentials SET payload_json = secret_seal(id, ?1), source = ?2, refresh_token_sha256 = ?3, updated_at = ?4 WHERE id = ?5",
        params![json, source.as_str(), refresh_token_sha256, now, id],
    )? > 0)
}

/// What identifies a credential apart from its id (see migrations/0009): a key's or service
/// account's secret hash, a Code Assist refresh token's hash and, once known, its account plus
/// project. Usage is carried over from deleted credentials that share one.
pub fn identities(
    kind: CredentialKind,
    secret_sha256: Option<&str>,
    refresh_token_sha256: Option<&str>,
    email: Option<&str>,
    project_id: Option<&str>,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(s) = secret_sha256.filter(|s| !s.is_empty()) {
        out.push(format!("secret:{s}"));
    }
    if kind == CredentialKind::CodeAssist {
        if let Some(r) = refresh_token_sha256.filter(|s| !s.is_empty()) {
            out.push(format!("refresh:{r}"));
        }
        if let (Some(e), Some(p)) = (email, project_id) {
            out.push(format!("account:{}/{p}", e.to_lowercase()));
        }
    }
    out
}

/// Links `id` to `identities` and answers the other credentials ever linked to any of them
/// (deleted ones included), oldest first.
pub fn link_identities(
    conn: &Connection,
    id: i64,
    identities: &[String],
) -> Result<Vec<i64>, StoreError> {
    let mut ins = conn.prepare_cached(
        "INSERT OR IGNORE INTO credential_identities (identity, credential_id) VALUES (?1, ?2)",
    )?;
    let mut find = conn.prepare_cached(
        "SELECT credential_id FROM credential_identities WHERE identity = ?1 AND credential_id <> ?2",
    )?;
    let mut others = Vec::new();
    for identity in identities {
        ins.execute(params![identity, id])?;
        for other in find.query_map(params![identity, id], |r| r.get::<_, i64>(0))? {
            others.push(other?);
        }
    }
    others.sort_unstable();
    others.dedup();
    Ok(others)
}
