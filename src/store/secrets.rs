//! Rows of the `secrets` table: argon2id hashes of passwords saved through the management API.
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// The stored hash (a PHC string) for `name`, if any.
pub fn get(conn: &Connection, name: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT argon2_hash FROM secrets WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?)
}

/// Every stored (name, hash).
pub fn get_all(conn: &Connection) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = conn.prepare("SELECT name, argon2_hash FROM secrets ORDER BY name")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Insert or replace the hash for `name`.
pub fn put(conn: &Connection, name: &str, argon2_hash: &str, now: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO secrets (name, argon2_hash, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET argon2_hash = excluded.argon2_hash, updated_at = excluded.updated_at",
        params![name, argon2_hash, now],
    )?;
    Ok(())
}

/// Delete the hash for `name`; returns whether one existed.
pub fn delete(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM secrets WHERE name = ?1", [name])? > 0)
}
