//! Re-checking one credential on demand (the bulk "re-check" action), whatever its kind: a
//! Code Assist credential by a fresh token refresh and its project, a key or service account
//! the way it was checked on import. The outcome is written on the credential: a dead one is
//! set aside with the reason (a refused refresh token as "needs sign-in"), one that works again
//! is taken back, and either way the note says what was found.
use super::check::{Checked, check_key, check_service_account};
use crate::google::kind::CredentialKind;
use crate::pool::CredId;
use crate::pool::service::{PoolService, TokenError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Alive,
    Dead,
    /// Google could not be asked; nothing changed.
    Unchecked,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rechecked {
    pub verdict: Verdict,
    pub message: String,
}

fn done(verdict: Verdict, message: impl Into<String>) -> Rechecked {
    Rechecked {
        verdict,
        message: message.into(),
    }
}

/// `None` when `id` is not in the pool.
pub async fn recheck(pool: &PoolService, id: CredId) -> Option<Rechecked> {
    let kind = pool.profile(id)?.kind;
    let was_banned = pool.state(id)?.ban.is_some();
    let out = match kind {
        CredentialKind::CodeAssist => code_assist(pool, id).await,
        _ => official(pool, id, kind).await,
    };
    match out.verdict {
        Verdict::Alive if was_banned => {
            pool.revived(id, "re-checked: Google accepts it again")
                .await;
        }
        Verdict::Alive => pool.rechecked(id, "re-checked: works").await,
        Verdict::Dead => {
            pool.rechecked(id, &format!("re-checked: refused: {}", out.message))
                .await;
        }
        Verdict::Unchecked => {
            pool.rechecked(id, &format!("re-check failed: {}", out.message))
                .await;
        }
    }
    Some(out)
}

async fn code_assist(pool: &PoolService, id: CredId) -> Rechecked {
    // A refused refresh token bans the credential as "needs sign-in" inside the refresh.
    match pool.fresh_access_token(id).await {
        Err(TokenError::Permanent(why)) => return done(Verdict::Dead, why),
        Err(e) => return done(Verdict::Unchecked, e.to_string()),
        Ok(_) => {}
    }
    match pool.identify(id).await {
        Ok(()) => done(Verdict::Alive, "token refreshed, project known"),
        Err(TokenError::NoProject(why)) if pool.state(id).is_some_and(|s| s.ban.is_some()) => {
            done(Verdict::Dead, why)
        }
        Err(e) => done(Verdict::Unchecked, e.to_string()),
    }
}

async fn official(pool: &PoolService, id: CredId, kind: CredentialKind) -> Rechecked {
    let up = pool.upstream();
    let checked = match (pool.api_key(id), pool.service_account_key(id)) {
        (Some(key), _) => check_key(up, kind, &key, &pool.probe_model()).await,
        (None, Some(sa)) => check_service_account(up, &sa).await,
        (None, None) => Checked::Dead("the credential has no secret".into()),
    };
    match checked {
        Checked::Alive { models } => {
            if let Some(models) = models
                && let Err(e) = pool.set_models(id, models).await
            {
                tracing::warn!(credential = id, error = %e, "could not save the model list");
            }
            done(Verdict::Alive, "accepted by Google")
        }
        Checked::Dead(reason) => {
            pool.refused_by_recheck(id, &reason).await;
            done(Verdict::Dead, reason)
        }
        Checked::Unchecked(why) => done(Verdict::Unchecked, why),
    }
}
