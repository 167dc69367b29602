//! Every kind is checked with Google on import, and the report says per file what happened:
//! Code Assist by a token refresh and its project, a Gemini API key by its model list, an
//! express key by a countTokens call, a service account by a token grant.
use gcli2api::google::kind::CredentialKind;
use gcli2api::onboarding::import::official::key_document;
use gcli2api::simulator::{
    ApiKeySpec, KeyState, ServiceAccountSpec, ServiceAccountState, UserSpec,
};
use serde_json::Value;

use crate::api::upload;
use crate::support;

fn names(report: &Value, field: &str) -> Vec<String> {
    let mut v: Vec<String> = report[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn reason<'a>(report: &'a Value, name: &str) -> &'a str {
    report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .and_then(|i| i["reason"].as_str())
        .unwrap_or_else(|| panic!("{name} not rejected: {report}"))
}

#[tokio::test]
async fn an_upload_checks_each_kind_and_reports_each_file() {
    support::init_logs();
    let app = support::builder().no_users().spawn().await;
    let sim = &app.sim;
    let alive = sim.add_user(UserSpec::new("alive@sim.test"));
    let revoked = sim.add_user(UserSpec::new("revoked@sim.test"));
    sim.revoke_refresh_token(&revoked.email);
    let mut no_project = sim
        .add_user(UserSpec::new("noproject@sim.test"))
        .credential_json();
    no_project.as_object_mut().unwrap().remove("project_id");
    let key = sim.add_api_key(ApiKeySpec::gemini());
    let dead_key = sim.add_api_key(ApiKeySpec::gemini().state(KeyState::Expired));
    let express = sim.add_api_key(ApiKeySpec::express());
    let dead_express = sim.add_api_key(ApiKeySpec::express().state(KeyState::Deleted));
    let sa = sim.add_service_account(ServiceAccountSpec::new());
    let dead_sa = sim.add_service_account(ServiceAccountSpec::new());
    sim.set_service_account_state(&dead_sa.client_email, ServiceAccountState::KeyDeleted);
    let json = |v: &Value| serde_json::to_vec(v).unwrap();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("alive.json", json(&alive.credential_json())),
        ("revoked.json", json(&revoked.credential_json())),
        ("noproject.json", json(&no_project)),
        (
            "key.json",
            json(&key_document(CredentialKind::GeminiApiKey, &key.key, None)),
        ),
        (
            "deadkey.json",
            json(&key_document(
                CredentialKind::GeminiApiKey,
                &dead_key.key,
                None,
            )),
        ),
        (
            "express.json",
            json(&key_document(
                CredentialKind::VertexExpressKey,
                &express.key,
                None,
            )),
        ),
        (
            "deadexpress.json",
            json(&key_document(
                CredentialKind::VertexExpressKey,
                &dead_express.key,
                None,
            )),
        ),
        ("sa.json", json(&sa.key_json())),
        ("deadsa.json", json(&dead_sa.key_json())),
    ];
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    let (status, report) = upload(&app, &refs).await;
    assert_eq!(status, 200, "{report}");
    let imported = names(&report, "imported");
    assert_eq!(imported.len(), 5, "{report}");
    // Code Assist files are named by their stem, keys by a label, a service account by its
    // account.
    assert!(imported.contains(&"alive".to_string()), "{report}");
    assert!(imported.contains(&"noproject".to_string()), "{report}");
    assert!(
        imported.iter().any(|n| n.contains(&sa.client_email)),
        "{report}"
    );
    assert_eq!(names(&report, "rejected").len(), 4, "{report}");
    assert!(
        reason(&report, "revoked").contains("sign in again"),
        "{report}"
    );
    assert!(
        reason(&report, "deadsa.json").contains("Invalid JWT Signature"),
        "{report}"
    );
    // Key files are reported by the key's label (never the key).
    assert!(!report.to_string().contains(&dead_key.key[5..]), "{report}");
    assert!(report.to_string().contains("expired"), "{report}");
    // The checked file starts complete: its project came from discovery.
    let ids: Vec<i64> = report["imported"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["name"] == "noproject")
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    let c = super::credential(&app, ids[0]).await;
    assert!(c["project_id"].is_string(), "{c}");
    // The refused account never reached the pool.
    let (_, list) = crate::api::get(&app, "/credentials").await;
    assert!(!list.to_string().contains("revoked@sim.test"), "{list}");
}
