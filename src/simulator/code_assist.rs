//! Generation (`generateContent`, `streamGenerateContent`), `countTokens` and the small Code
//! Assist methods (spec §4, §8.1 items 9–12).

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use poem::Response;
use poem::http::StatusCode;
use serde_json::{Map, Value, json};

use super::errors::{self, JSON_UTF8, json_response, pretty};
use super::faults::{EmptyReply, Fault};
use super::http::Ctx;
use super::reply::{self, Reply, ReplyOptions, tokens};
use super::sse;
use super::state::random_hex;
use super::validate;

const TRACE_HEADER: &str = "x-cloudaicompanion-trace-id";

struct Meta {
    model: String,
    create_time: String,
    response_id: String,
    trace_id: String,
}

impl Meta {
    fn new(model: &str) -> Self {
        Self {
            model: model.to_string(),
            create_time: Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
            response_id: super::state::random_urlsafe(22),
            trace_id: random_hex(8),
        }
    }

    /// `{"response": {...inner, modelVersion, createTime, responseId}, "traceId"}`.
    fn envelope(&self, inner: Map<String, Value>) -> Value {
        let mut response = inner;
        response.insert("modelVersion".into(), json!(self.model));
        response.insert("createTime".into(), json!(self.create_time));
        response.insert("responseId".into(), json!(self.response_id));
        json!({"response": response, "traceId": self.trace_id})
    }
}

fn candidate(parts: Vec<Value>) -> Value {
    json!({"content": {"role": "model", "parts": parts}})
}

fn response_obj(candidates: Option<Vec<Value>>, usage: Option<Value>) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(c) = candidates {
        m.insert("candidates".into(), Value::Array(c));
    }
    if let Some(u) = usage {
        m.insert("usageMetadata".into(), u);
    }
    m
}

fn prompt_usage(reply: &Reply) -> Value {
    json!({"promptTokenCount": reply.prompt_tokens, "totalTokenCount": reply.prompt_tokens, "trafficType": "PROVISIONED_THROUGHPUT"})
}

/// Inner response objects for a scripted empty 200 (spec §7 "Empty responses", §8.2 item 17).
fn empty_reply(variant: EmptyReply, reply: &Reply, meta: &Meta) -> Value {
    let mut usage = prompt_usage(reply);
    let inner = match variant {
        EmptyReply::ResponseEmpty => return json!({"response": {}, "traceId": meta.trace_id}),
        EmptyReply::EmptyText => {
            let mut c = candidate(vec![json!({"text": ""})]);
            c["finishReason"] = json!("STOP");
            response_obj(Some(vec![c]), Some(usage))
        }
        EmptyReply::ThoughtsOnly => {
            let thought = "**Planning the reply**\n\nStill thinking about it.";
            let t = tokens(thought.chars().count());
            usage["thoughtsTokenCount"] = json!(t);
            usage["totalTokenCount"] = json!(reply.prompt_tokens + t);
            let mut c = candidate(vec![json!({"text": thought, "thought": true})]);
            c["finishReason"] = json!("STOP");
            response_obj(Some(vec![c]), Some(usage))
        }
        EmptyReply::PromptBlocked => {
            let mut m = response_obj(None, Some(usage));
            m.insert(
                "promptFeedback".into(),
                json!({"blockReason": "SAFETY", "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true}]}),
            );
            m
        }
        EmptyReply::SafetyNoContent => {
            let c = json!({"finishReason": "SAFETY", "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true}]});
            response_obj(Some(vec![c]), Some(usage))
        }
    };
    meta.envelope(inner)
}

/// A candidate for some parts, with `logprobsResult` when the request asked for it.
fn scored_candidate(reply: &Reply, parts: Vec<Value>) -> Value {
    let logprobs = reply
        .logprobs
        .map(|top| reply::logprobs_result(&parts, top));
    let mut c = candidate(parts);
    if let Some(l) = logprobs {
        c["logprobsResult"] = l;
    }
    c
}

fn final_candidate(reply: &Reply, parts: Vec<Value>) -> Value {
    let mut c = scored_candidate(reply, parts);
    c["finishReason"] = json!(reply.finish);
    if let Some(g) = &reply.grounding {
        c["groundingMetadata"] = g.clone();
    }
    c
}

fn stream_envelopes(
    reply: &Reply,
    meta: &Meta,
    chunk_chars: usize,
    partial_usage: bool,
) -> Vec<Value> {
    let mut events = reply.part_events(chunk_chars);
    if events.is_empty() {
        events.push(vec![json!({"text": ""})]);
    }
    let last = events.len() - 1;
    let mut seen_chars = 0;
    let mut out = Vec::with_capacity(events.len());
    for (i, parts) in events.into_iter().enumerate() {
        if i == last {
            let c = final_candidate(reply, parts);
            out.push(meta.envelope(response_obj(Some(vec![c]), Some(reply.usage()))));
            break;
        }
        seen_chars += parts
            .iter()
            .filter(|p| p.get("thought").is_none())
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .map(|t| t.chars().count())
            .sum::<usize>();
        let usage = partial_usage.then(|| {
            let c = tokens(seen_chars);
            json!({"promptTokenCount": reply.prompt_tokens, "candidatesTokenCount": c, "totalTokenCount": reply.prompt_tokens + c, "trafficType": "PROVISIONED_THROUGHPUT"})
        });
        out.push(meta.envelope(response_obj(
            Some(vec![scored_candidate(reply, parts)]),
            usage,
        )));
    }
    out
}

fn with_trace(builder: poem::ResponseBuilder, meta: &Meta) -> poem::ResponseBuilder {
    builder
        .header(TRACE_HEADER, meta.trace_id.as_str())
        .header("vary", "Origin, X-Origin, Referer")
}

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
    let meta = Meta::new(model);
    let empty = match fault {
        Some(Fault::EmptyReply { variant }) => Some(empty_reply(*variant, &reply, &meta)),
        _ => None,
    };
    if !stream {
        let body = empty.unwrap_or_else(|| {
            let c = final_candidate(&reply, reply.all_parts());
            meta.envelope(response_obj(Some(vec![c]), Some(reply.usage())))
        });
        return non_stream_body(body, fault, &meta);
    }
    let envelopes = match empty {
        Some(e) => vec![e],
        None => stream_envelopes(&reply, &meta, pacing.chunk_chars, pacing.partial_usage),
    };
    if ctx.query_param("alt").as_deref() != Some("sse") {
        // Google's streaming methods without alt=sse answer one JSON array.
        let envelopes = if matches!(fault, Some(Fault::EmptyStream)) {
            Vec::new()
        } else {
            envelopes
        };
        return with_trace(Response::builder(), &meta)
            .header("content-type", JSON_UTF8)
            .body(pretty(&Value::Array(envelopes)));
    }
    let plan = sse::plan(envelopes, fault, pacing.line_ending.as_str());
    let mut builder = with_trace(Response::builder(), &meta)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache");
    if let Some(len) = plan.abort_length() {
        builder = builder.header("content-length", len);
    }
    builder.body(sse::body(
        plan,
        Duration::from_millis(pacing.event_delay_ms),
    ))
}

/// Non-streaming body; a stream cut becomes a body that stops half-way, an empty stream an
/// empty 200 body.
fn non_stream_body(body: Value, fault: Option<&Fault>, meta: &Meta) -> Response {
    let text = pretty(&body);
    let builder = with_trace(Response::builder(), meta).header("content-type", JSON_UTF8);
    match fault {
        Some(Fault::StreamCut { .. }) => {
            let whole = bytes::Bytes::from(text);
            let half = whole.slice(..whole.len() / 2);
            let plan = sse::StreamPlan {
                frames: vec![half],
                ending: sse::Ending::Abort,
            };
            let len = plan.abort_length().unwrap_or_default();
            builder
                .header("content-length", len)
                .body(sse::body(plan, Duration::ZERO))
        }
        Some(Fault::EmptyStream) => builder.body(""),
        _ => builder.body(text),
    }
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
