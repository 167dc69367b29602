//! Dispatch: sends one Gemini request through the credential pool, retrying on another
//! credential only *before* anything has reached the client. After the first event of a
//! stream, nothing is ever replayed: a broken stream ends with an error event instead.
use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use serde_json::Value;

use crate::convert::response::parse_response;
use crate::error::GatewayError;
use crate::google::errors::{UpstreamError, parse_error};
use crate::google::executor::{self, CallFailure};
use crate::google::sse::SseDecoder;
use crate::models;
use crate::pool::Reaction;
use crate::pool::service::Lease;
use crate::state::AppState;
use crate::usage::{CallRecord, Outcome};
use crate::wire::code_assist::{read_answer, read_answer_str};
use crate::wire::gemini::{FinishReason, GenerateContentResponse, PartData};

pub mod embed;

/// One upstream call to make: the base model the upstream sees and the Gemini `request` object.
#[derive(Clone, Debug)]
pub struct Upcall {
    pub base_model: String,
    pub request: Value,
    /// An answer with no content is a valid answer (an anti-truncation continuation may have
    /// nothing left to say); otherwise empty replies are failures and retried.
    pub accept_empty: bool,
    /// Only credentials of this upstream (the model name's `vertex/`, ... prefix).
    pub pin: Option<models::Pin>,
}

impl Upcall {
    pub fn new(base_model: String, request: Value) -> Self {
        Self {
            base_model,
            request,
            accept_empty: false,
            pin: None,
        }
    }

    pub fn pinned(mut self, pin: Option<models::Pin>) -> Self {
        self.pin = pin;
        self
    }
}

/// An embedding model only embeds: a generation call for one is refused before it is sent,
/// since Google's 404 would take the model off the credential that got it.
fn generation_model(base_model: &str) -> Result<(), GatewayError> {
    if models::is_embedding(base_model) {
        return Err(GatewayError::BadRequest(format!(
            "'{base_model}' is an embedding model: send it to /v1/embeddings or \
             models/{base_model}:embedContent"
        )));
    }
    Ok(())
}

/// What ended a stream early, after events had already been passed on.
#[derive(Debug, Clone)]
pub enum StreamBreak {
    /// The upstream sent an error object inside the stream.
    Upstream(Box<UpstreamError>),
    /// The connection dropped or a partial event was left: the answer is incomplete.
    Cut(String),
}

impl StreamBreak {
    pub fn message(&self) -> String {
        match self {
            Self::Upstream(e) => e.message.clone(),
            Self::Cut(why) => format!("upstream stream was cut off: {why}"),
        }
    }
    pub fn status(&self) -> u16 {
        match self {
            Self::Upstream(e) => e.status,
            Self::Cut(_) => 502,
        }
    }
}

/// Unwrapped Gemini response events, as they arrive.
pub type EventStream =
    Pin<Box<dyn Stream<Item = Result<GenerateContentResponse, StreamBreak>> + Send>>;

/// Who finally served a request, and after how many extra attempts (for usage records).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Served {
    pub credential_id: i64,
    pub retries: u32,
    /// Time spent waiting on upstream calls, failed attempts included (a stream: until its
    /// first event); what the gateway adds is the rest.
    pub upstream: Duration,
}

/// Why the last attempt failed, kept so the client gets the most useful error when all fail.
enum LastFailure {
    None,
    Upstream(Box<UpstreamError>),
    Empty(String),
    Transport(String),
}

impl LastFailure {
    fn into_error(self) -> GatewayError {
        match self {
            Self::None => GatewayError::Internal("no attempt was made".into()),
            Self::Upstream(e) => GatewayError::Upstream(e),
            Self::Empty(why) => GatewayError::EmptyReply(why),
            Self::Transport(why) => GatewayError::UpstreamTransport(why),
        }
    }
}

/// The retry budget and memory of one client request.
struct Attempts<'a> {
    state: &'a AppState,
    model: &'a str,
    pin: Option<models::Pin>,
    max: u32,
    done: u32,
    interval: Duration,
    exclude: Vec<i64>,
    refreshed: Vec<i64>,
    last: LastFailure,
    /// The client key's kinds allow-list, when it has one.
    key: Option<std::sync::Arc<crate::keys::ClientKey>>,
    /// Upstream time so far.
    upstream: Duration,
}

impl<'a> Attempts<'a> {
    fn new(state: &'a AppState, model: &'a str, pin: Option<models::Pin>) -> Self {
        let s = state.settings.get();
        let max = if s.retry_429_enabled {
            1 + s.retry_429_max_retries
        } else {
            1
        };
        Self {
            state,
            model,
            pin,
            max,
            done: 0,
            interval: s.retry_429_interval,
            exclude: Vec::new(),
            refreshed: Vec::new(),
            last: LastFailure::None,
            key: crate::keys::current()
                .key()
                .filter(|k| !k.fields.kinds.is_empty())
                .cloned(),
            upstream: Duration::ZERO,
        }
    }

    /// One upstream call took `took`.
    fn timed(&mut self, lease: &Lease, took: Duration) {
        self.state.metrics.upstream_call(lease.call.kind(), took);
        self.upstream += took;
    }

    /// What failed before the attempt about to be made, for the retries metric.
    fn retry_reason(&self) -> &'static str {
        match &self.last {
            LastFailure::None => "refresh",
            LastFailure::Upstream(e) if e.status == 429 => "upstream_429",
            LastFailure::Upstream(e) if e.status >= 500 => "upstream_5xx",
            LastFailure::Upstream(_) => "upstream_4xx",
            LastFailure::Empty(_) => "empty_reply",
            LastFailure::Transport(_) => "transport",
        }
    }

    /// A credential the client key may use. Without a kinds allow-list this is the pool's
    /// pick; with one, each allowed upstream is tried in turn (the request's own pin was
    /// checked against the list already), and a credential of a kind the key does not allow
    /// but that shares an allowed upstream (the two Vertex kinds) is passed over.
    async fn acquire(&mut self) -> Result<Lease, crate::pool::service::AcquireError> {
        let Some(key) = self.key.clone() else {
            return self
                .state
                .pool
                .acquire(self.model, self.pin, &self.exclude)
                .await;
        };
        let pins: Vec<models::Pin> = match self.pin {
            Some(p) => vec![p],
            None => key.pins().unwrap_or_default(),
        };
        let mut last = crate::pool::service::AcquireError::NoToken;
        for pin in pins {
            // Bounded like the pool's own skipping of unusable credentials.
            for _ in 0..8 {
                match self
                    .state
                    .pool
                    .acquire(self.model, Some(pin), &self.exclude)
                    .await
                {
                    Ok(l) if key.allows_kind(l.call.kind()) => return Ok(l),
                    Ok(l) => self.exclude.push(l.id),
                    Err(e) => {
                        last = e;
                        break;
                    }
                }
            }
        }
        Err(last)
    }

    /// The next credential, `None` when the budget is spent. When every credential was tried
    /// once this request, they become eligible again after the retry interval, so a
    /// one-credential pool still gets its retries; a request never sleeps while another
    /// credential is free.
    async fn lease(&mut self) -> Result<Option<Lease>, GatewayError> {
        if self.done >= self.max {
            return Ok(None);
        }
        if self.done > 0 {
            self.state.metrics.retry(self.retry_reason());
        }
        self.done += 1;
        match self.acquire().await {
            Ok(l) => Ok(Some(l)),
            Err(e) if self.exclude.is_empty() => Err(e.into()),
            Err(e) => {
                if matches!(self.last, LastFailure::None) {
                    return Err(e.into());
                }
                tokio::time::sleep(self.interval).await;
                self.exclude.clear();
                match self.acquire().await {
                    Ok(l) => Ok(Some(l)),
                    // Nothing is free: the last real failure says more than "no credential".
                    Err(_) => Ok(None),
                }
            }
        }
    }

    fn record(&self, lease: &Lease, outcome: Outcome) {
        self.state.usage.record_call(CallRecord {
            credential_id: lease.id,
            base_model: self.model.to_string(),
            outcome,
        });
    }

    fn served(&self, lease: &Lease) -> Served {
        self.record(lease, Outcome::Success);
        self.state.pool.report_success(lease, self.model);
        Served {
            credential_id: lease.id,
            retries: self.done.saturating_sub(1),
            upstream: self.upstream,
        }
    }

    fn react(&mut self, lease: &Lease, reaction: Reaction) {
        match reaction {
            Reaction::RetrySame | Reaction::RefreshAndRetrySame => {}
            Reaction::TryAnother | Reaction::ReturnToClient => self.exclude.push(lease.id),
        }
    }

    /// Records an upstream error and decides whether the request goes on.
    async fn upstream_failed(
        &mut self,
        lease: &Lease,
        err: UpstreamError,
    ) -> Result<(), GatewayError> {
        self.record(lease, Outcome::UpstreamError(err.status));
        let reaction = self.state.pool.report_failure(lease, self.model, &err);
        tracing::warn!(
            credential = lease.id,
            status = err.status,
            reason = err.reason.as_deref().unwrap_or("-"),
            ?reaction,
            "upstream call failed"
        );
        match reaction {
            Reaction::ReturnToClient => return Err(GatewayError::Upstream(Box::new(err))),
            Reaction::RefreshAndRetrySame => {
                // One forced refresh per credential per request; that retry is free because
                // the credential was never at fault.
                if self.refreshed.contains(&lease.id)
                    || self.state.pool.force_refresh(lease).await.is_err()
                {
                    self.exclude.push(lease.id);
                } else {
                    self.refreshed.push(lease.id);
                    self.max += 1;
                }
            }
            other => self.react(lease, other),
        }
        self.last = LastFailure::Upstream(Box::new(err));
        Ok(())
    }

    fn transport_failed(&mut self, lease: &Lease, why: String) {
        tracing::warn!(credential = lease.id, error = %why, "upstream unreachable");
        self.record(lease, Outcome::Transport);
        let reaction = self.state.pool.report_transport(lease, self.model, &why);
        self.react(lease, reaction);
        self.last = LastFailure::Transport(why);
    }

    fn empty(&mut self, lease: &Lease, why: String) {
        tracing::warn!(credential = lease.id, why = %why, "empty reply from upstream");
        self.record(lease, Outcome::UpstreamError(200));
        let reaction = self.state.pool.report_empty(lease, self.model);
        self.react(lease, reaction);
        self.last = LastFailure::Empty(why);
    }

    fn finish(self) -> GatewayError {
        self.last.into_error()
    }
}

/// A non-streaming answer body: read straight into the typed response when it has a plain
/// shape, otherwise through a `Value` (see `read_answer`). `Err` carries the failure to
/// report for a body that is not JSON at all.
fn read_unary_body(
    body: bytes::Bytes,
) -> Result<Result<GenerateContentResponse, String>, CallFailure> {
    if let Some(r) = read_answer(&body) {
        return Ok(Ok(r));
    }
    // A 2xx whose body is not JSON is the upstream's fault: report it as a bad gateway.
    let v: Value = serde_json::from_slice(&body).map_err(|_| CallFailure::Status {
        status: 502,
        body: body.clone(),
    })?;
    Ok(parse_response(v).map_err(|e| e.to_string()))
}

/// Non-streaming generation with retries; returns the unwrapped Gemini response.
pub async fn unary(
    state: &AppState,
    call: &Upcall,
) -> Result<(GenerateContentResponse, Served), GatewayError> {
    generation_model(&call.base_model)?;
    let mut tries = Attempts::new(state, &call.base_model, call.pin);
    while let Some(lease) = tries.lease().await? {
        let sent = std::time::Instant::now();
        let answer = executor::generate_body(
            &state.upstream,
            &lease.call,
            &call.base_model,
            &call.request,
        )
        .await;
        tries.timed(&lease, sent.elapsed());
        let answer = answer.and_then(read_unary_body);
        match answer {
            Ok(parsed) => {
                let resp = match parsed {
                    Ok(r) => r,
                    Err(e) => {
                        tries.transport_failed(&lease, format!("unreadable answer: {e}"));
                        continue;
                    }
                };
                if let Some(kind) = resp.is_empty_reply() {
                    tries.empty(&lease, format!("{kind:?}"));
                    continue;
                }
                return Ok((resp, tries.served(&lease)));
            }
            Err(CallFailure::Status { status, body }) => {
                tries
                    .upstream_failed(&lease, parse_error(status, &body))
                    .await?
            }
            Err(CallFailure::Transport(why)) => tries.transport_failed(&lease, why),
        }
    }
    Err(tries.finish())
}

/// Streaming generation. Retries happen until the first event with content is in hand; the
/// returned stream starts with that event.
pub async fn stream(
    state: &AppState,
    call: &Upcall,
) -> Result<(EventStream, Served), GatewayError> {
    generation_model(&call.base_model)?;
    let mut tries = Attempts::new(state, &call.base_model, call.pin);
    while let Some(lease) = tries.lease().await? {
        let sent = std::time::Instant::now();
        let resp = match executor::stream(
            &state.upstream,
            &lease.call,
            &call.base_model,
            &call.request,
        )
        .await
        {
            Ok(r) => r,
            Err(CallFailure::Status { status, body }) => {
                tries.timed(&lease, sent.elapsed());
                tries
                    .upstream_failed(&lease, parse_error(status, &body))
                    .await?;
                continue;
            }
            Err(CallFailure::Transport(why)) => {
                tries.timed(&lease, sent.elapsed());
                tries.transport_failed(&lease, why);
                continue;
            }
        };
        let mut events = decode_events(resp);
        // Hold back until the first event that carries something, so empty streams and
        // errors before the first byte can still be retried elsewhere.
        let mut held = Vec::new();
        let first = loop {
            match events.next().await {
                None => break None,
                Some(Ok(ev)) => {
                    let content = starts_output(&ev);
                    held.push(ev);
                    if content {
                        break Some(Ok(()));
                    }
                }
                Some(Err(b)) => break Some(Err(b)),
            }
        };
        tries.timed(&lease, sent.elapsed());
        match first {
            Some(Ok(())) => {
                let served = tries.served(&lease);
                let head = futures_util::stream::iter(held.into_iter().map(Ok));
                // The lease lives as long as the stream, so in-flight counts stay true.
                let tail = events.map(move |item| {
                    let _hold = &lease;
                    item
                });
                return Ok((Box::pin(head.chain(tail)), served));
            }
            Some(Err(StreamBreak::Upstream(e))) => tries.upstream_failed(&lease, *e).await?,
            Some(Err(StreamBreak::Cut(why))) => tries.transport_failed(&lease, why),
            None if call.accept_empty => {
                let served = tries.served(&lease);
                return Ok((
                    Box::pin(futures_util::stream::iter(held.into_iter().map(Ok))),
                    served,
                ));
            }
            None => tries.empty(&lease, "the upstream stream had no content".into()),
        }
    }
    Err(tries.finish())
}

/// Whether an event carries anything a client would see: content, a thought, or a block.
/// Events without any of it are held back before the first byte, so an empty stream can
/// still be retried elsewhere.
fn starts_output(ev: &GenerateContentResponse) -> bool {
    ev.block_reason().is_some()
        || ev.has_content()
        || ev.candidates.iter().any(|c| {
            c.finish().is_some_and(FinishReason::is_filtered)
                || c.parts().iter().any(|p| {
                    matches!(&p.data, PartData::Thought(t) if !t.is_empty())
                        || matches!(p.data, PartData::FileData(_))
                })
        })
}

/// Bytes → SSE events → unwrapped Gemini responses. Unparseable events are skipped; an
/// in-stream error object or a cut connection ends the stream with a `StreamBreak`.
fn decode_events(resp: executor::Answer) -> EventStream {
    let mut bytes = http_body_util::BodyDataStream::new(resp.into_body());
    Box::pin(async_stream::stream! {
        let mut dec = SseDecoder::default();
        let mut saw_finish = false;
        loop {
            let (events, end) = match bytes.next().await {
                Some(Ok(chunk)) => (dec.push(&chunk), None),
                Some(Err(e)) => (Vec::new(), Some(Err(e.to_string()))),
                None => (dec.finish(), Some(Ok(()))),
            };
            for ev in &events {
                // The plain shape is read straight into the typed response; anything else
                // (an error object, an array, two documents run together) takes the general
                // path below, which reads exactly the same answers.
                if let Some(r) = read_answer_str(&ev.data) {
                    saw_finish |= r.finish().is_some();
                    yield Ok(r);
                    continue;
                }
                // `json()` also recovers two documents whose separating blank line went missing.
                let docs = ev.json();
                if docs.is_empty() && !ev.is_done() {
                    tracing::debug!(len = ev.data.len(), "skipping unparseable SSE event");
                }
                for v in docs {
                    let inner = v.as_array().and_then(|a| a.first()).unwrap_or(&v);
                    if inner.get("error").is_some_and(Value::is_object) {
                        let status = inner["error"].get("code").and_then(Value::as_u64).unwrap_or(500) as u16;
                        let body = serde_json::to_vec(inner).unwrap_or_default();
                        yield Err(StreamBreak::Upstream(Box::new(parse_error(status, &body))));
                        return;
                    }
                    let ev = match parse_response(v) {
                        Ok(ev) => ev,
                        Err(e) => {
                            tracing::debug!(error = %e, "skipping an SSE event that is not a Gemini response");
                            continue;
                        }
                    };
                    saw_finish |= ev.finish().is_some();
                    yield Ok(ev);
                }
            }
            match end {
                None => {}
                // A body that stops inside an event, before any finishReason, was cut off.
                Some(Ok(())) if dec.ended_mid_event() && !saw_finish => {
                    yield Err(StreamBreak::Cut("the connection closed in the middle of an event".into()));
                    return;
                }
                Some(Ok(())) => return,
                Some(Err(why)) => { yield Err(StreamBreak::Cut(why)); return; }
            }
        }
    })
}

/// countTokens of `contents` through the pool, with the same credential switching as
/// generation.
pub async fn count_tokens(
    state: &AppState,
    base_model: &str,
    pin: Option<models::Pin>,
    contents: &Value,
) -> Result<(Value, Served), GatewayError> {
    generation_model(base_model)?;
    let mut tries = Attempts::new(state, base_model, pin);
    while let Some(lease) = tries.lease().await? {
        let sent = std::time::Instant::now();
        let answer =
            executor::count_tokens(&state.upstream, &lease.call, base_model, contents).await;
        tries.timed(&lease, sent.elapsed());
        match answer {
            Ok(v) => return Ok((v, tries.served(&lease))),
            Err(CallFailure::Status { status, body }) => {
                tries
                    .upstream_failed(&lease, parse_error(status, &body))
                    .await?
            }
            Err(CallFailure::Transport(why)) => tries.transport_failed(&lease, why),
        }
    }
    Err(tries.finish())
}
