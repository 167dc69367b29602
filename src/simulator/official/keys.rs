//! API-key authentication of the Gemini API and Vertex express mode. The key
//! travels in `x-goog-api-key`; `?key=` is accepted too, as Google does, and the request log
//! keeps the query so tests can assert a client never puts keys in URLs.

use super::errors::{self, Rejection};
use super::types::{ApiKeyKind, KeyState};
use crate::simulator::faults::Upstream;
use crate::simulator::state::Inner;

/// A key that passed every check.
pub(crate) struct KeyCaller {
    pub project: String,
    pub denied_models: Vec<String>,
}

/// Check `key` as `upstream`'s front end does, in this order: present, known, still valid,
/// not a standard key (Gemini API only), created for this API, not blocked, API enabled in
/// its project.
pub(crate) fn authenticate(
    inner: &Inner,
    key: Option<&str>,
    upstream: Upstream,
    rpc: &str,
) -> Result<KeyCaller, Rejection> {
    let service = errors::service_of(upstream);
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return Err(match upstream {
            Upstream::GeminiApi => errors::unregistered_caller(),
            _ => errors::unauthenticated(service, rpc, "CREDENTIALS_MISSING"),
        });
    };
    let Some(seeded) = inner.official.key(key) else {
        return Err(errors::api_key_invalid(service, false));
    };
    let project = seeded.project_id.as_str();
    match seeded.state {
        KeyState::Deleted => return Err(errors::api_key_invalid(service, false)),
        KeyState::Expired => return Err(errors::api_key_invalid(service, true)),
        _ => {}
    }
    if seeded.standard && upstream == Upstream::GeminiApi {
        return Err(errors::standard_key(service, rpc));
    }
    let wanted = match upstream {
        Upstream::VertexExpress => ApiKeyKind::VertexExpress,
        _ => ApiKeyKind::GeminiApi,
    };
    if seeded.kind != wanted {
        return Err(errors::service_blocked(service, rpc, project));
    }
    match seeded.state {
        KeyState::Leaked => return Err(errors::leaked()),
        KeyState::Suspended => return Err(errors::consumer_suspended(key, service, project)),
        KeyState::ServiceBlocked => return Err(errors::service_blocked(service, rpc, project)),
        KeyState::ReferrerBlocked => return Err(errors::referrer_blocked(service, project)),
        KeyState::Active | KeyState::Deleted | KeyState::Expired => {}
    }
    if !inner.official.service_enabled(project, service) {
        return Err(errors::service_disabled(service, project));
    }
    Ok(KeyCaller {
        project: project.to_string(),
        denied_models: seeded.denied_models.clone(),
    })
}
