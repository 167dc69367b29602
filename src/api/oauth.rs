//! Adding a credential by signing in with Google.
//!
//! `start` returns Google's consent address. Google only accepts loopback redirect addresses
//! for Gemini CLI's client, so either the browser runs on this machine and lands on our
//! `/oauth2callback` (which finishes by itself), or the user copies the address the browser
//! ended on (an error page on localhost) and sends it to `complete`.
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::auth::PanelAuth;
use super::error::{ApiError, ErrorCode, Failure};
use crate::onboarding::login::LoginError;
use crate::state::AppState;

pub struct OAuthApi;

#[derive(Object, Default)]
struct StartRequest {
    /// Use this Google Cloud project instead of the one discovery picks.
    #[oai(validator(max_length = 128))]
    project_id: Option<String>,
    /// Where Google sends the browser back; default `http://localhost:{PORT}/oauth2callback`.
    #[oai(validator(max_length = 2048))]
    redirect_uri: Option<String>,
}

#[derive(Object)]
struct StartedSignIn {
    /// Open this in a browser.
    auth_url: String,
    /// The sign-in's one-time state (it is also in `auth_url`).
    state: String,
    redirect_uri: String,
}

#[derive(Object)]
struct CompleteRequest {
    /// The whole address the browser ended on after consent.
    #[oai(validator(max_length = 8192))]
    callback_url: String,
}

#[derive(Object)]
struct SignedIn {
    id: i64,
    name: String,
    email: Option<String>,
    project_id: String,
    tier: Option<String>,
    /// The account was already in the pool: its tokens were replaced.
    replaced: bool,
}

#[derive(ApiResponse)]
enum StartOAuthResponse {
    #[oai(status = 200)]
    Ok(Json<StartedSignIn>),
    /// The redirect address is not an http(s) URL.
    #[oai(status = 422)]
    Invalid(Json<ApiError>),
}

#[derive(ApiResponse)]
enum CompleteOAuthResponse {
    /// The credential was stored.
    #[oai(status = 200)]
    Ok(Json<SignedIn>),
    /// Not a usable callback address (unknown or expired sign-in, missing code, consent
    /// refused); `message` says which, with Google's words when it sent any.
    #[oai(status = 400)]
    BadRequest(Json<ApiError>),
    /// Google refused the code exchange or project discovery; `message` has its words.
    #[oai(status = 502)]
    Upstream(Json<ApiError>),
}

fn redirect_ok(uri: &str) -> bool {
    url::Url::parse(uri)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::OAuth")]
impl OAuthApi {
    /// Start a Google sign-in (state + PKCE; valid for 10 minutes).
    #[oai(path = "/oauth/start", method = "post", operation_id = "start_oauth")]
    async fn start(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        body: Json<StartRequest>,
    ) -> Result<StartOAuthResponse, Failure> {
        let body = body.0;
        let redirect_uri = body
            .redirect_uri
            .filter(|r| !r.trim().is_empty())
            .unwrap_or_else(|| {
                format!(
                    "http://localhost:{}/oauth2callback",
                    state.settings.get().port
                )
            });
        if !redirect_ok(&redirect_uri) {
            return Ok(StartOAuthResponse::Invalid(Json(
                ApiError::new(
                    ErrorCode::Invalid,
                    "redirect_uri must be an http(s) address",
                )
                .with_target("redirect_uri"),
            )));
        }
        let started = state.login.start(&redirect_uri, body.project_id);
        Ok(StartOAuthResponse::Ok(Json(StartedSignIn {
            auth_url: started.auth_url,
            state: started.state,
            redirect_uri,
        })))
    }

    /// Finish a sign-in from the address the browser ended on.
    #[oai(
        path = "/oauth/complete",
        method = "post",
        operation_id = "complete_oauth"
    )]
    async fn complete(
        &self,
        _caller: PanelAuth,
        state: Data<&AppState>,
        body: Json<CompleteRequest>,
    ) -> Result<CompleteOAuthResponse, Failure> {
        match state.login.complete_url(body.callback_url.trim()).await {
            Ok(r) => Ok(CompleteOAuthResponse::Ok(Json(SignedIn {
                id: r.id,
                name: r.name,
                email: r.email,
                project_id: r.project_id,
                tier: r.tier,
                replaced: r.replaced,
            }))),
            Err(e) => {
                let message = crate::logs::redact(&e.to_string()).into_owned();
                Ok(match e {
                    LoginError::Flow(_) => CompleteOAuthResponse::BadRequest(ApiError::json(
                        ErrorCode::BadRequest,
                        message,
                    )),
                    LoginError::Exchange(_)
                    | LoginError::NoRefreshToken
                    | LoginError::Discovery(_) => CompleteOAuthResponse::Upstream(ApiError::json(
                        ErrorCode::Upstream,
                        message,
                    )),
                    LoginError::Store(e) => return Err(Failure::internal("cannot save", &e)),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redirect_must_be_http() {
        assert!(super::redirect_ok("http://localhost:7861/oauth2callback"));
        assert!(super::redirect_ok("https://example.test/cb"));
        assert!(!super::redirect_ok("javascript:alert(1)"));
        assert!(!super::redirect_ok("file:///etc/passwd"));
        assert!(!super::redirect_ok("not a url"));
    }
}
