//! What callers record and what the stats functions return.
use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::pool::CredId;

/// Which API the client used: the one `Surface` of the gateway.
pub use crate::error::Surface;

/// How one upstream call or one client request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Success,
    /// Upstream answered with this HTTP status.
    UpstreamError(u16),
    /// The client's request was refused (by us or, for a call, by upstream as malformed).
    ClientError(u16),
    /// No HTTP answer: connect, TLS, timeout or a stream cut midway.
    Transport,
}

impl Outcome {
    pub fn is_success(self) -> bool {
        self == Outcome::Success
    }

    /// Stable text form, used as the database key and in stats maps.
    pub fn key(self) -> String {
        match self {
            Outcome::Success => "success".into(),
            Outcome::UpstreamError(c) => format!("upstream_{c}"),
            Outcome::ClientError(c) => format!("client_{c}"),
            Outcome::Transport => "transport".into(),
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "success" => Some(Outcome::Success),
            "transport" => Some(Outcome::Transport),
            _ => {
                if let Some(code) = s.strip_prefix("upstream_") {
                    code.parse().ok().map(Outcome::UpstreamError)
                } else {
                    s.strip_prefix("client_")?
                        .parse()
                        .ok()
                        .map(Outcome::ClientError)
                }
            }
        }
    }
}

impl Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.key())
    }
}

/// One upstream attempt. A request retried on two credentials produces two of these.
#[derive(Clone, Debug)]
pub struct CallRecord {
    pub credential_id: CredId,
    /// Base model (`gemini-2.5-pro`); its class decides which daily allowance it draws on.
    pub base_model: String,
    pub outcome: Outcome,
}

/// One client request, recorded once when it ends, however many calls it took.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    /// The credential that finally served (or last failed) the request, if any was picked.
    pub credential_id: Option<CredId>,
    pub base_model: String,
    pub requested_model: String,
    pub surface: Surface,
    pub stream: bool,
    pub outcome: Outcome,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub reasoning_tokens: u64,
    pub latency: Duration,
    pub ttfb: Option<Duration>,
    /// Upstream attempts beyond the first.
    pub retries: u32,
    /// The client key (0: the built-in `API_PASSWORD` key).
    pub key_id: i64,
}

/// Global daily limits per credential, from settings. 0 = unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DefaultLimits {
    /// Every call counts.
    pub total: u64,
    /// Only pro-class calls count.
    pub pro: u64,
}

impl Default for DefaultLimits {
    fn default() -> Self {
        Self {
            total: 1000,
            pro: 100,
        }
    }
}

/// Default daily limits of the official upstreams' credentials (Gemini API keys; Vertex
/// service accounts and express keys). Off unless the operator sets them: Google enforces its
/// own quotas there, and the Code Assist numbers of [`DefaultLimits`] mean nothing for them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OfficialLimits {
    pub ai_studio: DefaultLimits,
    pub vertex: DefaultLimits,
}

impl DefaultLimits {
    pub const OFF: Self = Self { total: 0, pro: 0 };
}

/// A credential's own limits. `None` follows the global default; `Some(0)` means unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LimitOverride {
    pub total: Option<u64>,
    pub pro: Option<u64>,
}

/// Today's use of one allowance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QuotaStatus {
    pub used: u64,
    /// `None` = unlimited.
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// The limit comes from this credential's override, not the global default.
    pub overridden: bool,
}

impl QuotaStatus {
    pub(crate) fn new(used: u64, limit: u64, overridden: bool) -> Self {
        let limit = (limit > 0).then_some(limit);
        Self {
            used,
            limit,
            remaining: limit.map(|l| l.saturating_sub(used)),
            overridden,
        }
    }

    pub fn exhausted(&self) -> bool {
        self.limit.is_some_and(|l| self.used >= l)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TodayQuota {
    pub window_start: DateTime<Utc>,
    pub next_reset: DateTime<Utc>,
    pub total: QuotaStatus,
    pub pro: QuotaStatus,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClassCalls {
    pub pro: u64,
    pub flash: u64,
    pub other: u64,
}

/// One credential's counters since its last reset, plus today's allowance.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CredentialUsage {
    pub calls: u64,
    pub successes: u64,
    pub failures: u64,
    /// `successes / calls`; `None` before the first call.
    pub success_rate: Option<f64>,
    pub by_class: ClassCalls,
    /// Failed calls by outcome key (`upstream_429`, `client_400`, `transport`, ...).
    pub errors: BTreeMap<String, u64>,
    pub today: TodayQuota,
}

/// Totals over a period: client requests (with tokens) and upstream calls.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Totals {
    pub requests: u64,
    pub request_successes: u64,
    pub request_failures: u64,
    pub request_success_rate: Option<f64>,
    pub calls: u64,
    pub call_successes: u64,
    pub call_failures: u64,
    pub call_success_rate: Option<f64>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub reasoning_tokens: u64,
}

impl Totals {
    /// Adds the counts of `o` (rates are recomputed by `finish`).
    pub(crate) fn add(&mut self, o: &Totals) {
        self.requests += o.requests;
        self.request_successes += o.request_successes;
        self.request_failures += o.request_failures;
        self.calls += o.calls;
        self.call_successes += o.call_successes;
        self.call_failures += o.call_failures;
        self.prompt_tokens += o.prompt_tokens;
        self.completion_tokens += o.completion_tokens;
        self.reasoning_tokens += o.reasoning_tokens;
    }

    pub(crate) fn finish(&mut self) {
        self.request_success_rate = rate(self.request_successes, self.requests);
        self.call_success_rate = rate(self.call_successes, self.calls);
    }
}

pub(crate) fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DayStats {
    /// Quota day, `YYYY-MM-DD` in the reset time zone.
    pub day: String,
    #[serde(flatten)]
    pub totals: Totals,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelStats {
    pub model: String,
    #[serde(flatten)]
    pub totals: Totals,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CredentialPeriodStats {
    /// 0 collects requests no credential served.
    pub credential_id: CredId,
    #[serde(flatten)]
    pub totals: Totals,
}

/// History over the last `days` quota days (today included), oldest day first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AggregatedStats {
    pub days: u32,
    pub first_day: String,
    pub last_day: String,
    pub overall: Totals,
    pub per_day: Vec<DayStats>,
    pub per_model: Vec<ModelStats>,
    pub per_credential: Vec<CredentialPeriodStats>,
    /// The same totals by credential kind (filled by the service, which knows the kinds).
    pub per_kind: Vec<KindStats>,
    /// Requests by client key (0: the built-in `API_PASSWORD` key).
    pub per_key: Vec<KeyPeriodStats>,
    pub next_reset: DateTime<Utc>,
}

/// Requests and tokens of one client key over the period. Calls are per credential only.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeyPeriodStats {
    pub key_id: i64,
    /// Filled by the caller that knows the keys; `None` for a deleted key.
    pub name: Option<String>,
    #[serde(flatten)]
    pub totals: Totals,
}

/// Totals of every credential of one kind.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KindStats {
    pub kind: crate::google::kind::CredentialKind,
    #[serde(flatten)]
    pub totals: Totals,
}

/// What a retention pass removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    pub minute_rows_deleted: u64,
    pub daily_rows_rolled_up: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_keys_round_trip() {
        for o in [
            Outcome::Success,
            Outcome::UpstreamError(429),
            Outcome::ClientError(400),
            Outcome::Transport,
        ] {
            assert_eq!(Outcome::parse(&o.key()), Some(o));
        }
        assert_eq!(Outcome::parse("upstream_x"), None);
        assert_eq!(Outcome::parse("nope"), None);
    }

    #[test]
    fn quota_status_zero_is_unlimited() {
        let s = QuotaStatus::new(5, 0, false);
        assert_eq!((s.limit, s.remaining, s.exhausted()), (None, None, false));
        let s = QuotaStatus::new(7, 5, true);
        assert_eq!(
            (s.limit, s.remaining, s.exhausted()),
            (Some(5), Some(0), true)
        );
    }
}
