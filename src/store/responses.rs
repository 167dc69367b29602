//! SQL for stored Responses API answers (migrations/0006_responses.sql). Writes come in
//! batches from the write-behind queue of `responses_store`, one transaction per batch.
use rusqlite::{OptionalExtension, params};

use super::StoreError;
use super::db::Db;

/// One stored response, its JSON columns as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRow {
    pub id: String,
    /// Unix milliseconds.
    pub created_at: i64,
    pub response_json: String,
    pub conversation_json: String,
    pub output_json: String,
}

impl StoredRow {
    /// What the row counts against the size cap.
    pub fn bytes(&self) -> usize {
        self.id.len()
            + self.response_json.len()
            + self.conversation_json.len()
            + self.output_json.len()
    }
}

/// A queued write.
#[derive(Clone, Debug)]
pub enum Write {
    Put(std::sync::Arc<StoredRow>),
    Delete(String),
}

/// Applies queued writes in order (a delete after a put of the same id wins). Call it in a
/// transaction: a batch lands whole or not at all.
pub fn apply<'c, 't: 'c>(db: impl Into<Db<'c, 't>>, writes: &[Write]) -> Result<(), StoreError> {
    let size = |r: &StoredRow| i64::try_from(r.bytes()).unwrap_or(i64::MAX);
    match db.into() {
        Db::Sqlite(tx) => {
            let mut put = tx.prepare_cached(
                "INSERT OR REPLACE INTO responses (id, created_at, bytes, response_json, conversation_json, output_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut delete = tx.prepare_cached("DELETE FROM responses WHERE id = ?1")?;
            for w in writes {
                match w {
                    Write::Put(r) => {
                        put.execute(params![
                            r.id,
                            r.created_at,
                            size(r),
                            r.response_json,
                            r.conversation_json,
                            r.output_json
                        ])?;
                    }
                    Write::Delete(id) => {
                        delete.execute([id])?;
                    }
                }
            }
        }
        Db::Postgres(tx) => {
            let put = tx.prepare(
                "INSERT INTO responses (id, created_at, bytes, response_json, conversation_json, output_json)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (id) DO UPDATE SET created_at = EXCLUDED.created_at,
                     bytes = EXCLUDED.bytes, response_json = EXCLUDED.response_json,
                     conversation_json = EXCLUDED.conversation_json,
                     output_json = EXCLUDED.output_json",
            )?;
            let delete = tx.prepare("DELETE FROM responses WHERE id = $1")?;
            for w in writes {
                match w {
                    Write::Put(r) => {
                        tx.execute(
                            &put,
                            &[
                                &r.id,
                                &r.created_at,
                                &size(r),
                                &r.response_json,
                                &r.conversation_json,
                                &r.output_json,
                            ],
                        )?;
                    }
                    Write::Delete(id) => {
                        tx.execute(&delete, &[id])?;
                    }
                }
            }
        }
    }
    Ok(())
}

const GET_COLUMNS: &str = "id, created_at, response_json, conversation_json, output_json";

pub fn get<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    id: &str,
) -> Result<Option<StoredRow>, StoreError> {
    match db.into() {
        Db::Sqlite(conn) => Ok(conn
            .query_row(
                &format!("SELECT {GET_COLUMNS} FROM responses WHERE id = ?1"),
                [id],
                |r| {
                    Ok(StoredRow {
                        id: r.get(0)?,
                        created_at: r.get(1)?,
                        response_json: r.get(2)?,
                        conversation_json: r.get(3)?,
                        output_json: r.get(4)?,
                    })
                },
            )
            .optional()?),
        Db::Postgres(tx) => Ok(tx
            .query_opt(
                &format!("SELECT {GET_COLUMNS} FROM responses WHERE id = $1"),
                &[&id],
            )?
            .map(|r| StoredRow {
                id: r.get(0),
                created_at: r.get(1),
                response_json: r.get(2),
                conversation_json: r.get(3),
                output_json: r.get(4),
            })),
    }
}

/// Drops rows created before `cutoff_ms`, then the oldest rows until the rest fit in
/// `max_bytes`. Returns how many rows went. Call it in a transaction.
pub fn prune<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    cutoff_ms: i64,
    max_bytes: u64,
) -> Result<usize, StoreError> {
    let cap = i64::try_from(max_bytes).unwrap_or(i64::MAX);
    // The newest row whose running total (newest first) passes the cap, and everything older.
    match db.into() {
        Db::Sqlite(tx) => {
            let mut removed =
                tx.execute("DELETE FROM responses WHERE created_at < ?1", [cutoff_ms])?;
            let over: Option<(i64, String)> = tx
                .query_row(
                    "SELECT created_at, id FROM (
                         SELECT created_at, id, SUM(bytes) OVER (ORDER BY created_at DESC, id DESC) AS total
                         FROM responses)
                     WHERE total > ?1 ORDER BY created_at DESC, id DESC LIMIT 1",
                    [cap],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((at, id)) = over {
                removed += tx.execute(
                    "DELETE FROM responses WHERE created_at < ?1 OR (created_at = ?1 AND id <= ?2)",
                    params![at, id],
                )?;
            }
            Ok(removed)
        }
        Db::Postgres(tx) => {
            let mut removed =
                tx.execute("DELETE FROM responses WHERE created_at < $1", &[&cutoff_ms])?;
            // The ids compare with the C collation, the byte order SQLite uses; SUM of a
            // BIGINT is NUMERIC here, so the cap is typed explicitly.
            let over = tx.query_opt(
                "SELECT created_at, id FROM (
                     SELECT created_at, id,
                         SUM(bytes) OVER (ORDER BY created_at DESC, id COLLATE \"C\" DESC) AS total
                     FROM responses) AS ranked
                 WHERE total > $1::BIGINT ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT 1",
                &[&cap],
            )?;
            if let Some(row) = over {
                let (at, id): (i64, String) = (row.get(0), row.get(1));
                removed += tx.execute(
                    "DELETE FROM responses
                     WHERE created_at < $1 OR (created_at = $1 AND id COLLATE \"C\" <= $2)",
                    &[&at, &id],
                )?;
            }
            usize::try_from(removed).map_err(|e| StoreError::Data(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::Store;

    fn row(id: &str, at: i64, size: usize) -> Arc<StoredRow> {
        Arc::new(StoredRow {
            id: id.into(),
            created_at: at,
            response_json: "x".repeat(size),
            conversation_json: "[]".into(),
            output_json: "[]".into(),
        })
    }

    #[tokio::test]
    async fn writes_in_order_and_prunes_by_age_then_size() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let writes = vec![
            Write::Put(row("a", 1_000, 100)),
            Write::Put(row("b", 2_000, 100)),
            Write::Put(row("c", 3_000, 100)),
            Write::Put(row("d", 4_000, 100)),
            Write::Put(row("gone", 4_500, 10)),
            Write::Delete("gone".into()),
        ];
        store.tx(move |tx| apply(tx, &writes)).await.unwrap();
        let got = store.call(|c| get(c, "b")).await.unwrap().unwrap();
        assert_eq!(got.response_json.len(), 100);
        assert!(store.call(|c| get(c, "gone")).await.unwrap().is_none());
        // "a" is too old; of the rest only the newest two fit in 250 bytes.
        let n = store.tx(|tx| prune(tx, 1_500, 250)).await.unwrap();
        assert_eq!(n, 2);
        for (id, kept) in [("a", false), ("b", false), ("c", true), ("d", true)] {
            let present = store.call(move |c| get(c, id)).await.unwrap().is_some();
            assert_eq!(present, kept, "{id}");
        }
    }
}
