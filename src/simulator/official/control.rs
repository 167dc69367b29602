//! `/__sim/` routes for the official upstreams; JSON mirrors the Rust types of `types.rs`.

use chrono::Utc;
use poem::Response;
use poem::http::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::types::{ApiKeySpec, KeyState, ModelQuota, ServiceAccountSpec, ServiceAccountState};
use crate::simulator::errors::json_response;
use crate::simulator::state::SimState;

#[derive(Deserialize)]
struct KeyStateBody {
    key: String,
    state: KeyState,
}

#[derive(Deserialize)]
struct DeniedModelsBody {
    key: String,
    models: Vec<String>,
}

#[derive(Deserialize)]
struct AccountStateBody {
    client_email: String,
    state: ServiceAccountState,
}

#[derive(Deserialize)]
struct QuotaBody {
    project: String,
    quotas: Vec<ModelQuota>,
}

#[derive(Deserialize)]
struct ServiceBody {
    project: String,
    service: String,
    enabled: bool,
}

#[derive(Deserialize)]
struct ProjectBody {
    project: String,
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Box<Response>> {
    let bytes = if bytes.is_empty() {
        b"{}".as_slice()
    } else {
        bytes
    };
    serde_json::from_slice(bytes)
        .map_err(|e| Box::new(json_response(400, &json!({"error": e.to_string()}))))
}

fn ok<T: serde::Serialize>(v: &T) -> Response {
    json_response(200, &serde_json::to_value(v).unwrap_or(Value::Null))
}

fn done(found: bool, what: &str) -> Response {
    if found {
        Response::builder().status(StatusCode::NO_CONTENT).finish()
    } else {
        json_response(404, &json!({"error": format!("no such {what}")}))
    }
}

/// `None` when `path` is not an official-upstream control route.
pub(crate) fn handle(
    state: &SimState,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Option<Response> {
    macro_rules! parse_or_return {
        ($t:ty) => {
            match parse::<$t>(body) {
                Ok(v) => v,
                Err(r) => return Some(*r),
            }
        };
    }
    let response = match (method.as_str(), path) {
        ("GET", "api-keys") => ok(&state.lock().official.keys),
        ("POST", "api-keys") => {
            let spec = parse_or_return!(ApiKeySpec);
            ok(&state.lock().official.add_key(spec))
        }
        ("POST", "api-keys/state") => {
            let b = parse_or_return!(KeyStateBody);
            let mut inner = state.lock();
            done(
                inner
                    .official
                    .key_mut(&b.key)
                    .map(|k| k.state = b.state)
                    .is_some(),
                "key",
            )
        }
        ("POST", "api-keys/denied-models") => {
            let b = parse_or_return!(DeniedModelsBody);
            let mut inner = state.lock();
            let found = inner
                .official
                .key_mut(&b.key)
                .map(|k| k.denied_models = b.models)
                .is_some();
            done(found, "key")
        }
        ("GET", "service-accounts") => {
            let inner = state.lock();
            let all: Vec<_> = inner.official.accounts.iter().map(|a| &a.seeded).collect();
            ok(&all)
        }
        ("POST", "service-accounts") => {
            let spec = parse_or_return!(ServiceAccountSpec);
            let seeded = state.lock().official.add_account(spec, &state.base_url);
            let mut v = serde_json::to_value(&seeded).unwrap_or(Value::Null);
            v["key_json"] = seeded.key_json();
            json_response(200, &v)
        }
        ("POST", "service-accounts/state") => {
            let b = parse_or_return!(AccountStateBody);
            let found =
                super::handle::set_account_state(&mut state.lock(), &b.client_email, b.state);
            done(found, "service account")
        }
        ("POST", "google-projects/quota") => {
            let b = parse_or_return!(QuotaBody);
            state.lock().official.project_mut(&b.project).quotas = b.quotas;
            done(true, "project")
        }
        ("POST", "google-projects/service") => {
            let b = parse_or_return!(ServiceBody);
            state
                .lock()
                .official
                .set_service(&b.project, &b.service, b.enabled);
            done(true, "project")
        }
        ("POST", "google-projects/get") => {
            let b = parse_or_return!(ProjectBody);
            match state.lock().official.project_view(&b.project, Utc::now()) {
                Some(v) => ok(&v),
                None => done(false, "project"),
            }
        }
        ("POST", "google-projects/reset-usage") => {
            state.lock().official.reset_usage();
            done(true, "project")
        }
        ("POST", "vertex/global-only") => {
            state.lock().official.global_only = parse_or_return!(Vec<String>);
            done(true, "setting")
        }
        ("POST", "demo-credentials") => {
            let mut inner = state.lock();
            let creds = super::handle::seed_demo(&mut inner, &state.base_url);
            let mut v = serde_json::to_value(&creds).unwrap_or(Value::Null);
            v["vertex_service_account"]["key_json"] = creds.vertex_service_account.key_json();
            json_response(200, &v)
        }
        _ => return None,
    };
    Some(response)
}
