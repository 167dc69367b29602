//! Signing in to the panel. The session is the management API's own session token (an HS256
//! JWT whose `epoch` follows the stored password hashes, so a password change signs everyone
//! out), kept in an HttpOnly, SameSite=Strict cookie scoped to `/panel`.
use std::sync::Arc;

use askama::Template;
use poem::http::{StatusCode, header};
use poem::web::{Data, Form};
use poem::{Endpoint, IntoResponse, Request, Response, handler};
use serde::Deserialize;

use super::PanelContext;
use super::i18n::Tr;
use super::web::{PanelError, html, is_partial};
use crate::api::auth::{SESSION_TTL, SessionRef, client_ip};
use crate::security::audit;
use crate::state::AppState;

pub const COOKIE: &str = "gcli2api_panel";
pub const LOGIN_PATH: &str = "/panel/login";

#[derive(Template)]
#[template(path = "panel/login.html")]
struct LoginPage<'a> {
    tr: Tr,
    error: Option<&'a str>,
    css: &'a str,
    js: &'a str,
}

fn login_page(status: StatusCode, error: Option<&str>) -> Result<Response, PanelError> {
    let body = LoginPage {
        tr: Tr::current(),
        error,
        css: &super::assets::urls().css,
        js: &super::assets::urls().js,
    }
    .render()?;
    Ok(html(body).with_status(status).into_response())
}

#[handler]
pub fn login_form() -> Result<Response, PanelError> {
    login_page(StatusCode::OK, None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    password: String,
}

#[handler]
pub async fn login(
    req: &Request,
    state: Data<&AppState>,
    ctx: Data<&PanelContext>,
    Form(form): Form<LoginForm>,
) -> Result<Response, PanelError> {
    let ip = client_ip(req);
    if form.password.len() > 1024 || !state.passwords.verify_panel(&form.password).await {
        let throttled = state.attempts.failure(ip, "panel");
        if throttled.is_ok() {
            let detail = serde_json::json!({ "via": "panel" });
            audit::record(&state.store, "signin.failed", None, detail).await;
        }
        if let Err(secs) = throttled {
            let mut page = login_page(
                StatusCode::TOO_MANY_REQUESTS,
                Some(&Tr::current().login_throttled(secs)),
            )?;
            if let Ok(v) = secs.to_string().parse() {
                page.headers_mut().insert("retry-after", v);
            }
            return Ok(page);
        }
        return login_page(StatusCode::UNAUTHORIZED, Some(Tr::current().login_wrong()));
    }
    state.attempts.success(ip);
    let issued =
        ctx.auth.issue(&state).await.map_err(|e| {
            PanelError::internal("cannot issue a session", std::io::Error::other(e))
        })?;
    tracing::info!("panel session started");
    audit::set_actor(audit::session_actor("panel-session", &issued.id));
    audit::record(
        &state.store,
        "signin",
        None,
        serde_json::json!({ "via": "panel" }),
    )
    .await;
    let cookie = format!(
        "{COOKIE}={}; Path=/panel; HttpOnly; SameSite=Strict; Max-Age={}{}",
        issued.token,
        SESSION_TTL.as_secs(),
        if is_https(req) { "; Secure" } else { "" }
    );
    Ok(Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, "/panel")
        .header(header::SET_COOKIE, cookie)
        .finish())
}

/// Behind a TLS-terminating proxy the cookie must be `Secure`; on plain http it cannot be.
fn is_https(req: &Request) -> bool {
    req.uri().scheme_str() == Some("https")
        || req
            .headers()
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

#[handler]
pub async fn logout(
    req: &Request,
    state: Data<&AppState>,
    ctx: Data<&PanelContext>,
    session: Data<&SessionRef>,
) -> Response {
    ctx.auth.revoke(&session);
    audit::record(
        &state.store,
        "signout",
        None,
        serde_json::json!({ "via": "panel" }),
    )
    .await;
    tracing::info!("panel session ended");
    let mut r = to_login(req);
    if let Ok(v) = format!("{COOKIE}=; Path=/panel; HttpOnly; SameSite=Strict; Max-Age=0").parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// To the login page: a redirect for the browser, `HX-Redirect` for an HTMX request (which
/// would otherwise swap the login page into a fragment).
pub fn to_login(req: &Request) -> Response {
    if is_partial(req) {
        Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("HX-Redirect", LOGIN_PATH)
            .finish()
    } else {
        Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(header::LOCATION, LOGIN_PATH)
            .finish()
    }
}

fn cookie_value<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    super::i18n::cookie(req, name)
}

/// Lets the request through only with a valid session cookie; the handler can read the
/// [`SessionRef`] as data.
pub async fn require_session<E: Endpoint>(ep: Arc<E>, mut req: Request) -> poem::Result<Response> {
    let session = match (
        req.data::<AppState>(),
        req.data::<PanelContext>(),
        cookie_value(&req, COOKIE),
    ) {
        (Some(state), Some(ctx), Some(token)) => ctx.auth.session(state, token).await,
        _ => None,
    };
    match session {
        Some(s) => {
            audit::set_actor(audit::session_actor("panel-session", &s.id));
            req.set_data(s);
            Ok(ep.call(req).await?.into_response())
        }
        None => Ok(to_login(&req)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cookie_parsing_finds_the_named_cookie() {
        let req = poem::Request::builder()
            .header("cookie", "a=1; gcli2api_panel=tok.en.x ; b=2")
            .finish();
        assert_eq!(super::cookie_value(&req, super::COOKIE), Some("tok.en.x"));
        let req = poem::Request::builder()
            .header("cookie", "xgcli2api_panel=1")
            .finish();
        assert_eq!(super::cookie_value(&req, super::COOKIE), None);
    }
}
