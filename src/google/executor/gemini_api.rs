//! The Gemini API (AI Studio keys, `generativelanguage` v1beta): the key in `x-goog-api-key`,
//! the bare `GenerateContentRequest`, no envelope.
use serde_json::Value;

use super::dialect::{self, Dialect};
use http::HeaderMap;

use super::{Executor, Method, api_key};
use crate::google::client::UpstreamConfig;
use crate::google::errors::{ErrorClass, UpstreamError, classify_gemini_api};
use crate::google::kind::CredentialKind;

pub struct GeminiApi {
    pub key: String,
}

/// `models/{model}` without a doubled prefix.
pub(super) fn bare(model: &str) -> &str {
    model.strip_prefix("models/").unwrap_or(model)
}

impl Executor for GeminiApi {
    fn kind(&self) -> CredentialKind {
        CredentialKind::GeminiApiKey
    }

    fn url(&self, cfg: &UpstreamConfig, method: Method, model: &str) -> String {
        format!(
            "{}/v1beta/models/{}:{}{}",
            cfg.gemini_api,
            bare(model),
            method.rpc(),
            method.query()
        )
    }

    fn authorize(&self, headers: &mut HeaderMap, _model: &str) {
        api_key(headers, &self.key);
    }

    fn body(&self, method: Method, model: &str, request: &Value) -> Vec<u8> {
        dialect::body(Dialect::GeminiApi, method, model, request)
    }

    fn classify(&self, err: &UpstreamError) -> ErrorClass {
        classify_gemini_api(err)
    }
}
