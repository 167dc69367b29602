//! Sign-in for the panel: trade the panel password for a session token, and sign out.
use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::auth::{AuthContext, PanelAuth, client_ip};
use super::error::{ApiError, ErrorCode, Failure, ServerFailure};
use crate::state::AppState;

pub struct SessionApi;

#[derive(Object)]
struct SessionRequest {
    /// The panel password (PANEL_PASSWORD, else PASSWORD).
    #[oai(validator(max_length = 1024))]
    password: String,
}

#[derive(Object)]
struct SessionToken {
    /// Send as `Authorization: Bearer <token>`. Invalid after a restart, after the panel
    /// password changes, after sign-out, or at `expires_at`.
    token: String,
    expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(ApiResponse)]
enum CreateSessionResponse {
    /// Signed in.
    #[oai(status = 201)]
    Created(Json<SessionToken>),
    /// Wrong password.
    #[oai(status = 401)]
    Unauthorized(Json<ApiError>),
    /// Too many failed attempts from this address.
    #[oai(status = 429)]
    TooManyAttempts(Json<ApiError>, #[oai(header = "retry-after")] u64),
}

#[derive(ApiResponse)]
enum DeleteSessionResponse {
    /// Signed out (a password bearer has no session; nothing to revoke).
    #[oai(status = 204)]
    Deleted,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Session")]
impl SessionApi {
    /// Sign in with the panel password and get a session token.
    #[oai(path = "/session", method = "post", operation_id = "create_session")]
    async fn create(
        &self,
        req: &Request,
        state: Data<&AppState>,
        auth: Data<&AuthContext>,
        body: Json<SessionRequest>,
    ) -> Result<CreateSessionResponse, ServerFailure> {
        let ip = client_ip(req);
        if !state.passwords.verify_panel(&body.password).await {
            if let Err(secs) = state.attempts.failure(ip, "api") {
                return Ok(CreateSessionResponse::TooManyAttempts(
                    ApiError::json(
                        ErrorCode::TooManyAttempts,
                        format!("too many failed attempts from this address; retry in {secs} s"),
                    ),
                    secs,
                ));
            }
            return Ok(CreateSessionResponse::Unauthorized(ApiError::json(
                ErrorCode::Unauthorized,
                "wrong panel password",
            )));
        }
        state.attempts.success(ip);
        let issued = auth
            .issue(&state)
            .await
            .map_err(|e| ServerFailure::internal("cannot issue a session", &e))?;
        tracing::info!("panel session started");
        Ok(CreateSessionResponse::Created(Json(SessionToken {
            token: issued.token,
            expires_at: issued.expires_at,
        })))
    }

    /// Sign out: the session token used for this call stops working.
    #[oai(path = "/session", method = "delete", operation_id = "delete_session")]
    async fn delete(
        &self,
        caller: PanelAuth,
        auth: Data<&AuthContext>,
    ) -> Result<DeleteSessionResponse, Failure> {
        if let Some(s) = &caller.0.session {
            auth.revoke(s);
        }
        Ok(DeleteSessionResponse::Deleted)
    }
}
