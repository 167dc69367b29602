//! `POST /v1/chat/completions`: a thin handler over convert + dispatch.
use poem::web::{Data, Json, RemoteAddr};
use poem::{Body, IntoResponse, Response, handler};
use serde_json::Value;

use super::dispatch::{self, Upcall};
use super::meter::Meter;
use super::{body, frames, modes};
use crate::convert::detect::is_gemini_native_body;
use crate::convert::request::{apply_model_features, gemini_native_to_request, openai_to_gemini};
use crate::convert::response::{ResponseOptions, gemini_to_openai};
use crate::convert::stream::OpenAiStreamTranslator;
use crate::error::{GatewayError, Surface};
use crate::models::{self, StreamMode};
use crate::state::AppState;

#[handler]
pub async fn chat_completions(
    Data(state): Data<&AppState>,
    RemoteAddr(remote): &RemoteAddr,
    body: Body,
) -> Response {
    let mut meter = Meter::new(state, Surface::OpenAi, remote);
    match chat(state, body, &mut meter).await {
        Ok(r) => r,
        Err(e) => {
            meter.failed(&e);
            e.into_response(Surface::OpenAi)
        }
    }
}

async fn chat(state: &AppState, body: Body, meter: &mut Meter) -> Result<Response, GatewayError> {
    let s = state.settings.get();
    let json = body::read_json(body, s.max_body_bytes).await?;
    meter.prompt(&json);
    let opts = super::convert_options(&s);
    let name = json
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| GatewayError::BadRequest("'model' is required".into()))?;
    let model = models::resolve_with(name, &s.model_aliases)
        .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    meter.model(&model)?;
    let json = state.remote.inline_openai(json).await?;
    // A Gemini-native body is answered in OpenAI format too, as the original advertised.
    let (mut request, tool_name_map, stream, include_usage) = if is_gemini_native_body(&json) {
        let stream = json.get("stream").and_then(Value::as_bool).unwrap_or(false);
        (
            gemini_native_to_request(&json, &opts)?,
            Default::default(),
            stream,
            false,
        )
    } else {
        let c = openai_to_gemini(&json, &opts)?;
        (c.request, c.tool_name_map, c.stream, c.include_usage)
    };
    apply_model_features(&mut request, &model, &opts);
    let call = Upcall::new(model.base.clone(), request).pinned(model.pin);
    let ropts = ResponseOptions {
        model: model.requested.clone(),
        tool_name_map,
        return_thoughts: s.return_thoughts,
    };
    meter.stream(stream);
    if !stream {
        let (resp, served) = dispatch::unary(state, &call).await?;
        meter.served(served);
        meter.tokens(&resp);
        return Ok(Json(gemini_to_openai(&resp, &ropts)).into_response());
    }
    let (events, served) = modes::events(state, call, model.mode).await?;
    if let Some(served) = served {
        meter.served(served);
    }
    let events = meter.take().watch(events);
    let tr = OpenAiStreamTranslator::new(ropts, include_usage);
    let bytes = frames::openai(events, tr);
    Ok(frames::response(
        frames::with_heartbeats(
            bytes,
            frames::heartbeat_frame(None),
            super::HEARTBEAT_EVERY,
            model.mode == StreamMode::FakeStream,
        ),
        None,
    ))
}
