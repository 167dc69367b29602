//! The request log: recent proxied requests with filters, one request in full, and CSV.
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::auth::PanelAuth;
use super::error::{ApiError, ErrorCode, Failure};
use crate::reqlog::{Filter, Row, StatusFilter};
use crate::state::AppState;

pub struct RequestLogApi;

const DEFAULT_LIMIT: u32 = 50;
/// Rows in one CSV download at most.
pub const CSV_MAX_ROWS: u32 = 100_000;

/// One proxied request.
#[derive(Object)]
struct RequestView {
    id: i64,
    /// When the request ended.
    at: DateTime<Utc>,
    /// `openai`, `gemini`, `anthropic` or `responses`.
    surface: String,
    stream: bool,
    /// The model the client asked for.
    client_model: String,
    /// The model sent upstream.
    served_model: String,
    /// Absent when no credential served the request.
    credential_id: Option<i64>,
    /// The credential's display name now; absent when none served it or it was deleted.
    credential: Option<String>,
    /// The HTTP status the client got.
    status: u16,
    /// `success`, `upstream_<code>`, `client_<code>` or `transport`.
    outcome: String,
    latency_ms: u64,
    /// Time to the first streamed byte (streams only).
    ttfb_ms: Option<u64>,
    /// Upstream calls made (0 when none was made).
    attempts: u32,
    prompt_tokens: u64,
    completion_tokens: u64,
    reasoning_tokens: u64,
    /// The client's address.
    client: String,
    /// Why it failed (the upstream's or the gateway's words), bounded; never a secret.
    error: Option<String>,
    /// The start of the prompt text; only stored while REQUEST_LOG_PROMPTS is on.
    prompt_excerpt: Option<String>,
}

impl From<Row> for RequestView {
    fn from(r: Row) -> Self {
        let e = r.entry;
        Self {
            id: r.id,
            at: e.at,
            surface: e.surface.to_string(),
            stream: e.stream,
            client_model: e.client_model,
            served_model: e.served_model,
            credential_id: e.credential_id,
            credential: r.credential_name,
            status: e.status,
            outcome: e.outcome.key(),
            latency_ms: e.latency_ms,
            ttfb_ms: e.ttfb_ms,
            attempts: e.attempts,
            prompt_tokens: e.prompt_tokens,
            completion_tokens: e.completion_tokens,
            reasoning_tokens: e.reasoning_tokens,
            client: e.client,
            error: e.error,
            prompt_excerpt: e.prompt_excerpt,
        }
    }
}

/// Excerpts stored while REQUEST_LOG_PROMPTS was on are not shown once it is off (and the next
/// retention pass erases them).
fn view(mut r: Row, prompts: bool) -> RequestView {
    if !prompts {
        r.entry.prompt_excerpt = None;
    }
    r.into()
}

#[derive(Object)]
struct RequestPage {
    /// Newest first.
    requests: Vec<RequestView>,
    /// Requests matching the filters, over all pages.
    total: u64,
    limit: u32,
    offset: u32,
}

#[derive(ApiResponse)]
enum ListRequestsResponse {
    #[oai(status = 200)]
    Ok(Json<RequestPage>),
}

#[derive(ApiResponse)]
enum GetRequestResponse {
    #[oai(status = 200)]
    Ok(Json<Box<RequestView>>),
    #[oai(status = 404)]
    NotFound(Json<ApiError>),
}

#[derive(ApiResponse)]
enum ExportRequestsResponse {
    /// The matching requests as CSV (RFC 4180), newest first, at most 100,000 rows.
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Ok(
        Binary<Vec<u8>>,
        #[oai(header = "content-disposition")] String,
        #[oai(header = "cache-control")] String,
    ),
}

/// The query filters shared by the list and the export (and the panel page).
#[allow(clippy::too_many_arguments)]
pub fn filter(
    status: Option<&str>,
    model: Option<String>,
    credential_id: Option<i64>,
    surface: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: u32,
    offset: u32,
) -> Filter {
    Filter {
        status: status.and_then(StatusFilter::parse),
        model: model.filter(|m| !m.trim().is_empty()),
        credential_id,
        surface: surface.filter(|s| !s.is_empty()),
        from,
        to,
        limit,
        offset,
    }
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Requests")]
impl RequestLogApi {
    /// Recent proxied requests, newest first, with optional filters (kept per
    /// REQUEST_LOG_DAYS and REQUEST_LOG_MAX_ROWS; rows appear within about a second).
    #[oai(path = "/requests", method = "get", operation_id = "list_requests")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        /// An exact status (`429`), a class (`4xx`, `5xx`) or `error` (400 and up).
        #[oai(validator(pattern = r"^([1-5][0-9][0-9]|[1-5]xx|error)$"))]
        status: Query<Option<String>>,
        /// The client's or the served model name, exactly.
        #[oai(validator(max_length = 200))]
        model: Query<Option<String>>,
        /// A credential id; 0 for requests no credential served.
        credential_id: Query<Option<i64>>,
        /// `openai`, `gemini`, `anthropic` or `responses`.
        #[oai(validator(pattern = r"^(openai|gemini|anthropic|responses)$"))]
        surface: Query<Option<String>>,
        /// Only requests at or after this time.
        from: Query<Option<DateTime<Utc>>>,
        /// Only requests before this time.
        to: Query<Option<DateTime<Utc>>>,
        /// At most this many rows (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<Option<u32>>,
        /// Rows to skip (paging).
        #[oai(validator(maximum(value = "10000000")))]
        offset: Query<Option<u32>>,
    ) -> Result<ListRequestsResponse, Failure> {
        let limit = limit.0.unwrap_or(DEFAULT_LIMIT);
        let offset = offset.0.unwrap_or(0);
        let f = filter(
            status.0.as_deref(),
            model.0,
            credential_id.0,
            surface.0,
            from.0,
            to.0,
            limit,
            offset,
        );
        let page = state
            .reqlog
            .list(f)
            .await
            .map_err(|e| Failure::internal("cannot read the request log", &e))?;
        let prompts = state.reqlog.prompts();
        Ok(ListRequestsResponse::Ok(Json(RequestPage {
            requests: page.rows.into_iter().map(|r| view(r, prompts)).collect(),
            total: page.total,
            limit,
            offset,
        })))
    }

    /// The matching requests as a CSV file, with the same filters as the list.
    #[oai(
        path = "/requests/export",
        method = "get",
        operation_id = "export_requests"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn export(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        /// An exact status (`429`), a class (`4xx`, `5xx`) or `error` (400 and up).
        #[oai(validator(pattern = r"^([1-5][0-9][0-9]|[1-5]xx|error)$"))]
        status: Query<Option<String>>,
        /// The client's or the served model name, exactly.
        #[oai(validator(max_length = 200))]
        model: Query<Option<String>>,
        /// A credential id; 0 for requests no credential served.
        credential_id: Query<Option<i64>>,
        /// `openai`, `gemini`, `anthropic` or `responses`.
        #[oai(validator(pattern = r"^(openai|gemini|anthropic|responses)$"))]
        surface: Query<Option<String>>,
        /// Only requests at or after this time.
        from: Query<Option<DateTime<Utc>>>,
        /// Only requests before this time.
        to: Query<Option<DateTime<Utc>>>,
    ) -> Result<ExportRequestsResponse, Failure> {
        let csv = export_csv(
            &state,
            filter(
                status.0.as_deref(),
                model.0,
                credential_id.0,
                surface.0,
                from.0,
                to.0,
                CSV_MAX_ROWS,
                0,
            ),
        )
        .await
        .map_err(|e| Failure::internal("cannot read the request log", &e))?;
        Ok(ExportRequestsResponse::Ok(
            Binary(csv.into_bytes()),
            "attachment; filename=\"requests.csv\"".into(),
            "no-store".into(),
        ))
    }

    /// One request in full, with its error reason.
    #[oai(path = "/requests/:id", method = "get", operation_id = "get_request")]
    async fn get(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        id: Path<i64>,
    ) -> Result<GetRequestResponse, Failure> {
        match state.reqlog.get(id.0).await {
            Ok(Some(r)) => Ok(GetRequestResponse::Ok(Json(Box::new(view(
                r,
                state.reqlog.prompts(),
            ))))),
            Ok(None) => Ok(GetRequestResponse::NotFound(ApiError::json(
                ErrorCode::NotFound,
                format!("request {} not found (it may have been purged)", id.0),
            ))),
            Err(e) => Err(Failure::internal("cannot read the request log", &e)),
        }
    }
}

/// The CSV for a filter (shared with the panel's download link). Prompt excerpts are included
/// only while REQUEST_LOG_PROMPTS is on.
pub async fn export_csv(state: &AppState, f: Filter) -> Result<String, crate::store::StoreError> {
    let page = state.reqlog.list(f).await?;
    Ok(crate::reqlog::to_csv(&page.rows, state.reqlog.prompts()))
}
