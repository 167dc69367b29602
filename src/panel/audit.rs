//! The audit log page: newest first, filtered by action and actor, paged by id.
use askama::Template;
use poem::web::{Data, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;

use super::Nav;
use super::i18n::Tr;
use super::web::PanelError;
use crate::state::AppState;
use crate::store::audit::Filter;

const PAGE: u32 = 100;

#[derive(Deserialize)]
pub struct AuditQuery {
    action: Option<String>,
    actor: Option<String>,
    before_id: Option<i64>,
}

struct Row {
    at: String,
    at_iso: String,
    action: String,
    actor: String,
    origin: String,
    subject: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "panel/audit.html")]
struct AuditPage {
    tr: Tr,
    action: String,
    actor: String,
    events: Vec<Row>,
    next: Option<i64>,
}

fn clean(s: Option<String>) -> String {
    s.map(|s| s.trim().chars().take(100).collect())
        .unwrap_or_default()
}

#[handler]
pub async fn page(
    req: &Request,
    state: Data<&AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, PanelError> {
    let action = clean(q.action);
    let actor = clean(q.actor);
    let filter = Filter {
        action: (!action.is_empty()).then(|| action.clone()),
        actor: (!actor.is_empty()).then(|| actor.clone()),
        before_id: q.before_id,
        limit: PAGE,
        ..Filter::default()
    };
    let (events, next) = crate::api::audit::page(&state, filter)
        .await
        .map_err(|e| PanelError::internal("cannot read the audit log", e))?;
    let tr = Tr::current();
    let events = events
        .into_iter()
        .map(|e| Row {
            at: chrono::DateTime::from_timestamp_millis(e.at)
                .map(|t| tr.datetime(t))
                .unwrap_or_default(),
            at_iso: chrono::DateTime::from_timestamp_millis(e.at)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
            action: e.kind,
            actor: e.actor,
            origin: e.origin.unwrap_or_default(),
            subject: e.subject.unwrap_or_default(),
            detail: if e.detail.as_object().is_some_and(|o| o.is_empty()) {
                String::new()
            } else {
                e.detail.to_string()
            },
        })
        .collect();
    let view = AuditPage {
        tr,
        action,
        actor,
        events,
        next,
    };
    super::web::page(
        req,
        super::i18n::Tr::current().nav_audit(),
        Nav::Audit,
        &view,
    )
}
