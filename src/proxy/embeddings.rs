//! Embeddings: OpenAI's `POST /v1/embeddings`, and Gemini's `models/{m}:embedContent` and
//! `:batchEmbedContents` (reached through `gemini::model_action`). Thin handlers over
//! `convert::embeddings` and `dispatch::embed`; usage is metered like any request.
use poem::web::{Data, Json, RemoteAddr};
use poem::{Body, IntoResponse, Response, handler};
use serde_json::Value;

use super::body;
use super::dispatch::embed::{self as dispatch, prompt_tokens};
use super::meter::Meter;
use crate::convert::embeddings::{
    gemini_batch_request, gemini_batch_response, gemini_embed_request, gemini_embed_response,
    openai_request, openai_response,
};
use crate::error::{GatewayError, Surface};
use crate::google::executor::embed::{EmbedInput, Embedding};
use crate::models::{self, ResolvedModel};
use crate::state::AppState;

#[handler]
pub async fn openai(
    Data(state): Data<&AppState>,
    RemoteAddr(remote): &RemoteAddr,
    body: Body,
) -> Response {
    let mut meter = Meter::new(state, Surface::OpenAi, remote);
    match openai_embeddings(state, body, &mut meter).await {
        Ok(r) => r,
        Err(e) => {
            meter.failed(&e);
            e.into_response(Surface::OpenAi)
        }
    }
}

async fn openai_embeddings(
    state: &AppState,
    body: Body,
    meter: &mut Meter,
) -> Result<Response, GatewayError> {
    let s = state.settings.get();
    let json = body::read_json(body, s.max_body_bytes).await?;
    meter.prompt(&json);
    let req = openai_request(&json)?;
    let model = models::resolve_with(&req.model, &s.model_aliases)
        .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    meter.model(&model)?;
    let (out, tokens) = run(state, &model, &req.inputs, meter).await?;
    Ok(Json(openai_response(
        &model.requested,
        &out,
        req.encoding,
        tokens,
    ))
    .into_response())
}

/// `:embedContent` (`batch` false) or `:batchEmbedContents` for `model`, whose name came from
/// the path; the caller has metered it.
pub(super) async fn gemini(
    state: &AppState,
    model: &ResolvedModel,
    batch: bool,
    json: &Value,
    meter: &mut Meter,
) -> Result<Response, GatewayError> {
    if !batch {
        let input = gemini_embed_request(json)?;
        let (out, _) = run(state, model, std::slice::from_ref(&input), meter).await?;
        let first = out
            .first()
            .ok_or_else(|| GatewayError::Internal("no embedding came back".into()))?;
        return Ok(Json(gemini_embed_response(first)).into_response());
    }
    let (inputs, named) = gemini_batch_request(json)?;
    let aliases = &state.settings.get().model_aliases;
    for (i, name) in named.iter().enumerate() {
        let Some(name) = name else { continue };
        let same = models::resolve_with(name, aliases).is_ok_and(|m| m.base == model.base);
        if !same {
            return Err(GatewayError::BadRequest(format!(
                "requests[{i}].model is '{name}', but every request of a batch must name the \
                 batch's model (models/{})",
                model.base
            )));
        }
    }
    let (out, _) = run(state, model, &inputs, meter).await?;
    Ok(Json(gemini_batch_response(&out)).into_response())
}

/// Checks and embeds `inputs`, noting who served them and the input tokens.
async fn run(
    state: &AppState,
    model: &ResolvedModel,
    inputs: &[EmbedInput],
    meter: &mut Meter,
) -> Result<(Vec<Embedding>, u64), GatewayError> {
    dispatch::check(model, inputs)?;
    let (out, served) = dispatch::embed(state, &model.base, model.pin, inputs).await?;
    meter.served(served);
    let tokens = prompt_tokens(inputs, &out);
    meter.prompt_tokens(tokens);
    Ok((out, tokens))
}
