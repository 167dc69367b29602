//! The landing page: pool health at a glance and the addresses clients should use.
use askama::Template;
use poem::web::Data;
use poem::{Request, Response, handler};

use super::Nav;
use super::i18n::Tr;
use super::web::PanelError;
use crate::pool::PoolSummary;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "panel/overview.html")]
struct Overview {
    tr: Tr,
    summary: PoolSummary,
    clients: Vec<Client>,
    reset_at: String,
    next_reset: String,
    next_in: String,
    version: &'static str,
}

/// One client and the exact setting that points it here.
pub struct Client {
    id: &'static str,
    name: &'static str,
    setting: String,
    /// The environment variable that holds the API password (empty when the setting says it).
    key_env: &'static str,
}

/// How each client is pointed at a gateway at `base` (scheme and host, no path): Anthropic
/// clients append `/v1/messages` themselves, Gemini clients `/v1beta`, OpenAI clients want
/// the `/v1` prefix.
pub(super) fn clients(base: &str) -> Vec<Client> {
    vec![
        Client {
            id: "claude-code",
            name: "Claude Code",
            setting: format!("ANTHROPIC_BASE_URL={base}"),
            key_env: "ANTHROPIC_AUTH_TOKEN",
        },
        Client {
            id: "codex",
            name: "Codex CLI",
            setting: format!(
                "[model_providers.gateway]\nname = \"gateway\"\nbase_url = \"{base}/v1\"\nenv_key = \"GATEWAY_API_KEY\"\nwire_api = \"responses\""
            ),
            key_env: "GATEWAY_API_KEY",
        },
        Client {
            id: "gemini-cli",
            name: "Gemini CLI",
            setting: format!("GOOGLE_GEMINI_BASE_URL={base}"),
            key_env: "GEMINI_API_KEY",
        },
        Client {
            id: "openai-sdk",
            name: "OpenAI SDK",
            setting: format!("OPENAI_BASE_URL={base}/v1"),
            key_env: "OPENAI_API_KEY",
        },
        Client {
            id: "google-genai",
            name: "google-genai",
            setting: format!(
                "http_options={{\"base_url\": \"{base}\", \"api_version\": \"v1beta\"}}"
            ),
            key_env: "GEMINI_API_KEY",
        },
        Client {
            id: "anthropic-sdk",
            name: "Anthropic SDK",
            setting: format!("ANTHROPIC_BASE_URL={base}"),
            key_env: "ANTHROPIC_API_KEY",
        },
    ]
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
    let tr = Tr::current();
    let settings = state.settings.get();
    let now = chrono::Utc::now();
    let next = crate::usage::ResetRule::from_settings(&settings).next_reset(now);
    let view = Overview {
        tr,
        summary: state.pool.summary(),
        clients: clients(&base),
        reset_at: tr.time_of_day_in(settings.quota_reset_hour, 0, settings.quota_reset_timezone),
        next_reset: tr.datetime(next),
        next_in: tr.duration((next - now).num_seconds()),
        version: env!("CARGO_PKG_VERSION"),
    };
    super::web::page(
        req,
        super::i18n::Tr::current().nav_overview(),
        Nav::Overview,
        &view,
    )
}
