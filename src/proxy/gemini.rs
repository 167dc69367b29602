//! Gemini-native routes: `models/{model}:generateContent|streamGenerateContent|countTokens`
//! and the model list, under `/v1` and `/v1beta`. Errors come back as google.rpc.Status.
use poem::web::{Data, Json, Path, Query, RemoteAddr};
use poem::{Body, IntoResponse, Response, handler};
use serde::Deserialize;
use serde_json::{Value, json};

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

/// Splits `假流式/gemini-2.5-pro:streamGenerateContent` into model and action; the model part
/// may itself contain `/` (the feature prefixes), so split at the last `:`.
fn split_action(rest: &str) -> Result<(&str, &str), GatewayError> {
    rest.rsplit_once(':')
        .filter(|(m, a)| !m.is_empty() && !a.is_empty())
        .ok_or_else(|| {
            GatewayError::NotFound(format!(
                "unknown method 'models/{rest}'; expected models/{{model}}:generateContent"
            ))
        })
}

#[handler]
pub async fn model_action(
    Data(state): Data<&AppState>,
    RemoteAddr(remote): &RemoteAddr,
    Path(rest): Path<String>,
    Query(q): Query<ActionQuery>,
    body: Body,
) -> Response {
    let mut meter = Meter::new(state, Surface::Gemini, remote);
    match action(state, &rest, q.alt.as_deref(), body, &mut meter).await {
        Ok(r) => r,
        Err(e) => {
            meter.failed(&e);
            e.into_response(Surface::Gemini)
        }
    }
}

async fn action(
    state: &AppState,
    rest: &str,
    alt: Option<&str>,
    body: Body,
    meter: &mut Meter,
) -> Result<Response, GatewayError> {
    let (name, method) = split_action(rest)?;
    let s = state.settings.get();
    let json = body::read_json(body, s.max_body_bytes).await?;
    let model = models::resolve_with(name, &s.model_aliases)
        .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    meter.model(&model.requested, &model.base);
    if method == "countTokens" {
        let (v, served) = count_tokens(state, &model.base, model.pin, json).await?;
        meter.served(served);
        return Ok(Json(v).into_response());
    }
    let opts = super::convert_options(&s);
    let mut request = gemini_native_to_request(&json, &opts)?;
    apply_model_features(&mut request, &model, &opts);
    let call = Upcall::new(model.base.clone(), request).pinned(model.pin);
    match method {
        "generateContent" => {
            let (resp, served) = dispatch::unary(state, &call).await?;
            meter.served(served);
            meter.tokens(&resp);
            Ok(Json(resp).into_response())
        }
        "streamGenerateContent" => {
            let framing = if alt == Some("sse") {
                NativeFraming::Sse
            } else {
                NativeFraming::JsonArray
            };
            meter.stream(true);
            let events = modes::events(state, call, model.mode).await?;
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
        other => Err(GatewayError::NotFound(format!(
            "unsupported method '{other}'"
        ))),
    }
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

#[handler]
pub async fn list_models(Data(state): Data<&AppState>) -> Json<Value> {
    let s = state.settings.get();
    Json(
        json!({"models": models::gemini_model_entries(&s.base_models, &state.pool.pins_present())}),
    )
}

#[handler]
pub async fn get_model(Data(state): Data<&AppState>, Path(rest): Path<String>) -> Response {
    let s = state.settings.get();
    let wanted = format!("models/{}", rest.trim_start_matches("models/"));
    models::gemini_model_entries(&s.base_models, &state.pool.pins_present())
        .into_iter()
        .find(|m| m.get("name").and_then(Value::as_str) == Some(wanted.as_str()))
        .map(|m| Json(m).into_response())
        .unwrap_or_else(|| GatewayError::ModelNotFound(rest).into_response(Surface::Gemini))
}
