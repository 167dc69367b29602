//! One usage record per client request, written when the request is over — including when a
//! client disconnects mid-stream (the meter's Drop records it).
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;

use super::dispatch::{EventStream, Served};
use crate::convert::response::usage_from_gemini;
use crate::error::{GatewayError, Surface};
use crate::usage::{Outcome, RequestRecord, UsageService};

pub struct Meter {
    usage: UsageService,
    rec: RequestRecord,
    started: Instant,
}

impl Meter {
    pub fn new(
        usage: &UsageService,
        surface: Surface,
        stream: bool,
        requested: &str,
        base: &str,
    ) -> Self {
        Self {
            usage: usage.clone(),
            rec: RequestRecord {
                credential_id: None,
                base_model: base.to_string(),
                requested_model: requested.to_string(),
                surface: surface.into(),
                stream,
                outcome: Outcome::Success,
                prompt_tokens: 0,
                completion_tokens: 0,
                reasoning_tokens: 0,
                latency: Duration::ZERO,
                ttfb: None,
                retries: 0,
            },
            started: Instant::now(),
        }
    }

    /// Set once the model name is parsed; earlier failures are recorded under "unknown".
    pub fn model(&mut self, requested: &str, base: &str) {
        self.rec.requested_model = requested.to_string();
        self.rec.base_model = base.to_string();
    }

    pub fn stream(&mut self, stream: bool) {
        self.rec.stream = stream;
    }

    pub fn served(&mut self, s: Served) {
        self.rec.credential_id = Some(s.credential_id);
        self.rec.retries = s.retries;
    }

    /// Token counts from a Gemini response or final stream event.
    pub fn tokens(&mut self, resp: &Value) {
        if let Some(u) = usage_from_gemini(resp) {
            self.rec.prompt_tokens = u.prompt;
            self.rec.completion_tokens = u.completion;
            self.rec.reasoning_tokens = u.reasoning;
        }
    }

    pub fn failed(&mut self, e: &GatewayError) {
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
            rec: self.rec.clone(),
            started: self.started,
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
                    Err(b) => self.rec.outcome = Outcome::UpstreamError(b.status()),
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
        self.usage.record_request(self.rec.clone());
    }
}
