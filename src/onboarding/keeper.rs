//! Keeps keys and service accounts true over time, in the background:
//!
//! * a Gemini API key's model list is discovered again once a day (Google adds and retires
//!   models; a key's tier may change);
//! * every `KEY_RECHECK_INTERVAL`, credentials Google refused are checked again (a model list,
//!   a token count, a token grant) and put back in rotation if they work, and models spent for
//!   the day are probed with a one-token request and served again if Google's quota is back.
//!   What each re-check found is noted on the credential.
use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use super::check::{Checked, check_key, check_service_account};
use crate::google::executor;
use crate::google::kind::CredentialKind;
use crate::pool::service::PoolService;
use crate::pool::{BanKind, CooldownReason, CredId};
use crate::settings::SettingsService;
use crate::store::credentials::CredentialRow;

/// How often the keeper looks; each pass does only what is due.
const TICK: Duration = Duration::from_secs(60);
/// A Gemini API key's model list is discovered again after this long.
const MODELS_EVERY: chrono::Duration = chrono::Duration::hours(24);

/// Runs until the pool is dropped with the process.
pub fn spawn(pool: PoolService, settings: SettingsService) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_recheck = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(TICK).await;
            let every = settings.get().key_recheck_interval;
            let recheck = !every.is_zero() && last_recheck.elapsed() >= every;
            if recheck {
                last_recheck = tokio::time::Instant::now();
            }
            if let Err(e) = pass(&pool, recheck).await {
                tracing::warn!(error = %e, "key keeper pass failed");
            }
        }
    })
}

/// One pass: refresh stale model lists, and with `recheck` re-check refused and spent
/// credentials. Public so tests can run it without waiting.
pub async fn pass(pool: &PoolService, recheck: bool) -> Result<(), crate::store::StoreError> {
    let rows = pool.list().await?;
    let now = Utc::now();
    for row in rows.iter().filter(|r| r.kind != CredentialKind::CodeAssist) {
        let Some(state) = pool.state(row.id) else {
            continue;
        };
        let stale = row
            .models_checked_at
            .and_then(chrono::DateTime::from_timestamp_millis)
            .is_none_or(|at| now - at >= MODELS_EVERY);
        if row.kind == CredentialKind::GeminiApiKey && state.is_active() && stale {
            refresh_models(pool, row).await;
        }
        if !recheck {
            continue;
        }
        match &state.ban {
            Some(b) if b.kind == BanKind::Rejected => revive(pool, row).await,
            _ if state.is_active() => {
                for (model, c) in &state.cooldowns {
                    let spent = matches!(
                        c.reason,
                        CooldownReason::DailyExhausted | CooldownReason::QuotaExhausted
                    );
                    if spent && c.blocks(now) {
                        probe_quota(pool, row.id, model).await;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

async fn check(pool: &PoolService, row: &CredentialRow) -> Checked {
    let up = pool.upstream();
    if let Some(key) = pool.api_key(row.id) {
        return check_key(up, row.kind, &key, &pool.probe_model()).await;
    }
    match pool.service_account_key(row.id) {
        Some(key) => check_service_account(up, &key).await,
        None => Checked::Unchecked("no secret".into()),
    }
}

async fn refresh_models(pool: &PoolService, row: &CredentialRow) {
    match check(pool, row).await {
        Checked::Alive {
            models: Some(models),
        } => {
            if let Err(e) = pool.set_models(row.id, models).await {
                tracing::warn!(credential = row.id, error = %e, "could not save the model list");
            }
        }
        Checked::Dead(reason) => pool.refused_by_recheck(row.id, &reason).await,
        Checked::Alive { models: None } | Checked::Unchecked(_) => {}
    }
}

async fn revive(pool: &PoolService, row: &CredentialRow) {
    match check(pool, row).await {
        Checked::Alive { models } => {
            if let Some(models) = models
                && let Err(e) = pool.set_models(row.id, models).await
            {
                tracing::warn!(credential = row.id, error = %e, "could not save the model list");
            }
            pool.revived(row.id, "re-checked: Google accepts it again")
                .await;
        }
        Checked::Dead(reason) => {
            pool.rechecked(row.id, &format!("re-checked: still refused: {reason}"))
                .await;
        }
        Checked::Unchecked(_) => {}
    }
}

/// One generated token (one embedding, for an embedding model) tells whether the model is
/// served again.
async fn probe_quota(pool: &PoolService, id: CredId, model: &str) {
    let Ok(call) = pool.probe_call(id).await else {
        return;
    };
    let served = if crate::models::is_embedding(model) {
        let ping = [executor::embed::EmbedInput::text("ping")];
        matches!(
            executor::embed::embed(pool.upstream(), &call, model, &ping).await,
            Ok(Ok(_))
        )
    } else {
        let request = json!({
            "contents": [{"role": "user", "parts": [{"text": "ping"}]}],
            "generationConfig": {"maxOutputTokens": 1},
        });
        executor::generate_body(pool.upstream(), &call, model, &request)
            .await
            .is_ok()
    };
    if served {
        pool.quota_back(
            id,
            model,
            "re-checked: the quota is back before Google's reset",
        )
        .await;
    } else {
        pool.rechecked(id, &format!("re-checked: {model} is still spent"))
            .await;
    }
}
