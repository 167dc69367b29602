//! Upstream error bodies with Google's exact bytes (`google.rpc.Status` JSON with its
//! `details`), the OAuth endpoints' error bodies (`{"error": "invalid_grant", ...}`), and the
//! mapping from error faults to HTTP responses.

use std::io::Write;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use poem::Response;
use poem::http::StatusCode;
use serde_json::{Value, json};

use super::faults::{Fault, Upstream};
use super::official::errors::Family;

pub(crate) const JSON_UTF8: &str = "application/json; charset=UTF-8";
pub(crate) const EXHAUSTED_PLAIN: &str = "Resource has been exhausted (e.g. check quota).";
const CLOUD_CODE: &str = "cloudcode-pa.googleapis.com";
const AUTH_MESSAGE: &str = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";
pub(crate) const VALIDATION_URL: &str = "https://accounts.google.com/signin/continue?sarp=1&scc=1&continue=https://developers.google.com/gemini-code-assist/auth/auth_success_gemini";

/// Values an error body may mention.
pub(crate) struct ErrCtx<'a> {
    pub project: &'a str,
    pub model: &'a str,
    /// RPC method name: `GenerateContent` for Code Assist, fully qualified
    /// (`google.ai.generativelanguage.v1beta.GenerativeService.GenerateContent`) for the
    /// official upstreams.
    pub method: &'a str,
    /// `None` for Code Assist and OAuth calls.
    pub upstream: Option<Upstream>,
    pub api_key: &'a str,
    pub family: Family,
}

impl<'a> ErrCtx<'a> {
    pub fn code_assist(project: &'a str, model: &'a str, method: &'a str) -> Self {
        Self {
            project,
            model,
            method,
            upstream: None,
            api_key: "",
            family: Family::Generate,
        }
    }
}

pub(crate) fn status_body(code: u16, status: &str, message: &str, details: Vec<Value>) -> Value {
    let mut error = json!({"code": code, "message": message, "status": status});
    if !details.is_empty() {
        error["details"] = Value::Array(details);
    }
    json!({ "error": error })
}

fn error_info(reason: &str, domain: &str, metadata: Value) -> Value {
    json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": domain, "metadata": metadata})
}

fn retry_info(delay: Duration) -> Value {
    json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": proto_duration(delay)})
}

/// Protobuf JSON duration: `"0.5s"`, `"56s"`.
pub(crate) fn proto_duration(d: Duration) -> String {
    let nanos = d.subsec_nanos();
    if nanos == 0 {
        return format!("{}s", d.as_secs());
    }
    let frac = format!("{nanos:09}");
    format!("{}.{}s", d.as_secs(), frac.trim_end_matches('0'))
}

/// Go `time.Duration` string: `"13h19m1.2s"`, `"539.477ms"`.
pub(crate) fn go_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        let micros = d.as_micros();
        let frac = format!("{:03}", micros % 1000);
        let frac = frac.trim_end_matches('0');
        return if frac.is_empty() {
            format!("{}ms", micros / 1000)
        } else {
            format!("{}.{}ms", micros / 1000, frac)
        };
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let frac = format!("{:09}", d.subsec_nanos());
    let frac = frac.trim_end_matches('0');
    let sec = if frac.is_empty() {
        format!("{s}s")
    } else {
        format!("{s}.{frac}s")
    };
    match (h, m) {
        (0, 0) => sec,
        (0, m) => format!("{m}m{sec}"),
        (h, m) => format!("{h}h{m}m{sec}"),
    }
}

fn reset_stamp(after: Duration) -> String {
    let at = Utc::now() + chrono::Duration::from_std(after).unwrap_or_default();
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(crate) fn unauthenticated(method: &str, reason: &str) -> Value {
    let metadata = json!({"service": CLOUD_CODE, "method": format!("google.internal.cloud.code.v1internal.CloudCode.{method}")});
    status_body(
        401,
        "UNAUTHENTICATED",
        AUTH_MESSAGE,
        vec![error_info(reason, "googleapis.com", metadata)],
    )
}

pub(crate) fn invalid_argument(message: &str) -> Value {
    status_body(400, "INVALID_ARGUMENT", message, Vec::new())
}

pub(crate) fn unknown_field(name: &str, at: &str) -> Value {
    let message = format!(
        "Invalid JSON payload received. Unknown name \"{name}\" at '{at}': Cannot find field."
    );
    let violation = json!({"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": at, "description": message}]});
    status_body(400, "INVALID_ARGUMENT", &message, vec![violation])
}

pub(crate) fn missing_signature(function: &str, position: usize) -> Value {
    let message = format!(
        "Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:{function}` , position {position}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
    );
    invalid_argument(&message)
}

pub(crate) fn not_found() -> Value {
    let msg = "Requested entity was not found.";
    json!({"error": {"code": 404, "message": msg, "errors": [{"message": msg, "domain": "global", "reason": "notFound"}], "status": "NOT_FOUND"}})
}

pub(crate) fn consumer_invalid(project: &str) -> Value {
    let metadata = json!({"service": CLOUD_CODE, "consumer": format!("projects/{project}")});
    status_body(
        403,
        "PERMISSION_DENIED",
        &format!("Permission denied on resource project {project}."),
        vec![error_info("CONSUMER_INVALID", "googleapis.com", metadata)],
    )
}

pub(crate) fn service_disabled(project: &str) -> Value {
    let url = format!(
        "https://console.developers.google.com/apis/api/cloudaicompanion.googleapis.com/overview?project={project}"
    );
    let message = format!(
        "Gemini for Google Cloud API has not been used in project {project} before or it is disabled. Enable it by visiting {url} then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry."
    );
    let metadata = json!({"service": "cloudaicompanion.googleapis.com", "consumer": format!("projects/{project}"), "activationUrl": url, "serviceTitle": "Gemini for Google Cloud API", "containerInfo": project});
    status_body(
        403,
        "PERMISSION_DENIED",
        &message,
        vec![error_info("SERVICE_DISABLED", "googleapis.com", metadata)],
    )
}

pub(crate) fn validation_required() -> Value {
    let info = error_info(
        "VALIDATION_REQUIRED",
        CLOUD_CODE,
        json!({"validation_link": VALIDATION_URL}),
    );
    let help = json!({"@type": "type.googleapis.com/google.rpc.Help", "links": [{"description": "Verify your account", "url": VALIDATION_URL}]});
    status_body(
        403,
        "PERMISSION_DENIED",
        "Verify your account to continue.",
        vec![info, help],
    )
}

pub(crate) fn failed_precondition(message: &str) -> Value {
    status_body(400, "FAILED_PRECONDITION", message, Vec::new())
}

pub(crate) fn oauth_error(error: &str, description: &str) -> Value {
    json!({"error": error, "error_description": description})
}

fn rate_limited(model: &str, delay: Duration) -> Value {
    let metadata = json!({"uiMessage": "true", "model": model, "quotaResetDelay": go_duration(delay), "quotaResetTimeStamp": reset_stamp(delay)});
    status_body(
        429,
        "RESOURCE_EXHAUSTED",
        &format!(
            "You have exhausted your capacity on this model. Your quota will reset after {}s.",
            delay.as_secs()
        ),
        vec![
            error_info("RATE_LIMIT_EXCEEDED", CLOUD_CODE, metadata),
            retry_info(delay),
        ],
    )
}

/// What an error fault answers; `None` for behaviour faults.
pub(crate) fn fault_body(fault: &Fault, ctx: &ErrCtx<'_>) -> Option<(u16, &'static str, Vec<u8>)> {
    if let Some(official) = super::official::errors::fault_body(fault, ctx) {
        return Some(official);
    }
    let json = |code: u16, v: Value| Some((code, JSON_UTF8, pretty(&v).into_bytes()));
    match fault {
        Fault::RateLimitExceeded { retry_delay_ms } => json(
            429,
            rate_limited(ctx.model, Duration::from_millis(*retry_delay_ms)),
        ),
        Fault::QuotaExhausted { reset_after_secs } => {
            // Sub-second noise mirrors real bodies ("13h19m1.20964964s").
            let delay = Duration::from_secs(*reset_after_secs) + Duration::from_nanos(209_649_640);
            let metadata = json!({"uiMessage": "true", "model": ctx.model, "quotaResetDelay": go_duration(delay), "quotaResetTimeStamp": reset_stamp(delay)});
            let message = format!(
                "You have exhausted your capacity on this model. Your quota will reset after {}.",
                go_duration(Duration::from_secs(*reset_after_secs))
            );
            let details = vec![
                error_info("QUOTA_EXHAUSTED", CLOUD_CODE, metadata),
                retry_info(delay),
            ];
            json(
                429,
                status_body(429, "RESOURCE_EXHAUSTED", &message, details),
            )
        }
        Fault::ResourceExhausted => json(
            429,
            status_body(429, "RESOURCE_EXHAUSTED", EXHAUSTED_PLAIN, Vec::new()),
        ),
        Fault::ResourceExhaustedMessage { message } => json(
            429,
            status_body(429, "RESOURCE_EXHAUSTED", message, Vec::new()),
        ),
        Fault::ArrayWrapped429 => json(
            429,
            json!([rate_limited(ctx.model, Duration::from_millis(500))]),
        ),
        Fault::ModelCapacityExhausted => {
            let info = error_info(
                "MODEL_CAPACITY_EXHAUSTED",
                CLOUD_CODE,
                json!({"model": ctx.model}),
            );
            let message = format!("No capacity available for model {} on the server", ctx.model);
            json(
                429,
                status_body(429, "RESOURCE_EXHAUSTED", &message, vec![info]),
            )
        }
        Fault::Internal => json(
            500,
            status_body(500, "INTERNAL", "Internal error encountered.", Vec::new()),
        ),
        Fault::BadGatewayHtml => Some((
            502,
            "text/html; charset=UTF-8",
            b"<html><head><title>502 Bad Gateway</title></head>\n<body>\n<center><h1>502 Bad Gateway</h1></center>\n<hr><center>openresty</center>\n</body>\n</html>\n".to_vec(),
        )),
        Fault::Unavailable { retry_delay_ms } => {
            let details = retry_delay_ms
                .map(|ms| vec![retry_info(Duration::from_millis(ms))])
                .unwrap_or_default();
            json(
                503,
                status_body(
                    503,
                    "UNAVAILABLE",
                    "The model is overloaded. Please try again later.",
                    details,
                ),
            )
        }
        Fault::GatewayTimeout => json(
            504,
            status_body(504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete.", Vec::new()),
        ),
        Fault::Unauthenticated => json(401, unauthenticated(ctx.method, "ACCESS_TOKEN_EXPIRED")),
        Fault::ServiceDisabled => json(403, service_disabled(ctx.project)),
        Fault::ConsumerInvalid => json(403, consumer_invalid(ctx.project)),
        Fault::NamedUserLicence => {
            let msg = "You must be a named user on your organization's Gemini Code Assist Standard edition subscription to use this service. Please contact your administrator to request an entitlement to Gemini Code Assist Standard edition.";
            json(
                403,
                json!({"error": {"code": 403, "message": msg, "errors": [{"message": msg, "domain": "global", "reason": "forbidden"}], "status": "PERMISSION_DENIED"}}),
            )
        }
        Fault::ValidationRequired => json(403, validation_required()),
        Fault::Banned => {
            let info = error_info("ACCOUNT_DISABLED", CLOUD_CODE, json!({}));
            json(
                403,
                status_body(
                    403,
                    "PERMISSION_DENIED",
                    "This account has been suspended for violating the Gemini Code Assist terms of service.",
                    vec![info],
                ),
            )
        }
        Fault::SecurityPolicyViolated => {
            let info = error_info("SECURITY_POLICY_VIOLATED", "googleapis.com", json!({"service": CLOUD_CODE}));
            json(
                403,
                status_body(403, "PERMISSION_DENIED", "Request is prohibited by organization's policy.", vec![info]),
            )
        }
        Fault::NotFound => json(404, not_found()),
        Fault::BadRequest => json(400, invalid_argument("Request contains an invalid argument.")),
        Fault::UnknownField { name } => json(400, unknown_field(name, "request")),
        Fault::MissingThoughtSignature => json(400, missing_signature("get_weather", 2)),
        Fault::SearchWithFunctions => json(
            400,
            invalid_argument("Tool use with function calling is unsupported with google search."),
        ),
        Fault::Gzipped { inner } => {
            let (status, ct, body) = fault_body(inner, ctx)?;
            Some((status, ct, gzip(&body)))
        }
        Fault::Raw { status, body, .. } => Some((*status, JSON_UTF8, body.clone().into_bytes())),
        Fault::InvalidGrant => json(400, oauth_error("invalid_grant", "Token has been expired or revoked.")),
        Fault::InvalidClient => json(401, oauth_error("invalid_client", "Unauthorized")),
        Fault::TokenServerError => json(500, oauth_error("internal_failure", "Backend Error")),
        Fault::ConnectionDrop
        | Fault::AccessDenied
        | Fault::SlowFirstByte { .. }
        | Fault::StreamCut { .. }
        | Fault::EndWithoutFinish { .. }
        | Fault::EmptyStream
        | Fault::MalformedSse { .. }
        | Fault::InStreamError { .. }
        | Fault::EmptyReply { .. }
        | Fault::IgnoreDoneMarker => None,
        // Answered by `official::errors::fault_body` above.
        Fault::ApiKeyInvalid
        | Fault::ApiKeyExpired
        | Fault::StandardKeyRejected
        | Fault::ApiKeyLeaked
        | Fault::ConsumerSuspended
        | Fault::ApiKeyServiceBlocked
        | Fault::ApiKeyReferrerBlocked
        | Fault::PermissionDenied
        | Fault::QuotaViolations { .. }
        | Fault::LegacyRateLimit
        | Fault::VertexResourceExhausted { .. } => None,
    }
}

/// Error faults as a response; `Raw` keeps its own content type, `Gzipped` adds the encoding.
pub(crate) fn fault_response(fault: &Fault, ctx: &ErrCtx<'_>) -> Option<Response> {
    let (status, ct, body) = fault_body(fault, ctx)?;
    let ct = match fault {
        Fault::Raw {
            content_type: Some(ct),
            ..
        } => ct.as_str(),
        _ => ct,
    };
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", ct);
    if matches!(fault, Fault::Gzipped { .. }) {
        builder = builder.header("content-encoding", "gzip");
    }
    Some(builder.body(body))
}

/// `body` as a gzip member, for faults that answer with `content-encoding: gzip`.
fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder
        .write_all(body)
        .and_then(|()| encoder.finish())
        .expect("writing to a Vec cannot fail")
}

/// Google's non-streaming bodies are pretty-printed.
pub(crate) fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

pub(crate) fn json_response(status: u16, v: &Value) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", JSON_UTF8)
        .body(pretty(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_protobuf_and_go_forms() {
        assert_eq!(proto_duration(Duration::from_millis(500)), "0.5s");
        assert_eq!(proto_duration(Duration::from_secs(56)), "56s");
        assert_eq!(go_duration(Duration::from_micros(539_477)), "539.477ms");
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        let d = Duration::from_secs(13 * 3600 + 19 * 60 + 1) + Duration::from_millis(200);
        assert_eq!(go_duration(d), "13h19m1.2s");
        assert_eq!(go_duration(Duration::from_secs(61)), "1m1s");
    }

    #[test]
    fn unknown_field_message_matches_spec() {
        let v = unknown_field("size", "request");
        assert_eq!(
            v["error"]["message"],
            "Invalid JSON payload received. Unknown name \"size\" at 'request': Cannot find field."
        );
        assert_eq!(
            v["error"]["details"][0]["fieldViolations"][0]["field"],
            "request"
        );
    }

    #[test]
    fn gzip_round_trips_empty_small_and_large_bodies() {
        use std::io::Read;
        for data in [Vec::new(), b"hello".to_vec(), vec![7u8; 70_000]] {
            let gz = gzip(&data);
            assert_eq!(&gz[..2], &[0x1f, 0x8b]);
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data);
        }
    }
}
