//! What an upstream error means for the dispatcher: retry, cool down, ban or relay.
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::UpstreamError;
use super::duration::duration_after;

/// The Gemini CLI treats a retry delay above this as "do not wait, it is a quota".
const MAX_RETRYABLE_DELAY: Duration = Duration::from_secs(300);

/// The message of a detail-less 429. The reference reads it as a daily quota and cools the
/// credential down for 4 h; Google also uses it for plain per-minute throttling, so we follow
/// the Gemini CLI and classify it as [`ErrorClass::RateLimited`] without a delay. The pool can
/// still escalate repeated hits; this constant lets it recognise the case.
pub const GENERIC_EXHAUSTED_MESSAGE: &str = "Resource has been exhausted (e.g. check quota).";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorClass {
    /// Short throttle: retry (maybe on another credential) after the delay.
    RateLimited {
        retry_after: Option<Duration>,
    },
    /// The credential's quota for this model is spent until a reset.
    QuotaExhausted {
        reset_after: Option<Duration>,
        reset_at: Option<DateTime<Utc>>,
    },
    /// Google is out of capacity for the model (not the credential's fault).
    Capacity {
        retry_after: Option<Duration>,
    },
    /// 500 / 502 / 504 and other 5xx.
    ServerError,
    /// 401: the access token is expired or revoked; refresh once, then retry.
    AuthExpired,
    /// 403 other than validation: service disabled, wrong project, no licence, banned.
    Forbidden {
        reason: Option<String>,
    },
    /// 403 VALIDATION_REQUIRED: a person must visit the link before the account works again.
    ValidationRequired {
        link: Option<String>,
    },
    NotFound,
    BadRequest,
    Other,
    /// The credential itself is refused for good (a wrong, expired, leaked or suspended key,
    /// a standard key the Gemini API no longer takes, an API blocked or disabled for it):
    /// disable it with this reason, in plain words.
    CredentialRejected {
        reason: String,
    },
    /// This credential never serves this model (a 429 with limit 0, a bare 403 for one
    /// model): take the model off it, not the credential.
    ModelDenied,
    /// A per-day quota is spent: until Google's daily reset, midnight Pacific time.
    DailyQuota,
}

/// Classify in the order of the Gemini CLI's `classifyGoogleError`, mapped onto the gateway's
/// classes.
pub fn classify(err: &UpstreamError) -> ErrorClass {
    match err.status {
        401 => ErrorClass::AuthExpired,
        404 => ErrorClass::NotFound,
        403 if err.reason.as_deref() == Some("VALIDATION_REQUIRED")
            && err.domain.as_deref().is_none_or(is_cloud_code_domain) =>
        {
            ErrorClass::ValidationRequired {
                link: err.validation_link.clone(),
            }
        }
        403 => ErrorClass::Forbidden {
            reason: err.reason.clone(),
        },
        400 | 409 | 411 | 413 | 422 => ErrorClass::BadRequest,
        429 | 499 | 503 => classify_exhaustion(err),
        500..=599 => ErrorClass::ServerError,
        _ => ErrorClass::Other,
    }
}

fn is_cloud_code_domain(d: &str) -> bool {
    matches!(
        d,
        "cloudcode-pa.googleapis.com"
            | "staging-cloudcode-pa.googleapis.com"
            | "autopush-cloudcode-pa.googleapis.com"
    )
}

fn classify_exhaustion(err: &UpstreamError) -> ErrorClass {
    let quota = |reset_after: Option<Duration>| ErrorClass::QuotaExhausted {
        reset_after,
        reset_at: err.quota_reset_at,
    };
    let msg = err.message.as_str();
    if msg.contains("limit: 0") {
        return quota(None);
    }
    if !err.has_details() {
        if let Some(d) = duration_after(msg, "please retry in") {
            return by_delay(d, err);
        }
        if let Some(class) = by_message(err) {
            return class;
        }
        return fallback(err);
    }
    let reason = err.reason.as_deref().unwrap_or_default();
    let ids = |pat: &[&str]| {
        err.quota_ids
            .iter()
            .any(|q| pat.iter().any(|p| q.contains(p)))
    };
    let delay = err.retry_delay.or(err.quota_reset_delay);
    if ids(&["PerDay", "Daily"]) {
        return quota(err.quota_reset_delay.or(err.retry_delay));
    }
    match reason {
        "MODEL_CAPACITY_EXHAUSTED" | "MODEL_CAPACITY_EXCEEDED" => {
            return ErrorClass::Capacity {
                retry_after: err.retry_delay,
            };
        }
        "INSUFFICIENT_G1_CREDITS_BALANCE" => return quota(err.quota_reset_delay),
        // Without a delay the CLI gives up; we keep it a short throttle, since the body says
        // "rate limit" and the pool applies its own default cooldown.
        "RATE_LIMIT_EXCEEDED" => {
            return match delay {
                Some(d) => by_delay(d, err),
                None => ErrorClass::RateLimited { retry_after: None },
            };
        }
        "QUOTA_EXHAUSTED" => return quota(err.quota_reset_delay.or(err.retry_delay)),
        _ => {}
    }
    if let Some(d) = err.retry_delay {
        return by_delay(d, err);
    }
    if ids(&["PerMinute"]) {
        return ErrorClass::RateLimited {
            retry_after: Some(Duration::from_secs(60)),
        };
    }
    by_message(err).unwrap_or_else(|| fallback(err))
}

fn by_delay(d: Duration, err: &UpstreamError) -> ErrorClass {
    if d <= MAX_RETRYABLE_DELAY {
        ErrorClass::RateLimited {
            retry_after: Some(d),
        }
    } else {
        ErrorClass::QuotaExhausted {
            reset_after: Some(d),
            reset_at: err.quota_reset_at,
        }
    }
}

/// The CLI's capacity patterns, split by meaning: "exhausted *your* capacity" is the
/// account's quota (its reset is often only in the message), "capacity exceeded" /
/// `MODEL_CAPACITY_EXHAUSTED` is Google's.
fn by_message(err: &UpstreamError) -> Option<ErrorClass> {
    let msg = err.message.as_str();
    let lower = msg.to_ascii_lowercase();
    if lower.contains("exhausted your capacity") || lower.contains("quota reached") {
        let reset = duration_after(msg, "reset after").or_else(|| duration_after(msg, "resets in"));
        return Some(match reset {
            Some(d) => by_delay(d, err),
            None => ErrorClass::QuotaExhausted {
                reset_after: None,
                reset_at: err.quota_reset_at,
            },
        });
    }
    if lower.contains("capacity exceeded") || msg.contains("MODEL_CAPACITY_EXHAUSTED") {
        return Some(ErrorClass::Capacity {
            retry_after: err.retry_delay,
        });
    }
    None
}

/// 503 without better information is an overloaded model; 429/499 a throttle.
fn fallback(err: &UpstreamError) -> ErrorClass {
    if err.status == 503 {
        ErrorClass::Capacity {
            retry_after: err.retry_delay,
        }
    } else {
        ErrorClass::RateLimited {
            retry_after: err.retry_delay,
        }
    }
}
