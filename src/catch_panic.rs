//! No panic reaches a client as a dropped connection, and none prints a request's data.
//!
//! [`catch`] wraps the whole app. A handler that panics is answered with a 500 in its route's
//! format (OpenAI, Google or Anthropic JSON on the proxy, the management API's error body under
//! `/api`, an HTML page on the panel, plain text elsewhere), and one ERROR line is logged with
//! the method, the path, and where it panicked. The query (it can carry `?key=`) and the body
//! are never logged. A response body that panics while it streams (a translator polled by the
//! server after the headers went out) ends with an error, so the client sees a broken transfer
//! instead of a clean end, and the same line is logged.
//!
//! poem's `CatchPanic` middleware is not used because its handler is not given the request, so
//! it cannot pick the route's format, and it does not cover streamed bodies.
//!
//! [`install_panic_hook`] replaces Rust's default hook (which prints the message, and with
//! `RUST_BACKTRACE` a backtrace, to stderr). Panic messages can quote data (a slicing panic
//! quotes the string it sliced, which may be a request's payload), so the hook keeps the location
//! and a shortened message with quoted spans removed, and logs them through tracing: once, with
//! the route, for a panic in a request; on its own line for a panic anywhere else.
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use http_body::Body as _;
use http_body_util::combinators::BoxBody;
use poem::http::{Method, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Request, Response};

use crate::api::error::{ApiError, ErrorCode};
use crate::error::{GatewayError, Surface};
use crate::proxy::family;

/// Longest panic message kept (in characters).
const MAX_MESSAGE: usize = 200;

thread_local! {
    /// Set while a request's future or body is polled inside [`catch`] on this thread.
    static IN_REQUEST: Cell<bool> = const { Cell::new(false) };
    /// What the hook saw of the last panic inside a request, for [`catch`] to log.
    static LAST_PANIC: RefCell<Option<PanicNote>> = const { RefCell::new(None) };
}

/// Where a panic happened and what it said, with data cut out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanicNote {
    pub location: String,
    pub message: String,
}

impl PanicNote {
    fn from_payload(payload: &(dyn Any + Send)) -> Self {
        PanicNote {
            location: "unknown".into(),
            message: sanitize_message(payload_text(payload)),
        }
    }
}

fn payload_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "non-text panic payload"
    }
}

/// A panic message without what it quotes: spans between backticks (how the standard library
/// quotes the strings and values it reports) become `…`, and the rest is cut to
/// [`MAX_MESSAGE`] characters on one line.
pub fn sanitize_message(msg: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for piece in msg.split('`') {
        if quoted {
            out.push('…');
        } else {
            out.push_str(piece);
        }
        quoted = !quoted;
    }
    let mut one_line: String = out
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_MESSAGE + 1)
        .collect();
    if one_line.chars().count() > MAX_MESSAGE {
        one_line = one_line.chars().take(MAX_MESSAGE).collect();
        one_line.push('…');
    }
    one_line
}

/// Replaces the default panic hook for the whole process (see the module docs). Call once, at
/// start; tests keep the default hook so their own failures stay readable.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let note = PanicNote {
            location: info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_else(|| "unknown".into()),
            message: sanitize_message(payload_text(info.payload())),
        };
        if IN_REQUEST.with(Cell::get) {
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(note));
            return;
        }
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("unnamed");
        if tracing::dispatcher::has_been_set() {
            tracing::error!(
                thread,
                location = %note.location,
                panic = %note.message,
                "panic outside a request"
            );
        } else {
            let _ = writeln!(
                std::io::stderr(),
                "gcli2api: internal error: panic in thread '{thread}' at {}: {}",
                note.location,
                note.message
            );
        }
    }));
}

/// The format a route answers errors in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Proxy(Surface),
    Api,
    Panel,
    Plain,
}

impl Format {
    /// For a request seen at the top of the app (before any nest strips a prefix).
    pub fn of(req: &Request) -> Self {
        let uri = req.uri();
        let path = uri.path();
        if let Some(s) = family::of_path(path, req.headers(), uri.query()) {
            return Format::Proxy(s);
        }
        let under = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|r| r.is_empty() || r.starts_with('/'))
        };
        if under("/api") {
            Format::Api
        } else if under("/panel") || path == "/" || path == "/auth" {
            Format::Panel
        } else {
            Format::Plain
        }
    }

    /// The 500 answer for a request whose handler panicked.
    pub fn internal_error(self) -> Response {
        const MESSAGE: &str =
            "the gateway hit an internal error and could not finish this request; it is logged";
        match self {
            Format::Proxy(surface) => {
                GatewayError::Internal(MESSAGE.into()).into_response(surface)
            }
            Format::Api => ApiError::new(ErrorCode::Internal, MESSAGE).into_poem_response(),
            Format::Panel => Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .content_type("text/html; charset=utf-8")
                .header("cache-control", "no-store")
                .body(format!(
                    "<!doctype html><meta charset=utf-8><title>gcli2api: internal error</title>\
                     <h1>Internal error</h1><p>{}.</p><p><a href=\"/panel\">Back to the panel</a></p>",
                    crate::html_escape(MESSAGE)
                )),
            Format::Plain => Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .content_type("text/plain; charset=utf-8")
                .body("internal server error"),
        }
    }
}

/// What is logged about a request: never its query or body.
struct RouteInfo {
    method: Method,
    path: String,
    format: Format,
}

impl RouteInfo {
    fn log(&self, payload: &(dyn Any + Send), when: &'static str) {
        let note = LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| PanicNote::from_payload(payload));
        tracing::error!(
            method = %self.method,
            path = %self.path,
            location = %note.location,
            panic = %note.message,
            when,
            "request panicked"
        );
    }
}

/// Runs `f` with the in-request flag set; a panic in it is logged with the route.
fn polled<T>(route: &RouteInfo, when: &'static str, f: impl FnOnce() -> T) -> Option<T> {
    let previous = IN_REQUEST.with(|c| c.replace(true));
    let out = catch_unwind(AssertUnwindSafe(f));
    IN_REQUEST.with(|c| c.set(previous));
    match out {
        Ok(v) => Some(v),
        Err(payload) => {
            route.log(payload.as_ref(), when);
            None
        }
    }
}

/// The handler's future, polled with panics caught; `None` when it panicked.
struct Guarded<F> {
    inner: Pin<Box<F>>,
    route: Arc<RouteInfo>,
}

impl<F: Future> Future for Guarded<F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let route = Arc::clone(&self.route);
        let inner = self.inner.as_mut();
        match polled(&route, "before the response", || inner.poll(cx)) {
            Some(Poll::Ready(v)) => Poll::Ready(Some(v)),
            Some(Poll::Pending) => Poll::Pending,
            None => Poll::Ready(None),
        }
    }
}

/// A streamed body, polled with panics caught: a panic ends it with an error.
struct GuardedStream<S> {
    inner: Pin<Box<S>>,
    route: Arc<RouteInfo>,
    done: bool,
}

impl<S: Stream<Item = std::io::Result<Bytes>>> Stream for GuardedStream<S> {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let route = Arc::clone(&self.route);
        let inner = self.inner.as_mut();
        match polled(&route, "while streaming the response", || {
            inner.poll_next(cx)
        }) {
            Some(p) => p,
            None => {
                self.done = true;
                Poll::Ready(Some(Err(std::io::Error::other(
                    "internal error while streaming the response",
                ))))
            }
        }
    }
}

/// Bodies of unknown length (streams) are guarded; sized bodies cannot panic while sent and
/// keep their `Content-Length`.
fn guard_body(resp: Response, route: Arc<RouteInfo>) -> Response {
    let (parts, body) = resp.into_parts();
    let inner: BoxBody<Bytes, std::io::Error> = body.into();
    if inner.size_hint().exact().is_some() {
        return Response::from_parts(parts, Body::from(inner));
    }
    let stream = Body::from(inner).into_bytes_stream();
    let guarded = GuardedStream {
        inner: Box::pin(stream),
        route,
        done: false,
    };
    Response::from_parts(parts, Body::from_bytes_stream(guarded))
}

/// The catch-panic layer, for `EndpointExt::around` on the whole app (outside every nest).
pub async fn catch<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let route = Arc::new(RouteInfo {
        method: req.method().clone(),
        path: req.uri().path().to_owned(),
        format: Format::of(&req),
    });
    let fut = async move { ep.call(req).await.map(IntoResponse::into_response) };
    let guarded = Guarded {
        inner: Box::pin(fut),
        route: Arc::clone(&route),
    };
    match guarded.await {
        Some(Ok(resp)) => Ok(guard_body(resp, route)),
        Some(Err(e)) => Err(e),
        None => Ok(route.format.internal_error()),
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use poem::{EndpointExt, Route, get, handler, post};
    use serde_json::Value;

    use super::*;

    #[handler]
    fn boom() -> String {
        let data = String::from("data:\u{e9}\u{e9}\u{e9}");
        // The very panic this layer exists for: slicing inside a multi-byte character.
        data[..6].to_string()
    }

    #[handler]
    fn fine() -> &'static str {
        "fine"
    }

    #[handler]
    fn streams_then_panics() -> Response {
        let items = futures_util::stream::iter(0..3).map(|i| {
            assert!(i < 1, "translator bug at item {i}");
            Ok::<_, std::io::Error>(Bytes::from_static(b"data: chunk\n\n"))
        });
        Response::builder()
            .content_type("text/event-stream")
            .body(Body::from_bytes_stream(items))
    }

    fn app() -> impl Endpoint<Output = Response> {
        Route::new()
            .at("/v1/chat/completions", post(boom))
            .at("/v1/messages", post(boom))
            .at("/v1/models/*rest", post(boom))
            .at("/v1beta/models/*rest", get(boom))
            .at("/v1/stream", get(streams_then_panics))
            .at("/api/v1/credentials", get(boom))
            .at("/panel/usage", get(boom))
            .at("/healthz", get(boom))
            .at("/ok", get(fine))
            .around(catch)
    }

    async fn call(method: Method, uri: &str) -> (StatusCode, String, String) {
        let req = Request::builder()
            .method(method)
            .uri(uri.parse().unwrap())
            .finish();
        let resp = app().call(req).await.expect("the layer answers");
        let status = resp.status();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = resp.into_body().into_string().await.unwrap_or_default();
        (status, ctype, body)
    }

    fn json(body: &str) -> Value {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
    }

    #[tokio::test]
    async fn a_panicking_handler_gets_a_500_in_its_routes_format() {
        let (status, ctype, body) = call(Method::POST, "/v1/chat/completions").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(ctype.starts_with("application/json"), "{ctype}");
        let v = json(&body);
        assert_eq!(v["error"]["type"], "api_error", "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("internal error")
        );

        let v = json(&call(Method::POST, "/v1/messages").await.2);
        assert_eq!(v["type"], "error", "{v}");
        assert_eq!(v["error"]["type"], "api_error");

        for uri in [
            "/v1/models/gemini-2.5-pro:generateContent",
            "/v1beta/models/gemini-2.5-pro:generateContent",
        ] {
            let method = if uri.starts_with("/v1beta") {
                Method::GET
            } else {
                Method::POST
            };
            let v = json(&call(method, uri).await.2);
            assert_eq!(v["error"]["code"], 500, "{uri}: {v}");
            assert_eq!(v["error"]["status"], "INTERNAL", "{uri}: {v}");
        }

        let (status, _, body) = call(Method::GET, "/api/v1/credentials").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(json(&body)["error"]["code"], "internal");

        let (status, ctype, body) = call(Method::GET, "/panel/usage").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(ctype.starts_with("text/html"), "{ctype}");
        assert!(body.contains("<h1>Internal error</h1>"), "{body}");

        let (status, ctype, body) = call(Method::GET, "/healthz").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(ctype.starts_with("text/plain"), "{ctype}");
        assert_eq!(body, "internal server error");
    }

    /// The log lines themselves are checked in `tests/catch_panic.rs`, in a process of their
    /// own with the real panic hook and a global log capture.
    #[tokio::test]
    async fn a_stream_that_panics_ends_with_an_error() {
        let req = Request::builder()
            .uri("/v1/stream".parse().unwrap())
            .finish();
        let resp = app().call(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let items: Vec<_> = resp.into_body().into_bytes_stream().collect().await;
        assert!(items[0].is_ok());
        assert!(items.last().unwrap().is_err(), "{items:?}");
        assert_eq!(items.len(), 2, "the stream stops after the panic");
    }

    #[tokio::test]
    async fn sized_bodies_are_left_alone() {
        let req = Request::builder().uri("/ok".parse().unwrap()).finish();
        let resp = app().call(req).await.unwrap();
        let body: BoxBody<Bytes, std::io::Error> = resp.into_body().into();
        assert_eq!(body.size_hint().exact(), Some(4));
    }

    #[test]
    fn messages_lose_quoted_data_and_stay_short() {
        let msg =
            "byte index 6 is not a char boundary; it is inside 'é' (bytes 5..7) of `data:ééé`";
        let clean = sanitize_message(msg);
        assert_eq!(
            clean,
            "byte index 6 is not a char boundary; it is inside 'é' (bytes 5..7) of …"
        );
        let long = "x".repeat(500) + "\nsecond line";
        let clean = sanitize_message(&long);
        assert_eq!(clean.chars().count(), MAX_MESSAGE + 1);
        assert!(!clean.contains('\n'));
        assert_eq!(sanitize_message("a `b` c `d"), "a … c …");
    }
}
