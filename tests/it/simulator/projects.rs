use gcli2api::simulator::{OwnedProject, ProjectScenario, UserSpec};
use serde_json::{Value, json};

use super::{Env, env, env_with, envelope};

async fn call(e: &Env, path: &str, body: &Value) -> (u16, Value) {
    let resp = e.post_json(path, &e.user.access_token, body).await;
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn get(e: &Env, path: &str) -> (u16, Value) {
    let resp = e
        .http
        .get(e.url(path))
        .bearer_auth(&e.user.access_token)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

fn load_body(project: Option<&str>) -> Value {
    let mut b = json!({"metadata": {"ideType": "IDE_UNSPECIFIED", "platform": "PLATFORM_UNSPECIFIED", "pluginType": "GEMINI"}});
    if let Some(p) = project {
        b["cloudaicompanionProject"] = json!(p);
        b["metadata"]["duetProject"] = json!(p);
    }
    b
}

fn free_onboard() -> Value {
    json!({"tierId": "free-tier", "metadata": {"ideType": "IDE_UNSPECIFIED", "platform": "PLATFORM_UNSPECIFIED", "pluginType": "GEMINI"}})
}

#[tokio::test]
async fn onboarded_free_tier_reports_managed_project() {
    let e = env().await;
    let (status, body) = call(&e, "/v1internal:loadCodeAssist", &load_body(None)).await;
    assert_eq!(status, 200);
    assert_eq!(body["currentTier"]["id"], "free-tier");
    assert_eq!(body["cloudaicompanionProject"], e.user.project_id.as_str());
    assert_eq!(body["allowedTiers"][0]["isDefault"], true);
}

#[tokio::test]
async fn onboarding_with_operation_polling() {
    let spec = UserSpec::new("new@example.com").scenario(ProjectScenario::NewUser {
        polls: 2,
        returns_project: true,
    });
    let e = env_with(spec).await;
    let (_, body) = call(&e, "/v1internal:loadCodeAssist", &load_body(None)).await;
    assert!(body.get("currentTier").is_none());
    assert_eq!(body["allowedTiers"][0]["id"], "free-tier");
    let call_gen = envelope(&e.user, "gemini-2.5-flash", "hello");
    assert_eq!(e.generate(&call_gen).await.0, 403, "not onboarded yet");

    let mut with_project = free_onboard();
    with_project["cloudaicompanionProject"] = json!("my-own-project");
    let (status, body) = call(&e, "/v1internal:onboardUser", &with_project).await;
    assert_eq!(
        (status, body["error"]["status"].as_str()),
        (400, Some("FAILED_PRECONDITION"))
    );

    let (status, op) = call(&e, "/v1internal:onboardUser", &free_onboard()).await;
    assert_eq!((status, op["done"].as_bool()), (200, Some(false)));
    let name = op["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("operations/"));
    let (_, op) = get(&e, &format!("/v1internal/{name}")).await;
    assert_eq!(op["done"], false);
    let (_, op) = get(&e, &format!("/v1internal/{name}")).await;
    assert_eq!(op["done"], true);
    assert_eq!(
        op["response"]["cloudaicompanionProject"]["id"],
        e.user.project_id.as_str()
    );
    let (_, body) = call(&e, "/v1internal:loadCodeAssist", &load_body(None)).await;
    assert_eq!(body["currentTier"]["id"], "free-tier");
    assert_eq!(e.generate(&call_gen).await.0, 200);
}

#[tokio::test]
async fn onboarding_with_repost_polling_and_missing_project() {
    let spec = UserSpec::new("old@example.com").scenario(ProjectScenario::NewUser {
        polls: 1,
        returns_project: false,
    });
    let e = env_with(spec).await;
    let (_, first) = call(&e, "/v1internal:onboardUser", &free_onboard()).await;
    assert_eq!(first["done"], false);
    let (_, second) = call(&e, "/v1internal:onboardUser", &free_onboard()).await;
    assert_eq!(second["done"], true);
    assert_eq!(
        second["name"], first["name"],
        "re-POST polls the same operation"
    );
    assert!(second["response"].get("cloudaicompanionProject").is_none());
}

#[tokio::test]
async fn standard_ineligible_and_vpcsc_scenarios() {
    let std_user = UserSpec::new("std@example.com").scenario(ProjectScenario::StandardTier {
        project: "corp-proj".into(),
    });
    let e = env_with(std_user).await;
    let (_, body) = call(&e, "/v1internal:loadCodeAssist", &load_body(None)).await;
    assert_eq!(body["currentTier"]["id"], "standard-tier");
    assert_eq!(
        body["currentTier"]["userDefinedCloudaicompanionProject"],
        true
    );
    assert!(body.get("cloudaicompanionProject").is_none());
    let (_, body) = call(
        &e,
        "/v1internal:loadCodeAssist",
        &load_body(Some("corp-proj")),
    )
    .await;
    assert_eq!(body["cloudaicompanionProject"], "corp-proj");
    assert_eq!(e.user.project_id, "corp-proj");
    let standard = json!({"tierId": "standard-tier", "cloudaicompanionProject": "someone-elses"});
    assert_eq!(call(&e, "/v1internal:onboardUser", &standard).await.0, 403);

    let v = e.sim.add_user(UserSpec::new("v@example.com").scenario(
        ProjectScenario::ValidationRequired {
            validation_url: "https://accounts.google.com/verify".into(),
        },
    ));
    let resp = e
        .post_json(
            "/v1internal:loadCodeAssist",
            &v.access_token,
            &load_body(None),
        )
        .await;
    let body: Value = resp.json().await.unwrap();
    assert!(body.get("currentTier").is_none());
    assert_eq!(
        body["ineligibleTiers"][0]["reasonCode"],
        "VALIDATION_REQUIRED"
    );
    assert_eq!(
        body["ineligibleTiers"][0]["validationUrl"],
        "https://accounts.google.com/verify"
    );

    let paid = e
        .sim
        .add_user(UserSpec::new("p@example.com").scenario(ProjectScenario::Paid));
    let resp = e
        .post_json(
            "/v1internal:loadCodeAssist",
            &paid.access_token,
            &load_body(None),
        )
        .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["paidTier"]["availableCredits"][0]["creditType"],
        "GOOGLE_ONE_AI"
    );

    let vpc = e.sim.add_user(
        UserSpec::new("vpc@example.com").scenario(ProjectScenario::SecurityPolicyViolated),
    );
    let resp = e
        .post_json(
            "/v1internal:loadCodeAssist",
            &vpc.access_token,
            &load_body(None),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 403);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["error"]["details"][0]["reason"],
        "SECURITY_POLICY_VIOLATED"
    );
}

#[tokio::test]
async fn resource_manager_and_service_usage() {
    let spec = UserSpec::new("owner@example.com")
        .project(OwnedProject::active("proj-a"))
        .project(OwnedProject::active("proj-b").state("DELETE_REQUESTED"))
        .project(OwnedProject::active("proj-c"));
    let e = env_with(spec).await;
    let (status, all) = get(&e, "/v1/projects").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = all["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["projectId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["proj-a", "proj-b", "proj-c"]);
    assert_eq!(all["projects"][1]["lifecycleState"], "DELETE_REQUESTED");
    let (_, page) = get(&e, "/v1/projects?pageSize=2").await;
    assert_eq!(page["projects"].as_array().unwrap().len(), 2);
    let token = page["nextPageToken"].as_str().unwrap();
    let (_, rest) = get(&e, &format!("/v1/projects?pageSize=2&pageToken={token}")).await;
    assert_eq!(rest["projects"][0]["projectId"], "proj-c");
    assert!(rest.get("nextPageToken").is_none());

    let mut call_gen = envelope(&e.user, "gemini-2.5-pro", "hello");
    call_gen["project"] = json!("proj-a");
    let (status, body) = e.generate(&call_gen).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["details"][0]["reason"], "SERVICE_DISABLED");

    let svc = "/v1/projects/proj-a/services/cloudaicompanion.googleapis.com";
    let (_, state) = get(&e, svc).await;
    assert_eq!(state["state"], "DISABLED");
    let (status, op) = call(&e, &format!("{svc}:enable"), &json!({})).await;
    assert_eq!((status, op["done"].as_bool()), (200, Some(true)));
    let (_, state) = get(&e, svc).await;
    assert_eq!(state["state"], "ENABLED");
    assert_eq!(e.generate(&call_gen).await.0, 200);
    let (status, _) = get(
        &e,
        "/v1/projects/not-mine/services/cloudaicompanion.googleapis.com",
    )
    .await;
    assert_eq!(status, 403);
}
