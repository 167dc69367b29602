//! One executor per credential kind, behind one trait: where a call goes, how it is
//! authenticated, how the Gemini request is wrapped, and how the upstream's errors are read.
//! All three upstreams take the same inner `GenerateContentRequest`, so
//! every converter serves every kind; only this layer differs.
//!
//! The pool hands out a [`Call`] (an executor holding one credential's current secret) and the
//! dispatcher passes it to [`generate`], [`stream`] or [`count_tokens`]. Nothing above
//! `google/` looks at the kind.
mod code_assist;
mod dialect;
pub mod embed;
mod gemini_api;
mod vertex;

use std::sync::Arc;

use bytes::Bytes;
use http::HeaderMap;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use http_body_util::BodyExt;
use serde_json::Value;

pub use self::code_assist::CodeAssist;
pub use self::gemini_api::GeminiApi;
pub use self::vertex::{Vertex, VertexExpress, vertex_base_url};
use super::client::{Upstream, UpstreamConfig};
pub use super::code_assist::CallFailure;
use super::code_assist::parsed_url;
use super::direct::DirectBody;
use super::errors::{ErrorClass, UpstreamError};
use super::kind::CredentialKind;

/// The generation methods every upstream serves, and the embedding methods of those that
/// embed (see [`embed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Generate,
    /// `streamGenerateContent?alt=sse`.
    Stream,
    CountTokens,
    /// The Gemini API's one embedding, and Vertex's for `gemini-embedding-2`.
    EmbedContent,
    /// The Gemini API's batch of at most 100.
    BatchEmbedContents,
    /// Vertex's prediction call, which embeds with `gemini-embedding-001` and the
    /// `text-embedding-*` models.
    Predict,
}

impl Method {
    /// The RPC name in the URL.
    pub fn rpc(self) -> &'static str {
        match self {
            Self::Generate => "generateContent",
            Self::Stream => "streamGenerateContent",
            Self::CountTokens => "countTokens",
            Self::EmbedContent => "embedContent",
            Self::BatchEmbedContents => "batchEmbedContents",
            Self::Predict => "predict",
        }
    }

    /// Embedding bodies are their own shapes, sent as they are: no envelope, no dialect.
    fn is_embedding(self) -> bool {
        matches!(
            self,
            Self::EmbedContent | Self::BatchEmbedContents | Self::Predict
        )
    }

    /// Generation requests, which carry safety settings.
    fn generates(self) -> bool {
        matches!(self, Self::Generate | Self::Stream)
    }

    /// Streams are always requested as SSE: one JSON document per `data:` line.
    fn query(self) -> &'static str {
        match self {
            Self::Stream => "?alt=sse",
            _ => "",
        }
    }
}

/// What differs between upstreams. Implementations hold one credential's secret for one call.
pub trait Executor: Send + Sync {
    fn kind(&self) -> CredentialKind;

    /// The URL of `method` on `model` (stream URLs carry `?alt=sse`). Keys never go in URLs:
    /// URLs end up in logs.
    fn url(&self, cfg: &UpstreamConfig, method: Method, model: &str) -> String;

    /// Adds the credential and any upstream-specific headers.
    fn authorize(&self, headers: &mut HeaderMap, model: &str);

    /// The body for `method`. `request` is a Gemini `GenerateContentRequest`; for
    /// `CountTokens` it holds only `contents`.
    fn body(&self, method: Method, model: &str, request: &Value) -> Vec<u8>;

    /// What an upstream error means for this kind of credential.
    fn classify(&self, err: &UpstreamError) -> ErrorClass;

    /// The bearer token sent, when the credential uses one (so a 401 can drop exactly it).
    fn bearer(&self) -> Option<&str> {
        None
    }
}

/// One credential ready for one upstream call: cheap to clone, safe to log (`Debug` shows the
/// kind only).
#[derive(Clone)]
pub struct Call(Arc<dyn Executor>);

impl Call {
    pub fn new(exec: impl Executor + 'static) -> Self {
        Self(Arc::new(exec))
    }

    pub fn kind(&self) -> CredentialKind {
        self.0.kind()
    }

    pub fn bearer(&self) -> Option<&str> {
        self.0.bearer()
    }

    pub fn classify(&self, err: &UpstreamError) -> ErrorClass {
        self.0.classify(err)
    }
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Call").field(&self.kind()).finish()
    }
}

fn transport(e: impl std::fmt::Display) -> CallFailure {
    CallFailure::Transport(e.to_string())
}

/// An upstream answer whose status is 2xx; its body is read by the caller.
pub type Answer = http::Response<UpBody>;

/// An answer's body from either client: the direct one, or reqwest when a PROXY is set.
pub enum UpBody {
    Direct(DirectBody),
    Reqwest(reqwest::Body),
}

/// Why reading an answer's body failed, as text fit for a client (no URL).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BodyError(String);

impl http_body::Body for UpBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BodyError>>> {
        use std::task::Poll;
        let frame = match self.get_mut() {
            Self::Direct(b) => match std::pin::Pin::new(b).poll_frame(cx) {
                Poll::Ready(Some(Err(e))) => Some(Err(BodyError(e.to_string()))),
                Poll::Ready(Some(Ok(f))) => Some(Ok(f)),
                Poll::Ready(None) => None,
                Poll::Pending => return Poll::Pending,
            },
            // without_url: error text reaches clients, and the URL is none of their business.
            Self::Reqwest(b) => match std::pin::Pin::new(b).poll_frame(cx) {
                Poll::Ready(Some(Err(e))) => Some(Err(BodyError(e.without_url().to_string()))),
                Poll::Ready(Some(Ok(f))) => Some(Ok(f)),
                Poll::Ready(None) => None,
                Poll::Pending => return Poll::Pending,
            },
        };
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Direct(b) => b.is_end_stream(),
            Self::Reqwest(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            Self::Direct(b) => b.size_hint(),
            Self::Reqwest(b) => b.size_hint(),
        }
    }
}

/// The whole body of `resp`.
pub async fn read_all(resp: Answer) -> Result<Bytes, BodyError> {
    Ok(resp.into_body().collect().await?.to_bytes())
}

async fn post(
    up: &Upstream,
    call: &Call,
    method: Method,
    model: &str,
    request: &Value,
) -> Result<Answer, CallFailure> {
    let exec = &*call.0;
    let (url, direct) =
        up.with_direct(|cfg, direct| (parsed_url(exec.url(cfg, method, model)), direct.cloned()));
    let body = if method.is_embedding() {
        serde_json::to_vec(request).unwrap_or_default()
    } else {
        exec.body(method, model, request)
    };
    let mut headers = HeaderMap::with_capacity(5);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // What reqwest sent, so upstreams see the same request from either client.
    headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
    exec.authorize(&mut headers, model);
    let resp = match (direct, url) {
        // A base URL with a user and password in it (a relay behind basic auth) goes through
        // reqwest, which turns them into an Authorization header.
        (Some(direct), Ok(url)) if url.username().is_empty() && url.password().is_none() => direct
            .post(&url, headers, Bytes::from(body))
            .await
            .map_err(transport)?
            .map(UpBody::Direct),
        (_, url) => {
            // A PROXY (no direct client), credentials in the URL, or a URL that does not
            // parse, which reqwest reports.
            let client = up.client();
            let req = match url {
                Ok(url) => client.post(url),
                Err(text) => client.post(text),
            };
            let resp = req
                .headers(headers)
                .body(body)
                .send()
                .await
                .map_err(|e| transport(e.without_url()))?;
            http::Response::from(resp).map(UpBody::Reqwest)
        }
    };
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let body = read_all(resp).await.unwrap_or_default();
    Err(CallFailure::Status { status, body })
}

async fn json_reply(resp: Answer) -> Result<Value, CallFailure> {
    let body: Bytes = read_all(resp).await.map_err(transport)?;
    // A 2xx whose body is not JSON is the upstream's fault: report it as a bad gateway.
    serde_json::from_slice(&body).map_err(|_| CallFailure::Status { status: 502, body })
}

/// Non-streaming generation; the 2xx body as it came: Code Assist's envelope
/// `{response, traceId}` or a bare `GenerateContentResponse`, which the caller reads straight
/// into its typed response (`wire::code_assist::read_answer` takes both).
pub async fn generate_body(
    up: &Upstream,
    call: &Call,
    model: &str,
    request: &Value,
) -> Result<Bytes, CallFailure> {
    let resp = post(up, call, Method::Generate, model, request).await?;
    read_all(resp).await.map_err(transport)
}

/// Streaming generation; the caller reads SSE from the returned body.
pub async fn stream(
    up: &Upstream,
    call: &Call,
    model: &str,
    request: &Value,
) -> Result<Answer, CallFailure> {
    post(up, call, Method::Stream, model, request).await
}

/// countTokens for `contents`; the answer carries `totalTokens`.
pub async fn count_tokens(
    up: &Upstream,
    call: &Call,
    model: &str,
    contents: &Value,
) -> Result<Value, CallFailure> {
    let request = serde_json::json!({ "contents": contents });
    json_reply(post(up, call, Method::CountTokens, model, &request).await?).await
}

/// A `User-Agent` for the official upstreams, which have no CLI to imitate.
fn official_user_agent() -> HeaderValue {
    HeaderValue::from_static(concat!("gcli2api/", env!("CARGO_PKG_VERSION")))
}

/// `Authorization: Bearer <token>`, marked sensitive so no debug output shows it.
fn bearer(token: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::try_from(format!("Bearer {token}")).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// The headers of the official upstreams' API keys: the key (marked sensitive, so no debug
/// output shows it) and our User-Agent.
fn api_key(headers: &mut HeaderMap, key: &str) {
    if let Ok(mut v) = HeaderValue::try_from(key) {
        v.set_sensitive(true);
        headers.insert("x-goog-api-key", v);
    }
    headers.insert(http::header::USER_AGENT, official_user_agent());
}

#[cfg(test)]
mod tests;
