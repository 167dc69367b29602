//! The two stream modes selected by model-name prefixes. Both produce ordinary Gemini event
//! streams, so every surface frames them the same way.
//! - Fake streaming: one non-streaming upstream call, re-chunked; heartbeats (added by the
//!   framer) cover the wait.
//! - Anti-truncation: ask for a completion marker, and while a reply ends without it, continue
//!   with the text so far as a prefilled model turn. The marker never reaches the client.
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use super::dispatch::{self, EventStream, StreamBreak, Upcall};
use crate::convert::{anti_truncation, fake_stream};
use crate::error::GatewayError;
use crate::models::StreamMode;
use crate::state::AppState;

/// How long fake streaming waits before committing to a 200 stream. A failure inside this
/// window still reaches the client as a proper HTTP error.
const FAKE_STREAM_COMMIT_AFTER: Duration = Duration::from_secs(3);

/// The event stream for a streaming request in the given mode.
pub async fn events(
    state: &AppState,
    call: Upcall,
    mode: StreamMode,
) -> Result<EventStream, GatewayError> {
    match mode {
        StreamMode::Normal => Ok(dispatch::stream(state, &call).await?.0),
        StreamMode::FakeStream => fake_stream(state.clone(), call).await,
        StreamMode::AntiTruncation => anti_truncation(state.clone(), call).await,
    }
}

pub async fn fake_stream(state: AppState, call: Upcall) -> Result<EventStream, GatewayError> {
    let mut fut = Box::pin(async move { dispatch::unary(&state, &call).await.map(|(v, _)| v) });
    match tokio::time::timeout(FAKE_STREAM_COMMIT_AFTER, &mut fut).await {
        Ok(done) => Ok(events_of(done?)),
        Err(_) => Ok(Box::pin(async_stream::stream! {
            match fut.await {
                Ok(resp) => for ev in fake_stream::native_chunks(&resp) { yield Ok(ev); },
                Err(e) => yield Err(into_break(e)),
            }
        })),
    }
}

fn events_of(resp: Value) -> EventStream {
    Box::pin(futures_util::stream::iter(
        fake_stream::native_chunks(&resp).into_iter().map(Ok),
    ))
}

pub fn into_break(e: GatewayError) -> StreamBreak {
    match e {
        GatewayError::Upstream(u) => StreamBreak::Upstream(u),
        other => StreamBreak::Cut(other.to_string()),
    }
}

/// Text parts that are not thoughts: the only text that is checked for the marker and replayed.
fn answer_texts(ev: &mut Value) -> Vec<&mut Value> {
    let mut out = Vec::new();
    if let Some(cands) = ev.get_mut("candidates").and_then(Value::as_array_mut) {
        for c in cands {
            if let Some(parts) = c
                .pointer_mut("/content/parts")
                .and_then(Value::as_array_mut)
            {
                for p in parts {
                    if p.get("thought").and_then(Value::as_bool) != Some(true)
                        && p.get("text").is_some()
                    {
                        out.push(p);
                    }
                }
            }
        }
    }
    out
}

/// Removes and returns the candidates' finishReason, so only the very last attempt ends the
/// client's stream.
fn take_finish(ev: &mut Value) -> Option<Value> {
    let cands = ev.get_mut("candidates")?.as_array_mut()?;
    cands
        .iter_mut()
        .filter_map(|c| c.as_object_mut()?.remove("finishReason"))
        .last()
}

fn has_visible(ev: &Value) -> bool {
    ev.get("candidates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            c.pointer("/content/parts")
                .and_then(Value::as_array)
                .is_some_and(|ps| {
                    ps.iter().any(|p| {
                        p.get("text").and_then(Value::as_str) != Some("")
                            || p.as_object().is_some_and(|o| o.len() > 1)
                    })
                })
        })
        || ev.get("usageMetadata").is_some()
}

pub async fn anti_truncation(
    state: AppState,
    mut call: Upcall,
) -> Result<EventStream, GatewayError> {
    let max = state.settings.get().anti_truncation_max_attempts.max(1);
    anti_truncation::prepare(&mut call.request);
    let original = call.request.clone();
    let first = dispatch::stream(&state, &call).await?.0;
    Ok(Box::pin(async_stream::stream! {
        let mut events = first;
        let mut collected = String::new();
        let mut finish: Option<Value> = None;
        let mut usage: Option<Value> = None;
        let mut attempt = 1;
        loop {
            let mut filter = anti_truncation::MarkerFilter::new();
            let mut broke = None;
            while let Some(item) = events.next().await {
                let mut ev = match item { Ok(ev) => ev, Err(b) => { broke = Some(b); break; } };
                if let Some(f) = take_finish(&mut ev) { finish = Some(f); }
                if let Some(u) = ev.as_object_mut().and_then(|o| o.remove("usageMetadata")) { usage = Some(u); }
                for part in answer_texts(&mut ev) {
                    let raw = part["text"].as_str().unwrap_or_default().to_string();
                    collected.push_str(&raw);
                    part["text"] = Value::String(filter.push(&raw));
                }
                if has_visible(&ev) { yield Ok(ev); }
            }
            let tail = filter.flush();
            if !tail.is_empty() {
                yield Ok(json!({"candidates": [{"content": {"role": "model", "parts": [{"text": tail}]}, "index": 0}]}));
            }
            if let Some(b) = broke { yield Err(b); return; }
            if filter.seen() || attempt >= max { break; }
            attempt += 1;
            tracing::info!(attempt, collected = collected.len(), "reply ended without the completion marker; continuing");
            call.request = anti_truncation::continuation(&original, &collected);
            call.accept_empty = true;
            match dispatch::stream(&state, &call).await {
                Ok((s, _)) => events = s,
                Err(e) => { yield Err(into_break(e)); return; }
            }
        }
        let mut last = json!({"candidates": [{"content": {"role": "model", "parts": []}, "finishReason": finish.unwrap_or(json!("STOP")), "index": 0}]});
        if let Some(u) = usage { last["usageMetadata"] = u; }
        yield Ok(last);
    }))
}
