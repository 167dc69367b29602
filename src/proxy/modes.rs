//! The two stream modes selected by model-name prefixes. Both produce ordinary Gemini event
//! streams, so every surface frames them the same way.
//! - Fake streaming: one non-streaming upstream call, re-chunked; heartbeats (added by the
//!   framer) cover the wait.
//! - Anti-truncation: ask for a completion marker, and while a reply ends without it, continue
//!   with the text so far as a prefilled model turn. The marker never reaches the client.
use std::time::Duration;

use futures_util::StreamExt;

use super::dispatch::{self, EventStream, Served, StreamBreak, Upcall};
use crate::convert::{anti_truncation, fake_stream};
use crate::error::GatewayError;
use crate::models::StreamMode;
use crate::state::AppState;
use crate::wire::gemini::{FinishReason, GenerateContentResponse, UsageMetadata};

/// How long fake streaming waits before committing to a 200 stream. A failure inside this
/// window still reaches the client as a proper HTTP error.
const FAKE_STREAM_COMMIT_AFTER: Duration = Duration::from_secs(3);

/// The event stream for a streaming request in the given mode.
/// The events, and who served the first upstream call when that is known before the first
/// byte (always for a normal stream and anti-truncation's first attempt; for a fake stream
/// only when the answer came before the first heartbeat).
pub async fn events(
    state: &AppState,
    call: Upcall,
    mode: StreamMode,
) -> Result<(EventStream, Option<Served>), GatewayError> {
    match mode {
        StreamMode::Normal => {
            let (events, served) = dispatch::stream(state, &call).await?;
            Ok((events, Some(served)))
        }
        StreamMode::FakeStream => fake_stream(state.clone(), call).await,
        StreamMode::AntiTruncation => anti_truncation(state.clone(), call).await,
    }
}

pub async fn fake_stream(
    state: AppState,
    call: Upcall,
) -> Result<(EventStream, Option<Served>), GatewayError> {
    let mut fut = Box::pin(async move { dispatch::unary(&state, &call).await });
    match tokio::time::timeout(FAKE_STREAM_COMMIT_AFTER, &mut fut).await {
        Ok(done) => {
            let (resp, served) = done?;
            Ok((events_of(resp), Some(served)))
        }
        Err(_) => Ok((
            Box::pin(async_stream::stream! {
                match fut.await {
                    Ok((resp, _)) => for ev in fake_stream::native_chunks(&resp) { yield Ok(ev); },
                    Err(e) => yield Err(into_break(e)),
                }
            }),
            None,
        )),
    }
}

fn events_of(resp: GenerateContentResponse) -> EventStream {
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

pub async fn anti_truncation(
    state: AppState,
    mut call: Upcall,
) -> Result<(EventStream, Option<Served>), GatewayError> {
    let max = state.settings.get().anti_truncation_max_attempts.max(1);
    anti_truncation::prepare(&mut call.request);
    let original = call.request.clone();
    let (first, served) = dispatch::stream(&state, &call).await?;
    let events: EventStream = Box::pin(async_stream::stream! {
        let mut events = first;
        // One filter for the whole answer: its collected text is the prefill of every
        // continuation, and its held-back tail is released at the end of each attempt.
        let mut filter = anti_truncation::MarkerFilter::new();
        let mut finish: Option<FinishReason> = None;
        let mut usage: Option<Box<UsageMetadata>> = None;
        let mut attempt = 1;
        loop {
            let mut broke = None;
            while let Some(item) = events.next().await {
                let mut ev = match item { Ok(ev) => ev, Err(b) => { broke = Some(b); break; } };
                if let Some(f) = anti_truncation::take_finish(&mut ev) { finish = Some(f); }
                if let Some(u) = ev.usage_metadata.take() { usage = Some(u); }
                filter.filter_event(&mut ev);
                if anti_truncation::has_visible(&ev) { yield Ok(ev); }
            }
            let tail = filter.flush();
            if !tail.is_empty() {
                yield Ok(anti_truncation::text_event(&tail));
            }
            if let Some(b) = broke { yield Err(b); return; }
            if filter.seen() || attempt >= max { break; }
            attempt += 1;
            tracing::info!(attempt, collected = filter.collected().len(), "reply ended without the completion marker; continuing");
            call.request = anti_truncation::continuation(&original, filter.collected());
            call.accept_empty = true;
            match dispatch::stream(&state, &call).await {
                Ok((s, _)) => events = s,
                Err(e) => { yield Err(into_break(e)); return; }
            }
        }
        let mut last = anti_truncation::text_event("");
        if let Some(c) = last.candidates.first_mut() {
            if let Some(content) = c.content.as_mut() { content.parts.clear(); }
            c.finish_reason = Some(finish.unwrap_or(FinishReason::Stop));
        }
        last.usage_metadata = usage;
        yield Ok(last);
    });
    Ok((events, Some(served)))
}
