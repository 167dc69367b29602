//! The pre-pass that runs before conversion (conversion is synchronous): it finds the remote
//! URLs in a request body, fetches them concurrently, and writes the files back inline, in
//! the shape the converter already reads (`data:` URLs for OpenAI, base64 sources for
//! Anthropic). Whatever is not a remote URL is left for the converter to judge.
use std::collections::HashMap;
use std::future::Future;

use base64::Engine;
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};

use super::cache::Fetched;
use super::fetch::FetchError;
use super::media::Purpose;
use crate::error::GatewayError;

/// Distinct URLs fetched for one request: a bound on the work one request can cause.
pub const MAX_URLS: usize = 32;
/// Fetches of one request in flight at once.
pub const CONCURRENCY: usize = 4;

/// The request's wire format: where URLs are found and how files are written back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    OpenAi,
    Anthropic,
}

impl Format {
    fn hint(self) -> &'static str {
        match self {
            Format::OpenAi => "or send it inline as a data: URL (data:<mime>;base64,<data>)",
            Format::Anthropic => "or send it inline as a base64 source",
        }
    }
}

/// One URL to replace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The field as error messages name it, e.g. `messages[0].content[1].image_url`.
    pub field: String,
    /// JSON pointer to the value that is replaced.
    pointer: String,
    pub url: String,
    pub purpose: Purpose,
}

fn is_remote(url: &str) -> bool {
    let head = url.trim_start().get(..8).unwrap_or(url.trim_start());
    let head = head.to_ascii_lowercase();
    head.starts_with("http://") || head.starts_with("https://")
}

/// OpenAI chat: `messages[].content[].image_url` (an object with `url`, or a bare string).
pub fn openai_targets(body: &Value) -> Vec<Target> {
    let mut out = Vec::new();
    for (i, parts) in messages_contents(body) {
        for (j, part) in parts.iter().enumerate() {
            if part.get("type").and_then(Value::as_str) != Some("image_url") {
                continue;
            }
            let (url, pointer) = match part.get("image_url") {
                Some(Value::String(u)) => (u, format!("/messages/{i}/content/{j}/image_url")),
                Some(Value::Object(o)) => match o.get("url") {
                    Some(Value::String(u)) => {
                        (u, format!("/messages/{i}/content/{j}/image_url/url"))
                    }
                    _ => continue,
                },
                _ => continue,
            };
            if is_remote(url) {
                out.push(Target {
                    field: format!("messages[{i}].content[{j}].image_url"),
                    pointer,
                    url: url.trim().to_string(),
                    purpose: Purpose::Image,
                });
            }
        }
    }
    out
}

/// Responses API: `input_image.image_url` and `input_file.file_url` in the content of
/// `input` items and in tool outputs given as a list of parts.
pub fn responses_targets(body: &Value) -> Vec<Target> {
    let mut out = Vec::new();
    let items = body.get("input").and_then(Value::as_array);
    for (i, item) in items.into_iter().flatten().enumerate() {
        for key in ["content", "output"] {
            let Some(parts) = item.get(key).and_then(Value::as_array) else {
                continue;
            };
            for (j, part) in parts.iter().enumerate() {
                let (url_key, purpose) = match part.get("type").and_then(Value::as_str) {
                    Some("input_image") => ("image_url", Purpose::Image),
                    Some("input_file") => ("file_url", Purpose::Document),
                    _ => continue,
                };
                let Some(url) = part.get(url_key).and_then(Value::as_str) else {
                    continue;
                };
                if is_remote(url) {
                    out.push(Target {
                        field: format!("input[{i}].{key}[{j}].{url_key}"),
                        pointer: format!("/input/{i}/{key}/{j}/{url_key}"),
                        url: url.trim().to_string(),
                        purpose,
                    });
                }
            }
        }
    }
    out
}

/// Anthropic Messages: `source: {type: "url"}` of image and document blocks, also inside
/// `tool_result` content.
pub fn anthropic_targets(body: &Value) -> Result<Vec<Target>, GatewayError> {
    let mut out = Vec::new();
    for (i, blocks) in messages_contents(body) {
        for (j, block) in blocks.iter().enumerate() {
            let (field, pointer) = (
                format!("messages[{i}].content[{j}]"),
                format!("/messages/{i}/content/{j}"),
            );
            url_source(block, &field, &pointer, &mut out)?;
            if block.get("type").and_then(Value::as_str) != Some("tool_result") {
                continue;
            }
            let Some(items) = block.get("content").and_then(Value::as_array) else {
                continue;
            };
            for (k, item) in items.iter().enumerate() {
                let field = format!("{field}.content[{k}]");
                url_source(item, &field, &format!("{pointer}/content/{k}"), &mut out)?;
            }
        }
    }
    Ok(out)
}

fn url_source(
    block: &Value,
    field: &str,
    pointer: &str,
    out: &mut Vec<Target>,
) -> Result<(), GatewayError> {
    let purpose = match block.get("type").and_then(Value::as_str) {
        Some("image") => Purpose::Image,
        Some("document") => Purpose::Document,
        _ => return Ok(()),
    };
    let Some(src) = block.get("source").filter(|s| s["type"] == "url") else {
        return Ok(());
    };
    let url = src
        .get("url")
        .and_then(Value::as_str)
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| {
            GatewayError::BadRequest(format!("'{field}.source.url' is required for a url source"))
        })?;
    out.push(Target {
        field: format!("{field}.source"),
        pointer: format!("{pointer}/source"),
        url: url.trim().to_string(),
        purpose,
    });
    Ok(())
}

/// `(index, content array)` of every message whose content is an array.
fn messages_contents(body: &Value) -> impl Iterator<Item = (usize, &Vec<Value>)> {
    body.get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, m)| Some((i, m.get("content")?.as_array()?)))
}

/// Fetches every target (each distinct URL once, a few at a time) and writes the files into
/// `body`. The first failure ends the request with a 400 that names its field; so does a set
/// of files larger together than `max_total` bytes.
pub async fn inline<F, Fut>(
    mut body: Value,
    targets: Vec<Target>,
    format: Format,
    max_total: u64,
    fetch: F,
) -> Result<Value, GatewayError>
where
    F: Fn(String, Purpose) -> Fut,
    Fut: Future<Output = Result<Fetched, FetchError>>,
{
    let mut unique: Vec<Target> = Vec::new();
    for t in &targets {
        if !unique
            .iter()
            .any(|u| u.url == t.url && u.purpose == t.purpose)
        {
            unique.push(t.clone());
        }
    }
    if unique.len() > MAX_URLS {
        return Err(GatewayError::BadRequest(format!(
            "the request has {} remote URLs; at most {MAX_URLS} are fetched per request",
            unique.len()
        )));
    }
    // Owned targets in the stream: the handler's future must be Send for any lifetime.
    let mut pending = stream::iter(unique)
        .map(|t| {
            let f = fetch(t.url.clone(), t.purpose);
            async move { (t, f.await) }
        })
        .buffer_unordered(CONCURRENCY);
    let mut fetched: HashMap<(String, Purpose), Fetched> = HashMap::new();
    let mut total = 0u64;
    while let Some((t, result)) = pending.next().await {
        let file = result.map_err(|e| failure(&t, &e, format))?;
        total += file.bytes.len() as u64;
        if total > max_total {
            return Err(GatewayError::BadRequest(format!(
                "the files fetched for this request add up to more than {max_total} bytes, the request size limit"
            )));
        }
        fetched.insert((t.url, t.purpose), file);
    }
    for t in &targets {
        let Some(file) = fetched.get(&(t.url.clone(), t.purpose)) else {
            continue;
        };
        if let Some(slot) = body.pointer_mut(&t.pointer) {
            *slot = written(file, format);
        }
    }
    Ok(body)
}

fn written(file: &Fetched, format: Format) -> Value {
    let data = base64::engine::general_purpose::STANDARD.encode(&file.bytes);
    match format {
        Format::OpenAi => json!(format!("data:{};base64,{data}", file.mime)),
        Format::Anthropic => json!({"type": "base64", "media_type": file.mime, "data": data}),
    }
}

fn failure(t: &Target, e: &FetchError, format: Format) -> GatewayError {
    let host = url::Url::parse(&t.url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string));
    tracing::info!(
        field = %t.field,
        host = host.as_deref().unwrap_or(""),
        error = %e,
        "remote fetch refused or failed"
    );
    let from = host.map(|h| format!(" from {h}")).unwrap_or_default();
    GatewayError::InvalidParam {
        param: t.field.clone(),
        message: format!(
            "'{}': cannot fetch the {}{from}: {e}; fix the URL {}",
            t.field,
            t.purpose.noun(),
            format.hint()
        ),
    }
}

#[cfg(test)]
mod tests;
