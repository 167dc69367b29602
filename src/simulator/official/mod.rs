//! The official upstreams (the Gemini API and Vertex AI), on the same loopback server as Code
//! Assist (no path collides with it):
//!
//! * **Gemini API** (AI Studio keys), `GEMINI_API_URL` = the simulator's base URL:
//!   `GET /v1beta/models` (`pageSize` default 50, at most 1000, opaque `pageToken` /
//!   `nextPageToken`), `GET /v1beta/models/{m}`, `POST /v1beta/models/{m}:generateContent`,
//!   `:streamGenerateContent` (`?alt=sse`: SSE; otherwise one JSON array), `:countTokens`
//!   (`contents` or `generateContentRequest`, not both), `:embedContent`,
//!   `:batchEmbedContents` (at most 100 requests). Auth: `x-goog-api-key` (`?key=` also
//!   works, as upstream; the request log shows which was used). No envelope.
//! * **Vertex AI, service account**, `VERTEX_API_URL` = the base URL whatever the location:
//!   the location is taken from the path, so `global`, `us`, `eu` and regions are all served
//!   here (upstream they are different hosts). `POST /{v1,v1beta1}/projects/{p}/locations/{l}/
//!   publishers/google/models/{m}:{generateContent,streamGenerateContent,countTokens,predict,
//!   embedContent}` with `Authorization: Bearer` from the JWT-bearer grant at `/token` (the
//!   key file's `token_uri`). Models with a prefix in the global-only list (`gemini-3` by
//!   default) answer 404 outside `global`. `:predict` serves `gemini-embedding-001` (one
//!   instance per request), `text-embedding-005` and `text-multilingual-embedding-002` (up to
//!   250 instances, 20k tokens); `:embedContent` serves `gemini-embedding-2`.
//! * **Vertex express mode**: `POST /{v1,v1beta1}/publishers/google/models/{m}:{generateContent,
//!   streamGenerateContent,countTokens}` with an express key in `x-goog-api-key`; no
//!   embeddings (404).
//!
//! Replies are the deterministic ones of the module docs ("Echo: ..."), unwrapped. Keys,
//! service accounts and Google projects are seeded and scripted through `SimHandle` and
//! `/__sim/` (see `handle.rs`, `control.rs`); quota belongs to the project (`quota.rs`).

pub(crate) mod catalog;
pub(crate) mod control;
pub(crate) mod embeddings;
pub(crate) mod errors;
mod gemini_api;
mod handle;
pub(crate) mod keys;
pub(crate) mod quota;
pub(crate) mod registry;
pub(crate) mod service_account;
pub(crate) mod types;
mod vertex;

use poem::Response;
use poem::http::Method;

use crate::simulator::faults::{Endpoint, Fault, Upstream};
use crate::simulator::http::Ctx;
use crate::simulator::state::Inner;

/// A request to one of the official upstreams, as read from its path.
#[derive(Clone, Debug)]
pub(crate) struct OfficialCall {
    pub upstream: Upstream,
    pub endpoint: Endpoint,
    pub model: Option<String>,
    /// Vertex: the path's project and location.
    pub project: Option<String>,
    pub location: Option<String>,
}

fn method_endpoint(method: &str) -> Endpoint {
    match method {
        "generateContent" => Endpoint::GenerateContent,
        "streamGenerateContent" => Endpoint::StreamGenerateContent,
        "countTokens" => Endpoint::CountTokens,
        "embedContent" => Endpoint::EmbedContent,
        "batchEmbedContents" => Endpoint::BatchEmbedContents,
        "predict" => Endpoint::Predict,
        _ => Endpoint::Other,
    }
}

/// `{model}:{method}` of a POST; anything else is `Other` (answered 404).
fn model_call(http: &Method, rest: &str) -> (Option<String>, Endpoint) {
    match rest.split_once(':') {
        Some((model, method)) if http == Method::POST && !model.is_empty() => {
            (Some(model.to_string()), method_endpoint(method))
        }
        _ => (None, Endpoint::Other),
    }
}

pub(crate) fn classify(http: &Method, path: &str) -> Option<OfficialCall> {
    if let Some(rest) = path.strip_prefix("/v1beta/models") {
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        let (model, endpoint) = match (http.as_str(), rest) {
            ("GET", "") => (None, Endpoint::ListModels),
            ("GET", m) if !m.contains(':') && !m.contains('/') => {
                (Some(m.to_string()), Endpoint::GetModel)
            }
            _ => model_call(http, rest),
        };
        return Some(OfficialCall {
            upstream: Upstream::GeminiApi,
            endpoint,
            model,
            project: None,
            location: None,
        });
    }
    let rest = path
        .strip_prefix("/v1/")
        .or_else(|| path.strip_prefix("/v1beta1/"))?;
    if let Some(rest) = rest.strip_prefix("publishers/google/models/") {
        let (model, endpoint) = model_call(http, rest);
        return Some(OfficialCall {
            upstream: Upstream::VertexExpress,
            endpoint,
            model,
            project: None,
            location: None,
        });
    }
    // Only the full publisher-model path is Vertex; other `/v1/projects/...` paths belong to
    // Resource Manager and Service Usage.
    let (project, rest) = rest.strip_prefix("projects/")?.split_once('/')?;
    let (location, rest) = rest.strip_prefix("locations/")?.split_once('/')?;
    let rest = rest.strip_prefix("publishers/google/models/")?;
    let (model, endpoint) = model_call(http, rest);
    Some(OfficialCall {
        upstream: Upstream::Vertex,
        endpoint,
        model,
        project: Some(project.to_string()),
        location: Some(location.to_string()),
    })
}

/// The Google project a call is charged to: the Vertex path's, or the API key's.
pub(crate) fn project_of(
    inner: &Inner,
    call: &OfficialCall,
    api_key: Option<&str>,
) -> Option<String> {
    call.project.clone().or_else(|| {
        api_key
            .and_then(|k| inner.official.key(k))
            .map(|k| k.project_id.clone())
    })
}

pub(crate) async fn route(ctx: &Ctx, call: &OfficialCall, fault: Option<&Fault>) -> Response {
    match call.upstream {
        Upstream::GeminiApi => gemini_api::handle(ctx, call, fault),
        Upstream::Vertex | Upstream::VertexExpress | Upstream::CodeAssist => {
            vertex::handle(ctx, call, fault)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_classified_by_upstream() {
        let post = Method::POST;
        let c = classify(&post, "/v1beta/models/gemini-2.5-pro:streamGenerateContent").unwrap();
        assert_eq!(
            (c.upstream, c.endpoint, c.model.as_deref()),
            (
                Upstream::GeminiApi,
                Endpoint::StreamGenerateContent,
                Some("gemini-2.5-pro")
            )
        );
        let c = classify(&Method::GET, "/v1beta/models").unwrap();
        assert_eq!(c.endpoint, Endpoint::ListModels);
        let c = classify(&Method::GET, "/v1beta/models/gemini-2.5-pro").unwrap();
        assert_eq!(c.endpoint, Endpoint::GetModel);
        let c = classify(
            &post,
            "/v1/projects/p1/locations/global/publishers/google/models/gemini-2.5-pro:predict",
        )
        .unwrap();
        assert_eq!(
            (
                c.upstream,
                c.endpoint,
                c.project.as_deref(),
                c.location.as_deref()
            ),
            (
                Upstream::Vertex,
                Endpoint::Predict,
                Some("p1"),
                Some("global")
            )
        );
        let c = classify(&post, "/v1beta1/publishers/google/models/m:countTokens").unwrap();
        assert_eq!(
            (c.upstream, c.endpoint),
            (Upstream::VertexExpress, Endpoint::CountTokens)
        );
        assert!(classify(&Method::GET, "/v1/projects").is_none());
        assert!(classify(&Method::GET, "/v1/projects/p/services/x").is_none());
        assert!(classify(&post, "/v1internal:generateContent").is_none());
        let c = classify(&post, "/v1beta/models/m:frobnicate").unwrap();
        assert_eq!(c.endpoint, Endpoint::Other);
    }
}
