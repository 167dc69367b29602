//! OAuth: token endpoint, consent-free authorization page, tokeninfo and userinfo.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use poem::Response;
use poem::http::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::errors::{self, json_response, oauth_error};
use super::faults::Fault;
use super::http::Ctx;
use super::state::{AuthCode, Inner, random_urlsafe};
use super::types::SCOPES;

fn granted_scope(requested: &str) -> String {
    let mut scope = if requested.trim().is_empty() {
        SCOPES.join(" ")
    } else {
        requested.trim().to_string()
    };
    if !scope.split(' ').any(|s| s == "openid") {
        scope.push_str(" openid");
    }
    scope
}

/// An unsigned-looking JWT carrying the identity claims clients read from `id_token`.
fn id_token(inner: &Inner, email: &str, client_id: &str) -> String {
    let sub = inner.user(email).map_or(0, |u| u.numeric_id);
    let now = Utc::now().timestamp();
    let header = json!({"alg": "RS256", "kid": "sim", "typ": "JWT"});
    let claims = json!({"iss": "https://accounts.google.com", "azp": client_id, "aud": client_id, "sub": sub.to_string(), "email": email, "email_verified": true, "iat": now, "exp": now + 3599});
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode("sim-signature")
    )
}

fn token_reply(
    inner: &mut Inner,
    email: &str,
    client_id: &str,
    scope: &str,
    refresh: Option<String>,
) -> Response {
    let (access_token, expires_at) = inner.issue_access_token(email);
    let expires_in = (expires_at - Utc::now()).num_seconds().max(0) + 1;
    let mut body = json!({
        "access_token": access_token,
        "expires_in": expires_in,
        "scope": scope,
        "token_type": "Bearer",
        "id_token": id_token(inner, email, client_id),
    });
    if let Some(rt) = refresh {
        body["refresh_token"] = json!(rt);
    }
    json_response(200, &body)
}

pub(crate) fn token(ctx: &Ctx) -> Response {
    let grant = ctx.form("grant_type").unwrap_or_default();
    let client_id = ctx.form("client_id").unwrap_or_default();
    let client_secret = ctx.form("client_secret").unwrap_or_default();
    let bad =
        |status: u16, error: &str, desc: &str| json_response(status, &oauth_error(error, desc));
    if grant.is_empty() {
        return bad(
            400,
            "invalid_request",
            "Missing required parameter: grant_type",
        );
    }
    if grant == super::official::types::JWT_BEARER_GRANT {
        return super::official::service_account::grant(ctx);
    }
    if grant != "authorization_code" && grant != "refresh_token" {
        return bad(
            400,
            "unsupported_grant_type",
            &format!("Invalid grant_type: {grant}"),
        );
    }
    if client_id.is_empty() {
        return bad(
            400,
            "invalid_request",
            "Could not determine client ID from request.",
        );
    }
    let mut inner = ctx.state.lock();
    if !inner.known_client(client_id, client_secret) {
        return bad(401, "invalid_client", "Unauthorized");
    }
    if grant == "refresh_token" {
        let rt = ctx.form("refresh_token").unwrap_or_default();
        let Some(user) = inner
            .users
            .iter_mut()
            .find(|u| !rt.is_empty() && u.refresh_token == rt)
        else {
            return bad(400, "invalid_grant", "Token has been expired or revoked.");
        };
        if user.spec.client_id != client_id {
            return bad(401, "unauthorized_client", "Unauthorized");
        }
        let rotated = user.spec.rotate_refresh_token.then(|| {
            user.refresh_token = format!("1//sim-{}", random_urlsafe(48));
            user.refresh_token.clone()
        });
        let email = user.spec.email.clone();
        return token_reply(&mut inner, &email, client_id, &granted_scope(""), rotated);
    }
    let code_value = ctx.form("code").unwrap_or_default();
    let Some(code) = inner.codes.get_mut(code_value) else {
        return bad(400, "invalid_grant", "Malformed auth code.");
    };
    if code.used {
        return bad(400, "invalid_grant", "Bad Request");
    }
    if code.client_id != client_id {
        return bad(400, "invalid_grant", "Unauthorized");
    }
    if ctx.form("redirect_uri").unwrap_or_default() != code.redirect_uri {
        return bad(400, "redirect_uri_mismatch", "Bad Request");
    }
    if let Some((challenge, method)) = &code.challenge {
        let Some(verifier) = ctx.form("code_verifier") else {
            return bad(400, "invalid_grant", "Missing code verifier.");
        };
        let computed = if method.eq_ignore_ascii_case("S256") {
            URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
        } else {
            verifier.to_string()
        };
        if &computed != challenge {
            return bad(400, "invalid_grant", "Invalid code verifier.");
        }
    }
    code.used = true;
    let (email, scope) = (code.email.clone(), code.scope.clone());
    let Some(refresh) = inner.user(&email).map(|u| u.refresh_token.clone()) else {
        return bad(400, "invalid_grant", "Bad Request");
    };
    token_reply(&mut inner, &email, client_id, &scope, Some(refresh))
}

fn text(status: StatusCode, body: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .body(body.to_string())
}

pub(crate) fn authorize(ctx: &Ctx, fault: Option<&Fault>) -> Response {
    let q = |name: &str| ctx.query_param(name).unwrap_or_default();
    let (client_id, redirect_uri, state) = (q("client_id"), q("redirect_uri"), q("state"));
    let Ok(mut target) = url::Url::parse(&redirect_uri) else {
        return text(
            StatusCode::BAD_REQUEST,
            "Error 400: invalid_request (redirect_uri)",
        );
    };
    if q("response_type") != "code" {
        return text(
            StatusCode::BAD_REQUEST,
            "Error 400: unsupported_response_type",
        );
    }
    let mut inner = ctx.state.lock();
    let client_known = client_id == super::types::GEMINI_CLI_CLIENT_ID
        || inner.users.iter().any(|u| u.spec.client_id == client_id);
    if !client_known {
        return text(
            StatusCode::UNAUTHORIZED,
            "Error 401: invalid_client. The OAuth client was not found.",
        );
    }
    if matches!(fault, Some(Fault::AccessDenied)) {
        target
            .query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("state", &state);
        return redirect(target.as_str());
    }
    let hint = q("login_hint");
    let chosen = inner
        .user(&hint)
        .or_else(|| inner.default_login.as_deref().and_then(|d| inner.user(d)))
        .or_else(|| inner.users.first())
        .map(|u| u.spec.email.clone());
    let Some(email) = chosen else {
        return text(
            StatusCode::BAD_REQUEST,
            "No simulated account can sign in: add a user first.",
        );
    };
    let challenge = ctx.query_param("code_challenge").map(|c| {
        let method = ctx
            .query_param("code_challenge_method")
            .unwrap_or_else(|| "plain".into());
        (c, method)
    });
    let scope = granted_scope(&q("scope"));
    let code = format!("4/0Sim{}", random_urlsafe(40));
    inner.codes.insert(
        code.clone(),
        AuthCode {
            email,
            client_id,
            redirect_uri,
            challenge,
            scope: scope.clone(),
            used: false,
        },
    );
    target
        .query_pairs_mut()
        .append_pair("state", &state)
        .append_pair("code", &code)
        .append_pair("scope", &scope)
        .append_pair("authuser", "0")
        .append_pair("prompt", "consent");
    redirect(target.as_str())
}

fn redirect(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::FOUND)
        .header("location", location)
        .body(())
}

pub(crate) fn tokeninfo(ctx: &Ctx) -> Response {
    let token = ctx
        .query_param("access_token")
        .or_else(|| ctx.form("access_token").map(str::to_owned))
        .unwrap_or_default();
    let inner = ctx.state.lock();
    let Ok(entry) = inner.live_token(&token) else {
        return json_response(400, &oauth_error("invalid_token", "Invalid Value"));
    };
    let Some(user) = inner.user(&entry.email) else {
        return json_response(400, &oauth_error("invalid_token", "Invalid Value"));
    };
    let expires_in = (entry.expires_at - Utc::now()).num_seconds().max(0);
    json_response(
        200,
        &json!({
            "azp": user.spec.client_id,
            "aud": user.spec.client_id,
            "sub": user.numeric_id.to_string(),
            "scope": entry.scope,
            "exp": entry.expires_at.timestamp().to_string(),
            "expires_in": expires_in.to_string(),
            "email": user.spec.email,
            "email_verified": "true",
            "access_type": "offline",
        }),
    )
}

pub(crate) fn userinfo(ctx: &Ctx) -> Response {
    let email = match ctx.authed("UserInfo") {
        Ok(e) => e,
        Err(_) => {
            let body = errors::status_body(
                401,
                "UNAUTHENTICATED",
                "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
                Vec::new(),
            );
            return json_response(401, &body);
        }
    };
    let inner = ctx.state.lock();
    let id = inner.user(&email).map_or(0, |u| u.numeric_id);
    let local = email.split('@').next().unwrap_or_default().to_string();
    let body: Value = json!({
        "id": id.to_string(),
        "email": email,
        "verified_email": true,
        "name": format!("Sim {local}"),
        "given_name": "Sim",
        "family_name": local,
        "picture": "https://lh3.googleusercontent.com/a/sim-avatar",
    });
    json_response(200, &body)
}
