//! Gemini-native routes: `models/{model}:generateContent|streamGenerateContent|countTokens|
//! embedContent|batchEmbedContents` under `/v1` and `/v1beta` (the model list is in
//! `model_list`, embeddings in `embeddings`). Errors come back as google.rpc.Status.
use poem::web::{Data, Json, Path, Query, RemoteAddr};
use poem::{Body, IntoResponse, Response, handler};
use serde::Deserialize;
use serde_json::Value;

use super::dispatch::{self, Upcall};
use super::frames::{self, NativeFraming};
use super::meter::Meter;
use super::{body, modes};
use crate::convert::request::{apply_model_features, gemini_native_to_request};
use crate::error::{GatewayError, Surface};
use crate::models::{self, StreamMode};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ActionQuery {
    alt: Option<String>,
}

/// The model actions this gateway serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    GenerateContent,
    StreamGenerateContent,
    CountTokens,
    EmbedContent,
    BatchEmbedContents,
}

impl Method {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "generateContent" => Some(Self::GenerateContent),
            "streamGenerateContent" => Some(Self::StreamGenerateContent),
            "countTokens" => Some(Self::CountTokens),
            "embedContent" => Some(Self::EmbedContent),
            "batchEmbedContents" => Some(Self::BatchEmbedContents),
            _ => None,
        }
    }
}

/// Splits `假流式/gemini-2.5-pro:streamGenerateContent` into model and action; the model part
/// may itself contain `/` (the feature prefixes), so split at the last `:`. An unknown action
/// is a 404 naming it, decided from the path alone, before the body is read.
fn split_action(rest: &str) -> Result<(&str, Method), GatewayError> {
    let (model, name) = rest
        .rsplit_once(':')
        .filter(|(m, a)| !m.is_empty() && !a.is_empty())
        .ok_or_else(|| {
            GatewayError::NotFound(format!(
                "unknown method 'models/{rest}'; expected models/{{model}}:generateContent"
            ))
        })?;
    let method = Method::parse(name).ok_or_else(|| {
        GatewayError::NotFound(format!(
            "method '{name}' is not supported by this gateway; supported: generateContent, \
             streamGenerateContent, countTokens, embedContent, batchEmbedContents"
        ))
    })?;
    Ok((model, method))
}

#[handler]
pub async fn model_action(
    Data(state): Data<&AppState>,
    RemoteAddr(remote): &RemoteAddr,
    Path(rest): Path<String>,
    Query(q): Query<ActionQuery>,
    body: Body,
) -> Response {
    // Checked before anything is metered or read: an unknown path is not a request.
    let (name, method) = match split_action(&rest) {
        Ok(split) => split,
        Err(e) => return e.into_response(Surface::Gemini),
    };
    let mut meter = Meter::new(state, Surface::Gemini, remote);
    match action(state, name, method, q.alt.as_deref(), body, &mut meter).await {
        Ok(r) => r,
        Err(e) => {
            meter.failed(&e);
            e.into_response(Surface::Gemini)
        }
    }
}

async fn action(
    state: &AppState,
    name: &str,
    method: Method,
    alt: Option<&str>,
    body: Body,
    meter: &mut Meter,
) -> Result<Response, GatewayError> {
    let s = state.settings.get();
    let json = body::read_json(body, s.max_body_bytes).await?;
    meter.prompt(&json);
    let model = models::resolve_with(name, &s.model_aliases)
        .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    meter.model(&model)?;
    match method {
        Method::EmbedContent | Method::BatchEmbedContents => {
            let batch = method == Method::BatchEmbedContents;
            return super::embeddings::gemini(state, &model, batch, &json, meter).await;
        }
        _ => {}
    }
    if method == Method::CountTokens {
        let (v, served) = count_tokens(state, &model.base, model.pin, json).await?;
        meter.served(served);
        return Ok(Json(v).into_response());
    }
    let opts = super::convert_options(&s);
    let mut request = gemini_native_to_request(&json, &opts)?;
    apply_model_features(&mut request, &model, &opts);
    let call = Upcall::new(model.base.clone(), request).pinned(model.pin);
    if method == Method::GenerateContent {
        let (resp, served) = dispatch::unary(state, &call).await?;
        meter.served(served);
        meter.tokens(&resp);
        return Ok(Json(resp).into_response());
    }
    let framing = if alt == Some("sse") {
        NativeFraming::Sse
    } else {
        NativeFraming::JsonArray
    };
    meter.stream(true);
    let (events, served) = modes::events(state, call, model.mode).await?;
    if let Some(served) = served {
        meter.served(served);
    }
    let bytes = frames::native(meter.take().watch(events), framing);
    let beat = frames::heartbeat_frame(Some(framing));
    Ok(frames::response(
        frames::with_heartbeats(
            bytes,
            beat,
            super::HEARTBEAT_EVERY,
            model.mode == StreamMode::FakeStream,
        ),
        Some(framing),
    ))
}

/// countTokens accepts `{contents}` or `{generateContentRequest: {...}}` like Google's API.
async fn count_tokens(
    state: &AppState,
    base_model: &str,
    pin: Option<models::Pin>,
    json: Value,
) -> Result<(Value, dispatch::Served), GatewayError> {
    let inner = json.get("generateContentRequest").cloned().unwrap_or(json);
    let contents = inner
        .get("contents")
        .cloned()
        .ok_or_else(|| GatewayError::BadRequest("'contents' is required".into()))?;
    dispatch::count_tokens(state, base_model, pin, &contents).await
}
