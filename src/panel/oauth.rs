//! "Sign in with Google": start a sign-in (state + PKCE), open Google's page, then either the
//! browser lands on our `/oauth2callback` by itself, or the user pastes the address it ended on.
use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Form, Query};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;

use super::Nav;
use super::i18n::Tr;
use super::web::{PanelError, Toast, html, trigger};
use crate::onboarding::login::{LoginError, LoginResult};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "panel/oauth.html")]
struct OAuthPage {
    tr: Tr,
}

#[derive(Template)]
#[template(path = "panel/partials/oauth_started.html")]
struct Started {
    tr: Tr,
    auth_url: String,
    redirect_uri: String,
    /// Sign-ins finished before this one started: the poll waits for the next.
    seen: u64,
}

#[derive(Template)]
#[template(path = "panel/partials/oauth_result.html")]
struct Finished {
    tr: Tr,
    result: Option<LoginResult>,
    error: Option<String>,
}

/// The page Google's redirect lands on (`/oauth2callback`): styled like the panel, in the
/// reader's language.
#[derive(Template)]
#[template(path = "panel/oauth_callback.html")]
struct CallbackPage<'a> {
    tr: Tr,
    css: &'a str,
    js: &'a str,
    result: Option<LoginResult>,
    error: Option<String>,
}

#[handler]
pub fn page(req: &Request) -> Result<Response, PanelError> {
    let tr = Tr::current();
    super::web::page(req, tr.nav_oauth(), Nav::OAuth, &OAuthPage { tr })
}

/// Google's redirect after sign-in. Public on purpose: the one-time `state` (with PKCE) is
/// what authorizes it, exactly as for Gemini CLI's own loopback server.
#[handler]
pub async fn callback(req: &Request, state: Data<&AppState>) -> Response {
    let tr = Tr::for_request(req, state.settings.get().panel_timezone);
    let query = req.uri().query().unwrap_or_default();
    let (result, error, status) = match state.login.complete_query(query).await {
        Ok(r) => (Some(r), None, StatusCode::OK),
        Err(e) => (
            None,
            Some(crate::logs::redact(&e.to_string()).into_owned()),
            StatusCode::BAD_REQUEST,
        ),
    };
    let urls = super::assets::urls();
    let view = CallbackPage {
        tr,
        css: &urls.css,
        js: &urls.js,
        result,
        error,
    };
    match view.render() {
        Ok(body) => html(body).with_status(status).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot render the sign-in page");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct PollQuery {
    seen: u64,
}

/// `GET /panel/oauth/poll?seen=N`, polled by the open sign-in step: nothing new is 204 (keep
/// polling); a sign-in finished elsewhere (the callback tab) answers its result with 286,
/// which stops htmx's polling, and tells the credential table to refresh.
#[handler]
pub fn poll(state: Data<&AppState>, Query(q): Query<PollQuery>) -> Result<Response, PanelError> {
    let (count, last) = state.login.finished();
    let Some(r) = last.filter(|_| count > q.seen) else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let tr = Tr::current();
    let toast = Toast::ok(if r.replaced {
        tr.oa_toast_updated(&r.name)
    } else {
        tr.oa_toast_added(&r.name)
    });
    let body = Finished {
        tr,
        result: Some(r),
        error: None,
    }
    .render()?;
    let r = html(body)
        .with_status(StatusCode::from_u16(286).unwrap_or(StatusCode::OK))
        .into_response();
    Ok(trigger(r, Some(toast), &["rows-changed"]))
}

#[derive(Deserialize)]
pub struct StartForm {
    #[serde(default)]
    project_id: String,
}

#[handler]
pub fn start(state: Data<&AppState>, Form(form): Form<StartForm>) -> Result<Response, PanelError> {
    let project = form.project_id.trim();
    let tr = Tr::current();
    if project.len() > 128 {
        return Err(PanelError::BadRequest(tr.oa_project_too_long().into()));
    }
    // Google accepts only loopback redirects for Gemini CLI's client (as the API does).
    let redirect_uri = format!(
        "http://localhost:{}/oauth2callback",
        state.settings.get().port
    );
    let started = state.login.start(&redirect_uri, Some(project.to_string()));
    if !url::Url::parse(&started.auth_url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
        return Err(PanelError::BadRequest(tr.oa_bad_auth_url().into()));
    }
    Ok(html(
        Started {
            tr,
            auth_url: started.auth_url,
            redirect_uri,
            seen: state.login.finished().0,
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
    let tr = Tr::current();
    if form.callback_url.len() > 8192 {
        return Err(PanelError::BadRequest(tr.oa_address_too_long().into()));
    }
    match state.login.complete_url(form.callback_url.trim()).await {
        Ok(r) => {
            let toast = Toast::ok(if r.replaced {
                tr.oa_toast_updated(&r.name)
            } else {
                tr.oa_toast_added(&r.name)
            });
            let body = Finished {
                tr,
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
                tr,
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
