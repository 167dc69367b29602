//! Credential secrets at rest: the database side of [`super::cipher`].
//!
//! Every connection gets two SQL functions, `secret_seal(id, text)` and `secret_open(id, text)`,
//! which the credential queries wrap around `payload_json`. With a key they encrypt and decrypt
//! (the row id is part of the associated data); without one they pass plain text through and
//! refuse sealed values. So SQL that edits a payload in place (`json_set` after a token refresh)
//! keeps doing so in one statement, and the rest of the code only ever sees plain payloads.
//!
//! Saved settings that can hold a password (the outbound proxy's URL) get the same treatment
//! through `setting_seal(key, text)` and `setting_open(key, text)`, with the key as associated
//! data.
//!
//! [`unlock`] runs once at startup, in one transaction: it checks the key against the sealed
//! check value, re-encrypts rows sealed with `SECRETS_KEY_PREVIOUS`, and seals plain rows. Any
//! row that neither key opens stops the start and leaves the file as it was.
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::cipher::{self, Cipher, Keys, OpenError};
use super::db::Db;

/// The key in use for this process; empty until [`unlock`] succeeded with a key.
pub type Slot = Arc<ArcSwapOption<Cipher>>;

const CHECK_PLAINTEXT: &[u8] = b"gcli2api secrets key check";
const CHECK_AD: &[u8] = b"gcli2api secrets_at_rest.key_check 1";

/// Saved settings sealed like credential payloads: the proxy URL may carry a password.
pub const SEALED_SETTINGS: &[&str] = &["proxy"];

/// One encrypted value in the database: its place is its associated data, so a value copied
/// to another row or key does not open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    Credential(i64),
    Setting(String),
}

impl Cell {
    fn ad(&self) -> Vec<u8> {
        match self {
            Self::Credential(id) => payload_ad(*id),
            Self::Setting(key) => format!("gcli2api settings.value_json {key}").into_bytes(),
        }
    }

    /// Whether a plain value here is sealed when a key is in use.
    fn sealable(&self) -> bool {
        match self {
            Self::Credential(_) => true,
            Self::Setting(key) => SEALED_SETTINGS.contains(&key.as_str()),
        }
    }

    fn write(&self, db: Db<'_, '_>, stored: &str) -> Result<(), StoreError> {
        match (self, db) {
            (Self::Credential(id), Db::Sqlite(c)) => c.execute(
                "UPDATE credentials SET payload_json = ?1 WHERE id = ?2",
                params![stored, id],
            )?,
            (Self::Setting(key), Db::Sqlite(c)) => c.execute(
                "UPDATE settings SET value_json = ?1 WHERE key = ?2",
                params![stored, key],
            )?,
            (Self::Credential(id), Db::Postgres(tx)) => tx.execute(
                "UPDATE credentials SET payload_json = $1 WHERE id = $2",
                &[&stored, id],
            )? as usize,
            (Self::Setting(key), Db::Postgres(tx)) => tx.execute(
                "UPDATE settings SET value_json = $1 WHERE key = $2",
                &[&stored, key],
            )? as usize,
        };
        Ok(())
    }
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Credential(id) => write!(f, "credential {id}"),
            Self::Setting(key) => write!(f, "setting {key}"),
        }
    }
}

/// Associated data of a credential's payload: table, column and row.
pub fn payload_ad(id: i64) -> Vec<u8> {
    format!("gcli2api credentials.payload_json {id}").into_bytes()
}

#[derive(Debug, thiserror::Error)]
pub enum AtRestError {
    #[error(
        "the database's credential secrets are encrypted, but neither {} nor {} is set; \
         start with the key they were encrypted with (nothing was changed)",
        cipher::ENV_KEY,
        cipher::ENV_KEY_FILE
    )]
    KeyMissing,
    #[error(
        "{origin} is not the key this database's credential secrets were encrypted with{hint} \
         (nothing was changed)"
    )]
    WrongKey { origin: String, hint: &'static str },
    #[error(
        "{cell} cannot be decrypted with {origin} or {previous}: {reason} \
         (nothing was changed)"
    )]
    Row {
        cell: Cell,
        origin: String,
        previous: &'static str,
        reason: OpenError,
    },
    #[error(transparent)]
    Key(#[from] cipher::KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for AtRestError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Store(e.into())
    }
}

/// What [`unlock`] found and did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unlocked {
    /// Secrets are encrypted from now on.
    pub encrypted: bool,
    /// Plain rows sealed now (the first start with a key).
    pub sealed_now: usize,
    /// Rows moved from the previous key to the current one.
    pub rotated: usize,
    /// Rows decrypted back to plain text (only the previous key given).
    pub decrypted: usize,
    /// `SECRETS_KEY_PREVIOUS` was given but nothing needed it.
    pub previous_unused: bool,
}

/// Registers `secret_seal` / `secret_open` (credential payloads, by row id) and
/// `setting_seal` / `setting_open` (saved settings, by key). Direct-only: no trigger or view
/// in a tampered file can call them.
pub fn register(conn: &Connection, slot: &Slot) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY;
    let credential = |ctx: &Context<'_>| Ok(Cell::Credential(ctx.get::<i64>(0)?));
    let setting = |ctx: &Context<'_>| Ok(Cell::Setting(ctx.get::<String>(0)?));
    register_pair(
        conn,
        slot,
        flags,
        ("secret_seal", "secret_open"),
        credential,
    )?;
    register_pair(conn, slot, flags, ("setting_seal", "setting_open"), setting)
}

fn register_pair(
    conn: &Connection,
    slot: &Slot,
    flags: FunctionFlags,
    (seal, open): (&str, &str),
    cell: fn(&Context<'_>) -> rusqlite::Result<Cell>,
) -> rusqlite::Result<()> {
    let s = Arc::clone(slot);
    conn.create_scalar_function(seal, 2, flags, move |ctx| {
        let (cell, text) = (cell(ctx)?, ctx.get::<String>(1)?);
        Ok(match s.load().as_deref() {
            // A JSON string, so the column's json_valid check holds for sealed values too.
            Some(c) if cell.sealable() => format!("\"{}\"", c.seal(&cell.ad(), text.as_bytes())),
            _ => text,
        })
    })?;
    let s = Arc::clone(slot);
    conn.create_scalar_function(open, 2, flags, move |ctx| {
        let (cell, text) = (cell(ctx)?, ctx.get::<String>(1)?);
        let Some(sealed) = sealed_in(&text) else {
            return Ok(text);
        };
        let guard = s.load();
        let c = guard.as_deref().ok_or_else(|| {
            user_error(format!(
                "{cell} is encrypted and no {} is in use",
                cipher::ENV_KEY
            ))
        })?;
        let plain = c
            .open(&cell.ad(), sealed)
            .map_err(|e| user_error(format!("{cell}: {e}")))?;
        String::from_utf8(plain).map_err(|_| user_error(format!("{cell}: not UTF-8")))
    })?;
    Ok(())
}

fn user_error(msg: String) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(msg.into())
}

/// PostgreSQL has no per-connection functions to register, so there the domain functions seal
/// and open in Rust around the query, with the key of the store whose blocking call is
/// running on this thread (set by `Store::run` for the duration of the call, the way SQLite's
/// functions read their connection's slot). The stored form is the same on both backends: a
/// JSON string holding the sealed value, so PostgreSQL's jsonb CHECK holds and a store copied
/// by migrate-store opens unchanged.
mod pg_key {
    use std::cell::RefCell;
    use std::sync::Arc;

    use super::Cipher;

    thread_local! {
        static KEY: RefCell<Option<Arc<Cipher>>> = const { RefCell::new(None) };
    }

    /// Restores the previous key when the call ends, even by a panic.
    struct Restore(Option<Arc<Cipher>>);

    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            KEY.with(|k| *k.borrow_mut() = previous);
        }
    }

    pub fn with<T>(key: Option<Arc<Cipher>>, f: impl FnOnce() -> T) -> T {
        let _restore = Restore(KEY.with(|k| k.replace(key)));
        f()
    }

    pub fn current() -> Option<Arc<Cipher>> {
        KEY.with(|k| k.borrow().clone())
    }
}

/// Runs `f` (a blocking call on a PostgreSQL connection) with `key` as the key values are
/// sealed with and opened by [`seal_in_rust`] / [`open_in_rust`].
pub(crate) fn with_pg_key<T>(key: Option<Arc<Cipher>>, f: impl FnOnce() -> T) -> T {
    pg_key::with(key, f)
}

/// What `secret_seal` / `setting_seal` store for `plain` in `cell`, computed in Rust.
pub fn seal_in_rust(cell: &Cell, plain: String) -> String {
    match pg_key::current() {
        Some(c) if cell.sealable() => store_sealed(&c, cell, &plain),
        _ => plain,
    }
}

/// What `secret_open` / `setting_open` return for `stored` in `cell`, computed in Rust.
pub fn open_in_rust(cell: &Cell, stored: String) -> Result<String, StoreError> {
    let Some(sealed) = sealed_in(&stored) else {
        return Ok(stored);
    };
    let c = pg_key::current().ok_or_else(|| {
        StoreError::Data(format!(
            "{cell} is encrypted and no {} is in use",
            cipher::ENV_KEY
        ))
    })?;
    let plain = c
        .open(&cell.ad(), sealed)
        .map_err(|e| StoreError::Data(format!("{cell}: {e}")))?;
    String::from_utf8(plain).map_err(|_| StoreError::Data(format!("{cell}: not UTF-8")))
}

/// The sealed text inside a stored payload (a JSON string holding a sealed value), if it is one.
fn sealed_in(stored: &str) -> Option<&str> {
    stored
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .filter(|s| cipher::is_sealed(s))
}

fn store_sealed(c: &Cipher, cell: &Cell, plain: &str) -> String {
    format!("\"{}\"", c.seal(&cell.ad(), plain.as_bytes()))
}

/// Checks the keys against the database and brings every credential row under the current key
/// (or back to plain text when only the previous key is given), all in `tx`. On error nothing
/// is written: the caller rolls back.
pub fn unlock<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    keys: &Keys,
    now: i64,
) -> Result<Unlocked, AtRestError> {
    let mut db = db.into();
    let check = read_check(db.reborrow())?;
    let rows = cells(db.reborrow())?;
    let any_sealed = rows.iter().any(|(_, p)| sealed_in(p).is_some());
    let previous_name = cipher::ENV_PREVIOUS;
    let mut out = Unlocked::default();

    let Some(current) = &keys.current else {
        let Some(previous) = &keys.previous else {
            if check.is_some() || any_sealed {
                return Err(AtRestError::KeyMissing);
            }
            return Ok(out);
        };
        // Only the old key: decrypt everything back to plain text.
        if let Some(check) = &check
            && previous.open(CHECK_AD, check).is_err()
        {
            return Err(AtRestError::WrongKey {
                origin: previous_name.into(),
                hint: "",
            });
        }
        for (cell, stored) in &rows {
            let Some(sealed) = sealed_in(stored) else {
                continue;
            };
            let row_error = |reason| AtRestError::Row {
                cell: cell.clone(),
                origin: previous_name.into(),
                previous: previous_name,
                reason,
            };
            let plain = previous.open(&cell.ad(), sealed).map_err(row_error)?;
            let plain = String::from_utf8(plain).map_err(|_| row_error(OpenError::Malformed))?;
            cell.write(db.reborrow(), &plain)?;
            out.decrypted += 1;
        }
        delete_check(db)?;
        return Ok(out);
    };

    let origin = keys
        .current_origin
        .clone()
        .unwrap_or_else(|| cipher::ENV_KEY.to_string());
    let mut check_ok = false;
    if let Some(check) = &check {
        if current.open(CHECK_AD, check).is_ok() {
            check_ok = true;
        } else if keys
            .previous
            .as_ref()
            .is_none_or(|p| p.open(CHECK_AD, check).is_err())
        {
            return Err(AtRestError::WrongKey {
                origin,
                hint: match keys.previous {
                    Some(_) => ", and neither is SECRETS_KEY_PREVIOUS",
                    None => "; to change keys, set the old one as SECRETS_KEY_PREVIOUS",
                },
            });
        }
    }
    let mut used_previous = !check_ok && check.is_some();
    for (cell, stored) in &rows {
        let ad = cell.ad();
        let Some(sealed) = sealed_in(stored) else {
            if cell.sealable() {
                cell.write(db.reborrow(), &store_sealed(current, cell, stored))?;
                out.sealed_now += 1;
            }
            continue;
        };
        let reason = match current.open(&ad, sealed) {
            Ok(_) => continue,
            Err(e) => e,
        };
        let Some(previous) = &keys.previous else {
            return Err(AtRestError::Row {
                cell: cell.clone(),
                origin,
                previous: previous_name,
                reason,
            });
        };
        let plain = previous
            .open(&ad, sealed)
            .ok()
            .and_then(|p| String::from_utf8(p).ok())
            .ok_or(AtRestError::Row {
                cell: cell.clone(),
                origin: origin.clone(),
                previous: previous_name,
                reason,
            })?;
        cell.write(db.reborrow(), &store_sealed(current, cell, &plain))?;
        out.rotated += 1;
        used_previous = true;
    }
    if !check_ok {
        put_check(db, &current.seal(CHECK_AD, CHECK_PLAINTEXT), now)?;
    }
    out.encrypted = true;
    out.previous_unused = keys.previous.is_some() && !used_previous;
    Ok(out)
}

/// Second key of the two-key advisory lock that serializes [`unlock`] on PostgreSQL
/// (instances starting together with a key would otherwise both seal the same plain rows).
/// The first key is "seal" read as 4 ASCII bytes, apart from the refresh locks' space.
const UNLOCK_LOCK: (i32, i32) = (0x7365_616c, 0);

/// The stored key check (on PostgreSQL after taking the unlock lock, held to commit).
fn read_check(db: Db<'_, '_>) -> Result<Option<String>, StoreError> {
    match db {
        Db::Sqlite(c) => Ok(c
            .query_row(
                "SELECT key_check FROM secrets_at_rest WHERE id = 1",
                [],
                |r| r.get(0),
            )
            .optional()?),
        Db::Postgres(tx) => {
            tx.execute(
                "SELECT pg_advisory_xact_lock($1, $2)",
                &[&UNLOCK_LOCK.0, &UNLOCK_LOCK.1],
            )?;
            Ok(tx
                .query_opt("SELECT key_check FROM secrets_at_rest WHERE id = 1", &[])?
                .map(|r| r.get(0)))
        }
    }
}

fn delete_check(db: Db<'_, '_>) -> Result<(), StoreError> {
    match db {
        Db::Sqlite(c) => c.execute("DELETE FROM secrets_at_rest", [])?,
        Db::Postgres(tx) => tx.execute("DELETE FROM secrets_at_rest", &[])? as usize,
    };
    Ok(())
}

fn put_check(db: Db<'_, '_>, check: &str, now: i64) -> Result<(), StoreError> {
    const UPSERT: &str = "ON CONFLICT (id) DO UPDATE SET key_check = excluded.key_check,
             updated_at = excluded.updated_at";
    match db {
        Db::Sqlite(c) => c.execute(
            &format!(
                "INSERT INTO secrets_at_rest (id, key_check, updated_at) VALUES (1, ?1, ?2) {UPSERT}"
            ),
            params![check, now],
        )?,
        Db::Postgres(tx) => tx.execute(
            &format!(
                "INSERT INTO secrets_at_rest (id, key_check, updated_at) VALUES (1, $1, $2) {UPSERT}"
            ),
            &[&check, &now],
        )? as usize,
    };
    Ok(())
}

/// Every value that is or may be sealed: all credential payloads, and every saved setting
/// (a sealed one whose key left the list must still be opened or refused).
fn cells(db: Db<'_, '_>) -> Result<Vec<(Cell, String)>, StoreError> {
    const CREDENTIALS: &str = "SELECT id, payload_json FROM credentials ORDER BY id";
    // Byte order on both backends (the order only decides which bad row is named first).
    const SETTINGS: &str = "SELECT key, value_json FROM settings ORDER BY key";
    match db {
        Db::Sqlite(c) => {
            let mut out: Vec<(Cell, String)> = {
                let mut stmt = c.prepare(CREDENTIALS)?;
                let rows = stmt.query_map([], |r| Ok((Cell::Credential(r.get(0)?), r.get(1)?)))?;
                rows.collect::<Result<_, _>>()?
            };
            let mut stmt = c.prepare(SETTINGS)?;
            let rows = stmt.query_map([], |r| Ok((Cell::Setting(r.get(0)?), r.get(1)?)))?;
            for row in rows {
                out.push(row?);
            }
            Ok(out)
        }
        Db::Postgres(tx) => {
            let mut out: Vec<(Cell, String)> = tx
                .query(CREDENTIALS, &[])?
                .iter()
                .map(|r| (Cell::Credential(r.get(0)), r.get(1)))
                .collect();
            let settings = tx.query(
                "SELECT key, value_json FROM settings ORDER BY key COLLATE \"C\"",
                &[],
            )?;
            out.extend(settings.iter().map(|r| (Cell::Setting(r.get(0)), r.get(1))));
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::credentials::{self, CredentialSource, NewCredential};
    use crate::store::{Store, StoreError};
    use serde_json::json;

    fn keys(current: Option<u8>, previous: Option<u8>) -> Keys {
        let c = |b: u8| Cipher::new(&[b; cipher::KEY_LEN]);
        Keys {
            current: current.map(c),
            previous: previous.map(c),
            current_origin: None,
        }
    }

    async fn add(store: &Store, name: &str, token: &str) -> i64 {
        let payload = json!({"refresh_token": token, "client_id": "c"});
        let n = NewCredential::code_assist(name, CredentialSource::Upload, payload);
        store
            .call(move |c| credentials::insert(c, &n, 1))
            .await
            .unwrap()
    }

    async fn raw(store: &Store) -> Vec<(i64, String)> {
        store
            .call(|c| {
                let mut s = c.prepare("SELECT id, payload_json FROM credentials ORDER BY id")?;
                let r = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(r.collect::<Result<Vec<_>, _>>()?)
            })
            .await
            .unwrap()
    }

    async fn tokens(store: &Store) -> Vec<String> {
        store
            .call(|c| credentials::list(c))
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.payload["refresh_token"].as_str().unwrap().to_string())
            .collect()
    }

    #[tokio::test]
    async fn plain_rows_are_sealed_then_rotated_then_opened_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        assert_eq!(
            store.unlock(keys(None, None)).await.unwrap(),
            Unlocked::default()
        );
        add(&store, "a", "1//token-a").await;
        add(&store, "b", "1//token-b").await;

        let u = store.unlock(keys(Some(1), None)).await.unwrap();
        assert_eq!((u.encrypted, u.sealed_now), (true, 2));
        assert!(
            raw(&store)
                .await
                .iter()
                .all(|(_, p)| sealed_in(p).is_some())
        );
        assert_eq!(tokens(&store).await, ["1//token-a", "1//token-b"]);
        // Written after unlock: sealed too, and a token refresh edits it in place.
        let c = add(&store, "c", "1//token-c").await;
        store
            .call(move |conn| {
                credentials::update_tokens(conn, c, "ya29.x", None, Some(("1//rotated", "h")), 2)
            })
            .await
            .unwrap();
        assert!(!raw(&store).await.iter().any(|(_, p)| p.contains("1//")));
        assert_eq!(tokens(&store).await[2], "1//rotated");

        // Another process start with a new key and the old one as previous.
        let store = Store::open(dir.path()).await.unwrap();
        let u = store.unlock(keys(Some(2), Some(1))).await.unwrap();
        assert_eq!((u.rotated, u.sealed_now, u.previous_unused), (3, 0, false));
        assert_eq!(tokens(&store).await.len(), 3);
        let store = Store::open(dir.path()).await.unwrap();
        let u = store.unlock(keys(Some(2), Some(1))).await.unwrap();
        assert!(u.previous_unused);

        // Only the previous key: back to plain text.
        let store = Store::open(dir.path()).await.unwrap();
        let u = store.unlock(keys(None, Some(2))).await.unwrap();
        assert_eq!((u.encrypted, u.decrypted), (false, 3));
        assert!(raw(&store).await.iter().all(|(_, p)| p.contains("1//")));
        let store = Store::open(dir.path()).await.unwrap();
        store.unlock(keys(None, None)).await.unwrap();
        assert_eq!(tokens(&store).await[0], "1//token-a");
    }

    #[tokio::test]
    async fn a_wrong_or_missing_key_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        add(&store, "a", "1//token-a").await;
        store.unlock(keys(Some(1), None)).await.unwrap();
        let before = raw(&store).await;

        let store = Store::open(dir.path()).await.unwrap();
        let e = store.unlock(keys(None, None)).await.unwrap_err();
        assert!(matches!(e, AtRestError::KeyMissing), "{e}");
        let e = store.unlock(keys(Some(9), None)).await.unwrap_err();
        assert!(e.to_string().contains("SECRETS_KEY_PREVIOUS"), "{e}");
        let e = store.unlock(keys(Some(9), Some(8))).await.unwrap_err();
        assert!(matches!(e, AtRestError::WrongKey { .. }), "{e}");
        let e = store.unlock(keys(None, Some(8))).await.unwrap_err();
        assert!(matches!(e, AtRestError::WrongKey { .. }), "{e}");
        assert_eq!(raw(&store).await, before);
        // Nothing unlocked: a read of a sealed payload fails instead of returning ciphertext.
        let e = store.call(|c| credentials::list(c)).await.unwrap_err();
        assert!(matches!(e, StoreError::Sqlite(_)), "{e}");
    }

    #[tokio::test]
    async fn a_payload_moved_to_another_row_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        store.unlock(keys(Some(1), None)).await.unwrap();
        let a = add(&store, "a", "1//token-a").await;
        let b = add(&store, "b", "1//token-b").await;
        store
            .call(move |c| {
                c.execute(
                    "UPDATE credentials SET payload_json =
                         (SELECT payload_json FROM credentials WHERE id = ?1) WHERE id = ?2",
                    [a, b],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        let e = store.call(|c| credentials::list(c)).await.unwrap_err();
        assert!(e.to_string().contains(&format!("credential {b}")), "{e}");
        // And a restart refuses too, naming the row, with nothing changed.
        let store = Store::open(dir.path()).await.unwrap();
        let e = store.unlock(keys(Some(1), None)).await.unwrap_err();
        assert!(
            matches!(&e, AtRestError::Row { cell, .. } if *cell == Cell::Credential(b)),
            "{e}"
        );
    }

    #[tokio::test]
    async fn the_proxy_setting_is_sealed_like_a_credential_and_others_stay_plain() {
        use crate::store::settings;
        let proxy = "http://user:pr0xy-pass@proxy.example:3128";
        let put = |store: Store, values: Vec<(String, serde_json::Value)>| async move {
            store
                .call(move |c| settings::put_many(c, &values, 1))
                .await
                .unwrap()
        };
        let raw_settings = |store: Store| async move {
            store
                .call(|c| {
                    let mut s = c.prepare("SELECT key, value_json FROM settings ORDER BY key")?;
                    let r = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    Ok(r.collect::<Result<Vec<(String, String)>, _>>()?)
                })
                .await
                .unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        store.unlock(keys(None, None)).await.unwrap();
        put(
            store.clone(),
            vec![("proxy".into(), json!(proxy)), ("port".into(), json!(9))],
        )
        .await;

        // The first start with a key seals the saved proxy, and only it.
        let store = Store::open(dir.path()).await.unwrap();
        let u = store.unlock(keys(Some(1), None)).await.unwrap();
        assert_eq!(u.sealed_now, 1);
        let raw = raw_settings(store.clone()).await;
        assert!(
            !raw.iter().any(|(_, v)| v.contains("pr0xy-pass")),
            "{raw:?}"
        );
        assert!(raw.contains(&("port".into(), "9".into())), "{raw:?}");
        let all = store.call(|c| settings::get_all(c)).await.unwrap();
        assert!(all.contains(&("proxy".into(), json!(proxy))), "{all:?}");
        // Saved later: sealed on write.
        put(
            store.clone(),
            vec![("proxy".into(), json!("socks5://u:n3w@h:1080"))],
        )
        .await;
        let raw = raw_settings(store.clone()).await;
        assert!(!raw.iter().any(|(_, v)| v.contains("n3w")), "{raw:?}");

        // A sealed value copied under another key does not open.
        store
            .call(|c| {
                c.execute(
                    "INSERT INTO settings (key, value_json, updated_at)
                     SELECT 'proxy_copy', value_json, 1 FROM settings WHERE key = 'proxy'",
                    [],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        let e = store.call(|c| settings::get_all(c)).await.unwrap_err();
        assert!(e.to_string().contains("setting proxy_copy"), "{e}");
        let store = Store::open(dir.path()).await.unwrap();
        let e = store.unlock(keys(Some(1), None)).await.unwrap_err();
        assert!(
            matches!(&e, AtRestError::Row { cell, .. } if *cell == Cell::Setting("proxy_copy".into())),
            "{e}"
        );
        store
            .call(|c| settings::delete(c, "proxy_copy"))
            .await
            .unwrap();

        // Rotation and decryption cover it too.
        let store = Store::open(dir.path()).await.unwrap();
        assert_eq!(
            store.unlock(keys(Some(2), Some(1))).await.unwrap().rotated,
            1
        );
        let store = Store::open(dir.path()).await.unwrap();
        assert_eq!(
            store.unlock(keys(None, Some(2))).await.unwrap().decrypted,
            1
        );
        let raw = raw_settings(store.clone()).await;
        assert!(raw.iter().any(|(_, v)| v.contains("n3w")), "{raw:?}");
    }
}
