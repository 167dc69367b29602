//! The gateway's error type and its one mapping to HTTP status codes and wire formats.
use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use serde_json::json;

/// Which wire format an error must be rendered in: each route answers in its caller's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surface {
    OpenAi,
    Gemini,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(
        "missing API key: send it as 'Authorization: Bearer <key>', 'x-goog-api-key', 'x-api-key' or '?key='"
    )]
    MissingKey,
    #[error("invalid API key")]
    WrongKey,
    #[error("{0}")]
    BadRequest(String),
    #[error("request body too large (limit {limit} bytes)")]
    PayloadTooLarge { limit: usize },
    #[error("model not found: {0}")]
    ModelNotFound(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    NoCredential {
        message: String,
        retry_after_secs: Option<u64>,
    },
    #[error("{message}")]
    Upstream {
        status: u16,
        message: String,
        status_text: Option<String>,
    },
    #[error("upstream unreachable: {0}")]
    UpstreamTransport(String),
    #[error("server is busy, try again later")]
    Overloaded,
    #[error("internal error: {0}")]
    Internal(String),
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingKey => StatusCode::UNAUTHORIZED,
            Self::WrongKey => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ModelNotFound(_) | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::NoCredential { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Upstream { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY)
            }
            Self::UpstreamTransport(_) => StatusCode::BAD_GATEWAY,
            Self::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// google.rpc.Code name used in Google-shaped bodies.
    fn google_status(&self) -> String {
        if let Self::Upstream {
            status_text: Some(s),
            ..
        } = self
        {
            return s.clone();
        }
        match self.status().as_u16() {
            400 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            413 => "INVALID_ARGUMENT",
            429 => "RESOURCE_EXHAUSTED",
            499 => "CANCELLED",
            501 => "UNIMPLEMENTED",
            503 => "UNAVAILABLE",
            504 => "DEADLINE_EXCEEDED",
            _ => "INTERNAL",
        }
        .to_string()
    }

    fn openai_type(&self) -> &'static str {
        match self.status().as_u16() {
            401 | 403 => "authentication_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            400 | 413 | 422 => "invalid_request_error",
            _ => "api_error",
        }
    }

    /// The JSON error body in the caller's own format.
    pub fn body(&self, surface: Surface) -> serde_json::Value {
        let status = self.status().as_u16();
        match surface {
            Surface::OpenAi => json!({"error": {
                "message": self.to_string(),
                "type": self.openai_type(),
                "code": self.openai_code(),
            }}),
            Surface::Gemini => json!({"error": {
                "code": status,
                "message": self.to_string(),
                "status": self.google_status(),
            }}),
        }
    }

    fn openai_code(&self) -> serde_json::Value {
        match self {
            Self::MissingKey | Self::WrongKey => json!("invalid_api_key"),
            Self::ModelNotFound(_) => json!("model_not_found"),
            Self::Upstream {
                status_text: Some(s),
                ..
            } => json!(s),
            _ => json!(self.status().as_u16()),
        }
    }

    pub fn into_response(self, surface: Surface) -> Response {
        let mut resp = poem::web::Json(self.body(surface)).into_response();
        resp.set_status(self.status());
        if let Self::NoCredential {
            retry_after_secs: Some(s),
            ..
        } = &self
        {
            resp.headers_mut()
                .insert("retry-after", s.to_string().parse().expect("digits"));
        }
        resp
    }
}
