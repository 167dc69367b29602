//! Scripted faults: the error and stream shapes Google is known to produce. A rule matches on user,
//! model, endpoint and, for the official upstreams, on API key, Google project and upstream;
//! matching rules are consumed in FIFO order. Error faults replace the answer on any endpoint;
//! behaviour faults (stream shapes, empty replies, slowness, ignoring `[done]`) only act on
//! generation calls and are consumed without effect elsewhere.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    Token,
    Authorize,
    TokenInfo,
    UserInfo,
    ListProjects,
    ServiceUsage,
    LoadCodeAssist,
    OnboardUser,
    GetOperation,
    GenerateContent,
    StreamGenerateContent,
    CountTokens,
    /// Gemini API `GET /v1beta/models`.
    ListModels,
    /// Gemini API `GET /v1beta/models/{model}`.
    GetModel,
    /// `:embedContent` (Gemini API, Vertex).
    EmbedContent,
    /// Gemini API `:batchEmbedContents`.
    BatchEmbedContents,
    /// Vertex `:predict` (embeddings).
    Predict,
    #[default]
    Other,
}

/// Which Google service a call went to. OAuth, userinfo and project discovery belong to none.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Upstream {
    /// `cloudcode-pa` `/v1internal:*`.
    CodeAssist,
    /// `generativelanguage` `/v1beta/models...`, authenticated by an API key.
    GeminiApi,
    /// `aiplatform` `/v1/projects/{p}/locations/{l}/publishers/google/models/...`, bearer token.
    Vertex,
    /// `aiplatform` `/v1/publishers/google/models/...`, authenticated by an express API key.
    VertexExpress,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct FaultMatch {
    pub email: Option<String>,
    /// Compared with the envelope's bare `model` field, or the model in the official paths.
    pub model: Option<String>,
    pub endpoint: Option<Endpoint>,
    /// The API key sent (`x-goog-api-key` or `?key=`).
    pub api_key: Option<String>,
    /// The Google project: Code Assist's envelope project, the Vertex path's project, or the
    /// project an API key belongs to.
    pub project: Option<String>,
    pub upstream: Option<Upstream>,
}

impl FaultMatch {
    pub fn any() -> Self {
        Self::default()
    }
    pub fn endpoint(endpoint: Endpoint) -> Self {
        Self {
            endpoint: Some(endpoint),
            ..Self::default()
        }
    }
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }
    pub fn upstream(mut self, upstream: Upstream) -> Self {
        self.upstream = Some(upstream);
        self
    }

    fn matches(&self, call: &CallKey<'_>) -> bool {
        self.endpoint.is_none_or(|e| e == call.endpoint)
            && self
                .email
                .as_deref()
                .is_none_or(|e| call.email.is_some_and(|c| c.eq_ignore_ascii_case(e)))
            && self.model.as_deref().is_none_or(|m| call.model == Some(m))
            && self
                .api_key
                .as_deref()
                .is_none_or(|k| call.api_key == Some(k))
            && self
                .project
                .as_deref()
                .is_none_or(|p| call.project == Some(p))
            && self.upstream.is_none_or(|u| call.upstream == Some(u))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FaultRule {
    pub when: FaultMatch,
    /// How many matching calls this rule answers; 0 means every matching call until reset.
    #[serde(default = "one")]
    pub times: u32,
    pub fault: Fault,
}

fn one() -> u32 {
    1
}

impl FaultRule {
    pub fn new(when: FaultMatch, times: u32, fault: Fault) -> Self {
        Self { when, times, fault }
    }
    /// The next call of any kind gets `fault`.
    pub fn once(fault: Fault) -> Self {
        Self::new(FaultMatch::any(), 1, fault)
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MalformedSse {
    /// A `data: {not json` event before the real ones.
    InvalidJsonLine,
    /// The first event's pretty-printed JSON spread over several `data:` lines.
    MultiLineData,
    /// `: comment`, `event:` and `id:` lines around every event.
    CommentAndFields,
    /// Events separated by a single line ending instead of a blank line.
    MissingBlankLine,
    /// A UTF-8 BOM before the first event.
    Bom,
    /// `data:{...}` without the space.
    NoSpaceAfterData,
    /// A trailing `data: [DONE]` event.
    TrailingDone,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EmptyReply {
    /// `{"response":{}}`
    ResponseEmpty,
    /// One candidate whose only part is `{"text":""}`, finishReason STOP.
    EmptyText,
    /// Thought parts only, finishReason STOP.
    ThoughtsOnly,
    /// No candidates; `promptFeedback.blockReason: SAFETY` and prompt-only usage.
    PromptBlocked,
    /// A candidate with finishReason SAFETY, blocked safety ratings and no content.
    SafetyNoContent,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// 429 ErrorInfo RATE_LIMIT_EXCEEDED + RetryInfo; quotaResetTimeStamp = now + delay.
    RateLimitExceeded {
        #[serde(default = "half_second")]
        retry_delay_ms: u64,
    },
    /// 429 ErrorInfo QUOTA_EXHAUSTED, quotaResetDelay in Go form, timestamp, RetryInfo.
    QuotaExhausted {
        #[serde(default = "thirteen_hours")]
        reset_after_secs: u64,
    },
    /// 429 with no details and exactly "Resource has been exhausted (e.g. check quota).".
    ResourceExhausted,
    /// 429 with no details and another message.
    ResourceExhaustedMessage {
        message: String,
    },
    /// 429 RATE_LIMIT_EXCEEDED wrapped in a one-element JSON array.
    ArrayWrapped429,
    /// 429 ErrorInfo MODEL_CAPACITY_EXHAUSTED.
    ModelCapacityExhausted,
    /// 500 INTERNAL.
    Internal,
    /// 502 with a load balancer's HTML page.
    BadGatewayHtml,
    /// 503 UNAVAILABLE, with RetryInfo when a delay is given.
    Unavailable {
        #[serde(default)]
        retry_delay_ms: Option<u64>,
    },
    /// 504 DEADLINE_EXCEEDED.
    GatewayTimeout,
    /// 401 UNAUTHENTICATED (as for an expired token).
    Unauthenticated,
    /// 403 SERVICE_DISABLED for the request's project.
    ServiceDisabled,
    /// 403 CONSUMER_INVALID for the request's project.
    ConsumerInvalid,
    /// 403 "named user" licence message with `errors[].reason: forbidden`.
    NamedUserLicence,
    /// 403 VALIDATION_REQUIRED with ErrorInfo metadata `validation_link` and a Help link.
    ValidationRequired,
    /// 403 for a suspended account.
    Banned,
    /// 403 SECURITY_POLICY_VIOLATED (VPC-SC).
    SecurityPolicyViolated,
    /// 404 NOT_FOUND.
    NotFound,
    /// 400 "Request contains an invalid argument.".
    BadRequest,
    /// 400 "Invalid JSON payload received. Unknown name ..." for `name` at 'request'.
    UnknownField {
        name: String,
    },
    /// 400 "Function call is missing a thought_signature in functionCall parts" (Gemini 3).
    MissingThoughtSignature,
    /// 400 for googleSearch combined with function declarations.
    SearchWithFunctions,
    /// The inner fault's body, gzip-encoded with `content-encoding: gzip`.
    Gzipped {
        inner: Box<Fault>,
    },
    /// Any status and body.
    Raw {
        status: u16,
        body: String,
        #[serde(default)]
        content_type: Option<String>,
    },
    /// Token endpoint: 400 invalid_grant.
    InvalidGrant,
    /// Token endpoint: 401 invalid_client.
    InvalidClient,
    /// Token endpoint: 500 with an OAuth-style body.
    TokenServerError,
    /// The connection is closed without a complete response.
    ConnectionDrop,
    /// Authorization page: redirect with `error=access_denied`.
    AccessDenied,
    /// Hold the response head back this long (capped at 60 s), then answer normally.
    SlowFirstByte {
        delay_ms: u64,
    },
    /// Stream: after `after_events` events the connection is closed before the body is
    /// complete (the response declares a longer `content-length`, so no clean end is
    /// possible); with `mid_event` half of the next event is sent first. On
    /// `generateContent` the JSON body is cut in half the same way.
    StreamCut {
        after_events: u32,
        #[serde(default)]
        mid_event: bool,
    },
    /// Stream: ends cleanly after `after_events` events, none of which has a finishReason.
    EndWithoutFinish {
        after_events: u32,
    },
    /// Stream: 200 with zero events.
    EmptyStream,
    MalformedSse {
        variant: MalformedSse,
    },
    /// Stream: after `after_events` events, `data: {"error":{...500...}}` and the end.
    InStreamError {
        after_events: u32,
    },
    EmptyReply {
        variant: EmptyReply,
    },
    /// The reply does not end with `[done]` even when the system instruction asks for it.
    IgnoreDoneMarker,
    /// 400 INVALID_ARGUMENT, ErrorInfo `API_KEY_INVALID`: "API key not valid. Please pass a
    /// valid API key." (official upstreams).
    ApiKeyInvalid,
    /// 400 INVALID_ARGUMENT, ErrorInfo `API_KEY_INVALID`: "API key expired. Please renew the
    /// API key.", with a LocalizedMessage detail.
    ApiKeyExpired,
    /// 401 UNAUTHENTICATED, ErrorInfo `ACCESS_TOKEN_TYPE_UNSUPPORTED`: a standard `AIza` key.
    StandardKeyRejected,
    /// 403 "Your API key was reported as leaked. Please use another API key." (no details).
    ApiKeyLeaked,
    /// 403 ErrorInfo `CONSUMER_SUSPENDED` ("Consumer 'api_key:...' has been suspended.").
    ConsumerSuspended,
    /// 403 ErrorInfo `API_KEY_SERVICE_BLOCKED`: the key's API restrictions exclude the service.
    ApiKeyServiceBlocked,
    /// 403 ErrorInfo `API_KEY_HTTP_REFERRER_BLOCKED`.
    ApiKeyReferrerBlocked,
    /// 403 "The caller does not have permission" with no details (seen for one model only).
    PermissionDenied,
    /// 429 of the Gemini API: Help, QuotaFailure with these violations, RetryInfo; the message
    /// lists each violation ("limit: N, model: M") and "Please retry in X.XXXs.".
    QuotaViolations {
        violations: Vec<QuotaViolation>,
        #[serde(default = "quota_retry_ms")]
        retry_delay_ms: u64,
        /// Leave `quotaValue` out of the violations (the limit is then only in the message).
        #[serde(default)]
        omit_quota_value: bool,
    },
    /// 429 legacy form: ErrorInfo `RATE_LIMIT_EXCEEDED` with `quota_metric` / `quota_limit`
    /// metadata and `errors[].reason: rateLimitExceeded`, no RetryInfo.
    LegacyRateLimit,
    /// 429 of Vertex: "Resource exhausted. Please try again later. ..." with no details;
    /// `with_errors` adds `errors:[{reason:"rateLimitExceeded"}]`.
    VertexResourceExhausted {
        #[serde(default)]
        with_errors: bool,
    },
}

/// One entry of a Gemini API 429's `QuotaFailure.violations`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct QuotaViolation {
    pub quota: QuotaKind,
    /// The limit (`quotaValue`); 0 means this project's tier never serves the model.
    pub limit: u64,
}

impl QuotaViolation {
    pub fn new(quota: QuotaKind, limit: u64) -> Self {
        Self { quota, limit }
    }
}

/// The free-tier quotas the simulator knows, with Google's quota ids.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum QuotaKind {
    /// `GenerateContentInputTokensPerModelPerMinute-FreeTier`.
    InputTokensPerMinute,
    /// `GenerateRequestsPerMinutePerProjectPerModel-FreeTier`.
    RequestsPerMinute,
    /// `GenerateRequestsPerDayPerProjectPerModel-FreeTier`.
    RequestsPerDay,
}

fn quota_retry_ms() -> u64 {
    38_870
}

fn half_second() -> u64 {
    500
}
fn thirteen_hours() -> u64 {
    13 * 3600 + 19 * 60 + 1
}

impl Fault {
    /// Faults that shape a generation reply instead of replacing it.
    pub(crate) fn is_behaviour(&self) -> bool {
        matches!(
            self,
            Self::SlowFirstByte { .. }
                | Self::StreamCut { .. }
                | Self::EndWithoutFinish { .. }
                | Self::EmptyStream
                | Self::MalformedSse { .. }
                | Self::InStreamError { .. }
                | Self::EmptyReply { .. }
                | Self::IgnoreDoneMarker
                | Self::AccessDenied
        )
    }
}

#[derive(Default)]
pub(crate) struct CallKey<'a> {
    pub endpoint: Endpoint,
    pub email: Option<&'a str>,
    pub model: Option<&'a str>,
    pub api_key: Option<&'a str>,
    pub project: Option<&'a str>,
    pub upstream: Option<Upstream>,
}

/// Take the first matching rule's fault, consuming one use of it.
pub(crate) fn take(rules: &mut Vec<FaultRule>, call: &CallKey<'_>) -> Option<Fault> {
    let idx = rules.iter().position(|r| r.when.matches(call))?;
    let fault = rules[idx].fault.clone();
    match rules[idx].times {
        0 => {}
        1 => {
            rules.remove(idx);
        }
        _ => rules[idx].times -= 1,
    }
    Some(fault)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(endpoint: Endpoint, email: Option<&'static str>) -> CallKey<'static> {
        CallKey {
            endpoint,
            email,
            model: Some("gemini-2.5-pro"),
            ..CallKey::default()
        }
    }

    #[test]
    fn rules_are_consumed_in_fifo_order_per_match() {
        let mut rules = vec![
            FaultRule::new(FaultMatch::any().email("a@x"), 2, Fault::Internal),
            FaultRule::new(
                FaultMatch::endpoint(Endpoint::Token),
                1,
                Fault::InvalidGrant,
            ),
            FaultRule::once(Fault::NotFound),
        ];
        let gen_b = key(Endpoint::GenerateContent, Some("b@x"));
        assert_eq!(take(&mut rules, &gen_b), Some(Fault::NotFound));
        let gen_a = key(Endpoint::GenerateContent, Some("A@x"));
        assert_eq!(take(&mut rules, &gen_a), Some(Fault::Internal));
        assert_eq!(take(&mut rules, &gen_a), Some(Fault::Internal));
        assert_eq!(take(&mut rules, &gen_a), None);
        assert_eq!(
            take(&mut rules, &key(Endpoint::Token, None)),
            Some(Fault::InvalidGrant)
        );
        assert!(rules.is_empty());
    }

    #[test]
    fn zero_times_is_sticky_and_model_must_match() {
        let when = FaultMatch::any().model("gemini-2.5-flash");
        let mut rules = vec![FaultRule::new(when, 0, Fault::Internal)];
        assert_eq!(
            take(&mut rules, &key(Endpoint::GenerateContent, None)),
            None
        );
        let flash = CallKey {
            endpoint: Endpoint::GenerateContent,
            model: Some("gemini-2.5-flash"),
            ..CallKey::default()
        };
        for _ in 0..3 {
            assert_eq!(take(&mut rules, &flash), Some(Fault::Internal));
        }
    }

    #[test]
    fn official_dimensions_must_all_match() {
        let when = FaultMatch::endpoint(Endpoint::GenerateContent)
            .api_key("AQ.k1")
            .project("proj-a")
            .upstream(Upstream::GeminiApi);
        let mut rules = vec![FaultRule::new(when, 0, Fault::ApiKeyLeaked)];
        let call = |key, project, upstream| CallKey {
            endpoint: Endpoint::GenerateContent,
            api_key: Some(key),
            project: Some(project),
            upstream: Some(upstream),
            ..CallKey::default()
        };
        let hit = call("AQ.k1", "proj-a", Upstream::GeminiApi);
        assert_eq!(take(&mut rules, &hit), Some(Fault::ApiKeyLeaked));
        for miss in [
            call("AQ.k2", "proj-a", Upstream::GeminiApi),
            call("AQ.k1", "proj-b", Upstream::GeminiApi),
            call("AQ.k1", "proj-a", Upstream::VertexExpress),
        ] {
            assert_eq!(take(&mut rules, &miss), None);
        }
        // A rule without the new fields still matches official calls.
        let mut rules = vec![FaultRule::once(Fault::Internal)];
        assert_eq!(take(&mut rules, &hit), Some(Fault::Internal));
    }

    #[test]
    fn faults_round_trip_as_json() {
        let rule = FaultRule::once(Fault::Gzipped {
            inner: Box::new(Fault::RateLimitExceeded {
                retry_delay_ms: 500,
            }),
        });
        let text = serde_json::to_string(&rule).unwrap();
        assert_eq!(serde_json::from_str::<FaultRule>(&text).unwrap(), rule);
        let parsed: FaultRule =
            serde_json::from_str(r#"{"when":{},"fault":{"kind":"quota_exhausted"}}"#).unwrap();
        assert_eq!(parsed.times, 1);
        assert_eq!(
            parsed.fault,
            Fault::QuotaExhausted {
                reset_after_secs: 47941
            }
        );
    }
}
