//! Public, serde-able types of the official upstreams (Gemini API keys, Vertex service accounts
//! and express keys, Google projects and their quotas). As in `types.rs`, they are both the Rust
//! API and the JSON of the `/__sim/*` control API.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::simulator::SeededUser;

/// The Gemini API's service name, as it appears in error metadata and `set_project_service`.
pub const GEMINI_API_SERVICE: &str = "generativelanguage.googleapis.com";
/// Vertex AI's service name (service accounts and express keys).
pub const VERTEX_SERVICE: &str = "aiplatform.googleapis.com";
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Which service an API key was created for. Both kinds start with `AQ.`: the simulator, like
/// Google, knows the kind; a client cannot tell it from the prefix.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyKind {
    /// An AI Studio key: served by `generativelanguage`; `aiplatform` answers
    /// `API_KEY_SERVICE_BLOCKED`.
    #[default]
    GeminiApi,
    /// A Vertex express-mode key: served by `aiplatform` `/v1/publishers/...`; the Gemini API
    /// answers `API_KEY_SERVICE_BLOCKED`.
    VertexExpress,
}

/// A key's lifecycle state; every call with the key answers the state's error.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    #[default]
    Active,
    /// Deleted or never valid: 400 `API_KEY_INVALID` "API key not valid...".
    Deleted,
    /// 400 `API_KEY_INVALID` "API key expired. Please renew the API key.".
    Expired,
    /// 403 "Your API key was reported as leaked..." without details.
    Leaked,
    /// 403 `CONSUMER_SUSPENDED`.
    Suspended,
    /// 403 `API_KEY_SERVICE_BLOCKED`: the key's API restrictions exclude this API.
    ServiceBlocked,
    /// 403 `API_KEY_HTTP_REFERRER_BLOCKED`.
    ReferrerBlocked,
}

/// What `add_api_key` seeds. Every field has a default.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ApiKeySpec {
    pub kind: ApiKeyKind,
    /// The key's value; generated (`AQ.…`, or `AIza…` when `standard`) when absent. A given
    /// value starting with `AIza` is a standard key.
    pub key: Option<String>,
    /// An old unrestricted standard key: the Gemini API answers 401
    /// `ACCESS_TOKEN_TYPE_UNSUPPORTED` (express mode still serves it: no rejection there is
    /// known).
    pub standard: bool,
    /// The Google project the key belongs to; its quota is shared by every key and service
    /// account of the project. A new project per key when absent.
    pub project: Option<String>,
    pub state: KeyState,
    /// Models that answer a bare 403 "The caller does not have permission" for this key while
    /// others work (still listed by `GET /v1beta/models`, as upstream).
    pub denied_models: Vec<String>,
}

impl ApiKeySpec {
    pub fn gemini() -> Self {
        Self::default()
    }
    pub fn express() -> Self {
        Self {
            kind: ApiKeyKind::VertexExpress,
            ..Self::default()
        }
    }
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
    pub fn standard(mut self) -> Self {
        self.standard = true;
        self
    }
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }
    pub fn state(mut self, state: KeyState) -> Self {
        self.state = state;
        self
    }
    pub fn deny_model(mut self, model: impl Into<String>) -> Self {
        self.denied_models.push(model.into());
        self
    }
}

/// A seeded key as the simulator holds it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SeededApiKey {
    pub key: String,
    pub kind: ApiKeyKind,
    pub standard: bool,
    pub project_id: String,
    pub project_number: String,
    pub state: KeyState,
    pub denied_models: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ServiceAccountState {
    #[default]
    Active,
    /// The key file's key was deleted: grants answer `invalid_grant` "Invalid JWT Signature.".
    KeyDeleted,
    /// The account was deleted: grants answer `invalid_grant` "Invalid grant: account not
    /// found" and its access tokens stop working.
    Deleted,
}

/// What `add_service_account` seeds. Every field has a default.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ServiceAccountSpec {
    /// The account's project (and the only project its tokens may call Vertex for); a new
    /// project when absent.
    pub project_id: Option<String>,
    /// `name@project.iam.gserviceaccount.com` when absent.
    pub client_email: Option<String>,
    pub state: ServiceAccountState,
    pub token_lifetime_secs: u64,
}

impl Default for ServiceAccountSpec {
    fn default() -> Self {
        Self {
            project_id: None,
            client_email: None,
            state: ServiceAccountState::Active,
            token_lifetime_secs: 3599,
        }
    }
}

impl ServiceAccountSpec {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project_id = Some(project.into());
        self
    }
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.client_email = Some(email.into());
        self
    }
}

/// A seeded service account: what its key file holds. `private_key` is the simulator's
/// checked-in test key (`src/simulator/testdata`), shared by every simulated account; it is a
/// test fixture that nothing outside the simulator trusts.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SeededServiceAccount {
    pub client_email: String,
    pub client_id: String,
    pub project_id: String,
    pub private_key_id: String,
    pub private_key: String,
    pub token_uri: String,
    pub auth_uri: String,
    pub state: ServiceAccountState,
}

impl SeededServiceAccount {
    /// The key file Google's console downloads (`"type": "service_account"`).
    pub fn key_json(&self) -> Value {
        let base = self.token_uri.trim_end_matches("/token");
        json!({
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.private_key_id,
            "private_key": self.private_key,
            "client_email": self.client_email,
            "client_id": self.client_id,
            "auth_uri": self.auth_uri,
            "token_uri": self.token_uri,
            "auth_provider_x509_cert_url": format!("{base}/oauth2/v1/certs"),
            "client_x509_cert_url": format!("{base}/robot/v1/metadata/x509/{}", self.client_email),
            "universe_domain": "googleapis.com",
        })
    }
}

/// Limits of a Google project for one model (or every model when `model` is absent; a
/// model-specific entry overrides the general one field by field). Absent limits are
/// unlimited; a limit of 0 means the project's tier never serves the model.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ModelQuota {
    pub model: Option<String>,
    pub requests_per_minute: Option<u32>,
    /// Resets at midnight Pacific time (America/Los_Angeles), as Google's daily quotas do.
    pub requests_per_day: Option<u32>,
    /// Input (prompt) tokens per minute, counted ceil(chars / 4) like every simulated count.
    pub input_tokens_per_minute: Option<u64>,
}

impl ModelQuota {
    pub fn all_models() -> Self {
        Self::default()
    }
    pub fn model(model: impl Into<String>) -> Self {
        Self {
            model: Some(model.into()),
            ..Self::default()
        }
    }
    /// Limit 0 on every quota: the project's tier never serves `model`.
    pub fn never(model: impl Into<String>) -> Self {
        Self::model(model)
            .per_minute(0)
            .per_day(0)
            .input_tokens_per_minute(0)
    }
    pub fn per_minute(mut self, n: u32) -> Self {
        self.requests_per_minute = Some(n);
        self
    }
    pub fn per_day(mut self, n: u32) -> Self {
        self.requests_per_day = Some(n);
        self
    }
    pub fn input_tokens_per_minute(mut self, n: u64) -> Self {
        self.input_tokens_per_minute = Some(n);
        self
    }
}

/// Counted use of one model in a project (every key and service account of it together).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ModelUsage {
    pub model: String,
    pub requests_last_minute: u32,
    pub input_tokens_last_minute: u64,
    /// In the current Pacific-time day.
    pub requests_today: u32,
}

/// A Google project of the official upstreams: its quotas, disabled services and usage.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct GoogleProjectView {
    pub project_id: String,
    pub project_number: String,
    pub quotas: Vec<ModelQuota>,
    pub disabled_services: Vec<String>,
    pub usage: Vec<ModelUsage>,
}

/// One credential of each kind, as `--demo` will use them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DemoCredentials {
    pub code_assist: SeededUser,
    pub gemini_api_key: SeededApiKey,
    pub vertex_service_account: SeededServiceAccount,
    pub vertex_express_key: SeededApiKey,
}
