//! The gateway's error type and its one mapping to HTTP status codes and wire formats.
use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use serde_json::json;

use crate::google::errors::UpstreamError;

impl From<crate::pool::service::AcquireError> for GatewayError {
    fn from(e: crate::pool::service::AcquireError) -> Self {
        GatewayError::NoCredential {
            retry_after_secs: e.retry_after().map(|d| d.as_secs().max(1)),
            message: e.to_string(),
        }
    }
}

/// Which API a client speaks: errors are rendered in its format, and usage is counted by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Surface {
    /// Chat completions (and the other OpenAI routes but Responses).
    OpenAi,
    Gemini,
    Anthropic,
    /// OpenAI's Responses API: OpenAI's error shape, counted on its own.
    Responses,
}

impl Surface {
    /// Stable text form, used as the database key.
    pub fn as_str(self) -> &'static str {
        match self {
            Surface::OpenAi => "openai",
            Surface::Gemini => "gemini",
            Surface::Anthropic => "anthropic",
            Surface::Responses => "responses",
        }
    }

    /// Whether errors are rendered in OpenAI's shape.
    pub fn is_openai(self) -> bool {
        matches!(self, Surface::OpenAi | Surface::Responses)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(
        "missing API key: send it as 'Authorization: Bearer <key>', 'x-goog-api-key', 'x-api-key' or '?key='"
    )]
    MissingKey,
    #[error("invalid API key")]
    WrongKey,
    /// Too many wrong keys from this client address; the right key is still accepted.
    #[error("too many failed attempts from this address; retry in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("{0}")]
    BadRequest(String),
    /// A 400 caused by one request field, which OpenAI-shaped errors name in `param`.
    #[error("{message}")]
    InvalidParam { param: String, message: String },
    #[error("request body too large (limit {limit} bytes)")]
    PayloadTooLarge { limit: usize },
    #[error("model not found: {0}")]
    ModelNotFound(String),
    #[error("{0}")]
    NotFound(String),
    /// The path exists, but not for this HTTP method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A valid request this gateway is not set up to serve (no credential of a kind that
    /// can): Google's FAILED_PRECONDITION, so clients do not retry it.
    #[error("{0}")]
    Unservable(String),
    #[error("{message}")]
    NoCredential {
        message: String,
        retry_after_secs: Option<u64>,
    },
    #[error("{}", .0.message)]
    Upstream(Box<UpstreamError>),
    #[error("Google returned an empty reply on every attempt ({0}); try again")]
    EmptyReply(String),
    #[error("upstream unreachable: {0}")]
    UpstreamTransport(String),
    /// A client key that is disabled or expired (the secret was right).
    #[error("{0}")]
    KeyRefused(String),
    /// A client key's allow-list does not include the model (after aliases and suffixes).
    #[error("API key '{key}' may not use model '{model}' (allowed: {allowed})")]
    ModelNotAllowed {
        key: String,
        model: String,
        allowed: String,
    },
    /// A client key's allow-list does not include the upstream the model name pins.
    #[error("API key '{key}' may not use {upstream} credentials")]
    UpstreamNotAllowed { key: String, upstream: String },
    /// Over one of a client key's limits.
    #[error("{0}")]
    KeyLimited(crate::keys::Limited),
    #[error("server is busy, try again later")]
    Overloaded,
    /// The database has been unreachable so long that the usage buffer is full: serving
    /// more would leave requests uncounted.
    #[error("usage cannot be recorded (the database is unreachable); try again later")]
    UsageUnrecorded,
    #[error("internal error: {0}")]
    Internal(String),
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingKey => StatusCode::UNAUTHORIZED,
            Self::WrongKey
            | Self::KeyRefused(_)
            | Self::ModelNotAllowed { .. }
            | Self::UpstreamNotAllowed { .. } => StatusCode::FORBIDDEN,
            Self::KeyLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::BadRequest(_) | Self::Unservable(_) | Self::InvalidParam { .. } => {
                StatusCode::BAD_REQUEST
            }
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ModelNotFound(_) | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::NoCredential { .. } | Self::UsageUnrecorded => StatusCode::SERVICE_UNAVAILABLE,
            Self::Upstream(e) => StatusCode::from_u16(e.status)
                .ok()
                .filter(|s| s.is_client_error() || s.is_server_error())
                .unwrap_or(StatusCode::BAD_GATEWAY),
            Self::EmptyReply(_) | Self::UpstreamTransport(_) => StatusCode::BAD_GATEWAY,
            Self::Overloaded | Self::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// google.rpc.Code name used in Google-shaped bodies.
    fn google_status(&self) -> String {
        if let Self::Unservable(_) = self {
            return "FAILED_PRECONDITION".into();
        }
        if let Self::Upstream(e) = self
            && let Some(s) = &e.status_text
        {
            return s.clone();
        }
        crate::google::errors::default_status_text(self.status().as_u16()).to_string()
    }

    fn openai_type(&self) -> &'static str {
        if matches!(
            self,
            Self::ModelNotAllowed { .. } | Self::UpstreamNotAllowed { .. }
        ) {
            return "permission_error";
        }
        match self.status().as_u16() {
            401 | 403 => "authentication_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            400 | 405 | 413 | 422 => "invalid_request_error",
            _ => "api_error",
        }
    }

    /// Anthropic's error `type` for this error's status.
    fn anthropic_type(&self) -> &'static str {
        if matches!(
            self,
            Self::MissingKey | Self::WrongKey | Self::KeyRefused(_)
        ) {
            return "authentication_error";
        }
        match self.status().as_u16() {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            400 | 405 | 413 | 422 => "invalid_request_error",
            503 | 529 => "overloaded_error",
            _ => "api_error",
        }
    }

    fn openai_code(&self) -> serde_json::Value {
        match self {
            Self::MissingKey | Self::WrongKey | Self::KeyRefused(_) => json!("invalid_api_key"),
            Self::ModelNotAllowed { .. } => json!("model_not_allowed"),
            Self::UpstreamNotAllowed { .. } => json!("upstream_not_allowed"),
            Self::KeyLimited(_) => json!("rate_limit_exceeded"),
            Self::ModelNotFound(_) => json!("model_not_found"),
            Self::Unservable(_) => json!("unsupported_by_pool"),
            // Keep Google's reason (e.g. RATE_LIMIT_EXCEEDED) so clients can tell errors apart.
            Self::Upstream(e) => match (&e.reason, &e.status_text) {
                (Some(r), _) => json!(r),
                (None, Some(s)) => json!(s),
                (None, None) => json!(e.status),
            },
            _ => json!(self.status().as_u16()),
        }
    }

    /// The request field at fault, for OpenAI's `param`.
    fn param(&self) -> Option<&str> {
        match self {
            Self::InvalidParam { param, .. } => Some(param),
            Self::ModelNotFound(_)
            | Self::ModelNotAllowed { .. }
            | Self::UpstreamNotAllowed { .. } => Some("model"),
            _ => None,
        }
    }

    /// The JSON error body in the caller's own format. An upstream error is relayed with
    /// every registered secret blanked: Google quotes a refused API key in some messages
    /// ("Consumer 'api_key:...' has been suspended"), and the pool's keys are not the
    /// client's business.
    pub fn body(&self, surface: Surface) -> serde_json::Value {
        let body = self.unredacted_body(surface);
        if !matches!(self, Self::Upstream(_)) {
            return body;
        }
        let text = body.to_string();
        match crate::logs::redact(&text) {
            std::borrow::Cow::Borrowed(_) => body,
            std::borrow::Cow::Owned(clean) => serde_json::from_str(&clean).unwrap_or(body),
        }
    }

    fn unredacted_body(&self, surface: Surface) -> serde_json::Value {
        // Google's own body, details included, is the most useful thing to relay.
        if let (Surface::Gemini, Self::Upstream(e)) = (surface, self) {
            return e.google_body();
        }
        match surface {
            Surface::OpenAi | Surface::Responses => json!({"error": {
                "message": self.to_string(),
                "type": self.openai_type(),
                "param": self.param(),
                "code": self.openai_code(),
            }}),
            Surface::Gemini => json!({"error": {
                "code": self.status().as_u16(),
                "message": self.to_string(),
                "status": self.google_status(),
            }}),
            Surface::Anthropic => json!({"type": "error", "error": {
                "type": self.anthropic_type(),
                "message": self.to_string(),
            }}),
        }
    }

    pub fn into_response(self, surface: Surface) -> Response {
        let mut resp = poem::web::Json(self.body(surface)).into_response();
        resp.set_status(self.status());
        let retry_after = match &self {
            Self::NoCredential {
                retry_after_secs: Some(s),
                ..
            }
            | Self::TooManyAttempts {
                retry_after_secs: s,
            } => Some(*s),
            Self::KeyLimited(l) => Some(l.retry_after_secs),
            _ => None,
        };
        if let Some(s) = retry_after {
            resp.headers_mut()
                .insert("retry-after", s.to_string().parse().expect("digits"));
        }
        resp
    }
}

impl From<crate::convert::request::ConvertError> for GatewayError {
    fn from(e: crate::convert::request::ConvertError) -> Self {
        use crate::convert::request::ConvertError as C;
        let param = match &e {
            C::Missing(f) => Some((*f).to_string()),
            C::Invalid { field, .. } | C::RemoteUrl { field, .. } => Some(field.clone()),
            C::Model(_) => Some("model".to_string()),
            C::NotAnObject => None,
        };
        match param {
            Some(param) => Self::InvalidParam {
                param,
                message: e.to_string(),
            },
            None => Self::BadRequest(e.to_string()),
        }
    }
}
