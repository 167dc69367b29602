//! The management API (poem-openapi) under `/api/v1`. Its spec is generated from this code and
//! checked in as `openapi/management.json`; a test fails when the file is stale.
//!
//! One file per resource; each operation has its own response enum, and every error body is
//! [`error::ApiError`]. Every operation except `POST /api/v1/session` requires [`auth::PanelAuth`].
pub mod auth;
pub mod credentials;
pub mod error;
mod limit;
mod logs;
mod oauth;
mod session;
mod settings;
mod system;
mod usage;

use poem::{Endpoint, EndpointExt};
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
    /// Recent and live log lines.
    Logs,
}

type Apis = (
    session::SessionApi,
    system::SystemApi,
    settings::SettingsApi,
    (
        credentials::CredentialsApi,
        credentials::TransferApi,
        credentials::KeysApi,
    ),
    oauth::OAuthApi,
    usage::UsageApi,
    logs::LogsApi,
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
            ),
            oauth::OAuthApi,
            usage::UsageApi,
            logs::LogsApi,
        ),
        "gcli2api management API",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Manage a gcli2api gateway: settings, passwords, the credential pool, Google sign-in, \
         usage and logs. Authenticate with `Authorization: Bearer <panel password>` or with a \
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

/// The API, to be nested at `/api`: auth state, body limits and JSON errors included.
pub fn routes(state: AppState) -> impl Endpoint {
    service()
        .around(|ep, req| async move { Ok(error::normalize(limit::call(&ep, req).await).await) })
        .data(auth::AuthContext::new())
        .data(state)
}
