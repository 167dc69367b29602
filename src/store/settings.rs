//! Rows of the `settings` table: values saved through the management API, one JSON value per key.
use rusqlite::params;
use serde_json::Value;

use super::StoreError;
use super::at_rest::{self, Cell};
use super::db::Db;

/// Every saved (key, value), in byte order of the key. Rows whose JSON no longer parses are
/// reported, not skipped, so a hand-edited file is noticed.
pub fn get_all<'c, 't: 'c>(db: impl Into<Db<'c, 't>>) -> Result<Vec<(String, Value)>, StoreError> {
    let rows: Vec<(String, String)> = match db.into() {
        Db::Sqlite(conn) => {
            // `setting_open` decrypts the values sealed at rest (see `at_rest`); others pass
            // through.
            let mut stmt = conn
                .prepare("SELECT key, setting_open(key, value_json) FROM settings ORDER BY key")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        }
        Db::Postgres(tx) => {
            let rows = tx.query(
                "SELECT key, value_json FROM settings ORDER BY key COLLATE \"C\"",
                &[],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let key: String = r.get(0);
                let text = at_rest::open_in_rust(&Cell::Setting(key.clone()), r.get(1))?;
                out.push((key, text));
            }
            out
        }
    };
    rows.into_iter()
        .map(|(key, text)| {
            let value = serde_json::from_str(&text)
                .map_err(|e| StoreError::Data(format!("setting {key}: {e}")))?;
            Ok((key, value))
        })
        .collect()
}

/// Insert or replace each value, sealing those that may hold a password when a key is in use;
/// call inside a transaction to make a batch atomic.
pub fn put_many<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    values: &[(String, Value)],
    now: i64,
) -> Result<(), StoreError> {
    const UPSERT: &str = "ON CONFLICT (key) DO UPDATE SET value_json = excluded.value_json, \
                          updated_at = excluded.updated_at";
    match db.into() {
        Db::Sqlite(conn) => {
            let mut stmt = conn.prepare(&format!(
                "INSERT INTO settings (key, value_json, updated_at) \
                 VALUES (?1, setting_seal(?1, ?2), ?3) {UPSERT}"
            ))?;
            for (key, value) in values {
                stmt.execute(params![key, value.to_string(), now])?;
            }
        }
        Db::Postgres(tx) => {
            let stmt = tx.prepare(&format!(
                "INSERT INTO settings (key, value_json, updated_at) VALUES ($1, $2, $3) {UPSERT}"
            ))?;
            for (key, value) in values {
                let stored = at_rest::seal_in_rust(&Cell::Setting(key.clone()), value.to_string());
                tx.execute(&stmt, &[key, &stored, &now])?;
            }
        }
    }
    Ok(())
}

/// Delete a saved value; returns whether one existed.
pub fn delete<'c, 't: 'c>(db: impl Into<Db<'c, 't>>, key: &str) -> Result<bool, StoreError> {
    Ok(match db.into() {
        Db::Sqlite(conn) => conn.execute("DELETE FROM settings WHERE key = ?1", [key])? > 0,
        Db::Postgres(tx) => tx.execute("DELETE FROM settings WHERE key = $1", &[&key])? > 0,
    })
}
