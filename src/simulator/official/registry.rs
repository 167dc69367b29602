//! The simulator's record of official-upstream credentials: API keys, service accounts and the
//! Google projects they belong to (quotas, disabled services, shared usage counters).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::quota::{self, Exceeded, Usage};
use super::types::{
    ApiKeyKind, ApiKeySpec, GoogleProjectView, ModelQuota, SeededApiKey, SeededServiceAccount,
    ServiceAccountSpec,
};
use crate::simulator::projects::project_number;
use crate::simulator::state::{random_hex, random_urlsafe};

/// Model-id prefixes Vertex serves only at `location = global` (the newest models are often
/// global-only).
const DEFAULT_GLOBAL_ONLY: [&str; 1] = ["gemini-3"];

pub(crate) struct ServiceAccount {
    pub seeded: SeededServiceAccount,
    pub token_lifetime_secs: u64,
}

#[derive(Default)]
pub(crate) struct GoogleProject {
    pub quotas: Vec<ModelQuota>,
    pub disabled_services: BTreeSet<String>,
    pub usage: Usage,
}

pub(crate) struct OfficialState {
    pub keys: Vec<SeededApiKey>,
    pub accounts: Vec<ServiceAccount>,
    pub projects: BTreeMap<String, GoogleProject>,
    pub global_only: Vec<String>,
    next: u64,
}

impl Default for OfficialState {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            accounts: Vec::new(),
            projects: BTreeMap::new(),
            global_only: DEFAULT_GLOBAL_ONLY.iter().map(|p| p.to_string()).collect(),
            next: 1,
        }
    }
}

impl OfficialState {
    fn next_n(&mut self) -> u64 {
        let n = self.next;
        self.next += 1;
        n
    }

    pub fn project_mut(&mut self, id: &str) -> &mut GoogleProject {
        self.projects.entry(id.to_string()).or_default()
    }

    pub fn add_key(&mut self, spec: ApiKeySpec) -> SeededApiKey {
        let n = self.next_n();
        let standard = spec.standard || spec.key.as_deref().is_some_and(|k| k.starts_with("AIza"));
        let key = spec.key.unwrap_or_else(|| {
            if standard {
                format!("AIzaSy{}", random_urlsafe(33))
            } else {
                format!("AQ.Ab8RN6{}", random_urlsafe(44))
            }
        });
        let project_id = spec.project.unwrap_or_else(|| match spec.kind {
            ApiKeyKind::GeminiApi => format!("sim-aistudio-{n:04}"),
            ApiKeyKind::VertexExpress => format!("sim-express-{n:04}"),
        });
        self.project_mut(&project_id);
        let seeded = SeededApiKey {
            project_number: project_number(&project_id).to_string(),
            key,
            kind: spec.kind,
            standard,
            project_id,
            state: spec.state,
            denied_models: spec.denied_models,
        };
        self.keys.retain(|k| k.key != seeded.key);
        self.keys.push(seeded.clone());
        seeded
    }

    pub fn key(&self, key: &str) -> Option<&SeededApiKey> {
        self.keys.iter().find(|k| k.key == key)
    }

    pub fn key_mut(&mut self, key: &str) -> Option<&mut SeededApiKey> {
        self.keys.iter_mut().find(|k| k.key == key)
    }

    pub fn add_account(
        &mut self,
        spec: ServiceAccountSpec,
        base_url: &str,
    ) -> SeededServiceAccount {
        let n = self.next_n();
        let project_id = spec
            .project_id
            .unwrap_or_else(|| format!("sim-vertex-{n:04}"));
        let client_email = spec
            .client_email
            .unwrap_or_else(|| format!("sim-sa-{n}@{project_id}.iam.gserviceaccount.com"));
        self.project_mut(&project_id);
        let seeded = SeededServiceAccount {
            client_id: format!("1{:020}", 104_729 * n),
            project_id,
            private_key_id: random_hex(20),
            private_key: super::service_account::PRIVATE_KEY_PEM.to_string(),
            token_uri: format!("{base_url}/token"),
            auth_uri: format!("{base_url}/o/oauth2/auth"),
            state: spec.state,
            client_email,
        };
        self.accounts.retain(|a| {
            !a.seeded
                .client_email
                .eq_ignore_ascii_case(&seeded.client_email)
        });
        self.accounts.push(ServiceAccount {
            seeded: seeded.clone(),
            token_lifetime_secs: spec.token_lifetime_secs,
        });
        seeded
    }

    pub fn account(&self, email: &str) -> Option<&ServiceAccount> {
        self.accounts
            .iter()
            .find(|a| a.seeded.client_email.eq_ignore_ascii_case(email))
    }

    pub fn account_mut(&mut self, email: &str) -> Option<&mut ServiceAccount> {
        self.accounts
            .iter_mut()
            .find(|a| a.seeded.client_email.eq_ignore_ascii_case(email))
    }

    pub fn set_service(&mut self, project: &str, service: &str, enabled: bool) {
        let disabled = &mut self.project_mut(project).disabled_services;
        if enabled {
            disabled.remove(service);
        } else {
            disabled.insert(service.to_string());
        }
    }

    pub fn service_enabled(&self, project: &str, service: &str) -> bool {
        self.projects
            .get(project)
            .is_none_or(|p| !p.disabled_services.contains(service))
    }

    /// Count one call of `model` against the project's quota, or say which limits refuse it.
    pub fn admit(
        &mut self,
        project: &str,
        model: &str,
        tokens: u64,
        now: DateTime<Utc>,
    ) -> Result<(), Exceeded> {
        let p = self.project_mut(project);
        let limits = quota::limits_for(&p.quotas, model);
        p.usage.admit(limits, model, tokens, now)
    }

    pub fn project_view(&mut self, id: &str, now: DateTime<Utc>) -> Option<GoogleProjectView> {
        let p = self.projects.get_mut(id)?;
        Some(GoogleProjectView {
            project_id: id.to_string(),
            project_number: project_number(id).to_string(),
            quotas: p.quotas.clone(),
            disabled_services: p.disabled_services.iter().cloned().collect(),
            usage: p.usage.view(now),
        })
    }

    pub fn reset_usage(&mut self) {
        for p in self.projects.values_mut() {
            p.usage = Usage::default();
        }
    }

    pub fn is_global_only(&self, model: &str) -> bool {
        self.global_only
            .iter()
            .any(|p| model.starts_with(p.as_str()))
    }
}
