//! Vertex AI: a service account's bearer token on the project and
//! location path, or an express key on the publisher path. Both take the bare request, with
//! Vertex's dialect (a `role` on every content).
use serde_json::Value;

use super::dialect::{self, Dialect};
use super::gemini_api::bare;
use http::HeaderMap;
use http::header::{AUTHORIZATION, USER_AGENT};

use super::{Executor, Method, api_key, bearer, official_user_agent};
use crate::google::client::UpstreamConfig;
use crate::google::errors::{ErrorClass, UpstreamError, classify_vertex};
use crate::google::kind::CredentialKind;

/// The host for a location: `global` on the global host (the newest models are often only
/// there), the multi-regions `us` and `eu` on their REP hosts, a region on its own host.
pub fn vertex_base_url(cfg: &UpstreamConfig) -> String {
    if let Some(url) = &cfg.vertex_api {
        return url.clone();
    }
    match cfg.vertex_location.as_str() {
        "global" => "https://aiplatform.googleapis.com".into(),
        m @ ("us" | "eu") => format!("https://aiplatform.{m}.rep.googleapis.com"),
        region => format!("https://{region}-aiplatform.googleapis.com"),
    }
}

/// A service account's call: the token granted for it and the key file's project.
pub struct Vertex {
    pub access_token: String,
    pub project: String,
}

impl Executor for Vertex {
    fn kind(&self) -> CredentialKind {
        CredentialKind::VertexServiceAccount
    }

    fn url(&self, cfg: &UpstreamConfig, method: Method, model: &str) -> String {
        format!(
            "{}/v1/projects/{}/locations/{}/publishers/google/models/{}:{}{}",
            vertex_base_url(cfg),
            self.project,
            cfg.vertex_location,
            bare(model),
            method.rpc(),
            method.query()
        )
    }

    fn authorize(&self, headers: &mut HeaderMap, _model: &str) {
        if let Some(v) = bearer(&self.access_token) {
            headers.insert(AUTHORIZATION, v);
        }
        headers.insert(USER_AGENT, official_user_agent());
    }

    fn body(&self, method: Method, model: &str, request: &Value) -> Vec<u8> {
        dialect::body(Dialect::Vertex, method, model, request)
    }

    fn classify(&self, err: &UpstreamError) -> ErrorClass {
        classify_vertex(err, false)
    }

    fn bearer(&self) -> Option<&str> {
        Some(&self.access_token)
    }
}

/// An express-mode key: no project or location in the path.
pub struct VertexExpress {
    pub key: String,
}

impl Executor for VertexExpress {
    fn kind(&self) -> CredentialKind {
        CredentialKind::VertexExpressKey
    }

    fn url(&self, cfg: &UpstreamConfig, method: Method, model: &str) -> String {
        // Express mode lives on the global host whatever VERTEX_LOCATION says.
        let base = cfg
            .vertex_api
            .clone()
            .unwrap_or_else(|| "https://aiplatform.googleapis.com".into());
        format!(
            "{base}/v1/publishers/google/models/{}:{}{}",
            bare(model),
            method.rpc(),
            method.query()
        )
    }

    fn authorize(&self, headers: &mut HeaderMap, _model: &str) {
        api_key(headers, &self.key);
    }

    fn body(&self, method: Method, model: &str, request: &Value) -> Vec<u8> {
        dialect::body(Dialect::Vertex, method, model, request)
    }

    fn classify(&self, err: &UpstreamError) -> ErrorClass {
        classify_vertex(err, true)
    }
}
