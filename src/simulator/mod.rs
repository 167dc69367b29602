//! The Google simulator: one HTTP server that speaks Google's side of everything the gateway calls
//! (OAuth token endpoint and consent page, tokeninfo, userinfo, Resource Manager, Service Usage,
//! Code Assist `/v1internal:*`) and the official upstreams (the Gemini API for AI Studio keys,
//! Vertex AI for service accounts and express keys; see `official/mod.rs` for the paths), with
//! seeded users, keys and service accounts, scripted faults (see `faults`), stream pacing and a
//! request log. All of the gateway's Google base URLs point at it; no paths collide.
//!
//! # Official upstreams
//! * **Keys** ([`SimHandle::add_api_key`]): `AQ.` auth keys of either kind (Gemini API or
//!   Vertex express; a key used on the other service answers 403 `API_KEY_SERVICE_BLOCKED`),
//!   or old standard `AIza` keys, which the Gemini API refuses with 401
//!   `ACCESS_TOKEN_TYPE_UNSUPPORTED`. A [`KeyState`] makes every call with the key answer
//!   `API_KEY_INVALID` (deleted or expired), the leaked-key 403, `CONSUMER_SUSPENDED`,
//!   `API_KEY_SERVICE_BLOCKED` or `API_KEY_HTTP_REFERRER_BLOCKED`; `denied_models` answer a
//!   bare 403 for those models only; [`SimHandle::set_project_service`] gives
//!   `SERVICE_DISABLED`.
//! * **Quota belongs to the Google project**: every key and service account of a project
//!   shares its counters ([`SimHandle::set_project_quota`], [`ModelQuota`]). Over a limit the
//!   Gemini API answers 429 with Help, a QuotaFailure listing every broken limit (limit 0,
//!   per-day and per-minute ids, `quotaValue`) and RetryInfo; Vertex answers its bare 429.
//!   Per-day counters turn over at midnight Pacific time.
//! * **Faults** match on `api_key`, `project` and `upstream` too; the official kinds
//!   ([`Fault::QuotaViolations`], [`Fault::LegacyRateLimit`], [`Fault::ApiKeyLeaked`], ...)
//!   script one-off answers in the same shapes.
//! * **Service accounts** ([`SimHandle::add_service_account`]): key files whose `token_uri`
//!   is this server's `/token`, which takes the RS256 JWT-bearer grant and verifies it against
//!   the account's public key. All accounts share one checked-in test key pair
//!   (`testdata/`), a fixture that nothing outside the simulator trusts.
//! * **Demo**: [`SimHandle::seed_demo_credentials`] (or `POST /__sim/demo-credentials`)
//!   seeds one credential of each kind: a Code Assist user, a Gemini API key, a Vertex
//!   service account (import its `key_json()`) and a Vertex express key, each in its own
//!   project. `--demo` uses them, with `GEMINI_API_URL` and `VERTEX_API_URL` pointing at
//!   [`SimHandle::base_url`].
//! * Embeddings are deterministic: [`embedding_values`] gives the vector of any text.
//!
//! # Replies (deterministic; tests may rely on these rules)
//! * **Anchor.** Trailing `model` turns are a prefill; the content before them is the anchor.
//! * **Text.** If the anchor holds `functionResponse` parts, the text is one line per response:
//!   `Result of <name>: <response as compact JSON>`. Otherwise it is `Echo: <anchor text>`,
//!   where the anchor text joins the anchor's text parts with `\n`; each `inlineData` part adds
//!   a line `[inlineData <mime>, <n> base64 chars]`. With `responseMimeType:
//!   application/json` the text is instead `{"echo":"<anchor text>","media":[...]}`.
//! * **`[done]`.** If the system instruction text contains `[done]`, `\n[done]` is appended,
//!   unless an [`Fault::IgnoreDoneMarker`] fault is active for the call.
//! * **Prefill.** With trailing model turns, the last one's text P is taken as already said:
//!   the reply is the full text minus its longest prefix that P ends with (so a cut-short answer
//!   is continued exactly; with no overlap the full text is sent again). No tool calls then.
//! * **Tools.** When `functionDeclarations` are offered, the anchor is user text and the mode is
//!   not `NONE`: every `call:<name>` directive (optionally followed directly by a JSON object of
//!   args) calls that declared function; else `use the <name> tool` calls it; else, if the text
//!   contains "call" (any case) or the mode is `ANY`, the first declaration is called. Args
//!   default to the schema's required properties: strings `"<prop>-value"`, numbers `1`,
//!   booleans `true`, arrays `[]`, objects `{}`. The reply then has no text; the first call part
//!   carries a simulator-issued `thoughtSignature`; all calls arrive whole in one stream event.
//! * **Thinking.** Models `gemini-2.5*` and `gemini-3*` think unless `thinkingBudget` is 0. The
//!   thought text is `**Planning the reply**\n\nThe request holds <n> characters of user text.`
//!   (n = anchor text length in chars). It is sent (first, as `thought:true` parts) only with
//!   `includeThoughts: true`; `thoughtsTokenCount` is always present for these models.
//! * **Tokens.** Every count is ceil(chars / 4). Prompt = all text of contents and system
//!   instruction plus serialized non-text parts (min 1). Candidates = text + serialized calls.
//!   `totalTokenCount = prompt + candidates + thoughts` exactly.
//! * **maxOutputTokens.** Thoughts spend the budget first; text longer than the rest is cut to
//!   `4 × rest` chars (calls dropped) with `finishReason: MAX_TOKENS`; else `STOP`.
//! * **googleSearch** in tools adds `groundingMetadata` to the final candidate.
//! * **Streams.** Thought chunks, then text chunks of `Pacing::chunk_chars` chars, then one
//!   event with all calls; the last event also carries `finishReason` and the full usage.
//!   Intermediate events carry no usage unless `Pacing::partial_usage`.
//!
//! # Enforced validation
//! Bearer must be live (else 401); `project` must be the user's Code Assist project (after
//! onboarding for new users) or an owned GCP project with `cloudaicompanion.googleapis.com`
//! enabled (else 403 CONSUMER_INVALID / SERVICE_DISABLED); the model must be in the catalog and
//! `*-preview` needs `UserSpec::preview` (else 404); unknown fields, empty contents, bad
//! thinking config and (Gemini 3) model function calls without a valid signature give 400.

mod code_assist;
mod control;
mod errors;
mod faults;
mod http;
mod oauth;
mod official;
mod projects;
mod reply;
mod respond;
mod sse;
mod state;
mod types;
mod validate;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use poem::listener::TcpAcceptor;
use tokio::sync::watch;

pub use faults::{
    EmptyReply, Endpoint, Fault, FaultMatch, FaultRule, MalformedSse, QuotaKind, QuotaViolation,
    Upstream,
};
pub use official::embeddings::embedding_values;
pub use official::types::{
    ApiKeyKind, ApiKeySpec, CLOUD_PLATFORM_SCOPE, DemoCredentials, GEMINI_API_SERVICE,
    GoogleProjectView, JWT_BEARER_GRANT, KeyState, ModelQuota, ModelUsage, SeededApiKey,
    SeededServiceAccount, ServiceAccountSpec, ServiceAccountState, VERTEX_SERVICE,
};
pub use state::DEFAULT_MODELS;
pub use types::{
    GEMINI_CLI_CLIENT_ID, GEMINI_CLI_CLIENT_SECRET, LineEnding, OwnedProject, Pacing,
    ProjectScenario, RecordedBody, RecordedRequest, SCOPES, SeededUser, UserSpec,
};
pub use validate::SKIP_SIGNATURE;

use state::SimState;

/// Entry point; see [`Simulator::start`].
pub struct Simulator {
    _private: (),
}

impl Simulator {
    /// Start serving on an already-bound listener. Returns once the server task is spawned.
    pub async fn start(listener: tokio::net::TcpListener) -> std::io::Result<SimHandle> {
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let state = Arc::new(SimState::new(base_url.clone()));
        let acceptor = TcpAcceptor::from_tokio(listener)?;
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let ep_state = state.clone();
        let endpoint = poem::endpoint::make(move |req| http::handle(ep_state.clone(), req));
        let signal = async move {
            // An Err means every handle is gone: stop serving too.
            let _ = stop_rx.wait_for(|stop| *stop).await;
        };
        tokio::spawn(async move {
            let server = poem::Server::new_with_acceptor(acceptor);
            if let Err(e) = server
                .run_with_graceful_shutdown(endpoint, signal, Some(Duration::from_secs(1)))
                .await
            {
                tracing::warn!(error = %e, "simulator stopped with an error");
            }
        });
        tracing::info!(%addr, "Google simulator listening");
        Ok(SimHandle {
            state,
            base_url,
            stop: Arc::new(stop_tx),
        })
    }
}

#[derive(Clone)]
pub struct SimHandle {
    state: Arc<SimState>,
    base_url: String,
    stop: Arc<watch::Sender<bool>>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`, the base URL for every Google service.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn add_user(&self, spec: UserSpec) -> SeededUser {
        self.state.lock().add_user(spec, &self.base_url)
    }

    /// Current view of every user (refresh token, newest live access token, project).
    pub fn users(&self) -> Vec<SeededUser> {
        let inner = self.state.lock();
        inner
            .users
            .iter()
            .map(|u| inner.seeded(u, &self.base_url))
            .collect()
    }

    pub fn user(&self, email: &str) -> Option<SeededUser> {
        let inner = self.state.lock();
        inner.user(email).map(|u| inner.seeded(u, &self.base_url))
    }

    pub fn push_fault(&self, rule: FaultRule) {
        self.state.lock().faults.push(rule);
    }

    pub fn set_pacing(&self, pacing: Pacing) {
        self.state.lock().pacing = pacing;
    }

    /// Replace the model catalog (unknown models answer 404).
    pub fn set_models(&self, models: Vec<String>) {
        self.state.lock().models = models;
    }

    /// The account the consent page signs in when no `login_hint` names a user.
    pub fn set_default_login(&self, email: &str) {
        self.state.lock().default_login = Some(email.to_string());
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.lock().requests.clone()
    }

    /// Clear faults, the request log, pacing and quota usage; users, keys and service accounts
    /// are kept.
    pub fn reset(&self) {
        self.state.lock().reset(false);
    }

    /// `reset` plus users, keys, service accounts, Google projects, tokens, codes, operations,
    /// signatures and the catalog.
    pub fn reset_all(&self) {
        self.state.lock().reset(true);
    }

    /// Current access tokens answer 401 from now on; `/token` can still refresh.
    pub fn revoke_access_tokens(&self, email: &str) {
        self.state.lock().revoke_tokens(email);
    }

    /// Current access tokens are past their expiry from now on; `/token` can still refresh.
    pub fn expire_access_tokens(&self, email: &str) {
        self.state.lock().expire_tokens(email);
    }

    /// The user's refresh token stops working (`invalid_grant`).
    pub fn revoke_refresh_token(&self, email: &str) {
        self.state.lock().revoke_refresh_token(email);
    }

    pub fn shutdown(&self) {
        self.stop.send_replace(true);
    }
}

/// Blocking entry for `gcli2api simulate-google --listen ADDR`: serve until ctrl-c.
pub async fn serve_forever(addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let handle = Simulator::start(listener).await?;
    tracing::info!(base_url = %handle.base_url(), "simulate-google: control API under /__sim/");
    tokio::signal::ctrl_c().await?;
    handle.shutdown();
    Ok(())
}
