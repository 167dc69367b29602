//! Error bodies of the official upstreams (Gemini API, Vertex with a service account, Vertex
//! express), in the `google.rpc.Status` JSON shapes observed from `generativelanguage` and
//! `aiplatform`, and the mapping of the official fault kinds to them.

use std::time::Duration;

use serde_json::{Value, json};

use super::types::{GEMINI_API_SERVICE, VERTEX_SERVICE};
use crate::simulator::errors::{ErrCtx, JSON_UTF8, pretty, status_body};
use crate::simulator::faults::{Endpoint, Fault, QuotaKind, QuotaViolation, Upstream};
use crate::simulator::projects::project_number;

const AUTH_INVALID: &str = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";
const AUTH_MISSING: &str = "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";
const RATE_LIMITS_URL: &str = "https://ai.google.dev/gemini-api/docs/rate-limits";
const VERTEX_429: &str = "Resource exhausted. Please try again later. Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.";

pub(crate) type Rejection = (u16, Value);

fn error_info(reason: &str, metadata: Value) -> Value {
    json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com", "metadata": metadata})
}

fn localized(message: &str) -> Value {
    json!({"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": message})
}

fn help(description: &str, url: &str) -> Value {
    json!({"@type": "type.googleapis.com/google.rpc.Help", "links": [{"description": description, "url": url}]})
}

pub(crate) fn service_of(upstream: Upstream) -> &'static str {
    match upstream {
        Upstream::GeminiApi => GEMINI_API_SERVICE,
        Upstream::Vertex | Upstream::VertexExpress => VERTEX_SERVICE,
        Upstream::CodeAssist => "cloudcode-pa.googleapis.com",
    }
}

/// The fully qualified RPC name Google puts in error metadata.
pub(crate) fn rpc_name(upstream: Upstream, endpoint: Endpoint) -> String {
    let method = match endpoint {
        Endpoint::StreamGenerateContent => "StreamGenerateContent",
        Endpoint::CountTokens => "CountTokens",
        Endpoint::ListModels => "ListModels",
        Endpoint::GetModel => "GetModel",
        Endpoint::EmbedContent => "EmbedContent",
        Endpoint::BatchEmbedContents => "BatchEmbedContents",
        Endpoint::Predict => "Predict",
        _ => "GenerateContent",
    };
    match (upstream, endpoint) {
        (Upstream::GeminiApi, Endpoint::ListModels | Endpoint::GetModel) => {
            format!("google.ai.generativelanguage.v1beta.ModelService.{method}")
        }
        (Upstream::GeminiApi, _) => {
            format!("google.ai.generativelanguage.v1beta.GenerativeService.{method}")
        }
        (_, Endpoint::CountTokens) => {
            format!("google.cloud.aiplatform.v1.LlmUtilityService.{method}")
        }
        _ => format!("google.cloud.aiplatform.v1.PredictionService.{method}"),
    }
}

fn consumer(project: &str) -> String {
    format!("projects/{}", project_number(project))
}

pub(crate) fn api_key_invalid(service: &str, expired: bool) -> Rejection {
    let message = if expired {
        "API key expired. Please renew the API key."
    } else {
        "API key not valid. Please pass a valid API key."
    };
    let details = vec![
        error_info("API_KEY_INVALID", json!({"service": service})),
        localized(message),
    ];
    (400, status_body(400, "INVALID_ARGUMENT", message, details))
}

/// A standard key on the Gemini API. Observed bodies carry no `domain` in this ErrorInfo.
pub(crate) fn standard_key(service: &str, rpc: &str) -> Rejection {
    let info = json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED", "metadata": {"service": service, "method": rpc}});
    (
        401,
        status_body(401, "UNAUTHENTICATED", AUTH_INVALID, vec![info]),
    )
}

/// The Gemini API without any key.
pub(crate) fn unregistered_caller() -> Rejection {
    let message = "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.";
    (
        403,
        status_body(403, "PERMISSION_DENIED", message, Vec::new()),
    )
}

/// Bearer problems on Vertex; `reason` is `CREDENTIALS_MISSING` when no credential was sent.
pub(crate) fn unauthenticated(service: &str, rpc: &str, reason: &str) -> Rejection {
    let message = if reason == "CREDENTIALS_MISSING" {
        AUTH_MISSING
    } else {
        AUTH_INVALID
    };
    let info = error_info(reason, json!({"service": service, "method": rpc}));
    (
        401,
        status_body(401, "UNAUTHENTICATED", message, vec![info]),
    )
}

pub(crate) fn leaked() -> Rejection {
    let message = "Your API key was reported as leaked. Please use another API key.";
    (
        403,
        status_body(403, "PERMISSION_DENIED", message, Vec::new()),
    )
}

pub(crate) fn consumer_suspended(key: &str, service: &str, project: &str) -> Rejection {
    let message = format!("Permission denied: Consumer 'api_key:{key}' has been suspended.");
    let info = error_info(
        "CONSUMER_SUSPENDED",
        json!({"service": service, "consumer": consumer(project)}),
    );
    (
        403,
        status_body(403, "PERMISSION_DENIED", &message, vec![info]),
    )
}

pub(crate) fn service_blocked(service: &str, rpc: &str, project: &str) -> Rejection {
    let message = format!("Requests to this API {service} method {rpc} are blocked.");
    let info = error_info(
        "API_KEY_SERVICE_BLOCKED",
        json!({"consumer": consumer(project), "service": service, "apiName": service, "methodName": rpc}),
    );
    let details = vec![info, localized(&message)];
    (
        403,
        status_body(403, "PERMISSION_DENIED", &message, details),
    )
}

pub(crate) fn referrer_blocked(service: &str, project: &str) -> Rejection {
    let message = "Requests from referer <empty> are blocked.";
    let info = error_info(
        "API_KEY_HTTP_REFERRER_BLOCKED",
        json!({"service": service, "consumer": consumer(project)}),
    );
    let details = vec![info, localized(message)];
    (403, status_body(403, "PERMISSION_DENIED", message, details))
}

/// The API is disabled in the key's or account's project.
pub(crate) fn service_disabled(service: &str, project: &str) -> Rejection {
    let number = project_number(project);
    let title = if service == GEMINI_API_SERVICE {
        "Generative Language API"
    } else {
        "Vertex AI API"
    };
    let url = format!(
        "https://console.developers.google.com/apis/api/{service}/overview?project={number}"
    );
    let message = format!(
        "{title} has not been used in project {number} before or it is disabled. Enable it by visiting {url} then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry."
    );
    let info = error_info(
        "SERVICE_DISABLED",
        json!({"consumer": format!("projects/{number}"), "service": service, "activationUrl": url, "serviceTitle": title, "containerInfo": number.to_string()}),
    );
    let details = vec![
        info,
        localized(&message),
        help("Google developers console API activation", &url),
    ];
    (
        403,
        status_body(403, "PERMISSION_DENIED", &message, details),
    )
}

/// Seen for one preview model while older models worked on the same key.
pub(crate) fn permission_denied() -> Rejection {
    (
        403,
        status_body(
            403,
            "PERMISSION_DENIED",
            "The caller does not have permission",
            Vec::new(),
        ),
    )
}

/// Gemini API: a model that does not exist or does not serve the method.
pub(crate) fn model_not_found(model: &str, method: &str) -> Rejection {
    let message = format!(
        "models/{model} is not found for API version v1beta, or is not supported for {method}. Call ListModels to see the list of available models and their supported methods."
    );
    (404, status_body(404, "NOT_FOUND", &message, Vec::new()))
}

/// Vertex: a publisher model this project cannot use here.
pub(crate) fn publisher_model_not_found(resource: &str) -> Rejection {
    let message = format!(
        "Publisher Model `{resource}` was not found or your project does not have access to it. Please ensure you are using a valid model version. For more information, see: https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions"
    );
    (404, status_body(404, "NOT_FOUND", &message, Vec::new()))
}

pub(crate) fn iam_denied(resource: &str) -> Rejection {
    let permission = "aiplatform.endpoints.predict";
    let message = format!(
        "Permission '{permission}' denied on resource '//aiplatform.googleapis.com/{resource}' (or it may not exist)."
    );
    let info = json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "IAM_PERMISSION_DENIED", "domain": "aiplatform.googleapis.com", "metadata": {"permission": permission, "resource": resource}});
    (
        403,
        status_body(403, "PERMISSION_DENIED", &message, vec![info]),
    )
}

pub(crate) fn scope_insufficient(service: &str, rpc: &str) -> Rejection {
    let info = error_info(
        "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
        json!({"service": service, "method": rpc}),
    );
    (
        403,
        status_body(
            403,
            "PERMISSION_DENIED",
            "Request had insufficient authentication scopes.",
            vec![info],
        ),
    )
}

/// Which family of quota ids a call counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    Generate,
    /// The embedding ids follow the generation ones' pattern; no capture names them exactly.
    Embed,
}

impl Family {
    pub fn of(endpoint: Endpoint) -> Self {
        match endpoint {
            Endpoint::EmbedContent | Endpoint::BatchEmbedContents | Endpoint::Predict => {
                Self::Embed
            }
            _ => Self::Generate,
        }
    }
}

/// (`quotaMetric`, `quotaId`) of a free-tier quota.
pub(crate) fn quota_ids(family: Family, kind: QuotaKind) -> (&'static str, &'static str) {
    match (family, kind) {
        (Family::Generate, QuotaKind::InputTokensPerMinute) => (
            "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count",
            "GenerateContentInputTokensPerModelPerMinute-FreeTier",
        ),
        (Family::Generate, QuotaKind::RequestsPerMinute) => (
            "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
        ),
        (Family::Generate, QuotaKind::RequestsPerDay) => (
            "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
        ),
        (Family::Embed, QuotaKind::InputTokensPerMinute) => (
            "generativelanguage.googleapis.com/embed_content_free_tier_input_token_count",
            "EmbedContentInputTokensPerModelPerMinute-FreeTier",
        ),
        (Family::Embed, QuotaKind::RequestsPerMinute) => (
            "generativelanguage.googleapis.com/embed_content_free_tier_requests",
            "EmbedContentRequestsPerMinutePerProjectPerModel-FreeTier",
        ),
        (Family::Embed, QuotaKind::RequestsPerDay) => (
            "generativelanguage.googleapis.com/embed_content_free_tier_requests",
            "EmbedContentRequestsPerDayPerProjectPerModel-FreeTier",
        ),
    }
}

/// The model Google names in `quotaDimensions`: the family id without a preview suffix
/// (`gemini-3-pro` for `gemini-3-pro-preview`), so clients must key on the requested model.
pub(crate) fn quota_model(model: &str) -> &str {
    model.find("-preview").map_or(model, |i| &model[..i])
}

/// "38.870205328s": the message's precision; RetryInfo carries whole seconds.
fn message_seconds(d: Duration) -> String {
    let frac = format!("{:09}", d.subsec_nanos());
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{}s", d.as_secs())
    } else {
        format!("{}.{frac}s", d.as_secs())
    }
}

/// The Gemini API's 429: Help, QuotaFailure (a list), RetryInfo; the message repeats each
/// violation with its limit and the delay.
pub(crate) fn quota_exceeded(
    family: Family,
    model: &str,
    violations: &[QuotaViolation],
    retry_after: Duration,
    quota_value: bool,
) -> Rejection {
    let dim_model = quota_model(model);
    let mut message = format!(
        "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: {RATE_LIMITS_URL}. To monitor your current usage, head to: https://ai.dev/rate-limit. \n"
    );
    let mut listed = Vec::new();
    for v in violations {
        let (metric, id) = quota_ids(family, v.quota);
        message.push_str(&format!(
            "* Quota exceeded for metric: {metric}, limit: {}, model: {dim_model}\n",
            v.limit
        ));
        let mut entry = json!({"quotaMetric": metric, "quotaId": id, "quotaDimensions": {"location": "global", "model": dim_model}});
        if quota_value {
            entry["quotaValue"] = json!(v.limit.to_string());
        }
        listed.push(entry);
    }
    message.push_str(&format!(
        "Please retry in {}.",
        message_seconds(retry_after)
    ));
    let details = vec![
        help("Learn more about Gemini API quotas", RATE_LIMITS_URL),
        json!({"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": listed}),
        json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{}s", retry_after.as_secs())}),
    ];
    (
        429,
        status_body(429, "RESOURCE_EXHAUSTED", &message, details),
    )
}

/// The older per-region form without QuotaFailure or RetryInfo. `quota_limit_value` is left
/// out: captures show "0" there even for plain per-minute limits, which says nothing.
pub(crate) fn legacy_rate_limit(service: &str, project: &str) -> Rejection {
    let number = project_number(project);
    let message = format!(
        "Quota exceeded for quota metric 'Generate Content API requests per minute' and limit 'GenerateContent request limit per minute for a region' of service '{service}' for consumer 'project_number:{number}'."
    );
    let info = error_info(
        "RATE_LIMIT_EXCEEDED",
        json!({"service": service, "quota_metric": format!("{service}/generate_content_requests"), "quota_location": "us-west4", "quota_limit": "GenerateContentRequestsPerMinutePerProjectPerRegion", "consumer": format!("projects/{number}")}),
    );
    let link = help(
        "Request a higher quota limit.",
        "https://cloud.google.com/docs/quota#requesting_higher_quota",
    );
    let body = json!({"error": {
        "code": 429,
        "message": message,
        "errors": [{"message": message, "domain": "global", "reason": "rateLimitExceeded"}],
        "status": "RESOURCE_EXHAUSTED",
        "details": [info, link],
    }});
    (429, body)
}

/// Vertex's 429: no RetryInfo, sometimes a legacy `errors[]` entry.
pub(crate) fn vertex_exhausted(with_errors: bool) -> Rejection {
    let body = if with_errors {
        json!({"error": {"code": 429, "message": VERTEX_429, "errors": [{"message": VERTEX_429, "domain": "global", "reason": "rateLimitExceeded"}], "status": "RESOURCE_EXHAUSTED"}})
    } else {
        status_body(429, "RESOURCE_EXHAUSTED", VERTEX_429, Vec::new())
    };
    (429, body)
}

/// Bodies of the official-upstream faults, and of the generic faults whose wording depends on
/// the upstream; `None` leaves the fault to the Code Assist mapping.
pub(crate) fn fault_body(fault: &Fault, ctx: &ErrCtx<'_>) -> Option<(u16, &'static str, Vec<u8>)> {
    let upstream = ctx.upstream.unwrap_or(Upstream::GeminiApi);
    let service = service_of(upstream);
    let official = ctx.upstream.is_some_and(|u| u != Upstream::CodeAssist);
    let (status, body) = match fault {
        Fault::ApiKeyInvalid => api_key_invalid(service, false),
        Fault::ApiKeyExpired => api_key_invalid(service, true),
        Fault::StandardKeyRejected => standard_key(service, ctx.method),
        Fault::ApiKeyLeaked => leaked(),
        Fault::ConsumerSuspended => consumer_suspended(ctx.api_key, service, ctx.project),
        Fault::ApiKeyServiceBlocked => service_blocked(service, ctx.method, ctx.project),
        Fault::ApiKeyReferrerBlocked => referrer_blocked(service, ctx.project),
        Fault::PermissionDenied => permission_denied(),
        Fault::QuotaViolations {
            violations,
            retry_delay_ms,
            omit_quota_value,
        } => quota_exceeded(
            ctx.family,
            ctx.model,
            violations,
            Duration::from_millis(*retry_delay_ms),
            !omit_quota_value,
        ),
        Fault::LegacyRateLimit => legacy_rate_limit(service, ctx.project),
        Fault::VertexResourceExhausted { with_errors } => vertex_exhausted(*with_errors),
        Fault::ServiceDisabled if official => service_disabled(service, ctx.project),
        Fault::Unauthenticated if official => {
            unauthenticated(service, ctx.method, "ACCESS_TOKEN_EXPIRED")
        }
        Fault::NotFound if upstream == Upstream::GeminiApi && official => {
            model_not_found(ctx.model, "generateContent")
        }
        _ => return None,
    };
    Some((status, JSON_UTF8, pretty(&body).into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_body_lists_every_violation_in_message_and_details() {
        let vs = [
            QuotaViolation::new(QuotaKind::RequestsPerMinute, 0),
            QuotaViolation::new(QuotaKind::RequestsPerDay, 0),
        ];
        let d = Duration::from_millis(38_870);
        let (status, b) = quota_exceeded(Family::Generate, "gemini-3-pro-preview", &vs, d, false);
        assert_eq!(status, 429);
        let msg = b["error"]["message"].as_str().unwrap();
        assert!(msg.contains("limit: 0, model: gemini-3-pro\n"));
        assert_eq!(msg.matches("* Quota exceeded").count(), 2);
        assert!(msg.ends_with("Please retry in 38.87s."));
        let details = b["error"]["details"].as_array().unwrap();
        assert_eq!(details[0]["@type"], "type.googleapis.com/google.rpc.Help");
        let violations = details[1]["violations"].as_array().unwrap();
        assert_eq!(
            violations[1]["quotaId"],
            "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
        );
        assert!(violations[0].get("quotaValue").is_none());
        assert_eq!(details[2]["retryDelay"], "38s");
        let (_, b) = quota_exceeded(Family::Embed, "gemini-embedding-001", &vs, d, true);
        let v = &b["error"]["details"][1]["violations"][0];
        assert_eq!(v["quotaValue"], "0");
        assert_eq!(
            v["quotaId"],
            "EmbedContentRequestsPerMinutePerProjectPerModel-FreeTier"
        );
    }

    #[test]
    fn rpc_names_follow_the_services() {
        assert_eq!(
            rpc_name(Upstream::GeminiApi, Endpoint::StreamGenerateContent),
            "google.ai.generativelanguage.v1beta.GenerativeService.StreamGenerateContent"
        );
        assert_eq!(
            rpc_name(Upstream::GeminiApi, Endpoint::ListModels),
            "google.ai.generativelanguage.v1beta.ModelService.ListModels"
        );
        assert_eq!(
            rpc_name(Upstream::Vertex, Endpoint::Predict),
            "google.cloud.aiplatform.v1.PredictionService.Predict"
        );
        assert_eq!(quota_model("gemini-2.5-pro"), "gemini-2.5-pro");
    }
}
