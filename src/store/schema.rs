//! The shape of a store's schema, read from either backend in one normalised form: tables,
//! columns with their type class and nullability, primary keys, and indexes. A test compares
//! the two backends' migrated schemas with it, and `migrate-store` checks that source and
//! target agree before copying a single row.
use std::collections::{BTreeMap, BTreeSet};

use rusqlite::Connection;

use super::postgres::VERSION_TABLE;

/// A column's type class: what both engines store in it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ty {
    Integer,
    Text,
    Blob,
    /// Anything else, by its declared name (a mismatch to report).
    Other(String),
}

impl Ty {
    fn sqlite(declared: &str) -> Self {
        match declared.to_ascii_uppercase().as_str() {
            "INTEGER" | "INT" => Ty::Integer,
            "TEXT" => Ty::Text,
            "BLOB" => Ty::Blob,
            other => Ty::Other(other.to_string()),
        }
    }

    fn postgres(formatted: &str) -> Self {
        match formatted {
            "bigint" | "integer" | "smallint" => Ty::Integer,
            "text" => Ty::Text,
            "bytea" => Ty::Blob,
            other => Ty::Other(other.to_string()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: Ty,
    /// NOT NULL, or part of the primary key (PostgreSQL forces that; SQLite only says so for
    /// some tables, and the code never stores a NULL key).
    pub not_null: bool,
}

/// An index other than the primary key's; an expression column reads as `(expr)`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Index {
    pub columns: Vec<String>,
    pub unique: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    /// In declaration order.
    pub columns: Vec<Column>,
    pub primary_key: Vec<String>,
    pub indexes: BTreeSet<Index>,
}

pub type Schema = BTreeMap<String, Table>;

const EXPR: &str = "(expr)";

/// The schema of a SQLite store (its own bookkeeping tables left out).
pub fn sqlite(conn: &Connection) -> rusqlite::Result<Schema> {
    let names: Vec<String> = {
        let mut stmt = conn.prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    let mut schema = Schema::new();
    for name in names {
        let mut table = Table::default();
        let mut pk: Vec<(i64, String)> = Vec::new();
        {
            let mut stmt =
                conn.prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1)")?;
            let rows = stmt.query_map([&name], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?;
            for row in rows {
                let (col, ty, not_null, pk_pos) = row?;
                if pk_pos > 0 {
                    pk.push((pk_pos, col.clone()));
                }
                table.columns.push(Column {
                    name: col,
                    ty: Ty::sqlite(&ty),
                    not_null: not_null != 0 || pk_pos > 0,
                });
            }
        }
        pk.sort();
        table.primary_key = pk.into_iter().map(|(_, c)| c).collect();
        let indexes: Vec<(String, bool)> = {
            let mut stmt = conn.prepare(
                "SELECT name, \"unique\" FROM pragma_index_list(?1) WHERE origin <> 'pk'",
            )?;
            stmt.query_map([&name], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0)))?
                .collect::<Result<_, _>>()?
        };
        for (index, unique) in indexes {
            let mut stmt = conn
                .prepare("SELECT name FROM pragma_index_xinfo(?1) WHERE key = 1 ORDER BY seqno")?;
            let columns = stmt
                .query_map([&index], |r| r.get::<_, Option<String>>(0))?
                .map(|c| c.map(|c| c.unwrap_or_else(|| EXPR.to_string())))
                .collect::<Result<_, _>>()?;
            table.indexes.insert(Index { columns, unique });
        }
        schema.insert(name, table);
    }
    Ok(schema)
}

/// The schema of a PostgreSQL store in the connection's current schema (the version table
/// left out).
pub fn postgres(client: &mut impl postgres::GenericClient) -> Result<Schema, postgres::Error> {
    let mut schema = Schema::new();
    let mut by_num: BTreeMap<(String, i16), String> = BTreeMap::new();
    let rows = client.query(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attnum
         FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind = 'r' AND a.attnum > 0
           AND NOT a.attisdropped AND c.relname <> $1
         ORDER BY c.relname, a.attnum",
        &[&VERSION_TABLE],
    )?;
    for r in rows {
        let table: String = r.get(0);
        let name: String = r.get(1);
        let ty: String = r.get(2);
        by_num.insert((table.clone(), r.get(4)), name.clone());
        schema.entry(table).or_default().columns.push(Column {
            name,
            ty: Ty::postgres(&ty),
            not_null: r.get(3),
        });
    }
    let rows = client.query(
        "SELECT c.relname, i.indisprimary, i.indisunique, i.indkey::int2[]
         FROM pg_index i
         JOIN pg_class c ON c.oid = i.indrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname <> $1",
        &[&VERSION_TABLE],
    )?;
    for r in rows {
        let table: String = r.get(0);
        let keys: Vec<i16> = r.get(3);
        let columns: Vec<String> = keys
            .iter()
            .map(|k| {
                by_num
                    .get(&(table.clone(), *k))
                    .cloned()
                    .unwrap_or_else(|| EXPR.to_string())
            })
            .collect();
        let Some(t) = schema.get_mut(&table) else {
            continue;
        };
        if r.get::<_, bool>(1) {
            t.primary_key = columns;
        } else {
            t.indexes.insert(Index {
                columns,
                unique: r.get(2),
            });
        }
    }
    Ok(schema)
}

/// Every difference between two schemas, one line each; empty when they agree.
pub fn differences(a_name: &str, a: &Schema, b_name: &str, b: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for (name, ta) in a {
        let Some(tb) = b.get(name) else {
            out.push(format!("table {name}: only in {a_name}"));
            continue;
        };
        if ta.columns != tb.columns {
            let show = |t: &Table| {
                t.columns
                    .iter()
                    .map(|c| {
                        format!(
                            "{} {:?}{}",
                            c.name,
                            c.ty,
                            if c.not_null { " NOT NULL" } else { "" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            out.push(format!(
                "table {name}: columns differ\n  {a_name}: {}\n  {b_name}: {}",
                show(ta),
                show(tb)
            ));
        }
        if ta.primary_key != tb.primary_key {
            out.push(format!(
                "table {name}: primary key {a_name} {:?}, {b_name} {:?}",
                ta.primary_key, tb.primary_key
            ));
        }
        if ta.indexes != tb.indexes {
            out.push(format!(
                "table {name}: indexes {a_name} {:?}, {b_name} {:?}",
                ta.indexes, tb.indexes
            ));
        }
    }
    for name in b.keys().filter(|n| !a.contains_key(*n)) {
        out.push(format!("table {name}: only in {b_name}"));
    }
    out
}
