//! Generation answers for every upstream: the same [`Reply`] framed as Code Assist (the
//! `{"response": ..., "traceId"}` envelope), the Gemini API or Vertex (no envelope), as one
//! JSON body, a JSON array (streaming without `alt=sse`) or SSE, with the scripted behaviour
//! faults applied.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use poem::Response;
use serde_json::{Map, Value, json};

use super::errors::{JSON_UTF8, pretty};
use super::faults::{EmptyReply, Fault};
use super::reply::{self, Reply, tokens};
use super::sse;
use super::state::{random_hex, random_urlsafe};
use super::types::Pacing;

const TRACE_HEADER: &str = "x-cloudaicompanion-trace-id";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    CodeAssist,
    GeminiApi,
    Vertex,
}

pub(crate) struct Meta {
    flavor: Flavor,
    model: String,
    create_time: String,
    response_id: String,
    trace_id: String,
}

impl Meta {
    pub fn new(flavor: Flavor, model: &str) -> Self {
        Self {
            flavor,
            model: model.to_string(),
            create_time: Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
            response_id: random_urlsafe(22),
            trace_id: random_hex(8),
        }
    }

    /// Code Assist: `{"response": {...inner, modelVersion, createTime, responseId},
    /// "traceId"}`; Vertex: the inner object with the same fields; the Gemini API: without
    /// `createTime`.
    fn wrap(&self, inner: Map<String, Value>) -> Value {
        let mut response = inner;
        response.insert("modelVersion".into(), json!(self.model));
        if self.flavor != Flavor::GeminiApi {
            response.insert("createTime".into(), json!(self.create_time));
        }
        response.insert("responseId".into(), json!(self.response_id));
        match self.flavor {
            Flavor::CodeAssist => json!({"response": response, "traceId": self.trace_id}),
            Flavor::GeminiApi | Flavor::Vertex => Value::Object(response),
        }
    }

    /// The empty 200 `{"response":{}}` and its unwrapped form `{}`.
    fn wrap_nothing(&self) -> Value {
        match self.flavor {
            Flavor::CodeAssist => json!({"response": {}, "traceId": self.trace_id}),
            Flavor::GeminiApi | Flavor::Vertex => json!({}),
        }
    }

    /// Code Assist reports `PROVISIONED_THROUGHPUT`, Vertex `ON_DEMAND`; the Gemini API has no
    /// traffic type and no candidate token details.
    fn usage(&self, mut usage: Value) -> Value {
        if let Some(u) = usage.as_object_mut() {
            match self.flavor {
                Flavor::CodeAssist => {}
                Flavor::Vertex => {
                    u.insert("trafficType".into(), json!("ON_DEMAND"));
                }
                Flavor::GeminiApi => {
                    u.remove("trafficType");
                    u.remove("candidatesTokensDetails");
                }
            }
        }
        usage
    }

    fn headers(&self, builder: poem::ResponseBuilder) -> poem::ResponseBuilder {
        let builder = builder.header("vary", "Origin, X-Origin, Referer");
        match self.flavor {
            Flavor::CodeAssist => builder.header(TRACE_HEADER, self.trace_id.as_str()),
            Flavor::GeminiApi | Flavor::Vertex => builder,
        }
    }

    /// The Gemini API numbers its candidates.
    fn finish_candidate(&self, mut c: Value) -> Value {
        if self.flavor == Flavor::GeminiApi {
            c["index"] = json!(0);
        }
        c
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

/// Bodies for a scripted empty 200: the shapes of "nothing" Google answers with a 200 (no
/// candidates, empty text, thoughts only, a blocked prompt, ...).
fn empty_reply(variant: EmptyReply, reply: &Reply, meta: &Meta) -> Value {
    let mut usage = prompt_usage(reply);
    let inner = match variant {
        EmptyReply::ResponseEmpty => return meta.wrap_nothing(),
        EmptyReply::EmptyText => {
            let mut c = candidate(vec![json!({"text": ""})]);
            c["finishReason"] = json!("STOP");
            response_obj(
                Some(vec![meta.finish_candidate(c)]),
                Some(meta.usage(usage)),
            )
        }
        EmptyReply::ThoughtsOnly => {
            let thought = "**Planning the reply**\n\nStill thinking about it.";
            let t = tokens(thought.chars().count());
            usage["thoughtsTokenCount"] = json!(t);
            usage["totalTokenCount"] = json!(reply.prompt_tokens + t);
            let mut c = candidate(vec![json!({"text": thought, "thought": true})]);
            c["finishReason"] = json!("STOP");
            response_obj(
                Some(vec![meta.finish_candidate(c)]),
                Some(meta.usage(usage)),
            )
        }
        EmptyReply::PromptBlocked => {
            let mut m = response_obj(None, Some(meta.usage(usage)));
            m.insert(
                "promptFeedback".into(),
                json!({"blockReason": "SAFETY", "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true}]}),
            );
            m
        }
        EmptyReply::SafetyNoContent => {
            let c = json!({"finishReason": "SAFETY", "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true}]});
            response_obj(
                Some(vec![meta.finish_candidate(c)]),
                Some(meta.usage(usage)),
            )
        }
    };
    meta.wrap(inner)
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

fn stream_bodies(
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
            let c = meta.finish_candidate(final_candidate(reply, parts));
            out.push(meta.wrap(response_obj(Some(vec![c]), Some(meta.usage(reply.usage())))));
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
            meta.usage(json!({"promptTokenCount": reply.prompt_tokens, "candidatesTokenCount": c, "totalTokenCount": reply.prompt_tokens + c, "trafficType": "PROVISIONED_THROUGHPUT"}))
        });
        let c = meta.finish_candidate(scored_candidate(reply, parts));
        out.push(meta.wrap(response_obj(Some(vec![c]), usage)));
    }
    out
}

/// The whole answer to a generation call. `stream` is `streamGenerateContent`; `sse` is
/// `alt=sse` (without it Google's streaming methods answer one JSON array).
pub(crate) fn answer(
    meta: &Meta,
    reply: &Reply,
    fault: Option<&Fault>,
    stream: bool,
    sse: bool,
    pacing: &Pacing,
) -> Response {
    let empty = match fault {
        Some(Fault::EmptyReply { variant }) => Some(empty_reply(*variant, reply, meta)),
        _ => None,
    };
    if !stream {
        let body = empty.unwrap_or_else(|| {
            let c = meta.finish_candidate(final_candidate(reply, reply.all_parts()));
            meta.wrap(response_obj(Some(vec![c]), Some(meta.usage(reply.usage()))))
        });
        return non_stream_body(body, fault, meta);
    }
    let bodies = match empty {
        Some(e) => vec![e],
        None => stream_bodies(reply, meta, pacing.chunk_chars, pacing.partial_usage),
    };
    if !sse {
        let bodies = if matches!(fault, Some(Fault::EmptyStream)) {
            Vec::new()
        } else {
            bodies
        };
        return meta
            .headers(Response::builder())
            .header("content-type", JSON_UTF8)
            .body(pretty(&Value::Array(bodies)));
    }
    let plan = sse::plan(bodies, fault, pacing.line_ending.as_str());
    let mut builder = meta
        .headers(Response::builder())
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
    let builder = meta
        .headers(Response::builder())
        .header("content-type", JSON_UTF8);
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
