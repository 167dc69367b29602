//! Serving the scrape: on the main port only with `METRICS_TOKEN` set (as a bearer token),
//! and on `METRICS_LISTEN`, a port of its own, with the token when one is set.
use poem::http::StatusCode;
use poem::web::Data;
use poem::{EndpointExt, Request, Response, Route, get, handler};
use subtle::ConstantTimeEq;

use crate::state::AppState;

fn text(status: StatusCode, body: &'static str) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/plain; charset=utf-8")
        .body(body)
}

fn bearer(req: &Request) -> Option<&str> {
    let v = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The scrape, if `req` may have it. A wrong token is a failed attempt for the address, like
/// a wrong API key or panel password.
fn answer(state: &AppState, req: &Request, token_required: bool) -> Response {
    let s = state.settings.get();
    match s.metrics_token.as_deref() {
        None if token_required => {
            return text(
                StatusCode::NOT_FOUND,
                "metrics are off on this port: set METRICS_TOKEN, or METRICS_LISTEN for a port of their own\n",
            );
        }
        None => {}
        Some(token) => {
            let ip = crate::security::client_ip(req);
            let ok = bearer(req).is_some_and(|b| bool::from(b.as_bytes().ct_eq(token.as_bytes())));
            if !ok {
                return match state.attempts.failure(ip, "metrics") {
                    Ok(()) => {
                        let mut r = text(
                            StatusCode::UNAUTHORIZED,
                            "send METRICS_TOKEN as 'Authorization: Bearer <token>'\n",
                        );
                        r.headers_mut().insert(
                            "www-authenticate",
                            poem::http::HeaderValue::from_static("Bearer"),
                        );
                        r
                    }
                    Err(secs) => {
                        let mut r =
                            text(StatusCode::TOO_MANY_REQUESTS, "too many failed attempts\n");
                        if let Ok(v) = secs.to_string().parse() {
                            r.headers_mut().insert("retry-after", v);
                        }
                        r
                    }
                };
            }
            state.attempts.success(ip);
        }
    }
    Response::builder()
        .content_type(super::CONTENT_TYPE)
        .header("cache-control", "no-store")
        .body(state.metrics.render(state))
}

/// `GET /metrics` on the main port.
#[handler]
pub fn metrics_endpoint(req: &Request, Data(state): Data<&AppState>) -> Response {
    answer(state, req, true)
}

#[handler]
fn separate(req: &Request, Data(state): Data<&AppState>) -> Response {
    answer(state, req, false)
}

/// Serves `GET /metrics` alone on `listener` (METRICS_LISTEN) until the task is aborted.
pub fn serve_separately(
    state: AppState,
    listener: tokio::net::TcpListener,
) -> tokio::task::JoinHandle<()> {
    let app = Route::new().at("/metrics", get(separate)).data(state);
    tokio::spawn(async move {
        let addr = listener.local_addr().ok();
        tracing::info!(addr = ?addr, "metrics listening");
        let acceptor = match poem::listener::TcpAcceptor::from_tokio(listener) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "metrics listener unusable");
                return;
            }
        };
        let served = poem::Server::new_with_acceptor(acceptor).run(app).await;
        if let Err(e) = served {
            tracing::error!(error = %e, "metrics listener stopped");
        }
    })
}
