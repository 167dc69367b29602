//! The one error body of the management API, `{"error": {"code", "message"}}`, and the
//! responses every authenticated operation shares (401, 429, 500).
//!
//! Operation-specific failures are variants of each operation's own response enum; they all carry
//! this same body, so a client needs one error parser. Errors that poem or poem-openapi raise
//! before a handler runs (unparsable bodies, unknown paths) are rewritten into this body by
//! [`normalize`], so nothing under `/api` answers with plain text.
use poem::Response;
use poem::http::StatusCode;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object};

/// Machine-readable error category.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Missing or wrong credentials (panel password or session token).
    Unauthorized,
    /// Too many failed sign-ins from this address; wait for `Retry-After`.
    TooManyAttempts,
    /// The current password sent to confirm a sensitive change is wrong.
    WrongCurrentPassword,
    /// The request is malformed (bad JSON, missing field, wrong type).
    BadRequest,
    /// A value was rejected by validation; `message` says why.
    Invalid,
    /// A setting name that does not exist.
    UnknownSetting,
    /// The value is fixed by an environment variable or the config file.
    Locked,
    /// The value cannot be changed through this operation.
    NotWritable,
    NotFound,
    /// Something with that name already exists.
    Conflict,
    /// The request body is larger than the limit.
    PayloadTooLarge,
    /// Google (or the configured upstream) refused or failed; `message` has its words.
    Upstream,
    /// The feature is not available in this process (e.g. live logs not enabled).
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::WrongCurrentPassword => StatusCode::FORBIDDEN,
            ErrorCode::BadRequest | ErrorCode::UnknownSetting => StatusCode::BAD_REQUEST,
            ErrorCode::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Locked | ErrorCode::NotWritable | ErrorCode::Conflict => {
                StatusCode::CONFLICT
            }
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Upstream => StatusCode::BAD_GATEWAY,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn from_status(status: StatusCode) -> Self {
        match status.as_u16() {
            401 => ErrorCode::Unauthorized,
            404 | 405 => ErrorCode::NotFound,
            409 => ErrorCode::Locked,
            411 | 413 => ErrorCode::PayloadTooLarge,
            422 => ErrorCode::Invalid,
            429 => ErrorCode::TooManyAttempts,
            503 => ErrorCode::Unavailable,
            s if (400..500).contains(&s) => ErrorCode::BadRequest,
            _ => ErrorCode::Internal,
        }
    }
}

/// The error itself.
#[derive(Clone, Debug, Object)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// Human-readable; never contains a secret.
    pub message: String,
    /// The setting, credential or parameter the error is about, when there is one.
    #[oai(skip_serializing_if_is_none)]
    pub target: Option<String>,
}

/// Every error response of the management API.
#[derive(Clone, Debug, Object)]
pub struct ApiError {
    pub error: ErrorDetail,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code,
                message: message.into(),
                target: None,
            },
        }
    }

    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.error.target = Some(target.into());
        self
    }

    pub fn json(code: ErrorCode, message: impl Into<String>) -> Json<ApiError> {
        Json(Self::new(code, message))
    }

    /// A plain poem response, for code that runs outside an operation (security checker,
    /// middleware).
    pub fn into_poem_response(self) -> Response {
        let status = self.error.code.status();
        let body = serde_json::json!({
            "error": {
                "code": code_str(self.error.code),
                "message": self.error.message,
                "target": self.error.target,
            }
        });
        let mut body = body;
        if let Some(e) = body.get_mut("error").and_then(|e| e.as_object_mut())
            && e.get("target").is_some_and(|t| t.is_null())
        {
            e.remove("target");
        }
        Response::builder()
            .status(status)
            .content_type("application/json; charset=utf-8")
            .header("cache-control", "no-store")
            .body(body.to_string())
    }
}

fn code_str(code: ErrorCode) -> String {
    use poem_openapi::types::ToJSON;
    code.to_json()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "internal".into())
}

/// Failures any authenticated operation can answer with.
#[derive(ApiResponse, Debug)]
pub enum Failure {
    /// No valid panel password or session token.
    #[oai(status = 401)]
    Unauthorized(Json<ApiError>),
    /// Too many failed attempts from this address; retry after the given seconds.
    #[oai(status = 429)]
    TooManyAttempts(Json<ApiError>, #[oai(header = "retry-after")] u64),
    /// Something broke on our side (the database, a background task).
    #[oai(status = 500)]
    Internal(Json<ApiError>),
}

/// What an operation without authentication can fail with beyond its own responses.
#[derive(ApiResponse, Debug)]
pub enum ServerFailure {
    /// Something broke on our side.
    #[oai(status = 500)]
    Internal(Json<ApiError>),
}

impl ServerFailure {
    pub fn internal(context: &str, e: &dyn std::fmt::Display) -> Self {
        match Failure::internal(context, e) {
            Failure::Internal(j) => ServerFailure::Internal(j),
            _ => ServerFailure::Internal(ApiError::json(ErrorCode::Internal, context)),
        }
    }
}

impl Failure {
    /// Logs the cause (it may be long or technical) and answers with a short message.
    pub fn internal(context: &str, e: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %e, context, "management API operation failed");
        Failure::Internal(ApiError::json(
            ErrorCode::Internal,
            format!("{context}: {e}"),
        ))
    }
}

/// Rewrites any error that is not already our JSON body into it, keeping the status.
pub async fn normalize(result: poem::Result<Response>) -> Response {
    let resp = match result {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let retry_after = resp.headers().get("retry-after").cloned();
    let text = resp.into_body().into_string().await.unwrap_or_default();
    let code = ErrorCode::from_status(status);
    let message = if text.trim().is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        // poem's parse errors can quote a little of the input; bounded, and the input is the
        // caller's own.
        text.chars().take(500).collect()
    };
    let mut out = ApiError::new(code, message).into_poem_response();
    out.set_status(status);
    if let Some(v) = retry_after {
        out.headers_mut().insert("retry-after", v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn plain_errors_become_json_with_the_same_status() {
        let plain = Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .body("method not allowed");
        let out = normalize(Ok(plain)).await;
        assert_eq!(out.status(), StatusCode::METHOD_NOT_ALLOWED);
        let body: serde_json::Value =
            serde_json::from_str(&out.into_body().into_string().await.unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "not_found");
        assert_eq!(body["error"]["message"], "method not allowed");
        assert!(body["error"].get("target").is_none());
    }

    #[tokio::test]
    async fn json_errors_and_successes_pass_through() {
        let ok = Response::builder().status(StatusCode::OK).body("fine");
        let out = normalize(Ok(ok)).await;
        assert_eq!(out.into_body().into_string().await.unwrap(), "fine");
        let typed = ApiError::new(ErrorCode::Locked, "x")
            .with_target("auto_ban")
            .into_poem_response();
        let out = normalize(Ok(typed)).await;
        assert_eq!(out.status(), StatusCode::CONFLICT);
        let body: serde_json::Value =
            serde_json::from_str(&out.into_body().into_string().await.unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "locked");
        assert_eq!(body["error"]["target"], "auto_ban");
    }
}
