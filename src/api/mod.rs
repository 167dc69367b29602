//! The management API (poem-openapi). Its spec is generated from this code and checked in as
//! `openapi/management.json`; a test fails when the file is stale.
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, OpenApiService};

pub struct SystemApi;

#[derive(Object)]
struct SystemInfo {
    /// gcli2api version.
    version: String,
}

#[OpenApi(prefix_path = "/api/v1")]
impl SystemApi {
    /// Version of this gateway.
    #[oai(path = "/system/info", method = "get")]
    async fn info(&self) -> Json<SystemInfo> {
        Json(SystemInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
        })
    }
}

pub fn service() -> OpenApiService<SystemApi, ()> {
    OpenApiService::new(
        SystemApi,
        "gcli2api management API",
        env!("CARGO_PKG_VERSION"),
    )
}

/// The spec as checked in under `openapi/management.json`.
pub fn spec_json() -> String {
    service().spec()
}
