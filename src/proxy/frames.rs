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
use crate::convert::stream::{DONE_FRAME, OpenAiStreamTranslator, write_sse_frame};

pub type ByteStream = std::pin::Pin<Box<dyn Stream<Item = Bytes> + Send>>;

/// How a Gemini-native stream is framed: `?alt=sse`, or Google's default JSON array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NativeFraming {
    Sse,
    JsonArray,
}

/// OpenAI chunks as SSE: the chunks of one upstream event go out as one write.
pub fn openai(mut events: EventStream, mut tr: OpenAiStreamTranslator) -> ByteStream {
    Box::pin(async_stream::stream! {
        while let Some(item) = events.next().await {
            let mut out = Vec::with_capacity(FRAME_CAPACITY);
            match item {
                Ok(ev) => tr.write_event(&ev, &mut out),
                Err(b) => {
                    tracing::warn!(error = %b.message(), "stream ended early");
                    write_sse_frame(&mut out, &tr.error_chunk(&b.message(), b.status()));
                    out.extend_from_slice(DONE_FRAME.as_bytes());
                    yield Bytes::from(out);
                    return;
                }
            }
            if !out.is_empty() {
                yield Bytes::from(out);
            }
        }
        let mut out = Vec::with_capacity(FRAME_CAPACITY);
        tr.write_finish(&mut out);
        out.extend_from_slice(DONE_FRAME.as_bytes());
        yield Bytes::from(out);
    })
}

/// Room for a typical chunk (header, a short delta) without regrowing.
const FRAME_CAPACITY: usize = 384;

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
            let (json, stop) = match item {
                Ok(ev) => (serde_json::to_string(&ev).unwrap_or_default(), false),
                Err(b) => (native_error(&b).to_string(), true),
            };
            match framing {
                NativeFraming::Sse => yield Bytes::from(format!("data: {json}\n\n")),
                NativeFraming::JsonArray => {
                    let sep = if first { "" } else { ",\r\n" };
                    yield Bytes::from(format!("{sep}{json}"));
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
///
/// One timer serves the whole stream: an item only notes the time, and the timer is moved
/// when it fires. Arming a fresh timer for every item cost more than framing the item.
pub fn with_heartbeats(
    mut inner: ByteStream,
    beat: Bytes,
    every: Duration,
    initial: bool,
) -> ByteStream {
    enum Next {
        Item(Option<Bytes>),
        Tick,
    }
    Box::pin(async_stream::stream! {
        if initial {
            yield beat.clone();
        }
        let mut last = tokio::time::Instant::now();
        let timer = tokio::time::sleep_until(last + every);
        tokio::pin!(timer);
        loop {
            let next = tokio::select! {
                biased;
                item = inner.next() => Next::Item(item),
                () = &mut timer => Next::Tick,
            };
            match next {
                Next::Item(Some(b)) => {
                    last = tokio::time::Instant::now();
                    yield b;
                }
                Next::Item(None) => return,
                Next::Tick => {
                    let due = last + every;
                    if tokio::time::Instant::now() >= due {
                        last = tokio::time::Instant::now();
                        timer.as_mut().reset(last + every);
                        yield beat.clone();
                    } else {
                        timer.as_mut().reset(due);
                    }
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::response::typed;

    async fn body(framing: NativeFraming, items: Vec<Result<Value, StreamBreak>>) -> String {
        let events: EventStream = Box::pin(futures_util::stream::iter(
            items.into_iter().map(|i| i.map(|v| typed(&v))),
        ));
        let bytes: Vec<Bytes> = native(events, framing).collect().await;
        bytes.iter().map(|b| String::from_utf8_lossy(b)).collect()
    }

    fn ev(text: &str, finish: Option<&str>) -> Value {
        let mut c = json!({"content": {"role": "model", "parts": [{"text": text}]}});
        if let Some(f) = finish {
            c["finishReason"] = json!(f);
        }
        json!({"response": {"candidates": [c]}, "traceId": "t"})
    }

    #[tokio::test]
    async fn heartbeats_fill_silences_only() {
        let beat = Bytes::from_static(b"beat");
        // A busy stream: no beat between items that come faster than the interval.
        let busy: ByteStream = Box::pin(futures_util::stream::iter(
            (0..100).map(|i| Bytes::from(format!("item{i}"))),
        ));
        let out: Vec<Bytes> = with_heartbeats(busy, beat.clone(), Duration::from_secs(10), false)
            .collect()
            .await;
        assert_eq!(out.len(), 100);
        assert!(out.iter().all(|b| b != &beat));
        // A silence of several intervals gets beats, then the item, then the end.
        let slow: ByteStream = Box::pin(async_stream::stream! {
            yield Bytes::from_static(b"first");
            tokio::time::sleep(Duration::from_millis(400)).await;
            yield Bytes::from_static(b"second");
        });
        let out: Vec<Bytes> = with_heartbeats(slow, beat.clone(), Duration::from_millis(50), true)
            .collect()
            .await;
        assert_eq!(out[0], beat, "the initial beat");
        assert_eq!(out[1], Bytes::from_static(b"first"));
        assert_eq!(out.last(), Some(&Bytes::from_static(b"second")));
        let beats = out[2..out.len() - 1].iter().filter(|b| **b == beat).count();
        assert_eq!(beats, out.len() - 3, "only beats in between: {out:?}");
        // Timers may fire late on a loaded machine, never early: at most 8 in 400 ms.
        assert!(
            (1..=8).contains(&beats),
            "{beats} beats in a 400 ms silence"
        );
    }

    /// Catalogue case 48: native SSE frames carry the unwrapped response and never `[DONE]`;
    /// without `alt=sse` the stream is one JSON array.
    #[tokio::test]
    async fn case_48_native_framing() {
        let sse = body(NativeFraming::Sse, vec![Ok(ev("a", None))]).await;
        assert!(sse.starts_with("data: {\"candidates\""), "{sse}");
        assert!(sse.ends_with("\n\n") && !sse.contains("[DONE]"));

        let array = body(
            NativeFraming::JsonArray,
            vec![Ok(ev("a", None)), Ok(ev("b", Some("STOP")))],
        )
        .await;
        let parsed: Value = serde_json::from_str(&array).expect("array body is JSON");
        assert_eq!(parsed.as_array().map(Vec::len), Some(2));
        assert!(parsed[0].get("response").is_none());
        assert_eq!(parsed[1]["candidates"][0]["finishReason"], "STOP");
        assert_eq!(body(NativeFraming::JsonArray, vec![]).await, "[]");

        let broken = body(
            NativeFraming::JsonArray,
            vec![Ok(ev("a", None)), Err(StreamBreak::Cut("gone".into()))],
        )
        .await;
        let parsed: Value = serde_json::from_str(&broken).expect("still a JSON array");
        assert_eq!(parsed[1]["error"]["code"], 502);
    }
}
