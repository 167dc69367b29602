//! The Gemini API's model list (`GET /v1beta/models`, paged): how a key is checked and how its
//! models are discovered. Generation goes through `executor`.
use serde_json::Value;

use super::client::Upstream;
use super::code_assist::CallFailure;

/// Largest page Google serves.
const PAGE_SIZE: u32 = 1000;
/// A bound on pages followed, against a misbehaving upstream that never ends its list.
const MAX_PAGES: usize = 20;

/// Every model id the key can use (`gemini-2.5-pro`, without `models/`), in Google's order.
pub async fn list_models(up: &Upstream, key: &str) -> Result<Vec<String>, CallFailure> {
    let base = up.config().gemini_api;
    let client = up.client();
    let mut models = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut req = client
            .get(format!("{base}/v1beta/models"))
            .header("x-goog-api-key", key)
            .query(&[("pageSize", PAGE_SIZE.to_string())]);
        if let Some(t) = &token {
            req = req.query(&[("pageToken", t)]);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| CallFailure::Transport(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| CallFailure::Transport(e.without_url().to_string()))?;
        if !(200..300).contains(&status) {
            return Err(CallFailure::Status { status, body });
        }
        let page: Value =
            serde_json::from_slice(&body).map_err(|_| CallFailure::Status { status: 502, body })?;
        models.extend(
            page.get("models")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|m| m.get("name").and_then(Value::as_str))
                .map(|n| n.strip_prefix("models/").unwrap_or(n).to_string()),
        );
        token = page
            .get("nextPageToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            return Ok(models);
        }
    }
    tracing::warn!(
        pages = MAX_PAGES,
        "the Gemini API model list did not end; using what was read"
    );
    Ok(models)
}
