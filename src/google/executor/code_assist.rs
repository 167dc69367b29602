//! Code Assist (`cloudcode-pa` `/v1internal:*`): an OAuth bearer token, the Gemini CLI's
//! User-Agent, and the `{model, project, request}` envelope.
use serde_json::Value;

use http::HeaderMap;
use http::header::{AUTHORIZATION, HeaderValue, USER_AGENT};

use super::{Executor, Method, bearer};
use crate::google::client::{UpstreamConfig, user_agent};
use crate::google::errors::{ErrorClass, UpstreamError, classify};
use crate::google::kind::CredentialKind;
use crate::wire::code_assist::Envelope;

pub struct CodeAssist {
    pub access_token: String,
    pub project: String,
}

impl Executor for CodeAssist {
    fn kind(&self) -> CredentialKind {
        CredentialKind::CodeAssist
    }

    fn url(&self, cfg: &UpstreamConfig, method: Method, _model: &str) -> String {
        format!(
            "{}/v1internal:{}{}",
            cfg.code_assist,
            method.rpc(),
            method.query()
        )
    }

    fn authorize(&self, headers: &mut HeaderMap, model: &str) {
        if let Some(v) = bearer(&self.access_token) {
            headers.insert(AUTHORIZATION, v);
        }
        if let Ok(v) = HeaderValue::try_from(user_agent(model)) {
            headers.insert(USER_AGENT, v);
        }
    }

    fn body(&self, method: Method, model: &str, request: &Value) -> Vec<u8> {
        let bytes = match method {
            // countTokens names the model inside the request and carries no project.
            Method::CountTokens => serde_json::to_vec(&serde_json::json!({"request": {
                "model": format!("models/{}", model.trim_start_matches("models/")),
                "contents": request.get("contents").cloned().unwrap_or(Value::Null),
            }})),
            _ => serde_json::to_vec(&Envelope::new(model, &self.project, request)),
        };
        bytes.unwrap_or_default()
    }

    fn classify(&self, err: &UpstreamError) -> ErrorClass {
        classify(err)
    }

    fn bearer(&self) -> Option<&str> {
        Some(&self.access_token)
    }
}
