//! Vertex AI (`aiplatform`): publisher-model generation, streaming and countTokens
//! for service-account bearer tokens (project paths) and express keys (`/v1/publishers/...`),
//! plus the embedding methods `:predict` and `:embedContent`, which express mode lacks.

use chrono::Utc;
use poem::Response;
use serde_json::{Value, json};

use super::errors::{self as official_errors, Rejection};
use super::keys;
use super::types::{CLOUD_PLATFORM_SCOPE, VERTEX_SERVICE};
use super::{OfficialCall, catalog, embeddings};
use crate::simulator::errors::{invalid_argument, json_response, not_found};
use crate::simulator::faults::{Endpoint, Fault, Upstream};
use crate::simulator::http::Ctx;
use crate::simulator::reply::{self, ReplyOptions, tokens};
use crate::simulator::respond::{self, Flavor, Meta};
use crate::simulator::state::{Inner, TokenProblem};
use crate::simulator::validate::{self, Dialect};

const MAX_INSTANCES: usize = 250;
const MAX_REQUEST_TOKENS: u64 = 20_000;
const GEMINI_VIA_PREDICT: &str = "Gemini cannot be accessed through Vertex Predict/RawPredict API. Please follow https://cloud.google.com/vertex-ai/docs/generative-ai/start/quickstarts/quickstart-multimodal for Gemini usage";

fn reject((status, body): Rejection) -> Response {
    json_response(status, &body)
}

fn bad(message: &str) -> Rejection {
    (400, invalid_argument(message))
}

/// Who is calling, and the project the call is charged to.
struct Caller {
    project: String,
    denied_models: Vec<String>,
}

/// What the call names: the model's resource path, its location (`global` for express).
struct Target<'a> {
    model: &'a str,
    location: &'a str,
    resource: String,
}

pub(super) fn handle(ctx: &Ctx, call: &OfficialCall, fault: Option<&Fault>) -> Response {
    let model = call.model.as_deref().unwrap_or_default();
    let target = match (&call.project, &call.location) {
        (Some(p), Some(l)) => Target {
            model,
            location: l,
            resource: format!("projects/{p}/locations/{l}/publishers/google/models/{model}"),
        },
        _ => Target {
            model,
            location: "global",
            resource: format!("publishers/google/models/{model}"),
        },
    };
    let rpc = official_errors::rpc_name(call.upstream, call.endpoint);
    let caller = {
        let inner = ctx.state.lock();
        match call.upstream {
            Upstream::VertexExpress => keys::authenticate(
                &inner,
                ctx.api_key.as_deref(),
                Upstream::VertexExpress,
                &rpc,
            )
            .map(|k| Caller {
                project: k.project,
                denied_models: k.denied_models,
            }),
            _ => bearer_caller(&inner, ctx.bearer.as_deref(), call, &target, &rpc),
        }
    };
    let caller = match caller {
        Ok(c) => c,
        Err(r) => return reject(r),
    };
    let express = call.upstream == Upstream::VertexExpress;
    let result = match call.endpoint {
        Endpoint::GenerateContent => return generate(ctx, &caller, &target, fault, false),
        Endpoint::StreamGenerateContent => return generate(ctx, &caller, &target, fault, true),
        Endpoint::CountTokens => count_tokens(ctx, &caller, &target),
        Endpoint::Predict | Endpoint::EmbedContent if express => {
            Err(official_errors::publisher_model_not_found(&target.resource))
        }
        Endpoint::Predict => predict(ctx, &caller, &target),
        Endpoint::EmbedContent => embed_content(ctx, &caller, &target),
        _ => Err((404, not_found())),
    };
    match result {
        Ok(v) => json_response(200, &v),
        Err(r) => reject(r),
    }
}

/// A live bearer token with the cloud-platform scope, whose service account belongs to the
/// path's project, in a project with Vertex AI enabled.
fn bearer_caller(
    inner: &Inner,
    bearer: Option<&str>,
    call: &OfficialCall,
    target: &Target<'_>,
    rpc: &str,
) -> Result<Caller, Rejection> {
    let Some(token) = bearer else {
        return Err(official_errors::unauthenticated(
            VERTEX_SERVICE,
            rpc,
            "CREDENTIALS_MISSING",
        ));
    };
    let entry = inner.live_token(token).map_err(|p| {
        let reason = match p {
            TokenProblem::Unknown => "ACCESS_TOKEN_INVALID",
            TokenProblem::Expired | TokenProblem::Revoked => "ACCESS_TOKEN_EXPIRED",
        };
        official_errors::unauthenticated(VERTEX_SERVICE, rpc, reason)
    })?;
    if !entry.scope.split(' ').any(|s| s == CLOUD_PLATFORM_SCOPE) {
        return Err(official_errors::scope_insufficient(VERTEX_SERVICE, rpc));
    }
    let project = call.project.clone().unwrap_or_default();
    let member = inner
        .official
        .account(&entry.email)
        .is_some_and(|a| a.seeded.project_id == project);
    if !member {
        return Err(official_errors::iam_denied(&target.resource));
    }
    if !inner.official.service_enabled(&project, VERTEX_SERVICE) {
        return Err(official_errors::service_disabled(VERTEX_SERVICE, &project));
    }
    Ok(Caller {
        project,
        denied_models: Vec::new(),
    })
}

/// The model must be a Vertex publisher model available at this location.
fn gate(inner: &Inner, caller: &Caller, target: &Target<'_>) -> Result<(), Rejection> {
    let known = catalog::vertex_models(inner)
        .iter()
        .any(|m| m == target.model);
    let here = target.location == "global" || !inner.official.is_global_only(target.model);
    if !known || !here {
        return Err(official_errors::publisher_model_not_found(&target.resource));
    }
    if caller.denied_models.iter().any(|m| m == target.model) {
        return Err(official_errors::permission_denied());
    }
    Ok(())
}

/// Vertex's 429 carries no quota details, whatever limit was hit.
fn admit(inner: &mut Inner, caller: &Caller, model: &str, tokens: u64) -> Result<(), Rejection> {
    inner
        .official
        .admit(&caller.project, model, tokens, Utc::now())
        .map_err(|_| official_errors::vertex_exhausted(false))
}

fn generate(
    ctx: &Ctx,
    caller: &Caller,
    target: &Target<'_>,
    fault: Option<&Fault>,
    stream: bool,
) -> Response {
    let model = target.model;
    let Some(body) = ctx.json() else {
        return reject(bad("Invalid JSON payload received. Unexpected token."));
    };
    let (reply, pacing) = {
        let mut inner = ctx.state.lock();
        let checked = gate(&inner, caller, target).and_then(|()| {
            if catalog::is_embedding(model) {
                return Err(official_errors::publisher_model_not_found(&target.resource));
            }
            validate::official_request(&inner, model, body, Dialect::Vertex)
        });
        if let Err(r) = checked {
            return reject(r);
        }
        let prompt = tokens(reply::prompt_chars(body)).max(1);
        if let Err(r) = admit(&mut inner, caller, model, prompt) {
            return reject(r);
        }
        let opts = ReplyOptions {
            ignore_done: matches!(fault, Some(Fault::IgnoreDoneMarker)),
        };
        let reply = reply::build(model, body, &opts, || inner.issue_signature());
        (reply, inner.pacing.clone())
    };
    let meta = Meta::new(Flavor::Vertex, model);
    let sse = ctx.query_param("alt").as_deref() == Some("sse");
    respond::answer(&meta, &reply, fault, stream, sse, &pacing)
}

fn count_tokens(ctx: &Ctx, caller: &Caller, target: &Target<'_>) -> Result<Value, Rejection> {
    gate(&ctx.state.lock(), caller, target)?;
    let body = ctx.json().cloned().unwrap_or(Value::Null);
    if body
        .get("contents")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return Err(bad("contents is not specified"));
    }
    let chars = reply::prompt_chars(&body);
    let total = tokens(chars);
    Ok(
        json!({"totalTokens": total, "totalBillableCharacters": chars, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]}),
    )
}

/// One checked `:predict` instance, already cut to the model's input limit.
struct Instance {
    text: String,
    tokens: u64,
    truncated: bool,
    dims: usize,
}

/// `{instances:[{content, task_type?, title?}], parameters:{autoTruncate?,
/// outputDimensionality?}}`: at most 250 instances (one for `gemini-embedding-001`) and 20k
/// tokens; each input is cut to the model's limit unless `autoTruncate` is false. The lock is
/// held only to check the model and count the quota, not while vectors are computed.
fn predict(ctx: &Ctx, caller: &Caller, target: &Target<'_>) -> Result<Value, Rejection> {
    let model = target.model;
    let body = ctx.json().cloned().unwrap_or(Value::Null);
    gate(&ctx.state.lock(), caller, target)?;
    if !catalog::VERTEX_PREDICT.contains(&model) {
        return Err(if model.starts_with("gemini") {
            embeddings::failed_precondition(GEMINI_VIA_PREDICT)
        } else {
            official_errors::publisher_model_not_found(&target.resource)
        });
    }
    let instances = body
        .get("instances")
        .and_then(Value::as_array)
        .filter(|i| !i.is_empty())
        .ok_or_else(|| bad("instances is not specified"))?;
    let n = instances.len();
    if model == "gemini-embedding-001" && n > 1 {
        return Err(bad(&format!(
            "Unable to submit request because the model {model} supports only one instance per request: batchSize must be 1 but the entered value was {n}. Update the value and try again."
        )));
    }
    if n > MAX_INSTANCES {
        return Err(bad(&format!(
            "Unable to submit request because it has a batchSize value of {n} but the supported range is from 1 (inclusive) to {} (exclusive). Update the value and try again.",
            MAX_INSTANCES + 1
        )));
    }
    let params = body.get("parameters");
    let auto_truncate = params
        .and_then(|p| p.get("autoTruncate"))
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let limit = catalog::embedding_input_limit(model);
    let mut inputs = Vec::with_capacity(n);
    for (i, instance) in instances.iter().enumerate() {
        let text = instance
            .get("content")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(&format!("instances[{i}].content is not specified")))?;
        let opts = embeddings::EmbedOptions {
            task_type: instance.get("task_type").and_then(Value::as_str),
            title: instance.get("title").and_then(Value::as_str),
            dims: params.and_then(|p| p.get("outputDimensionality")),
        };
        let dims = embeddings::check_options(&opts, catalog::embedding_dims(model))?;
        let (kept_text, kept, truncated) = embeddings::truncate(text, limit);
        if truncated && !auto_truncate {
            return Err(embeddings::too_many_tokens(
                tokens(text.chars().count()),
                limit,
            ));
        }
        inputs.push(Instance {
            text: kept_text,
            tokens: kept,
            truncated,
            dims,
        });
    }
    let total_tokens: u64 = inputs.iter().map(|i| i.tokens).sum();
    if total_tokens > MAX_REQUEST_TOKENS {
        return Err(embeddings::too_many_tokens(
            total_tokens,
            MAX_REQUEST_TOKENS,
        ));
    }
    admit(&mut ctx.state.lock(), caller, model, total_tokens)?;
    let billable: usize = inputs.iter().map(|i| i.text.chars().count()).sum();
    let predictions: Vec<Value> = inputs
        .iter()
        .map(|i| {
            json!({"embeddings": {
                "values": embeddings::embedding_values(&i.text, i.dims),
                "statistics": {"truncated": i.truncated, "token_count": i.tokens},
            }})
        })
        .collect();
    Ok(json!({"predictions": predictions, "metadata": {"billableCharacterCount": billable}}))
}

/// `gemini-embedding-2`: one content per request (several parts make one embedding), its
/// options at the top level or in `embedContentConfig`.
fn embed_content(ctx: &Ctx, caller: &Caller, target: &Target<'_>) -> Result<Value, Rejection> {
    let model = target.model;
    let body = ctx.json().cloned().unwrap_or(Value::Null);
    gate(&ctx.state.lock(), caller, target)?;
    if !catalog::VERTEX_EMBED_CONTENT.contains(&model) {
        return Err(embeddings::failed_precondition(&format!(
            "The model {model} does not support embedContent; use predict."
        )));
    }
    let text = body
        .get("content")
        .and_then(embeddings::content_text)
        .ok_or_else(|| bad("content is not specified"))?;
    // The options go in `embedContentConfig` now; the top-level fields are deprecated but
    // still taken. The config wins when both are set.
    let config = body.get("embedContentConfig");
    let option = |name: &str| {
        config
            .and_then(|c| c.get(name))
            .or_else(|| body.get(name))
            .filter(|v| !v.is_null())
    };
    let opts = embeddings::EmbedOptions {
        task_type: option("taskType").and_then(Value::as_str),
        title: option("title").and_then(Value::as_str),
        dims: option("outputDimensionality"),
    };
    let dims = embeddings::check_options(&opts, catalog::embedding_dims(model))?;
    let limit = catalog::embedding_input_limit(model);
    let auto_truncate = option("autoTruncate")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let (kept_text, kept, truncated) = embeddings::truncate(&text, limit);
    if truncated && !auto_truncate {
        return Err(embeddings::too_many_tokens(
            tokens(text.chars().count()),
            limit,
        ));
    }
    admit(&mut ctx.state.lock(), caller, model, kept)?;
    Ok(json!({
        "embedding": {"values": embeddings::embedding_values(&kept_text, dims)},
        "usageMetadata": {"promptTokenCount": kept, "totalTokenCount": kept},
        "truncated": truncated,
    }))
}
