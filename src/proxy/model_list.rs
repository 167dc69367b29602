//! The model list: `GET /v1/models`, `GET /v1/models/{id}` and the `/v1beta` pair.
//!
//! One list ([`listed`]) rendered three ways. Under `/v1` the caller's format is negotiated
//! (see [`super::family::negotiated`]): OpenAI's `{object: "list", data: [...]}`, Google's
//! `{models: [...], nextPageToken}` or Anthropic's `{data, has_more, first_id, last_id}`.
//! `/v1beta` always answers Google's. An unknown id is a 404 in the same format.
//!
//! Paging follows each API, but only when the caller asks for it: without `pageSize`
//! (Google) or `limit` (Anthropic) the whole list comes back at once, as before, so clients
//! that never page still see every model.
use poem::web::{Data, Json, Path};
use poem::{IntoResponse, Request, Response, handler};
use serde_json::{Value, json};

use super::family;
use crate::error::{GatewayError, Surface};
use crate::models;
use crate::pool::service::Offer;
use crate::settings::Settings;
use crate::state::AppState;

/// `created` of every listed model (no real release dates are known for all of them).
const CREATED: i64 = 1_700_000_000;
/// Paging limits: Google's `pageSize` and Anthropic's `limit` accept at most 1000.
const MAX_PAGE: usize = 1000;

/// One listed model.
#[derive(Clone, Debug)]
pub struct ListedModel {
    /// What clients send as `model` (feature prefixes and suffixes included).
    pub id: String,
    pub display_name: String,
    /// Google's `Model` resource for this id.
    gemini: Value,
}

impl ListedModel {
    fn openai(&self) -> Value {
        json!({"id": self.id, "object": "model", "created": CREATED, "owned_by": "google"})
    }

    fn anthropic(&self) -> Value {
        let created_at = chrono::DateTime::from_timestamp(CREATED, 0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        json!({
            "type": "model",
            "id": self.id,
            "display_name": self.display_name,
            "created_at": created_at,
        })
    }
}

/// Every model the gateway lists, in order: the one source every format renders from. The
/// catalog's variants come first (with the kind pins the pool offers), then the embedding
/// models the pool's credentials serve, then the aliases (`MODEL_ALIASES`).
pub fn listed(s: &Settings, offer: &Offer) -> Vec<ListedModel> {
    let mut entries = models::gemini_model_entries(&s.base_models, &offer.pins);
    entries.extend(models::embedding_entries(&offer.embedding));
    entries.extend(models::alias_entries(&s.model_aliases));
    from_entries(entries)
}

fn from_entries(entries: Vec<Value>) -> Vec<ListedModel> {
    entries
        .into_iter()
        .filter_map(|entry| {
            let id = entry
                .get("name")
                .and_then(Value::as_str)?
                .strip_prefix("models/")?
                .to_string();
            let display_name = entry
                .get("displayName")
                .and_then(Value::as_str)
                .unwrap_or(&id)
                .to_string();
            Some(ListedModel {
                id,
                display_name,
                gemini: entry,
            })
        })
        .collect()
}

/// `GET /v1/models` in the negotiated format.
#[handler]
pub async fn list_v1(req: &Request, Data(state): Data<&AppState>) -> Response {
    respond_list(state, req, family::of(req))
}

/// `GET /v1beta/models`: always Google's.
#[handler]
pub async fn list_v1beta(req: &Request, Data(state): Data<&AppState>) -> Response {
    respond_list(state, req, Surface::Gemini)
}

/// `GET /v1/models/{id}` in the negotiated format.
#[handler]
pub async fn get_v1(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(rest): Path<String>,
) -> Response {
    respond_one(state, &rest, family::of(req))
}

/// `GET /v1beta/models/{id}`: always Google's.
#[handler]
pub async fn get_v1beta(Data(state): Data<&AppState>, Path(rest): Path<String>) -> Response {
    respond_one(state, &rest, Surface::Gemini)
}

fn respond_list(state: &AppState, req: &Request, surface: Surface) -> Response {
    let all = listed(&state.settings.get(), &state.pool.offer());
    let query = req.uri().query().unwrap_or_default();
    let rendered = match surface {
        Surface::OpenAi | Surface::Responses => Ok(openai_list(&all)),
        Surface::Gemini => gemini_list(&all, &Paging::parse(query)),
        Surface::Anthropic => anthropic_list(&all, &Paging::parse(query)),
    };
    match rendered {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(surface),
    }
}

fn respond_one(state: &AppState, rest: &str, surface: Surface) -> Response {
    // A Gemini-style action sent with GET: the path exists, the method does not.
    if let Some((_, method)) = rest.rsplit_once(':') {
        return GatewayError::MethodNotAllowed(format!(
            "models/{{model}}:{method} takes POST, not GET"
        ))
        .into_response(surface);
    }
    let id = rest.strip_prefix("models/").unwrap_or(rest);
    let all = listed(&state.settings.get(), &state.pool.offer());
    match all.iter().find(|m| m.id == id) {
        Some(m) => Json(match surface {
            Surface::OpenAi | Surface::Responses => m.openai(),
            Surface::Gemini => m.gemini.clone(),
            Surface::Anthropic => m.anthropic(),
        })
        .into_response(),
        None => GatewayError::ModelNotFound(id.to_string()).into_response(surface),
    }
}

/// Paging parameters of Google's (`pageSize`, `pageToken`) and Anthropic's (`limit`,
/// `after_id`, `before_id`) list calls.
#[derive(Default, Debug)]
struct Paging {
    page_size: Option<String>,
    page_token: Option<String>,
    limit: Option<String>,
    after_id: Option<String>,
    before_id: Option<String>,
}

impl Paging {
    fn parse(query: &str) -> Self {
        let mut p = Paging::default();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match k.as_ref() {
                "pageSize" | "page_size" => &mut p.page_size,
                "pageToken" | "page_token" => &mut p.page_token,
                "limit" => &mut p.limit,
                "after_id" => &mut p.after_id,
                "before_id" => &mut p.before_id,
                _ => continue,
            };
            *slot = Some(v.into_owned()).filter(|v| !v.is_empty());
        }
        p
    }
}

/// A page size from the query: absent means "everything".
fn page_size(raw: Option<&str>, name: &str) -> Result<Option<usize>, GatewayError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    match raw.trim().parse::<usize>() {
        Ok(0) => Ok(None),
        Ok(n) => Ok(Some(n.min(MAX_PAGE))),
        Err(_) => Err(GatewayError::BadRequest(format!(
            "'{name}' must be a non-negative integer"
        ))),
    }
}

fn openai_list(all: &[ListedModel]) -> Value {
    let data: Vec<Value> = all.iter().map(ListedModel::openai).collect();
    json!({"object": "list", "data": data})
}

/// Google's list. `nextPageToken` is the offset of the next page (opaque to clients).
fn gemini_list(all: &[ListedModel], p: &Paging) -> Result<Value, GatewayError> {
    let start = match p.page_token.as_deref() {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|&n| n <= all.len())
            .ok_or_else(|| GatewayError::BadRequest("'pageToken' is not valid".into()))?,
    };
    let size = page_size(p.page_size.as_deref(), "pageSize")?.unwrap_or(all.len());
    let end = start.saturating_add(size).min(all.len());
    let models: Vec<Value> = all[start..end].iter().map(|m| m.gemini.clone()).collect();
    let mut out = json!({"models": models});
    if end < all.len() {
        out["nextPageToken"] = json!(end.to_string());
    }
    Ok(out)
}

/// Anthropic's list: `after_id` / `before_id` are model ids, `limit` the page size.
fn anthropic_list(all: &[ListedModel], p: &Paging) -> Result<Value, GatewayError> {
    let position = |id: &str, name: &str| {
        all.iter()
            .position(|m| m.id == id)
            .ok_or_else(|| GatewayError::BadRequest(format!("'{name}': unknown model id '{id}'")))
    };
    let limit = page_size(p.limit.as_deref(), "limit")?;
    let (start, end) = match (p.after_id.as_deref(), p.before_id.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(GatewayError::BadRequest(
                "send either 'after_id' or 'before_id', not both".into(),
            ));
        }
        (Some(after), None) => {
            let start = position(after, "after_id")? + 1;
            let end = limit.map_or(all.len(), |l| start.saturating_add(l).min(all.len()));
            (start, end)
        }
        (None, Some(before)) => {
            let end = position(before, "before_id")?;
            (limit.map_or(0, |l| end.saturating_sub(l)), end)
        }
        (None, None) => (0, limit.map_or(all.len(), |l| l.min(all.len()))),
    };
    let page = &all[start..end];
    let has_more = if p.before_id.is_some() {
        start > 0
    } else {
        end < all.len()
    };
    let data: Vec<Value> = page.iter().map(ListedModel::anthropic).collect();
    Ok(json!({
        "data": data,
        "has_more": has_more,
        "first_id": page.first().map(|m| m.id.clone()),
        "last_id": page.last().map(|m| m.id.clone()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Vec<ListedModel> {
        (0..n)
            .map(|i| ListedModel {
                id: format!("m{i}"),
                display_name: format!("M{i}"),
                gemini: json!({"name": format!("models/m{i}")}),
            })
            .collect()
    }

    fn ids(v: &Value, list: &str, field: &str) -> Vec<String> {
        v[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m[field].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn every_format_renders_the_same_ids() {
        let base: Vec<String> = models::DEFAULT_BASE_MODELS
            .iter()
            .map(|m| m.to_string())
            .collect();
        let mut entries = models::gemini_model_entries(&base, &[]);
        entries.extend(models::alias_entries(&models::Aliases::defaults()));
        let all = from_entries(entries);
        assert!(all.len() > 10, "{}", all.len());
        assert!(
            all.iter().any(|m| m.id == "claude-sonnet-*"),
            "aliases are listed"
        );
        let want: Vec<String> = all.iter().map(|m| m.id.clone()).collect();
        assert_eq!(ids(&openai_list(&all), "data", "id"), want);
        let a = anthropic_list(&all, &Paging::default()).unwrap();
        assert_eq!(ids(&a, "data", "id"), want);
        let g = gemini_list(&all, &Paging::default()).unwrap();
        let names: Vec<String> = want.iter().map(|id| format!("models/{id}")).collect();
        assert_eq!(ids(&g, "models", "name"), names);
        assert!(g.get("nextPageToken").is_none());
        assert!(all.iter().any(|m| m.id.starts_with("假流式/")));
    }

    #[test]
    fn google_pages_follow_next_page_token() {
        let all = sample(5);
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let p = Paging {
                page_size: Some("2".into()),
                page_token: token.clone(),
                ..Default::default()
            };
            let v = gemini_list(&all, &p).unwrap();
            seen.extend(ids(&v, "models", "name"));
            match v.get("nextPageToken").and_then(Value::as_str) {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 5);
        let bad = Paging {
            page_token: Some("zz".into()),
            ..Default::default()
        };
        assert!(gemini_list(&all, &bad).is_err());
    }

    #[test]
    fn anthropic_pages_forward_and_backward() {
        let all = sample(5);
        let first = anthropic_list(
            &all,
            &Paging {
                limit: Some("2".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(ids(&first, "data", "id"), ["m0", "m1"]);
        assert_eq!(first["has_more"], true);
        assert_eq!(first["first_id"], "m0");
        assert_eq!(first["last_id"], "m1");
        let next = anthropic_list(
            &all,
            &Paging {
                limit: Some("2".into()),
                after_id: Some("m3".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(ids(&next, "data", "id"), ["m4"]);
        assert_eq!(next["has_more"], false);
        let back = anthropic_list(
            &all,
            &Paging {
                limit: Some("2".into()),
                before_id: Some("m3".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(ids(&back, "data", "id"), ["m1", "m2"]);
        assert_eq!(back["has_more"], true);
        let empty = anthropic_list(
            &all,
            &Paging {
                after_id: Some("m4".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(empty["data"], json!([]));
        assert_eq!(empty["first_id"], Value::Null);
        let unknown = Paging {
            after_id: Some("nope".into()),
            ..Default::default()
        };
        assert!(anthropic_list(&all, &unknown).is_err());
    }

    #[test]
    fn anthropic_created_at_is_rfc3339() {
        let m = &sample(1)[0];
        assert_eq!(m.anthropic()["created_at"], "2023-11-14T22:13:20Z");
        assert_eq!(m.openai()["created"], CREATED);
    }
}
