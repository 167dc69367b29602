//! Rows of the `secrets` table: argon2id hashes of passwords saved through the management API.
use rusqlite::{OptionalExtension, params};

use super::StoreError;
use super::db::Db;

/// The stored hash (a PHC string) for `name`, if any.
pub fn get<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    name: &str,
) -> Result<Option<String>, StoreError> {
    Ok(match db.into() {
        Db::Sqlite(conn) => conn
            .query_row(
                "SELECT argon2_hash FROM secrets WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?,
        Db::Postgres(tx) => tx
            .query_opt("SELECT argon2_hash FROM secrets WHERE name = $1", &[&name])?
            .map(|r| r.get(0)),
    })
}

/// Every stored (name, hash), in byte order of the name.
pub fn get_all<'c, 't: 'c>(db: impl Into<Db<'c, 't>>) -> Result<Vec<(String, String)>, StoreError> {
    match db.into() {
        Db::Sqlite(conn) => {
            let mut stmt = conn.prepare("SELECT name, argon2_hash FROM secrets ORDER BY name")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        }
        Db::Postgres(tx) => Ok(tx
            .query(
                "SELECT name, argon2_hash FROM secrets ORDER BY name COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()),
    }
}

/// Insert the hash for `name` unless one is stored; whether it was inserted. One statement, so
/// instances starting at once on a shared database cannot both believe theirs is in force.
pub fn insert_if_absent<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    name: &str,
    argon2_hash: &str,
    now: i64,
) -> Result<bool, StoreError> {
    const SQL: &str = "INSERT INTO secrets (name, argon2_hash, updated_at) VALUES ";
    let n = match db.into() {
        Db::Sqlite(conn) => conn.execute(
            &format!("{SQL}(?1, ?2, ?3) ON CONFLICT (name) DO NOTHING"),
            params![name, argon2_hash, now],
        )? as u64,
        Db::Postgres(tx) => tx.execute(
            &format!("{SQL}($1, $2, $3) ON CONFLICT (name) DO NOTHING"),
            &[&name, &argon2_hash, &now],
        )?,
    };
    Ok(n == 1)
}

/// Insert or replace the hash for `name`.
pub fn put<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    name: &str,
    argon2_hash: &str,
    now: i64,
) -> Result<(), StoreError> {
    const UPSERT: &str = "ON CONFLICT (name) DO UPDATE SET argon2_hash = excluded.argon2_hash, \
                          updated_at = excluded.updated_at";
    match db.into() {
        Db::Sqlite(conn) => {
            conn.execute(
                &format!(
                    "INSERT INTO secrets (name, argon2_hash, updated_at) VALUES (?1, ?2, ?3) {UPSERT}"
                ),
                params![name, argon2_hash, now],
            )?;
        }
        Db::Postgres(tx) => {
            tx.execute(
                &format!(
                    "INSERT INTO secrets (name, argon2_hash, updated_at) VALUES ($1, $2, $3) {UPSERT}"
                ),
                &[&name, &argon2_hash, &now],
            )?;
        }
    }
    Ok(())
}

/// Delete the hash for `name`; returns whether one existed.
pub fn delete<'c, 't: 'c>(db: impl Into<Db<'c, 't>>, name: &str) -> Result<bool, StoreError> {
    Ok(match db.into() {
        Db::Sqlite(conn) => conn.execute("DELETE FROM secrets WHERE name = ?1", [name])? > 0,
        Db::Postgres(tx) => tx.execute("DELETE FROM secrets WHERE name = $1", &[&name])? > 0,
    })
}
