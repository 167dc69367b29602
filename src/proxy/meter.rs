//! One usage record, one access-log line and one request log row per client request, written when the request is
//! over — including when a client disconnects mid-stream (the meter's Drop records it).
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::dispatch::{EventStream, Served};
use crate::convert::response::usage_from_gemini;
use crate::error::{GatewayError, Surface};
use crate::keys::Caller;
use crate::models::ResolvedModel;
use crate::pool::service::PoolService;
use crate::reqlog::{Entry, RequestLog};
use crate::state::AppState;
use crate::usage::{Outcome, RequestRecord, UsageService};
use crate::wire::gemini::GenerateContentResponse;

pub struct Meter {
    usage: UsageService,
    /// The client key the request came with (its usage and token counts).
    caller: Caller,
    metrics: crate::metrics::Metrics,
    /// The configured model catalog, for the metrics' bounded `model` label.
    settings: std::sync::Arc<crate::Settings>,
    /// Time spent in upstream calls before the answer, once a credential served.
    upstream: Option<Duration>,
    rec: RequestRecord,
    started: Instant,
    /// The HTTP status the client got (200 for a stream that broke after its first byte).
    status: u16,
    /// Set when ACCESS_LOG is on: the access line names the credential's account.
    access: Option<PoolService>,
    /// Set when REQUEST_LOG is on.
    reqlog: Option<RequestLog>,
    /// The client's address, when a log needs it.
    client: String,
    /// The error reason, bounded and redacted; kept only for the request log.
    error: Option<String>,
    /// Whether to keep a prompt excerpt (REQUEST_LOG_PROMPTS), and the excerpt.
    want_prompt: bool,
    excerpt: Option<String>,
}

impl Meter {
    pub fn new(state: &AppState, surface: Surface, client: &poem::Addr) -> Self {
        let s = state.settings.get();
        let access = s.access_log.then(|| state.pool.clone());
        let reqlog = s.request_log.then(|| state.reqlog.clone());
        let want_prompt = reqlog.is_some() && s.request_log_prompts;
        let client = if access.is_some() || reqlog.is_some() {
            super::auth::current_client_ip()
                .map_or_else(|| client_addr(client), |ip| ip.to_string())
        } else {
            String::new()
        };
        let settings = s;
        let caller = crate::keys::current();
        Self {
            usage: state.usage.clone(),
            access,
            reqlog,
            client,
            status: 200,
            error: None,
            want_prompt,
            excerpt: None,
            rec: RequestRecord {
                credential_id: None,
                base_model: "unknown".to_string(),
                requested_model: "unknown".to_string(),
                surface,
                stream: false,
                outcome: Outcome::Success,
                prompt_tokens: 0,
                completion_tokens: 0,
                reasoning_tokens: 0,
                latency: Duration::ZERO,
                ttfb: None,
                retries: 0,
                key_id: caller.id(),
            },
            caller,
            metrics: state.metrics.clone(),
            settings,
            upstream: None,
            started: Instant::now(),
        }
    }

    /// Set once the model name is parsed; earlier failures are recorded under "unknown".
    /// A client key's allow-lists are checked here, on the base model the upstream would
    /// see (aliases, prefixes and suffixes resolved) and on the upstream a prefix pins.
    pub fn model(&mut self, m: &ResolvedModel) -> Result<(), GatewayError> {
        self.rec.requested_model = m.requested.clone();
        self.rec.base_model = m.base.clone();
        let Some(k) = self.caller.key() else {
            return Ok(());
        };
        if !k.allows_model(&m.base) {
            self.caller.refund();
            return Err(GatewayError::ModelNotAllowed {
                key: k.name.to_string(),
                model: m.base.clone(),
                allowed: k.model_list(),
            });
        }
        if let Some(pin) = m.pin
            && !k.allows_pin(pin)
        {
            self.caller.refund();
            return Err(GatewayError::UpstreamNotAllowed {
                key: k.name.to_string(),
                upstream: pin.prefix().trim_end_matches('/').to_string(),
            });
        }
        Ok(())
    }

    pub fn stream(&mut self, stream: bool) {
        self.rec.stream = stream;
    }

    /// The request body, for the prompt excerpt; free unless REQUEST_LOG_PROMPTS is on.
    pub fn prompt(&mut self, body: &serde_json::Value) {
        if self.want_prompt {
            self.excerpt = crate::reqlog::excerpt(body);
        }
    }

    pub fn served(&mut self, s: Served) {
        self.rec.credential_id = Some(s.credential_id);
        self.rec.retries = s.retries;
        self.upstream = Some(s.upstream);
    }

    /// Token counts from a Gemini response or final stream event.
    pub fn tokens(&mut self, resp: &GenerateContentResponse) {
        if let Some(u) = usage_from_gemini(resp) {
            self.rec.prompt_tokens = u.prompt;
            self.rec.completion_tokens = u.completion;
            self.rec.reasoning_tokens = u.reasoning;
        }
    }

    /// Input tokens of a request without a Gemini response (embeddings).
    pub fn prompt_tokens(&mut self, n: u64) {
        self.rec.prompt_tokens = n;
    }

    pub fn failed(&mut self, e: &GatewayError) {
        self.status = e.status().as_u16();
        if self.reqlog.is_some() {
            self.error = Some(crate::reqlog::error_reason(&e.to_string()));
        }
        self.rec.outcome = match e {
            GatewayError::Upstream(u) => Outcome::UpstreamError(u.status),
            GatewayError::UpstreamTransport(_) => Outcome::Transport,
            GatewayError::EmptyReply(_) => Outcome::UpstreamError(200),
            other => Outcome::ClientError(other.status().as_u16()),
        };
    }

    /// Moves the meter out (for a stream to own), leaving a twin that records nothing.
    pub fn take(&mut self) -> Meter {
        let twin = Meter {
            usage: self.usage.clone(),
            caller: self.caller.clone(),
            metrics: self.metrics.clone(),
            settings: std::sync::Arc::clone(&self.settings),
            upstream: self.upstream,
            rec: self.rec.clone(),
            started: self.started,
            status: self.status,
            access: self.access.take(),
            reqlog: self.reqlog.take(),
            client: std::mem::take(&mut self.client),
            error: self.error.take(),
            want_prompt: self.want_prompt,
            excerpt: self.excerpt.take(),
        };
        self.rec.base_model.clear();
        twin
    }

    /// Passes events through, noting the first byte, the final usage and a broken end; the
    /// record is written when the stream is dropped.
    pub fn watch(mut self, mut events: EventStream) -> EventStream {
        Box::pin(async_stream::stream! {
            while let Some(item) = events.next().await {
                if self.rec.ttfb.is_none() {
                    self.rec.ttfb = Some(self.started.elapsed());
                }
                match &item {
                    Ok(ev) => self.tokens(ev),
                    Err(b) => {
                        self.rec.outcome = Outcome::UpstreamError(b.status());
                        if self.reqlog.is_some() {
                            self.error = Some(crate::reqlog::error_reason(&b.message()));
                        }
                    }
                }
                yield item;
            }
        })
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        // An emptied meter handed its record to a stream (see `take`).
        if self.rec.base_model.is_empty() {
            return;
        }
        self.rec.latency = self.started.elapsed();
        if self.rec.ttfb.is_none() && !self.rec.stream {
            self.rec.ttfb = Some(self.rec.latency);
        }
        if let Some(pool) = &self.access {
            access_line(
                &self.rec,
                pool,
                self.status,
                &self.client,
                self.caller.name(),
            );
        }
        if let Some(k) = self.caller.key() {
            let w = self.usage.day_window();
            k.counters
                .add_tokens(&w, self.rec.prompt_tokens + self.rec.completion_tokens);
        }
        self.metrics.request(
            &crate::metrics::RequestObs {
                surface: self.rec.surface,
                model: &self.rec.base_model,
                status: self.status,
                key: self.caller.name(),
                prompt_tokens: self.rec.prompt_tokens,
                completion_tokens: self.rec.completion_tokens,
                stream: self.rec.stream,
                latency: self.rec.latency,
                ttfb: self.rec.ttfb,
                upstream: self.upstream,
            },
            &self.settings.base_models,
        );
        // The record moves into the usage service; only the request log's copy allocates.
        let rec = RequestRecord {
            requested_model: std::mem::take(&mut self.rec.requested_model),
            base_model: std::mem::take(&mut self.rec.base_model),
            ..self.rec.clone()
        };
        if let Some(log) = &self.reqlog {
            log.record(Entry {
                at: chrono::Utc::now(),
                surface: rec.surface.as_str(),
                stream: rec.stream,
                client_model: rec.requested_model.clone(),
                served_model: rec.base_model.clone(),
                credential_id: rec.credential_id,
                status: self.status,
                outcome: rec.outcome,
                latency_ms: millis(rec.latency),
                ttfb_ms: rec.ttfb.filter(|_| rec.stream).map(millis),
                attempts: rec.retries + u32::from(rec.credential_id.is_some()),
                prompt_tokens: rec.prompt_tokens,
                completion_tokens: rec.completion_tokens,
                reasoning_tokens: rec.reasoning_tokens,
                client: std::mem::take(&mut self.client),
                error: self.error.take(),
                prompt_excerpt: self.excerpt.take(),
            });
        }
        self.usage.record_request(rec);
    }
}

fn client_addr(addr: &poem::Addr) -> String {
    match addr {
        poem::Addr::SocketAddr(a) => a.ip().to_string(),
        other => other.to_string(),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The access line: who asked for what, who served it, how it went. The credential appears by
/// id and account email (what the panel shows), never by a token.
fn access_line(rec: &RequestRecord, pool: &PoolService, status: u16, client: &str, key_name: &str) {
    // Nothing to pay for when the access target is filtered out (LOG_LEVEL above info).
    if !tracing::enabled!(target: "gcli2api::access", tracing::Level::INFO) {
        return;
    }
    let account = rec
        .credential_id
        .and_then(|id| pool.account(id))
        .unwrap_or_default();
    let ttfb_ms = rec.ttfb.filter(|_| rec.stream).map(millis);
    tracing::info!(
        target: "gcli2api::access",
        surface = %rec.surface.as_str(),
        client_model = %rec.requested_model,
        served_model = %rec.base_model,
        credential = rec.credential_id,
        account = %account,
        status,
        outcome = %rec.outcome.key(),
        stream = rec.stream,
        attempts = rec.retries + u32::from(rec.credential_id.is_some()),
        latency_ms = millis(rec.latency),
        ttfb_ms,
        tokens_in = rec.prompt_tokens,
        // Completion tokens already include thinking tokens (OpenAI's convention).
        tokens_out = rec.completion_tokens,
        client = %client,
        // Not `key`: the log redactor blanks any field of that name.
        key_name,
        "request"
    );
}
