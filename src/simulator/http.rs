//! The one endpoint: read and record the request, apply scripted faults, route by path (the
//! official upstreams' paths first, see `official::classify`). Paths are matched by hand
//! because Google's `/v1internal:method` form clashes with route parameter syntax.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use poem::http::{HeaderMap, Method, StatusCode};
use poem::{Request, Response};
use serde_json::Value;

use super::errors::{self, ErrCtx};
use super::faults::{self, CallKey, Endpoint, Fault, Upstream};
use super::official::{self, errors::Family};
use super::state::{SimState, TokenProblem};
use super::types::{RecordedBody, RecordedRequest};
use super::{code_assist, control, oauth, projects};

const MAX_FIRST_BYTE_DELAY: Duration = Duration::from_secs(60);

pub(crate) struct Ctx {
    pub state: Arc<SimState>,
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub body: RecordedBody,
    pub bearer: Option<String>,
    /// `x-goog-api-key`, else `?key=`.
    pub api_key: Option<String>,
}

impl Ctx {
    pub fn query_param(&self, name: &str) -> Option<String> {
        let q = self.query.as_deref()?;
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    pub fn json(&self) -> Option<&Value> {
        match &self.body {
            RecordedBody::Json(v) => Some(v),
            _ => None,
        }
    }

    pub fn form(&self, name: &str) -> Option<&str> {
        match &self.body {
            RecordedBody::Form(f) => f.get(name).map(String::as_str),
            _ => None,
        }
    }

    /// The e-mail behind a live bearer token, or the 401 `UNAUTHENTICATED` Google answers.
    pub fn authed(&self, method: &str) -> Result<String, Box<Response>> {
        let Some(token) = self.bearer.as_deref() else {
            return Err(Box::new(errors::json_response(
                401,
                &errors::unauthenticated(method, "CREDENTIALS_MISSING"),
            )));
        };
        let inner = self.state.lock();
        match inner.live_token(token) {
            Ok(entry) => Ok(entry.email.clone()),
            Err(problem) => {
                let reason = match problem {
                    TokenProblem::Unknown => "ACCESS_TOKEN_INVALID",
                    TokenProblem::Expired | TokenProblem::Revoked => "ACCESS_TOKEN_EXPIRED",
                };
                Err(Box::new(errors::json_response(
                    401,
                    &errors::unauthenticated(method, reason),
                )))
            }
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

fn api_key(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let header = headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string());
    header.or_else(|| {
        url::form_urlencoded::parse(query?.as_bytes())
            .find(|(k, _)| k == "key")
            .map(|(_, v)| v.into_owned())
    })
}

fn parse_body(headers: &HeaderMap, bytes: &[u8]) -> RecordedBody {
    if bytes.is_empty() {
        return RecordedBody::Empty;
    }
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if ct.starts_with("application/x-www-form-urlencoded") {
        let form: BTreeMap<String, String> = url::form_urlencoded::parse(bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        return RecordedBody::Form(form);
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => RecordedBody::Json(v),
        Err(_) => RecordedBody::Text(String::from_utf8_lossy(bytes).into_owned()),
    }
}

fn classify(method: &Method, path: &str) -> Endpoint {
    match (method.as_str(), path) {
        ("POST", "/token") => Endpoint::Token,
        ("GET", "/o/oauth2/auth" | "/o/oauth2/v2/auth") => Endpoint::Authorize,
        (_, "/tokeninfo" | "/oauth2/v3/tokeninfo") => Endpoint::TokenInfo,
        ("GET", "/oauth2/v2/userinfo") => Endpoint::UserInfo,
        ("GET", "/v1/projects") => Endpoint::ListProjects,
        (_, p) if p.starts_with("/v1/projects/") && p.contains("/services/") => {
            Endpoint::ServiceUsage
        }
        ("POST", "/v1internal:loadCodeAssist") => Endpoint::LoadCodeAssist,
        ("POST", "/v1internal:onboardUser") => Endpoint::OnboardUser,
        ("GET", p) if p.starts_with("/v1internal/operations/") => Endpoint::GetOperation,
        ("POST", "/v1internal:generateContent") => Endpoint::GenerateContent,
        ("POST", "/v1internal:streamGenerateContent") => Endpoint::StreamGenerateContent,
        ("POST", "/v1internal:countTokens") => Endpoint::CountTokens,
        _ => Endpoint::Other,
    }
}

fn rpc_method(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::LoadCodeAssist => "LoadCodeAssist",
        Endpoint::OnboardUser => "OnboardUser",
        Endpoint::GetOperation => "GetOperation",
        Endpoint::StreamGenerateContent => "StreamGenerateContent",
        Endpoint::CountTokens => "CountTokens",
        _ => "GenerateContent",
    }
}

/// A reply that promises a body and sends none: hyper must close the connection, and the
/// client sees a transport error instead of an answer.
pub(crate) fn connection_drop() -> Response {
    let stream = futures_util::stream::empty::<Result<bytes::Bytes, std::io::Error>>();
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", errors::JSON_UTF8)
        .header("content-length", 64)
        .body(poem::Body::from_bytes_stream(stream))
}

/// Who the request is about: the bearer token's owner, else the refresh token's, code's or
/// JWT assertion's (its claimed issuer).
fn caller_email(state: &SimState, bearer: Option<&str>, body: &RecordedBody) -> Option<String> {
    let inner = state.lock();
    if let Some(t) = bearer.and_then(|b| inner.tokens.get(b)) {
        return Some(t.email.clone());
    }
    let RecordedBody::Form(form) = body else {
        return None;
    };
    if let Some(rt) = form.get("refresh_token") {
        return inner
            .users
            .iter()
            .find(|u| &u.refresh_token == rt)
            .map(|u| u.spec.email.clone());
    }
    if let Some(assertion) = form.get("assertion") {
        return official::service_account::assertion_issuer(assertion);
    }
    form.get("code")
        .and_then(|c| inner.codes.get(c))
        .map(|c| c.email.clone())
}

fn model_of(body: &RecordedBody) -> Option<String> {
    let RecordedBody::Json(v) = body else {
        return None;
    };
    let model = v
        .get("model")
        .or_else(|| v.pointer("/request/model"))
        .and_then(Value::as_str)?;
    Some(model.strip_prefix("models/").unwrap_or(model).to_string())
}

pub(crate) async fn handle(state: Arc<SimState>, mut req: Request) -> Response {
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_owned);
    let method = req.method().clone();
    let headers = req.headers().clone();
    let bytes = match req.take_body().into_vec().await {
        Ok(b) => b,
        Err(e) => {
            tracing::debug!(error = %e, "simulator could not read a request body");
            return Response::builder()
                .status(StatusCode::BAD_REQUEST)
                .body("unreadable body");
        }
    };
    if let Some(rest) = path.strip_prefix("/__sim/") {
        return control::handle(&state, &method, rest, query.as_deref(), &bytes);
    }
    let body = parse_body(&headers, &bytes);
    let bearer = bearer(&headers);
    let api_key = api_key(&headers, query.as_deref());
    let email = caller_email(&state, bearer.as_deref(), &body);
    let official = official::classify(&method, &path);
    let (endpoint, upstream, model) = match &official {
        Some(call) => (call.endpoint, Some(call.upstream), call.model.clone()),
        None => {
            let endpoint = classify(&method, &path);
            (endpoint, code_assist_upstream(&path), model_of(&body))
        }
    };
    let (fault, project) = {
        let mut inner = state.lock();
        let project = match &official {
            Some(call) => official::project_of(&inner, call, api_key.as_deref()),
            None => envelope_project(&body),
        };
        inner.requests.push(RecordedRequest {
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: body.clone(),
            email: email.clone(),
            api_key: api_key.clone(),
            upstream,
            at: Utc::now(),
        });
        let key = CallKey {
            endpoint,
            email: email.as_deref(),
            model: model.as_deref(),
            api_key: api_key.as_deref(),
            project: project.as_deref(),
            upstream,
        };
        (faults::take(&mut inner.faults, &key), project)
    };
    tracing::debug!(%method, %path, ?endpoint, ?upstream, fault = fault.is_some(), "simulator request");
    let ctx = Ctx {
        state,
        method,
        path,
        query,
        body,
        bearer,
        api_key,
    };
    match &fault {
        Some(Fault::ConnectionDrop) => return connection_drop(),
        Some(Fault::SlowFirstByte { delay_ms }) => {
            tokio::time::sleep(Duration::from_millis(*delay_ms).min(MAX_FIRST_BYTE_DELAY)).await;
        }
        Some(f) if !f.is_behaviour() => {
            let project = project.unwrap_or_else(|| "default".to_string());
            let rpc = match &official {
                Some(call) => official::errors::rpc_name(call.upstream, endpoint),
                None => rpc_method(endpoint).to_string(),
            };
            let err_ctx = ErrCtx {
                project: &project,
                model: model.as_deref().unwrap_or("gemini-2.5-pro"),
                method: &rpc,
                upstream,
                api_key: ctx.api_key.as_deref().unwrap_or_default(),
                family: Family::of(endpoint),
            };
            if let Some(resp) = errors::fault_response(f, &err_ctx) {
                return resp;
            }
        }
        _ => {}
    }
    match &official {
        Some(call) => official::route(&ctx, call, fault.as_ref()).await,
        None => route(&ctx, endpoint, fault).await,
    }
}

/// Code Assist's own methods; OAuth, userinfo and project discovery belong to no upstream.
fn code_assist_upstream(path: &str) -> Option<Upstream> {
    path.starts_with("/v1internal")
        .then_some(Upstream::CodeAssist)
}

fn envelope_project(body: &RecordedBody) -> Option<String> {
    let RecordedBody::Json(v) = body else {
        return None;
    };
    v.get("project").and_then(Value::as_str).map(str::to_owned)
}

async fn route(ctx: &Ctx, endpoint: Endpoint, fault: Option<Fault>) -> Response {
    match endpoint {
        Endpoint::Token => oauth::token(ctx),
        Endpoint::Authorize => oauth::authorize(ctx, fault.as_ref()),
        Endpoint::TokenInfo => oauth::tokeninfo(ctx),
        Endpoint::UserInfo => oauth::userinfo(ctx),
        Endpoint::ListProjects => projects::list(ctx),
        Endpoint::ServiceUsage => projects::service_usage(ctx),
        Endpoint::LoadCodeAssist => projects::load_code_assist(ctx),
        Endpoint::OnboardUser => projects::onboard_user(ctx),
        Endpoint::GetOperation => projects::get_operation(ctx),
        Endpoint::GenerateContent => code_assist::generate(ctx, fault.as_ref(), false).await,
        Endpoint::StreamGenerateContent => code_assist::generate(ctx, fault.as_ref(), true).await,
        Endpoint::CountTokens => code_assist::count_tokens(ctx),
        Endpoint::ListModels
        | Endpoint::GetModel
        | Endpoint::EmbedContent
        | Endpoint::BatchEmbedContents
        | Endpoint::Predict
        | Endpoint::Other => code_assist::other(ctx),
    }
}
