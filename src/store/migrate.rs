//! `gcli2api migrate-store`: copies a SQLite store into an empty PostgreSQL database.
//!
//! The target is migrated to this build's schema first, and both schemas must agree before a
//! row moves. The copy itself is one PostgreSQL transaction (COPY per table, in foreign-key
//! order) read from one SQLite read transaction, so it is a consistent snapshot on both
//! sides; row counts are compared inside the transaction, before the commit, and any
//! difference rolls everything back. Rows keep their ids, and values are copied byte for
//! byte: a credential payload sealed with `SECRETS_KEY` names its row id in its associated
//! data, so it opens in PostgreSQL with the same key. Identity sequences continue after the
//! highest id ever handed out (SQLite's `sqlite_sequence`), so a deleted credential's or
//! key's id is never reused.
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::location::PgUrl;
use super::postgres::{self as pg, PgError};
use super::schema;

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("no SQLite database at {path}: check --from (or DATA_DIR)")]
    NoSource { path: String },
    #[error("cannot read the SQLite database {path}: {reason}")]
    Source { path: String, reason: String },
    #[error(
        "the SQLite database {path} has schema version {found}, but this build copies version \
         {supported}; {hint}"
    )]
    SourceVersion {
        path: String,
        found: i64,
        supported: usize,
        hint: &'static str,
    },
    #[error(transparent)]
    Target(#[from] PgError),
    #[error("the two schemas differ, nothing was copied: {0}")]
    SchemaMismatch(String),
    #[error(
        "the PostgreSQL database at {url} already holds data ({tables}); migrate-store only \
         copies into an empty database, nothing was copied"
    )]
    TargetNotEmpty { url: String, tables: String },
    #[error("copying table {table} failed, nothing was copied: {reason}")]
    Copy { table: String, reason: String },
    #[error(
        "table {table}: {source_rows} rows in SQLite but {target_rows} in PostgreSQL after the \
         copy; rolled back, nothing was copied"
    )]
    Count {
        table: String,
        source_rows: i64,
        target_rows: i64,
    },
}

/// What was copied: rows per table, in copy order.
#[derive(Debug, Default)]
pub struct Report {
    pub tables: Vec<(String, i64)>,
}

impl Report {
    pub fn rows(&self) -> i64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// Copies the SQLite database at `source` into the PostgreSQL database at `target`. Blocking:
/// run it on the blocking pool.
pub fn copy_store(source: &Path, target: &PgUrl) -> Result<Report, MigrateError> {
    let shown = source.display().to_string();
    if !source.is_file() {
        return Err(MigrateError::NoSource { path: shown });
    }
    let src_err = |e: rusqlite::Error| MigrateError::Source {
        path: shown.clone(),
        reason: e.to_string(),
    };
    let mut src = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(src_err)?;
    src.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(src_err)?;
    let found: i64 = src
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(src_err)?;
    let supported = super::schema_version();
    if found != supported as i64 {
        return Err(MigrateError::SourceVersion {
            path: shown,
            found,
            supported,
            hint: if found < supported as i64 {
                "start this gcli2api once on it (it upgrades the file), then copy"
            } else {
                "copy it with the newer gcli2api that wrote it"
            },
        });
    }

    let mut client = pg::connect(target)?;
    pg::migrate(&mut client, target)?;

    // One read transaction: every table is read from the same snapshot.
    let snapshot = src.transaction().map_err(src_err)?;
    let source_schema = schema::sqlite(&snapshot).map_err(src_err)?;
    let target_schema = schema::postgres(&mut client).map_err(PgError::from)?;
    let diff = schema::differences("sqlite", &source_schema, "postgres", &target_schema);
    if !diff.is_empty() {
        return Err(MigrateError::SchemaMismatch(diff.join("; ")));
    }

    let mut tx = client.transaction().map_err(PgError::from)?;
    let order = copy_order(&mut tx, &source_schema)?;
    let mut busy = Vec::new();
    for table in &order {
        let any: bool = tx
            .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), &[])
            .map_err(PgError::from)?
            .get(0);
        if any {
            busy.push(table.as_str());
        }
    }
    if !busy.is_empty() {
        return Err(MigrateError::TargetNotEmpty {
            url: target.to_string(),
            tables: busy.join(", "),
        });
    }

    let mut report = Report::default();
    for table in &order {
        let columns: Vec<String> = source_schema[table]
            .columns
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let copied = copy_table(&snapshot, &mut tx, table, &columns)?;
        let source_rows: i64 = snapshot
            .query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
                r.get(0)
            })
            .map_err(src_err)?;
        let target_rows: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .map_err(PgError::from)?
            .get(0);
        if source_rows != target_rows || copied != source_rows {
            return Err(MigrateError::Count {
                table: table.clone(),
                source_rows,
                target_rows,
            });
        }
        report.tables.push((table.clone(), target_rows));
    }
    continue_identities(&snapshot, &mut tx)?;
    tx.commit().map_err(PgError::from)?;
    tracing::info!(target = %target, rows = report.rows(), tables = report.tables.len(), "store copied to PostgreSQL");
    Ok(report)
}

/// The tables in an order where every table comes after the tables its foreign keys name.
fn copy_order(
    tx: &mut postgres::Transaction<'_>,
    schema: &schema::Schema,
) -> Result<Vec<String>, MigrateError> {
    let mut deps: BTreeMap<String, BTreeSet<String>> = schema
        .keys()
        .map(|t| (t.clone(), BTreeSet::new()))
        .collect();
    let rows = tx
        .query(
            "SELECT c.relname, r.relname FROM pg_constraint k
             JOIN pg_class c ON c.oid = k.conrelid
             JOIN pg_class r ON r.oid = k.confrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE k.contype = 'f' AND n.nspname = current_schema()",
            &[],
        )
        .map_err(PgError::from)?;
    for r in rows {
        let (table, references): (String, String) = (r.get(0), r.get(1));
        if table != references
            && let Some(d) = deps.get_mut(&table)
        {
            d.insert(references);
        }
    }
    let mut order = Vec::new();
    while !deps.is_empty() {
        let ready: Vec<String> = deps
            .iter()
            .filter(|(_, d)| {
                d.iter()
                    .all(|t| order.contains(t) || !schema.contains_key(t))
            })
            .map(|(t, _)| t.clone())
            .collect();
        if ready.is_empty() {
            return Err(MigrateError::SchemaMismatch(format!(
                "foreign keys form a cycle among {:?}",
                deps.keys().collect::<Vec<_>>()
            )));
        }
        for t in ready {
            deps.remove(&t);
            order.push(t);
        }
    }
    Ok(order)
}

/// Streams one table through COPY (text format); returns the rows sent.
fn copy_table(
    src: &Connection,
    tx: &mut postgres::Transaction<'_>,
    table: &str,
    columns: &[String],
) -> Result<i64, MigrateError> {
    let fail = |reason: String| MigrateError::Copy {
        table: table.to_string(),
        reason,
    };
    let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let list = quoted.join(", ");
    let mut stmt = src
        .prepare(&format!("SELECT {list} FROM \"{table}\""))
        .map_err(|e| fail(e.to_string()))?;
    let mut rows = stmt.query([]).map_err(|e| fail(e.to_string()))?;
    let mut writer = tx
        .copy_in(&format!("COPY {table} ({list}) FROM STDIN"))
        .map_err(|e| fail(pg::describe(&e)))?;
    let mut line = Vec::with_capacity(256);
    let mut sent = 0i64;
    while let Some(row) = rows.next().map_err(|e| fail(e.to_string()))? {
        line.clear();
        for (i, column) in columns.iter().enumerate() {
            if i > 0 {
                line.push(b'\t');
            }
            let value = row.get_ref(i).map_err(|e| fail(e.to_string()))?;
            encode(&mut line, value).map_err(|why| fail(format!("column {column}: {why}")))?;
        }
        line.push(b'\n');
        writer
            .write_all(&line)
            .map_err(|e| fail(format!("sending rows: {e}")))?;
        sent += 1;
    }
    writer.finish().map_err(|e| fail(pg::describe(&e)))?;
    Ok(sent)
}

/// One value in COPY's text format: `\N` for NULL, backslash escapes for text, `\\x` + hex
/// for bytes (the backslash of bytea's hex form, itself escaped).
fn encode(out: &mut Vec<u8>, value: ValueRef<'_>) -> Result<(), String> {
    match value {
        ValueRef::Null => out.extend_from_slice(b"\\N"),
        ValueRef::Integer(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
        ValueRef::Real(_) => return Err("a floating-point value, which no column holds".into()),
        ValueRef::Text(t) => {
            if t.contains(&0) {
                return Err("text with a NUL byte, which PostgreSQL cannot store".into());
            }
            if std::str::from_utf8(t).is_err() {
                return Err("text that is not UTF-8".into());
            }
            for &b in t {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    _ => out.push(b),
                }
            }
        }
        ValueRef::Blob(b) => {
            out.extend_from_slice(b"\\\\x");
            out.extend_from_slice(hex::encode(b).as_bytes());
        }
    }
    Ok(())
}

/// Moves every identity sequence past the highest id SQLite ever handed out in that table.
fn continue_identities(
    src: &Connection,
    tx: &mut postgres::Transaction<'_>,
) -> Result<(), MigrateError> {
    let rows = tx
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND is_identity = 'YES'",
            &[],
        )
        .map_err(PgError::from)?;
    for r in rows {
        let (table, column): (String, String) = (r.get(0), r.get(1));
        let src_err = |e: rusqlite::Error| MigrateError::Copy {
            table: table.clone(),
            reason: e.to_string(),
        };
        let max: Option<i64> = src
            .query_row(
                &format!("SELECT max(\"{column}\") FROM \"{table}\""),
                [],
                |r| r.get(0),
            )
            .map_err(src_err)?;
        // AUTOINCREMENT tables remember ids of rows deleted since; other tables have no row here.
        let has_sequence: bool = src
            .query_row(
                "SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_sequence'",
                [],
                |_| Ok(()),
            )
            .optional()
            .map_err(src_err)?
            .is_some();
        let issued: Option<i64> = if has_sequence {
            src.query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = ?1",
                [&table],
                |r| r.get(0),
            )
            .optional()
            .map_err(src_err)?
        } else {
            None
        };
        let last = max.unwrap_or(0).max(issued.unwrap_or(0));
        // setval(seq, n, true): the next id is n + 1; (seq, 1, false): the next id is 1.
        let (value, called) = if last > 0 { (last, true) } else { (1, false) };
        tx.execute(
            "SELECT setval(pg_get_serial_sequence($1, $2), $3, $4)",
            &[&table, &column, &value, &called],
        )
        .map_err(PgError::from)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: ValueRef<'_>) -> String {
        let mut out = Vec::new();
        encode(&mut out, v).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn copy_text_escapes() {
        assert_eq!(enc(ValueRef::Null), "\\N");
        assert_eq!(enc(ValueRef::Integer(-42)), "-42");
        assert_eq!(
            enc(ValueRef::Text(b"a\tb\nc\\d\re \\N")),
            "a\\tb\\nc\\\\d\\re \\\\N"
        );
        assert_eq!(enc(ValueRef::Blob(&[0, 0xff, 0x10])), "\\\\x00ff10");
        let mut out = Vec::new();
        assert!(encode(&mut out, ValueRef::Text(b"a\0b")).is_err());
        assert!(encode(&mut out, ValueRef::Real(1.5)).is_err());
    }
}
