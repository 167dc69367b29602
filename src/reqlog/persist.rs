//! SQL for the request log table (migrations/0008_request_log.sql).
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::types::Value as Sql;
use rusqlite::{OptionalExtension, params, params_from_iter};

use super::{Entry, Purged};
use crate::store::StoreError;
use crate::store::db::Db;
use crate::usage::Outcome;

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(super) fn insert<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    rows: &[Entry],
) -> Result<(), StoreError> {
    const SQL: &str = "INSERT INTO request_log (at, surface, stream, client_model, served_model,
             credential_id, status, outcome, latency_ms, ttfb_ms, attempts, prompt_tokens,
             completion_tokens, reasoning_tokens, client, error, prompt_excerpt)";
    match db.into() {
        Db::Sqlite(tx) => {
            let mut st = tx.prepare_cached(&format!(
                "{SQL} VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
            ))?;
            for e in rows {
                st.execute(params![
                    e.at.timestamp_millis(),
                    e.surface,
                    e.stream,
                    e.client_model,
                    e.served_model,
                    e.credential_id,
                    e.status,
                    e.outcome.key(),
                    to_i64(e.latency_ms),
                    e.ttfb_ms.map(to_i64),
                    e.attempts,
                    to_i64(e.prompt_tokens),
                    to_i64(e.completion_tokens),
                    to_i64(e.reasoning_tokens),
                    e.client,
                    e.error,
                    e.prompt_excerpt,
                ])?;
            }
        }
        Db::Postgres(tx) => {
            let st = tx.prepare(&format!(
                "{SQL} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
            ))?;
            for e in rows {
                tx.execute(
                    &st,
                    &[
                        &e.at.timestamp_millis(),
                        &e.surface,
                        &i64::from(e.stream),
                        &e.client_model,
                        &e.served_model,
                        &e.credential_id,
                        &i64::from(e.status),
                        &e.outcome.key(),
                        &to_i64(e.latency_ms),
                        &e.ttfb_ms.map(to_i64),
                        &i64::from(e.attempts),
                        &to_i64(e.prompt_tokens),
                        &to_i64(e.completion_tokens),
                        &to_i64(e.reasoning_tokens),
                        &e.client,
                        &e.error,
                        &e.prompt_excerpt,
                    ],
                )?;
            }
        }
    }
    Ok(())
}

/// Deletes rows older than `cutoff_ms`, then all but the newest `max_rows`; erases prompt
/// excerpts when asked (the setting was turned off).
pub(super) fn purge<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    cutoff_ms: Option<i64>,
    max_rows: u64,
    erase_prompts: bool,
) -> Result<Purged, StoreError> {
    const ERASE: &str =
        "UPDATE request_log SET prompt_excerpt = NULL WHERE prompt_excerpt IS NOT NULL";
    // Ids grow with insertion, so "all but the newest N" is "ids at or below the (N+1)-th id".
    const BY_COUNT: &str = "DELETE FROM request_log WHERE id <=
             (SELECT id FROM request_log ORDER BY id DESC LIMIT 1 OFFSET {n})";
    let (by_age, by_count) = match db.into() {
        Db::Sqlite(tx) => {
            if erase_prompts {
                tx.execute(ERASE, [])?;
            }
            let by_age = match cutoff_ms {
                Some(c) => tx.execute("DELETE FROM request_log WHERE at < ?1", [c])? as u64,
                None => 0,
            };
            let by_count = tx.execute(&BY_COUNT.replace("{n}", "?1"), [to_i64(max_rows)])?;
            (by_age, by_count as u64)
        }
        Db::Postgres(tx) => {
            if erase_prompts {
                tx.execute(ERASE, &[])?;
            }
            let by_age = match cutoff_ms {
                Some(c) => tx.execute("DELETE FROM request_log WHERE at < $1", &[&c])?,
                None => 0,
            };
            let by_count = tx.execute(&BY_COUNT.replace("{n}", "$1"), &[&to_i64(max_rows)])?;
            (by_age, by_count)
        }
    };
    Ok(Purged { by_age, by_count })
}

/// Which statuses a listing keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    /// One exact status.
    Code(u16),
    /// A class: 2 for 2xx, 4 for 4xx, 5 for 5xx.
    Class(u16),
    /// Every status from 400 up.
    Errors,
}

impl StatusFilter {
    /// `200`, `4xx`, `5xx`, `error`; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "error" | "errors" => Some(Self::Errors),
            _ if s.len() == 3 && s.ends_with("xx") => {
                let d = s[..1].parse::<u16>().ok()?;
                (1..=5).contains(&d).then_some(Self::Class(d))
            }
            _ => s
                .parse::<u16>()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .map(Self::Code),
        }
    }
}

/// A listing's filters and page. Every filter is optional; they combine with AND.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub status: Option<StatusFilter>,
    /// Matches the client's or the served model name exactly.
    pub model: Option<String>,
    /// 0: requests no credential served.
    pub credential_id: Option<i64>,
    pub surface: Option<String>,
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    pub limit: u32,
    pub offset: u32,
}

impl Filter {
    fn where_clause(&self) -> (String, Vec<Sql>) {
        let mut conds: Vec<&str> = Vec::new();
        let mut args: Vec<Sql> = Vec::new();
        match self.status {
            Some(StatusFilter::Code(c)) => {
                conds.push("r.status = ?");
                args.push(Sql::Integer(c.into()));
            }
            Some(StatusFilter::Class(d)) => {
                conds.push("r.status >= ? AND r.status < ?");
                args.push(Sql::Integer(i64::from(d) * 100));
                args.push(Sql::Integer(i64::from(d) * 100 + 100));
            }
            Some(StatusFilter::Errors) => conds.push("r.status >= 400"),
            None => {}
        }
        if let Some(m) = &self.model {
            conds.push("(r.client_model = ? OR r.served_model = ?)");
            args.push(Sql::Text(m.clone()));
            args.push(Sql::Text(m.clone()));
        }
        match self.credential_id {
            Some(0) => conds.push("r.credential_id IS NULL"),
            Some(id) => {
                conds.push("r.credential_id = ?");
                args.push(Sql::Integer(id));
            }
            None => {}
        }
        if let Some(s) = &self.surface {
            conds.push("r.surface = ?");
            args.push(Sql::Text(s.clone()));
        }
        if let Some(t) = self.from {
            conds.push("r.at >= ?");
            args.push(Sql::Integer(t.timestamp_millis()));
        }
        if let Some(t) = self.to {
            conds.push("r.at < ?");
            args.push(Sql::Integer(t.timestamp_millis()));
        }
        let w = if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        };
        (w, args)
    }
}

/// One stored row, with the credential's current display name.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub id: i64,
    pub entry: Entry,
    /// The credential's name now; `None` when none served it or it was deleted since.
    pub credential_name: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Page {
    /// Newest first.
    pub rows: Vec<Row>,
    /// Rows matching the filters, all pages.
    pub total: u64,
}

const COLUMNS: &str = "r.id, r.at, r.surface, r.stream, r.client_model, r.served_model,
    r.credential_id, r.status, r.outcome, r.latency_ms, r.ttfb_ms, r.attempts, r.prompt_tokens,
    r.completion_tokens, r.reasoning_tokens, r.client, r.error, r.prompt_excerpt, c.name";

fn surface_static(s: &str) -> &'static str {
    match s {
        "openai" => "openai",
        "gemini" => "gemini",
        "anthropic" => "anthropic",
        "responses" => "responses",
        _ => "other",
    }
}

fn read_row(r: &rusqlite::Row) -> rusqlite::Result<Row> {
    let at: i64 = r.get(1)?;
    let surface: String = r.get(2)?;
    let outcome: String = r.get(8)?;
    Ok(Row {
        id: r.get(0)?,
        entry: Entry {
            at: Utc
                .timestamp_millis_opt(at)
                .single()
                .unwrap_or(DateTime::UNIX_EPOCH),
            surface: surface_static(&surface),
            stream: r.get(3)?,
            client_model: r.get(4)?,
            served_model: r.get(5)?,
            credential_id: r.get(6)?,
            status: r.get(7)?,
            // Only this module writes the column, always from `Outcome::key`.
            outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Transport),
            latency_ms: to_u64(r.get(9)?),
            ttfb_ms: r.get::<_, Option<i64>>(10)?.map(to_u64),
            attempts: r.get(11)?,
            prompt_tokens: to_u64(r.get(12)?),
            completion_tokens: to_u64(r.get(13)?),
            reasoning_tokens: to_u64(r.get(14)?),
            client: r.get(15)?,
            error: r.get(16)?,
            prompt_excerpt: r.get(17)?,
        },
        credential_name: r.get(18)?,
    })
}

/// The PostgreSQL counterpart of `read_row` (integers are BIGINT there).
fn read_pg_row(r: &postgres::Row) -> Result<Row, StoreError> {
    let at: i64 = r.try_get(1)?;
    let surface: String = r.try_get(2)?;
    let outcome: String = r.try_get(8)?;
    let status: i64 = r.try_get(7)?;
    let attempts: i64 = r.try_get(11)?;
    Ok(Row {
        id: r.try_get(0)?,
        entry: Entry {
            at: Utc
                .timestamp_millis_opt(at)
                .single()
                .unwrap_or(DateTime::UNIX_EPOCH),
            surface: surface_static(&surface),
            stream: r.try_get::<_, i64>(3)? != 0,
            client_model: r.try_get(4)?,
            served_model: r.try_get(5)?,
            credential_id: r.try_get(6)?,
            status: u16::try_from(status).unwrap_or(0),
            outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Transport),
            latency_ms: to_u64(r.try_get(9)?),
            ttfb_ms: r.try_get::<_, Option<i64>>(10)?.map(to_u64),
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            prompt_tokens: to_u64(r.try_get(12)?),
            completion_tokens: to_u64(r.try_get(13)?),
            reasoning_tokens: to_u64(r.try_get(14)?),
            client: r.try_get(15)?,
            error: r.try_get(16)?,
            prompt_excerpt: r.try_get(17)?,
        },
        credential_name: r.try_get(18)?,
    })
}

type PgArgs = Vec<Box<dyn postgres::types::ToSql + Sync + Send>>;

fn pg_refs(args: &PgArgs) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    args.iter()
        .map(|a| a.as_ref() as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

/// A WHERE clause built for SQLite, for PostgreSQL: its `?` placeholders numbered `$1..`
/// (no `?` occurs in the clause otherwise: values are always parameters), its values boxed.
fn pg_where(w: &str, args: Vec<Sql>) -> Result<(String, PgArgs), StoreError> {
    let mut out = String::with_capacity(w.len() + 8);
    let mut n = 0;
    for ch in w.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    let args = args
        .into_iter()
        .map(
            |a| -> Result<Box<dyn postgres::types::ToSql + Sync + Send>, StoreError> {
                match a {
                    Sql::Integer(i) => Ok(Box::new(i)),
                    Sql::Text(t) => Ok(Box::new(t)),
                    other => Err(StoreError::Data(format!(
                        "unexpected filter value {other:?}"
                    ))),
                }
            },
        )
        .collect::<Result<_, _>>()?;
    Ok((out, args))
}

pub(super) fn list<'c, 't: 'c>(db: impl Into<Db<'c, 't>>, f: &Filter) -> Result<Page, StoreError> {
    let (w, mut args) = f.where_clause();
    let select = |w: &str, limit: &str, offset: &str| {
        format!(
            "SELECT {COLUMNS} FROM request_log r LEFT JOIN credentials c ON c.id = r.credential_id
             {w} ORDER BY r.id DESC LIMIT {limit} OFFSET {offset}"
        )
    };
    match db.into() {
        Db::Sqlite(conn) => {
            let total: i64 = conn.query_row(
                &format!("SELECT count(*) FROM request_log r {w}"),
                params_from_iter(args.iter()),
                |r| r.get(0),
            )?;
            args.push(Sql::Integer(f.limit.into()));
            args.push(Sql::Integer(f.offset.into()));
            let mut st = conn.prepare(&select(&w, "?", "?"))?;
            let rows = st
                .query_map(params_from_iter(args.iter()), read_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Page {
                rows,
                total: to_u64(total),
            })
        }
        Db::Postgres(tx) => {
            let (w, mut args) = pg_where(&w, args)?;
            let n = args.len();
            let total: i64 = tx
                .query_one(
                    &format!("SELECT count(*) FROM request_log r {w}"),
                    &pg_refs(&args),
                )?
                .get(0);
            args.push(Box::new(i64::from(f.limit)));
            args.push(Box::new(i64::from(f.offset)));
            let sql = select(&w, &format!("${}", n + 1), &format!("${}", n + 2));
            let rows = tx
                .query(&sql, &pg_refs(&args))?
                .iter()
                .map(read_pg_row)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Page {
                rows,
                total: to_u64(total),
            })
        }
    }
}

pub(super) fn get<'c, 't: 'c>(
    db: impl Into<Db<'c, 't>>,
    id: i64,
) -> Result<Option<Row>, StoreError> {
    let sql = |p: &str| {
        format!(
            "SELECT {COLUMNS} FROM request_log r LEFT JOIN credentials c ON c.id = r.credential_id
             WHERE r.id = {p}"
        )
    };
    match db.into() {
        Db::Sqlite(conn) => Ok(conn.query_row(&sql("?1"), [id], read_row).optional()?),
        Db::Postgres(tx) => tx
            .query_opt(&sql("$1"), &[&id])?
            .as_ref()
            .map(read_pg_row)
            .transpose(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_filters_parse() {
        assert_eq!(StatusFilter::parse("200"), Some(StatusFilter::Code(200)));
        assert_eq!(StatusFilter::parse("4xx"), Some(StatusFilter::Class(4)));
        assert_eq!(StatusFilter::parse("5XX"), Some(StatusFilter::Class(5)));
        assert_eq!(StatusFilter::parse("error"), Some(StatusFilter::Errors));
        assert_eq!(StatusFilter::parse("9xx"), None);
        assert_eq!(StatusFilter::parse("42"), None);
        assert_eq!(StatusFilter::parse("abc"), None);
    }

    #[test]
    fn empty_filter_has_no_where() {
        let (w, a) = Filter::default().where_clause();
        assert!(w.is_empty());
        assert!(a.is_empty());
        let f = Filter {
            status: Some(StatusFilter::Class(5)),
            credential_id: Some(0),
            ..Filter::default()
        };
        let (w, a) = f.where_clause();
        assert_eq!(
            w,
            "WHERE r.status >= ? AND r.status < ? AND r.credential_id IS NULL"
        );
        assert_eq!(a, vec![Sql::Integer(500), Sql::Integer(600)]);
    }
}
