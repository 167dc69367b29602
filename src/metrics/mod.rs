//! `GET /metrics`: the gateway's counters in Prometheus' text format (OpenMetrics 1.0, which
//! Prometheus reads natively), with the `prometheus-client` crate.
//!
//! # Cost per request
//! A request adds to a few counters and histograms when it ends: each is a lookup in a
//! label family (a read lock and a hash) and atomic adds. Nothing is rendered or allocated
//! beyond the label values until a scrape.
//!
//! # Bounded labels
//! - `model` is the served base model when it is in the catalog (`BASE_MODELS`, the Vertex
//!   list, embedding models), else `other`: model names come from clients.
//! - `key` is a client key's name (operators create them) or `api-password`.
//! - Per-credential series carry the account name only while the pool has at most
//!   `METRICS_CREDENTIAL_LABELS_MAX` credentials, else they are summed by kind
//!   (`credential="(all)"`).
//! - Everything else is a fixed set (surfaces, status classes, kinds, states, reasons).
//!
//! # Scrape-time series
//! Pool states, daily quotas and the concurrency limiter are read when scraped (O(number of
//! credentials)), not tracked per request.
mod http;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub use self::http::{metrics_endpoint, serve_separately};
use crate::error::Surface;
use crate::google::kind::CredentialKind;

/// What the HTTP answer's `Content-Type` says.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    surface: &'static str,
    model: Cow<'static, str>,
    /// `2xx`, `4xx`, `5xx`.
    status: &'static str,
    key: Cow<'static, str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    /// `in` (prompt) or `out` (completion, thinking included).
    direction: &'static str,
    key: Cow<'static, str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SurfaceLabel {
    surface: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    kind: &'static str,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CredentialLabels {
    kind: &'static str,
    credential: String,
}

const LATENCY_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
];
const OVERHEAD_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];
const TTFB_BUCKETS: [f64; 11] = [0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0];

/// What failed before a retry (see `proxy::dispatch`).
pub const RETRY_REASONS: [&str; 6] = [
    "upstream_429",
    "upstream_5xx",
    "upstream_4xx",
    "empty_reply",
    "transport",
    "refresh",
];

/// Names of every series this module writes (their families, before `_total`/`_bucket`
/// suffixes), for the dashboard test.
pub const FAMILIES: &[&str] = &[
    "gcli2api_requests",
    "gcli2api_tokens",
    "gcli2api_upstream_latency_seconds",
    "gcli2api_gateway_overhead_seconds",
    "gcli2api_stream_ttfb_seconds",
    "gcli2api_retries",
    "gcli2api_credentials",
    "gcli2api_quota_used",
    "gcli2api_quota_left",
    "gcli2api_limiter_in_flight",
    "gcli2api_limiter_queued",
    "gcli2api_limiter_capacity",
];

/// Histograms by label set, each made with its own buckets.
type Hists<L> = Family<L, Histogram, fn() -> Histogram>;

/// The per-request series. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
    upstream: Hists<KindLabel>,
    overhead: Hists<SurfaceLabel>,
    ttfb: Hists<SurfaceLabel>,
    retries: Family<ReasonLabel, Counter>,
}

/// One client request as it ended, for [`Metrics::request`].
#[derive(Clone, Copy, Debug)]
pub struct RequestObs<'a> {
    pub surface: Surface,
    pub model: &'a str,
    pub status: u16,
    pub key: &'a str,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub stream: bool,
    pub latency: Duration,
    pub ttfb: Option<Duration>,
    /// Time spent waiting on upstream calls before the answer (the whole call for a unary
    /// request, up to the first event for a stream); `None` when no call was made.
    pub upstream: Option<Duration>,
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The `model` label: catalog names as they are, anything else `other`.
fn model_label(model: &str, known: &[String]) -> Cow<'static, str> {
    if let Some(m) = crate::models::DEFAULT_BASE_MODELS
        .iter()
        .find(|m| **m == model)
    {
        return Cow::Borrowed(m);
    }
    if known.iter().any(|m| m == model) || crate::models::is_embedding(model) {
        return Cow::Owned(model.to_string());
    }
    if model == "unknown" {
        return Cow::Borrowed("unknown");
    }
    Cow::Borrowed("other")
}

fn key_label(key: &str) -> Cow<'static, str> {
    if key == crate::keys::BUILTIN_NAME {
        Cow::Borrowed(crate::keys::BUILTIN_NAME)
    } else {
        Cow::Owned(key.to_string())
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "gcli2api_requests",
            "Client requests by surface, served base model, status class and client key",
            requests.clone(),
        );
        let tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "gcli2api_tokens",
            "Tokens by direction (in: prompt, out: completion with thinking) and client key",
            tokens.clone(),
        );
        let upstream: Hists<KindLabel> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "gcli2api_upstream_latency_seconds",
            "Upstream call time by credential kind (a stream: until its first event)",
            upstream.clone(),
        );
        let overhead: Hists<SurfaceLabel> = Family::new_with_constructor(overhead_histogram);
        registry.register(
            "gcli2api_gateway_overhead_seconds",
            "Time the gateway adds: total minus upstream (a stream: first byte minus upstream)",
            overhead.clone(),
        );
        let ttfb: Hists<SurfaceLabel> = Family::new_with_constructor(ttfb_histogram);
        registry.register(
            "gcli2api_stream_ttfb_seconds",
            "Time to the first byte of streamed answers",
            ttfb.clone(),
        );
        let retries = Family::<ReasonLabel, Counter>::default();
        // Every reason is there from the start: a dashboard shows zeros, not "no data".
        for reason in RETRY_REASONS {
            let _ = retries.get_or_create(&ReasonLabel { reason });
        }
        registry.register(
            "gcli2api_retries",
            "Upstream attempts beyond a request's first, by what failed before them",
            retries.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                requests,
                tokens,
                upstream,
                overhead,
                ttfb,
                retries,
            }),
        }
    }

    /// One client request that ended. `known` is the configured model catalog.
    pub fn request(&self, o: &RequestObs<'_>, known: &[String]) {
        let i = &self.inner;
        let key = key_label(o.key);
        i.requests
            .get_or_create(&RequestLabels {
                surface: o.surface.as_str(),
                model: model_label(o.model, known),
                status: status_class(o.status),
                key: key.clone(),
            })
            .inc();
        if o.prompt_tokens > 0 {
            i.tokens
                .get_or_create(&TokenLabels {
                    direction: "in",
                    key: key.clone(),
                })
                .inc_by(o.prompt_tokens);
        }
        if o.completion_tokens > 0 {
            i.tokens
                .get_or_create(&TokenLabels {
                    direction: "out",
                    key,
                })
                .inc_by(o.completion_tokens);
        }
        let surface = SurfaceLabel {
            surface: o.surface.as_str(),
        };
        if o.stream
            && let Some(t) = o.ttfb
        {
            i.ttfb.get_or_create(&surface).observe(t.as_secs_f64());
        }
        if let Some(up) = o.upstream {
            let until = if o.stream { o.ttfb } else { Some(o.latency) };
            if let Some(total) = until {
                i.overhead
                    .get_or_create(&surface)
                    .observe(total.saturating_sub(up).as_secs_f64());
            }
        }
    }

    /// A request refused before a handler ran (a wrong key, a key over its limits).
    pub fn refused(&self, surface: Surface, status: u16, key: &str) {
        self.inner
            .requests
            .get_or_create(&RequestLabels {
                surface: surface.as_str(),
                model: Cow::Borrowed("unknown"),
                status: status_class(status),
                key: key_label(key),
            })
            .inc();
    }

    /// One upstream call's time.
    pub fn upstream_call(&self, kind: CredentialKind, took: Duration) {
        self.inner
            .upstream
            .get_or_create(&KindLabel {
                kind: kind.as_str(),
            })
            .observe(took.as_secs_f64());
    }

    /// An attempt beyond a request's first, and what failed before it.
    pub fn retry(&self, reason: &'static str) {
        self.inner
            .retries
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// The text of a scrape: these series plus the ones read now from `state`.
    pub fn render(&self, state: &crate::AppState) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let now = scrape_registry(state);
        let written =
            prometheus_client::encoding::text::encode_registry(&mut out, &self.inner.registry)
                .and_then(|()| prometheus_client::encoding::text::encode_registry(&mut out, &now))
                .and_then(|()| prometheus_client::encoding::text::encode_eof(&mut out));
        if let Err(e) = written {
            // Writing into a String cannot fail; keep what was written.
            tracing::error!(error = %e, "metrics encoding failed");
        }
        out
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

fn overhead_histogram() -> Histogram {
    Histogram::new(OVERHEAD_BUCKETS)
}

fn ttfb_histogram() -> Histogram {
    Histogram::new(TTFB_BUCKETS)
}

/// Pool states, quotas and the limiter, read now.
fn scrape_registry(state: &crate::AppState) -> Registry {
    let mut r = Registry::default();
    let entries = state.pool.metric_entries();
    let pool = Family::<PoolLabels, Gauge>::default();
    for kind in CredentialKind::ALL {
        for st in crate::pool::MetricState::ALL {
            let n = entries
                .iter()
                .filter(|e| e.kind == kind && e.state == st)
                .count();
            pool.get_or_create(&PoolLabels {
                kind: kind.as_str(),
                state: st.as_str(),
            })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
    r.register(
        "gcli2api_credentials",
        "Credentials by kind and state (active, cooling, exhausted, disabled, needs_sign_in, banned)",
        pool,
    );
    let per_credential = entries.len() <= state.settings.get().metrics_credential_labels_max;
    let used = Family::<CredentialLabels, Gauge>::default();
    let left = Family::<CredentialLabels, Gauge>::default();
    for e in &entries {
        let q = state.usage.credential_stats(e.id).today.total;
        let labels = CredentialLabels {
            kind: e.kind.as_str(),
            credential: if per_credential {
                e.name.clone()
            } else {
                "(all)".to_string()
            },
        };
        used.get_or_create(&labels)
            .inc_by(i64::try_from(q.used).unwrap_or(i64::MAX));
        if let Some(rem) = q.remaining {
            left.get_or_create(&labels)
                .inc_by(i64::try_from(rem).unwrap_or(i64::MAX));
        }
    }
    r.register(
        "gcli2api_quota_used",
        "Calls counted today against each credential's daily allowance",
        used,
    );
    r.register(
        "gcli2api_quota_left",
        "Calls left today in each limited credential's daily allowance (unlimited ones are absent)",
        left,
    );
    let limiter = &state.limiter;
    let gauge = |v: usize| {
        let g = Gauge::<i64>::default();
        g.set(i64::try_from(v).unwrap_or(i64::MAX));
        g
    };
    r.register(
        "gcli2api_limiter_in_flight",
        "Proxy requests holding a MAX_CONCURRENT_REQUESTS slot",
        gauge(limiter.in_use(limiter.capacity())),
    );
    r.register(
        "gcli2api_limiter_queued",
        "Proxy requests waiting for a slot",
        gauge(limiter.waiting()),
    );
    r.register(
        "gcli2api_limiter_capacity",
        "Slots of MAX_CONCURRENT_REQUESTS",
        gauge(limiter.capacity()),
    );
    r
}
