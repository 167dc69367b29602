//! The live log: the recent lines from the hub's ring, then new ones as they are written, over
//! SSE as HTML fragments (escaped here; the lines were redacted before they reached the hub).
//! The level filter is applied on the server, so filtered-out lines never reach the browser.
use std::time::Duration;

use askama::Template;
use futures_util::StreamExt;
use poem::web::sse::{Event, SSE};
use poem::web::{Data, Query};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;

use super::Nav;
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
            .unwrap_or("debug")
    }
}

#[derive(Template)]
#[template(path = "panel/logs.html")]
struct LogsPage {
    level: &'static str,
    levels: Vec<Opt>,
    available: bool,
}

#[derive(Template)]
#[template(path = "panel/partials/log_line.html")]
struct Line<'a> {
    time: String,
    level: String,
    class: &'static str,
    target: &'a str,
    message: &'a str,
}

fn render_line(l: &LogLine) -> Option<String> {
    Line {
        time: l.at.format("%H:%M:%S%.3f").to_string(),
        level: l.level.to_ascii_uppercase(),
        class: match rank(&l.level) {
            0 | 1 => "debug",
            2 => "info",
            3 => "warn",
            _ => "error",
        },
        target: &l.target,
        message: &l.message,
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
        level: q.level(),
        levels: options(&["debug", "info", "warn", "error"], &q.level()),
        available: state.logs.is_some(),
    };
    super::web::page(req, super::i18n::Tr::current().nav_logs(), Nav::Logs, &view)
}

#[handler]
pub fn stream(state: Data<&AppState>, Query(q): Query<LevelQuery>) -> Response {
    let Some(hub) = state.logs.clone() else {
        return poem::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
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
        .filter_map(|l| std::future::ready(render_line(&l).map(|h| (l.seq, h))))
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
        let html = render_line(&l).unwrap();
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
        assert!(!render_line(&l).unwrap().contains('\r'));
    }
}
