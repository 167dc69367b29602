//! The audit log: every management change and sign-in, who made it, when and from where.
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::auth::PanelAuth;
use super::error::Failure;
use crate::state::AppState;
use crate::store::audit::{AuditEvent, Filter};

pub struct AuditApi;

const DEFAULT_LIMIT: u32 = 100;

#[derive(Object)]
struct AuditEventView {
    id: i64,
    at: chrono::DateTime<chrono::Utc>,
    /// What happened, e.g. `credential.disable`, `settings.update`, `password.set`, `signin`,
    /// `signin.failed`.
    action: String,
    /// `panel-session:<id>`, `api-session:<id>`, `api-password`, `anonymous` (a failed
    /// sign-in), `system`, or `cli` (`gcli2api backup`, with origin `cli`).
    actor: String,
    /// The client address the change came from.
    origin: Option<String>,
    /// What it was done to (a credential id, a password kind).
    subject: Option<String>,
    /// Further facts (setting names, a credential's name); never a secret.
    detail: serde_json::Value,
}

#[derive(Object)]
struct AuditPage {
    /// Newest first.
    events: Vec<AuditEventView>,
    /// Pass as `before_id` for the next (older) page; absent on the last page.
    next_before_id: Option<i64>,
}

#[derive(ApiResponse)]
enum ListAuditResponse {
    #[oai(status = 200)]
    Ok(Json<AuditPage>),
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id,
            at: chrono::DateTime::from_timestamp_millis(e.at).unwrap_or_default(),
            action: e.kind,
            actor: e.actor,
            origin: e.origin,
            subject: e.subject,
            detail: e.detail,
        }
    }
}

/// Read a page of the audit log (shared with the panel page).
pub async fn page(
    state: &AppState,
    filter: Filter,
) -> Result<(Vec<AuditEvent>, Option<i64>), crate::store::StoreError> {
    let limit = filter.limit;
    let events = state
        .store
        .run(move |db| crate::store::audit::list(db, &filter))
        .await?;
    let next = (events.len() as u32 == limit)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    Ok((events, next))
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Audit")]
impl AuditApi {
    /// The audit log, newest first, with optional filters. Nothing is ever purged from it.
    #[oai(path = "/audit", method = "get", operation_id = "list_audit_events")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        /// Only events at or after this time.
        from: Query<Option<chrono::DateTime<chrono::Utc>>>,
        /// Only events before this time.
        to: Query<Option<chrono::DateTime<chrono::Utc>>>,
        /// An exact action (`credential.disable`) or a family ending in `.` (`credential.`).
        #[oai(validator(max_length = 100))]
        action: Query<Option<String>>,
        /// An exact actor, as shown in an event.
        #[oai(validator(max_length = 100))]
        actor: Query<Option<String>>,
        /// Only events older than this id (paging).
        #[oai(validator(minimum(value = "1")))]
        before_id: Query<Option<i64>>,
        /// At most this many events (default 100).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<Option<u32>>,
    ) -> Result<ListAuditResponse, Failure> {
        let filter = Filter {
            from: from.0.map(|t| t.timestamp_millis()),
            to: to.0.map(|t| t.timestamp_millis()),
            action: action.0.filter(|s| !s.is_empty()),
            actor: actor.0.filter(|s| !s.is_empty()),
            before_id: before_id.0,
            limit: limit.0.unwrap_or(DEFAULT_LIMIT),
        };
        let (events, next_before_id) = page(&state, filter)
            .await
            .map_err(|e| Failure::internal("cannot read the audit log", &e))?;
        Ok(ListAuditResponse::Ok(Json(AuditPage {
            events: events.into_iter().map(Into::into).collect(),
            next_before_id,
        })))
    }
}
