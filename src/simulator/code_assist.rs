//! Generation (`generateContent`, `streamGenerateContent`), `countTokens` and the small Code
//! Assist methods (`retrieveUserQuota`, `fetchAdminControls`, `listExperiments`, ...).

use chrono::{SecondsFormat, Utc};
use poem::Response;
use poem::http::StatusCode;
use serde_json::{Value, json};

use super::errors::{self, JSON_UTF8, json_response};
use super::faults::Fault;
use super::http::Ctx;
use super::reply::{self, ReplyOptions, tokens};
use super::respond::{self, Flavor, Meta};
use super::validate;

pub(crate) async fn generate(ctx: &Ctx, fault: Option<&Fault>, stream: bool) -> Response {
    let method = if stream {
        "StreamGenerateContent"
    } else {
        "GenerateContent"
    };
    let email = match ctx.authed(method) {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let Some(env) = ctx.json() else {
        return json_response(
            400,
            &errors::invalid_argument("Invalid JSON payload received. Unexpected token."),
        );
    };
    let model = env.get("model").and_then(Value::as_str).unwrap_or_default();
    let request = env.get("request").cloned().unwrap_or(Value::Null);
    let (reply, pacing) = {
        let mut inner = ctx.state.lock();
        if let Err((status, body)) = validate::generation(&inner, &email, env) {
            return json_response(status, &body);
        }
        let opts = ReplyOptions {
            ignore_done: matches!(fault, Some(Fault::IgnoreDoneMarker)),
        };
        let reply = reply::build(model, &request, &opts, || inner.issue_signature());
        (reply, inner.pacing.clone())
    };
    let meta = Meta::new(Flavor::CodeAssist, model);
    let sse = ctx.query_param("alt").as_deref() == Some("sse");
    respond::answer(&meta, &reply, fault, stream, sse, &pacing)
}

pub(crate) fn count_tokens(ctx: &Ctx) -> Response {
    if let Err(r) = ctx.authed("CountTokens") {
        return *r;
    }
    let request = ctx
        .json()
        .and_then(|v| v.get("request"))
        .cloned()
        .unwrap_or(Value::Null);
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let model = model.strip_prefix("models/").unwrap_or(model);
    if !model.is_empty() && !ctx.state.lock().models.iter().any(|m| m == model) {
        return json_response(404, &errors::not_found());
    }
    let total = tokens(reply::prompt_chars(&request));
    json_response(
        200,
        &json!({"totalTokens": total, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]}),
    )
}

/// The optional Code Assist methods, unknown paths and methods.
pub(crate) fn other(ctx: &Ctx) -> Response {
    let Some(method) = ctx.path.strip_prefix("/v1internal:").map(str::to_owned) else {
        return json_response(404, &errors::not_found());
    };
    let known = [
        "retrieveUserQuota",
        "fetchAdminControls",
        "listExperiments",
        "recordCodeAssistMetrics",
        "getCodeAssistGlobalUserSetting",
        "setCodeAssistGlobalUserSetting",
    ];
    if !known.contains(&method.as_str()) {
        return json_response(404, &errors::not_found());
    }
    if let Err(r) = ctx.authed(&method) {
        return *r;
    }
    if method == "retrieveUserQuota" {
        let reset =
            (Utc::now() + chrono::Duration::days(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
        let buckets: Vec<Value> = ctx
            .state
            .lock()
            .models
            .iter()
            .map(|m| json!({"modelId": m, "tokenType": "REQUESTS", "remainingFraction": 1.0, "resetTime": reset}))
            .collect();
        return json_response(200, &json!({ "buckets": buckets }));
    }
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", JSON_UTF8)
        .body("{}")
}
