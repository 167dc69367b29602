//! The Rust API for the official upstreams on [`SimHandle`]; `control.rs` exposes the same
//! operations under `/__sim/`.

use chrono::Utc;

use super::types::{
    ApiKeySpec, DemoCredentials, GoogleProjectView, KeyState, ModelQuota, SeededApiKey,
    SeededServiceAccount, ServiceAccountSpec, ServiceAccountState,
};
use crate::simulator::SimHandle;
use crate::simulator::state::Inner;
use crate::simulator::types::UserSpec;

/// A deleted account's tokens stop working at once.
pub(crate) fn set_account_state(
    inner: &mut Inner,
    email: &str,
    state: ServiceAccountState,
) -> bool {
    let Some(account) = inner.official.account_mut(email) else {
        return false;
    };
    account.seeded.state = state;
    if state == ServiceAccountState::Deleted {
        inner.revoke_tokens(email);
    }
    true
}

pub(crate) fn seed_demo(inner: &mut Inner, base_url: &str) -> DemoCredentials {
    DemoCredentials {
        code_assist: inner.add_user(UserSpec::new("code-assist@demo.test"), base_url),
        gemini_api_key: inner
            .official
            .add_key(ApiKeySpec::gemini().project("demo-aistudio")),
        vertex_service_account: inner.official.add_account(
            ServiceAccountSpec::new()
                .project("demo-vertex")
                .email("gateway@demo-vertex.iam.gserviceaccount.com"),
            base_url,
        ),
        vertex_express_key: inner
            .official
            .add_key(ApiKeySpec::express().project("demo-express")),
    }
}

impl SimHandle {
    /// Seed a Gemini API or Vertex express key (see [`ApiKeySpec`]).
    pub fn add_api_key(&self, spec: ApiKeySpec) -> SeededApiKey {
        self.state.lock().official.add_key(spec)
    }

    pub fn api_keys(&self) -> Vec<SeededApiKey> {
        self.state.lock().official.keys.clone()
    }

    /// Every later call with the key answers the state's error. False for an unknown key.
    pub fn set_api_key_state(&self, key: &str, state: KeyState) -> bool {
        let mut inner = self.state.lock();
        inner
            .official
            .key_mut(key)
            .map(|k| k.state = state)
            .is_some()
    }

    /// Models that answer a bare 403 for this key. False for an unknown key.
    pub fn set_api_key_denied_models(&self, key: &str, models: Vec<String>) -> bool {
        let mut inner = self.state.lock();
        inner
            .official
            .key_mut(key)
            .map(|k| k.denied_models = models)
            .is_some()
    }

    /// Seed a Vertex service account; [`SeededServiceAccount::key_json`] is its key file.
    pub fn add_service_account(&self, spec: ServiceAccountSpec) -> SeededServiceAccount {
        self.state.lock().official.add_account(spec, &self.base_url)
    }

    pub fn service_accounts(&self) -> Vec<SeededServiceAccount> {
        let inner = self.state.lock();
        inner
            .official
            .accounts
            .iter()
            .map(|a| a.seeded.clone())
            .collect()
    }

    /// False for an unknown account.
    pub fn set_service_account_state(&self, email: &str, state: ServiceAccountState) -> bool {
        set_account_state(&mut self.state.lock(), email, state)
    }

    /// Replace a Google project's limits (shared by all its keys and service accounts).
    pub fn set_project_quota(&self, project: &str, quotas: Vec<ModelQuota>) {
        self.state.lock().official.project_mut(project).quotas = quotas;
    }

    /// Enable or disable `service` (e.g. [`super::types::GEMINI_API_SERVICE`]) in a project:
    /// disabled, every call answers 403 `SERVICE_DISABLED`.
    pub fn set_project_service(&self, project: &str, service: &str, enabled: bool) {
        self.state
            .lock()
            .official
            .set_service(project, service, enabled);
    }

    /// A project's limits and counted use, `None` for a project no credential belongs to.
    pub fn google_project(&self, project: &str) -> Option<GoogleProjectView> {
        self.state.lock().official.project_view(project, Utc::now())
    }

    /// Forget every project's counted use, as if a new Pacific-time day had begun.
    pub fn reset_quota_usage(&self) {
        self.state.lock().official.reset_usage();
    }

    /// Model-id prefixes Vertex serves only at `location = global` (default `gemini-3`).
    pub fn set_vertex_global_only(&self, prefixes: Vec<String>) {
        self.state.lock().official.global_only = prefixes;
    }

    /// One credential of each kind: a Code Assist user, a Gemini API key, a Vertex service
    /// account and a Vertex express key, each in its own project, for `--demo`.
    pub fn seed_demo_credentials(&self) -> DemoCredentials {
        seed_demo(&mut self.state.lock(), &self.base_url)
    }
}
