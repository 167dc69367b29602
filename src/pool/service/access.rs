//! From a picked credential to a ready [`Call`]: its secret, and for the token kinds a fresh
//! access token (an OAuth refresh for Code Assist, a JWT-bearer grant for a Vertex service
//! account), obtained at most once at a time per credential whoever asks; for Code Assist also
//! its project, discovered on first use.
use chrono::{DateTime, Utc};

use super::{AcquireError, Lease, PoolService, REFRESH_MARGIN, TokenError, sha256_hex};
use crate::google::executor::{Call, CodeAssist, GeminiApi, Vertex, VertexExpress};
use crate::google::kind::{CredentialKind, Pin};
use crate::google::oauth;
use crate::google::service_account;
use crate::pool::secrets::Secret;
use crate::pool::{CredId, Failure, model_class};
use crate::store::credentials as repo;
use crate::store::now_ms;

impl PoolService {
    /// A credential for one call to `base_model`, ready to send.
    pub async fn acquire(
        &self,
        base_model: &str,
        pin: Option<Pin>,
        exclude: &[CredId],
    ) -> Result<Lease, AcquireError> {
        let class = model_class(base_model);
        let mut skip: Vec<CredId> = exclude.to_vec();
        // Credentials whose token cannot be had are skipped for this request, bounded so a
        // pool full of broken credentials still answers quickly.
        for _ in 0..8 {
            let hold = {
                let quota = self.inner.quota.read().clone();
                let view = move |id: CredId, c: crate::pool::ModelClass| {
                    quota.as_ref().and_then(|q| q(id, c))
                };
                self.core()
                    .pick_pinned(base_model, pin, class, &skip, &view)
            };
            let hold = hold.map_err(AcquireError::Unavailable)?;
            let id = hold.id;
            match self.ready(id).await {
                Ok(call) => {
                    return Ok(Lease {
                        id,
                        call,
                        _hold: hold,
                    });
                }
                Err(e) => {
                    tracing::warn!(credential = id, error = %e, "credential not usable right now");
                    skip.push(id);
                }
            }
        }
        Err(AcquireError::NoToken)
    }

    pub(super) fn secret(&self, id: CredId) -> Option<Secret> {
        self.inner.secrets.read().get(&id).cloned()
    }

    fn tokens(&self, id: CredId) -> Option<crate::pool::secrets::Tokens> {
        match self.secret(id) {
            Some(Secret::OAuth(t)) => Some(t),
            _ => None,
        }
    }

    /// The executor of the credential's kind, holding what it needs for one call.
    async fn ready(&self, id: CredId) -> Result<Call, TokenError> {
        // Only what the call needs is copied out under the lock: cloning the whole secret
        // (refresh token, client secret, a service account's private key) and the whole
        // credential state per request showed in profiles.
        let now = self.inner.clock.now();
        let fresh = |token: &str, exp: chrono::DateTime<chrono::Utc>| {
            (exp - REFRESH_MARGIN > now).then(|| token.to_owned())
        };
        let found = match self.inner.secrets.read().get(&id) {
            Some(Secret::OAuth(t)) => Found::OAuth(
                t.access_token
                    .as_deref()
                    .zip(t.expiry)
                    .and_then(|(a, e)| fresh(a, e)),
            ),
            Some(Secret::ApiKey(key)) => Found::ApiKey(key.clone()),
            Some(Secret::ServiceAccount(sa)) => Found::ServiceAccount {
                project: sa.key.project_id.clone(),
                token: sa
                    .token
                    .as_ref()
                    .and_then(|t| fresh(&t.access_token, t.expires_at)),
            },
            None => Found::Nothing,
        };
        match found {
            Found::OAuth(cached) => {
                let access_token = match cached {
                    Some(t) => t,
                    None => self.access_token(id).await?,
                };
                let known = self.core().project_id(id);
                let project = match known {
                    Some(p) => p,
                    None => self.discover_project(id).await?,
                };
                Ok(Call::new(CodeAssist {
                    access_token,
                    project,
                }))
            }
            Found::ApiKey(key) => match self.core().kind(id) {
                Some(CredentialKind::VertexExpressKey) => Ok(Call::new(VertexExpress { key })),
                _ => Ok(Call::new(GeminiApi { key })),
            },
            Found::ServiceAccount { project, token } => Ok(Call::new(Vertex {
                access_token: match token {
                    Some(t) => t,
                    None => self.access_token(id).await?,
                },
                project,
            })),
            Found::Nothing => Err(TokenError::Permanent("credential has no secret".into())),
        }
    }

    /// A valid access token (Code Assist or a service account), obtained anew (once, whoever
    /// asks) when it is missing or expiring.
    pub async fn access_token(&self, id: CredId) -> Result<String, TokenError> {
        let now = self.inner.clock.now();
        let cached = match self.secret(id) {
            Some(Secret::OAuth(t)) => t.access_token.zip(t.expiry),
            Some(Secret::ServiceAccount(s)) => s.token.map(|t| (t.access_token, t.expires_at)),
            Some(Secret::ApiKey(_)) => {
                return Err(TokenError::Permanent(
                    "an API key has no access token".into(),
                ));
            }
            None => {
                return Err(TokenError::Permanent(
                    "credential has no refresh token".into(),
                ));
            }
        };
        if let Some((token, exp)) = cached
            && exp - REFRESH_MARGIN > now
        {
            return Ok(token);
        }
        let me = self.clone();
        self.inner
            .refresh
            .run(id, || async move { me.renew(id).await })
            .await
    }

    /// After an upstream 401: drop the rejected token and get another, unless someone already
    /// did.
    pub async fn force_refresh(&self, lease: &Lease) -> Result<String, TokenError> {
        let Some(sent) = lease.call.bearer() else {
            return Err(TokenError::Permanent(
                "an API key cannot be refreshed".into(),
            ));
        };
        {
            let mut all = self.inner.secrets.write();
            match all.get_mut(&lease.id) {
                Some(Secret::OAuth(t)) if t.access_token.as_deref() == Some(sent) => {
                    t.access_token = None;
                }
                Some(Secret::ServiceAccount(s))
                    if s.token.as_ref().map(|t| t.access_token.as_str()) == Some(sent) =>
                {
                    s.token = None;
                }
                _ => {}
            }
        }
        self.note_rejected(lease.id, sent);
        self.access_token(lease.id).await
    }

    async fn renew(&self, id: CredId) -> Result<String, TokenError> {
        match self.secret(id) {
            Some(Secret::ServiceAccount(_)) => self.do_grant(id).await,
            _ => self.do_refresh(id).await,
        }
    }

    /// Disables a credential whose token Google refused for good, with Google's reason.
    fn refused(&self, id: CredId, reason: String) -> TokenError {
        tracing::warn!(credential = id, reason = %reason, "token refused for good; disabling credential");
        let failure = match self.profile(id).map(|p| p.kind) {
            Some(CredentialKind::CodeAssist) | None => Failure::AuthFailed {
                permanent: true,
                reason: reason.clone(),
            },
            Some(_) => Failure::CredentialRejected {
                status: 400,
                reason: reason.clone(),
            },
        };
        let out = self.core().record_failure(id, "*", 400, &reason, failure);
        self.mark_change(out.change);
        TokenError::Permanent(reason)
    }

    /// A JWT-bearer grant for a service account.
    async fn do_grant(&self, id: CredId) -> Result<String, TokenError> {
        let Some(Secret::ServiceAccount(sa)) = self.secret(id) else {
            return Err(TokenError::Permanent("credential was removed".into()));
        };
        let now = self.inner.clock.now();
        if let Some(t) = &sa.token
            && t.expires_at - REFRESH_MARGIN > now
        {
            return Ok(t.access_token.clone());
        }
        match service_account::grant(&self.inner.upstream, &sa.key, now).await {
            Ok(granted) => {
                crate::logs::register_secret(&granted.access_token);
                let token = granted.access_token.clone();
                let mut all = self.inner.secrets.write();
                if let Some(Secret::ServiceAccount(slot)) = all.get_mut(&id)
                    && let Some(old) = slot.token.replace(granted)
                {
                    crate::logs::forget_secret(&old.access_token);
                }
                tracing::info!(credential = id, "service-account token granted");
                Ok(token)
            }
            Err(e) if e.is_permanent() => Err(self.refused(id, e.to_string())),
            Err(e) => Err(TokenError::Transient(e.to_string())),
        }
    }

    async fn do_refresh(&self, id: CredId) -> Result<String, TokenError> {
        if self.inner.sync.is_some() {
            return self.refresh_shared(id).await;
        }
        let t = self
            .tokens(id)
            .ok_or_else(|| TokenError::Permanent("credential was removed".into()))?;
        // Another flight may have finished between our check and this one starting.
        if let (Some(a), Some(exp)) = (&t.access_token, t.expiry)
            && exp - REFRESH_MARGIN > self.inner.clock.now()
        {
            return Ok(a.clone());
        }
        let (token, write, expiry, rotated) = self.spend_refresh_token(id, &t).await?;
        // Written before use: a rotated refresh token must never exist only in memory.
        let saved = self
            .inner
            .store
            .run_tx(move |db| repo::write_tokens(db, id, &write, now_ms()))
            .await;
        if let Err(e) = saved {
            tracing::error!(credential = id, error = %e, "could not save refreshed tokens");
            if rotated.is_some() {
                return Err(TokenError::Transient(
                    "could not save the rotated refresh token".into(),
                ));
            }
        }
        self.keep_tokens(id, &token, expiry, rotated.as_deref());
        tracing::info!(credential = id, "access token refreshed");
        Ok(token)
    }

    /// Spends `t`'s refresh token at the token endpoint. Answers the access token, what to
    /// write, its expiry and the rotated refresh token, if Google sent a new one.
    pub(super) async fn spend_refresh_token(
        &self,
        id: CredId,
        t: &crate::pool::secrets::Tokens,
    ) -> Result<(String, repo::TokenWrite, DateTime<Utc>, Option<String>), TokenError> {
        let up = self.inner.upstream.clone();
        match oauth::refresh(&up, &t.client_id, &t.client_secret, &t.refresh_token).await {
            Ok(tr) => {
                let expiry = self.inner.clock.now()
                    + chrono::Duration::seconds(tr.expires_in.unwrap_or(3599));
                let rotated = tr.refresh_token.clone().filter(|r| *r != t.refresh_token);
                crate::logs::register_secret(&tr.access_token);
                if let Some(r) = &rotated {
                    crate::logs::register_secret(r);
                }
                let write = repo::TokenWrite {
                    access_token: tr.access_token.clone(),
                    expiry: Some(expiry.to_rfc3339()),
                    rotated: rotated.clone().map(|r| {
                        let sha = sha256_hex(&r);
                        (r, sha)
                    }),
                };
                Ok((tr.access_token, write, expiry, rotated))
            }
            Err(e) if e.is_permanent() => Err(self.refused(id, e.to_string())),
            Err(e) => Err(TokenError::Transient(e.to_string())),
        }
    }

    /// Holds these tokens in memory for the credential.
    pub(super) fn keep_tokens(
        &self,
        id: CredId,
        access: &str,
        expiry: DateTime<Utc>,
        refresh_token: Option<&str>,
    ) {
        let mut all = self.inner.secrets.write();
        if let Some(Secret::OAuth(slot)) = all.get_mut(&id) {
            if slot.access_token.as_deref() != Some(access)
                && let Some(old) = slot.access_token.replace(access.to_string())
            {
                crate::logs::forget_secret(&old);
            }
            slot.expiry = Some(expiry);
            if let Some(r) = refresh_token {
                slot.refresh_token = r.to_string();
            }
        }
    }

    /// Finds the project on first use of a credential imported without one (single-flight,
    /// so a burst of requests runs discovery once).
    async fn discover_project(&self, id: CredId) -> Result<String, TokenError> {
        let me = self.clone();
        self.inner
            .discover
            .run(id, || async move {
                me.identify(id).await?;
                me.state(id)
                    .and_then(|s| s.project_id)
                    .ok_or_else(|| TokenError::NoProject("no project found".into()))
            })
            .await
    }
}

/// What the periodic re-check of keys and service accounts (`onboarding::keeper`) needs: the
/// secret to check with, a ready call to probe with, and the outcome written back.
impl PoolService {
    pub(crate) fn api_key(&self, id: CredId) -> Option<String> {
        match self.secret(id) {
            Some(Secret::ApiKey(k)) => Some(k),
            _ => None,
        }
    }

    pub(crate) fn service_account_key(
        &self,
        id: CredId,
    ) -> Option<crate::google::service_account::ServiceAccountKey> {
        match self.secret(id) {
            Some(Secret::ServiceAccount(s)) => Some(s.key),
            _ => None,
        }
    }

    /// A token obtained now, not a cached one: the on-demand re-check asks Google whether the
    /// refresh token (or the service account) still works.
    pub(crate) async fn fresh_access_token(&self, id: CredId) -> Result<String, TokenError> {
        {
            let mut all = self.inner.secrets.write();
            match all.get_mut(&id) {
                Some(Secret::OAuth(t)) => {
                    t.expiry = None;
                }
                Some(Secret::ServiceAccount(s)) => s.token = None,
                _ => {}
            }
        }
        self.access_token(id).await
    }

    /// The credential's call, outside the rotation (a probe; no in-flight count).
    pub(crate) async fn probe_call(&self, id: CredId) -> Result<Call, TokenError> {
        self.ready(id).await
    }

    fn note(message: &str, now: chrono::DateTime<chrono::Utc>) -> crate::pool::RecheckNote {
        crate::pool::RecheckNote {
            at: now,
            message: message.to_string(),
        }
    }

    /// A refused credential works again: back in rotation, errors cleared, with the reason.
    pub(crate) async fn revived(&self, id: CredId, message: &str) {
        let now = self.inner.clock.now();
        let change = {
            let mut core = self.core();
            core.clear_errors_and_unban(id);
            core.note_recheck(id, Self::note(message, now))
        };
        tracing::info!(
            credential = id,
            reason = message,
            "credential re-enabled by a re-check"
        );
        self.persist_now(change).await;
    }

    /// A spent model is served again before Google's reset: its cooldown goes.
    pub(crate) async fn quota_back(&self, id: CredId, model: &str, message: &str) {
        let now = self.inner.clock.now();
        let change = self
            .core()
            .lift_cooldown(id, model, Self::note(message, now));
        tracing::info!(
            credential = id,
            model,
            reason = message,
            "cooldown lifted by a re-check"
        );
        self.persist_now(change).await;
    }

    /// A re-check found the credential refused for good.
    pub(crate) async fn refused_by_recheck(&self, id: CredId, reason: &str) {
        let change = self
            .core()
            .ban(id, crate::pool::BanKind::Rejected, None, reason, None);
        tracing::warn!(credential = id, reason, "credential refused by a re-check");
        self.persist_now(change).await;
    }

    /// Notes a re-check that changed nothing (still refused, still spent).
    pub(crate) async fn rechecked(&self, id: CredId, message: &str) {
        let now = self.inner.clock.now();
        let change = self.core().note_recheck(id, Self::note(message, now));
        self.persist_now(change).await;
    }
}

/// What [`PoolService::ready`] reads of a credential's secret: an access token only when it is
/// still fresh (otherwise the refresh path gets one).
enum Found {
    OAuth(Option<String>),
    ApiKey(String),
    ServiceAccount {
        project: String,
        token: Option<String>,
    },
    Nothing,
}
