//! What the official upstreams' errors mean (the Gemini API, Vertex, Vertex express). Branches on
//! `ErrorInfo.reason` and `QuotaFailure`, never on message text, except where Google sends no
//! details at all (the leaked-key 403, bare 429s).
use std::time::Duration;

use super::UpstreamError;
use super::classify::ErrorClass;

/// Vertex's 429 ("Resource exhausted. Please try again later.") names no delay; it is usually
/// a short shared-capacity throttle, so the cooldown is short too.
const VERTEX_THROTTLE: Duration = Duration::from_secs(15);

const STANDARD_KEY: &str =
    "the Gemini API no longer accepts standard keys: create an auth key in AI Studio";

fn reason(err: &UpstreamError) -> &str {
    err.reason.as_deref().unwrap_or_default()
}

/// A refused credential's reason for the operator: what is wrong and what to do, in plain
/// words, with Google's own message after it.
pub fn plain_reason(err: &UpstreamError) -> String {
    let said = err.message.trim();
    let with = |what: &str| format!("{what} (Google: \"{said}\")");
    match reason(err) {
        "ACCESS_TOKEN_TYPE_UNSUPPORTED" => STANDARD_KEY.to_string(),
        "API_KEY_INVALID" => with("the key is not valid or has expired: create or renew it"),
        "CONSUMER_SUSPENDED" => with("Google suspended this key"),
        "API_KEY_SERVICE_BLOCKED" => {
            with("the key's API restrictions block this API: allow it in the key's settings")
        }
        "API_KEY_HTTP_REFERRER_BLOCKED" => {
            with("the key only works from certain websites: remove its referrer restriction")
        }
        "SERVICE_DISABLED" => with("the API is disabled in the key's Google project: enable it"),
        "IAM_PERMISSION_DENIED" => with(
            "the service account may not call Vertex AI here: grant it the Vertex AI User role",
        ),
        "ACCESS_TOKEN_SCOPE_INSUFFICIENT" => with("the token lacks the cloud-platform scope"),
        _ if is_leaked(err) => "Google reported this key as leaked: use another key".to_string(),
        "" => with("Google refused the credential"),
        r => with(&format!("Google refused the credential ({r})")),
    }
}

/// The leaked-key 403 carries no details; its message is the only signal.
fn is_leaked(err: &UpstreamError) -> bool {
    err.status == 403 && !err.has_details() && err.message.contains("reported as leaked")
}

fn rejected(err: &UpstreamError) -> ErrorClass {
    ErrorClass::CredentialRejected {
        reason: plain_reason(err),
    }
}

/// 403s that name why the credential (not the model) is refused.
fn forbidden_credential(err: &UpstreamError) -> bool {
    matches!(
        reason(err),
        "CONSUMER_SUSPENDED"
            | "API_KEY_SERVICE_BLOCKED"
            | "API_KEY_HTTP_REFERRER_BLOCKED"
            | "SERVICE_DISABLED"
            | "IAM_PERMISSION_DENIED"
            | "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
            | "API_KEY_INVALID"
    ) || is_leaked(err)
}

/// A 429 read in the spec's order: limit 0, then per-day, then per-minute; without details,
/// a throttle with whatever delay Google named.
fn quota(err: &UpstreamError, default: Option<Duration>) -> ErrorClass {
    let zero = err
        .violations
        .iter()
        .any(|v| v.quota_value.as_deref() == Some("0"));
    let values_missing = err.violations.iter().all(|v| v.quota_value.is_none());
    if zero || (values_missing && err.message.contains("limit: 0")) {
        return ErrorClass::ModelDenied;
    }
    if err.quota_ids.iter().any(|q| q.contains("PerDay")) {
        return ErrorClass::DailyQuota;
    }
    ErrorClass::RateLimited {
        retry_after: err.retry_delay.or(default),
    }
}

fn server(err: &UpstreamError) -> ErrorClass {
    if err.status == 503 {
        ErrorClass::Capacity {
            retry_after: err.retry_delay,
        }
    } else {
        ErrorClass::ServerError
    }
}

/// The Gemini API and Vertex express: an API key authenticates every call, so a 400
/// `API_KEY_INVALID` or any 401 means the key itself is refused.
pub fn classify_gemini_api(err: &UpstreamError) -> ErrorClass {
    match err.status {
        400 if reason(err) == "API_KEY_INVALID" => rejected(err),
        400 | 409 | 411 | 413 | 422 => ErrorClass::BadRequest,
        401 => rejected(err),
        403 if forbidden_credential(err) => rejected(err),
        // "The caller does not have permission" for one preview model while others work.
        403 if !err.has_details() => ErrorClass::ModelDenied,
        403 => ErrorClass::Forbidden {
            reason: err.reason.clone(),
        },
        404 => ErrorClass::ModelDenied,
        429 => quota(err, None),
        500..=599 => server(err),
        _ => ErrorClass::Other,
    }
}

/// Vertex: a bearer token from a service account (a 401 is an expired token: grant a new
/// one), or an express key (`key` true: a 401 is the key itself).
pub fn classify_vertex(err: &UpstreamError, key: bool) -> ErrorClass {
    match err.status {
        400 if reason(err) == "API_KEY_INVALID" => rejected(err),
        400 | 409 | 411 | 413 | 422 => ErrorClass::BadRequest,
        401 if key => rejected(err),
        401 => ErrorClass::AuthExpired,
        403 if forbidden_credential(err) => rejected(err),
        403 => ErrorClass::Forbidden {
            reason: err.reason.clone(),
        },
        // "Publisher Model ... was not found or your project does not have access to it":
        // this project or location lacks the model; another credential may have it.
        404 => ErrorClass::ModelDenied,
        429 => quota(err, Some(VERTEX_THROTTLE)),
        500..=599 => server(err),
        _ => ErrorClass::Other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::google::errors::parse_error;

    fn err(status: u16, body: serde_json::Value) -> UpstreamError {
        parse_error(status, body.to_string().as_bytes())
    }

    fn info(reason: &str) -> serde_json::Value {
        json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com"})
    }

    fn violations(list: &[(&str, Option<&str>)], message: &str) -> UpstreamError {
        let vs: Vec<_> = list
            .iter()
            .map(|(id, v)| {
                let mut e = json!({"quotaId": id, "quotaMetric": "m"});
                if let Some(v) = v {
                    e["quotaValue"] = json!(v);
                }
                e
            })
            .collect();
        err(
            429,
            json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": message, "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": vs},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "47s"},
            ]}}),
        )
    }

    #[test]
    fn keys_refused_for_good_say_why_plainly() {
        let standard = err(
            401,
            json!({"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "Request had invalid authentication credentials.", "details": [info("ACCESS_TOKEN_TYPE_UNSUPPORTED")]}}),
        );
        assert_eq!(
            classify_gemini_api(&standard),
            ErrorClass::CredentialRejected {
                reason: STANDARD_KEY.into()
            }
        );
        let expired = err(
            400,
            json!({"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "API key expired. Please renew the API key.", "details": [info("API_KEY_INVALID")]}}),
        );
        let ErrorClass::CredentialRejected { reason } = classify_gemini_api(&expired) else {
            panic!("expired keys are refused");
        };
        assert!(reason.contains("API key expired"), "{reason}");
        let leaked = err(
            403,
            json!({"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "Your API key was reported as leaked. Please use another API key."}}),
        );
        assert!(matches!(
            classify_gemini_api(&leaked),
            ErrorClass::CredentialRejected { reason } if reason.contains("leaked")
        ));
        for r in [
            "CONSUMER_SUSPENDED",
            "API_KEY_SERVICE_BLOCKED",
            "SERVICE_DISABLED",
        ] {
            let e = err(
                403,
                json!({"error": {"code": 403, "message": "m", "details": [info(r)]}}),
            );
            assert!(
                matches!(
                    classify_gemini_api(&e),
                    ErrorClass::CredentialRejected { .. }
                ),
                "{r}"
            );
            assert!(
                matches!(
                    classify_vertex(&e, true),
                    ErrorClass::CredentialRejected { .. }
                ),
                "{r}"
            );
        }
        // Other 400s are the client's fault.
        let bad = err(
            400,
            json!({"error": {"code": 400, "message": "Invalid JSON payload"}}),
        );
        assert_eq!(classify_gemini_api(&bad), ErrorClass::BadRequest);
    }

    #[test]
    fn a_bare_403_takes_only_the_model_off() {
        let e = err(
            403,
            json!({"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "The caller does not have permission"}}),
        );
        assert_eq!(classify_gemini_api(&e), ErrorClass::ModelDenied);
    }

    #[test]
    fn quota_violations_are_read_in_order() {
        let limit0 = violations(
            &[
                (
                    "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                    Some("0"),
                ),
                (
                    "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    Some("0"),
                ),
            ],
            "quota",
        );
        assert_eq!(classify_gemini_api(&limit0), ErrorClass::ModelDenied);
        let no_value = violations(
            &[("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", None)],
            "* Quota exceeded for metric: m, limit: 0, model: gemini-3-pro\n",
        );
        assert_eq!(classify_gemini_api(&no_value), ErrorClass::ModelDenied);
        let day = violations(
            &[
                (
                    "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    Some("10"),
                ),
                (
                    "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                    Some("250"),
                ),
            ],
            "quota",
        );
        assert_eq!(classify_gemini_api(&day), ErrorClass::DailyQuota);
        let minute = violations(
            &[(
                "GenerateContentInputTokensPerModelPerMinute-FreeTier",
                Some("250000"),
            )],
            "quota",
        );
        assert_eq!(
            classify_gemini_api(&minute),
            ErrorClass::RateLimited {
                retry_after: Some(Duration::from_secs(47))
            }
        );
        let bare = err(
            429,
            json!({"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}}),
        );
        assert_eq!(
            classify_gemini_api(&bare),
            ErrorClass::RateLimited { retry_after: None }
        );
        assert_eq!(
            classify_vertex(&bare, false),
            ErrorClass::RateLimited {
                retry_after: Some(VERTEX_THROTTLE)
            }
        );
    }

    #[test]
    fn vertex_tokens_are_granted_again_after_a_401() {
        let e = err(
            401,
            json!({"error": {"code": 401, "message": "m", "details": [info("ACCESS_TOKEN_EXPIRED")]}}),
        );
        assert_eq!(classify_vertex(&e, false), ErrorClass::AuthExpired);
        assert!(matches!(
            classify_vertex(&e, true),
            ErrorClass::CredentialRejected { .. }
        ));
        let overloaded = err(
            503,
            json!({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}),
        );
        assert!(matches!(
            classify_vertex(&overloaded, false),
            ErrorClass::Capacity { .. }
        ));
        assert_eq!(
            classify_gemini_api(&err(500, json!({"error": {"code": 500, "message": "x"}}))),
            ErrorClass::ServerError
        );
    }
}
