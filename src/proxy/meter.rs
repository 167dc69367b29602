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
    let line = AccessLine {
        rec,
        account: &account,
        status,
        client,
        key_name,
    };
    crate::logs::record_access(line.render());
}

/// The access line's fields. [`AccessLine::render`] writes them as the log layer writes an
/// event's fields (`request name=value ...`, `key_name` quoted), without going through it.
struct AccessLine<'a> {
    rec: &'a RequestRecord,
    account: &'a str,
    status: u16,
    client: &'a str,
    key_name: &'a str,
}

impl AccessLine<'_> {
    /// The line, safe to log. The model names, the account and the key name are the only
    /// parts a client or an operator supplies; the rest are numbers, fixed words and an IP
    /// address (see `logs::redact_built_line`).
    fn render(&self) -> String {
        let rec = self.rec;
        crate::logs::redact_built_line(
            self.text(),
            &[
                &rec.requested_model,
                &rec.base_model,
                self.account,
                self.key_name,
            ],
        )
    }

    fn text(&self) -> String {
        use std::fmt::Write as _;
        let rec = self.rec;
        let mut s = String::with_capacity(320);
        s.push_str("request surface=");
        s.push_str(rec.surface.as_str());
        s.push_str(" client_model=");
        plain(&mut s, &rec.requested_model);
        s.push_str(" served_model=");
        plain(&mut s, &rec.base_model);
        if let Some(id) = rec.credential_id {
            number(&mut s, " credential=", id);
        }
        s.push_str(" account=");
        plain(&mut s, self.account);
        number(&mut s, " status=", self.status);
        s.push_str(" outcome=");
        s.push_str(&rec.outcome.key());
        s.push_str(if rec.stream {
            " stream=true"
        } else {
            " stream=false"
        });
        number(
            &mut s,
            " attempts=",
            rec.retries + u32::from(rec.credential_id.is_some()),
        );
        number(&mut s, " latency_ms=", millis(rec.latency));
        if let Some(t) = rec.ttfb.filter(|_| rec.stream) {
            number(&mut s, " ttfb_ms=", millis(t));
        }
        number(&mut s, " tokens_in=", rec.prompt_tokens);
        // Completion tokens already include thinking tokens (OpenAI's convention).
        number(&mut s, " tokens_out=", rec.completion_tokens);
        s.push_str(" client=");
        plain(&mut s, self.client);
        // Not `key`: the log redactor blanks any field of that name.
        let _ = write!(s, " key_name={:?}", self.key_name);
        s
    }
}

/// A text value as the log layer shows a `%` field: as it is, unless it holds a control
/// character (a line break would forge a log line). Then it is quoted, and each control
/// character is written as `\u{..}`: an escape ending in a letter (`\n`) would glue onto the
/// text after it, and the redactor does not read a token prefix or `Bearer` that follows a
/// letter, so a secret written right after a line break would go out unredacted.
fn plain(s: &mut String, v: &str) {
    use std::fmt::Write as _;
    if !v.chars().any(char::is_control) {
        s.push_str(v);
        return;
    }
    s.push('"');
    for c in v.chars() {
        match c {
            '"' | '\\' => {
                s.push('\\');
                s.push(c);
            }
            c if c.is_control() => {
                let _ = write!(s, "\\u{{{:x}}}", u32::from(c));
            }
            c => s.push(c),
        }
    }
    s.push('"');
}

fn number(s: &mut String, name: &str, n: impl itoa::Integer) {
    s.push_str(name);
    s.push_str(itoa::Buffer::new().format(n));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> RequestRecord {
        RequestRecord {
            credential_id: Some(7),
            base_model: "gemini-2.5-pro".into(),
            requested_model: "gemini-2.5-pro-maxthinking".into(),
            surface: Surface::OpenAi,
            stream: true,
            outcome: Outcome::Success,
            prompt_tokens: 12,
            completion_tokens: 345,
            reasoning_tokens: 0,
            latency: Duration::from_millis(1234),
            ttfb: Some(Duration::from_millis(56)),
            retries: 1,
            key_id: 0,
        }
    }

    fn line<'a>(rec: &'a RequestRecord, account: &'a str, key_name: &'a str) -> AccessLine<'a> {
        AccessLine {
            rec,
            account,
            status: 200,
            client: "127.0.0.1",
            key_name,
        }
    }

    #[test]
    fn the_access_line_reads_as_the_log_layer_wrote_it() {
        let rec = record();
        assert_eq!(
            line(&rec, "a@example.com", "api-password").render(),
            "request surface=openai client_model=gemini-2.5-pro-maxthinking \
             served_model=gemini-2.5-pro credential=7 account=a@example.com status=200 \
             outcome=success stream=true attempts=2 latency_ms=1234 ttfb_ms=56 tokens_in=12 \
             tokens_out=345 client=127.0.0.1 key_name=\"api-password\""
        );
        let rec = RequestRecord {
            credential_id: None,
            stream: false,
            ..record()
        };
        let text = line(&rec, "", "ci").render();
        assert!(
            text.contains(" served_model=gemini-2.5-pro account= status=200"),
            "{text}"
        );
        assert!(
            text.contains(" stream=false attempts=1 latency_ms=1234 tokens_in="),
            "{text}"
        );
    }

    /// Only the free-text parts are checked by the redactor, so nothing in the fixed parts of
    /// a line may ever need redaction: a line whose free text is clean is clean as a whole.
    #[test]
    fn the_fixed_parts_never_need_redaction() {
        let rec = record();
        let text = line(&rec, "someone@example.com", "team-a").render();
        assert_eq!(crate::logs::redact(&text), text);
    }

    #[test]
    fn secrets_in_the_free_text_are_redacted() {
        let token = "ya29.a0AfB_byC1234567890abcdefghij";
        let rec = RequestRecord {
            requested_model: format!("gemini-2.5-pro {token}"),
            ..record()
        };
        for text in [
            line(&rec, "a@example.com", "k").render(),
            line(&record(), "a@example.com", &format!("password={token}")).render(),
            line(&record(), &format!("Bearer {token}"), "k").render(),
        ] {
            assert!(!text.contains("a0AfB_byC1234567890"), "{text}");
            assert!(text.contains(crate::logs::MARKER), "{text}");
        }
    }

    /// A registered secret is redacted wherever it appears, even in a fixed part of the line.
    #[test]
    fn registered_secrets_are_redacted_anywhere_in_the_line() {
        let secret = "7391846";
        crate::logs::register_secret(secret);
        let rec = RequestRecord {
            prompt_tokens: 7391846,
            ..record()
        };
        let text = line(&rec, "a@example.com", "k").render();
        crate::logs::forget_secret(secret);
        assert!(!text.contains(secret), "{text}");
        assert!(text.contains(crate::logs::MARKER), "{text}");
    }

    #[test]
    fn a_line_break_in_a_model_name_cannot_forge_a_line() {
        let rec = RequestRecord {
            requested_model: "x\nINFO gcli2api::access: request forged".into(),
            ..record()
        };
        let text = line(&rec, "", "k").render();
        assert!(!text.contains('\n'), "{text}");
        assert!(text.contains(r#"client_model="x\u{a}INFO"#), "{text}");
    }

    /// An escaped control character must not hide a secret written right after it from the
    /// redactor (`\n` would end in a letter, and a token prefix after a letter is not read).
    #[test]
    fn a_secret_after_a_control_character_is_still_redacted() {
        let key = "AIzaSyA1234567890abcdefghijklmnopqrstu";
        for account in [
            format!("x\n{key}"),
            format!("x\t{key}"),
            format!("x\rBearer {key}"),
        ] {
            let text = line(&record(), &account, "k").render();
            assert!(!text.contains("1234567890abcdefghij"), "{text}");
            assert!(text.contains(crate::logs::MARKER), "{text}");
        }
    }
}
