//! Project discovery, after Gemini CLI's setup flow: loadCodeAssist, then onboardUser with
//! operation polling, and only then the project-list fallback. The reference's hard-coded
//! foreign project is never used.
use std::time::Duration;

use serde_json::Value;

use super::client::Upstream;
use super::code_assist::{self, CallFailure};
use super::projects;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    pub project_id: String,
    pub tier: Option<String>,
    /// How the project was found, for the audit log and the panel.
    pub via: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("Google requires account verification before this account can use Code Assist: {message}{}", link.as_deref().map(|l| format!(" ({l})")).unwrap_or_default())]
    ValidationRequired {
        message: String,
        link: Option<String>,
    },
    #[error("this account is not eligible for Code Assist: {0}")]
    Ineligible(String),
    #[error("no Google Cloud project found for this account; supply a project id")]
    ProjectRequired,
    #[error("onboarding did not finish in time")]
    OnboardingTimeout,
    #[error("upstream call failed during project discovery: {0}")]
    Upstream(#[from] CallFailure),
}

fn project_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(o) => o
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        _ => None,
    }
}

fn str_field<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn ineligible_summary(load: &Value) -> Option<String> {
    let tiers = load.get("ineligibleTiers")?.as_array()?;
    let parts: Vec<String> = tiers
        .iter()
        .map(|t| {
            let code = t
                .get("reasonCode")
                .and_then(Value::as_str)
                .unwrap_or("UNKNOWN");
            let msg = t.get("reasonMessage").and_then(Value::as_str).unwrap_or("");
            format!("{code}: {msg}")
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn validation_required(load: &Value) -> Option<DiscoveryError> {
    let tiers = load.get("ineligibleTiers")?.as_array()?;
    tiers
        .iter()
        .find(|t| t.get("reasonCode").and_then(Value::as_str) == Some("VALIDATION_REQUIRED"))
        .map(|t| DiscoveryError::ValidationRequired {
            message: t
                .get("validationErrorMessage")
                .or(t.get("reasonMessage"))
                .and_then(Value::as_str)
                .unwrap_or("verify your account")
                .to_string(),
            link: t
                .get("validationUrl")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
}

fn is_security_policy_violation(f: &CallFailure) -> bool {
    matches!(f, CallFailure::Status { body, .. } if String::from_utf8_lossy(body).contains("SECURITY_POLICY_VIOLATED"))
}

/// Finds the Code Assist project for a token. `user_project`, when given, is respected.
pub async fn discover(
    up: &Upstream,
    token: &str,
    user_project: Option<&str>,
    poll_interval: Duration,
    max_polls: u32,
) -> Result<Discovered, DiscoveryError> {
    let load = match code_assist::load_code_assist(up, token, user_project).await {
        Ok(v) => v,
        // VPC-SC blocks loadCodeAssist; the CLI then assumes the standard tier.
        Err(f) if is_security_policy_violation(&f) => {
            serde_json::json!({"currentTier": {"id": "standard-tier"}})
        }
        Err(f) => return Err(f.into()),
    };
    if load.get("currentTier").is_some_and(|t| !t.is_null()) {
        let tier = str_field(&load, &["paidTier", "id"])
            .or(str_field(&load, &["currentTier", "id"]))
            .map(str::to_string);
        if let Some(p) = user_project {
            return Ok(Discovered {
                project_id: p.to_string(),
                tier,
                via: "user",
            });
        }
        if let Some(p) = project_of(load.get("cloudaicompanionProject")) {
            return Ok(Discovered {
                project_id: p,
                tier,
                via: "loadCodeAssist",
            });
        }
        return fallback(up, token, tier, ineligible_summary(&load)).await;
    }
    if let Some(e) = validation_required(&load) {
        return Err(e);
    }
    let default_tier = load
        .get("allowedTiers")
        .and_then(Value::as_array)
        .and_then(|ts| {
            ts.iter()
                .find(|t| t.get("isDefault").and_then(Value::as_bool) == Some(true))
                .cloned()
        });
    let (tier_id, needs_user_project) = match &default_tier {
        Some(t) => (
            t.get("id")
                .and_then(Value::as_str)
                .unwrap_or("legacy-tier")
                .to_string(),
            t.get("userDefinedCloudaicompanionProject")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        ),
        None => ("legacy-tier".to_string(), true),
    };
    let project = if tier_id == "free-tier" {
        None
    } else if let Some(p) = user_project {
        Some(p.to_string())
    } else if needs_user_project {
        let found = fallback(up, token, Some(tier_id.clone()), None).await?;
        Some(found.project_id)
    } else {
        None
    };
    let op = onboard(
        up,
        token,
        &tier_id,
        project.as_deref(),
        poll_interval,
        max_polls,
    )
    .await?;
    let found = project_of(
        op.get("response")
            .and_then(|r| r.get("cloudaicompanionProject")),
    )
    .or(project);
    match found {
        Some(p) => Ok(Discovered {
            project_id: p,
            tier: Some(tier_id),
            via: "onboardUser",
        }),
        None => fallback(up, token, Some(tier_id), None).await,
    }
}

/// Runs onboardUser to completion. Polls with GET on the operation; if the server does not
/// offer operation lookups, re-POSTs onboardUser as older clients do.
async fn onboard(
    up: &Upstream,
    token: &str,
    tier: &str,
    project: Option<&str>,
    poll_interval: Duration,
    max_polls: u32,
) -> Result<Value, DiscoveryError> {
    let mut op = code_assist::onboard_user(up, token, tier, project).await?;
    let mut repost = false;
    for _ in 0..max_polls {
        if op.get("done").and_then(Value::as_bool) == Some(true) {
            return Ok(op);
        }
        tokio::time::sleep(poll_interval).await;
        let name = op.get("name").and_then(Value::as_str).map(str::to_string);
        op = match (&name, repost) {
            (Some(n), false) => match code_assist::get_operation(up, token, n).await {
                Ok(v) => v,
                Err(CallFailure::Status {
                    status: 404 | 405 | 501,
                    ..
                }) => {
                    repost = true;
                    code_assist::onboard_user(up, token, tier, project).await?
                }
                Err(e) => return Err(e.into()),
            },
            _ => code_assist::onboard_user(up, token, tier, project).await?,
        };
    }
    if op.get("done").and_then(Value::as_bool) == Some(true) {
        Ok(op)
    } else {
        Err(DiscoveryError::OnboardingTimeout)
    }
}

/// The user's own projects, with the two APIs enabled on the chosen one.
async fn fallback(
    up: &Upstream,
    token: &str,
    tier: Option<String>,
    ineligible: Option<String>,
) -> Result<Discovered, DiscoveryError> {
    let projects = projects::list_active_projects(up, token).await?;
    let chosen = projects
        .iter()
        .find(|p| p.contains("default"))
        .or(projects.first())
        .cloned();
    let Some(project_id) = chosen else {
        return Err(match ineligible {
            Some(why) => DiscoveryError::Ineligible(why),
            None => DiscoveryError::ProjectRequired,
        });
    };
    for svc in projects::REQUIRED_SERVICES {
        if let Err(e) = projects::ensure_service(up, token, &project_id, svc).await {
            tracing::warn!(project = %project_id, service = svc, error = %e, "could not enable service");
        }
    }
    Ok(Discovered {
        project_id,
        tier,
        via: "project-list",
    })
}
