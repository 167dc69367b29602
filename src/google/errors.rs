//! Upstream error bodies (`google.rpc.Status` JSON) and what they mean for the dispatcher.
//!
//! Parsing is lenient on purpose: the body may be a plain object, the one-element array the
//! streaming endpoints use, JSON with stray duplicated commas, or an HTML page from a load
//! balancer. Whatever arrives, the caller gets an [`UpstreamError`] it can classify and relay.
mod classify;
mod duration;
mod official;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use classify::{ErrorClass, GENERIC_EXHAUSTED_MESSAGE, classify};
pub use duration::parse_go_duration;
pub use official::{classify_gemini_api, classify_vertex, plain_reason};

/// The longest non-JSON body text kept as the message; HTML error pages can be large.
const MAX_RAW_MESSAGE: usize = 512;

#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamError {
    /// HTTP status of the response.
    pub status: u16,
    /// `error.code` from the body (usually equal to `status`).
    pub code: Option<i64>,
    pub message: String,
    /// `error.status`, e.g. `RESOURCE_EXHAUSTED`.
    pub status_text: Option<String>,
    /// First `ErrorInfo.reason`, else the first legacy `errors[].reason`.
    pub reason: Option<String>,
    pub domain: Option<String>,
    /// `RetryInfo.retryDelay`.
    pub retry_delay: Option<Duration>,
    /// `ErrorInfo.metadata.quotaResetDelay` (Go duration syntax).
    pub quota_reset_delay: Option<Duration>,
    /// `ErrorInfo.metadata.quotaResetTimeStamp`.
    pub quota_reset_at: Option<DateTime<Utc>>,
    pub help_links: Vec<String>,
    /// `ErrorInfo.metadata.validation_link`, else the first Help link of a
    /// `VALIDATION_REQUIRED` error.
    pub validation_link: Option<String>,
    /// `QuotaFailure.violations[].quotaId` plus `ErrorInfo.metadata.quota_limit`, the two
    /// places Google names the quota that tripped.
    pub quota_ids: Vec<String>,
    /// `QuotaFailure.violations[]` in order, each with its limit when Google sent one
    /// (`quotaValue`; "0" means the key's tier never serves the model).
    pub violations: Vec<QuotaViolation>,
    /// The parsed body, or `{"raw": "<text>"}` when it was not JSON.
    pub raw: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaViolation {
    pub quota_id: String,
    pub quota_value: Option<String>,
}

impl UpstreamError {
    /// Whether the body carried any structured detail (ErrorInfo, RetryInfo, QuotaFailure or
    /// legacy `errors[]`); classification falls back to message patterns without them.
    pub fn has_details(&self) -> bool {
        self.reason.is_some() || self.retry_delay.is_some() || !self.quota_ids.is_empty()
    }

    /// The body to relay to a Gemini-native client: the Google object itself, never the
    /// array wrapper, and a synthesized `google.rpc.Status` for non-JSON bodies.
    pub fn google_body(&self) -> Value {
        if self.raw.get("error").is_some_and(Value::is_object) {
            return self.raw.clone();
        }
        serde_json::json!({"error": {
            "code": self.code.unwrap_or(i64::from(self.status)),
            "message": self.message,
            "status": self.status_text.clone().unwrap_or_else(|| default_status_text(self.status).to_string()),
        }})
    }
}

impl From<&UpstreamError> for crate::error::GatewayError {
    /// For OpenAI-surface replies. Gemini-native replies should relay
    /// [`UpstreamError::google_body`] instead, which keeps Google's `details`.
    fn from(e: &UpstreamError) -> Self {
        crate::error::GatewayError::Upstream(Box::new(e.clone()))
    }
}

/// The google.rpc.Code name Google pairs with an HTTP status.
pub fn default_status_text(status: u16) -> &'static str {
    match status {
        400 | 413 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        // The path exists without this HTTP method: what the method needs is not implemented.
        405 => "UNIMPLEMENTED",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        502 | 503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        s if s >= 500 => "INTERNAL",
        _ => "UNKNOWN",
    }
}

/// Parse an upstream error body. Never fails: unknown shapes keep their text as the message.
pub fn parse_error(status: u16, body: &[u8]) -> UpstreamError {
    let text = String::from_utf8_lossy(body);
    let text = text.trim_start_matches('\u{feff}').trim();
    let parsed = serde_json::from_str::<Value>(text)
        .ok()
        .or_else(|| serde_json::from_str::<Value>(&strip_duplicate_commas(text)).ok());
    let mut err = UpstreamError {
        status,
        code: None,
        message: String::new(),
        status_text: None,
        reason: None,
        domain: None,
        retry_delay: None,
        quota_reset_delay: None,
        quota_reset_at: None,
        help_links: Vec::new(),
        validation_link: None,
        quota_ids: Vec::new(),
        violations: Vec::new(),
        raw: Value::Null,
    };
    let Some(parsed) = parsed else {
        err.message = raw_message(text, status);
        err.raw = serde_json::json!({ "raw": text });
        return err;
    };
    let doc = match parsed {
        Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        other => other,
    };
    match doc.get("error") {
        Some(Value::Object(e)) => fill_from_status(&mut err, e),
        // OAuth-style `{"error":"invalid_grant","error_description":"..."}`.
        Some(Value::String(code)) => {
            err.status_text = Some(code.clone());
            err.message = doc
                .get("error_description")
                .and_then(Value::as_str)
                .unwrap_or(code)
                .to_string();
        }
        _ => err.message = raw_message(text, status),
    }
    if err.message.is_empty() {
        err.message = format!("upstream returned HTTP {status}");
    }
    err.raw = doc;
    err
}

fn fill_from_status(err: &mut UpstreamError, e: &serde_json::Map<String, Value>) {
    err.code = e.get("code").and_then(Value::as_i64);
    err.message = e
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    err.status_text = e.get("status").and_then(Value::as_str).map(str::to_string);
    for d in e
        .get("details")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let kind = d.get("@type").and_then(Value::as_str).unwrap_or_default();
        let kind = kind.rsplit('/').next().unwrap_or(kind);
        match kind {
            "google.rpc.ErrorInfo" => fill_from_error_info(err, d),
            "google.rpc.RetryInfo" => {
                err.retry_delay = err.retry_delay.or_else(|| {
                    d.get("retryDelay")
                        .and_then(Value::as_str)
                        .and_then(parse_go_duration)
                });
            }
            "google.rpc.QuotaFailure" => {
                let violations = d.get("violations").and_then(Value::as_array);
                for v in violations.into_iter().flatten() {
                    let Some(id) = v.get("quotaId").and_then(Value::as_str) else {
                        continue;
                    };
                    err.quota_ids.push(id.to_string());
                    let value = match v.get("quotaValue") {
                        Some(Value::String(s)) => Some(s.clone()),
                        Some(Value::Number(n)) => Some(n.to_string()),
                        _ => None,
                    };
                    err.violations.push(QuotaViolation {
                        quota_id: id.to_string(),
                        quota_value: value,
                    });
                }
            }
            "google.rpc.Help" => {
                let links = d.get("links").and_then(Value::as_array);
                err.help_links.extend(
                    links
                        .into_iter()
                        .flatten()
                        .filter_map(|l| l.get("url").and_then(Value::as_str))
                        .map(str::to_string),
                );
            }
            _ => {}
        }
    }
    if err.reason.is_none() {
        err.reason = e
            .get("errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find_map(|x| x.get("reason").and_then(Value::as_str))
            .map(str::to_string);
    }
    if err.validation_link.is_none() && err.reason.as_deref() == Some("VALIDATION_REQUIRED") {
        err.validation_link = err.help_links.first().cloned();
    }
}

fn fill_from_error_info(err: &mut UpstreamError, d: &Value) {
    if err.reason.is_none() {
        err.reason = d.get("reason").and_then(Value::as_str).map(str::to_string);
        err.domain = d.get("domain").and_then(Value::as_str).map(str::to_string);
    }
    let Some(meta) = d.get("metadata") else {
        return;
    };
    let s = |k: &str| meta.get(k).and_then(Value::as_str);
    err.quota_reset_delay = err
        .quota_reset_delay
        .or_else(|| s("quotaResetDelay").and_then(parse_go_duration));
    err.quota_reset_at = err.quota_reset_at.or_else(|| {
        s("quotaResetTimeStamp")
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    });
    if err.validation_link.is_none() {
        err.validation_link = s("validation_link")
            .or_else(|| s("validationLink"))
            .map(str::to_string);
    }
    if let Some(q) = s("quota_limit") {
        err.quota_ids.push(q.to_string());
    }
}

/// The Gemini CLI attributes `,,` in error bodies to SSE corruption; drop commas that follow
/// another comma (whitespace between) outside string literals.
fn strip_duplicate_commas(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let (mut in_str, mut escaped, mut last_sig) = (false, false, None::<char>);
    for c in s.chars() {
        if in_str {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        if c == ',' && last_sig == Some(',') {
            continue;
        }
        if c == '"' {
            in_str = true;
        }
        if !c.is_whitespace() {
            last_sig = Some(c);
        }
        out.push(c);
    }
    out
}

/// A readable message from a non-JSON body: the HTML `<title>` when there is one, else the
/// text itself, cut to a bounded length.
fn raw_message(text: &str, status: u16) -> String {
    let lower = text.to_ascii_lowercase();
    let title = lower.find("<title>").and_then(|start| {
        let from = start + "<title>".len();
        lower[from..]
            .find("</title>")
            .map(|len| text[from..from + len].trim())
    });
    let msg = title.unwrap_or(text);
    if msg.is_empty() {
        return format!("upstream returned HTTP {status} with an empty body");
    }
    match msg.char_indices().nth(MAX_RAW_MESSAGE) {
        Some((cut, _)) => format!("{}…", &msg[..cut]),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests;
