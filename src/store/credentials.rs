//! Rows of the `credentials` table. Minimal but complete CRUD; the pool builds its in-memory index
//! from `list` and writes every state change through `set_state` / `update_tokens` first.
use rusqlite::types::ToSql;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, params};
use serde_json::Value;

use super::StoreError;
use super::at_rest::{self, Cell};
use super::db::Db;
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

/// The same columns on PostgreSQL, where the payload is opened in Rust (`from_pg_row`).
const PG_COLUMNS: &str = "id, name, source, payload_json, email, project_id, tier, enabled, \
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

/// A row of `PG_COLUMNS`, its payload opened with the store's key. The 0/1 columns are
/// BIGINT there (SQLite's integers), read as such and compared.
fn from_pg_row(r: &postgres::Row) -> Result<CredentialRow, StoreError> {
    let id: i64 = r.try_get(0)?;
    let payload = at_rest::open_in_rust(&Cell::Credential(id), r.try_get(3)?)?;
    let raw = (r.try_get(2)?, payload, r.try_get(17)?, r.try_get(19)?);
    let preview_ok: Option<i64> = r.try_get(11)?;
    finish((
        CredentialRow {
            id,
            name: r.try_get(1)?,
            source: CredentialSource::Demo,
            kind: CredentialKind::CodeAssist,
            payload: Value::Null,
            email: r.try_get(4)?,
            project_id: r.try_get(5)?,
            tier: r.try_get(6)?,
            enabled: r.try_get::<_, i64>(7)? != 0,
            disabled_reason: r.try_get(8)?,
            ban_reason: r.try_get(9)?,
            ban_link: r.try_get(10)?,
            preview_ok: preview_ok.map(|v| v != 0),
            refresh_token_sha256: r.try_get(12)?,
            created_at: r.try_get(13)?,
            updated_at: r.try_get(14)?,
            last_success_at: r.try_get(15)?,
            last_used_at: r.try_get(16)?,
            quota_group: r.try_get(18)?,
            models: None,
            models_checked_at: r.try_get(20)?,
            secret_sha256: r.try_get(21)?,
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
pub fn insert<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    c: &NewCredential,
    now: i64,
) -> Result<i64, StoreError> {
    match db.into() {
        Db::Sqlite(conn) => in_savepoint(conn, |conn| {
            let id = insert_row(conn, c, now)?;
            write_payload(Db::Sqlite(conn), id, &c.payload)?;
            Ok(id)
        }),
        // Always inside the caller's transaction there; DO NOTHING keeps a taken name from
        // aborting it (a failed statement would).
        Db::Postgres(tx) => {
            let checked = c.models.as_ref().map(|_| now);
            let id: Option<i64> = tx
                .query_opt(
                    "INSERT INTO credentials (name, source, payload_json, email, project_id, tier,
                         refresh_token_sha256, created_at, updated_at, kind, quota_group,
                         models_json, models_checked_at, secret_sha256)
                     VALUES ($1, $2, '{}', $3, $4, $5, $6, $7, $7, $8, $9, $10, $11, $12)
                     ON CONFLICT (name) DO NOTHING
                     RETURNING id",
                    &[
                        &c.name,
                        &c.source.as_str(),
                        &c.email,
                        &c.project_id,
                        &c.tier,
                        &c.refresh_token_sha256,
                        &now,
                        &c.kind.as_str(),
                        &c.quota_group,
                        &models_json(&c.models),
                        &checked,
                        &c.secret_sha256,
                    ],
                )?
                .map(|r| r.get(0));
            let id = id.ok_or_else(|| StoreError::Conflict {
                what: format!("credential {:?}", c.name),
            })?;
            write_payload(Db::Postgres(tx), id, &c.payload)?;
            Ok(id)
        }
    }
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

/// Stores a payload, sealed with the row id when a key is in use (`secret_seal` on SQLite, in
/// Rust on PostgreSQL). The plain text is only ever a bound parameter, so it never reaches a
/// database page.
fn write_payload(db: Db<'_, '_>, id: i64, payload: &Value) -> Result<(), StoreError> {
    match db {
        Db::Sqlite(conn) => {
            conn.execute(
                "UPDATE credentials SET payload_json = secret_seal(id, ?1) WHERE id = ?2",
                params![payload.to_string(), id],
            )?;
        }
        Db::Postgres(tx) => {
            let stored = at_rest::seal_in_rust(&Cell::Credential(id), payload.to_string());
            tx.execute(
                "UPDATE credentials SET payload_json = $1 WHERE id = $2",
                &[&stored, &id],
            )?;
        }
    }
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
                && get_id_by_name(conn, &c.name)?.is_some() =>
        {
            Err(StoreError::Conflict {
                what: format!("credential {:?}", c.name),
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// Insert, or replace the payload and identity fields of the credential with the same name
/// (re-upload of a refreshed file). State fields (enabled, bans, timestamps) are kept.
pub fn upsert_by_name<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    c: &NewCredential,
    now: i64,
) -> Result<i64, StoreError> {
    const UPSERT: &str = "ON CONFLICT (name) DO UPDATE SET
             source = excluded.source,
             kind = excluded.kind,
             secret_sha256 = excluded.secret_sha256,
             payload_json = excluded.payload_json,
             email = coalesce(excluded.email, credentials.email),
             project_id = coalesce(excluded.project_id, credentials.project_id),
             tier = coalesce(excluded.tier, credentials.tier),
             refresh_token_sha256 = excluded.refresh_token_sha256,
             updated_at = excluded.updated_at
         RETURNING id";
    const INSERT: &str = "INSERT INTO credentials (name, source, payload_json, email, project_id,
             tier, refresh_token_sha256, created_at, updated_at, kind, secret_sha256)";
    match db.into() {
        Db::Sqlite(conn) => in_savepoint(conn, |conn| {
            let id = conn.query_row(
                &format!(
                    "{INSERT} VALUES (?1, ?2, '{{}}', ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9) {UPSERT}"
                ),
                params![
                    c.name,
                    c.source.as_str(),
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
            write_payload(Db::Sqlite(conn), id, &c.payload)?;
            Ok(id)
        }),
        Db::Postgres(tx) => {
            let id: i64 = tx
                .query_one(
                    &format!(
                        "{INSERT} VALUES ($1, $2, '{{}}', $3, $4, $5, $6, $7, $7, $8, $9) {UPSERT}"
                    ),
                    &[
                        &c.name,
                        &c.source.as_str(),
                        &c.email,
                        &c.project_id,
                        &c.tier,
                        &c.refresh_token_sha256,
                        &now,
                        &c.kind.as_str(),
                        &c.secret_sha256,
                    ],
                )?
                .get(0);
            write_payload(Db::Postgres(tx), id, &c.payload)?;
            Ok(id)
        }
    }
}

pub fn get<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    id: i64,
) -> Result<Option<CredentialRow>, StoreError> {
    match db.into() {
        Db::Sqlite(conn) => {
            let sql = format!("SELECT {COLUMNS} FROM credentials WHERE id = ?1");
            conn.query_row(&sql, [id], from_row)
                .optional()?
                .map(finish)
                .transpose()
        }
        Db::Postgres(tx) => tx
            .query_opt(
                &format!("SELECT {PG_COLUMNS} FROM credentials WHERE id = $1"),
                &[&id],
            )?
            .as_ref()
            .map(from_pg_row)
            .transpose(),
    }
}

/// The rows of `ids` (any order; missing ids are left out). Chunked under SQLite's limit on
/// bound parameters.
pub fn get_many<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    ids: &[i64],
) -> Result<Vec<CredentialRow>, StoreError> {
    match db.into() {
        Db::Sqlite(conn) => {
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
        Db::Postgres(tx) => tx
            .query(
                &format!("SELECT {PG_COLUMNS} FROM credentials WHERE id = ANY($1)"),
                &[&ids],
            )?
            .iter()
            .map(from_pg_row)
            .collect(),
    }
}

pub fn get_by_name<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    name: &str,
) -> Result<Option<CredentialRow>, StoreError> {
    match db.into() {
        Db::Sqlite(conn) => {
            let sql = format!("SELECT {COLUMNS} FROM credentials WHERE name = ?1");
            conn.query_row(&sql, [name], from_row)
                .optional()?
                .map(finish)
                .transpose()
        }
        Db::Postgres(tx) => tx
            .query_opt(
                &format!("SELECT {PG_COLUMNS} FROM credentials WHERE name = $1"),
                &[&name],
            )?
            .as_ref()
            .map(from_pg_row)
            .transpose(),
    }
}

pub fn get_id_by_name<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    name: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(match db.into() {
        Db::Sqlite(conn) => conn
            .query_row("SELECT id FROM credentials WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?,
        Db::Postgres(tx) => tx
            .query_opt("SELECT id FROM credentials WHERE name = $1", &[&name])?
            .map(|r| r.get(0)),
    })
}

/// Ids in one text column equal to `value`, ascending (the duplicate lookups).
fn ids_where(db: Db<'_, '_>, column: &'static str, value: &str) -> Result<Vec<i64>, StoreError> {
    // `column` is one of two fixed names, never input.
    match db {
        Db::Sqlite(conn) => {
            let mut stmt = conn.prepare(&format!(
                "SELECT id FROM credentials WHERE {column} = ?1 ORDER BY id"
            ))?;
            let ids = stmt.query_map([value], |r| r.get(0))?;
            Ok(ids.collect::<Result<_, _>>()?)
        }
        Db::Postgres(tx) => Ok(tx
            .query(
                &format!("SELECT id FROM credentials WHERE {column} = $1 ORDER BY id"),
                &[&value],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect()),
    }
}

/// Ids of credentials holding this refresh token (by its SHA-256 hex), for duplicate detection.
pub fn find_by_refresh_token_sha256<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    sha256_hex: &str,
) -> Result<Vec<i64>, StoreError> {
    ids_where(db.into(), "refresh_token_sha256", sha256_hex)
}

/// Every credential, oldest first (the stable order the rotation starts from).
pub fn list<'c, 't: 'c>(db: impl Into<Db<'c, 't>>) -> Result<Vec<CredentialRow>, StoreError> {
    match db.into() {
        Db::Sqlite(conn) => {
            let sql = format!("SELECT {COLUMNS} FROM credentials ORDER BY id");
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt.query_map([], from_row)?;
            rows.map(|r| finish(r?)).collect()
        }
        Db::Postgres(tx) => tx
            .query(
                &format!("SELECT {PG_COLUMNS} FROM credentials ORDER BY id"),
                &[],
            )?
            .iter()
            .map(from_pg_row)
            .collect(),
    }
}

/// Delete a credential and (by cascade) its errors, cooldowns and capabilities.
pub fn delete<'c, 't: 'c>(db: impl Into<Db<'c, 't>>, id: i64) -> Result<bool, StoreError> {
    Ok(match db.into() {
        Db::Sqlite(conn) => conn.execute("DELETE FROM credentials WHERE id = ?1", [id])? > 0,
        Db::Postgres(tx) => tx.execute("DELETE FROM credentials WHERE id = $1", &[&id])? > 0,
    })
}

/// One column value of a [`StatePatch`], bound on either backend.
enum PatchValue {
    Flag(bool),
    MaybeFlag(Option<bool>),
    Text(Option<String>),
    Time(i64),
}

impl PatchValue {
    fn sqlite(&self) -> &dyn ToSql {
        match self {
            Self::Flag(v) => v,
            Self::MaybeFlag(v) => v,
            Self::Text(v) => v,
            Self::Time(v) => v,
        }
    }
}

/// Apply a patch; returns false when no credential has this id. An empty patch only checks
/// existence.
pub fn set_state<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    id: i64,
    patch: &StatePatch,
    now: i64,
) -> Result<bool, StoreError> {
    let mut sets: Vec<(&'static str, PatchValue)> = Vec::new();
    if let Some(v) = patch.enabled {
        sets.push(("enabled", PatchValue::Flag(v)));
    }
    let texts = [
        ("disabled_reason", &patch.disabled_reason),
        ("ban_reason", &patch.ban_reason),
        ("ban_link", &patch.ban_link),
    ];
    for (col, v) in texts {
        if let Some(v) = v {
            sets.push((col, PatchValue::Text(v.clone())));
        }
    }
    if let Some(v) = patch.preview_ok {
        sets.push(("preview_ok", PatchValue::MaybeFlag(v)));
    }
    let texts = [
        ("email", &patch.email),
        ("project_id", &patch.project_id),
        ("tier", &patch.tier),
    ];
    for (col, v) in texts {
        if let Some(v) = v {
            sets.push((col, PatchValue::Text(v.clone())));
        }
    }
    if let Some(v) = patch.last_success_at {
        sets.push(("last_success_at", PatchValue::Time(v)));
    }
    if let Some(v) = patch.last_used_at {
        sets.push(("last_used_at", PatchValue::Time(v)));
    }
    sets.push(("updated_at", PatchValue::Time(now)));
    let db = db.into();
    let mark = |i: usize| match db {
        Db::Sqlite(_) => format!("?{i}"),
        Db::Postgres(_) => format!("${i}"),
    };
    // Column names come from the fixed list above, never from input.
    let assignments: Vec<String> = sets
        .iter()
        .enumerate()
        .map(|(i, (col, _))| format!("{col} = {}", mark(i + 1)))
        .collect();
    let sql = format!(
        "UPDATE credentials SET {} WHERE id = {}",
        assignments.join(", "),
        mark(sets.len() + 1)
    );
    Ok(match db {
        Db::Sqlite(conn) => {
            let mut params: Vec<&dyn ToSql> = sets.iter().map(|(_, v)| v.sqlite()).collect();
            params.push(&id);
            conn.execute(&sql, params.as_slice())? > 0
        }
        Db::Postgres(tx) => {
            // The 0/1 columns are BIGINT on PostgreSQL.
            let values: Vec<Box<dyn postgres::types::ToSql + Sync>> = sets
                .into_iter()
                .map(|(_, v)| -> Box<dyn postgres::types::ToSql + Sync> {
                    match v {
                        PatchValue::Flag(b) => Box::new(i64::from(b)),
                        PatchValue::MaybeFlag(b) => Box::new(b.map(i64::from)),
                        PatchValue::Text(t) => Box::new(t),
                        PatchValue::Time(t) => Box::new(t),
                    }
                })
                .collect();
            let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> =
                values.iter().map(|v| v.as_ref()).collect();
            params.push(&id);
            tx.execute(&sql, &params)? > 0
        }
    })
}

/// New tokens after a refresh. On SQLite they are written with json_set inside the database
/// so concurrent state writes cannot be lost to a read-modify-write of the payload (opened and
/// sealed again in the same statement when a key is in use); on PostgreSQL the row is read
/// `FOR UPDATE`, edited and sealed in Rust, and written back in the caller's transaction, which
/// holds the row lock for the same guarantee. `token` mirrors `access_token` for the Gemini
/// CLI file format. A rotated refresh token also updates its digest.
pub fn update_tokens<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    id: i64,
    access_token: &str,
    expiry: Option<&str>,
    new_refresh_token: Option<(&str, &str)>,
    now: i64,
) -> Result<bool, StoreError> {
    let conn = match db.into() {
        Db::Sqlite(conn) => conn,
        Db::Postgres(tx) => {
            return update_tokens_pg(tx, id, access_token, expiry, new_refresh_token, now);
        }
    };
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

fn update_tokens_pg(
    tx: &mut postgres::Transaction<'_>,
    id: i64,
    access_token: &str,
    expiry: Option<&str>,
    new_refresh_token: Option<(&str, &str)>,
    now: i64,
) -> Result<bool, StoreError> {
    let cell = Cell::Credential(id);
    let Some(row) = tx.query_opt(
        "SELECT payload_json, refresh_token_sha256 FROM credentials WHERE id = $1 FOR UPDATE",
        &[&id],
    )?
    else {
        return Ok(false);
    };
    let text = at_rest::open_in_rust(&cell, row.get(0))?;
    let mut payload: Value = serde_json::from_str(&text)
        .map_err(|e| StoreError::Data(format!("credential {id}: payload: {e}")))?;
    let Some(fields) = payload.as_object_mut() else {
        return Err(StoreError::Data(format!(
            "credential {id}: payload is not an object"
        )));
    };
    fields.insert("access_token".into(), Value::from(access_token));
    fields.insert("token".into(), Value::from(access_token));
    fields.insert("expiry".into(), expiry.map_or(Value::Null, Value::from));
    let mut digest: Option<String> = row.get(1);
    if let Some((refresh_token, sha256_hex)) = new_refresh_token {
        fields.insert("refresh_token".into(), Value::from(refresh_token));
        digest = Some(sha256_hex.to_string());
    }
    let stored = at_rest::seal_in_rust(&cell, payload.to_string());
    tx.execute(
        "UPDATE credentials SET payload_json = $1, refresh_token_sha256 = $2, updated_at = $3
         WHERE id = $4",
        &[&stored, &digest, &now, &id],
    )?;
    Ok(true)
}

/// Tokens from a refresh, to write with [`write_tokens`].
#[derive(Clone)]
pub struct TokenWrite {
    pub access_token: String,
    /// RFC 3339.
    pub expiry: Option<String>,
    /// A rotated refresh token and its SHA-256 hex.
    pub rotated: Option<(String, String)>,
}

impl std::fmt::Debug for TokenWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenWrite")
            .field("expiry", &self.expiry)
            .field("rotated", &self.rotated.is_some())
            .finish_non_exhaustive()
    }
}

/// [`update_tokens`] taking a [`TokenWrite`].
pub fn write_tokens<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    id: i64,
    w: &TokenWrite,
    now: i64,
) -> Result<bool, StoreError> {
    let rotated = w.rotated.as_ref().map(|(r, h)| (r.as_str(), h.as_str()));
    update_tokens(db, id, &w.access_token, w.expiry.as_deref(), rotated, now)
}

/// One credential's pool state document: `None` when the row is gone, `Some(None)` when it
/// was never written. `for_update` locks the row to the end of the transaction on PostgreSQL
/// (the state writer merges with what it reads; SQLite's write lock is already held there).
pub fn pool_state<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    id: i64,
    for_update: bool,
) -> Result<Option<Option<String>>, StoreError> {
    Ok(match db.into() {
        Db::Sqlite(conn) => conn
            .query_row(
                "SELECT state_json FROM credentials WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?,
        Db::Postgres(tx) => {
            let lock = if for_update { " FOR UPDATE" } else { "" };
            tx.query_opt(
                &format!("SELECT state_json FROM credentials WHERE id = $1{lock}"),
                &[&id],
            )?
            .map(|r| r.get(0))
        }
    })
}

/// The pool's serialized state per credential (`None` for rows written before it existed or
/// never touched by the pool).
pub fn pool_states<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
) -> Result<Vec<(i64, Option<String>)>, StoreError> {
    match db.into() {
        Db::Sqlite(conn) => {
            let mut stmt = conn.prepare("SELECT id, state_json FROM credentials ORDER BY id")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        }
        Db::Postgres(tx) => Ok(tx
            .query("SELECT id, state_json FROM credentials ORDER BY id", &[])?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()),
    }
}

/// Writes the pool's state document; callers pair it with `set_state` for the mirrored columns
/// inside one transaction.
pub fn set_pool_state<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    id: i64,
    state_json: &str,
) -> Result<bool, StoreError> {
    Ok(match db.into() {
        Db::Sqlite(conn) => {
            conn.execute(
                "UPDATE credentials SET state_json = ?1 WHERE id = ?2",
                params![state_json, id],
            )? > 0
        }
        Db::Postgres(tx) => {
            tx.execute(
                "UPDATE credentials SET state_json = $1 WHERE id = $2",
                &[&state_json, &id],
            )? > 0
        }
    })
}

/// The pool's state document and the columns mirrored from it, as the pool's writer stores
/// them after a change.
pub struct PoolStateRow<'a> {
    pub state_json: &'a str,
    pub enabled: bool,
    pub ban_reason: Option<&'a str>,
    pub ban_link: Option<&'a str>,
    pub preview_ok: bool,
    /// `None` leaves the column as it is (a state that never learnt it).
    pub email: Option<&'a str>,
    pub project_id: Option<&'a str>,
    pub tier: Option<&'a str>,
    pub last_success_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// Writes a [`PoolStateRow`] in one cached statement on SQLite: the writer stores one row per
/// credential that served a request, which with requests spread over 10,000 credentials is one
/// row per request, so neither a second statement nor parsing the SQL again is affordable.
/// PostgreSQL takes the general patch. Returns false when no credential has this id.
pub fn write_pool_state<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    id: i64,
    row: &PoolStateRow<'_>,
    now: i64,
) -> Result<bool, StoreError> {
    match db.into() {
        Db::Sqlite(conn) => {
            let mut st = conn.prepare_cached(
                "UPDATE credentials SET state_json = ?1, enabled = ?2, ban_reason = ?3,
                     ban_link = ?4, preview_ok = ?5, email = COALESCE(?6, email),
                     project_id = COALESCE(?7, project_id), tier = COALESCE(?8, tier),
                     last_success_at = COALESCE(?9, last_success_at),
                     last_used_at = COALESCE(?10, last_used_at), updated_at = ?11
                 WHERE id = ?12",
            )?;
            Ok(st.execute(params![
                row.state_json,
                row.enabled,
                row.ban_reason,
                row.ban_link,
                row.preview_ok,
                row.email,
                row.project_id,
                row.tier,
                row.last_success_at,
                row.last_used_at,
                now,
                id
            ])? > 0)
        }
        Db::Postgres(tx) => {
            let found = set_pool_state(Db::Postgres(&mut *tx), id, row.state_json)?;
            let text = |v: Option<&str>| Some(v.map(str::to_owned));
            let patch = StatePatch {
                enabled: Some(row.enabled),
                disabled_reason: None,
                ban_reason: text(row.ban_reason),
                ban_link: text(row.ban_link),
                preview_ok: Some(Some(row.preview_ok)),
                email: row.email.map(|v| Some(v.to_owned())),
                project_id: row.project_id.map(|v| Some(v.to_owned())),
                tier: row.tier.map(|v| Some(v.to_owned())),
                last_success_at: row.last_success_at,
                last_used_at: row.last_used_at,
            };
            Ok(set_state(Db::Postgres(tx), id, &patch, now)? && found)
        }
    }
}

/// Names the Google project a key's quota belongs to (`None`: its own group).
pub fn set_quota_group<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    id: i64,
    group: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(match db.into() {
        Db::Sqlite(conn) => {
            conn.execute(
                "UPDATE credentials SET quota_group = ?1, updated_at = ?2 WHERE id = ?3",
                params![group, now, id],
            )? > 0
        }
        Db::Postgres(tx) => {
            tx.execute(
                "UPDATE credentials SET quota_group = $1, updated_at = $2 WHERE id = $3",
                &[&group, &now, &id],
            )? > 0
        }
    })
}

/// Records the models a credential was found to serve, and when.
pub fn set_models<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    id: i64,
    models: &[String],
    now: i64,
) -> Result<bool, StoreError> {
    let json = Value::from(models.to_vec()).to_string();
    Ok(match db.into() {
        Db::Sqlite(conn) => {
            conn.execute(
                "UPDATE credentials SET models_json = ?1, models_checked_at = ?2 WHERE id = ?3",
                params![json, now, id],
            )? > 0
        }
        Db::Postgres(tx) => {
            tx.execute(
                "UPDATE credentials SET models_json = $1, models_checked_at = $2 WHERE id = $3",
                &[&json, &now, &id],
            )? > 0
        }
    })
}

/// Ids of credentials whose secret has this fingerprint (keys and service accounts).
pub fn find_by_secret_sha256<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    sha256_hex: &str,
) -> Result<Vec<i64>, StoreError> {
    ids_where(db.into(), "secret_sha256", sha256_hex)
}

/// Replaces a credential's secrets and source in place (an env credential taking over a
/// directory copy of the same account keeps the row, its id and its history).
pub fn replace_payload<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    id: i64,
    payload: &Value,
    source: CredentialSource,
    refresh_token_sha256: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let json = serde_json::to_string(payload).map_err(|e| StoreError::Data(e.to_string()))?;
    Ok(match db.into() {
        Db::Sqlite(conn) => {
            conn.execute(
                "UPDATE credentials SET payload_json = secret_seal(id, ?1), source = ?2, \
                 refresh_token_sha256 = ?3, updated_at = ?4 WHERE id = ?5",
                params![json, source.as_str(), refresh_token_sha256, now, id],
            )? > 0
        }
        Db::Postgres(tx) => {
            let stored = at_rest::seal_in_rust(&Cell::Credential(id), json);
            tx.execute(
                "UPDATE credentials SET payload_json = $1, source = $2, \
                 refresh_token_sha256 = $3, updated_at = $4 WHERE id = $5",
                &[&stored, &source.as_str(), &refresh_token_sha256, &now, &id],
            )? > 0
        }
    })
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
pub fn link_identities<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    id: i64,
    identities: &[String],
) -> Result<Vec<i64>, StoreError> {
    let mut others = Vec::new();
    match db.into() {
        Db::Sqlite(conn) => {
            let mut ins = conn.prepare_cached(
                "INSERT OR IGNORE INTO credential_identities (identity, credential_id) \
                 VALUES (?1, ?2)",
            )?;
            let mut find = conn.prepare_cached(
                "SELECT credential_id FROM credential_identities \
                 WHERE identity = ?1 AND credential_id <> ?2",
            )?;
            for identity in identities {
                ins.execute(params![identity, id])?;
                for other in find.query_map(params![identity, id], |r| r.get::<_, i64>(0))? {
                    others.push(other?);
                }
            }
        }
        Db::Postgres(tx) => {
            for identity in identities {
                tx.execute(
                    "INSERT INTO credential_identities (identity, credential_id) \
                     VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[identity, &id],
                )?;
                let rows = tx.query(
                    "SELECT credential_id FROM credential_identities \
                     WHERE identity = $1 AND credential_id <> $2",
                    &[identity, &id],
                )?;
                others.extend(rows.iter().map(|r| r.get::<_, i64>(0)));
            }
        }
    }
    others.sort_unstable();
    others.dedup();
    Ok(others)
}
