//! The web panel under `/panel`: server-rendered askama pages with HTMX fragments, and the live
//! log over SSE. Handlers call the same services as the management API (`AppState`) and reuse
//! its views; every value is escaped by the templates, and no page ever carries a secret.
//!
//! A handler answers a whole document for a browser navigation and only the swapped fragment
//! for an HTMX request (`HX-Request`; `HX-Target` picks the fragment).
mod assets;
pub use assets::favicon;
pub use oauth::callback as oauth_callback;
mod audit;
mod charts;
mod credentials;
pub mod i18n;
mod keys;
mod logs;
mod oauth;
mod overview;
mod requests;
mod session;
mod setting_texts;
mod settings;
mod usage;
mod web;

use poem::http::{StatusCode, header};
use poem::{Endpoint, EndpointExt, Response, Route, get, handler, post};

use crate::api::auth::AuthContext;
use crate::state::AppState;

/// Per-process panel state: its own session keys and sign-in lockout (the API's mechanism).
#[derive(Clone)]
pub struct PanelContext {
    auth: AuthContext,
}

/// The section a page belongs to, for the navigation's active item.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Nav {
    Overview,
    Credentials,
    OAuth,
    Settings,
    Usage,
    Logs,
    Audit,
    Keys,
    Requests,
    Charts,
}

fn protect<E: Endpoint + 'static>(ep: E) -> impl Endpoint {
    ep.around(session::require_session)
}

/// The panel, to be nested at `/panel`.
pub fn routes(state: AppState) -> impl Endpoint {
    Route::new()
        .at("/login", get(session::login_form).post(session::login))
        .at("/assets/:name", get(assets::serve))
        .at("/prefs", post(i18n::save_prefs))
        .at("/logout", protect(post(session::logout)))
        .at("/", protect(get(overview::page)))
        .at("/credentials", protect(get(credentials::list)))
        .at("/credentials/upload", protect(post(credentials::upload)))
        .at("/credentials/keys", protect(post(credentials::paste_keys)))
        .at("/credentials/bulk", protect(post(credentials::bulk)))
        .at(
            "/credentials/export-selected",
            protect(post(credentials::export_selected)),
        )
        .at(
            "/credentials/export.zip",
            protect(get(credentials::export_all)),
        )
        .at(
            "/credentials/:id/export",
            protect(get(credentials::export_one)),
        )
        .at(
            "/credentials/:id/quota-group",
            protect(post(credentials::set_group)),
        )
        .at(
            "/credentials/:id/:action",
            protect(post(credentials::action)),
        )
        .at("/oauth", protect(get(oauth::page)))
        .at("/oauth/start", protect(post(oauth::start)))
        .at("/oauth/complete", protect(post(oauth::complete)))
        .at("/oauth/poll", protect(get(oauth::poll)))
        .at(
            "/settings",
            protect(get(settings::page).post(settings::save)),
        )
        .at("/settings/password", protect(post(settings::password)))
        .at("/usage", protect(get(usage::page)))
        .at("/keys", protect(get(keys::page).post(keys::create)))
        .at(
            "/keys/:id/edit",
            protect(get(keys::edit_form).post(keys::edit)),
        )
        .at("/keys/:id/:action", protect(post(keys::action)))
        .at("/charts", protect(get(charts::page::page)))
        .at("/requests", protect(get(requests::list)))
        .at("/requests.csv", protect(get(requests::csv)))
        .at("/requests/:id", protect(get(requests::detail)))
        .at("/logs", protect(get(logs::page)))
        .at("/audit", protect(get(audit::page)))
        .at("/logs/stream", protect(get(logs::stream)))
        .around(web::guard)
        .data(PanelContext {
            auth: AuthContext::new(),
        })
        .data(state)
}

/// `GET /` and `GET /auth` (the original project's panel address) lead to the panel.
#[handler]
pub fn to_panel() -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, "/panel")
        .finish()
}
