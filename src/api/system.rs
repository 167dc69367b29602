//! What the gateway is and how busy it is.
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::auth::{AuthContext, PanelAuth};
use super::error::Failure;
use crate::state::AppState;

pub struct SystemApi;

#[derive(Object)]
struct SystemInfo {
    /// gcli2api version.
    version: String,
    /// When this process started serving.
    started_at: chrono::DateTime<chrono::Utc>,
    uptime_seconds: u64,
    pool: PoolSummaryView,
}

#[derive(Object)]
struct PoolSummaryView {
    total: u64,
    /// Enabled and not banned.
    active: u64,
    disabled: u64,
    banned: u64,
    /// Active credentials cooling down for at least one model.
    cooling: u64,
    /// Upstream calls running right now.
    in_flight: u64,
}

#[derive(ApiResponse)]
enum GetSystemInfoResponse {
    #[oai(status = 200)]
    Ok(Json<SystemInfo>),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::System")]
impl SystemApi {
    /// Version, uptime and a summary of the credential pool.
    #[oai(
        path = "/system/info",
        method = "get",
        operation_id = "get_system_info"
    )]
    async fn info(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        auth: Data<&AuthContext>,
    ) -> Result<GetSystemInfoResponse, Failure> {
        let s = state.pool.summary();
        let (started, started_at) = auth.started();
        Ok(GetSystemInfoResponse::Ok(Json(SystemInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at,
            uptime_seconds: started.elapsed().as_secs(),
            pool: PoolSummaryView {
                total: s.total as u64,
                active: s.active as u64,
                disabled: s.disabled as u64,
                banned: s.banned as u64,
                cooling: s.cooling as u64,
                in_flight: s.in_flight,
            },
        })))
    }
}
