//! "Sign in with Google": start a sign-in (state + PKCE), open Google's page, then either the
//! browser lands on our `/oauth2callback` by itself, or the user pastes the address it ended on.
use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Form};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;

use super::Nav;
use super::web::{PanelError, Toast, html, trigger};
use crate::onboarding::login::{LoginError, LoginResult};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "panel/oauth.html")]
struct OAuthPage;

#[derive(Template)]
#[template(path = "panel/partials/oauth_started.html")]
struct Started {
    auth_url: String,
    redirect_uri: String,
}

#[derive(Template)]
#[template(path = "panel/partials/oauth_result.html")]
struct Finished {
    result: Option<LoginResult>,
    error: Option<String>,
}

#[handler]
pub fn page(req: &Request) -> Result<Response, PanelError> {
    super::web::page(
        req,
        super::i18n::Tr::current().nav_oauth(),
        Nav::OAuth,
        &OAuthPage,
    )
}

#[derive(Deserialize)]
pub struct StartForm {
    #[serde(default)]
    project_id: String,
}

#[handler]
pub fn start(state: Data<&AppState>, Form(form): Form<StartForm>) -> Result<Response, PanelError> {
    let project = form.project_id.trim();
    if project.len() > 128 {
        return Err(PanelError::BadRequest("project id is too long".into()));
    }
    // Google accepts only loopback redirects for Gemini CLI's client (as the API does).
    let redirect_uri = format!(
        "http://localhost:{}/oauth2callback",
        state.settings.get().port
    );
    let started = state.login.start(&redirect_uri, Some(project.to_string()));
    if !url::Url::parse(&started.auth_url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
        return Err(PanelError::BadRequest(
            "OAUTH_AUTH_URL is not an http(s) address".into(),
        ));
    }
    Ok(html(
        Started {
            auth_url: started.auth_url,
            redirect_uri,
        }
        .render()?,
    ))
}

#[derive(Deserialize)]
pub struct CompleteForm {
    callback_url: String,
}

#[handler]
pub async fn complete(
    state: Data<&AppState>,
    Form(form): Form<CompleteForm>,
) -> Result<Response, PanelError> {
    if form.callback_url.len() > 8192 {
        return Err(PanelError::BadRequest("that address is too long".into()));
    }
    match state.login.complete_url(form.callback_url.trim()).await {
        Ok(r) => {
            let toast = Toast::ok(format!("Credential {} added", r.name));
            let body = Finished {
                result: Some(r),
                error: None,
            }
            .render()?;
            Ok(trigger(html(body), Some(toast), &["rows-changed"]))
        }
        Err(LoginError::Store(e)) => Err(PanelError::internal("cannot save", e)),
        Err(e) => {
            let msg = crate::logs::redact(&e.to_string()).into_owned();
            let body = Finished {
                result: None,
                error: Some(msg),
            }
            .render()?;
            Ok(html(body)
                .with_status(StatusCode::UNPROCESSABLE_ENTITY)
                .into_response())
        }
    }
}
