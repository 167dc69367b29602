//! Turning Gemini event streams into bytes on the wire, per surface: OpenAI SSE chunks ending in
//! `[DONE]`, Gemini SSE (no `[DONE]`), or Gemini's JSON-array streaming. Heartbeats keep
//! clients and reverse proxies from timing out while the upstream is silent.
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use poem::Response;
use serde_json::{Value, json};

use super::dispatch::{EventStream, StreamBreak};
use crate::convert::fake_stream;
use crate::convert::stream::{DONE_FRAME, OpenAiStreamTranslator, native_sse_frame, sse_frame};

pub type ByteStream = std::pin::Pin<Box<dyn Stream<Item = Bytes> + Send>>;

/// How a Gemini-native stream is framed: `?alt=sse`, or Google's default JSON array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NativeFraming {
    Sse,
    JsonArray,
}

pub fn openai(mut events: EventStream, mut tr: OpenAiStreamTranslator) -> ByteStream {
    Box::pin(async_stream::stream! {
        while let Some(item) = events.next().await {
            match item {
                Ok(ev) => for chunk in tr.on_event(&ev) { yield Bytes::from(sse_frame(&chunk)); },
                Err(b) => {
                    tracing::warn!(error = %b.message(), "stream ended early");
                    yield Bytes::from(sse_frame(&tr.error_chunk(&b.message(), b.status())));
                    yield Bytes::from_static(DONE_FRAME.as_bytes());
                    return;
                }
            }
        }
        for chunk in tr.finish() { yield Bytes::from(sse_frame(&chunk)); }
        yield Bytes::from_static(DONE_FRAME.as_bytes());
    })
}

fn native_error(b: &StreamBreak) -> Value {
    match b {
        StreamBreak::Upstream(e) => e.google_body(),
        StreamBreak::Cut(_) => {
            json!({"error": {"code": 502, "message": b.message(), "status": "UNAVAILABLE"}})
        }
    }
}

pub fn native(mut events: EventStream, framing: NativeFraming) -> ByteStream {
    Box::pin(async_stream::stream! {
        let mut first = true;
        if framing == NativeFraming::JsonArray { yield Bytes::from_static(b"["); }
        while let Some(item) = events.next().await {
            let (v, stop) = match item { Ok(ev) => (ev, false), Err(b) => (native_error(&b), true) };
            match framing {
                NativeFraming::Sse => yield Bytes::from(native_sse_frame(&v)),
                NativeFraming::JsonArray => {
                    let sep = if first { "" } else { ",\r\n" };
                    yield Bytes::from(format!("{sep}{}", serde_json::to_string(&v).unwrap_or_default()));
                }
            }
            first = false;
            if stop { break; }
        }
        if framing == NativeFraming::JsonArray { yield Bytes::from_static(b"]"); }
    })
}

/// A frame every client of that framing ignores: an SSE comment for OpenAI clients, an empty
/// candidate for Gemini SSE (google-genai parses every line as JSON), whitespace between the
/// elements of a JSON array.
pub fn heartbeat_frame(framing: Option<NativeFraming>) -> Bytes {
    match framing {
        None => Bytes::from(fake_stream::openai_heartbeat()),
        Some(NativeFraming::Sse) => Bytes::from(fake_stream::native_heartbeat()),
        Some(NativeFraming::JsonArray) => Bytes::from_static(b"\n"),
    }
}

/// Emits `beat` whenever `inner` has been silent for `every`; with `initial`, also right away,
/// so a client waiting on fake streaming sees the stream is alive at once.
pub fn with_heartbeats(
    mut inner: ByteStream,
    beat: Bytes,
    every: Duration,
    initial: bool,
) -> ByteStream {
    Box::pin(async_stream::stream! {
        if initial {
            yield beat.clone();
        }
        loop {
            match tokio::time::timeout(every, inner.next()).await {
                Ok(Some(b)) => yield b,
                Ok(None) => return,
                Err(_) => yield beat.clone(),
            }
        }
    })
}

pub fn response(body: ByteStream, framing: Option<NativeFraming>) -> Response {
    let ct = match framing {
        Some(NativeFraming::JsonArray) => "application/json; charset=utf-8",
        _ => "text/event-stream; charset=utf-8",
    };
    Response::builder()
        .content_type(ct)
        .header("cache-control", "no-cache")
        // nginx and similar proxies buffer event streams unless told not to.
        .header("x-accel-buffering", "no")
        .body(poem::Body::from_bytes_stream(
            body.map(Ok::<_, std::io::Error>),
        ))
}
