//! The append-only `audit_events` table: who changed what (settings, passwords, bans, imports).
use rusqlite::{Connection, params};
use serde::Serialize;
use serde_json::Value;

use super::StoreError;

/// An event to record. `detail` must never carry secrets: callers pass key names, not values.
#[derive(Clone, Debug)]
pub struct NewAuditEvent {
    pub kind: String,
    pub actor: String,
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
    pub subject: Option<String>,
    pub detail: Value,
}

pub fn append(conn: &Connection, event: &NewAuditEvent, now: i64) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO audit_events (at, kind, actor, subject, detail_json) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            now,
            event.kind,
            event.actor,
            event.subject,
            event.detail.to_string()
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The newest `limit` events, newest first.
pub fn list_recent(conn: &Connection, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, at, kind, actor, subject, detail_json FROM audit_events ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, String>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, at, kind, actor, subject, detail) = row?;
        let detail = serde_json::from_str(&detail)
            .map_err(|e| StoreError::Data(format!("audit event {id}: {e}")))?;
        out.push(AuditEvent {
            id,
            at,
            kind,
            actor,
            subject,
            detail,
        });
    }
    Ok(out)
}
