//! What the gateway is and how busy it is.
use poem::Body;
use poem::web::Data;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::auth::{AuthContext, PanelAuth};
use super::error::{ApiError, ErrorCode, Failure};
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
    /// Usable now: enabled, not banned and not cooling down. Each credential is counted in
    /// exactly one of active, cooling, disabled, banned and needs_sign_in.
    active: u64,
    disabled: u64,
    banned: u64,
    /// Enabled and not banned, but cooling down for at least one model.
    cooling: u64,
    /// The refresh token was revoked or missing: waiting for a new OAuth sign-in.
    needs_sign_in: u64,
    /// Upstream calls running right now.
    in_flight: u64,
}

#[derive(ApiResponse)]
enum GetSystemInfoResponse {
    #[oai(status = 200)]
    Ok(Json<SystemInfo>),
}

#[derive(ApiResponse)]
enum DownloadBackupResponse {
    /// A consistent copy of the whole database (SQLite), taken while serving. It holds the
    /// credentials with their refresh tokens and the password hashes: keep it safe. To restore,
    /// stop the gateway and put the file in place of `DATA_DIR/gcli2api.db`.
    #[oai(status = 200, content_type = "application/vnd.sqlite3")]
    Ok(
        Binary<Body>,
        #[oai(header = "content-disposition")] String,
        #[oai(header = "cache-control")] String,
    ),
    /// The store is a shared PostgreSQL database: back it up with `pg_dump`.
    #[oai(status = 503)]
    Unavailable(Json<ApiError>),
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
                needs_sign_in: s.needs_sign_in as u64,
                in_flight: s.in_flight,
            },
        })))
    }

    /// Download a backup of the database, taken without stopping the gateway.
    #[oai(
        path = "/system/backup",
        method = "get",
        operation_id = "download_backup"
    )]
    async fn backup(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
    ) -> Result<DownloadBackupResponse, Failure> {
        if state.store.is_postgres() {
            return Ok(DownloadBackupResponse::Unavailable(ApiError::json(
                ErrorCode::Unavailable,
                "this gateway stores its data in PostgreSQL: back the database up with pg_dump \
                 (this download copies the SQLite file only)",
            )));
        }
        let file = crate::store::backup::snapshot_for_download(&state.store)
            .await
            .map_err(|e| Failure::internal("cannot back up the database", &e))?;
        let name = format!("gcli2api-{}.db", chrono::Utc::now().format("%Y%m%d-%H%M%S"));
        tracing::info!("database backup downloaded through the API");
        crate::security::audit::record(
            &state.store,
            "database.backup",
            None,
            serde_json::json!({}),
        )
        .await;
        Ok(DownloadBackupResponse::Ok(
            Binary(Body::from_async_read(file)),
            super::credentials::content_disposition(&name),
            "no-store".into(),
        ))
    }
}
