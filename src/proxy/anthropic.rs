//! `POST /v1/messages` and `POST /v1/messages/count_tokens`: the Anthropic Messages surface,
//! thin handlers over convert + dispatch like the OpenAI route. Errors use Anthropic's shape.
use bytes::Bytes;
use futures_util::StreamExt;
use poem::web::{Data, Json, RemoteAddr};
use poem::{Body, IntoResponse, Response, handler};
use serde_json::{Value, json};

use super::dispatch::{self, EventStream, Upcall};
use super::frames::{self, ByteStream};
use super::meter::Meter;
use super::{body, modes};
use crate::convert::anthropic::{
    AnthropicStreamTranslator, anthropic_to_gemini, count_tokens_contents, error_event,
    gemini_to_anthropic, ping_frame, sse_event,
};
use crate::convert::request::apply_model_features;
use crate::convert::response::ResponseOptions;
use crate::error::{GatewayError, Surface};
use crate::models::{self, StreamMode};
use crate::state::AppState;

#[handler]
pub async fn messages(
    Data(state): Data<&AppState>,
    RemoteAddr(remote): &RemoteAddr,
    body: Body,
) -> Response {
    let mut meter = Meter::new(state, Surface::Anthropic, remote);
    match generate(state, body, &mut meter).await {
        Ok(r) => r,
        Err(e) => {
            meter.failed(&e);
            e.into_response(Surface::Anthropic)
        }
    }
}

fn model_name(json: &Value) -> Result<&str, GatewayError> {
    json.get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| GatewayError::BadRequest("'model' is required".into()))
}

async fn generate(
    state: &AppState,
    body: Body,
    meter: &mut Meter,
) -> Result<Response, GatewayError> {
    let s = state.settings.get();
    let json = body::read_json(body, s.max_body_bytes).await?;
    meter.prompt(&json);
    let opts = super::convert_options(&s);
    let model = models::resolve_with(model_name(&json)?, &s.model_aliases)
        .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    meter.model(&model)?;
    let json = state.remote.inline_anthropic(json).await?;
    let converted = anthropic_to_gemini(&json, &opts)?;
    let mut request = converted.request;
    apply_model_features(&mut request, &model, &opts);
    let call = Upcall::new(model.base.clone(), request).pinned(model.pin);
    let ropts = ResponseOptions {
        model: model.requested.clone(),
        tool_name_map: converted.tool_name_map,
        return_thoughts: s.return_thoughts,
    };
    meter.stream(converted.stream);
    if !converted.stream {
        let (resp, served) = dispatch::unary(state, &call).await?;
        meter.served(served);
        meter.tokens(&resp);
        return Ok(Json(gemini_to_anthropic(&resp, &ropts)).into_response());
    }
    let (events, served) = modes::events(state, call, model.mode).await?;
    if let Some(served) = served {
        meter.served(served);
    }
    let events = meter.take().watch(events);
    let bytes = frame(events, AnthropicStreamTranslator::new(ropts));
    Ok(frames::response(
        frames::with_heartbeats(
            bytes,
            Bytes::from(ping_frame()),
            super::HEARTBEAT_EVERY,
            model.mode == StreamMode::FakeStream,
        ),
        None,
    ))
}

/// Anthropic SSE: every event named after its type. A break mid-stream ends with an `error`
/// event (no `message_stop`), so clients see the failure instead of a short answer.
pub fn frame(mut events: EventStream, mut tr: AnthropicStreamTranslator) -> ByteStream {
    Box::pin(async_stream::stream! {
        while let Some(item) = events.next().await {
            match item {
                Ok(ev) => for e in tr.on_event(&ev) { yield Bytes::from(sse_event(&e)); },
                Err(b) => {
                    tracing::warn!(error = %b.message(), "stream ended early");
                    yield Bytes::from(sse_event(&error_event(&b.message(), b.status())));
                    return;
                }
            }
        }
        for e in tr.finish() { yield Bytes::from(sse_event(&e)); }
    })
}

#[handler]
pub async fn count_tokens(
    Data(state): Data<&AppState>,
    RemoteAddr(remote): &RemoteAddr,
    body: Body,
) -> Response {
    let mut meter = Meter::new(state, Surface::Anthropic, remote);
    match count(state, body, &mut meter).await {
        Ok(r) => r,
        Err(e) => {
            meter.failed(&e);
            e.into_response(Surface::Anthropic)
        }
    }
}

async fn count(state: &AppState, body: Body, meter: &mut Meter) -> Result<Response, GatewayError> {
    let s = state.settings.get();
    let json = body::read_json(body, s.max_body_bytes).await?;
    meter.prompt(&json);
    let opts = super::convert_options(&s);
    let model = models::resolve_with(model_name(&json)?, &s.model_aliases)
        .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    meter.model(&model)?;
    let json = state.remote.inline_anthropic(json).await?;
    let contents = count_tokens_contents(&json, &opts)?;
    let (v, served) =
        dispatch::count_tokens(state, &model.base, model.pin, &json!(contents)).await?;
    meter.served(served);
    let total = v
        .get("totalTokens")
        .and_then(Value::as_u64)
        .or_else(|| {
            v.pointer("/usageMetadata/promptTokenCount")
                .and_then(Value::as_u64)
        })
        .ok_or_else(|| GatewayError::Internal("countTokens answered without totalTokens".into()))?;
    Ok(Json(json!({"input_tokens": total})).into_response())
}
