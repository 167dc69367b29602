//! Project discovery: Resource Manager listing, Service Usage, loadCodeAssist, onboardUser and
//! its long-running operation.

use poem::Response;
use serde_json::{Value, json};

use super::errors::{self, json_response};
use super::http::Ctx;
use super::state::{Inner, Operation, User, random_hex};
use super::types::ProjectScenario;

pub(crate) fn project_number(project: &str) -> u64 {
    // FNV-1a: a stable number per project id.
    let hash = project.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    100_000_000_000 + hash % 899_999_999_999
}

pub(crate) fn list(ctx: &Ctx) -> Response {
    let email = match ctx.authed("ListProjects") {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let inner = ctx.state.lock();
    let Some(user) = inner.user(&email) else {
        return json_response(200, &json!({}));
    };
    let all: Vec<Value> = user
        .spec
        .owned_projects
        .iter()
        .map(|p| {
            json!({
                "projectNumber": project_number(&p.project_id).to_string(),
                "projectId": p.project_id,
                "lifecycleState": p.lifecycle_state,
                "name": p.name.clone().unwrap_or_else(|| p.project_id.clone()),
                "createTime": "2025-01-01T00:00:00.000Z",
            })
        })
        .collect();
    let start: usize = ctx
        .query_param("pageToken")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let size: usize = ctx
        .query_param("pageSize")
        .and_then(|s| s.parse().ok())
        .filter(|&s| s > 0)
        .unwrap_or(usize::MAX);
    let page: Vec<Value> = all.iter().skip(start).take(size).cloned().collect();
    let mut body = json!({});
    if !page.is_empty() {
        body["projects"] = Value::Array(page);
    }
    if start.saturating_add(size) < all.len() {
        body["nextPageToken"] = json!((start + size).to_string());
    }
    json_response(200, &body)
}

pub(crate) fn service_usage(ctx: &Ctx) -> Response {
    let email = match ctx.authed("ServiceUsage") {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let rest = ctx.path.trim_start_matches("/v1/projects/");
    let Some((project, service)) = rest.split_once("/services/") else {
        return json_response(404, &errors::not_found());
    };
    let (service, enable) = match service.strip_suffix(":enable") {
        Some(s) => (s, true),
        None => (service, false),
    };
    let mut inner = ctx.state.lock();
    let owns = inner
        .user(&email)
        .is_some_and(|u| u.owns_gcp_project(project));
    if !owns {
        let msg =
            format!("Permission denied to access service [{service}] of project [{project}].");
        return json_response(
            403,
            &errors::status_body(403, "PERMISSION_DENIED", &msg, Vec::new()),
        );
    }
    let key = (project.to_string(), service.to_string());
    let number = project_number(project);
    let describe = |state: &str| json!({"name": format!("projects/{number}/services/{service}"), "parent": format!("projects/{number}"), "state": state, "config": {"name": service}});
    match (ctx.method.as_str(), enable) {
        ("POST", true) => {
            inner.services.insert(key);
            let op = json!({"name": format!("operations/acf.p2-{}", random_hex(8)), "done": true, "response": {"@type": "type.googleapis.com/google.api.serviceusage.v1.EnableServiceResponse", "service": describe("ENABLED")}});
            json_response(200, &op)
        }
        ("GET", false) => {
            let state = if inner.services.contains(&key) {
                "ENABLED"
            } else {
                "DISABLED"
            };
            json_response(200, &describe(state))
        }
        _ => json_response(404, &errors::not_found()),
    }
}

fn free_tier(is_default: bool) -> Value {
    json!({"id": "free-tier", "name": "Gemini Code Assist for individuals", "description": "Gemini Code Assist for individuals, free of charge.", "userDefinedCloudaicompanionProject": false, "isDefault": is_default, "privacyNotice": {"showNotice": false}})
}

fn standard_tier(is_default: bool) -> Value {
    json!({"id": "standard-tier", "name": "Gemini Code Assist Standard", "description": "Unlimited coding assistant with the most powerful Gemini models.", "userDefinedCloudaicompanionProject": true, "isDefault": is_default, "privacyNotice": {}})
}

fn current(mut tier: Value) -> Value {
    if let Some(obj) = tier.as_object_mut() {
        obj.remove("isDefault");
        obj.insert("hasAcceptedTos".into(), json!(true));
        obj.insert("hasOnboardedPreviously".into(), json!(true));
    }
    tier
}

fn tier_name(id: &str) -> &'static str {
    if id == "free-tier" {
        "Gemini Code Assist for individuals"
    } else {
        "Gemini Code Assist Standard"
    }
}

fn load_response(user: &User, requested: Option<&str>) -> Result<Value, (u16, Value)> {
    let managed_or_none = |returns: bool| returns.then(|| user.project_id.clone());
    let body = match &user.spec.scenario {
        ProjectScenario::SecurityPolicyViolated => {
            let f = super::faults::Fault::SecurityPolicyViolated;
            let ctx = errors::ErrCtx::code_assist("", "", "LoadCodeAssist");
            let (status, _, body) = errors::fault_body(&f, &ctx).unwrap_or_default();
            let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
            return Err((status, v));
        }
        ProjectScenario::FreeOnboarded | ProjectScenario::NewUser { .. } => {
            let returns = match user.spec.scenario {
                ProjectScenario::NewUser {
                    returns_project, ..
                } => returns_project,
                _ => true,
            };
            let allowed = json!([free_tier(true), standard_tier(false)]);
            if user.onboarded {
                let mut v =
                    json!({"currentTier": current(free_tier(true)), "allowedTiers": allowed});
                if let Some(p) = managed_or_none(returns) {
                    v["cloudaicompanionProject"] = json!(p);
                }
                v
            } else {
                json!({"allowedTiers": allowed})
            }
        }
        ProjectScenario::StandardTier { .. } => {
            let mut v = json!({"currentTier": current(standard_tier(true)), "allowedTiers": [standard_tier(true)]});
            if let Some(p) = requested.filter(|p| user.may_use_project(p)) {
                v["cloudaicompanionProject"] = json!(p);
            }
            v
        }
        ProjectScenario::Paid => json!({
            "currentTier": current(standard_tier(false)),
            "allowedTiers": [free_tier(true), standard_tier(false)],
            "paidTier": {"id": "g1-pro-tier", "name": "Gemini Code Assist in Google One AI Pro", "availableCredits": [{"creditType": "GOOGLE_ONE_AI", "creditAmount": "1000"}]},
            "cloudaicompanionProject": user.project_id,
        }),
        ProjectScenario::ValidationRequired { validation_url } => json!({
            "ineligibleTiers": [{
                "reasonCode": "VALIDATION_REQUIRED",
                "reasonMessage": "Verify your account to continue.",
                "tierId": "free-tier",
                "tierName": tier_name("free-tier"),
                "validationUrl": validation_url,
                "validationErrorMessage": "Your account needs to be verified before you can use Gemini Code Assist.",
                "validationUrlLinkText": "Verify your account",
                "validationLearnMoreUrl": "https://support.google.com/accounts?p=al_alert",
                "validationLearnMoreLinkText": "Learn more",
            }]
        }),
        ProjectScenario::Ineligible => json!({
            "ineligibleTiers": [{"reasonCode": "INELIGIBLE_ACCOUNT", "reasonMessage": "Your account is not eligible for Gemini Code Assist for individuals.", "tierId": "free-tier", "tierName": tier_name("free-tier")}]
        }),
    };
    Ok(body)
}

pub(crate) fn load_code_assist(ctx: &Ctx) -> Response {
    let email = match ctx.authed("LoadCodeAssist") {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let requested = ctx
        .json()
        .and_then(|v| v.get("cloudaicompanionProject"))
        .and_then(Value::as_str);
    let inner = ctx.state.lock();
    let Some(user) = inner.user(&email) else {
        return json_response(403, &errors::consumer_invalid("default"));
    };
    match load_response(user, requested) {
        Ok(v) => json_response(200, &v),
        Err((status, v)) => json_response(status, &v),
    }
}

/// One poll of an operation: `done:false` while polls remain, then the final answer.
fn poll(inner: &mut Inner, id: &str) -> Option<Value> {
    let op = inner.operations.get_mut(id)?;
    let name = format!("operations/{id}");
    if op.remaining > 0 {
        op.remaining -= 1;
        return Some(json!({"name": name, "done": false}));
    }
    op.finished = true;
    let (email, project, tier) = (op.email.clone(), op.project.clone(), op.tier.clone());
    if let Some(user) = inner.user_mut(&email) {
        user.onboarded = true;
        if tier != "free-tier" {
            if let Some(p) = &project {
                user.project_id = p.clone();
            }
        }
    }
    let mut response = json!({"@type": "type.googleapis.com/google.internal.cloud.code.v1internal.OnboardUserResponse"});
    if let Some(p) = project {
        response["cloudaicompanionProject"] = json!({"id": p, "name": format!("projects/{p}")});
    }
    Some(json!({"name": name, "done": true, "response": response}))
}

pub(crate) fn onboard_user(ctx: &Ctx) -> Response {
    let email = match ctx.authed("OnboardUser") {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let body = ctx.json().cloned().unwrap_or(Value::Null);
    let tier = body
        .get("tierId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let project = body.get("cloudaicompanionProject").and_then(Value::as_str);
    let mut inner = ctx.state.lock();
    let Some(user) = inner.user(&email) else {
        return json_response(403, &errors::consumer_invalid("default"));
    };
    match &user.spec.scenario {
        ProjectScenario::ValidationRequired { .. } => {
            return json_response(403, &errors::validation_required());
        }
        ProjectScenario::Ineligible => {
            return json_response(
                400,
                &errors::failed_precondition("User is not eligible for this tier."),
            );
        }
        _ => {}
    }
    let result_project = match (tier, project) {
        ("free-tier", Some(_)) => {
            return json_response(
                400,
                &errors::failed_precondition("Precondition check failed."),
            );
        }
        ("free-tier", None) => match user.spec.scenario {
            ProjectScenario::NewUser {
                returns_project: false,
                ..
            } => None,
            _ => Some(user.project_id.clone()),
        },
        ("standard-tier" | "legacy-tier", Some(p)) => {
            if !user.may_use_project(p) {
                return json_response(403, &errors::consumer_invalid(p));
            }
            Some(p.to_string())
        }
        ("standard-tier" | "legacy-tier", None) => {
            return json_response(
                400,
                &errors::invalid_argument("cloudaicompanionProject is required for this tier."),
            );
        }
        _ => {
            return json_response(
                400,
                &errors::invalid_argument("Request contains an invalid argument."),
            );
        }
    };
    let polls = match user.spec.scenario {
        ProjectScenario::NewUser { polls, .. } if !user.onboarded => polls,
        _ => 0,
    };
    // Re-POST polling: a pending operation of this user is polled instead of starting anew.
    let pending = inner
        .operations
        .iter()
        .find(|(_, op)| op.email == email && !op.finished)
        .map(|(id, _)| id.clone());
    let id = pending.unwrap_or_else(|| {
        let id = random_hex(8);
        inner.operations.insert(
            id.clone(),
            Operation {
                email: email.clone(),
                remaining: polls,
                tier: tier.to_string(),
                project: result_project,
                finished: false,
            },
        );
        id
    });
    match poll(&mut inner, &id) {
        Some(v) => json_response(200, &v),
        None => json_response(404, &errors::not_found()),
    }
}

pub(crate) fn get_operation(ctx: &Ctx) -> Response {
    let email = match ctx.authed("GetOperation") {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let id = ctx.path.trim_start_matches("/v1internal/operations/");
    let mut inner = ctx.state.lock();
    if inner.operations.get(id).is_none_or(|op| op.email != email) {
        return json_response(404, &errors::not_found());
    }
    match poll(&mut inner, id) {
        Some(v) => json_response(200, &v),
        None => json_response(404, &errors::not_found()),
    }
}
