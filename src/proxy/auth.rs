//! Proxy authentication shared by every proxy route: four ways to send the key, one
//! constant-time check, and rejections in the route's own wire format.
use futures_util::StreamExt;
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::error::{GatewayError, Surface};
use crate::state::AppState;

/// The API key a client sent, from the first place it appears.
pub fn extract_key(req: &Request) -> Option<String> {
    if let Some(k) = req.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "key")
            .map(|(_, v)| v.into_owned())
    }) {
        return Some(k);
    }
    for h in ["x-goog-api-key", "x-api-key"] {
        if let Some(v) = req.headers().get(h).and_then(|v| v.to_str().ok()) {
            return Some(v.trim().to_string());
        }
    }
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

pub async fn check(req: &Request, state: &AppState) -> Result<(), GatewayError> {
    let key = extract_key(req)
        .filter(|k| !k.is_empty())
        .ok_or(GatewayError::MissingKey)?;
    if state.passwords.verify_api(&key).await {
        Ok(())
    } else {
        Err(GatewayError::WrongKey)
    }
}

pub async fn guard<E: Endpoint>(
    ep: std::sync::Arc<E>,
    req: Request,
    surface: Surface,
) -> poem::Result<Response> {
    let state = req
        .data::<AppState>()
        .expect("AppState is attached to every route")
        .clone();
    if let Err(e) = check(&req, &state).await {
        tracing::info!(path = %req.uri().path(), error = %e, "rejected proxy request");
        return Ok(e.into_response(surface));
    }
    let permit = match state.limiter.acquire().await {
        Ok(p) => p,
        Err(e) => return Ok(e.into_response(surface)),
    };
    let resp = ep.call(req).await?.into_response();
    // The slot is held until the body is fully sent, so long streams count as in flight.
    let (parts, body) = resp.into_parts();
    let body = body.into_bytes_stream().map(move |chunk| {
        let _held = &permit;
        chunk
    });
    Ok(Response::from_parts(
        parts,
        poem::Body::from_bytes_stream(body),
    ))
}
