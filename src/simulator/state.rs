//! The simulator's in-memory world: users, token tables, auth codes, onboarding operations,
//! faults, pacing, the model catalog and the request log. One mutex; no await while held.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use parking_lot::{Mutex, MutexGuard};
use rand::Rng;

use super::faults::FaultRule;
use super::official::registry::OfficialState;
use super::types::{Pacing, ProjectScenario, RecordedRequest, SeededUser, UserSpec};

pub const DEFAULT_MODELS: [&str; 11] = [
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-3-pro-preview",
    "gemini-3-flash-preview",
    "gemini-3.1-pro-preview",
    "gemini-3.1-pro-preview-customtools",
    "gemini-3.1-flash-lite",
    "gemini-3-flash",
    "gemma-4-31b-it",
    "gemma-4-26b-a4b-it",
];

pub(crate) const COMPANION_API: &str = "cloudaicompanion.googleapis.com";

pub(crate) struct User {
    pub spec: UserSpec,
    pub refresh_token: String,
    /// Managed project (free/paid/new users) or the standard tier's own project.
    pub project_id: String,
    pub onboarded: bool,
    pub numeric_id: u64,
}

impl User {
    pub fn owns_gcp_project(&self, project: &str) -> bool {
        self.spec
            .owned_projects
            .iter()
            .any(|p| p.project_id == project)
    }

    /// Projects this user's generation calls may name.
    pub fn may_use_project(&self, project: &str) -> bool {
        project == self.project_id || self.owns_gcp_project(project)
    }
}

pub(crate) struct TokenEntry {
    pub email: String,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
    pub scope: String,
}

pub(crate) struct AuthCode {
    pub email: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub challenge: Option<(String, String)>,
    pub scope: String,
    pub used: bool,
}

pub(crate) struct Operation {
    pub email: String,
    pub remaining: u32,
    pub tier: String,
    pub project: Option<String>,
    pub finished: bool,
}

pub(crate) struct Inner {
    /// In the order they were added; only `add_user` and `reset` change the list, so
    /// `by_email` stays in step with it.
    pub users: Vec<User>,
    /// Lowercased email to position in `users`: a request finds its user without scanning a
    /// pool of 10,000, so the bench's large-pool figures are not the simulator's own cost.
    by_email: HashMap<String, usize>,
    pub tokens: HashMap<String, TokenEntry>,
    pub codes: HashMap<String, AuthCode>,
    pub operations: HashMap<String, Operation>,
    pub faults: Vec<FaultRule>,
    pub pacing: Pacing,
    pub requests: Vec<RecordedRequest>,
    pub models: Vec<String>,
    pub signatures: HashSet<String>,
    /// (project, service) pairs that are enabled.
    pub services: HashSet<(String, String)>,
    pub default_login: Option<String>,
    pub next_user: u64,
    /// API keys, service accounts and Google projects of the official upstreams.
    pub official: OfficialState,
}

pub(crate) struct SimState {
    pub inner: Mutex<Inner>,
    pub base_url: String,
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(buf.as_mut_slice());
    hex::encode(buf)
}

pub(crate) fn random_urlsafe(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

fn managed_project(email: &str, n: u64) -> String {
    let local: String = email
        .split('@')
        .next()
        .unwrap_or("user")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(16)
        .collect();
    format!("sim-{local}-{:05x}", (n * 7919 + 4099) & 0xfffff)
}

impl SimState {
    pub fn new(base_url: String) -> Self {
        Self {
            inner: Mutex::new(Inner {
                users: Vec::new(),
                by_email: HashMap::new(),
                tokens: HashMap::new(),
                codes: HashMap::new(),
                operations: HashMap::new(),
                faults: Vec::new(),
                pacing: Pacing::default(),
                requests: Vec::new(),
                models: DEFAULT_MODELS.iter().map(|m| m.to_string()).collect(),
                signatures: HashSet::new(),
                services: HashSet::new(),
                default_login: None,
                next_user: 1,
                official: OfficialState::default(),
            }),
            base_url,
        }
    }

    /// The whole world, locked; never held across an await.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock()
    }
}

impl Inner {
    pub fn user(&self, email: &str) -> Option<&User> {
        let i = *self.by_email.get(&email.to_ascii_lowercase())?;
        self.users.get(i)
    }

    pub fn user_mut(&mut self, email: &str) -> Option<&mut User> {
        let i = *self.by_email.get(&email.to_ascii_lowercase())?;
        self.users.get_mut(i)
    }

    pub fn issue_access_token(&mut self, email: &str) -> (String, DateTime<Utc>) {
        let lifetime = self
            .user(email)
            .map_or(3599, |u| u.spec.access_token_lifetime_secs);
        let token = format!("ya29.sim-{}", random_urlsafe(40));
        let expires_at = Utc::now() + Duration::seconds(i64::try_from(lifetime).unwrap_or(3599));
        self.tokens.insert(
            token.clone(),
            TokenEntry {
                email: email.to_string(),
                expires_at,
                revoked: false,
                scope: super::types::SCOPES.join(" "),
            },
        );
        (token, expires_at)
    }

    /// The user behind a live bearer token.
    pub fn live_token(&self, token: &str) -> Result<&TokenEntry, TokenProblem> {
        let entry = self.tokens.get(token).ok_or(TokenProblem::Unknown)?;
        if entry.revoked {
            Err(TokenProblem::Revoked)
        } else if entry.expires_at <= Utc::now() {
            Err(TokenProblem::Expired)
        } else {
            Ok(entry)
        }
    }

    pub fn add_user(&mut self, mut spec: UserSpec, base_url: &str) -> SeededUser {
        let n = self.next_user;
        self.next_user += 1;
        if spec.email.is_empty() {
            spec.email = format!("user{n}@sim.test");
        }
        if let ProjectScenario::StandardTier { project } = &spec.scenario {
            if !spec.owned_projects.iter().any(|p| &p.project_id == project) {
                let owned = super::types::OwnedProject::active(project.clone()).enabled();
                spec.owned_projects.push(owned);
            }
        }
        for p in &spec.owned_projects {
            if p.api_enabled {
                self.services
                    .insert((p.project_id.clone(), COMPANION_API.to_string()));
            }
        }
        let project_id = match &spec.scenario {
            ProjectScenario::StandardTier { project } => project.clone(),
            _ => managed_project(&spec.email, n),
        };
        let onboarded = !matches!(
            spec.scenario,
            ProjectScenario::NewUser { .. }
                | ProjectScenario::ValidationRequired { .. }
                | ProjectScenario::Ineligible
        );
        let email = spec.email.clone();
        let key = email.to_ascii_lowercase();
        if let Some(i) = self.by_email.remove(&key) {
            // Seeded again: the old entry goes, and the list keeps its order.
            self.users.remove(i);
            for at in self.by_email.values_mut() {
                if *at > i {
                    *at -= 1;
                }
            }
        }
        self.tokens
            .retain(|_, t| !t.email.eq_ignore_ascii_case(&email));
        let user = User {
            refresh_token: format!("1//sim-{}", random_urlsafe(48)),
            project_id,
            onboarded,
            numeric_id: 100_000_000_000 + n,
            spec,
        };
        let seeded_base = SeededUser {
            email: email.clone(),
            refresh_token: user.refresh_token.clone(),
            access_token: String::new(),
            expiry: Utc::now(),
            client_id: user.spec.client_id.clone(),
            client_secret: user.spec.client_secret.clone(),
            project_id: user.project_id.clone(),
            token_uri: format!("{base_url}/token"),
        };
        self.by_email.insert(key, self.users.len());
        self.users.push(user);
        let (access_token, expiry) = self.issue_access_token(&email);
        SeededUser {
            access_token,
            expiry,
            ..seeded_base
        }
    }

    pub fn seeded(&self, user: &User, base_url: &str) -> SeededUser {
        // The newest live token stands for "the current access token".
        let current = self
            .tokens
            .iter()
            .filter(|(_, t)| t.email == user.spec.email && !t.revoked)
            .max_by_key(|(_, t)| t.expires_at);
        SeededUser {
            email: user.spec.email.clone(),
            refresh_token: user.refresh_token.clone(),
            access_token: current.map(|(k, _)| k.clone()).unwrap_or_default(),
            expiry: current.map_or_else(Utc::now, |(_, t)| t.expires_at),
            client_id: user.spec.client_id.clone(),
            client_secret: user.spec.client_secret.clone(),
            project_id: user.project_id.clone(),
            token_uri: format!("{base_url}/token"),
        }
    }

    pub fn known_client(&self, id: &str, secret: &str) -> bool {
        (id == super::types::GEMINI_CLI_CLIENT_ID
            && secret == super::types::GEMINI_CLI_CLIENT_SECRET)
            || self
                .users
                .iter()
                .any(|u| u.spec.client_id == id && u.spec.client_secret == secret)
    }

    pub fn issue_signature(&mut self) -> String {
        use base64::Engine;
        let raw = format!("sim-thought-signature:{}", random_hex(12));
        let sig = base64::engine::general_purpose::STANDARD.encode(raw);
        self.signatures.insert(sig.clone());
        sig
    }

    /// Clear faults, the request log, pacing and quota usage; `all` also forgets users, keys,
    /// service accounts, projects and their tokens.
    pub fn reset(&mut self, all: bool) {
        self.faults.clear();
        self.requests.clear();
        self.pacing = Pacing::default();
        self.official.reset_usage();
        if all {
            self.official = OfficialState::default();
            self.users.clear();
            self.by_email.clear();
            self.tokens.clear();
            self.codes.clear();
            self.operations.clear();
            self.signatures.clear();
            self.services.clear();
            self.default_login = None;
            self.models = DEFAULT_MODELS.iter().map(|m| m.to_string()).collect();
        }
    }

    pub fn revoke_tokens(&mut self, email: &str) {
        for t in self.tokens.values_mut() {
            if t.email.eq_ignore_ascii_case(email) {
                t.revoked = true;
            }
        }
    }

    pub fn expire_tokens(&mut self, email: &str) {
        let past = Utc::now() - Duration::seconds(1);
        for t in self.tokens.values_mut() {
            if t.email.eq_ignore_ascii_case(email) {
                t.expires_at = t.expires_at.min(past);
            }
        }
    }

    /// The stored refresh token stops working (`invalid_grant`), as after a user revokes access.
    pub fn revoke_refresh_token(&mut self, email: &str) {
        if let Some(u) = self.user_mut(email) {
            u.refresh_token = format!("1//sim-revoked-{}", random_urlsafe(48));
        }
    }

    pub fn api_enabled(&self, project: &str) -> bool {
        self.services
            .contains(&(project.to_string(), COMPANION_API.to_string()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenProblem {
    Unknown,
    Expired,
    Revoked,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_found_by_email_in_any_case_after_one_is_seeded_again() {
        let mut inner = SimState::new("http://sim".into()).inner.into_inner();
        for e in ["a@sim.test", "B@sim.test", "c@sim.test"] {
            inner.add_user(UserSpec::new(e), "http://sim");
        }
        let again = inner.add_user(UserSpec::new("b@SIM.test"), "http://sim");
        let order: Vec<&str> = inner.users.iter().map(|u| u.spec.email.as_str()).collect();
        assert_eq!(order, ["a@sim.test", "c@sim.test", "b@SIM.test"]);
        for e in ["A@sim.test", "b@sim.test", "C@SIM.TEST"] {
            let found = inner.user(e).map(|u| u.spec.email.to_ascii_lowercase());
            assert_eq!(found, Some(e.to_ascii_lowercase()), "{e}");
        }
        assert_eq!(
            inner.user("b@sim.test").map(|u| u.refresh_token.clone()),
            Some(again.refresh_token)
        );
        if let Some(u) = inner.user_mut("c@sim.test") {
            u.numeric_id = 7;
        }
        assert_eq!(inner.user("C@sim.test").map(|u| u.numeric_id), Some(7));
        inner.reset(true);
        assert!(inner.user("a@sim.test").is_none());
        inner.add_user(UserSpec::new("a@sim.test"), "http://sim");
        assert!(inner.user("a@sim.test").is_some());
    }
}
