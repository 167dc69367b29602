//! Proxy authentication shared by every proxy route: four ways to send the key, one
//! constant-time check, one failure limiter shared with the panel and the management API,
//! and rejections in the route's own wire format.
use std::net::IpAddr;

use http_body_util::combinators::BoxBody;
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::error::{GatewayError, Surface};
use crate::keys::{self, Caller};
use crate::state::AppState;

tokio::task_local! {
    /// The client address of the request being served (after `TRUSTED_PROXIES`), for the
    /// access log: handlers see only the socket's peer.
    static CLIENT_IP: IpAddr;
}

/// The resolved client address of the request this task serves, if the guard set one.
pub fn current_client_ip() -> Option<IpAddr> {
    CLIENT_IP.try_with(|ip| *ip).ok()
}

fn header_key(req: &Request) -> Option<String> {
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

/// The API key a client sent. `?key=` and a header may both carry it (some clients add the
/// query parameter to a request that already has the header), but only when they agree: a
/// differing pair is refused rather than one silently winning over the other.
pub fn extract_key(req: &Request) -> Result<Option<String>, GatewayError> {
    let query = req.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "key")
            .map(|(_, v)| v.into_owned())
    });
    let header = header_key(req);
    match (query, header) {
        (Some(q), Some(h)) if !q.is_empty() && !h.is_empty() && q != h => {
            Err(GatewayError::BadRequest(
                "two different API keys: '?key=' and a key header disagree; send one key".into(),
            ))
        }
        (Some(q), h) if !q.is_empty() || h.is_none() => Ok(Some(q)),
        (_, h) => Ok(h),
    }
}

/// Who the key belongs to: a client key (checked in memory first, one HMAC) or the built-in
/// `API_PASSWORD`. A disabled or expired client key is a failed attempt like a wrong key, so
/// a leaked, revoked key hammered from one address meets the same failure limiter.
pub async fn check(
    req: &Request,
    state: &AppState,
    ip: Option<IpAddr>,
) -> Result<Caller, GatewayError> {
    let key = extract_key(req)?
        .filter(|k| !k.is_empty())
        .ok_or(GatewayError::MissingKey)?;
    let refused = match state.keys.authenticate(&key) {
        Some(k) => match k.usable(crate::store::now_ms()) {
            Ok(()) => {
                state.attempts.success(ip);
                return Ok(Caller::Key(k, None));
            }
            Err(r) => GatewayError::KeyRefused(r.to_string()),
        },
        None if state.passwords.verify_api(&key).await => {
            state.attempts.success(ip);
            return Ok(Caller::Builtin);
        }
        None => GatewayError::WrongKey,
    };
    match state.attempts.failure(ip, "proxy") {
        Ok(()) => Err(refused),
        Err(retry_after_secs) => Err(GatewayError::TooManyAttempts { retry_after_secs }),
    }
}

/// A client key's limits, counted as the request is let in (the built-in key has none). The
/// admission is kept on the caller so a request refused later can give it back.
fn admit(state: &AppState, caller: &mut Caller) -> Result<(), GatewayError> {
    let Caller::Key(k, admitted) = caller else {
        return Ok(());
    };
    let w = state.keys.window();
    let at = std::time::Instant::now();
    k.counters
        .admit(&k.name, &k.fields, &w, at, crate::store::now_ms())
        .map_err(GatewayError::KeyLimited)?;
    *admitted = Some(crate::keys::Admission {
        window: w.start_ms,
        at,
    });
    Ok(())
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
    let ip = crate::security::client_ip(&req);
    let mut caller = match check(&req, &state, ip).await {
        Ok(c) => c,
        Err(e) => {
            tracing::info!(path = %req.uri().path(), error = %e, "rejected proxy request");
            state
                .metrics
                .refused(surface, e.status().as_u16(), "unauthenticated");
            return Ok(e.into_response(surface));
        }
    };
    if state.usage.refusing() {
        let e = GatewayError::UsageUnrecorded;
        state
            .metrics
            .refused(surface, e.status().as_u16(), caller.name());
        return Ok(e.into_response(surface));
    }
    if let Err(e) = admit(&state, &mut caller) {
        tracing::info!(path = %req.uri().path(), key = %caller.name(), error = %e, "client key over a limit");
        state
            .metrics
            .refused(surface, e.status().as_u16(), caller.name());
        return Ok(e.into_response(surface));
    }
    let permit = match state.limiter.acquire().await {
        Ok(p) => p,
        Err(e) => return Ok(e.into_response(surface)),
    };
    let call = keys::scope(caller.clone(), ep.call(req));
    let resp = match ip {
        Some(ip) => CLIENT_IP.scope(ip, call).await?,
        None => call.await?,
    }
    .into_response();
    let (parts, body) = resp.into_parts();
    // The slot is held until the body is fully sent, so long streams count as in flight.
    let held = Held {
        inner: body.into(),
        _permit: permit,
        caller,
    };
    Ok(Response::from_parts(
        parts,
        poem::Body::from(BoxBody::new(held)),
    ))
}

/// A streaming answer body with what it needs while it is sent: the concurrency slot, and the
/// client key's scope, since a stream's later upstream calls (anti-truncation continuations)
/// run in these polls and must still see the key's allow-lists. One layer around the handler's
/// body, so a frame passes through nothing else on its way out.
struct Held {
    inner: BoxBody<bytes::Bytes, std::io::Error>,
    _permit: crate::proxy::limit::Permit,
    caller: Caller,
}

impl hyper::body::Body for Held {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, std::io::Error>>> {
        let this = &mut *self;
        let inner = std::pin::Pin::new(&mut this.inner);
        match &this.caller {
            Caller::Builtin => inner.poll_frame(cx),
            key => keys::sync_scope(key.clone(), || inner.poll_frame(cx)),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    /// Passed on, so an answer already in memory keeps its Content-Length; only streams are
    /// sent chunked.
    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
