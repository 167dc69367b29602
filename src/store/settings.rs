//! Rows of the `settings` table: values saved through the management API, one JSON value per key.
use rusqlite::{Connection, params};
use serde_json::Value;

use super::StoreError;

/// Every saved (key, value). Rows whose JSON no longer parses are reported, not skipped, so a
/// hand-edited file is noticed.
pub fn get_all(conn: &Connection) -> Result<Vec<(String, Value)>, StoreError> {
    // `setting_open` decrypts the values sealed at rest (see `at_rest`); others pass through.
    let mut stmt =
        conn.prepare("SELECT key, setting_open(key, value_json) FROM settings ORDER BY key")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (key, text) = row?;
        let value = serde_json::from_str(&text)
            .map_err(|e| StoreError::Data(format!("setting {key}: {e}")))?;
        out.push((key, value));
    }
    Ok(out)
}

/// Insert or replace each value, sealing those that may hold a password when a key is in use;
/// call inside a transaction to make a batch atomic.
pub fn put_many(conn: &Connection, values: &[(String, Value)], now: i64) -> Result<(), StoreError> {
    let mut stmt = conn.prepare(
        "INSERT INTO settings (key, value_json, updated_at) VALUES (?1, setting_seal(?1, ?2), ?3)
         ON CONFLICT (key) DO UPDATE SET value_json = excluded.value_json, updated_at = excluded.updated_at",
    )?;
    for (key, value) in values {
        stmt.execute(params![key, value.to_string(), now])?;
    }
    Ok(())
}

/// Delete a saved value; returns whether one existed.
pub fn delete(conn: &Connection, key: &str) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM settings WHERE key = ?1", [key])? > 0)
}
