//! `/__sim/*`: the control API for the `simulate-google` binary mode and non-Rust tests. JSON
//! mirrors the Rust types. Unauthenticated by design: it is a loopback test tool.

use poem::Response;
use poem::http::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::errors::json_response;
use super::faults::FaultRule;
use super::state::SimState;
use super::types::{Pacing, UserSpec};

#[derive(Deserialize)]
struct EmailBody {
    email: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Rules {
    One(FaultRule),
    Many(Vec<FaultRule>),
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

fn no_content() -> Response {
    Response::builder().status(StatusCode::NO_CONTENT).finish()
}

fn ok<T: serde::Serialize>(v: &T) -> Response {
    json_response(200, &serde_json::to_value(v).unwrap_or(Value::Null))
}

pub(crate) fn handle(
    state: &SimState,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Response {
    macro_rules! parse_or_return {
        ($t:ty) => {
            match parse::<$t>(body) {
                Ok(v) => v,
                Err(r) => return *r,
            }
        };
    }
    if let Some(r) = super::official::control::handle(state, method, path, body) {
        return r;
    }
    match (method.as_str(), path) {
        ("GET", "users") => {
            let inner = state.lock();
            let users: Vec<_> = inner
                .users
                .iter()
                .map(|u| inner.seeded(u, &state.base_url))
                .collect();
            ok(&users)
        }
        ("POST", "users") => {
            let spec = parse_or_return!(UserSpec);
            let seeded = state.lock().add_user(spec, &state.base_url);
            let mut v = serde_json::to_value(&seeded).unwrap_or(Value::Null);
            v["credential_json"] = seeded.credential_json();
            json_response(200, &v)
        }
        ("POST", "faults") => {
            let rules = match parse_or_return!(Rules) {
                Rules::One(r) => vec![r],
                Rules::Many(rs) => rs,
            };
            state.lock().faults.extend(rules);
            no_content()
        }
        ("GET", "faults") => ok(&state.lock().faults),
        ("POST", "pacing") => {
            state.lock().pacing = parse_or_return!(Pacing);
            no_content()
        }
        ("GET", "pacing") => ok(&state.lock().pacing),
        ("GET", "requests") => ok(&state.lock().requests),
        ("DELETE", "requests") => {
            state.lock().requests.clear();
            no_content()
        }
        ("POST", "reset") => {
            let all =
                query.is_some_and(|q| q.split('&').any(|kv| kv == "all=true" || kv == "all=1"));
            state.lock().reset(all);
            no_content()
        }
        ("GET", "models") => ok(&state.lock().models),
        ("POST", "models") => {
            state.lock().models = parse_or_return!(Vec<String>);
            no_content()
        }
        ("POST", "tokens/revoke") => {
            let b = parse_or_return!(EmailBody);
            state.lock().revoke_tokens(&b.email);
            no_content()
        }
        ("POST", "tokens/expire") => {
            let b = parse_or_return!(EmailBody);
            state.lock().expire_tokens(&b.email);
            no_content()
        }
        ("POST", "refresh/revoke") => {
            let b = parse_or_return!(EmailBody);
            state.lock().revoke_refresh_token(&b.email);
            no_content()
        }
        ("POST", "default-login") => {
            let b = parse_or_return!(EmailBody);
            state.lock().default_login = Some(b.email);
            no_content()
        }
        _ => json_response(
            404,
            &json!({"error": format!("no control route {method} /__sim/{path}")}),
        ),
    }
}
