//! The Gemini API (`generativelanguage`, v1beta) for AI Studio keys: models list and
//! detail, generation, streaming, countTokens and embeddings. Bodies are the bare
//! `GenerateContentRequest` / `GenerateContentResponse`, without Code Assist's envelope.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use poem::Response;
use serde_json::{Value, json};

use super::errors::{self as official_errors, Family, Rejection};
use super::keys::{self, KeyCaller};
use super::{OfficialCall, catalog, embeddings};
use crate::simulator::errors::{invalid_argument, json_response, not_found};
use crate::simulator::faults::{Endpoint, Fault, Upstream};
use crate::simulator::http::Ctx;
use crate::simulator::reply::{self, ReplyOptions, tokens};
use crate::simulator::respond::{self, Flavor, Meta};
use crate::simulator::state::Inner;
use crate::simulator::validate::{self, Dialect};

const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 1000;
const MAX_BATCH: usize = 100;

fn reject((status, body): Rejection) -> Response {
    json_response(status, &body)
}

fn bad(message: &str) -> Rejection {
    (400, invalid_argument(message))
}

pub(super) fn handle(ctx: &Ctx, call: &OfficialCall, fault: Option<&Fault>) -> Response {
    let rpc = official_errors::rpc_name(Upstream::GeminiApi, call.endpoint);
    let caller = {
        let inner = ctx.state.lock();
        keys::authenticate(&inner, ctx.api_key.as_deref(), Upstream::GeminiApi, &rpc)
    };
    let caller = match caller {
        Ok(c) => c,
        Err(r) => return reject(r),
    };
    let model = call.model.as_deref().unwrap_or_default();
    let result = match call.endpoint {
        Endpoint::ListModels => list_models(ctx),
        Endpoint::GetModel => get_model(ctx, model),
        Endpoint::GenerateContent => return generate(ctx, &caller, model, fault, false),
        Endpoint::StreamGenerateContent => return generate(ctx, &caller, model, fault, true),
        Endpoint::CountTokens => count_tokens(ctx, &caller, model),
        Endpoint::EmbedContent => embed_content(ctx, &caller, model),
        Endpoint::BatchEmbedContents => batch_embed(ctx, &caller, model),
        _ => Err((404, not_found())),
    };
    match result {
        Ok(v) => json_response(200, &v),
        Err(r) => reject(r),
    }
}

/// The model must exist and serve `method`; then the key's per-model denial applies.
fn gate(inner: &Inner, caller: &KeyCaller, model: &str, method: &str) -> Result<(), Rejection> {
    let listed = catalog::gemini_api_models(inner).iter().any(|m| m == model);
    if !listed || !catalog::supports(model, method) {
        return Err(official_errors::model_not_found(model, method));
    }
    if caller.denied_models.iter().any(|m| m == model) {
        return Err(official_errors::permission_denied());
    }
    Ok(())
}

fn admit(
    inner: &mut Inner,
    caller: &KeyCaller,
    model: &str,
    tokens: u64,
    family: Family,
) -> Result<(), Rejection> {
    inner
        .official
        .admit(&caller.project, model, tokens, Utc::now())
        .map_err(|e| {
            official_errors::quota_exceeded(family, model, &e.violations, e.retry_after, true)
        })
}

fn page_token(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("sim-models:{offset}"))
}

fn page_offset(token: &str) -> Option<usize> {
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("sim-models:")?
        .parse()
        .ok()
}

/// `pageSize` absent or 0 means 50; above 1000 means 1000; the last page has no token.
fn list_models(ctx: &Ctx) -> Result<Value, Rejection> {
    let size = match ctx.query_param("pageSize") {
        None => DEFAULT_PAGE,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n <= 0 => DEFAULT_PAGE,
            Ok(n) => usize::try_from(n).unwrap_or(MAX_PAGE).min(MAX_PAGE),
            Err(_) => {
                return Err(bad(&format!(
                    "Invalid value at 'page_size' (TYPE_INT32), \"{s}\""
                )));
            }
        },
    };
    let start = match ctx.query_param("pageToken").filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => page_offset(&t).ok_or_else(|| bad("Invalid page token."))?,
    };
    let all = catalog::gemini_api_models(&ctx.state.lock());
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(size)
        .map(|m| catalog::model_json(m))
        .collect();
    let mut body = json!({ "models": page });
    if start + size < all.len() {
        body["nextPageToken"] = json!(page_token(start + size));
    }
    Ok(body)
}

fn get_model(ctx: &Ctx, model: &str) -> Result<Value, Rejection> {
    let listed = catalog::gemini_api_models(&ctx.state.lock())
        .iter()
        .any(|m| m == model);
    if !listed {
        return Err(official_errors::model_not_found(model, "getModel"));
    }
    Ok(catalog::model_json(model))
}

fn generate(
    ctx: &Ctx,
    caller: &KeyCaller,
    model: &str,
    fault: Option<&Fault>,
    stream: bool,
) -> Response {
    let Some(body) = ctx.json() else {
        return reject(bad("Invalid JSON payload received. Unexpected token."));
    };
    let (reply, pacing) = {
        let mut inner = ctx.state.lock();
        let checked = gate(&inner, caller, model, "generateContent")
            .and_then(|()| validate::official_request(&inner, model, body, Dialect::GeminiApi));
        if let Err(r) = checked {
            return reject(r);
        }
        let prompt = tokens(reply::prompt_chars(body)).max(1);
        if let Err(r) = admit(&mut inner, caller, model, prompt, Family::Generate) {
            return reject(r);
        }
        let opts = ReplyOptions {
            ignore_done: matches!(fault, Some(Fault::IgnoreDoneMarker)),
        };
        let reply = reply::build(model, body, &opts, || inner.issue_signature());
        (reply, inner.pacing.clone())
    };
    let meta = Meta::new(Flavor::GeminiApi, model);
    let sse = ctx.query_param("alt").as_deref() == Some("sse");
    respond::answer(&meta, &reply, fault, stream, sse, &pacing)
}

/// `{contents}` or `{generateContentRequest}` (whose system instruction counts too), not both.
fn count_tokens(ctx: &Ctx, caller: &KeyCaller, model: &str) -> Result<Value, Rejection> {
    gate(&ctx.state.lock(), caller, model, "countTokens")?;
    let body = ctx.json().cloned().unwrap_or(Value::Null);
    let request = match (body.get("contents"), body.get("generateContentRequest")) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "* CountTokensRequest: contents and generate_content_request cannot both be set.\n",
            ));
        }
        (Some(contents), None) => json!({ "contents": contents }),
        (None, Some(gcr)) => {
            let named = gcr.get("model").and_then(Value::as_str);
            if named.is_some_and(|m| m != format!("models/{model}")) {
                return Err(bad(
                    "* CountTokensRequest.generate_content_request.model: must match the model in the URL.\n",
                ));
            }
            gcr.clone()
        }
        (None, None) => {
            return Err(bad(
                "* CountTokensRequest: either contents or generate_content_request must be set.\n",
            ));
        }
    };
    let total = tokens(reply::prompt_chars(&request));
    Ok(
        json!({"totalTokens": total, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]}),
    )
}

/// One checked `EmbedContentRequest`: its text, dimensionality and tokens.
struct EmbedInput {
    text: String,
    dims: usize,
    tokens: u64,
}

impl EmbedInput {
    /// `at` prefixes field paths in errors (batch items).
    fn parse(model: &str, request: &Value, at: &str) -> Result<Self, Rejection> {
        let text = request
            .get("content")
            .and_then(embeddings::content_text)
            .ok_or_else(|| bad(&format!("* {at}content: content is not specified\n")))?;
        let opts = embeddings::EmbedOptions {
            task_type: request.get("taskType").and_then(Value::as_str),
            title: request.get("title").and_then(Value::as_str),
            dims: request.get("outputDimensionality"),
        };
        let dims = embeddings::check_options(&opts, catalog::embedding_dims(model))?;
        let tokens = tokens(text.chars().count());
        Ok(Self { text, dims, tokens })
    }

    fn values(&self) -> Vec<f64> {
        embeddings::embedding_values(&self.text, self.dims)
    }
}

fn embed_content(ctx: &Ctx, caller: &KeyCaller, model: &str) -> Result<Value, Rejection> {
    let body = ctx.json().cloned().unwrap_or(Value::Null);
    let input = {
        let mut inner = ctx.state.lock();
        gate(&inner, caller, model, "embedContent")?;
        let input = EmbedInput::parse(model, &body, "EmbedContentRequest.")?;
        admit(&mut inner, caller, model, input.tokens, Family::Embed)?;
        input
    };
    Ok(json!({"embedding": {"values": input.values()}}))
}

/// At most 100 requests, each naming the batch's model; one embedding each, in order. The
/// vectors are computed after the lock is released: a full batch is 300k values.
fn batch_embed(ctx: &Ctx, caller: &KeyCaller, model: &str) -> Result<Value, Rejection> {
    let body = ctx.json().cloned().unwrap_or(Value::Null);
    let inputs = {
        let mut inner = ctx.state.lock();
        gate(&inner, caller, model, "batchEmbedContents")?;
        let requests = body
            .get("requests")
            .and_then(Value::as_array)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| {
                bad("* BatchEmbedContentsRequest.requests: requests is not specified\n")
            })?;
        if requests.len() > MAX_BATCH {
            return Err(bad(
                "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n",
            ));
        }
        let mut inputs = Vec::with_capacity(requests.len());
        for (i, r) in requests.iter().enumerate() {
            if r.get("model").and_then(Value::as_str) != Some(&format!("models/{model}")) {
                return Err(bad(&format!(
                    "* BatchEmbedContentsRequest.requests[{i}].model: the model of each request must be the model of the batch (models/{model})\n"
                )));
            }
            let at = format!("BatchEmbedContentsRequest.requests[{i}].");
            inputs.push(EmbedInput::parse(model, r, &at)?);
        }
        let total = inputs.iter().map(|i| i.tokens).sum();
        admit(&mut inner, caller, model, total, Family::Embed)?;
        inputs
    };
    let out: Vec<Value> = inputs
        .iter()
        .map(|i| json!({ "values": i.values() }))
        .collect();
    Ok(json!({ "embeddings": out }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        assert_eq!(page_offset(&page_token(150)), Some(150));
        assert_eq!(page_offset("not-a-token"), None);
    }
}
