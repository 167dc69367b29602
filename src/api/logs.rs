//! Recent log lines and the live log stream (server-sent events). Lines are redacted before
//! they reach the ring buffer, so nothing here can leak a registered secret.
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use poem::web::Data;
use poem::web::sse::Event;
use poem_openapi::param::Query;
use poem_openapi::payload::{EventStream, Json};
use poem_openapi::types::ToJSON;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::auth::PanelAuth;
use super::error::{ApiError, ErrorCode, Failure};
use crate::logs::{LogLine, RING_CAPACITY};
use crate::state::AppState;

pub struct LogsApi;

#[derive(Object, Clone)]
struct LogEntry {
    /// Strictly increasing within one process.
    seq: u64,
    at: chrono::DateTime<chrono::Utc>,
    /// TRACE, DEBUG, INFO, WARN or ERROR.
    level: String,
    target: String,
    message: String,
}

impl From<LogLine> for LogEntry {
    fn from(l: LogLine) -> Self {
        LogEntry {
            seq: l.seq,
            at: l.at,
            level: l.level,
            target: l.target,
            message: l.message,
        }
    }
}

#[derive(ApiResponse)]
enum ListLogsResponse {
    /// Oldest first.
    #[oai(status = 200)]
    Ok(Json<Vec<LogEntry>>),
    /// Log capture is not enabled in this process.
    #[oai(status = 503)]
    Unavailable(Json<ApiError>),
}

#[derive(ApiResponse)]
enum StreamLogsResponse {
    /// One `log` event per line (JSON `LogEntry`, SSE id = `seq`): first the last `n` lines,
    /// then new ones as they are written. Comments keep the connection alive.
    #[oai(status = 200)]
    Ok(EventStream<BoxStream<'static, LogEntry>>),
    #[oai(status = 503)]
    Unavailable(Json<ApiError>),
}

fn unavailable() -> Json<ApiError> {
    ApiError::json(
        ErrorCode::Unavailable,
        "log capture is not enabled in this process",
    )
}

fn clamp(n: Option<u32>, default: usize) -> usize {
    n.map(|n| n as usize).unwrap_or(default).min(RING_CAPACITY)
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Logs")]
impl LogsApi {
    /// The most recent log lines (`n`, default 200, at most the ring's capacity).
    #[oai(path = "/logs", method = "get", operation_id = "list_logs")]
    async fn list(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        n: Query<Option<u32>>,
    ) -> Result<ListLogsResponse, Failure> {
        let Some(hub) = &state.logs else {
            return Ok(ListLogsResponse::Unavailable(unavailable()));
        };
        let lines = hub
            .recent(clamp(n.0, 200))
            .into_iter()
            .map(LogEntry::from)
            .collect();
        Ok(ListLogsResponse::Ok(Json(lines)))
    }

    /// Live log lines as server-sent events, after replaying the last `n` (default 100).
    #[oai(path = "/logs/stream", method = "get", operation_id = "stream_logs")]
    async fn stream(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        n: Query<Option<u32>>,
    ) -> Result<StreamLogsResponse, Failure> {
        let Some(hub) = &state.logs else {
            return Ok(StreamLogsResponse::Unavailable(unavailable()));
        };
        // Subscribe before reading the ring, so no line falls between the two; the overlap
        // is dropped by sequence number.
        let rx = hub.subscribe();
        let recent = hub.recent(clamp(n.0, 100));
        let last = recent.last().map(|l| l.seq);
        let live = tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(move |r| {
            // A slow client that lagged behind skips what it missed; `seq` shows the gap.
            let line = r.ok().filter(|l| last.is_none_or(|s| l.seq > s));
            std::future::ready(line.map(LogEntry::from))
        });
        let stream = futures_util::stream::iter(recent.into_iter().map(LogEntry::from))
            .chain(live)
            .boxed();
        Ok(StreamLogsResponse::Ok(
            EventStream::new(stream)
                .keep_alive(Duration::from_secs(15))
                .to_event(|e| {
                    let data = e.to_json_string();
                    Event::message(data).event_type("log").id(e.seq.to_string())
                }),
        ))
    }
}
