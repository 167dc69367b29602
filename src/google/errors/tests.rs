//! Error bodies exactly as Google sends them (the `fault_NN` tests: rate limits, quota
//! exhaustion, capacity, wrapped and non-JSON bodies, in-stream errors) and their classes.
use std::time::Duration;

use super::*;

fn class(status: u16, body: &str) -> (UpstreamError, ErrorClass) {
    let e = parse_error(status, body.as_bytes());
    let c = classify(&e);
    (e, c)
}

#[test]
fn catalogue_400_invalid_argument() {
    let (e, c) = class(
        400,
        r#"{"error":{"code":400,"message":"Invalid JSON payload received. Unknown name \"size\" at 'request': Cannot find field.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"request","description":"x"}]}]}}"#,
    );
    assert_eq!(e.code, Some(400));
    assert_eq!(e.status_text.as_deref(), Some("INVALID_ARGUMENT"));
    assert!(e.message.starts_with("Invalid JSON payload received"));
    assert_eq!(c, ErrorClass::BadRequest);
    let (_, c) = class(
        400,
        r#"{"error":{"code":400,"message":"Request contains an invalid argument.","status":"INVALID_ARGUMENT"}}"#,
    );
    assert_eq!(c, ErrorClass::BadRequest);
}

#[test]
fn catalogue_401_unauthenticated() {
    let (e, c) = class(
        401,
        r#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"ACCESS_TOKEN_EXPIRED","domain":"googleapis.com","metadata":{"service":"cloudcode-pa.googleapis.com"}}]}}"#,
    );
    assert_eq!(e.reason.as_deref(), Some("ACCESS_TOKEN_EXPIRED"));
    assert_eq!(e.domain.as_deref(), Some("googleapis.com"));
    assert_eq!(c, ErrorClass::AuthExpired);
}

#[test]
fn catalogue_403_variants() {
    let (_, c) = class(
        403,
        r#"{"error":{"code":403,"message":"Gemini for Google Cloud API has not been used in project X before or it is disabled.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"SERVICE_DISABLED","domain":"googleapis.com","metadata":{"service":"cloudaicompanion.googleapis.com","consumer":"projects/X"}}]}}"#,
    );
    assert_eq!(
        c,
        ErrorClass::Forbidden {
            reason: Some("SERVICE_DISABLED".into())
        }
    );
    let (_, c) = class(
        403,
        r#"{"error":{"code":403,"message":"Permission denied on resource project default.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"CONSUMER_INVALID","domain":"googleapis.com"}]}}"#,
    );
    assert_eq!(
        c,
        ErrorClass::Forbidden {
            reason: Some("CONSUMER_INVALID".into())
        }
    );
    let (e, c) = class(
        403,
        r#"{"error":{"code":403,"message":"You must be a named user on your organization's Gemini Code Assist Standard edition subscription.","errors":[{"message":"m","domain":"global","reason":"forbidden"}],"status":"PERMISSION_DENIED"}}"#,
    );
    assert_eq!(e.reason.as_deref(), Some("forbidden"));
    assert_eq!(
        c,
        ErrorClass::Forbidden {
            reason: Some("forbidden".into())
        }
    );
}

#[test]
fn catalogue_403_validation_required() {
    let (e, c) = class(
        403,
        r#"{"error":{"code":403,"message":"Verify your account.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"VALIDATION_REQUIRED","domain":"cloudcode-pa.googleapis.com","metadata":{}},{"@type":"type.googleapis.com/google.rpc.Help","links":[{"description":"Verify","url":"https://accounts.example/verify"}]}]}}"#,
    );
    assert_eq!(e.help_links, vec!["https://accounts.example/verify"]);
    assert_eq!(
        c,
        ErrorClass::ValidationRequired {
            link: Some("https://accounts.example/verify".into())
        }
    );
    let (_, c) = class(
        403,
        r#"{"error":{"code":403,"message":"v","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"VALIDATION_REQUIRED","domain":"cloudcode-pa.googleapis.com","metadata":{"validation_link":"https://v.example/x"}}]}}"#,
    );
    assert_eq!(
        c,
        ErrorClass::ValidationRequired {
            link: Some("https://v.example/x".into())
        }
    );
}

#[test]
fn catalogue_404() {
    let (e, c) = class(
        404,
        r#"{"error":{"code":404,"message":"Requested entity was not found.","errors":[{"message":"Requested entity was not found.","domain":"global","reason":"notFound"}],"status":"NOT_FOUND"}}"#,
    );
    assert_eq!(e.reason.as_deref(), Some("notFound"));
    assert_eq!(c, ErrorClass::NotFound);
}

/// 429 `RATE_LIMIT_EXCEEDED` with a sub-second `RetryInfo` and a reset timestamp of about now.
#[test]
fn fault_01_rate_limit_exceeded_short_retry() {
    let (e, c) = class(
        429,
        r#"{"error":{"code":429,"message":"You have exhausted your capacity on this model. Your quota will reset after 0s.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED","domain":"cloudcode-pa.googleapis.com","metadata":{"uiMessage":"true","model":"gemini-2.5-pro","quotaResetDelay":"539.477544ms","quotaResetTimeStamp":"2025-10-20T19:14:08Z"}},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"0.539477544s"}]}}"#,
    );
    assert_eq!(e.retry_delay, Some(Duration::from_nanos(539_477_544)));
    assert_eq!(
        e.quota_reset_at.map(|t| t.to_rfc3339()),
        Some("2025-10-20T19:14:08+00:00".to_string())
    );
    assert_eq!(
        c,
        ErrorClass::RateLimited {
            retry_after: Some(Duration::from_nanos(539_477_544))
        }
    );
}

/// 429 `QUOTA_EXHAUSTED` with a reset 13 hours ahead, as delay, timestamp and `RetryInfo`.
#[test]
fn fault_02_quota_exhausted_long_reset() {
    let (e, c) = class(
        429,
        r#"{"error":{"code":429,"message":"You have exhausted your capacity on this model. Your quota will reset after 13h19m1s.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"QUOTA_EXHAUSTED","domain":"cloudcode-pa.googleapis.com","metadata":{"quotaResetDelay":"13h19m1.2s","quotaResetTimeStamp":"2025-11-30T14:57:24Z"}},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"47941.2s"}]}}"#,
    );
    let reset = Duration::from_secs_f64(47941.2);
    assert_eq!(e.quota_reset_delay, Some(reset));
    let ErrorClass::QuotaExhausted {
        reset_after,
        reset_at,
    } = c
    else {
        panic!("expected quota exhausted, got {c:?}");
    };
    assert_eq!(reset_after, Some(reset));
    assert_eq!(
        reset_at.map(|t| t.to_rfc3339()),
        Some("2025-11-30T14:57:24+00:00".into())
    );
}

/// 429 with no details: we deliberately differ from the reference's 4 h cooldown (see
/// [`GENERIC_EXHAUSTED_MESSAGE`]).
#[test]
fn fault_03_generic_exhausted_without_details() {
    let (e, c) = class(
        429,
        r#"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}"#,
    );
    assert_eq!(e.message, GENERIC_EXHAUSTED_MESSAGE);
    assert!(!e.has_details());
    assert_eq!(c, ErrorClass::RateLimited { retry_after: None });
    let (_, c) = class(
        429,
        r#"{"error":{"code":429,"message":"Individual quota reached. Please upgrade your subscription to increase your limits. Resets in 9h22m20s.","status":"RESOURCE_EXHAUSTED"}}"#,
    );
    assert_eq!(
        c,
        ErrorClass::QuotaExhausted {
            reset_after: Some(Duration::from_secs(9 * 3600 + 22 * 60 + 20)),
            reset_at: None
        }
    );
    let (_, c) = class(
        429,
        r#"{"error":{"code":429,"message":"Too many requests. Please retry in 12.5s.","status":"RESOURCE_EXHAUSTED"}}"#,
    );
    assert_eq!(
        c,
        ErrorClass::RateLimited {
            retry_after: Some(Duration::from_millis(12500))
        }
    );
}

/// A 429 wrapped in a JSON array parses like the plain object (the reference loses it).
#[test]
fn fault_04_array_wrapper() {
    let plain = r#"{"error":{"code":429,"message":"m","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"QUOTA_EXHAUSTED","domain":"cloudcode-pa.googleapis.com","metadata":{"quotaResetDelay":"1h"}}]}}"#;
    let wrapped = format!("[{plain}]");
    let a = parse_error(429, plain.as_bytes());
    let b = parse_error(429, wrapped.as_bytes());
    assert_eq!(a, b);
    assert_eq!(
        classify(&b),
        ErrorClass::QuotaExhausted {
            reset_after: Some(Duration::from_secs(3600)),
            reset_at: None
        }
    );
    // The body relayed to Gemini clients is the object, not the array.
    assert!(b.google_body().is_object());
}

/// 429 `MODEL_CAPACITY_EXHAUSTED`: Google has no capacity for the model right now.
#[test]
fn fault_05_model_capacity_exhausted() {
    let (_, c) = class(
        429,
        r#"{"error":{"code":429,"message":"No capacity available for model gemini-2.5-pro on the server","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"MODEL_CAPACITY_EXHAUSTED","domain":"cloudcode-pa.googleapis.com","metadata":{"model":"gemini-2.5-pro"}},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"2s"}]}}"#,
    );
    assert_eq!(
        c,
        ErrorClass::Capacity {
            retry_after: Some(Duration::from_secs(2))
        }
    );
}

#[test]
fn daily_quota_failure_and_per_minute() {
    let (e, c) = class(
        429,
        r#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel","quotaMetric":"m"}]}]}}"#,
    );
    assert_eq!(
        e.quota_ids,
        vec!["GenerateRequestsPerDayPerProjectPerModel"]
    );
    assert!(matches!(c, ErrorClass::QuotaExhausted { .. }));
    let (_, c) = class(
        429,
        r#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerMinutePerProject"}]}]}}"#,
    );
    assert_eq!(
        c,
        ErrorClass::RateLimited {
            retry_after: Some(Duration::from_secs(60))
        }
    );
    let (_, c) = class(
        429,
        r#"{"error":{"code":429,"message":"Quota exceeded for metric: x, limit: 0","status":"RESOURCE_EXHAUSTED"}}"#,
    );
    assert!(matches!(c, ErrorClass::QuotaExhausted { .. }));
    let (_, c) = class(
        429,
        r#"{"error":{"code":429,"message":"m","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"INSUFFICIENT_G1_CREDITS_BALANCE","domain":"cloudcode-pa.googleapis.com"}]}}"#,
    );
    assert!(matches!(c, ErrorClass::QuotaExhausted { .. }));
}

#[test]
fn vertex_style_429_is_rate_limited() {
    let (_, c) = class(
        429,
        r#"{"error":{"code":429,"message":"Resource exhausted. Please try again later.","errors":[{"reason":"rateLimitExceeded","domain":"global","message":"m"}],"status":"RESOURCE_EXHAUSTED"}}"#,
    );
    assert_eq!(c, ErrorClass::RateLimited { retry_after: None });
}

#[test]
fn catalogue_5xx() {
    let (_, c) = class(
        500,
        r#"{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}"#,
    );
    assert_eq!(c, ErrorClass::ServerError);
    let (_, c) = class(
        503,
        r#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#,
    );
    assert_eq!(c, ErrorClass::Capacity { retry_after: None });
    let (_, c) = class(
        503,
        r#"{"error":{"code":503,"message":"m","status":"UNAVAILABLE","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"3s"}]}}"#,
    );
    assert_eq!(
        c,
        ErrorClass::RateLimited {
            retry_after: Some(Duration::from_secs(3))
        }
    );
    let (_, c) = class(
        502,
        "<html><head><title>502 Bad Gateway</title></head></html>",
    );
    assert_eq!(c, ErrorClass::ServerError);
}

#[test]
fn stray_duplicated_commas_are_repaired() {
    let e = parse_error(
        429,
        br#"[{"error":{"code":429,,"message":"a,,b",, "status":"RESOURCE_EXHAUSTED"}}]"#,
    );
    assert_eq!(e.code, Some(429));
    assert_eq!(e.message, "a,,b");
    assert_eq!(e.status_text.as_deref(), Some("RESOURCE_EXHAUSTED"));
}

/// Non-JSON bodies (an HTML 502 from a load balancer) keep a readable message and relay as a
/// Google error.
#[test]
fn html_body() {
    let e = parse_error(
        502,
        b"<!DOCTYPE html><html><head><TITLE>502 Bad Gateway</TITLE></head><body>x</body></html>",
    );
    assert_eq!(e.message, "502 Bad Gateway");
    assert!(e.raw["raw"].as_str().is_some_and(|s| s.contains("<body>")));
    let g = e.google_body();
    assert_eq!(g["error"]["code"], 502);
    assert_eq!(g["error"]["message"], "502 Bad Gateway");
    let empty = parse_error(500, b"");
    assert!(empty.message.contains("500"));
    let long = parse_error(500, "x".repeat(5000).as_bytes());
    assert!(long.message.chars().count() <= super::MAX_RAW_MESSAGE + 1);
}

#[test]
fn oauth_style_error() {
    let e = parse_error(
        400,
        br#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#,
    );
    assert_eq!(e.status_text.as_deref(), Some("invalid_grant"));
    assert_eq!(e.message, "Token has been expired or revoked.");
}

/// An in-stream `{"error":...}` event (after an HTTP 200) parses the same way.
#[test]
fn in_stream_error_event() {
    let e = parse_error(
        200,
        br#"{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}"#,
    );
    assert_eq!(e.code, Some(500));
    assert_eq!(e.message, "Internal error encountered.");
}

/// Catalogue case 46 (the part owned here): a pre-stream 429 parses from a plain JSON body and is
/// answered as plain JSON with the upstream status, never SSE-framed.
#[test]
fn case_46_pre_stream_429_is_a_plain_json_error() {
    use crate::error::{GatewayError, Surface};
    let body = r#"{"error":{"code":429,"message":"You have exhausted your capacity on this model. Your quota will reset after 0s.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"0.5s"}]}}"#;
    let e = parse_error(429, body.as_bytes());
    let original: serde_json::Value = serde_json::from_str(body).expect("json");
    assert_eq!(
        e.google_body(),
        original,
        "Gemini clients get Google's body verbatim"
    );
    let g = GatewayError::from(&e);
    assert_eq!(g.status().as_u16(), 429);
    let openai = g.body(Surface::OpenAi);
    assert_eq!(openai["error"]["type"], "rate_limit_error");
    assert_eq!(openai["error"]["code"], "RESOURCE_EXHAUSTED");
    assert!(
        openai["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("You have exhausted"))
    );
    assert!(!openai.to_string().starts_with("data:"));
}
