//! OpenAI's Responses API: `POST /v1/responses` (streamed or not), and `GET` / `DELETE
//! /v1/responses/{id}` on stored responses. Thin handlers over convert + dispatch like the chat
//! route, plus the response store for `store` and `previous_response_id`. Errors use OpenAI's
//! shape, with `param` naming the field at fault.
use bytes::Bytes;
use futures_util::StreamExt;
use poem::web::{Data, Path, RemoteAddr};
use poem::{Body, IntoResponse, Response, handler};
use serde_json::{Value, json};

use super::dispatch::{self, EventStream, Upcall};
use super::frames::{self, ByteStream};
use super::meter::Meter;
use super::{body, modes};
use crate::convert::request::apply_model_features;
use crate::convert::response::ResponseOptions;
use crate::convert::responses::{ResponsesTranslator, responses_to_gemini};
use crate::error::{GatewayError, Surface};
use crate::models::{self, StreamMode};
use crate::responses_store::ResponseStore;
use crate::state::AppState;
use crate::store::now_ms;
use crate::store::responses::StoredRow;
use crate::wire::responses::ResponseStatus;

const SURFACE: Surface = Surface::Responses;

#[handler]
pub async fn create(
    Data(state): Data<&AppState>,
    RemoteAddr(remote): &RemoteAddr,
    body: Body,
) -> Response {
    let mut meter = Meter::new(state, SURFACE, remote);
    match generate(state, body, &mut meter).await {
        Ok(r) => r,
        Err(e) => {
            meter.failed(&e);
            e.into_response(SURFACE)
        }
    }
}

fn invalid(param: &str, message: impl Into<String>) -> GatewayError {
    GatewayError::InvalidParam {
        param: param.to_string(),
        message: message.into(),
    }
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
    let name = json
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("model", "'model' is required"))?;
    let model = models::resolve_with(name, &s.model_aliases)
        .map_err(|e| invalid("model", e.to_string()))?;
    meter.model(&model)?;
    let json = state.remote.inline_responses(json).await?;
    let history = previous_conversation(&state.responses, &json).await?;
    let conv = responses_to_gemini(json, &history, &opts)?;
    let mut request = conv.request;
    apply_model_features(&mut request, &model, &opts);
    let call = Upcall::new(model.base.clone(), request).pinned(model.pin);
    let ropts = ResponseOptions {
        model: model.requested.clone(),
        tool_name_map: conv.tool_name_map,
        return_thoughts: s.return_thoughts && conv.summary,
    };
    let keep = (conv.store && state.responses.enabled()).then(|| {
        let mut conversation = history;
        conversation.extend(conv.input);
        Keep {
            store: state.responses.clone(),
            conversation,
        }
    });
    meter.stream(conv.stream);
    if !conv.stream {
        let (resp, served) = dispatch::unary(state, &call).await?;
        meter.served(served);
        meter.tokens(&resp);
        let mut tr =
            ResponsesTranslator::new(conv.shell, ropts, conv.tools, conv.include_encrypted, false);
        let mut unused = Vec::new();
        tr.on_event(&resp, &mut unused);
        tr.finish(&mut unused);
        let body = serde_json::to_string(&tr.object())
            .map_err(|e| GatewayError::Internal(format!("response does not serialise: {e}")))?;
        if let Some(k) = keep {
            k.save(&tr, body.clone());
        }
        return Ok(json_body(body));
    }
    let (events, served) = modes::events(state, call, model.mode).await?;
    if let Some(served) = served {
        meter.served(served);
    }
    let events = meter.take().watch(events);
    let tr = ResponsesTranslator::new(conv.shell, ropts, conv.tools, conv.include_encrypted, true);
    Ok(frames::response(
        frames::with_heartbeats(
            frame(events, tr, keep),
            frames::heartbeat_frame(None),
            super::HEARTBEAT_EVERY,
            model.mode == StreamMode::FakeStream,
        ),
        None,
    ))
}

fn json_body(body: String) -> Response {
    Response::builder()
        .content_type("application/json; charset=utf-8")
        .body(body)
}

/// The conversation `previous_response_id` continues: the stored response's input items
/// (earlier turns included) and its output items.
async fn previous_conversation(
    store: &ResponseStore,
    body: &Value,
) -> Result<Vec<Value>, GatewayError> {
    let id = match body.get("previous_response_id") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(id)) if !id.trim().is_empty() => id.trim(),
        Some(_) => {
            return Err(invalid(
                "previous_response_id",
                "'previous_response_id' must be a response id (resp_...)",
            ));
        }
    };
    let row = store
        .get(id)
        .await
        .map_err(|e| GatewayError::Internal(format!("reading stored responses: {e}")))?;
    let Some(row) = row else {
        let why = if store.enabled() {
            ""
        } else {
            " (responses are not stored here: RESPONSES_STORE_DAYS is 0)"
        };
        return Err(invalid(
            "previous_response_id",
            format!("Previous response with id '{id}' not found{why}."),
        ));
    };
    let read = |text: &str| -> Result<Vec<Value>, GatewayError> {
        serde_json::from_str(text)
            .map_err(|e| GatewayError::Internal(format!("stored response {id} is unreadable: {e}")))
    };
    let mut items = read(&row.conversation_json)?;
    items.extend(read(&row.output_json)?);
    Ok(items)
}

/// What storing a finished response needs.
struct Keep {
    store: ResponseStore,
    /// The input items up to this response: the previous conversation and this input.
    conversation: Vec<Value>,
}

impl Keep {
    /// Stores a completed or incomplete response (a failed one has nothing to continue from).
    fn save(&self, tr: &ResponsesTranslator, response_json: String) {
        if !matches!(
            tr.status(),
            ResponseStatus::Completed | ResponseStatus::Incomplete
        ) {
            return;
        }
        let (Ok(conversation_json), Ok(output_json)) = (
            serde_json::to_string(&self.conversation),
            serde_json::to_string(tr.kept_items()),
        ) else {
            tracing::warn!(id = tr.id(), "response not stored: it does not serialise");
            return;
        };
        self.store.put(StoredRow {
            id: tr.id().to_string(),
            created_at: now_ms(),
            response_json,
            conversation_json,
            output_json,
        });
    }
}

/// Responses SSE: `event: <type>` + `data: <json>` per event. A break mid-stream ends with
/// `response.failed` carrying the error, never a silent end.
fn frame(mut events: EventStream, mut tr: ResponsesTranslator, keep: Option<Keep>) -> ByteStream {
    Box::pin(async_stream::stream! {
        let mut buf = Vec::with_capacity(1024);
        tr.start(&mut buf);
        yield Bytes::from(std::mem::take(&mut buf));
        while let Some(item) = events.next().await {
            match item {
                Ok(ev) => tr.on_event(&ev, &mut buf),
                Err(b) => {
                    tracing::warn!(error = %b.message(), "stream ended early");
                    tr.fail(&b.message(), b.status(), &mut buf);
                }
            }
            if !buf.is_empty() {
                yield Bytes::from(std::mem::take(&mut buf));
            }
            if tr.status() == ResponseStatus::Failed {
                return;
            }
        }
        tr.finish(&mut buf);
        if let Some(k) = &keep
            && let Ok(json) = serde_json::to_string(&tr.object())
        {
            k.save(&tr, json);
        }
        yield Bytes::from(buf);
    })
}

#[handler]
pub async fn retrieve(Data(state): Data<&AppState>, Path(id): Path<String>) -> Response {
    match state.responses.get(&id).await {
        Ok(Some(row)) => json_body(row.response_json.clone()),
        Ok(None) => not_found(&id),
        Err(e) => {
            GatewayError::Internal(format!("reading stored responses: {e}")).into_response(SURFACE)
        }
    }
}

#[handler]
pub async fn delete(Data(state): Data<&AppState>, Path(id): Path<String>) -> Response {
    match state.responses.delete(&id).await {
        Ok(true) => poem::web::Json(json!({"id": id, "object": "response", "deleted": true}))
            .into_response(),
        Ok(false) => not_found(&id),
        Err(e) => GatewayError::Internal(format!("deleting a stored response: {e}"))
            .into_response(SURFACE),
    }
}

fn not_found(id: &str) -> Response {
    GatewayError::NotFound(format!("Response with id '{id}' not found.")).into_response(SURFACE)
}
