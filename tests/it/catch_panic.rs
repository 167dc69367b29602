//! The catch-panic layer's log lines, with the real panic hook installed. Each test runs in a
//! process of its own ([`in_own_process`]): the hook is process-wide and the log capture is the
//! global subscriber, so nothing else may run there. Captured lines are also echoed to stderr,
//! so a failing test stays readable.
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use futures_util::StreamExt;
use gcli2api::catch_panic::{catch, install_panic_hook};
use poem::http::{Method, StatusCode};
use poem::{Body, Endpoint, EndpointExt, Request, Response, Route, get, handler, post};

use crate::support::in_own_process;

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Tee(Arc<Mutex<Vec<u8>>>);

impl Write for Tee {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        std::io::stderr().write_all(b)?;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capture and the hook once; returns the captured ERROR lines that contain `needle`.
fn error_lines(needle: &str) -> Vec<String> {
    let buf = LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let tee = Tee(Arc::clone(&buf));
        tracing_subscriber::fmt()
            .with_writer(move || tee.clone())
            .with_ansi(false)
            .init();
        install_panic_hook();
        buf
    });
    String::from_utf8(buf.lock().unwrap().clone())
        .unwrap()
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// Slices the request body at byte 6: with `data:é…` that is inside a character, and the
/// standard library's panic message quotes the whole string.
#[handler]
fn slices_the_body(body: String) -> String {
    body[..6].to_string()
}

#[handler]
fn streams_then_panics() -> Response {
    let items = futures_util::stream::iter(0..3).map(|i| {
        assert!(i < 1, "translator bug at `item {i}`");
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"data: chunk\n\n"))
    });
    Response::builder()
        .content_type("text/event-stream")
        .body(Body::from_bytes_stream(items))
}

fn app() -> impl Endpoint<Output = Response> {
    Route::new()
        .at("/v1/chat/completions", post(slices_the_body))
        .at("/v1/messages", get(streams_then_panics))
        .around(catch)
}

#[tokio::test]
async fn one_error_line_with_method_path_and_location_but_no_query_or_data() {
    if !in_own_process(
        module_path!(),
        "one_error_line_with_method_path_and_location_but_no_query_or_data",
    ) {
        return;
    }
    error_lines("");
    let req = Request::builder()
        .method(Method::POST)
        .uri(
            "/v1/chat/completions?key=sk-query-secret&x=1"
                .parse()
                .unwrap(),
        )
        .body("data:\u{e9}\u{e9}BODY-SECRET");
    let resp = app().call(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: serde_json::Value =
        serde_json::from_str(&resp.into_body().into_string().await.unwrap()).unwrap();
    assert_eq!(body["error"]["type"], "api_error", "OpenAI's shape: {body}");

    let lines = error_lines("/v1/chat/completions");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    assert!(line.contains("request panicked"), "{line}");
    assert!(line.contains("method=POST"), "{line}");
    assert!(
        line.contains("location=tests/it/catch_panic.rs:"),
        "the hook's location: {line}"
    );
    assert!(line.contains("char boundary"), "what went wrong: {line}");
    for secret in ["sk-query-secret", "key=", "BODY-SECRET", "data:\u{e9}"] {
        assert!(!line.contains(secret), "{secret} in {line}");
    }
    // The hook did not log the same panic a second time on its own.
    assert!(
        error_lines("panic outside a request")
            .iter()
            .all(|l| !l.contains("char boundary"))
    );
}

#[tokio::test]
async fn a_stream_that_panics_is_logged_with_its_route() {
    if !in_own_process(
        module_path!(),
        "a_stream_that_panics_is_logged_with_its_route",
    ) {
        return;
    }
    error_lines("");
    let req = Request::builder()
        .uri("/v1/messages?key=sk-stream-secret".parse().unwrap())
        .finish();
    let resp = app().call(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let items: Vec<_> = resp.into_body().into_bytes_stream().collect().await;
    assert!(items.last().unwrap().is_err());
    let lines = error_lines("path=/v1/messages");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    assert!(line.contains("while streaming the response"), "{line}");
    assert!(
        line.contains("translator bug at …"),
        "quoted data cut: {line}"
    );
    assert!(!line.contains("sk-stream-secret"), "{line}");
}

#[test]
fn a_panic_outside_a_request_is_one_line_without_its_data() {
    if !in_own_process(
        module_path!(),
        "a_panic_outside_a_request_is_one_line_without_its_data",
    ) {
        return;
    }
    error_lines("");
    let joined = std::thread::Builder::new()
        .name("background-job".into())
        .spawn(|| panic!("lost `the-secret-payload` while working"))
        .unwrap()
        .join();
    assert!(joined.is_err());
    let lines = error_lines("background-job");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("panic outside a request"), "{}", lines[0]);
    assert!(lines[0].contains("lost … while working"), "{}", lines[0]);
    assert!(!lines[0].contains("the-secret-payload"), "{}", lines[0]);
}
