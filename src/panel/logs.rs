//! The live log: the recent lines from the hub's ring, then new ones as they are written, over
//! SSE as HTML fragments (escaped here; the lines were redacted before they reached the hub).
//! The level filter is applied on the server, so filtered-out lines never reach the browser.
use std::collections::HashMap;
use std::time::Duration;

use askama::Template;
use futures_util::StreamExt;
use poem::web::sse::{Event, SSE};
use poem::web::{Data, Query};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;

use super::Nav;
use super::i18n::Tr;
use super::web::{Opt, PanelError, options};
use crate::logs::LogLine;
use crate::state::AppState;

/// Lines replayed when the stream opens.
const REPLAY: usize = 200;
pub const LEVELS: [&str; 5] = ["debug", "info", "warn", "error", "trace"];

/// 0 = most verbose. Unknown levels sort as the most severe, so they are never hidden.
fn rank(level: &str) -> u8 {
    match level.to_ascii_lowercase().as_str() {
        "trace" => 0,
        "debug" => 1,
        "info" => 2,
        "warn" | "warning" => 3,
        _ => 4,
    }
}

#[derive(Deserialize)]
pub struct LevelQuery {
    level: Option<String>,
}

impl LevelQuery {
    fn level(&self) -> &'static str {
        self.level
            .as_deref()
            .and_then(|l| LEVELS.iter().find(|x| **x == l))
            .copied()
            // Debug lines drown what an operator looks for; they are one choice away.
            .unwrap_or("info")
    }
}

#[derive(Template)]
#[template(path = "panel/logs.html")]
struct LogsPage {
    tr: Tr,
    level: &'static str,
    levels: Vec<Opt>,
    available: bool,
}

#[derive(Template)]
#[template(path = "panel/partials/log_line.html")]
struct Line<'a> {
    time: String,
    iso: String,
    level: String,
    class: &'static str,
    target: &'a str,
    message: &'a str,
}

/// Credential ids in a line's fields (`credential=7`, `credential_id=7`, `cred=7`) with the
/// credential's display name: operators know their credentials by name.
fn name_credentials<'a>(
    message: &'a str,
    names: &HashMap<i64, String>,
) -> std::borrow::Cow<'a, str> {
    const KEYS: [&str; 3] = ["credential_id=", "credential=", "cred="];
    if names.is_empty() || !KEYS.iter().any(|k| message.contains(k)) {
        return message.into();
    }
    let mut out = String::with_capacity(message.len() + 16);
    let mut rest = message;
    'scan: while !rest.is_empty() {
        for key in KEYS {
            let at_boundary = out
                .chars()
                .last()
                .is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_');
            if at_boundary && rest.starts_with(key) {
                let digits = rest[key.len()..]
                    .bytes()
                    .take_while(u8::is_ascii_digit)
                    .count();
                let id = rest[key.len()..key.len() + digits].parse::<i64>().ok();
                if let Some(name) = id.and_then(|id| names.get(&id)) {
                    out.push_str(key);
                    out.push_str(name);
                    rest = &rest[key.len() + digits..];
                    continue 'scan;
                }
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out.into()
}

fn render_line(tr: &Tr, l: &LogLine, names: &HashMap<i64, String>) -> Option<String> {
    let message = name_credentials(&l.message, names);
    Line {
        time: tr.log_time(l.at),
        iso: l.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        level: l.level.to_ascii_uppercase(),
        class: match rank(&l.level) {
            0 | 1 => "debug",
            2 => "info",
            3 => "warn",
            _ => "error",
        },
        target: &l.target,
        message: &message,
    }
    .render()
    .ok()
    // SSE treats a bare CR as a line break, which poem's `data:` splitting does not expect.
    .map(|h| h.replace('\r', ""))
}

#[handler]
pub fn page(
    req: &Request,
    state: Data<&AppState>,
    Query(q): Query<LevelQuery>,
) -> Result<Response, PanelError> {
    let view = LogsPage {
        tr: Tr::current(),
        level: q.level(),
        levels: options(&["debug", "info", "warn", "error"], &q.level()),
        available: state.logs.is_some(),
    };
    super::web::page(req, super::i18n::Tr::current().nav_logs(), Nav::Logs, &view)
}

#[handler]
pub async fn stream(state: Data<&AppState>, Query(q): Query<LevelQuery>) -> Response {
    let Some(hub) = state.logs.clone() else {
        return poem::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    // The stream outlives the request's scope: keep the reader's zone with it.
    let tr = Tr::current();
    let names: HashMap<i64, String> = match state.pool.list().await {
        Ok(rows) => rows.into_iter().map(|r| (r.id, r.name)).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list credentials for the log's names");
            HashMap::new()
        }
    };
    let min = rank(q.level());
    // Subscribe before reading the ring so no line falls between; overlap is cut by `seq`.
    let rx = hub.subscribe();
    let recent = hub.recent(REPLAY);
    let last = recent.last().map(|l| l.seq);
    let live = tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(move |r| {
        // A browser that lags behind skips what it missed.
        std::future::ready(r.ok().filter(|l| last.is_none_or(|s| l.seq > s)))
    });
    let events = futures_util::stream::iter(recent)
        .chain(live)
        .filter(move |l| std::future::ready(rank(&l.level) >= min))
        .filter_map(move |l| std::future::ready(render_line(&tr, &l, &names).map(|h| (l.seq, h))))
        .map(|(seq, html)| Event::message(html).event_type("line").id(seq.to_string()));
    SSE::new(events)
        .keep_alive(Duration::from_secs(15))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_rank_and_unknown_is_never_hidden() {
        assert!(rank("ERROR") > rank("WARN"));
        assert!(rank("WARN") > rank("INFO"));
        assert_eq!(rank("weird"), rank("error"));
    }

    #[test]
    fn a_line_is_escaped() {
        let l = LogLine {
            seq: 1,
            at: chrono::Utc::now(),
            level: "INFO".into(),
            target: "t".into(),
            message: "<script>alert(1)</script>".into(),
        };
        let html = render_line(&Tr::default(), &l, &HashMap::new()).unwrap();
        assert!(!html.contains("<script>"));
        assert!(html.contains("&#60;script&#62;alert(1)"), "{html}");
    }

    #[test]
    fn a_bare_carriage_return_cannot_start_a_new_sse_field() {
        let l = LogLine {
            seq: 1,
            at: chrono::Utc::now(),
            level: "INFO".into(),
            target: "t".into(),
            message: "a\revent: spoof\rdata: x".into(),
        };
        assert!(
            !render_line(&Tr::default(), &l, &HashMap::new())
                .unwrap()
                .contains('\r')
        );
    }

    #[test]
    fn credential_ids_become_names_and_each_line_has_date_and_zone() {
        let names = HashMap::from([(7, "oauth-a@example.com.json".to_string())]);
        assert_eq!(
            name_credentials("picked credential=7 model=x recredential=7 cred=8", &names),
            "picked credential=oauth-a@example.com.json model=x recredential=7 cred=8"
        );
        assert_eq!(
            name_credentials("credential_id=7", &names),
            "credential_id=oauth-a@example.com.json"
        );
        let l = LogLine {
            seq: 1,
            at: chrono::DateTime::from_timestamp(1_796_612_645, 0).unwrap(),
            level: "INFO".into(),
            target: "t".into(),
            message: "credential=7 ok".into(),
        };
        let tr = Tr::new(super::super::i18n::Lang::En, chrono_tz::Asia::Shanghai);
        let html = render_line(&tr, &l, &names).unwrap();
        assert!(html.contains("2026-12-07 "), "{html}");
        assert!(html.contains(" CST"), "{html}");
        assert!(html.contains("oauth-a@example.com.json"), "{html}");
    }
}
