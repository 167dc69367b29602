//! The credential pool: list, inspect, switch on and off, clear bans, identify, delete.
//! Import and export live in `transfer.rs`.
mod bulk;
mod keys;
mod transfer;

pub use self::bulk::BulkApi;
pub use self::keys::KeysApi;

pub use self::transfer::{MAX_IMPORT_BYTES, MAX_IMPORT_FILES, content_disposition};

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

pub use self::transfer::TransferApi;
use super::ApiTags;
use super::auth::PanelAuth;
use super::error::{ApiError, ErrorCode, Failure};
use crate::pool::CredId;
use crate::pool::view::{Credential, KindView};
use crate::state::AppState;

pub struct CredentialsApi;

#[derive(ApiResponse)]
enum ListCredentialsResponse {
    #[oai(status = 200)]
    Ok(Json<Vec<Credential>>),
}

#[derive(ApiResponse)]
enum GetCredentialResponse {
    #[oai(status = 200)]
    Ok(Json<Box<Credential>>),
    #[oai(status = 404)]
    NotFound(Json<ApiError>),
}

#[derive(ApiResponse)]
enum CredentialActionResponse {
    /// Done; the credential as it is now.
    #[oai(status = 200)]
    Ok(Json<Box<Credential>>),
    #[oai(status = 404)]
    NotFound(Json<ApiError>),
}

#[derive(ApiResponse)]
enum IdentifyCredentialResponse {
    /// Project and e-mail learned; the credential as it is now.
    #[oai(status = 200)]
    Ok(Json<Box<Credential>>),
    #[oai(status = 404)]
    NotFound(Json<ApiError>),
    /// Google refused the token refresh or project discovery; `message` has its words.
    #[oai(status = 502)]
    Upstream(Json<ApiError>),
}

/// The quota group to set.
#[derive(Object)]
struct QuotaGroupBody {
    /// The Google project the credential's quota belongs to (any label of letters, digits,
    /// '.', '-', '_', ':'; at most 100). Null or empty: the credential is a group of its own.
    group: Option<String>,
}

#[derive(ApiResponse)]
enum SetQuotaGroupResponse {
    /// Done; the credential as it is now.
    #[oai(status = 200)]
    Ok(Json<Box<Credential>>),
    #[oai(status = 404)]
    NotFound(Json<ApiError>),
    /// The label is not valid.
    #[oai(status = 422)]
    Invalid(Json<ApiError>),
}

#[derive(ApiResponse)]
enum DeleteCredentialResponse {
    #[oai(status = 204)]
    Deleted,
    #[oai(status = 404)]
    NotFound(Json<ApiError>),
}

pub(super) fn not_found(id: CredId) -> Json<ApiError> {
    Json(
        ApiError::new(ErrorCode::NotFound, format!("credential {id} not found"))
            .with_target(id.to_string()),
    )
}

/// The API view of one credential, or `None` when it does not exist.
pub(super) async fn load(state: &AppState, id: CredId) -> Result<Option<Box<Credential>>, Failure> {
    let view = state
        .pool
        .view(id, &state.usage)
        .await
        .map_err(|e| Failure::internal("cannot read the credential", &e))?;
    Ok(view.map(Box::new))
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Credentials")]
impl CredentialsApi {
    /// Every credential with its health, counters and today's quota, optionally only those of
    /// one kind. No secrets.
    #[oai(
        path = "/credentials",
        method = "get",
        operation_id = "list_credentials"
    )]
    async fn list(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        /// Only credentials of this kind.
        kind: Query<Option<KindView>>,
    ) -> Result<ListCredentialsResponse, Failure> {
        let out = state
            .pool
            .views(
                &state.usage,
                kind.0.map(crate::google::kind::CredentialKind::from),
            )
            .await
            .map_err(|e| Failure::internal("cannot list credentials", &e))?;
        Ok(ListCredentialsResponse::Ok(Json(out)))
    }

    /// One credential. No secrets: use the export operation for the credential file.
    #[oai(
        path = "/credentials/:id",
        method = "get",
        operation_id = "get_credential"
    )]
    async fn get(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        id: Path<CredId>,
    ) -> Result<GetCredentialResponse, Failure> {
        Ok(match load(&state, id.0).await? {
            Some(c) => GetCredentialResponse::Ok(Json(c)),
            None => GetCredentialResponse::NotFound(not_found(id.0)),
        })
    }

    /// Let the rotation use this credential again (a ban stays until `unban`).
    #[oai(
        path = "/credentials/:id/enable",
        method = "post",
        operation_id = "enable_credential"
    )]
    async fn enable(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        id: Path<CredId>,
    ) -> Result<CredentialActionResponse, Failure> {
        set_enabled(&state, id.0, true).await
    }

    /// Keep the rotation off this credential until it is enabled again.
    #[oai(
        path = "/credentials/:id/disable",
        method = "post",
        operation_id = "disable_credential"
    )]
    async fn disable(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        id: Path<CredId>,
    ) -> Result<CredentialActionResponse, Failure> {
        set_enabled(&state, id.0, false).await
    }

    /// Lift a ban and clear the error history and cooldowns.
    #[oai(
        path = "/credentials/:id/unban",
        method = "post",
        operation_id = "unban_credential"
    )]
    async fn unban(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        id: Path<CredId>,
    ) -> Result<CredentialActionResponse, Failure> {
        let found = state
            .pool
            .clear_errors_and_unban(id.0)
            .await
            .map_err(|e| Failure::internal("cannot save the credential", &e))?;
        action_result(&state, id.0, found).await
    }

    /// Learn the account's Code Assist project and e-mail from Google.
    #[oai(
        path = "/credentials/:id/identify",
        method = "post",
        operation_id = "identify_credential"
    )]
    async fn identify(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        id: Path<CredId>,
    ) -> Result<IdentifyCredentialResponse, Failure> {
        if state.pool.state(id.0).is_none() {
            return Ok(IdentifyCredentialResponse::NotFound(not_found(id.0)));
        }
        if let Err(e) = state.pool.identify(id.0).await {
            return Ok(IdentifyCredentialResponse::Upstream(Json(
                ApiError::new(
                    ErrorCode::Upstream,
                    crate::logs::redact(&e.to_string()).into_owned(),
                )
                .with_target(id.0.to_string()),
            )));
        }
        Ok(match load(&state, id.0).await? {
            Some(c) => IdentifyCredentialResponse::Ok(Json(c)),
            None => IdentifyCredentialResponse::NotFound(not_found(id.0)),
        })
    }

    /// Name the Google project this credential's quota belongs to. Google counts quota per
    /// project, not per key: credentials of one group share cooldowns and daily exhaustion.
    #[oai(
        path = "/credentials/:id/quota-group",
        method = "put",
        operation_id = "set_credential_quota_group"
    )]
    async fn set_quota_group(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        id: Path<CredId>,
        body: Json<QuotaGroupBody>,
    ) -> Result<SetQuotaGroupResponse, Failure> {
        let group = match crate::pool::admin::parse_quota_group(
            body.0.group.as_deref().unwrap_or_default(),
        ) {
            Ok(g) => g,
            Err(e) => {
                return Ok(SetQuotaGroupResponse::Invalid(Json(
                    ApiError::new(ErrorCode::Invalid, e.to_string()).with_target("group"),
                )));
            }
        };
        let found = state
            .pool
            .set_quota_group(id.0, group)
            .await
            .map_err(|e| Failure::internal("cannot save the credential", &e))?;
        if !found {
            return Ok(SetQuotaGroupResponse::NotFound(not_found(id.0)));
        }
        Ok(match load(&state, id.0).await? {
            Some(c) => SetQuotaGroupResponse::Ok(Json(c)),
            None => SetQuotaGroupResponse::NotFound(not_found(id.0)),
        })
    }

    /// Remove the credential and its state for good.
    #[oai(
        path = "/credentials/:id",
        method = "delete",
        operation_id = "delete_credential"
    )]
    async fn delete(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        id: Path<CredId>,
    ) -> Result<DeleteCredentialResponse, Failure> {
        let gone = state
            .pool
            .delete(id.0)
            .await
            .map_err(|e| Failure::internal("cannot delete the credential", &e))?;
        Ok(if gone {
            tracing::info!(credential = id.0, "credential deleted through the API");
            DeleteCredentialResponse::Deleted
        } else {
            DeleteCredentialResponse::NotFound(not_found(id.0))
        })
    }
}

async fn set_enabled(
    state: &AppState,
    id: CredId,
    enabled: bool,
) -> Result<CredentialActionResponse, Failure> {
    let found = state
        .pool
        .set_enabled(id, enabled)
        .await
        .map_err(|e| Failure::internal("cannot save the credential", &e))?;
    action_result(state, id, found).await
}

async fn action_result(
    state: &AppState,
    id: CredId,
    found: bool,
) -> Result<CredentialActionResponse, Failure> {
    if !found {
        return Ok(CredentialActionResponse::NotFound(not_found(id)));
    }
    Ok(match load(state, id).await? {
        Some(c) => CredentialActionResponse::Ok(Json(c)),
        None => CredentialActionResponse::NotFound(not_found(id)),
    })
}
