//! Resource Manager and Service Usage: the fallback way to find a project the user owns and to
//! enable the APIs Code Assist needs on it.
use serde_json::Value;

use super::client::Upstream;
use super::code_assist::{CallFailure, get_json};

pub const REQUIRED_SERVICES: &[&str] = &[
    "geminicloudassist.googleapis.com",
    "cloudaicompanion.googleapis.com",
];

/// ACTIVE projects of the user, following pagination (the reference read only the first page).
pub async fn list_active_projects(up: &Upstream, token: &str) -> Result<Vec<String>, CallFailure> {
    let base = up.config().resource_manager;
    let mut out = Vec::new();
    let mut page: Option<String> = None;
    // A hard page cap guards against an upstream that never stops paging.
    for _ in 0..50 {
        let url = match &page {
            Some(t) => format!(
                "{base}/v1/projects?pageToken={}",
                url::form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>()
            ),
            None => format!("{base}/v1/projects"),
        };
        let v = get_json(up, url, token).await?;
        for p in v
            .get("projects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let active = p
                .get("lifecycleState")
                .and_then(Value::as_str)
                .is_none_or(|s| s == "ACTIVE");
            if let (true, Some(id)) = (active, p.get("projectId").and_then(Value::as_str)) {
                out.push(id.to_string());
            }
        }
        page = v
            .get("nextPageToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if page.is_none() {
            break;
        }
    }
    Ok(out)
}

/// Enables a service unless it already is; "already enabled" answers count as success.
pub async fn ensure_service(
    up: &Upstream,
    token: &str,
    project: &str,
    service: &str,
) -> Result<(), CallFailure> {
    let base = up.config().service_usage;
    let url = format!("{base}/v1/projects/{project}/services/{service}");
    if let Ok(v) = get_json(up, url.clone(), token).await
        && v.get("state").and_then(Value::as_str) == Some("ENABLED")
    {
        return Ok(());
    }
    let resp = up
        .client()
        .post(format!("{url}:enable"))
        .bearer_auth(token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .map_err(|e| CallFailure::Transport(e.without_url().to_string()))?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap_or_default();
    if (200..300).contains(&status)
        || (status == 400 && String::from_utf8_lossy(&body).contains("already enabled"))
    {
        return Ok(());
    }
    Err(CallFailure::Status { status, body })
}
