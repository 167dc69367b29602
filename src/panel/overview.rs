//! The landing page: pool health at a glance and the addresses clients should use.
use askama::Template;
use poem::web::Data;
use poem::{Request, Response, handler};

use super::Nav;
use super::web::PanelError;
use crate::pool::PoolSummary;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "panel/overview.html")]
struct Overview {
    summary: PoolSummary,
    openai: String,
    gemini: String,
    anthropic: String,
    version: &'static str,
}

/// This instance's address as the browser sees it (a reverse proxy sets the scheme).
pub(super) fn origin(req: &Request) -> String {
    let h = req.headers();
    let host = h
        .get(poem::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = match h.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

#[handler]
pub async fn page(req: &Request, state: Data<&AppState>) -> Result<Response, PanelError> {
    let base = origin(req);
    let view = Overview {
        summary: state.pool.summary(),
        openai: format!("{base}/v1"),
        gemini: format!("{base}/v1beta"),
        anthropic: format!("{base}/v1/messages"),
        version: env!("CARGO_PKG_VERSION"),
    };
    super::web::page(
        req,
        super::i18n::Tr::current().nav_overview(),
        Nav::Overview,
        &view,
    )
}
