//! SQL for the request log table (migrations/0008_request_log.sql).
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};

use super::{Entry, Purged};
use crate::store::StoreError;
use crate::usage::Outcome;

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(super) fn insert(tx: &Transaction, rows: &[Entry]) -> Result<(), StoreError> {
    let mut st = tx.prepare_cached(
        "INSERT INTO request_log (at, surface, stream, client_model, served_model, credential_id,
             status, outcome, latency_ms, ttfb_ms, attempts, prompt_tokens, completion_tokens,
             reasoning_tokens, client, error, prompt_excerpt)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )?;
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
    Ok(())
}

/// Deletes rows older than `cutoff_ms`, then all but the newest `max_rows`; erases prompt
/// excerpts when asked (the setting was turned off).
pub(super) fn purge(
    tx: &Transaction,
    cutoff_ms: Option<i64>,
    max_rows: u64,
    erase_prompts: bool,
) -> Result<Purged, StoreError> {
    if erase_prompts {
        tx.execute(
            "UPDATE request_log SET prompt_excerpt = NULL WHERE prompt_excerpt IS NOT NULL",
            [],
        )?;
    }
    let by_age = match cutoff_ms {
        Some(c) => tx.execute("DELETE FROM request_log WHERE at < ?1", [c])?,
        None => 0,
    };
    // Ids grow with insertion, so "all but the newest N" is "ids at or below the (N+1)-th id".
    let by_count = tx.execute(
        "DELETE FROM request_log WHERE id <=
             (SELECT id FROM request_log ORDER BY id DESC LIMIT 1 OFFSET ?1)",
        [to_i64(max_rows)],
    )?;
    Ok(Purged {
        by_age: by_age as u64,
        by_count: by_count as u64,
    })
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

pub(super) fn list(conn: &Connection, f: &Filter) -> Result<Page, StoreError> {
    let (w, mut args) = f.where_clause();
    let total: i64 = conn.query_row(
        &format!("SELECT count(*) FROM request_log r {w}"),
        params_from_iter(args.iter()),
        |r| r.get(0),
    )?;
    args.push(Sql::Integer(f.limit.into()));
    args.push(Sql::Integer(f.offset.into()));
    let mut st = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM request_log r LEFT JOIN credentials c ON c.id = r.credential_id
         {w} ORDER BY r.id DESC LIMIT ? OFFSET ?"
    ))?;
    let rows = st
        .query_map(params_from_iter(args.iter()), read_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page {
        rows,
        total: to_u64(total),
    })
}

pub(super) fn get(conn: &Connection, id: i64) -> Result<Option<Row>, StoreError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM request_log r LEFT JOIN credentials c ON c.id = r.credential_id
                 WHERE r.id = ?1"
            ),
            [id],
            read_row,
        )
        .optional()?)
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
