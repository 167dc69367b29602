//! The management API (poem-openapi) under `/api/v1`. Its spec is generated from this code and
//! checked in as `openapi/management.json`; a test fails when the file is stale.
//!
//! One file per resource; each operation has its own response enum, and every error body is
//! [`error::ApiError`]. Every operation except `POST /api/v1/session` requires [`auth::PanelAuth`].
//! The spec itself is served at `GET /api/v1/openapi.json` and browsable at `GET /api/v1/docs`
//! (both public).
pub mod audit;
pub mod auth;
mod client_keys;
pub mod credentials;
pub mod error;
mod limit;
mod logs;
mod oauth;
pub mod requests;
mod session;
mod settings;
mod system;
mod usage;

use std::sync::OnceLock;

use poem::web::Html;
use poem::{Endpoint, EndpointExt, Response, Route, get, handler};
use poem_openapi::{OpenApiService, Tags};

use crate::state::AppState;

#[derive(Tags)]
pub enum ApiTags {
    /// Signing in and out.
    Session,
    /// Version and health.
    System,
    /// Settings and passwords.
    Settings,
    /// The credential pool.
    Credentials,
    /// Adding credentials by signing in with Google.
    #[oai(rename = "OAuth")]
    OAuth,
    /// Usage counters and daily quotas.
    Usage,
    /// API keys for proxy clients, with their own limits.
    #[oai(rename = "Client keys")]
    ClientKeys,
    /// Recent and live log lines.
    Logs,
    /// Who changed what, when and from where.
    Audit,
    /// Recent proxied requests (the request log).
    Requests,
}

type Apis = (
    session::SessionApi,
    system::SystemApi,
    settings::SettingsApi,
    (
        credentials::CredentialsApi,
        credentials::TransferApi,
        credentials::KeysApi,
        credentials::BulkApi,
    ),
    oauth::OAuthApi,
    usage::UsageApi,
    logs::LogsApi,
    audit::AuditApi,
    client_keys::ClientKeysApi,
    requests::RequestLogApi,
);

pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            session::SessionApi,
            system::SystemApi,
            settings::SettingsApi,
            (
                credentials::CredentialsApi,
                credentials::TransferApi,
                credentials::KeysApi,
                credentials::BulkApi,
            ),
            oauth::OAuthApi,
            usage::UsageApi,
            logs::LogsApi,
            audit::AuditApi,
            client_keys::ClientKeysApi,
            requests::RequestLogApi,
        ),
        "gcli2api management API",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Manage a gcli2api gateway: settings, passwords, the credential pool, Google sign-in, \
         usage, client API keys, logs, the request log and the audit log. Authenticate with `Authorization: Bearer <panel password>` or with a \
         session token from `POST /api/v1/session`. After 10 failed attempts from one address \
         within a minute, that address gets 429 for the rest of the minute. Every error body is \
         `{\"error\": {\"code\", \"message\"}}`.",
    )
    .url_prefix("/api")
}

/// The spec as checked in under `openapi/management.json`.
pub fn spec_json() -> String {
    service().spec()
}

/// The spec exactly as `gcli2api openapi` prints it (and as it is checked in), built once.
fn spec_file() -> &'static str {
    static SPEC: OnceLock<String> = OnceLock::new();
    SPEC.get_or_init(|| format!("{}\n", spec_json()))
}

/// `GET /api/v1/openapi.json`. Public: the spec holds no secret and describes only what the
/// code on GitHub already shows; generators and explorers fetch it without credentials.
#[handler]
fn openapi_json() -> Response {
    Response::builder()
        .content_type("application/json; charset=utf-8")
        .header("cache-control", "no-cache")
        .body(spec_file())
}

/// `GET /api/v1/docs`: Swagger UI with the spec inlined. poem-openapi embeds Swagger UI's
/// script and stylesheet in the page, so it works offline (RapiDoc and Redoc pull fonts from
/// Google, Scalar is 3 MB and proxies "try it" calls through scalar.com by default, Stoplight
/// loads everything from unpkg). Public like the spec; its "Authorize" button takes the panel
/// password or a session token, and every call it makes is authenticated as usual.
#[handler]
fn docs() -> Html<&'static str> {
    static PAGE: OnceLock<String> = OnceLock::new();
    Html(PAGE.get_or_init(|| service().swagger_ui_html()))
}

/// The API, to be nested at `/api`: auth state, body limits and JSON errors included, plus
/// the spec and an explorer for it.
pub fn routes(state: AppState) -> impl Endpoint {
    Route::new()
        .at("/v1/openapi.json", get(openapi_json))
        .at("/v1/docs", get(docs))
        .at("/*rest", service())
        .around(|ep, req| async move {
            // Every operation runs with its client address known to the audit log; the
            // authentication check names the actor.
            let origin = auth::client_ip(&req);
            let r = crate::security::audit::scope(origin, limit::call(&ep, req)).await;
            Ok(error::normalize(r).await)
        })
        .data(auth::AuthContext::new())
        .data(state)
}
