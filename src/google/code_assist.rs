//! Calls to the Code Assist API (`/v1internal:*`) for onboarding and identity. Generation goes
//! through `google::executor`. This layer only moves bytes and statuses; what an error means is
//! decided by `google::errors` and the pool.
use std::collections::HashMap;
use std::sync::LazyLock;

use bytes::Bytes;
use parking_lot::RwLock;
use serde_json::Value;

use super::client::{Upstream, user_agent};

/// A failed upstream call: either Google answered with a non-2xx status, or we never got an answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallFailure {
    #[error("upstream answered {status}")]
    Status { status: u16, body: Bytes },
    #[error("upstream unreachable: {0}")]
    Transport(String),
}

impl CallFailure {
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            Self::Transport(_) => None,
        }
    }
}

fn transport(e: reqwest::Error) -> CallFailure {
    // without_url: the URL can carry nothing secret today, but error text reaches clients.
    CallFailure::Transport(e.without_url().to_string())
}

async fn post(
    up: &Upstream,
    method: &str,
    query: &str,
    token: &str,
    model: &str,
    body: &(impl serde::Serialize + ?Sized),
) -> Result<reqwest::Response, CallFailure> {
    let url = format!("{}/v1internal:{method}{query}", up.config().code_assist);
    let client = up.client();
    let request = match parsed_url(url) {
        Ok(url) => client.post(url),
        Err(text) => client.post(text),
    };
    let resp = request
        .bearer_auth(token)
        .header("user-agent", user_agent(model))
        .header("content-type", "application/json")
        .json(body)
        .send()
        .await
        .map_err(transport)?;
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap_or_default();
    Err(CallFailure::Status { status, body })
}

/// `url` parsed once and then reused: parsing (host checks included) cost more than the rest
/// of building a request. Only a few URLs are ever seen (one per method and base URL); the
/// cache starts over if the base changes often. A URL that does not parse is passed on as
/// text, so the client reports it as before.
pub(crate) fn parsed_url(url: String) -> Result<reqwest::Url, String> {
    static CACHE: LazyLock<RwLock<HashMap<String, reqwest::Url>>> = LazyLock::new(Default::default);
    const MAX_URLS: usize = 64;
    if let Some(u) = CACHE.read().get(&url) {
        return Ok(u.clone());
    }
    let Ok(parsed) = reqwest::Url::parse(&url) else {
        return Err(url);
    };
    let mut cache = CACHE.write();
    if cache.len() >= MAX_URLS {
        cache.clear();
    }
    cache.insert(url, parsed.clone());
    Ok(parsed)
}

async fn json_reply(resp: reqwest::Response) -> Result<Value, CallFailure> {
    let body = resp.bytes().await.map_err(transport)?;
    // A 2xx whose body is not JSON is the upstream's fault: report it as a bad gateway.
    serde_json::from_slice(&body).map_err(|_| CallFailure::Status { status: 502, body })
}

fn client_metadata(project: Option<&str>) -> Value {
    let mut m = serde_json::json!({
        "ideType": "IDE_UNSPECIFIED",
        "platform": "PLATFORM_UNSPECIFIED",
        "pluginType": "GEMINI",
    });
    if let Some(p) = project {
        m["duetProject"] = Value::String(p.to_string());
    }
    m
}

pub async fn load_code_assist(
    up: &Upstream,
    token: &str,
    project: Option<&str>,
) -> Result<Value, CallFailure> {
    let mut body = serde_json::json!({ "metadata": client_metadata(project) });
    if let Some(p) = project {
        body["cloudaicompanionProject"] = Value::String(p.to_string());
    }
    json_reply(post(up, "loadCodeAssist", "", token, "", &body).await?).await
}

/// Starts (or, when re-posted, polls) onboarding. The free tier must not carry a project.
pub async fn onboard_user(
    up: &Upstream,
    token: &str,
    tier: &str,
    project: Option<&str>,
) -> Result<Value, CallFailure> {
    let mut body = serde_json::json!({ "tierId": tier, "metadata": client_metadata(project) });
    if let Some(p) = project {
        body["cloudaicompanionProject"] = Value::String(p.to_string());
    }
    json_reply(post(up, "onboardUser", "", token, "", &body).await?).await
}

/// An authenticated GET that must answer 2xx with JSON; shared by every read-only Google call.
pub(crate) async fn get_json(
    up: &Upstream,
    url: String,
    token: &str,
) -> Result<Value, CallFailure> {
    let resp = up
        .client()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(transport)?;
    if !resp.status().is_success() {
        let status = resp.status().as_u16();
        return Err(CallFailure::Status {
            status,
            body: resp.bytes().await.unwrap_or_default(),
        });
    }
    json_reply(resp).await
}

/// Polls a long-running operation by name (`operations/123`).
pub async fn get_operation(up: &Upstream, token: &str, name: &str) -> Result<Value, CallFailure> {
    let url = format!(
        "{}/v1internal/{}",
        up.config().code_assist,
        name.trim_start_matches('/')
    );
    get_json(up, url, token).await
}

/// `GET {googleapis}/oauth2/v2/userinfo` → the account's e-mail.
pub async fn user_email(up: &Upstream, token: &str) -> Result<Option<String>, CallFailure> {
    let v = get_json(
        up,
        format!("{}/oauth2/v2/userinfo", up.config().googleapis),
        token,
    )
    .await?;
    Ok(v.get("email").and_then(|e| e.as_str()).map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_once_and_bad_ones_passed_on() {
        let url = "http://127.0.0.1:9/v1internal:generateContent".to_string();
        let first = parsed_url(url.clone()).expect("parses");
        assert_eq!(first.as_str(), url);
        assert_eq!(parsed_url(url).expect("cached"), first);
        assert_eq!(
            parsed_url("not a url/v1internal:x".into()),
            Err("not a url/v1internal:x".to_string())
        );
    }
}
