//! Public, serde-able types of the simulator: they are both the Rust API and the JSON of the
//! `/__sim/*` control API, so non-Rust tests script the simulator with the same shapes.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::faults::Upstream;

/// Gemini CLI's public "installed application" OAuth client, published in its source; not a
/// secret.
pub const GEMINI_CLI_CLIENT_ID: &str =
    "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com";
pub const GEMINI_CLI_CLIENT_SECRET: &str = "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";
pub const SCOPES: [&str; 3] = [
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
];

/// How `loadCodeAssist` / `onboardUser` see the account: each onboarding state Google answers
/// with, including its edge cases.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProjectScenario {
    /// `currentTier` free-tier plus a Google-managed `cloudaicompanionProject`.
    #[default]
    FreeOnboarded,
    /// No `currentTier`; `onboardUser` answers `done:false` `polls` times, then `done:true`
    /// (with the managed project unless `returns_project` is false). Generation on the managed
    /// project is refused (403) until onboarding has finished.
    NewUser {
        #[serde(default)]
        polls: u32,
        #[serde(default = "yes")]
        returns_project: bool,
    },
    /// `currentTier` standard-tier with a user-defined project: loadCodeAssist echoes the
    /// request's project only when the user owns it. `project` is added to the owned projects.
    StandardTier { project: String },
    /// Standard tier plus `paidTier` g1-pro-tier with Google One AI credits, managed project.
    Paid,
    /// No `currentTier`; `ineligibleTiers` has `VALIDATION_REQUIRED` with a `validationUrl`.
    ValidationRequired { validation_url: String },
    /// No `currentTier`, no `allowedTiers`; only an `INELIGIBLE_ACCOUNT` ineligible tier.
    Ineligible,
    /// loadCodeAssist fails with 403 `SECURITY_POLICY_VIOLATED` (VPC-SC).
    SecurityPolicyViolated,
}

fn yes() -> bool {
    true
}

/// A GCP project the user owns, as Resource Manager lists it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OwnedProject {
    pub project_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "active")]
    pub lifecycle_state: String,
    /// Whether `cloudaicompanion.googleapis.com` starts enabled. Generation on an owned project
    /// with the API disabled answers 403 SERVICE_DISABLED, as the real upstream does.
    #[serde(default)]
    pub api_enabled: bool,
}

fn active() -> String {
    "ACTIVE".into()
}

impl OwnedProject {
    pub fn active(project_id: impl Into<String>) -> Self {
        Self {
            project_id: project_id.into(),
            name: None,
            lifecycle_state: active(),
            api_enabled: false,
        }
    }

    pub fn enabled(mut self) -> Self {
        self.api_enabled = true;
        self
    }

    pub fn state(mut self, lifecycle_state: impl Into<String>) -> Self {
        self.lifecycle_state = lifecycle_state.into();
        self
    }
}

/// What `add_user` seeds. Every field has a default; an empty email becomes `userN@sim.test`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct UserSpec {
    pub email: String,
    pub scenario: ProjectScenario,
    /// false ⇒ every `*-preview` model answers 404 for this user.
    pub preview: bool,
    pub owned_projects: Vec<OwnedProject>,
    pub client_id: String,
    pub client_secret: String,
    /// Issue a new refresh token on every refresh (and invalidate the old one).
    pub rotate_refresh_token: bool,
    pub access_token_lifetime_secs: u64,
}

impl Default for UserSpec {
    fn default() -> Self {
        Self {
            email: String::new(),
            scenario: ProjectScenario::default(),
            preview: true,
            owned_projects: Vec::new(),
            client_id: GEMINI_CLI_CLIENT_ID.into(),
            client_secret: GEMINI_CLI_CLIENT_SECRET.into(),
            rotate_refresh_token: false,
            access_token_lifetime_secs: 3599,
        }
    }
}

impl UserSpec {
    pub fn new(email: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            ..Self::default()
        }
    }
    pub fn scenario(mut self, scenario: ProjectScenario) -> Self {
        self.scenario = scenario;
        self
    }
    pub fn preview(mut self, preview: bool) -> Self {
        self.preview = preview;
        self
    }
    pub fn project(mut self, project: OwnedProject) -> Self {
        self.owned_projects.push(project);
        self
    }
    pub fn client(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.client_id = id.into();
        self.client_secret = secret.into();
        self
    }
    pub fn rotate_refresh_token(mut self, rotate: bool) -> Self {
        self.rotate_refresh_token = rotate;
        self
    }
    pub fn token_lifetime_secs(mut self, secs: u64) -> Self {
        self.access_token_lifetime_secs = secs;
        self
    }
}

/// What a test needs to act as the gateway's stored credential for a seeded user.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SeededUser {
    pub email: String,
    pub refresh_token: String,
    pub access_token: String,
    pub expiry: DateTime<Utc>,
    pub client_id: String,
    pub client_secret: String,
    /// The Code Assist project generation calls must carry.
    pub project_id: String,
    pub token_uri: String,
}

impl SeededUser {
    /// The credential file the reference writes.
    pub fn credential_json(&self) -> Value {
        json!({
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "token": self.access_token,
            "refresh_token": self.refresh_token,
            "scopes": SCOPES,
            "token_uri": self.token_uri,
            "project_id": self.project_id,
            "expiry": self.expiry.to_rfc3339_opts(SecondsFormat::Micros, false),
        })
    }
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LineEnding {
    #[default]
    Crlf,
    Lf,
}

impl LineEnding {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crlf => "\r\n",
            Self::Lf => "\n",
        }
    }
}

/// Stream shaping. `chunk_chars` also decides how text is split into stream events.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Pacing {
    pub chunk_chars: usize,
    pub event_delay_ms: u64,
    pub line_ending: LineEnding,
    /// Intermediate stream events also carry a partial `usageMetadata`.
    pub partial_usage: bool,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            chunk_chars: 16,
            event_delay_ms: 0,
            line_ending: LineEnding::Crlf,
            partial_usage: false,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum RecordedBody {
    Empty,
    Json(Value),
    Form(BTreeMap<String, String>),
    Text(String),
}

/// One request as received (control-API calls are not recorded).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: RecordedBody,
    /// The seeded user (or service account) the bearer token, refresh token or JWT assertion
    /// belonged to, when known.
    pub email: Option<String>,
    /// The API key sent in `x-goog-api-key` or, failing that, `?key=`.
    #[serde(default)]
    pub api_key: Option<String>,
    /// The service called; `None` for OAuth, userinfo and project discovery.
    #[serde(default)]
    pub upstream: Option<Upstream>,
    pub at: DateTime<Utc>,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    pub fn json(&self) -> Option<&Value> {
        match &self.body {
            RecordedBody::Json(v) => Some(v),
            _ => None,
        }
    }

    pub fn form(&self) -> Option<&BTreeMap<String, String>> {
        match &self.body {
            RecordedBody::Form(f) => Some(f),
            _ => None,
        }
    }
}
