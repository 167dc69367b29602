//! Adding a credential by signing in with Google (Gemini CLI's client, offline access, forced
//! consent, state and PKCE). The browser comes back to `/oauth2callback` on our own port, or,
//! when the browser runs elsewhere, the user pastes the address it ended on.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use super::import::{ExistingKey, ImportedCredential, find_duplicate, sanitize_name};
use super::oauth_flow::{FlowError, OAuthFlows, ReadyFlow, StartedFlow};
use crate::google::code_assist;
use crate::google::discovery::{self, DiscoveryError};
use crate::google::oauth::{self, GEMINI_CLI_CLIENT_ID, GEMINI_CLI_CLIENT_SECRET, OAuthError};
use crate::pool::service::PoolService;
use crate::pool::{Clock, CredId};
use crate::store::credentials::{self as repo, CredentialSource};
use crate::store::{StoreError, now_ms};

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct LoginResult {
    pub id: CredId,
    pub name: String,
    pub email: Option<String>,
    pub project_id: String,
    pub tier: Option<String>,
    /// The account was already in the pool: its tokens were replaced instead of adding a copy.
    pub replaced: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    Flow(#[from] FlowError),
    #[error("Google did not accept the sign-in code: {0}")]
    Exchange(#[from] OAuthError),
    #[error(
        "Google returned no refresh token; remove gcli2api's access at myaccount.google.com/permissions and sign in again"
    )]
    NoRefreshToken,
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub struct LoginService {
    flows: Arc<Mutex<OAuthFlows>>,
    pool: PoolService,
    /// How many sign-ins finished, and the last one: an open panel polls it to notice a
    /// credential added in another tab (possibly on another origin, `localhost`).
    finished: Arc<Mutex<(u64, Option<LoginResult>)>>,
}

impl LoginService {
    pub fn new(pool: PoolService, clock: Arc<dyn Clock>) -> Self {
        Self {
            flows: Arc::new(Mutex::new(OAuthFlows::new(clock))),
            pool,
            finished: Arc::new(Mutex::new((0, None))),
        }
    }

    /// The number of finished sign-ins and the last result.
    pub fn finished(&self) -> (u64, Option<LoginResult>) {
        self.finished
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn flows(&self) -> std::sync::MutexGuard<'_, OAuthFlows> {
        self.flows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a sign-in; `project_id`, when given, is used instead of discovery's choice.
    pub fn start(&self, redirect_uri: &str, project_id: Option<String>) -> StartedFlow {
        let auth_url = self.pool.upstream().config().oauth_auth_url;
        self.flows().start(
            redirect_uri,
            &auth_url,
            project_id.filter(|p| !p.trim().is_empty()),
        )
    }

    /// Finishes from the address the browser ended on (pasted by the user).
    pub async fn complete_url(&self, pasted: &str) -> Result<LoginResult, LoginError> {
        let ready = self.flows().complete_from_callback_url(pasted)?;
        self.finish(ready).await
    }

    /// Finishes from `/oauth2callback`'s query string.
    pub async fn complete_query(&self, query: &str) -> Result<LoginResult, LoginError> {
        let ready = self.flows().complete_from_query(query)?;
        self.finish(ready).await
    }

    async fn finish(&self, ready: ReadyFlow) -> Result<LoginResult, LoginError> {
        let up = self.pool.upstream().clone();
        let tr =
            oauth::exchange_code(&up, &ready.code, &ready.redirect_uri, &ready.verifier).await?;
        let refresh_token = tr.refresh_token.clone().ok_or(LoginError::NoRefreshToken)?;
        crate::logs::register_secret(&refresh_token);
        crate::logs::register_secret(&tr.access_token);
        let found = discovery::discover(
            &up,
            &tr.access_token,
            ready.project_id.as_deref(),
            Duration::from_secs(2),
            30,
        )
        .await?;
        let email = code_assist::user_email(&up, &tr.access_token)
            .await
            .ok()
            .flatten();
        let name = email
            .as_deref()
            .and_then(sanitize_name)
            .map(|e| format!("oauth-{e}.json"))
            .unwrap_or_else(|| format!("oauth-{}.json", found.project_id));
        let cred = ImportedCredential {
            name,
            client_id: GEMINI_CLI_CLIENT_ID.into(),
            client_secret: GEMINI_CLI_CLIENT_SECRET.into(),
            refresh_token,
            access_token: Some(tr.access_token.clone()),
            expiry: Some(
                chrono::Utc::now() + chrono::Duration::seconds(tr.expires_in.unwrap_or(3599)),
            ),
            project_id: Some(found.project_id.clone()),
            email: email.clone(),
            extra: Default::default(),
        };
        let rows = self.pool.store().run(|db| repo::list(db)).await?;
        let existing: Vec<ExistingKey> = rows
            .iter()
            .map(|r| ExistingKey {
                name: r.name.clone(),
                refresh_token_sha256: r.refresh_token_sha256.clone().unwrap_or_default(),
                email: r.email.clone(),
                project_id: r.project_id.clone(),
            })
            .collect();
        let (id, name, replaced) = match find_duplicate(&cred, &existing)
            .and_then(|d| rows.iter().find(|r| r.name == d.existing()))
        {
            // Signing in again to an account already in the pool refreshes its grant.
            Some(row) => {
                let (id, payload, sha) = (row.id, cred.payload(), cred.refresh_token_sha256());
                let p2 = payload.clone();
                self.pool
                    .store()
                    .run_tx(move |mut tx| {
                        repo::replace_payload(
                            tx.reborrow(),
                            id,
                            &p2,
                            CredentialSource::Oauth,
                            &sha,
                            now_ms(),
                        )
                    })
                    .await?;
                let mut state = self.pool.state(id).unwrap_or_default();
                // A new grant is exactly what a revoked or missing refresh token waited for.
                if state.ban.as_ref().is_some_and(|b| b.kind.needs_sign_in()) {
                    state.ban = None;
                    state.error_streak = 0;
                }
                self.pool
                    .insert_loaded(id, crate::pool::Profile::default(), &payload, state);
                (id, row.name.clone(), true)
            }
            None => {
                let mut new = cred.to_new_credential(CredentialSource::Oauth);
                new.tier = found.tier.clone();
                let name = new.name.clone();
                (self.pool.add(new).await?, name, false)
            }
        };
        self.pool
            .set_identity(
                id,
                email.clone(),
                Some(found.project_id.clone()),
                found.tier.clone(),
            )
            .await;
        tracing::info!(credential = id, project = %found.project_id, via = found.via, replaced, "credential added by sign-in");
        let result = LoginResult {
            id,
            name,
            email,
            project_id: found.project_id,
            tier: found.tier,
            replaced,
        };
        {
            let mut f = self.finished.lock().unwrap_or_else(|e| e.into_inner());
            f.0 += 1;
            f.1 = Some(result.clone());
        }
        Ok(result)
    }
}
