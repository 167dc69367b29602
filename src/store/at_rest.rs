//! Credential secrets at rest: the database side of [`super::cipher`].
//!
//! Every connection gets two SQL functions, `secret_seal(id, text)` and `secret_open(id, text)`,
//! which the credential queries wrap around `payload_json`. With a key they encrypt and decrypt
//! (the row id is part of the associated data); without one they pass plain text through and
//! refuse sealed values. So SQL that edits a payload in place (`json_set` after a token refresh)
//! keeps doing so in one statement, and the rest of the code only ever sees plain payloads.
//!
//! [`unlock`] runs once at startup, in one transaction: it checks the key against the sealed
//! check value, re-encrypts rows sealed with `SECRETS_KEY_PREVIOUS`, and seals plain rows. Any
//! row that neither key opens stops the start and leaves the file as it was.
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::StoreError;
use super::cipher::{self, Cipher, Keys, OpenError};

/// The key in use for this process; empty until [`unlock`] succeeded with a key.
pub type Slot = Arc<ArcSwapOption<Cipher>>;

const CHECK_PLAINTEXT: &[u8] = b"gcli2api secrets key check";
const CHECK_AD: &[u8] = b"gcli2api secrets_at_rest.key_check 1";

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
        "credential {id} cannot be decrypted with {origin} or {previous}: {reason} \
         (nothing was changed)"
    )]
    Row {
        id: i64,
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

/// Registers `secret_seal` and `secret_open` on `conn`. Direct-only: no trigger or view
/// in a tampered file can call them.
pub fn register(conn: &Connection, slot: &Slot) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY;
    let s = Arc::clone(slot);
    conn.create_scalar_function("secret_seal", 2, flags, move |ctx| {
        let (id, text) = args(ctx)?;
        Ok(match s.load().as_deref() {
            // A JSON string, so the column's json_valid check holds for sealed values too.
            Some(c) => format!("\"{}\"", c.seal(&payload_ad(id), text.as_bytes())),
            None => text,
        })
    })?;
    let s = Arc::clone(slot);
    conn.create_scalar_function("secret_open", 2, flags, move |ctx| {
        let (id, text) = args(ctx)?;
        let Some(sealed) = sealed_in(&text) else {
            return Ok(text);
        };
        let guard = s.load();
        let c = guard.as_deref().ok_or_else(|| {
            user_error(format!(
                "credential {id} is encrypted and no {} is in use",
                cipher::ENV_KEY
            ))
        })?;
        let plain = c
            .open(&payload_ad(id), sealed)
            .map_err(|e| user_error(format!("credential {id}: {e}")))?;
        String::from_utf8(plain).map_err(|_| user_error(format!("credential {id}: not UTF-8")))
    })?;
    Ok(())
}

fn args(ctx: &Context<'_>) -> rusqlite::Result<(i64, String)> {
    Ok((ctx.get::<i64>(0)?, ctx.get::<String>(1)?))
}

fn user_error(msg: String) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(msg.into())
}

/// The sealed text inside a stored payload (a JSON string holding a sealed value), if it is one.
fn sealed_in(stored: &str) -> Option<&str> {
    stored
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .filter(|s| cipher::is_sealed(s))
}

fn store_sealed(c: &Cipher, id: i64, plain: &str) -> String {
    format!("\"{}\"", c.seal(&payload_ad(id), plain.as_bytes()))
}

/// Checks the keys against the database and brings every credential row under the current key
/// (or back to plain text when only the previous key is given), all in `tx`. On error nothing
/// is written: the caller rolls back.
pub fn unlock(tx: &Transaction<'_>, keys: &Keys, now: i64) -> Result<Unlocked, AtRestError> {
    let check: Option<String> = tx
        .query_row(
            "SELECT key_check FROM secrets_at_rest WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let rows: Vec<(i64, String)> = {
        let mut stmt = tx.prepare("SELECT id, payload_json FROM credentials ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
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
        for (id, stored) in &rows {
            let Some(sealed) = sealed_in(stored) else {
                continue;
            };
            let plain =
                previous
                    .open(&payload_ad(*id), sealed)
                    .map_err(|reason| AtRestError::Row {
                        id: *id,
                        origin: previous_name.into(),
                        previous: previous_name,
                        reason,
                    })?;
            let plain = String::from_utf8(plain).map_err(|_| AtRestError::Row {
                id: *id,
                origin: previous_name.into(),
                previous: previous_name,
                reason: OpenError::Malformed,
            })?;
            set_payload(tx, *id, &plain)?;
            out.decrypted += 1;
        }
        tx.execute("DELETE FROM secrets_at_rest", [])?;
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
    for (id, stored) in &rows {
        let ad = payload_ad(*id);
        let Some(sealed) = sealed_in(stored) else {
            set_payload(tx, *id, &store_sealed(current, *id, stored))?;
            out.sealed_now += 1;
            continue;
        };
        let reason = match current.open(&ad, sealed) {
            Ok(_) => continue,
            Err(e) => e,
        };
        let Some(previous) = &keys.previous else {
            return Err(AtRestError::Row {
                id: *id,
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
                id: *id,
                origin: origin.clone(),
                previous: previous_name,
                reason,
            })?;
        set_payload(tx, *id, &store_sealed(current, *id, &plain))?;
        out.rotated += 1;
        used_previous = true;
    }
    if !check_ok {
        tx.execute(
            "INSERT INTO secrets_at_rest (id, key_check, updated_at) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET key_check = excluded.key_check,
                 updated_at = excluded.updated_at",
            params![current.seal(CHECK_AD, CHECK_PLAINTEXT), now],
        )?;
    }
    out.encrypted = true;
    out.previous_unused = keys.previous.is_some() && !used_previous;
    Ok(out)
}

fn set_payload(tx: &Transaction<'_>, id: i64, stored: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE credentials SET payload_json = ?1 WHERE id = ?2",
        params![stored, id],
    )?;
    Ok(())
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
            .call(credentials::list)
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
        let e = store.call(credentials::list).await.unwrap_err();
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
        let e = store.call(credentials::list).await.unwrap_err();
        assert!(e.to_string().contains(&format!("credential {b}")), "{e}");
        // And a restart refuses too, naming the row, with nothing changed.
        let store = Store::open(dir.path()).await.unwrap();
        let e = store.unlock(keys(Some(1), None)).await.unwrap_err();
        assert!(matches!(e, AtRestError::Row { id, .. } if id == b), "{e}");
    }
}
