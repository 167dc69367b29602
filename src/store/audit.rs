//! The append-only `audit_events` table: who changed what, when and from where (settings,
//! passwords, credentials, sign-ins). Nothing deletes from it.
use rusqlite::params;
use serde::Serialize;
use serde_json::Value;

use super::StoreError;
use super::db::Db;

/// An event to record. `detail` must never carry secrets: callers pass key names, not values.
#[derive(Clone, Debug)]
pub struct NewAuditEvent {
    pub kind: String,
    pub actor: String,
    /// The client address, when the change came through the API or the panel.
    pub origin: Option<String>,
    pub subject: Option<String>,
    pub detail: Value,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AuditEvent {
    pub id: i64,
    /// Unix milliseconds.
    pub at: i64,
    pub kind: String,
    pub actor: String,
    pub origin: Option<String>,
    pub subject: Option<String>,
    pub detail: Value,
}

/// What to read: every bound is optional; `before_id` pages backwards (pass the last id seen).
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Unix milliseconds, inclusive.
    pub from: Option<i64>,
    /// Unix milliseconds, exclusive.
    pub to: Option<i64>,
    /// An exact action (`credential.disable`), or a family with a trailing `.` (`credential.`).
    pub action: Option<String>,
    pub actor: Option<String>,
    pub before_id: Option<i64>,
    pub limit: u32,
}

pub fn append<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    event: &NewAuditEvent,
    now: i64,
) -> Result<i64, StoreError> {
    let detail = event.detail.to_string();
    match db.into() {
        Db::Sqlite(conn) => {
            conn.execute(
                "INSERT INTO audit_events (at, kind, actor, origin, subject, detail_json) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    now,
                    event.kind,
                    event.actor,
                    event.origin,
                    event.subject,
                    detail
                ],
            )?;
            Ok(conn.last_insert_rowid())
        }
        Db::Postgres(tx) => Ok(tx
            .query_one(
                "INSERT INTO audit_events (at, kind, actor, origin, subject, detail_json) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[
                    &now,
                    &event.kind,
                    &event.actor,
                    &event.origin,
                    &event.subject,
                    &detail,
                ],
            )?
            .get(0)),
    }
}

/// The newest `limit` events, newest first.
pub fn list_recent<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    limit: u32,
) -> Result<Vec<AuditEvent>, StoreError> {
    list(
        db,
        &Filter {
            limit,
            ..Filter::default()
        },
    )
}

/// Events matching `f`, newest first.
pub fn list<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    f: &Filter,
) -> Result<Vec<AuditEvent>, StoreError> {
    // A family filter is a prefix match; LIKE's wildcards in the value are escaped.
    let (kind_exact, kind_prefix) = match &f.action {
        Some(a) if a.ends_with('.') => (None, Some(format!("{}%", escape_like(a)))),
        Some(a) => (Some(a.clone()), None),
        None => (None, None),
    };
    type Row = (
        i64,
        i64,
        String,
        String,
        Option<String>,
        Option<String>,
        String,
    );
    let rows: Vec<Row> = match db.into() {
        Db::Sqlite(conn) => {
            let mut stmt = conn.prepare_cached(
                "SELECT id, at, kind, actor, origin, subject, detail_json FROM audit_events \
                 WHERE (?1 IS NULL OR at >= ?1) AND (?2 IS NULL OR at < ?2) \
                   AND (?3 IS NULL OR kind = ?3) AND (?4 IS NULL OR kind LIKE ?4 ESCAPE '\\') \
                   AND (?5 IS NULL OR actor = ?5) AND (?6 IS NULL OR id < ?6) \
                 ORDER BY id DESC LIMIT ?7",
            )?;
            let rows = stmt.query_map(
                params![
                    f.from,
                    f.to,
                    kind_exact,
                    kind_prefix,
                    f.actor,
                    f.before_id,
                    f.limit
                ],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                },
            )?;
            rows.collect::<Result<_, _>>()?
        }
        // The casts type the parameters PostgreSQL cannot infer from `$n IS NULL`.
        Db::Postgres(tx) => tx
            .query(
                "SELECT id, at, kind, actor, origin, subject, detail_json FROM audit_events \
                 WHERE ($1::BIGINT IS NULL OR at >= $1) AND ($2::BIGINT IS NULL OR at < $2) \
                   AND ($3::TEXT IS NULL OR kind = $3) \
                   AND ($4::TEXT IS NULL OR kind LIKE $4 ESCAPE '\\') \
                   AND ($5::TEXT IS NULL OR actor = $5) AND ($6::BIGINT IS NULL OR id < $6) \
                 ORDER BY id DESC LIMIT $7",
                &[
                    &f.from,
                    &f.to,
                    &kind_exact,
                    &kind_prefix,
                    &f.actor,
                    &f.before_id,
                    &i64::from(f.limit),
                ],
            )?
            .into_iter()
            .map(|r| {
                (
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    r.get(5),
                    r.get(6),
                )
            })
            .collect(),
    };
    let mut out = Vec::with_capacity(rows.len());
    for (id, at, kind, actor, origin, subject, detail) in rows {
        let detail = serde_json::from_str(&detail)
            .map_err(|e| StoreError::Data(format!("audit event {id}: {e}")))?;
        out.push(AuditEvent {
            id,
            at,
            kind,
            actor,
            origin,
            subject,
            detail,
        });
    }
    Ok(out)
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
